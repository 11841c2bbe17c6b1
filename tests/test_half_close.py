"""Pipelined requests, then a half-close: every request sent before the FIN is answered.

A client may send several requests in one go and then ``shutdown(SHUT_WR)``: it has nothing
more to say, but still reads. Every request received complete before that FIN gets its
whole response, in order, and then the connection closes. Both libraries are run through
the same shapes; Tornado passed all of them when this file was written.

Each shape runs on 30 connections at once, each its own client, so that a race between the
FIN and the responses shows up as a lost or cut response on some of them.

The one request a FIN may still cost is the last one received, if its handler is still
running when the FIN arrives: with no request left behind it, a FIN means "the client left"
in Tornado (``on_connection_close`` runs, and the response is dropped), and minitornado
keeps that meaning (``test_a_fin_during_the_last_request_means_the_client_left``).
"""

from __future__ import annotations

import asyncio
import importlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import pytest

LIBS = ("minitornado", "tornado")
TIMEOUT = 10.0
CONNECTIONS = 30
STREAMED = 1024 * 1024  # the streamed response's size
PIECE = 64 * 1024


def make_app(web: ModuleType, events: list[str]) -> Any:
    class Hello(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.write("hello")

    class Slow(web.RequestHandler):  # type: ignore[name-defined,misc]
        async def get(self) -> None:
            await asyncio.sleep(float(self.get_argument("s", "0.3")))
            self.write("slow")

        def on_connection_close(self) -> None:
            events.append("on_connection_close")

    class Stream(web.RequestHandler):  # type: ignore[name-defined,misc]
        async def get(self) -> None:
            if self.get_argument("cl", None):  # framed by length: HTTP/1.0 can keep alive
                self.set_header("Content-Length", STREAMED)
            for i in range(STREAMED // PIECE):
                self.write(bytes([65 + i % 26]) * PIECE)
                await self.flush()

    return web.Application([("/", Hello), ("/slow", Slow), ("/stream", Stream)])


@asynccontextmanager
async def served(lib: str, events: list[str]) -> AsyncIterator[int]:
    web = importlib.import_module(f"{lib}.web")
    httpserver = importlib.import_module(f"{lib}.httpserver")
    netutil = importlib.import_module(f"{lib}.netutil")
    [sock] = netutil.bind_sockets(0, "127.0.0.1")
    server = httpserver.HTTPServer(make_app(web, events))
    server.add_sockets([sock])
    try:
        yield sock.getsockname()[1]
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), TIMEOUT)


async def send_then_half_close(port: int, raw: bytes) -> bytes:
    """Send ``raw`` in one write, shut down our sending side, read until the server closes."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        writer.write(raw)
        writer.write_eof()  # shutdown(SHUT_WR): the FIN follows the requests
        return await asyncio.wait_for(reader.read(-1), TIMEOUT)
    finally:
        writer.close()


def split_responses(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each complete response in ``data``; an incomplete tail is dropped."""
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(b":") for x in lines[1:])
        }
        if headers.get(b"transfer-encoding") == b"chunked":
            body = b""
            while True:
                size_line, sep, rest = rest.partition(b"\r\n")
                if not sep:
                    return responses
                size = int(size_line, 16)
                if len(rest) < size + 2:
                    return responses
                body += rest[:size]
                rest = rest[size + 2 :]
                if size == 0:
                    break
        else:
            length = int(headers.get(b"content-length", b"0"))
            if len(rest) < length:
                break
            body, rest = rest[:length], rest[length:]
        responses.append((status, body))
        data = rest
    return responses


def get(path: str, version: str = "HTTP/1.1", keep_alive: bool = False) -> bytes:
    extra = "Connection: keep-alive\r\n" if keep_alive else ""
    return f"GET {path} {version}\r\nHost: x\r\n{extra}\r\n".encode()


