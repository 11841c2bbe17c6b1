"""Clients that leave at the worst moment: mid-headers, mid-body, mid-handler, mid-stream.

A server must take each in its stride: the handler hears about it (``on_connection_close``),
nothing is logged at ERROR (a client hanging up is not the server's error), the connection
is dropped from the server's books, and the next client is served as if nothing happened.

Every test runs on minitornado and on Tornado with the same application. Two behaviours
differ on purpose, both in the last test: when a handler streaming a large response finds its
client gone (its ``await self.flush()`` raises ``StreamClosedError``), minitornado has run
``on_connection_close`` first (``HTTP1Connection.write_headers``) and logs nothing at ERROR
(``RequestHandler._handle_request_exception``); Tornado logs the failure at ERROR, twice,
and depending on timing may never call ``on_connection_close`` there.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from support import TIMEOUT, Impl, Served

BIG_CHUNK = b"x" * 65536


def make_disconnect_app(web: ModuleType) -> Any:
    """Handlers that record their lifecycle in the ``events`` setting (a list of strings)."""

    class Recording(web.RequestHandler):  # type: ignore[name-defined,misc]
        def record(self, what: str) -> None:
            self.settings["events"].append(f"{type(self).__name__} {what}")

        def on_connection_close(self) -> None:
            super().on_connection_close()
            self.record("on_connection_close")

        def on_finish(self) -> None:
            self.record("on_finish")

    class Hello(Recording):
        def get(self) -> None:
            self.write("Hello, world")

        def post(self) -> None:
            self.write(f"{len(self.request.body)} bytes")

    @web.stream_request_body
    class Upload(Recording):
        def data_received(self, chunk: bytes) -> None:
            self.record(f"data {len(chunk)}")

        def put(self) -> None:
            self.record("put")  # never reached: the body never completes
            self.write("stored")

    class Slow(Recording):
        async def get(self) -> None:
            self.record("started")
            await asyncio.sleep(0.5)  # the client leaves meanwhile
            self.write("too late")
            self.record("answered")

    class Big(Recording):
        async def get(self) -> None:
            # 64 MiB, far more than socket buffers hold: the client leaves after a few KiB.
            for sent in range(1024):
                self.write(BIG_CHUNK)
                try:
                    await self.flush()
                except Exception as e:
                    self.record(f"flush failed after {sent} chunks: {type(e).__name__}")
                    raise
            self.record("sent everything")

    return web.Application(
        [("/", Hello), ("/upload", Upload), ("/slow", Slow), ("/big", Big)], events=[]
    )


@pytest.fixture
async def served(impl: Impl) -> AsyncIterator[Served]:
    one = Served.start(impl, make_disconnect_app(impl.web))
    yield one
    await one.close()


async def wait_for_event(served: Served, expected: str) -> None:
    """Wait (bounded) until the app has recorded ``expected``."""
    for _ in range(int(TIMEOUT / 0.01)):
        if expected in served.app.settings["events"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{expected!r} never came: {served.app.settings['events']}")


async def leave(served: Served, data: bytes, *, reset: bool = False) -> None:
    """Connect, send ``data``, and hang up (with a RST if ``reset``)."""
    _, writer = await served.connect()
    writer.write(data)
    await asyncio.wait_for(writer.drain(), TIMEOUT)
    await asyncio.sleep(0.05)  # let the server read it first
    if reset:
        # SO_LINGER with a zero timeout: close() sends a RST instead of a FIN.
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def server_forgets_the_connection(served: Served) -> None:
    """The server's set of open connections empties (bounded wait)."""
    for _ in range(int(TIMEOUT / 0.01)):
        if not served.server._connections:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(served.server._connections)} connections left open")


