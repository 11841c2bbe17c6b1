"""Fuzzing the running server: valid requests, mutated at random, sent over real sockets.

Each Hypothesis example is a batch of connections, sent at once. Every connection carries a
valid request (or a few, pipelined) that was then broken: split into pieces sent apart,
bytes flipped, inserted or deleted, header lines duplicated, lengths and chunk sizes lied
about, framing headers added, the request cut short or repeated. For every connection:

- whatever the server sends parses as a sequence of complete HTTP/1.1 responses (read by
  h11 as a client), and the server ends the connection within ``DEADLINE`` seconds (the
  server's own timeouts are short, so a request that lies about its length is closed too);
- no response is a 5xx: the application below never fails, so a 5xx would be the input's;
- nothing is logged at ERROR;
- after the batch, a normal request still gets a 200.

The server runs in a thread of its own (Hypothesis drives synchronous tests); each example
runs its clients in a fresh event loop. Only minitornado is fuzzed: Tornado fails the
ERROR-log clause, for one when a handler's ``flush()`` finds its client gone (see
tests/test_disconnects.py), and for another on two pipelined HTTP/1.0 requests to a
streaming handler (it starts the second while streaming the first, then logs the second's
failed flush at ERROR).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SERVER_TIMEOUT = 0.2  # idle_connection_timeout and body_timeout of the fuzzed server
DEADLINE = 5.0  # by then every connection must have been closed by the server
BATCH = 12  # connections per example, sent at once


# ---- The server under fuzzing ------------------------------------------------------------


def make_fuzz_app(web: ModuleType) -> Any:
    """Handlers that cannot fail by themselves: sync, async, streamed, redirecting, 400."""

    class Hello(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.write("Hello, world")

    class Echo(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.write({"arguments": len(self.request.arguments), "cookie": self.get_cookie("a")})

        def post(self) -> None:
            self.write({"body": len(self.request.body), "files": len(self.request.files)})

        put = post

    class Stream(web.RequestHandler):  # type: ignore[name-defined,misc]
        async def get(self) -> None:
            for part in ("a", "b", "c"):
                self.write(part)
                await self.flush()

    class Sleep(web.RequestHandler):  # type: ignore[name-defined,misc]
        async def get(self) -> None:
            await asyncio.sleep(0.01)
            self.write("late")

    class Redirect(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.redirect("/")

    class Argument(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.write(self.get_argument("x"))  # missing: a 400 page

    return web.Application(
        [
            ("/", Hello),
            ("/echo", Echo),
            ("/stream", Stream),
            ("/sleep", Sleep),
            ("/redirect", Redirect),
            ("/argument", Argument),
        ]
    )


class ErrorRecords(logging.Handler):
    """Collects every record at ERROR or above, from whichever thread logs it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class ServerThread:
    """``lib``'s HTTPServer with the fuzz app, on its own event loop in a daemon thread."""

    def __init__(self, lib: str) -> None:
        self.lib = lib
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the server thread did not start"

    async def _main(self) -> None:
        web = importlib.import_module(f"{self.lib}.web")
        httpserver = importlib.import_module(f"{self.lib}.httpserver")
        netutil = importlib.import_module(f"{self.lib}.netutil")
        sockets = netutil.bind_sockets(0, "127.0.0.1")
        server = httpserver.HTTPServer(
            make_fuzz_app(web),
            idle_connection_timeout=SERVER_TIMEOUT,
            body_timeout=SERVER_TIMEOUT,
        )
        server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), DEADLINE)

    def stop(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(DEADLINE)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerThread, ErrorRecords]]:
    errors = ErrorRecords()
    logger = logging.getLogger("minitornado")
    logger.addHandler(errors)
    running = ServerThread("minitornado")
    yield running, errors
    running.stop()
    logger.removeHandler(errors)
    print(
        f"\nfuzz: {FIGURES['connections']} mutated connections in {FIGURES['examples']} "
        f"batches of {BATCH}; {FIGURES['answered']} got responses, the rest a clean close; "
        f"the slowest was closed after {FIGURES['slowest']:.2f} s (deadline {DEADLINE} s)"
    )