STREAMED_BODY = b"".join(bytes([65 + i % 26]) * PIECE for i in range(STREAMED // PIECE))

# name: (the bytes sent before the FIN, the (status, body) pairs expected, in order)
SHAPES: dict[str, tuple[bytes, list[tuple[int, bytes]]]] = {
    "slow then hello": (get("/slow") + get("/"), [(200, b"slow"), (200, b"hello")]),
    "instant slow then hello": (get("/slow?s=0") + get("/"), [(200, b"slow"), (200, b"hello")]),
    "slow then ten hellos": (
        get("/slow") + get("/") * 10,
        [(200, b"slow")] + [(200, b"hello")] * 10,
    ),
    "1 MB streamed then hello": (
        get("/stream") + get("/"),
        [(200, STREAMED_BODY), (200, b"hello")],
    ),
    "three hellos": (get("/") * 3, [(200, b"hello")] * 3),
    "HTTP/1.0 keep-alive, slow then hello": (
        get("/slow", "HTTP/1.0", keep_alive=True) + get("/", "HTTP/1.0", keep_alive=True),
        [(200, b"slow"), (200, b"hello")],
    ),
    "HTTP/1.0 keep-alive, streamed then hello": (
        get("/stream?cl=1", "HTTP/1.0", keep_alive=True) + get("/", "HTTP/1.0", keep_alive=True),
        [(200, STREAMED_BODY), (200, b"hello")],
    ),
}


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_every_request_sent_before_the_fin_is_answered_in_order(lib: str, shape: str) -> None:
    # Scenario: 30 clients at once each send the shape's requests in one write, then FIN,
    # and read until the server closes. Each must get every response, whole and in order.
    raw, expected = SHAPES[shape]
    events: list[str] = []
    async with served(lib, events) as port:
        answers = await asyncio.gather(
            *(send_then_half_close(port, raw) for _ in range(CONNECTIONS))
        )
    got = [split_responses(data) for data in answers]
    short = [i for i, responses in enumerate(got) if responses != expected]
    assert not short, (
        f"{len(short)} of {CONNECTIONS} connections did not get all {len(expected)} responses; "
        f"the first got {[(s, len(b)) for s, b in got[short[0]]]}"
    )
    assert events == []  # nobody was told the client left


@pytest.mark.parametrize("lib", LIBS)
async def test_a_fin_during_the_last_request_means_the_client_left(lib: str) -> None:
    # Scenario: "GET /" then "GET /slow", then FIN. The first is answered; the FIN arrives
    # while the last request received is still being handled, with nothing behind it: as in
    # Tornado, the client has left, on_connection_close runs and that response is dropped.
    events: list[str] = []
    async with served(lib, events) as port:
        answers = await asyncio.gather(
            *(send_then_half_close(port, get("/") + get("/slow")) for _ in range(CONNECTIONS))
        )
        for _ in range(100):  # the handlers' on_connection_close run on the server's turns
            if len(events) == CONNECTIONS:
                break
            await asyncio.sleep(0.02)
    assert [split_responses(data) for data in answers] == [[(200, b"hello")]] * CONNECTIONS
    assert events == ["on_connection_close"] * CONNECTIONS


@pytest.mark.parametrize("lib", LIBS)
async def test_a_half_close_with_nothing_sent_closes_quietly(lib: str) -> None:
    # Scenario: connect, FIN at once. The server closes its side too, with no response.
    events: list[str] = []
    async with served(lib, events) as port:
        data = await send_then_half_close(port, b"")
    assert data == b""


def _raw_half_close(port: int, raw: bytes) -> bytes:
    # The same with a plain blocking socket, as the reproduction did.
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("lib", LIBS)
async def test_the_reported_reproduction_gets_both_responses(lib: str) -> None:
    # Scenario: the exact reproduction, from a thread with a blocking socket, 30 times
    # in a row: GET /slow and GET / in one send, then shutdown(SHUT_WR).
    events: list[str] = []
    raw = get("/slow?s=0.05") + get("/")
    run: Callable[[], bytes] = lambda: _raw_half_close(port, raw)  # noqa: E731
    async with served(lib, events) as port:
        for _ in range(CONNECTIONS):
            data = await asyncio.wait_for(asyncio.to_thread(run), TIMEOUT)
            assert split_responses(data) == [(200, b"slow"), (200, b"hello")]
