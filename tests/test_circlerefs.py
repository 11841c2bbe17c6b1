"""No reference cycles per request, and memory given back after large uploads.

CPython frees an object the moment its last reference goes, unless the object sits in a
reference cycle: then it waits for the cyclic garbage collector, which runs only now and
then. A request that leaves a cycle behind keeps whatever the cycle reaches (a stream and
its buffers, a handler, a request and its body) until that collection. And memory freed
is not always memory the process gives back: glibc's malloc returns a large buffer's own
mapping at once, but a heap only shrinks from its top, so a 40 MB body held as 600 pieces
of 64 KiB on the heap stays in the process once a single long-lived object lands above it
(the issue "give memory back after large bodies").

Two tests, both run against minitornado and against Tornado 6.6.1:

- ``test_no_reference_cycles``: with the collector off, a server serves a few hundred
  requests of one kind (success, errors, streaming uploads, refusals, timeouts, clients
  that leave, keep-alive or not, HTTP/1.0, pipelining), then ``gc.collect()`` must find
  nothing unreachable; the failure message shows the cycles found. The server runs on an
  asyncio loop in a thread of its own; the client is plain blocking sockets in the test's
  thread, which make no garbage of their own. Tornado leaves cycles on some paths
  (``TORNADO_CYCLES``): there the test asserts that it still does. About 25 s in all.
- ``test_rss_returns_after_large_uploads``: a server in a subprocess (this very file, run as
  ``python tests/test_circlerefs.py minitornado|tornado``) echoes five rounds of three
  concurrent 40 MiB POSTs (600 MiB each way over loopback); afterwards its resident memory
  must be back within 30 MiB of where it started. The figures are printed (``-s``).
  About 5 to 10 s per library on two cores.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import importlib
import io
import logging
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

LIBS = ("minitornado", "tornado")
TIMEOUT = 10.0  # the bound on every wait, in seconds
REQUESTS = 200  # per kind, in the cycle test
UPLOAD = b"u" * 200_000  # a body of several 64 KiB chunks


# ---- The application (the same on both libraries) --------------------------------------


def make_app(lib: str) -> Any:
    web = importlib.import_module(f"{lib}.web")
    RH: Any = web.RequestHandler

    class Echo(RH):
        def get(self) -> None:
            self.write("ok")

        def post(self) -> None:
            self.write(self.request.body)

    class Fail(RH):
        def get(self) -> None:
            raise ValueError("boom")  # 500, logged with its traceback

    class Forbidden(RH):
        async def get(self) -> None:
            await asyncio.sleep(0)
            raise web.HTTPError(403, "not for %s", "you")  # 403, logged without one

    class Slow(RH):
        async def get(self) -> None:
            await asyncio.sleep(0.01)
            self.write("late")

    @web.stream_request_body
    class Upload(RH):
        def prepare(self) -> None:
            self.received = 0

        async def data_received(self, chunk: bytes) -> None:
            await asyncio.sleep(0)
            self.received += len(chunk)

        def post(self) -> None:
            self.write(str(self.received))

    @web.stream_request_body
    class RefuseUpload(RH):
        def prepare(self) -> None:
            raise web.HTTPError(403)  # before the body is read

    return web.Application(
        [("/", Echo), ("/fail", Fail), ("/forbidden", Forbidden), ("/slow", Slow),
         ("/upload", Upload), ("/refuse", RefuseUpload)]
    )  # fmt: skip


def make_callable(lib: str) -> Any:
    """A plain function for HTTPServer, no web framework: it echoes the body."""
    httputil = importlib.import_module(f"{lib}.httputil")

    def echo(request: Any) -> None:
        body = request.body or b"ok"
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        request.connection.finish()

    return echo


class ThreadServer:
    """An HTTPServer of ``lib`` on 127.0.0.1 port 0, on an asyncio loop in its own thread."""

    def __init__(self, lib: str, **server_kwargs: Any) -> None:
        self.lib = lib
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name=f"server-{lib}", daemon=True
        )
        self.thread.start()
        self.port: int = self._run(self._start(server_kwargs))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    async def _start(self, server_kwargs: dict[str, Any]) -> int:
        httpserver = importlib.import_module(f"{self.lib}.httpserver")
        netutil = importlib.import_module(f"{self.lib}.netutil")
        sockets = netutil.bind_sockets(0, "127.0.0.1")
        plain = server_kwargs.pop("plain_callable", False)
        target = make_callable(self.lib) if plain else make_app(self.lib)
        self.server = httpserver.HTTPServer(target, **server_kwargs)
        self.server.add_sockets(sockets)
        return int(sockets[0].getsockname()[1])

    def idle(self) -> bool:
        """No open connection, and no task of the loop still running (a slow handler)."""
        return not self.server._connections and not asyncio.all_tasks(self.loop)

    def wait_idle(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not self.idle():
            assert time.monotonic() < deadline, f"{self.lib} server still busy"
            time.sleep(0.005)
        time.sleep(0.02)  # callbacks already scheduled (a stream's close) run meanwhile

    def stop(self) -> None:
        async def stop() -> None:
            self.server.stop()
            await self.server.close_all_connections()

        try:
            self._run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(TIMEOUT)
            self.loop.close()


# ---- The client: blocking sockets, every wait bounded -----------------------------------


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


def read_responses(sock: socket.socket, count: int, until_close: bool = False) -> bytes:
    """Read ``count`` responses framed by Content-Length (or, ``until_close``, to EOF)."""
    data, end = b"", 0
    for _ in range(0 if until_close else count):
        while b"\r\n\r\n" not in data[end:]:
            data += _recv(sock)
        head_end = data.index(b"\r\n\r\n", end) + 4
        head = data[end:head_end].lower()
        length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
        end = head_end + length
        while len(data) < end:
            data += _recv(sock)
    while until_close and (chunk := sock.recv(65536)):
        data += chunk
    return data


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    assert chunk, "the server closed the connection early"
    return chunk


def reset(sock: socket.socket) -> None:
    """Close with a RST (SO_LINGER 0): a client that vanishes."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def request(
    method: str, path: str, body: bytes = b"", version: str = "1.1", **headers: str
) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: x"]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 10_000) -> bytes:
    pieces = [b"%x\r\n%b\r\n" % (len(body[i : i + size]), body[i : i + size])
              for i in range(0, len(body), size)]  # fmt: skip
    return b"".join(pieces) + b"0\r\n\r\n"


