"""The test harness: which implementation, a raw client, and the same app served by both.

Every differential test serves one application on minitornado and on Tornado 6.6.1, sends
both the same raw bytes over a plain socket on 127.0.0.1, and compares the answers. This
module holds the pieces those tests share; tests/conftest.py turns the ones that need
cleaning up into fixtures (``impl``, ``serve``, ``clients``). Test modules import from here,
never from each other.

Sections, in the order a test meets them:
    Implementations   ``Impl``: "minitornado" or "tornado", with the package's modules.
    Requests          ``get``, ``post``: raw request bytes; ``MALFORMED_REQUESTS``.
    The raw client    ``Client``: send bytes, read one ``Response`` (body decoded), read until
                      close or quiet; ``exchange``: one request, everything until close.
    Framed reads      ``read_response``: one ``FramedResponse`` (body exactly as sent, chunk
                      framing kept) from a stream reader, for byte-for-byte comparisons.
    Serving           ``Served``: an app served on a free port; ``Pair`` and ``serve_pair``:
                      the same web app served by both implementations.
    The echo app      ``app_for``: the plain-callable app of the HTTP/1.x tests.
    Logs              ``log_lines``, ``log_records``.
    Server process    ``ServerProcess``: tests/hostile_server.py started in a process of
                      its own, for the fault tests that measure it from outside.
    Tornado's tests   ``swap_tornado_imports``: Tornado's own test source, run against
                      minitornado's modules.

Every wait is bounded: by ``TIMEOUT``, or by the bound a function takes as an argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import re
import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TIMEOUT = 5.0
BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"  # Tornado's whole answer to a malformed request


# ---- Implementations ----------------------------------------------------------------------


class Impl(str):
    """An implementation under test, named by its package: ``"minitornado"`` or ``"tornado"``.

    It is that name (so it is the test id, compares equal to ``"tornado"`` and formats into
    logger names) and hands out the package's modules, so one test body runs on both:
    ``impl.httpserver.HTTPServer(app)``.
    """

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self}.{name}")

    @property
    def web(self) -> ModuleType:
        return self.module("web")

    @property
    def httpserver(self) -> ModuleType:
        return self.module("httpserver")

    @property
    def httputil(self) -> ModuleType:
        return self.module("httputil")

    @property
    def netutil(self) -> ModuleType:
        return self.module("netutil")

    @property
    def iostream(self) -> ModuleType:
        return self.module("iostream")

    @property
    def routing(self) -> ModuleType:
        return self.module("routing")

    @property
    def tcpserver(self) -> ModuleType:
        return self.module("tcpserver")

    @property
    def ioloop(self) -> ModuleType:
        return self.module("ioloop")

    @property
    def gen_log(self) -> str:
        return f"{self}.general"

    @property
    def app_log(self) -> str:
        return f"{self}.application"


MINI, TORNADO = Impl("minitornado"), Impl("tornado")
IMPLS = (MINI, TORNADO)


# ---- Requests -----------------------------------------------------------------------------


def get(path: str, *headers: str, method: str = "GET", version: str = "HTTP/1.1") -> bytes:
    """A raw request with ``Host: x`` and the given extra header lines."""
    lines = [f"{method} {path} {version}", "Host: x", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def post(path: str, body: bytes, *headers: str, method: str = "POST") -> bytes:
    head = get(path, f"Content-Length: {len(body)}", *headers, method=method)
    return head + body


# Requests both answer with BARE_400 and a close (test_http1connection.py checks each one;
# test_http_differential.py adds its own to the list).
MALFORMED_REQUESTS = {
    "garbage": b"GARBAGE\r\n\r\n",
    "http/2.0": b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    "lowercase version": b"GET / http/1.1\r\nHost: x\r\n\r\n",
    "two spaces": b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
    "no version": b"GET /\r\nHost: x\r\n\r\n",
    "control char in target": b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    "missing host on 1.1": b"GET / HTTP/1.1\r\n\r\n",
    "two host lines": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "comma in host": b"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n",
    "space in host": b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "no colon": b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
    "space before colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-Foo : bar\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\n b\r\n\r\n",
    "obs-fold with tab": b"GET / HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\n\tb\r\n\r\n",
    "\\x01 in value": b"GET / HTTP/1.1\r\nHost: x\r\nX-Foo: a\x01b\r\n\r\n",
    "\\x00 in value": b"GET / HTTP/1.1\r\nHost: x\r\nX-Foo: a\x00b\r\n\r\n",
    "\\x7f in value": b"GET / HTTP/1.1\r\nHost: x\r\nX-Foo: a\x7fb\r\n\r\n",
    "te and cl": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 5\r\n\r\n0\r\n\r\n",
    "te gzip": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    "te gzip, chunked": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "te twice": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "unequal cls": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "cl abc": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "cl -1": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "cl +5": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
    "cl with underscore": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1_0\r\n\r\n",
    "chunk size zz": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "chunk size 0x5": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0x5\r\nhello\r\n0\r\n\r\n",
    "chunk size +5": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"+5\r\nhello\r\n0\r\n\r\n",
    "chunk without crlf": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhelloXX0\r\n\r\n",
    "1001 query fields": b"GET /?" + b"&".join(b"a=1" for _ in range(1001)) + b" HTTP/1.1\r\n"
    b"Host: x\r\n\r\n",
    "second request after garbage": b"GARBAGE\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
}


# ---- The raw client -----------------------------------------------------------------------


@dataclass
class Response:
    """One response read by ``Client``: its head parsed, its body decoded from chunks."""

    status_line: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    @property
    def code(self) -> int:
        return int(self.status_line.split(" ")[1])

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A raw TCP client; every wait is bounded by TIMEOUT."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)

    async def read_response(self, head: bool = False) -> Response:
        """Read one response, framed as its headers say (HEAD: no body)."""
        raw_head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        status_line, *lines = raw_head[:-4].decode("latin-1").split("\r\n")
        headers = [(n, v) for n, _, v in (line.partition(": ") for line in lines)]
        response = Response(status_line, headers, b"", raw_head)
        code = response.code
        if head or code in (204, 304) or 100 <= code < 200:
            return response
        if response.header("Transfer-Encoding") == "chunked":
            while True:
                size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), TIMEOUT)
                size = int(size_line, 16)
                chunk = await asyncio.wait_for(self.reader.readexactly(size + 2), TIMEOUT)
                response.raw += size_line + chunk
                response.body += chunk[:-2]
                if size == 0:
                    return response
        elif response.header("Content-Length") is not None:
            length = int(response.header("Content-Length") or 0)
            response.body = await asyncio.wait_for(self.reader.readexactly(length), TIMEOUT)
        else:
            response.body = await self.read_until_close()
        response.raw += response.body
        return response

    async def read_until_close(self) -> bytes:
        """Everything until the server closes (a reset counts as a close)."""
        data = b""
        try:
            while chunk := await asyncio.wait_for(self.reader.read(65536), TIMEOUT):
                data += chunk
        except ConnectionResetError:
            pass
        return data

    async def read_until_quiet(self, first_byte: float, quiet: float) -> tuple[bytes, bool]:
        """Everything the server sends until it closes (True) or says nothing for ``quiet``
        seconds (False); the first byte may take up to ``first_byte`` seconds."""
        received, wait = b"", first_byte
        while True:
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), wait)
            except asyncio.TimeoutError:
                return received, False
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return received, True
            received += chunk
            wait = quiet

    async def is_open(self, wait: float = 0.3) -> bool:
        """True if the server neither sends nor closes within ``wait`` seconds."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), wait)
        except asyncio.TimeoutError:
            return True
        except ConnectionResetError:
            return False
        assert data == b"", f"unexpected bytes from the server: {data!r}"
        return False

    def close(self) -> None:
        self.writer.close()


