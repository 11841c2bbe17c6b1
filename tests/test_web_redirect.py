"""Redirects: RequestHandler.redirect, RedirectHandler, removeslash and addslash, compared
with Tornado 6.6.1 byte for byte (but Date/Server). There is no automatic trailing-slash
redirect in either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from support import Pair, get, post, serve_pair


def make_app(web: ModuleType) -> Any:
    RH: Any = web.RequestHandler

    class Redirect(RH):
        def get(self) -> None:
            status = self.get_argument("status", None)
            self.redirect(
                self.get_argument("to", "/target"),
                permanent=bool(self.get_argument("permanent", "")),
                status=int(status) if status else None,
            )

    class RedirectAfterFlush(RH):
        async def get(self) -> None:
            self.write("x")
            await self.flush()
            try:
                self.redirect("/late")
            except Exception as e:
                self.write(str(e))

    class Slash(RH):
        @web.removeslash
        def get(self) -> None:
            self.write("no slash: " + self.request.path)

        @web.removeslash
        def post(self) -> None:
            self.write("posted")

    class AddSlash(RH):
        @web.addslash
        def get(self) -> None:
            self.write("slash: " + self.request.path)

        @web.addslash
        def post(self) -> None:
            self.write("posted")

    class Plain(RH):
        def get(self) -> None:
            self.write("plain")

    return web.Application(
        [
            ("/redirect", Redirect),
            ("/redirect-after-flush", RedirectAfterFlush),
            (r"/remove/*", Slash),
            (r"/add/?", AddSlash),
            (r"/(/.*)", Slash),
            ("/slash/", Plain),
            ("/noslash", Plain),
            ("/old", web.RedirectHandler, {"url": "/new"}),
            ("/temp", web.RedirectHandler, {"url": "/new", "permanent": False}),
            (r"/swap/(.*?)/(.*?)/(.*)", web.RedirectHandler, {"url": "/{1}/{0}/{2}"}),
            (r"/named/(?P<id>\d+)", web.RedirectHandler, {"url": "/item/{id}"}),
            (r"/host/(.*)", web.RedirectHandler, {"url": "/{0}/b"}),
            (r"/abs/(.*)", web.RedirectHandler, {"url": "https://example.com/{0}"}),
        ]
    )


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with serve_pair(make_app) as served:
        yield served


@pytest.mark.parametrize(
    ("query", "status", "location"),
    [
        ("", 302, "/target"),
        ("?permanent=1", 301, "/target"),
        ("?status=303", 303, "/target"),
        ("?status=307&permanent=1", 307, "/target"),
        ("?to=http%3A%2F%2Fexample.com%2Fx%3Fa%3D1", 302, "http://example.com/x?a=1"),
        ("?to=%2Fcaf%C3%A9", 302, "/caf\xc3\xa9"),
    ],
)
async def test_redirect(pair: Pair, query: str, status: int, location: str) -> None:
    # 302 by default, 301 permanent, status= wins; Location as given, UTF-8 on the wire;
    # Content-Type stays text/html, Content-Length 0, no Etag.
    ours = await pair.same(get("/redirect" + query))
    assert ours.status == status and ours.header("Location") == location
    assert ours.header("Content-Length") == "0" and ours.header("Etag") is None


async def test_redirect_status_out_of_range_is_a_500(pair: Pair) -> None:
    # status must be 3xx: an assertion, so the 500 page.
    ours = await pair.same(get("/redirect?status=200"))
    assert ours.status == 500


async def test_redirect_with_a_newline_is_refused(pair: Pair) -> None:
    # A CR/LF in the URL cannot reach the Location line: 500 instead.
    ours = await pair.same(get("/redirect?to=%2Fa%0D%0ASet-Cookie%3A%20x%3D1"))
    assert ours.status == 500 and ours.header("Set-Cookie") is None


async def test_redirect_after_flush_raises(pair: Pair) -> None:
    # Once headers are out, redirect() raises; the handler goes on streaming.
    ours = await pair.same(get("/redirect-after-flush"))
    assert b"Cannot redirect after headers have been written" in ours.body


async def test_no_automatic_trailing_slash_redirect(pair: Pair) -> None:
    # Route /slash/: GET /slash -> 404. Route /noslash: GET /noslash/ -> 404.
    assert (await pair.same(get("/slash"))).status == 404
    assert (await pair.same(get("/noslash/"))).status == 404


@pytest.mark.parametrize(
    ("raw", "status", "location"),
    [
        (get("/remove/"), 301, "/remove"),
        (get("/remove///?a=1"), 301, "/remove?a=1"),
        (get("/remove"), 200, None),
        (get("/remove/", method="HEAD"), 405, None),
        (post("/remove/", b""), 404, None),
        (post("/remove", b""), 200, None),
        (get("//evil.example//"), 403, None),
        (get("/add"), 301, "/add/"),
        (get("/add?a=1"), 301, "/add/?a=1"),
        (get("/add/"), 200, None),
        (post("/add", b""), 404, None),
    ],
)
async def test_removeslash_and_addslash(
    pair: Pair, raw: bytes, status: int, location: str | None
) -> None:
    # The decorators redirect GET/HEAD (301, query kept), 404 other methods, and refuse (403)
    # to redirect to a path a browser would read as another host.
    ours = await pair.same(raw)
    assert ours.status == status and ours.header("Location") == location


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("/old", 301, "/new"),
        ("/old?a=1&b=%C3%A9", 301, "/new?a=1&b=%C3%A9"),
        ("/temp", 302, "/new"),
        ("/swap/a/b/c", 301, "/b/a/c"),
        ("/named/7", 301, "/item/7"),
        ("/host/x", 301, "/x/b"),
        ("/host/", 400, None),
        ("/host/%2Fevil.example", 400, None),
        ("/abs/path", 301, "https://example.com/path"),
        ("/abs/@evil.example", 301, "https://example.com/@evil.example"),
    ],
)
async def test_redirect_handler(pair: Pair, path: str, status: int, location: str | None) -> None:
    # Substitutions from the path groups, query arguments appended, and a 400 when a
    # substitution would change the scheme or host.
    ours = await pair.same(get(path))
    assert ours.status == status and ours.header("Location") == location


async def test_redirect_handler_only_answers_get(pair: Pair) -> None:
    # RedirectHandler defines get only: a POST is a 405.
    ours = await pair.same(post("/old", b""))
    assert ours.status == 405