# ---- Valid requests, and ways to break them --------------------------------------------------

MULTIPART = (
    b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n'
    b'--B\r\nContent-Disposition: form-data; name="f"; filename="f.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nhello\r\n--B--\r\n"
)

VALID = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /echo?a=1&b=%C3%A9&a=2 HTTP/1.1\r\nHost: x\r\nCookie: a=b; c=d\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 7\r\n\r\na=1&b=2",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
    b"Content-Length: %d\r\n\r\n" % len(MULTIPART) + MULTIPART,
    b"PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /sleep HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /argument?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /argument HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /redirect HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /stream HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
]

# Pieces an attacker likes: framing headers, line ends, bytes that parsers treat unevenly.
TOKENS = [
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: 99999999999\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"Host: y\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b"\xa0",
    b"\x85",
    b" ",
    b"\t",
    b":",
    b"0\r\n\r\n",
    b"ffffffff\r\n",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"%00",
    b"%FF",
    b"X: " + b"a" * 70_000 + b"\r\n",  # over the 64 KiB header limit
]

LIES = [b"0", b"1", b"3", b"100", b"-1", b"+5", b"1_0", b"0x5", b" 5", b"5 5", b"", b"9" * 25]

Mutation = Callable[[st.DrawFn, bytes], bytes]


def _flip(draw: st.DrawFn, data: bytes) -> bytes:
    i = draw(st.integers(0, max(len(data) - 1, 0)))
    return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]


def _insert(draw: st.DrawFn, data: bytes) -> bytes:
    i = draw(st.integers(0, len(data)))
    piece = draw(st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=8)))
    return data[:i] + piece + data[i:]


def _delete(draw: st.DrawFn, data: bytes) -> bytes:
    i = draw(st.integers(0, len(data)))
    return data[:i] + data[i + draw(st.integers(1, 16)) :]


def _duplicate_line(draw: st.DrawFn, data: bytes) -> bytes:
    lines = data.split(b"\r\n")
    i = draw(st.integers(0, len(lines) - 1))
    return b"\r\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])


def _lie_about_length(draw: st.DrawFn, data: bytes) -> bytes:
    lie = draw(st.one_of(st.sampled_from(LIES), st.integers(0, 300).map(lambda n: b"%d" % n)))
    if b"Content-Length: " in data:
        return re.sub(rb"Content-Length: [^\r\n]*", b"Content-Length: " + lie, data, count=1)
    # A chunked body: lie in a chunk size instead (hex, or one of the lies).
    size = draw(st.one_of(st.sampled_from(LIES), st.integers(0, 300).map(lambda n: b"%x" % n)))
    return re.sub(rb"\r\n\r\n[0-9a-f]+\r\n", b"\r\n\r\n" + size + b"\r\n", data, count=1)


def _cut(draw: st.DrawFn, data: bytes) -> bytes:
    return data[: draw(st.integers(0, len(data)))]


def _repeat(draw: st.DrawFn, data: bytes) -> bytes:
    return data * draw(st.integers(2, 3))


MUTATIONS: list[Mutation] = [
    _flip,
    _insert,
    _delete,
    _duplicate_line,
    _lie_about_length,
    _cut,
    _repeat,
]


