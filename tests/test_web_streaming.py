"""Async handlers, streaming uploads (@stream_request_body), streaming downloads, and the
client leaving early, compared with Tornado 6.6.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from support import TIMEOUT, Pair, get, post, read_response, serve_pair


def make_app(web: ModuleType) -> Any:
    RH: Any = web.RequestHandler
    events: list[str] = []
    closed = asyncio.Event()

    @web.stream_request_body
    class Upload(RH):
        async def prepare(self) -> None:
            self.received = b""
            self.data_before_prepare = False
            if self.get_argument("limit", None):
                self.request.connection.set_max_body_size(int(self.get_argument("limit")))
            await asyncio.sleep(0)

        async def data_received(self, chunk: bytes) -> None:
            await asyncio.sleep(0)  # the next piece waits for this one
            self.received += chunk

        def post(self) -> None:
            self.write(
                {
                    "received": self.received.decode(),
                    "request_body": self.request.body.decode(),
                    "body_arguments": list(self.request.body_arguments),
                }
            )

        put = post

        def on_connection_close(self) -> None:
            events.append(f"upload closed after {len(self.received)}")
            super().on_connection_close()
            closed.set()

    @web.stream_request_body
    class RejectEarly(RH):
        def prepare(self) -> None:
            raise web.HTTPError(403)

        def data_received(self, chunk: bytes) -> None:
            events.append("data after rejection")

    class AsyncGet(RH):
        async def get(self) -> None:
            await asyncio.sleep(0.01)
            self.write("slept")

    class AsyncPrepareFinishes(RH):
        async def prepare(self) -> None:
            await asyncio.sleep(0)
            self.finish("from prepare")

        def get(self) -> None:
            events.append("get ran after prepare finished")

    class BigStream(RH):
        async def get(self) -> None:
            for i in range(20):
                self.write(bytes([65 + i]) * 5000)
                await self.flush()

    class Hang(RH):
        async def get(self) -> None:
            events.append("hang started")
            await asyncio.wait_for(closed.wait(), TIMEOUT)  # until the client leaves

        def on_connection_close(self) -> None:
            events.append("hang closed")
            closed.set()

    class AwaitFinish(RH):
        async def get(self) -> None:
            await self.finish("awaited")
            events.append("finish resolved")

    app = web.Application(
        [
            ("/upload", Upload),
            ("/reject", RejectEarly),
            ("/async", AsyncGet),
            ("/prepare-finishes", AsyncPrepareFinishes),
            ("/big", BigStream),
            ("/hang", Hang),
            ("/await-finish", AwaitFinish),
        ]
    )
    app.events = events
    app.closed = closed
    return app


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with serve_pair(make_app) as served:
        yield served


# ---- Async handlers -----------------------------------------------------------------------------


async def test_async_get(pair: Pair) -> None:
    # An async def get that awaits before writing.
    ours = await pair.same(get("/async"))
    assert ours.body == b"slept"


async def test_async_prepare_that_finishes_skips_the_method(pair: Pair) -> None:
    # An async prepare that calls finish(): get() never runs.
    ours = await pair.same(get("/prepare-finishes"))
    assert ours.body == b"from prepare"
    assert pair.mini.app.events == pair.tornado.app.events == []


async def test_awaiting_finish_resolves_once_written(pair: Pair) -> None:
    # await self.finish(...) resolves once the response is written; the handler goes on.
    ours = await pair.same(get("/await-finish"))
    assert ours.body == b"awaited"
    await asyncio.sleep(0.05)
    assert pair.mini.app.events == pair.tornado.app.events == ["finish resolved"]


async def test_big_streamed_response_is_chunked(pair: Pair) -> None:
    # 20 flushes of 5000 bytes: 20 chunks of 0x1388 bytes, then the last chunk.
    ours = await pair.same(get("/big"))
    assert ours.body.count(b"1388\r\n") == 20 and ours.body.endswith(b"0\r\n\r\n")


# ---- Streaming uploads --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 5, 70_000, 300_000])
async def test_stream_request_body_gets_every_byte(pair: Pair, size: int) -> None:
    # Content-Length bodies of several sizes: data_received sees them all, request.body
    # stays empty and no body arguments are parsed.
    body = (b"k=v&" * (size // 4 + 1))[:size]
    raw = post("/upload", body, "Content-Type: application/x-www-form-urlencoded")
    ours = await pair.same(raw)
    seen = json.loads(ours.body)
    assert seen == {"received": body.decode(), "request_body": "", "body_arguments": []}


async def test_stream_request_body_chunked(pair: Pair) -> None:
    # A chunked upload reaches data_received in order.
    raw = get("/upload", "Transfer-Encoding: chunked", method="PUT")
    raw += b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    ours = await pair.same(raw)
    assert json.loads(ours.body)["received"] == "abcdefg"


async def test_prepare_can_raise_the_body_limit_for_a_streamed_upload() -> None:
    # max_body_size=100 on the server; prepare() raises it for this request: 500 bytes pass.
    async with serve_pair(make_app, max_body_size=100) as pair:
        ours = await pair.same(post("/upload?limit=1000", b"x" * 500))
        assert json.loads(ours.body)["received"] == "x" * 500


async def test_rejecting_in_prepare_answers_before_the_body(pair: Pair) -> None:
    # prepare raises 403: the answer comes without the body being handed to data_received.
    for served in (pair.mini, pair.tornado):
        reader, writer = await served.connect()
        writer.write(get("/reject", "Content-Length: 10", method="POST"))  # body never sent
        response = await read_response(reader)
        assert response.status == 403
        assert served.app.events == []


async def test_client_leaving_mid_upload_calls_on_connection_close(pair: Pair) -> None:
    # Half the declared body, then the client closes: on_connection_close runs, post never.
    for served in (pair.mini, pair.tornado):
        _reader, writer = await served.connect()
        writer.write(get("/upload", "Content-Length: 100", method="POST") + b"y" * 50)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await asyncio.wait_for(served.app.closed.wait(), TIMEOUT)
    assert pair.mini.app.events == pair.tornado.app.events
    assert pair.mini.app.events == ["upload closed after 50"]


async def test_client_leaving_an_async_handler_calls_on_connection_close(pair: Pair) -> None:
    # A handler awaiting something long; the client closes: on_connection_close runs.
    for served in (pair.mini, pair.tornado):
        _reader, writer = await served.connect()
        writer.write(get("/hang"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await asyncio.wait_for(served.app.closed.wait(), TIMEOUT)
    assert pair.mini.app.events == pair.tornado.app.events == ["hang started", "hang closed"]