async def exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` on a new connection; everything the server sends until it closes."""
    client = await Client.connect(port)
    try:
        await client.send(request)
        return await client.read_until_close()
    finally:
        client.close()


# ---- Framed reads (byte-for-byte comparisons) ---------------------------------------------


@dataclass
class FramedResponse:
    """One response exactly as it came off the wire, and its parsed head."""

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


async def read_response(reader: asyncio.StreamReader, method: str = "GET") -> FramedResponse:
    """Read exactly one response from ``reader``, by its own framing."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [
        (name.strip(), value.strip()) for name, _, value in (s.partition(":") for s in lines[1:])
    ]
    response = FramedResponse(head, status, headers, b"")
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


# ---- Serving ------------------------------------------------------------------------------


@dataclass
class Served:
    """One implementation's ``HTTPServer`` serving ``app`` on 127.0.0.1."""

    impl: Impl
    app: Any
    server: Any
    port: int
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @classmethod
    def start(cls, impl: Impl, app: Any, **server_kwargs: Any) -> Served:
        """Serve ``app`` with ``impl``'s HTTPServer on a free port (call it in a running loop)."""
        sockets = impl.netutil.bind_sockets(0, "127.0.0.1")
        server = impl.httpserver.HTTPServer(app, **server_kwargs)
        server.add_sockets(sockets)
        return cls(impl, app, server, sockets[0].getsockname()[1])

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), TIMEOUT
        )
        self.writers.append(writer)
        return reader, writer

    async def fetch(self, raw: bytes, method: str | None = None) -> FramedResponse:
        """Send ``raw`` on a new connection and read one response."""
        reader, writer = await self.connect()
        writer.write(raw)
        return await read_response(reader, method or raw.split(b" ", 1)[0].decode())

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.server.stop()
        await asyncio.wait_for(self.server.close_all_connections(), TIMEOUT)


@dataclass
class Pair:
    """The same application served by minitornado (``mini``) and by Tornado (``tornado``)."""

    mini: Served
    tornado: Served

    async def fetch(
        self, raw: bytes, method: str | None = None
    ) -> tuple[FramedResponse, FramedResponse]:
        """Send ``raw`` to both; return (minitornado's response, Tornado's)."""
        return await self.mini.fetch(raw, method), await self.tornado.fetch(raw, method)

    async def same(self, raw: bytes, method: str | None = None) -> FramedResponse:
        """Send ``raw`` to both, assert the answers match but for Date/Server; return ours."""
        ours, theirs = await self.fetch(raw, method)
        assert ours.normalized == theirs.normalized
        return ours


@contextlib.asynccontextmanager
async def serve_pair(make_app: Callable[..., Any], **server_kwargs: Any) -> AsyncIterator[Pair]:
    """``async with serve_pair(make_app) as pair``: ``make_app(impl.web)`` served by both
    implementations, closed after.

    A web test module usually wraps it in its own ``pair`` fixture, with its own ``make_app``
    (which defines its handler classes inside, on the ``web`` module it is given).
    """
    pair = Pair(
        Served.start(MINI, make_app(MINI.web), **server_kwargs),
        Served.start(TORNADO, make_app(TORNADO.web), **server_kwargs),
    )
    try:
        yield pair
    finally:
        await pair.mini.close()
        await pair.tornado.close()


# ---- The echo app of the HTTP/1.x tests ---------------------------------------------------


def echo(request: Any) -> bytes:
    """What the app answers by default: the request as the application sees it."""
    return json.dumps(
        {
            "method": request.method,
            "uri": request.uri,
            "version": request.version,
            "host": request.host,
            "body": request.body.decode("latin-1"),
            "remote_ip": request.remote_ip,
            "protocol": request.protocol,
            "headers": [list(pair) for pair in request.headers.get_all()],
        },
        sort_keys=True,
    ).encode()


@dataclass
class AppLog:
    """What the app saw: requests, close callbacks, errors it caught."""

    requests: list[Any] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


def app_for(impl: Impl, log: AppLog | None = None) -> Callable[[Any], None]:
    """The plain-callable app the tests serve, answering through ``impl``'s own types.

    ``/chunked`` answers without a length; ``/204`` and ``/304`` without a body; ``/later``
    after 0.2 s; ``/hang`` never (it records the close callback); ``/partial`` sends the
    headers and a first piece, then waits; ``/crlf`` tries a header with CR LF in it;
    ``/short`` and ``/long`` break their Content-Length; ``/boom`` raises. Anything else
    echoes the request as JSON. HEAD gets the headers GET would get.
    """
    httputil = impl.httputil
    log = log if log is not None else AppLog()

    def status(code: int) -> Any:
        return httputil.ResponseStartLine("HTTP/1.1", code, httputil.responses.get(code, "Unknown"))

    def answer(request: Any, code: int, body: bytes, headers: dict[str, str] | None) -> None:
        if headers is None:
            headers = {"Content-Length": str(len(body))}
        chunk = None if request.method == "HEAD" or not body else body
        request.connection.write_headers(status(code), httputil.HTTPHeaders(headers), chunk)
        request.connection.finish()

    def on_close(request: Any) -> Callable[[], None]:
        def callback() -> None:
            log.events.append(f"closed {request.path}")
            log.closed.set()

        return callback

    def try_write(request: Any) -> None:
        # A write on a connection the client has left: Tornado fails the Future.
        future = request.connection.write(b"more")
        future.add_done_callback(lambda f: log.errors.append(f.exception()))

    def app(request: Any) -> None:
        log.requests.append(request)
        conn, path = request.connection, request.path
        if path == "/chunked" and request.method == "HEAD":
            conn.write_headers(status(200), httputil.HTTPHeaders())
            conn.finish()
        elif path == "/chunked":
            conn.write_headers(status(200), httputil.HTTPHeaders(), b"ab")
            conn.write(b"cd")
            conn.finish()
        elif path in ("/204", "/304"):
            answer(request, int(path[1:]), b"", {})
        elif path == "/later":
            asyncio.get_running_loop().call_later(0.2, answer, request, 200, echo(request), None)
        elif path == "/hang":
            conn.set_close_callback(on_close(request))
        elif path == "/partial":
            conn.set_close_callback(on_close(request))
            conn.write_headers(status(200), httputil.HTTPHeaders({"Content-Length": "10"}), b"ab")
            asyncio.get_running_loop().call_later(0.3, try_write, request)
        elif path in ("/crlf", "/short", "/long"):
            bad = {"/crlf": ("X-A", "a\r\nX-B: b", b""), "/short": ("Content-Length", "5", b"abc")}
            name, value, body = bad.get(path, ("Content-Length", "2", b"abcde"))
            try:
                conn.write_headers(status(200), httputil.HTTPHeaders({name: value}), body)
                conn.finish()
            except Exception as e:
                log.errors.append(e)
                raise
        elif path == "/boom":
            raise ZeroDivisionError("boom")
        else:
            answer(request, 200, echo(request), None)

    return app


# ---- Logs ---------------------------------------------------------------------------------


def log_lines(caplog: pytest.LogCaptureFixture, impl: str, logger: str) -> list[str]:
    """The messages logged on ``<impl>.<logger>``, timings (``0.82ms``) masked."""
    name = f"{impl}.{logger}"
    return [
        re.sub(r"\d+\.\d+ms", "<t>ms", record.getMessage())
        for record in caplog.records
        if record.name == name
    ]


def log_records(
    caplog: pytest.LogCaptureFixture, impl: str, logger: str
) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == f"{impl}.{logger}"]


# ---- Server process -----------------------------------------------------------------------


class ServerProcess:
    """tests/hostile_server.py, started for a test; its log goes to the file ``log_path``."""

    SCRIPT = Path(__file__).with_name("hostile_server.py")

    def __init__(self, impl: str, log_path: Path, *options: str, timeout: float = 10.0) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(self.SCRIPT), "--impl", impl, *options],
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        assert self.process.stdout is not None
        # The first line comes at once unless the process failed: then it is b"" (EOF).
        # (bounded: select() first, so a server that hangs before printing fails the test)
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else b""
        assert line.startswith(b"PORT "), f"no port from the server: {self.log()}"
        self.port = int(line.split()[1])
        self.pid = self.process.pid
        self.timeout = timeout

    def stats(self) -> dict[str, Any]:
        """GET /stats (on a connection of its own, closed right after)."""
        url = f"http://127.0.0.1:{self.port}/stats"
        request = urllib.request.Request(url, headers={"Connection": "close"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            result: dict[str, Any] = json.loads(response.read())
        return result

    def cpu_seconds(self) -> float:
        """User + system CPU time so far, read from /proc without asking the server."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def log(self) -> str:
        """What the server has logged so far (its stderr goes straight to the file)."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(self.timeout)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self._log.close()


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# ---- Tornado's own tests, with minitornado's names swapped in -----------------------------


def swap_tornado_imports(source: str, modules: Collection[str]) -> str:
    """Tornado's test source, each ``from tornado.X import a, b`` line (indented ones too:
    the scripts some tests run) made ``from minitornado.X import a, b`` where X is one of
    ``modules`` and minitornado's X has every name imported; the rest (``tornado.testing``,
    the HTTP client, ...) stays Tornado's."""

    def swap(found: re.Match[str]) -> str:
        indent, module, names = found[1], found[2], found[3]
        if module not in modules:
            return found[0]
        ours = importlib.import_module(f"minitornado.{module}")
        if not all(hasattr(ours, name.strip()) for name in names.split(",")):
            return found[0]
        return f"{indent}from minitornado.{module} import {names}"

    return re.sub(r"^([ \t]*)from tornado\.(\w+) import ([\w, ]+)$", swap, source, flags=re.M)
