"""Tests of the web harness in tests/support.py: what ``Pair`` and ``read_response`` return.

The web tests serve one app on both implementations (``serve_pair``), send both the same raw
bytes and compare the answers byte for byte after dropping the ``Date`` and ``Server``
header lines; a chunked body keeps its framing, since the chunk sizes are compared too.
These tests pin that behaviour of the harness on a hello-world app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any

import pytest
from support import Client, Impl, Pair, get, serve_pair


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


async def test_client_decodes_the_chunks_that_the_pair_keeps(
    impl: Impl, serve: Callable[..., int], clients: Callable[[int], Awaitable[Client]]
) -> None:
    # The same streamed response read by the raw Client (through the conftest fixtures):
    # its body is the payload, while its raw bytes still end with the last chunk.
    client = await clients(serve(impl, make_hello_app(impl.web)))
    await client.send(get("/stream"))
    response = await client.read_response()
    assert (response.code, response.body) == (200, b"abc")
    assert response.raw.endswith(b"1\r\nc\r\n0\r\n\r\n")
    assert await client.is_open()