@st.composite
def hostile_connection(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A broken request and where to split it: (bytes, sorted split offsets)."""
    data = draw(st.sampled_from(VALID))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=4)):
        data = mutation(draw, data)
    splits = sorted(set(draw(st.lists(st.integers(1, max(len(data) - 1, 1)), max_size=3))))
    return data, splits


# ---- One connection, and what counts as a well-formed answer ------------------------------


async def converse(port: int, data: bytes, splits: list[int]) -> tuple[bytes, float]:
    """Send ``data`` in pieces; read until the server closes. (received, seconds taken).

    A plain socket, not asyncio's streams: when the server answers and closes before we
    have sent everything, our send fails, and asyncio's transport would then drop the
    answer the kernel still holds for us.
    """
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    received = bytearray()
    with socket.socket() as sock:
        sock.setblocking(False)
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), DEADLINE)
        try:
            bounds = zip([0, *splits], [*splits, len(data)], strict=True)
            for piece in (data[a:b] for a, b in bounds):
                await asyncio.wait_for(loop.sock_sendall(sock, piece), DEADLINE)
                await asyncio.sleep(0.005)  # apart, so the server reads them separately
        except ConnectionError:
            pass  # the server answered and closed before we had sent everything
        try:
            while chunk := await asyncio.wait_for(loop.sock_recv(sock, 65536), DEADLINE):
                received += chunk
        except ConnectionError:
            pass  # the server closed with our bytes unread (a reset): a close all the same
        except asyncio.TimeoutError:
            raise AssertionError(f"the server kept the connection open past {DEADLINE} s") from None
    return bytes(received), time.monotonic() - start


def response_statuses(received: bytes) -> list[int]:
    """The status of each response in ``received``, which must be complete responses only.

    h11, playing the client, reads them (each as the answer to a GET, as no base request is
    a HEAD); a malformed or cut-off response raises ``h11.RemoteProtocolError``.
    """
    if not received:
        return []  # closed without a word: a clean close
    client = h11.Connection(h11.CLIENT)
    statuses: list[int] = []

    def ask() -> None:
        client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())

    ask()
    client.receive_data(received)
    client.receive_data(b"")  # the server closed
    last: object = None
    while True:
        try:
            event = client.next_event()
        except h11.RemoteProtocolError:
            # A close right after an interim response ("100 (Continue)", then the body never
            # came and the body timeout struck) also ends the exchange cleanly.
            if isinstance(last, h11.InformationalResponse) and not client.trailing_data[0]:
                return statuses
            raise
        last = event
        if isinstance(event, h11.InformationalResponse | h11.Response):
            statuses.append(event.status_code)
        elif isinstance(event, h11.EndOfMessage) and client.their_state is h11.DONE:
            more, _ = client.trailing_data
            if more and client.our_state is h11.DONE:  # another response follows
                client.start_next_cycle()
                ask()
        elif isinstance(event, h11.ConnectionClosed):
            return statuses
        assert event is not h11.NEED_DATA  # (it cannot come after the close)


async def run_batch(port: int, batch: list[tuple[bytes, list[int]]]) -> list[tuple[bytes, float]]:
    return await asyncio.gather(*(converse(port, data, splits) for data, splits in batch))


async def normal_get(port: int) -> bytes:
    received, _ = await converse(
        port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", []
    )
    return received


# ---- The property --------------------------------------------------------------------------

FIGURES = {"examples": 0, "connections": 0, "answered": 0, "slowest": 0.0}


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batch=st.lists(hostile_connection(), min_size=BATCH, max_size=BATCH))
def test_mutated_requests_get_well_formed_answers_or_a_clean_close(server, batch):
    # A batch of broken requests at once: every connection gets complete responses (or none)
    # and is closed by the server within the deadline; no 5xx, no ERROR log; then a normal
    # GET is still answered 200.
    running, errors = server
    errors.records.clear()
    results = asyncio.run(run_batch(running.port, batch))
    answered, slowest = 0, 0.0
    for (data, _), (received, seconds) in zip(batch, results, strict=True):
        try:
            statuses = response_statuses(received)
        except h11.RemoteProtocolError as e:
            raise AssertionError(f"malformed answer {received[:300]!r} to {data[:300]!r}") from e
        assert not [s for s in statuses if s >= 500], (data[:300], received[:300])
        answered += bool(statuses)
        slowest = max(slowest, seconds)
    assert [r.getMessage() for r in errors.records] == []
    assert asyncio.run(normal_get(running.port)).startswith(b"HTTP/1.1 200 OK\r\n")
    FIGURES["examples"] += 1
    FIGURES["connections"] += len(batch)
    FIGURES["answered"] += answered
    FIGURES["slowest"] = max(FIGURES["slowest"], slowest)