# ---- The kinds of request, one client each ----------------------------------------------


def get_keep_alive(port: int) -> None:
    with connect(port) as sock:
        for _ in range(3):
            sock.sendall(request("GET", "/"))
            read_responses(sock, 1)


def get_close(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("GET", "/", Connection="close"))
        read_responses(sock, 1, until_close=True)


def http10(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("GET", "/", version="1.0"))
        read_responses(sock, 1, until_close=True)


def http10_keep_alive(port: int) -> None:
    with connect(port) as sock:
        for _ in range(2):
            sock.sendall(request("GET", "/", version="1.0", Connection="keep-alive"))
            read_responses(sock, 1)


def pipelined(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("GET", "/") * 2 + request("POST", "/", b"abc") + request("GET", "/"))
        read_responses(sock, 4)


def post_body(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("POST", "/", UPLOAD))
        assert read_responses(sock, 1).endswith(UPLOAD)


def post_chunked(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("POST", "/", Transfer_Encoding="chunked") + chunked(UPLOAD))
        assert read_responses(sock, 1).endswith(UPLOAD)


def handler_error(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("GET", "/fail"))
        assert read_responses(sock, 1).startswith(b"HTTP/1.1 500")


def http_error(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("GET", "/forbidden"))
        assert read_responses(sock, 1).startswith(b"HTTP/1.1 403")


def not_found(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("GET", "/nowhere"))
        assert read_responses(sock, 1).startswith(b"HTTP/1.1 404")