async def still_serves(served: Served) -> None:
    response = await served.fetch(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (response.status, response.body) == (200, b"Hello, world")


def errors(caplog: pytest.LogCaptureFixture, impl: str) -> list[str]:
    return [
        r.getMessage().splitlines()[0]
        for r in caplog.records
        if r.name.startswith(impl + ".") and r.levelno >= logging.ERROR
    ]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_client_leaving_mid_headers_is_forgotten_quietly(served, caplog, reset):
    # Half a header block, then the client hangs up (FIN or RST): no handler was made, so
    # only the server notices; it logs nothing at ERROR, drops the connection, serves on.
    caplog.set_level(logging.INFO)
    await leave(served, b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: a", reset=reset)
    await server_forgets_the_connection(served)
    assert served.app.settings["events"] == []
    assert errors(caplog, served.impl) == []
    await still_serves(served)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_client_leaving_mid_body_closes_the_streaming_handler(served, caplog, reset):
    # A streamed upload: 3 of its 100,000 bytes arrive, then the client hangs up. The handler
    # got the bytes and hears on_connection_close; its put() never runs; nothing at ERROR.
    caplog.set_level(logging.INFO)
    await leave(
        served,
        b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc",
        reset=reset,
    )
    await wait_for_event(served, "Upload on_connection_close")
    await server_forgets_the_connection(served)
    assert served.app.settings["events"] == ["Upload data 3", "Upload on_connection_close"]
    assert errors(caplog, served.impl) == []
    await still_serves(served)


async def test_client_leaving_mid_body_of_a_buffered_request_is_forgotten(served, caplog):
    # A plain POST whose body never completes: the handler is only made once the body is
    # in, so none is; the connection is dropped without an ERROR and the server serves on.
    caplog.set_level(logging.INFO)
    await leave(served, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
    await server_forgets_the_connection(served)
    assert served.app.settings["events"] == []
    assert errors(caplog, served.impl) == []
    await still_serves(served)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_client_leaving_during_an_async_handler_runs_on_connection_close(
    served, caplog, reset
):
    # The handler awaits for 0.5 s; the client leaves at once. on_connection_close runs
    # while it waits; when it then writes and finishes into the void, nothing is logged at
    # ERROR, and the server serves on.
    caplog.set_level(logging.INFO)
    await leave(served, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", reset=reset)
    await wait_for_event(served, "Slow on_connection_close")
    await wait_for_event(served, "Slow on_finish")
    assert served.app.settings["events"] == [
        "Slow started",
        "Slow on_connection_close",
        "Slow answered",
        "Slow on_finish",
    ]
    await server_forgets_the_connection(served)
    assert errors(caplog, served.impl) == []
    await still_serves(served)


async def test_client_leaving_a_large_streamed_response_stops_the_handler(served, caplog):
    # /big streams 64 MiB in 64 KiB flushes; the client reads the head and some body, then
    # hangs up with a RST. The handler's next flush fails (StreamClosedError), so it stops
    # long before the end, and the server serves on. minitornado always runs
    # on_connection_close before that failing flush and logs nothing at ERROR. Tornado
    # logs the failure at ERROR twice, and when the failing flush comes before the loop has
    # run the close callback, never calls on_connection_close (finishing the failed handler
    # cancels the pending call).
    caplog.set_level(logging.INFO)
    reader, writer = await served.connect()
    writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    received = await asyncio.wait_for(reader.readexactly(200_000), TIMEOUT)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    await wait_for_event(served, "Big on_finish")
    events = served.app.settings["events"]
    failed = [e for e in events if e.startswith("Big flush failed after ")]
    assert len(failed) == 1 and failed[0].endswith(" chunks: StreamClosedError")
    chunks_sent = int(failed[0].split()[4])
    assert chunks_sent < 512  # it stopped early, not after sending everything
    await server_forgets_the_connection(served)
    if served.impl == "tornado":
        # Whether the close callback or the failing flush comes first depends on timing.
        assert events in (
            [failed[0], "Big on_finish"],
            ["Big on_connection_close", failed[0], "Big on_finish"],
        )
        assert errors(caplog, "tornado") == [
            "Uncaught exception GET /big (127.0.0.1)",
            "Cannot send error response after headers written",
        ]
    else:
        assert events == ["Big on_connection_close", failed[0], "Big on_finish"]
        assert errors(caplog, "minitornado") == []
    await still_serves(served)
    print(
        f"disconnect mid-stream ({served.impl}): handler stopped after {chunks_sent} of 1024 "
        f"chunks of 64 KiB; ERROR lines: {len(errors(caplog, served.impl))}"
    )
