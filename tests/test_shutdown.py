"""Graceful shutdown: ``HTTPServer.shutdown(timeout)`` and ``close_when_idle`` (ours alone).

Real servers on 127.0.0.1 port 0, raw socket clients (``Client`` from tests/support.py).
The handler ``/wait`` tells the test it has started, then waits until the test releases
it, so "a request in flight" is a fact, not a timing guess.
One test shows the difference from Tornado, whose recipe drops such a request; the last
runs the example printed in README.md.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import TIMEOUT, Client

from minitornado.httpserver import HTTPServer


@dataclass
class Gate:
    """``/wait`` sets ``started``, then waits for ``release``."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


def make_app(impl: str, gate: Gate) -> Any:
    """``/`` answers at once; ``/wait`` waits for the gate; ``/stream`` sends a first piece,
    then waits for the gate; ``/upload`` streams its body in, the gate opened by the first
    piece."""
    web = importlib.import_module(f"{impl}.web")

    class Quick(web.RequestHandler):  # type: ignore[name-defined, misc]
        def get(self) -> None:
            self.write("quick")

    class Wait(web.RequestHandler):  # type: ignore[name-defined, misc]
        async def get(self) -> None:
            gate.started.set()
            await gate.release.wait()
            self.write("done")

    class Stream(web.RequestHandler):  # type: ignore[name-defined, misc]
        async def get(self) -> None:
            self.write("first ")
            await self.flush()
            gate.started.set()
            await gate.release.wait()
            self.write("last")

    @web.stream_request_body
    class Upload(web.RequestHandler):  # type: ignore[name-defined, misc]
        def prepare(self) -> None:
            self.received = 0

        def data_received(self, chunk: bytes) -> None:
            self.received += len(chunk)
            gate.started.set()

        def post(self) -> None:
            self.write(f"got {self.received}")

    @web.stream_request_body
    class SlowPrepare(web.RequestHandler):  # type: ignore[name-defined, misc]
        async def prepare(self) -> None:  # awaited inside headers_received
            gate.started.set()
            await gate.release.wait()

        def data_received(self, chunk: bytes) -> None:
            pass

        def post(self) -> None:
            self.write("prepared")

    routes = [
        ("/", Quick), ("/wait", Wait), ("/stream", Stream), ("/upload", Upload),
        ("/slow-prepare", SlowPrepare),
    ]  # fmt: skip
    return web.Application(routes)


@dataclass
class Served:
    server: Any
    port: int
    gate: Gate


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[str], Awaitable[Served]]]:
    """``await serve(impl)``: the app on a free port; the gate is opened afterwards and the
    server's connections closed, so no handler is left waiting."""
    started: list[Served] = []

    async def start(impl: str = "minitornado") -> Served:
        gate = Gate()
        server = make_app(impl, gate).listen(0, "127.0.0.1")
        port = next(iter(server._sockets.values())).getsockname()[1]
        started.append(Served(server, port, gate))
        return started[-1]

    yield start
    for served in started:
        served.gate.release.set()
        served.server.stop()
        await asyncio.wait_for(served.server.close_all_connections(), TIMEOUT)


async def request_in_flight(served: Served, request: bytes) -> Client:
    """A client whose request has reached the handler, which now waits for the gate."""
    client = await Client.connect(served.port)
    await client.send(request)
    await asyncio.wait_for(served.gate.started.wait(), TIMEOUT)
    return client


def shutting_down(server: HTTPServer, timeout: float = TIMEOUT) -> asyncio.Task[int]:
    return asyncio.ensure_future(asyncio.wait_for(server.shutdown(timeout), TIMEOUT + timeout))


