"""The fixtures every test module may ask for; the harness itself is in tests/support.py.

``impl``     the implementation under test: ``"minitornado"`` or ``"tornado"`` (an ``Impl``,
             which also hands out the package's modules). A test that asks for it runs on
             both; a module may instead parametrise ``impl`` itself.
``serve``    ``serve(impl, app, **server_kwargs) -> port``: ``app`` served by ``impl``'s
             HTTPServer on 127.0.0.1; every server is shut down after the test.
``clients``  ``await clients(port) -> Client``: a raw connection, closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from support import IMPLS, Client, Impl, Served


@pytest.fixture(params=IMPLS, ids=str)
def impl(request: pytest.FixtureRequest) -> Impl:
    """The implementation under test: the test runs once on each."""
    result: Impl = request.param
    return result


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., int]]:
    """``serve(impl, app, **server_kwargs) -> port``; every server is shut down afterwards."""
    started: list[Served] = []

    def start(impl: Impl, app: Any, **server_kwargs: Any) -> int:
        started.append(Served.start(impl, app, **server_kwargs))
        return started[-1].port

    yield start
    for served in started:
        await served.close()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[int], Awaitable[Client]]]:
    """``await clients(port)`` -> a connected ``Client``, closed after the test."""
    opened: list[Client] = []

    async def connect(port: int) -> Client:
        opened.append(await Client.connect(port))
        return opened[-1]

    yield connect
    for client in opened:
        client.close()