def malformed(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        assert read_responses(sock, 1, until_close=True).startswith(b"HTTP/1.1 400")


def streaming_upload(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("POST", "/upload", UPLOAD))
        assert read_responses(sock, 1).endswith(str(len(UPLOAD)).encode())


def streaming_upload_chunked(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("POST", "/upload", Transfer_Encoding="chunked") + chunked(UPLOAD))
        assert read_responses(sock, 1).endswith(str(len(UPLOAD)).encode())


def streaming_upload_refused(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("POST", "/refuse", b"0123456789"))
        # The server closes with the body unread, so its kernel may answer with a RST.
        with contextlib.suppress(ConnectionResetError):
            assert read_responses(sock, 1, until_close=True).startswith(b"HTTP/1.1 403")


def body_too_large(port: int) -> None:
    # Over the server's max_body_size: refused without being read (Tornado: 400, us: 413).
    with connect(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
        assert read_responses(sock, 1, until_close=True).startswith(b"HTTP/1.1 4")


def header_timeout(port: int) -> None:
    # The server runs with idle_connection_timeout=0.02: it closes on a request left
    # unfinished. Four at a time, so that the waits overlap.
    unfinished(port, b"GET / HTTP/1.1\r\nHost: x\r\n")


def body_timeout(port: int) -> None:
    # The server runs with body_timeout=0.02: it closes on a body left unfinished.
    unfinished(port, request("POST", "/", UPLOAD)[:1000])


def unfinished(port: int, data: bytes) -> None:
    socks = [connect(port) for _ in range(4)]
    try:
        for sock in socks:
            sock.sendall(data)
        for sock in socks:
            assert sock.recv(100) == b"", "the server should have closed on its timeout"
    finally:
        for sock in socks:
            sock.close()


def plain_callable(port: int) -> None:
    # The server runs a plain function, not an Application (see SERVER_KWARGS).
    with connect(port) as sock:
        sock.sendall(request("POST", "/", UPLOAD) + request("GET", "/"))
        assert read_responses(sock, 2).endswith(b"ok")


def gone_mid_headers(port: int) -> None:
    sock = connect(port)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Cut: ")
    time.sleep(0.001)
    reset(sock)


def gone_mid_body(port: int) -> None:
    sock = connect(port)
    sock.sendall(request("POST", "/", UPLOAD)[:100_000])
    time.sleep(0.001)
    reset(sock)


def gone_mid_streaming_upload(port: int) -> None:
    sock = connect(port)
    sock.sendall(request("POST", "/upload", UPLOAD)[:100_000])
    time.sleep(0.001)
    reset(sock)


def gone_mid_handler(port: int) -> None:
    sock = connect(port)
    sock.sendall(request("GET", "/slow"))
    time.sleep(0.002)  # the handler is asleep for 10 ms: the client leaves meanwhile
    reset(sock)


KINDS: dict[str, Callable[[int], None]] = {
    f.__name__: f
    for f in (
        get_keep_alive, get_close, http10, http10_keep_alive, pipelined, post_body,
        post_chunked, handler_error, http_error, not_found, malformed, streaming_upload,
        streaming_upload_chunked, streaming_upload_refused, body_too_large, header_timeout,
        body_timeout, plain_callable, gone_mid_headers, gone_mid_body, gone_mid_streaming_upload,
        gone_mid_handler,
    )
}  # fmt: skip
SERVER_KWARGS: dict[str, dict[str, Any]] = {
    "header_timeout": {"idle_connection_timeout": 0.02},
    "body_timeout": {"body_timeout": 0.02},
    "plain_callable": {"plain_callable": True},
}
# Differs on purpose: where a client resets the connection, Tornado's IOStream keeps the
# error with its traceback, whose frames hold the stream: a cycle per connection. And a
# streaming upload cut short leaves one more (the request's Future, its error, the frame of
# RequestHandler._execute). minitornado drops those tracebacks (IOStream.close, _execute).
# Its timeouts (tornado.gen.with_timeout) leave one too: the read's Future, its error, the
# traceback through gen.py's error_callback.
TORNADO_CYCLES = {"gone_mid_headers", "gone_mid_body", "gone_mid_streaming_upload",
                  "gone_mid_handler", "header_timeout", "body_timeout"}  # fmt: skip
# The timeouts close four connections per call (see unfinished()).
REPEATS = {"header_timeout": REQUESTS // 4, "body_timeout": REQUESTS // 4}


# ---- Finding the cycles ------------------------------------------------------------------


@contextlib.contextmanager
def quiet_loggers(lib: str) -> Iterator[None]:
    """Format every log record (as a real handler would), keep none: pytest's log capture
    would hold each record's traceback, and with it the frames of the failed requests."""

    class Formatting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            self.format(record)

    handler = Formatting()
    loggers = [logging.getLogger(f"{lib}.{name}") for name in ("access", "application", "general")]
    saved = [(log.propagate, log.level) for log in loggers]
    for log in loggers:
        log.addHandler(handler)
        log.propagate = False
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        for log, (propagate, level) in zip(loggers, saved, strict=True):
            log.removeHandler(handler)
            log.propagate, log.level = propagate, level


def find_cycles(garbage: list[object], limit: int = 3) -> list[list[object]]:
    """Some cycles among ``garbage`` (what a collection found unreachable): each a path
    through ``gc.get_referents`` that comes back to its start. ``garbage`` also holds what
    the cycles merely keep alive; starting from the least generic objects finds the cycles
    a reader cares about (a handler, a connection) rather than a dict inside one."""
    ids = {id(obj) for obj in garbage}
    generic = (dict, list, tuple, set, types.CellType)
    starts = sorted(garbage, key=lambda obj: isinstance(obj, generic))
    cycles: list[list[object]] = []
    seen_in_cycle: set[int] = set()
    for start in starts:
        if len(cycles) >= limit:
            break
        if id(start) in seen_in_cycle:
            continue
        # Breadth-first from start's referents, back to start: the shortest cycle through it.
        parents: dict[int, object] = {}
        queue = collections.deque([start])
        found = False
        while queue and not found:
            obj = queue.popleft()
            for ref in gc.get_referents(obj):
                if ref is start:
                    path = [obj]
                    while path[-1] is not start:
                        path.append(parents[id(path[-1])])
                    cycles.append(path[::-1])
                    seen_in_cycle.update(id(o) for o in path)
                    found = True
                    break
                if id(ref) in ids and id(ref) not in parents and ref is not start:
                    parents[id(ref)] = obj
                    queue.append(ref)
    return cycles


def describe(garbage: list[object]) -> str:
    counts = collections.Counter(type(obj).__qualname__ for obj in garbage)
    out = io.StringIO()
    out.write(f"{len(garbage)} objects in reference cycles: {counts.most_common(12)}\n")
    for cycle in find_cycles(garbage):
        out.write("cycle:\n")
        for obj in cycle:
            text = repr(obj) if not isinstance(obj, dict) else f"dict with keys {list(obj)[:12]}"
            out.write(f"    {type(obj).__qualname__}: {text[:160]}\n")
            if isinstance(obj, types.FrameType):
                out.write(f"        at {obj.f_code.co_filename}:{obj.f_lineno}\n")
    return out.getvalue()


@contextlib.contextmanager
def collector_off() -> Iterator[list[object]]:
    """Turn the collector off around the block; yield the list that receives, at the end,
    what a collection found unreachable (so only cycles made inside the block)."""
    found: list[object] = []
    gc.disable()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what is unreachable goes to gc.garbage, not away
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lib", LIBS)
def test_no_reference_cycles(lib: str, kind: str) -> None:
    # A few hundred requests of one kind, the collector off: afterwards a collection finds
    # no object in a reference cycle, in the server or anywhere else in the process.
    client = KINDS[kind]
    with quiet_loggers(lib):
        server = ThreadServer(lib, max_body_size=1_000_000, **SERVER_KWARGS.get(kind, {}))
        try:
            for _ in range(3):  # warm up: first-use imports and caches are not cycles
                client(server.port)
            server.wait_idle()
            with collector_off() as garbage:
                for _ in range(REPEATS.get(kind, REQUESTS)):
                    client(server.port)
                server.wait_idle()
            message = describe(garbage) if garbage else ""
            del garbage
        finally:
            server.stop()
    if lib == "tornado" and kind in TORNADO_CYCLES:
        assert message, f"tornado, {kind}: no cycle left (Tornado has fixed it?)"
    else:
        assert not message, f"{lib}, {kind}: {message}"


# ---- Memory given back after large uploads ------------------------------------------------

BIG = 40 * 1024 * 1024  # each upload, echoed back
ROUNDS, CONCURRENT = 5, 3
RSS_SLACK_MIB = 30


def serve_forever(lib: str) -> None:
    """The subprocess server: an echo of request bodies up to 64 MiB, on a free port, which it
    prints as ``PORT <n>``. It serves until killed."""

    async def main() -> None:
        httpserver = importlib.import_module(f"{lib}.httpserver")
        netutil = importlib.import_module(f"{lib}.netutil")
        sockets = netutil.bind_sockets(0, "127.0.0.1")
        server = httpserver.HTTPServer(make_app(lib), max_body_size=64 * 1024 * 1024)
        server.add_sockets(sockets)
        print("PORT", sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib / 1024


def echo_big(port: int, body: bytes) -> None:
    """POST ``body`` and read the echo into a buffer of its own, checking its length."""
    with connect(port) as sock:
        sock.settimeout(60)  # 40 MB each way, while the others do the same
        sock.sendall(request("POST", "/", body, Connection="close"))
        received = bytearray(len(body) + 4096)
        view, size = memoryview(received), 0
        while count := sock.recv_into(view[size:]):
            size += count
        assert received[:size].endswith(body[-100:]) and size > len(body)
        del view


@pytest.mark.parametrize("lib", LIBS)
def test_rss_returns_after_large_uploads(lib: str) -> None:
    # Five rounds of three concurrent 40 MB POSTs echoed back (600 MB over loopback): the
    # server's resident memory goes up by hundreds of MB meanwhile, and afterwards it is
    # back within 30 MiB of where it started, with no garbage collection to wait for.
    process = subprocess.Popen(
        [sys.executable, __file__, lib], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], TIMEOUT)
        assert ready, "the server did not start"
        port = int(process.stdout.readline().split()[1])
        streaming_upload(port)  # warm up: imports, first allocations
        post_body(port)
        before = rss_mib(process.pid)
        body = os.urandom(1024) * (BIG // 1024)
        start, peak = time.monotonic(), before
        errors: list[BaseException] = []

        def client() -> None:
            try:
                echo_big(port, body)
            except BaseException as e:
                errors.append(e)

        for _ in range(ROUNDS):
            threads = [threading.Thread(target=client, daemon=True) for _ in range(CONCURRENT)]
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                assert time.monotonic() - start < 60, "the uploads took too long"
                peak = max(peak, rss_mib(process.pid))
                for thread in threads:
                    thread.join(0.05)
            assert not errors, errors
        seconds = time.monotonic() - start
        # Freed memory is given back at once or never; still, allow a moment.
        deadline = time.monotonic() + 2
        while (after := rss_mib(process.pid)) > before + RSS_SLACK_MIB:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        process.kill()
        process.wait(TIMEOUT)
    print(
        f"\nRSS ({lib}): {before:.0f} MiB before, {peak:.0f} MiB at the peak, {after:.0f} MiB "
        f"after {ROUNDS} rounds of {CONCURRENT} concurrent {BIG // 2**20} MiB echoes "
        f"({seconds:.1f} s)"
    )
    assert after <= before + RSS_SLACK_MIB, f"{lib}: RSS {before:.0f} -> {after:.0f} MiB"


if __name__ == "__main__":
    serve_forever(sys.argv[1])