async def test_request_in_flight_finishes_with_connection_close_then_closes(serve) -> None:
    # A keep-alive request is being handled when shutdown starts: its response arrives in
    # full, says Connection: close, and the connection closes right after it instead of
    # waiting for a next request. Nothing had to be cut.
    served = await serve()
    client = await request_in_flight(served, b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
    shutdown = shutting_down(served.server)
    await asyncio.sleep(0.05)
    assert not shutdown.done()  # it waits for the request
    served.gate.release.set()
    response = await client.read_response()
    assert (response.code, response.body) == (200, b"done")
    assert response.header("Connection") == "close"
    assert await client.read_until_close() == b""
    assert await shutdown == 0
    assert served.server._connections == set()


async def test_idle_keep_alive_connection_is_closed_at_once(serve) -> None:
    # A client that got its answer and keeps the connection open is closed (EOF) as soon
    # as shutdown starts; shutdown returns at once, well before its deadline.
    served = await serve()
    client = await Client.connect(served.port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.read_response()).body == b"quick"
    began = time.monotonic()
    assert await shutting_down(served.server, timeout=10) == 0
    assert time.monotonic() - began < 2  # (the deadline was 10 s)
    assert await client.read_until_close() == b""


async def test_new_clients_are_refused_while_draining(serve) -> None:
    # While a request is still in flight, the listening socket is already closed: a new
    # client gets ECONNREFUSED instead of waiting in a queue nobody reads.
    served = await serve()
    client = await request_in_flight(served, b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
    shutdown = shutting_down(served.server)
    await asyncio.sleep(0)  # the task runs up to its first wait: stop() is done by then
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", served.port), TIMEOUT)
    served.gate.release.set()
    assert (await client.read_response()).body == b"done"
    assert await shutdown == 0


async def test_requests_still_running_at_the_deadline_are_cut(serve) -> None:
    # A handler that does not finish within the timeout: shutdown returns after the timeout,
    # reports one connection cut, and that client sees the connection close with no bytes.
    served = await serve()
    client = await request_in_flight(served, b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
    began = time.monotonic()
    assert await shutting_down(served.server, timeout=0.3) == 1
    assert 0.3 <= time.monotonic() - began < 3
    assert await client.read_until_close() == b""
    assert served.server._connections == set()


async def test_a_request_stuck_before_its_body_is_cut_at_the_deadline(
    serve, caplog: pytest.LogCaptureFixture
) -> None:
    # A streaming handler whose async prepare() never ends holds its request loop inside
    # headers_received, where closing the socket wakes nothing. shutdown() must still return
    # at its deadline (the loop is cancelled), cut that connection, and log no ERROR.
    served = await serve()
    request = b"POST /slow-prepare HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
    client = await request_in_flight(served, request)
    began = time.monotonic()
    assert await shutting_down(served.server, timeout=0.3) == 1
    assert time.monotonic() - began < 3
    assert await client.read_until_close() == b""
    assert served.server._connections == set()
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.parametrize("impl", ["minitornado", "tornado"])
async def test_close_all_connections_ends_a_loop_stuck_in_application_code(serve, impl) -> None:
    # The same stuck prepare(), with Tornado's own recipe: stop(), close_all_connections().
    # Ours cancels the request loop that closing the socket does not wake, and returns at
    # once; Tornado's close() waits for that loop, which waits for the application: for
    # ever, here until the test opens the gate (declared in HTTP1ServerConnection.close).
    served = await serve(impl)
    request = b"POST /slow-prepare HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
    client = await request_in_flight(served, request)
    served.server.stop()
    closing = asyncio.ensure_future(served.server.close_all_connections())
    done, _ = await asyncio.wait([closing], timeout=1.0)
    assert bool(done) == (impl == "minitornado")
    served.gate.release.set()
    await asyncio.wait_for(closing, TIMEOUT)
    assert await client.read_until_close() == b""


@pytest.mark.parametrize(
    ("first", "rest"),
    [
        (b"GET / HTTP/1.1\r\nHo", b"st: x\r\n\r\n"),
        (b"\r\nGET / HTTP/1.1\r\n", b"Host: x\r\n\r\n"),
    ],
    ids=["headers-half-sent", "after-an-empty-line"],
)
async def test_request_whose_first_bytes_arrived_is_served(serve, first, rest) -> None:
    # The client has sent part of its request when shutdown starts: the connection is not
    # idle, so the request is served (with Connection: close) once the rest arrives.
    served = await serve()
    client = await Client.connect(served.port)
    await client.send(first)
    await asyncio.sleep(0.1)  # the server reads those bytes (same loop, loopback)
    shutdown = shutting_down(served.server)
    await asyncio.sleep(0.05)
    await client.send(rest)
    response = await client.read_response()
    assert (response.body, response.header("Connection")) == (b"quick", "close")
    assert await client.read_until_close() == b""
    assert await shutdown == 0


async def test_request_whose_body_is_still_arriving_is_served(serve) -> None:
    # Half of a POST body is in when shutdown starts; the rest comes later and the request
    # is answered in full.
    served = await serve()
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
    client = await request_in_flight(served, head + b"12345")
    shutdown = shutting_down(served.server)
    await asyncio.sleep(0.05)
    await client.send(b"67890")
    response = await client.read_response()
    assert (response.body, response.header("Connection")) == (b"got 10", "close")
    assert await shutdown == 0


async def test_pipelined_request_behind_the_last_one_is_not_answered(serve) -> None:
    # Two requests in one write; shutdown starts during the first. The first is answered
    # with Connection: close, and the second is not processed (RFC 9112 §9.6): the client,
    # told the connection closes, knows to send it again elsewhere.
    served = await serve()
    two = b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
    client = await request_in_flight(served, two)
    shutdown = shutting_down(served.server)
    await asyncio.sleep(0.05)
    served.gate.release.set()
    response = await client.read_response()
    assert (response.body, response.header("Connection")) == (b"done", "close")
    assert await client.read_until_close() == b""
    assert await shutdown == 0


async def test_http10_keep_alive_client_is_not_promised_keep_alive(serve) -> None:
    # An HTTP/1.0 client asked for keep-alive; during shutdown its response does not say
    # Connection: Keep-Alive (the connection closes after it, which HTTP/1.0 assumes).
    served = await serve()
    request = b"GET /wait HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    client = await request_in_flight(served, request)
    shutdown = shutting_down(served.server)
    await asyncio.sleep(0.05)
    served.gate.release.set()
    response = await client.read_response()
    assert (response.body, response.header("Connection")) == (b"done", None)
    assert await client.read_until_close() == b""
    assert await shutdown == 0


async def test_response_already_streaming_is_finished_then_closed(serve) -> None:
    # The headers went out (keep-alive, chunked) before shutdown started: the response is
    # completed as it began, then the connection closes.
    served = await serve()
    client = await request_in_flight(served, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    shutdown = shutting_down(served.server)
    await asyncio.sleep(0.05)
    served.gate.release.set()
    response = await client.read_response()
    assert (response.body, response.header("Transfer-Encoding")) == (b"first last", "chunked")
    assert response.header("Connection") is None  # the headers were sent before the shutdown
    assert await client.read_until_close() == b""
    assert await shutdown == 0


async def test_shutdown_without_connections_returns_at_once(serve) -> None:
    # Nothing to drain: shutdown only stops the listener.
    served = await serve()
    began = time.monotonic()
    assert await shutting_down(served.server) == 0
    assert time.monotonic() - began < 1
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", served.port), TIMEOUT)


async def test_tornado_recipe_drops_the_request_that_shutdown_lets_finish(serve) -> None:
    # The difference from Tornado: Tornado's stop() + close_all_connections()
    # cuts a request in flight, whose client gets no byte; shutdown() answers it in full.
    request = b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"
    theirs = await serve("tornado")
    client = await request_in_flight(theirs, request)
    theirs.server.stop()
    await asyncio.wait_for(theirs.server.close_all_connections(), TIMEOUT)
    assert await client.read_until_close() == b""

    ours = await serve("minitornado")
    client = await request_in_flight(ours, request)
    shutdown = shutting_down(ours.server)
    await asyncio.sleep(0.05)
    ours.gate.release.set()
    assert (await client.read_response()).body == b"done"
    assert await shutdown == 0


# ---- The README's example ------------------------------------------------------------------------


def readme_example() -> str:
    """The Python block under README.md's "Graceful shutdown" heading."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Graceful shutdown\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("(`tests/test_shutdown.py` runs this text):\n\n", 1)[1]
    lines = itertools.takewhile(lambda line: not line or line.startswith("    "),
                                block.splitlines())  # fmt: skip
    return textwrap.dedent("\n".join(lines))


def test_readme_example_serves_then_exits_0_on_sigterm() -> None:
    # The README's app, run as written but on a free port: it answers, and SIGTERM ends it
    # with exit status 0 and nothing on stderr.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = readme_example()
    assert ".listen(8888)" in source and "await server.shutdown(timeout=5)" in source
    source = source.replace(".listen(8888)", f".listen({port}, '127.0.0.1')")
    process = subprocess.Popen([sys.executable, "-c", source], stderr=subprocess.PIPE, text=True)
    try:
        began = time.monotonic()
        while True:  # poll until it listens
            try:
                client = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                break
            except ConnectionRefusedError:
                assert time.monotonic() - began < 20 and process.poll() is None
                time.sleep(0.05)
        with client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert client.makefile("rb").read().endswith(b"\r\n\r\nHello, world")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (process.returncode, err) == (0, "")
