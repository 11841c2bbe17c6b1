"""The differential harness the web tests share, and tests of the harness itself.

Each web test builds the same application twice, once on ``minitornado.web`` and once on
``tornado.web`` (a factory ``make_app(web)`` defines its handler classes inside, on the
module it is given), serves both on 127.0.0.1 port 0 in the test's event loop, sends both
the same raw bytes over a plain socket, and compares the answers byte for byte after
dropping the ``Date`` and ``Server`` header lines.

Reading a response needs its framing: Content-Length, chunked (kept raw: the chunk sizes are
part of what is compared), or until the server closes. Every read is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

LIBS = ("minitornado", "tornado")
TIMEOUT = 5.0


@dataclass
class Response:
    """One raw HTTP response as it came off the wire, and its parsed head."""

    raw: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes  # as sent: for a chunked response, with its chunk framing

    @property
    def normalized(self) -> bytes:
        """The raw bytes without the ``Date`` and ``Server`` header lines."""
        head, sep, body = self.raw.partition(b"\r\n\r\n")
        lines = [
            line
            for line in head.split(b"\r\n")
            if not line.lower().startswith((b"date:", b"server:"))
        ]
        return b"\r\n".join(lines) + sep + body

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


async def read_response(reader: asyncio.StreamReader, method: str = "GET") -> Response:
    """Read exactly one response from ``reader``, by its own framing."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [tuple(s.strip() for s in line.split(":", 1)) for line in lines[1:]]
    response = Response(head, status, headers, b"")  # type: ignore[arg-type]
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return response
    if (response.header("Transfer-Encoding") or "").lower() == "chunked":
        body = b""
        while True:
            size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), TIMEOUT)
            size = int(size_line.split(b";")[0], 16)
            data = await asyncio.wait_for(reader.readexactly(size + 2), TIMEOUT)
            body += size_line + data
            if size == 0:
                break
    elif response.header("Content-Length") is not None:
        length = int(response.header("Content-Length") or 0)
        body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    else:
        body = await asyncio.wait_for(reader.read(), TIMEOUT)  # close-delimited
    response.body = body
    response.raw = head + body
    return response


async def is_closed(reader: asyncio.StreamReader, wait: float = 0.3) -> bool:
    """Whether the server closed the connection (EOF within ``wait`` seconds)."""
    try:
        data = await asyncio.wait_for(reader.read(1), wait)
    except asyncio.TimeoutError:
        return False
    except ConnectionResetError:
        return True
    assert data == b"", f"unexpected extra bytes {data!r}"
    return True


@dataclass
class Served:
    """One library's application, served."""

    lib: str
    web: ModuleType
    app: Any
    server: Any
    port: int
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), TIMEOUT
        )
        self.writers.append(writer)
        return reader, writer

    async def fetch(self, raw: bytes, method: str | None = None) -> Response:
        """Send ``raw`` on a new connection and read one response."""
        reader, writer = await self.connect()
        writer.write(raw)
        return await read_response(reader, method or raw.split(b" ", 1)[0].decode())

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.server.stop()
        await asyncio.wait_for(self.server.close_all_connections(), TIMEOUT)


async def serve(lib: str, make_app: Callable[..., Any], **server_kwargs: Any) -> Served:
    """Build ``make_app(lib.web)`` and serve it with ``lib``'s HTTPServer on a free port."""
    web = importlib.import_module(f"{lib}.web")
    httpserver = importlib.import_module(f"{lib}.httpserver")
    netutil = importlib.import_module(f"{lib}.netutil")
    app = make_app(web)
    sockets = netutil.bind_sockets(0, "127.0.0.1")
    server = httpserver.HTTPServer(app, **server_kwargs)
    server.add_sockets(sockets)
    return Served(lib, web, app, server, sockets[0].getsockname()[1])


@dataclass
class Pair:
    """The same application served by minitornado (``mini``) and by Tornado (``tornado``)."""

    mini: Served
    tornado: Served

    async def fetch(self, raw: bytes, method: str | None = None) -> tuple[Response, Response]:
        """Send ``raw`` to both; return (minitornado's response, Tornado's)."""
        return await self.mini.fetch(raw, method), await self.tornado.fetch(raw, method)

    async def same(self, raw: bytes, method: str | None = None) -> Response:
        """Send ``raw`` to both, assert the answers match but for Date/Server; return ours."""
        ours, theirs = await self.fetch(raw, method)
        assert ours.normalized == theirs.normalized
        return ours


def get(path: str, *headers: str, method: str = "GET", version: str = "HTTP/1.1") -> bytes:
    """A raw request with ``Host: x`` and the given extra header lines."""
    lines = [f"{method} {path} {version}", "Host: x", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def post(path: str, body: bytes, *headers: str, method: str = "POST") -> bytes:
    head = get(path, f"Content-Length: {len(body)}", *headers, method=method)
    return head + body


@contextlib.asynccontextmanager
async def serve_pair(make_app: Callable[..., Any], **server_kwargs: Any) -> AsyncIterator[Pair]:
    """``async with serve_pair(make_app) as pair``: the app served by both, closed after.

    A test module usually wraps it in its own ``pair`` fixture, with its own ``make_app``.
    """
    pair = Pair(
        await serve("minitornado", make_app, **server_kwargs),
        await serve("tornado", make_app, **server_kwargs),
    )
    try:
        yield pair
    finally:
        await pair.mini.close()
        await pair.tornado.close()


def log_lines(caplog: pytest.LogCaptureFixture, lib: str, logger: str) -> list[str]:
    """The messages logged on ``<lib>.<logger>``, timings (``0.82ms``) masked."""
    name = f"{lib}.{logger}"
    return [
        re.sub(r"\d+\.\d+ms", "<t>ms", record.getMessage())
        for record in caplog.records
        if record.name == name
    ]


def log_records(caplog: pytest.LogCaptureFixture, lib: str, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == f"{lib}.{logger}"]


# ---- Tests of the harness ----------------------------------------------------------------------


def make_hello_app(web: ModuleType) -> Any:
    class Hello(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.write("Hello, world")

    class Stream(web.RequestHandler):  # type: ignore[name-defined,misc]
        async def get(self) -> None:
            for part in ("a", "b", "c"):
                self.write(part)
                await self.flush()

    return web.Application([("/", Hello), ("/stream", Stream)])


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with serve_pair(make_hello_app) as served:
        yield served


async def test_harness_reads_a_content_length_response_from_both(pair: Pair) -> None:
    # A hello-world GET: both answer 200 with the same 12-byte body, and the normalised
    # bytes drop exactly the Date and Server lines.
    ours, theirs = await pair.fetch(get("/"))
    assert ours.status == theirs.status == 200
    assert ours.body == theirs.body == b"Hello, world"
    assert b"Date:" not in ours.normalized and b"Server:" not in ours.normalized
    assert ours.normalized.count(b"\r\n") == ours.raw.count(b"\r\n") - 2


async def test_harness_keeps_chunk_framing_of_a_streamed_response(pair: Pair) -> None:
    # Three flushes over HTTP/1.1: the harness returns the chunked body with its framing.
    ours = await pair.same(get("/stream"))
    assert ours.body == b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n"
