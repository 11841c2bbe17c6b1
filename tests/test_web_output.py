"""RequestHandler output, compared byte for byte with Tornado 6.6.1.

Default headers, write/finish/flush, status and reason rules, header setters, Etag and 304,
HEAD, 204, streaming. Each test sends the same raw request to the same handler classes served
by minitornado and by Tornado, and compares the answers without Date and Server.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from support import Pair, get, is_closed, post, read_response, serve_pair

HELLO_ETAG = '"e02aa1b106d5c7c6a98def2b13005d5b84fd8dc8"'


def make_app(web: ModuleType) -> Any:
    RH: Any = web.RequestHandler

    class Hello(RH):
        def get(self) -> None:
            self.write("Hello, world")

        head = get
        post = get

    class Empty(RH):
        def get(self) -> None:
            pass

    class Json(RH):
        def get(self) -> None:
            self.write({"a": 1, "b": "é", "html": "</script>"})

    class WriteList(RH):
        def get(self) -> None:
            self.write([1, 2])  # type: ignore[arg-type]

    class Status(RH):
        def get(self, code: str) -> None:
            reason = self.get_argument("reason", None)
            self.set_status(int(code), reason)
            if self.get_argument("body", "x"):
                self.write(self.get_argument("body", "x"))

    class Headers(RH):
        def set_default_headers(self) -> None:
            self.set_header("X-Default", "d")

        def get(self) -> None:
            self.set_header("X-Set", "one")
            self.set_header("x-set", "two")  # replaces, whatever the case
            self.add_header("X-Multi", "a")
            self.add_header("X-Multi", "b")
            self.set_header("X-Int", 42)
            self.set_header("X-Bytes", "caf\u00e9".encode("latin-1"))
            self.set_header("X-Date", datetime.datetime(2020, 1, 2, 3, 4, 5))
            self.set_header("X-Gone", "soon")
            self.clear_header("X-Gone")
            self.set_header("Content-Type", "text/plain")
            self.write(f"status={self.get_status()}")

    class Clear(RH):
        def get(self) -> None:
            self.set_header("X-Before", "1")
            self.set_status(404)
            self.write("lost")
            self.clear()
            self.write("kept")

    class Injection(RH):
        def get(self) -> None:
            outcome = []
            for value in ("a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b"):
                try:
                    self.set_header("X-Test", value)
                    outcome.append("accepted")
                except ValueError:
                    outcome.append("ValueError")
            try:
                self.add_header("X-Test", "a\r\nb")
                outcome.append("accepted")
            except ValueError:
                outcome.append("ValueError")
            self.write(",".join(outcome))

    class NameInjection(RH):
        def get(self) -> None:
            setter = self.add_header if self.get_argument("via", "") == "add" else self.set_header
            try:
                setter("X-A\r\nX-Evil", "1")
            except ValueError:
                self.write(f"refused at {setter.__name__}")

    class NoContent(RH):
        def get(self) -> None:
            self.set_status(204)
            if self.get_argument("body", None):
                self.write("x")

    class EtagCustom(RH):
        def compute_etag(self) -> str | None:
            return None if self.get_argument("none", None) else '"custom"'

        def get(self) -> None:
            self.write("body")

    class EtagEarly(RH):
        def get(self) -> None:
            self.set_etag_header()
            if self.check_etag_header():
                self.set_status(304)
                return
            self.write("never hashed")

        def compute_etag(self) -> str | None:
            return '"v1"'

    class Stream(RH):
        async def get(self) -> None:
            for part in ("a", "b", "c"):
                self.write(part)
                await self.flush()

    class EmptyFlush(RH):
        async def get(self) -> None:
            await self.flush()
            self.write("after")
            await self.flush()

    class Twice(RH):
        def get(self) -> None:
            self.finish("once")
            outcome = []
            for attempt in (self.finish, lambda: self.write("x")):
                try:
                    attempt()
                except RuntimeError as e:
                    outcome.append(str(e))
            self.application.settings["twice"] = outcome

    return web.Application(
        [
            ("/", Hello),
            ("/empty", Empty),
            ("/json", Json),
            ("/list", WriteList),
            (r"/status/(\d+)", Status),
            ("/headers", Headers),
            ("/clear", Clear),
            ("/inject", Injection),
            ("/inject-name", NameInjection),
            ("/204", NoContent),
            ("/etag-custom", EtagCustom),
            ("/etag-early", EtagEarly),
            ("/stream", Stream),
            ("/empty-flush", EmptyFlush),
            ("/twice", Twice),
        ]
    )


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with serve_pair(make_app) as served:
        yield served


# ---- Defaults --------------------------------------------------------------------------------


async def test_hello_world_has_tornados_headers_in_tornados_order(pair: Pair) -> None:
    # GET / -> Server, Content-Type, Date, then Etag (sha1 of the body) and Content-Length.
    ours = await pair.same(get("/"))
    names = [name for name, _ in ours.headers]
    assert names == ["Server", "Content-Type", "Date", "Etag", "Content-Length"]
    assert ours.header("Etag") == HELLO_ETAG
    assert ours.header("Content-Type") == "text/html; charset=UTF-8"
    assert ours.body == b"Hello, world"


async def test_server_header_names_minitornado(pair: Pair) -> None:
    # Differs on purpose: Tornado says TornadoServer/6.6.1, we say minitornado/<version>.
    import minitornado

    ours, theirs = await pair.fetch(get("/"))
    assert ours.header("Server") == f"minitornado/{minitornado.version}"
    assert theirs.header("Server") == "TornadoServer/6.6.1"


async def test_date_header_is_an_http_date_of_now(pair: Pair) -> None:
    # The cached Date value is still the current second (give or take the test's own second).
    import email.utils
    import time

    ours = await pair.mini.fetch(get("/"))
    sent = email.utils.parsedate_to_datetime(ours.header("Date") or "").timestamp()
    assert abs(sent - time.time()) < 2


async def test_empty_handler_gets_the_etag_of_nothing(pair: Pair) -> None:
    # No write at all: 200, Content-Length 0, Etag of the empty string.
    ours = await pair.same(get("/empty"))
    assert ours.header("Etag") == '"da39a3ee5e6b4b0d3255bfef95601890afd80709"'
    assert ours.header("Content-Length") == "0"


async def test_post_gets_no_etag(pair: Pair) -> None:
    # Etags are only for 200 answers to GET and HEAD.
    ours = await pair.same(post("/", b""))
    assert ours.header("Etag") is None and ours.body == b"Hello, world"


async def test_keep_alive_connection_serves_a_second_request(pair: Pair) -> None:
    # HTTP/1.1 without Connection: close -> no Connection header, and the connection stays.
    for served in (pair.mini, pair.tornado):
        reader, writer = await served.connect()
        writer.write(get("/") + get("/empty"))
        first, second = await read_response(reader), await read_response(reader)
        assert (first.status, second.status) == (200, 200)
        assert first.header("Connection") is None
        assert not await is_closed(reader)


# ---- write ------------------------------------------------------------------------------------


async def test_write_dict_sends_json(pair: Pair) -> None:
    # A dict becomes ASCII JSON with "</" escaped, and the Content-Type says JSON.
    ours = await pair.same(get("/json"))
    assert ours.header("Content-Type") == "application/json; charset=UTF-8"
    assert ours.body == b'{"a": 1, "b": "\\u00e9", "html": "<\\/script>"}'


async def test_write_list_is_a_type_error_and_a_500(pair: Pair) -> None:
    # Lists are refused (JSON arrays can be read cross-site): a 500 page.
    ours = await pair.same(get("/list"))
    assert ours.status == 500


async def test_finish_twice_and_write_after_finish_raise(pair: Pair) -> None:
    # After finish(), finish() and write() raise RuntimeError with Tornado's messages.
    await pair.same(get("/twice"))
    assert pair.mini.app.settings["twice"] == pair.tornado.app.settings["twice"]
    assert pair.mini.app.settings["twice"] == [
        "finish() called twice",
        "Cannot write() after finish()",
    ]


# ---- Status and reason ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/status/599",
        "/status/700",
        "/status/42",
        "/status/418",
        "/status/201",
        "/status/299?reason=Weird%20OK",
        "/status/400?reason=bad%3Cscript",
        "/status/400?reason=caf%C3%A9",
        "/status/400?reason=tab%09ok",
        "/status/400?reason=",
        "/status/400?reason=%E2%9C%93",
    ],
)
async def test_set_status_reason_rules(pair: Pair, path: str) -> None:
    # Unknown codes read "Unknown", no range check; an unsafe or empty reason reads "Unknown";
    # a latin-1 reason goes out as UTF-8 bytes.
    ours = await pair.same(get(path))
    assert ours.status == int(path.split("/")[2].split("?")[0])


async def test_status_line_reason_examples(pair: Pair) -> None:
    # The exact status lines Tornado 6.6.1 sends for these reasons and codes.
    expected = {
        "/status/599": b"HTTP/1.1 599 Unknown\r\n",
        "/status/42": b"HTTP/1.1 42 Unknown\r\n",
        "/status/299?reason=Weird%20OK": b"HTTP/1.1 299 Weird OK\r\n",
        "/status/400?reason=bad%3Cscript": b"HTTP/1.1 400 Unknown\r\n",
        "/status/400?reason=caf%C3%A9": b"HTTP/1.1 400 caf\xc3\xa9\r\n",
    }
    for path, status_line in expected.items():
        ours = await pair.same(get(path))
        assert ours.raw.startswith(status_line)


# ---- Header setters ---------------------------------------------------------------------------


async def test_header_setters_convert_and_replace(pair: Pair) -> None:
    # set_header replaces (any case), add_header repeats, ints/bytes/datetimes are converted,
    # clear_header removes, set_default_headers runs first.
    ours = await pair.same(get("/headers"))
    assert ("X-Multi", "a") in ours.headers and ("X-Multi", "b") in ours.headers
    assert ours.header("X-Set") == "two"
    assert ours.header("X-Date") == "Thu, 02 Jan 2020 03:04:05 GMT"
    assert ours.header("X-Gone") is None and ours.header("X-Default") == "d"


async def test_clear_resets_status_headers_and_body(pair: Pair) -> None:
    # clear() brings back 200, the default headers, an empty body.
    ours = await pair.same(get("/clear"))
    assert ours.status == 200 and ours.body == b"kept" and ours.header("X-Before") is None


async def test_cr_lf_or_nul_in_a_header_value_raises_value_error(pair: Pair) -> None:
    # No response splitting: every unsafe value is refused at set_header/add_header.
    ours = await pair.same(get("/inject"))
    assert ours.body == b"ValueError,ValueError,ValueError,ValueError,ValueError"


@pytest.mark.parametrize("setter", ["set_header", "add_header"])
async def test_cr_lf_in_a_header_name_raises_at_the_call(pair: Pair, setter: str) -> None:
    # Differs on purpose: we refuse a CR/LF in a header *name* at set_header and add_header
    # (the handler can still answer); Tornado accepts it there and fails only when the
    # headers are written (observed: "Cannot send error response after headers written",
    # the client hangs).
    path = "/inject-name?via=add" if setter == "add_header" else "/inject-name"
    ours = await pair.mini.fetch(get(path))
    assert ours.status == 200 and ours.body == f"refused at {setter}".encode()
    reader, writer = await pair.tornado.connect()
    writer.write(get(path))
    try:
        theirs = await asyncio.wait_for(read_response(reader), 1.0)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return  # Tornado 6.6.1 fails in write_headers and leaves the client hanging
    assert theirs.body != f"refused at {setter}".encode()


# ---- 204, Etag and 304 ------------------------------------------------------------------------


async def test_204_has_no_body_headers(pair: Pair) -> None:
    # A 204 loses Content-Type and gets no Content-Length; writing a body is a 500.
    ours = await pair.same(get("/204"))
    assert ours.status == 204 and ours.header("Content-Type") is None
    ours = await pair.same(get("/204?body=1"))
    assert ours.status == 500


@pytest.mark.parametrize(
    "if_none_match",
    [
        HELLO_ETAG,
        "W/" + HELLO_ETAG,
        "*",
        '"abc", ' + HELLO_ETAG,
        '"abc"',
        '"abc", W/"def"',
        "garbage",
        "",
    ],
)
async def test_if_none_match_gives_304_when_it_matches(pair: Pair, if_none_match: str) -> None:
    # Strong, weak, "*" and list forms match; others get the full 200.
    ours = await pair.same(get("/", f"If-None-Match: {if_none_match}"))
    matches = HELLO_ETAG in if_none_match or if_none_match == "*"
    assert ours.status == (304 if matches else 200)
    if matches:
        assert ours.header("Content-Type") is None and ours.header("Content-Length") is None
        assert ours.header("Etag") == HELLO_ETAG


async def test_head_gets_the_same_304(pair: Pair) -> None:
    # HEAD on a handler defining head: the same Etag logic.
    ours = await pair.same(get("/", f"If-None-Match: {HELLO_ETAG}", method="HEAD"))
    assert ours.status == 304


async def test_post_ignores_if_none_match(pair: Pair) -> None:
    # No Etag logic for POST, even with "*".
    ours = await pair.same(post("/", b"", "If-None-Match: *"))
    assert ours.status == 200


async def test_compute_etag_override_and_none(pair: Pair) -> None:
    # A custom compute_etag is used; returning None means no Etag and no 304.
    ours = await pair.same(get("/etag-custom", 'If-None-Match: "custom"'))
    assert ours.status == 304
    ours = await pair.same(get("/etag-custom?none=1", "If-None-Match: *"))
    assert ours.status == 200 and ours.header("Etag") is None


async def test_early_etag_check_in_the_handler(pair: Pair) -> None:
    # set_etag_header + check_etag_header before writing, as Tornado's docs show.
    ours = await pair.same(get("/etag-early", 'If-None-Match: "v1"'))
    assert ours.status == 304
    ours = await pair.same(get("/etag-early", 'If-None-Match: "v0"'))
    assert ours.status == 200 and ours.header("Etag") == '"v1"'


# ---- HEAD --------------------------------------------------------------------------------------


async def test_head_keeps_content_length_and_drops_the_body(pair: Pair) -> None:
    # head = get: Content-Length of the discarded body, no body bytes.
    ours = await pair.same(get("/", method="HEAD"))
    assert ours.header("Content-Length") == "12"
    for served in (pair.mini, pair.tornado):
        reader, writer = await served.connect()
        writer.write(get("/", method="HEAD") + get("/empty"))
        await read_response(reader, "HEAD")
        assert (await read_response(reader)).status == 200  # no stray body in between


async def test_head_without_a_head_method_is_405(pair: Pair) -> None:
    # No automatic HEAD from GET.
    ours = await pair.same(get("/empty", method="HEAD"))
    assert ours.status == 405


# ---- Streaming output ---------------------------------------------------------------------------


async def test_flush_streams_chunks_to_http11(pair: Pair) -> None:
    # Three flushes: chunked, no Content-Length, no Etag, connection kept.
    ours = await pair.same(get("/stream"))
    assert ours.header("Transfer-Encoding") == "chunked" and ours.header("Etag") is None


async def test_flush_to_http10_is_close_delimited(pair: Pair) -> None:
    # HTTP/1.0: no chunking; the body ends when the server closes.
    ours = await pair.same(get("/stream", version="HTTP/1.0"))
    assert ours.body == b"abc" and ours.header("Transfer-Encoding") is None


async def test_empty_flush_sends_headers_only(pair: Pair) -> None:
    # A flush with nothing buffered sends the headers; no empty chunk ends the body early.
    ours = await pair.same(get("/empty-flush"))
    assert ours.body == b"5\r\nafter\r\n0\r\n\r\n"


async def test_http10_keep_alive_is_echoed(pair: Pair) -> None:
    # HTTP/1.0 with Connection: keep-alive -> Connection: Keep-Alive, connection kept.
    ours = await pair.same(get("/", "Connection: keep-alive", version="HTTP/1.0"))
    assert ours.header("Connection") == "Keep-Alive"
