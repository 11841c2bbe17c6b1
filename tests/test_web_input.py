"""RequestHandler input: arguments (query, body, path) and cookies, compared with Tornado
6.6.1 by echoing what each handler read, as JSON, for the same raw requests.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from support import Pair, get, log_lines, post, serve_pair


def make_app(web: ModuleType) -> Any:
    RH: Any = web.RequestHandler

    class Args(RH):
        def get(self) -> None:
            self.write(
                {
                    "q": self.get_argument("q", None),
                    "qs": self.get_arguments("q"),
                    "raw": self.get_arguments("q", strip=False),
                    "default": self.get_argument("absent", "dflt"),
                    "query": self.get_query_arguments("q"),
                    "body": self.get_body_arguments("q"),
                    "query_one": self.get_query_argument("q", None),
                    "body_one": self.get_body_argument("q", None),
                }
            )

        post = get

    class RequiredBody(RH):
        def post(self) -> None:
            self.write(self.get_body_argument("needed"))

    class Positional(RH):
        def get(self, name: str, number: str) -> None:
            self.write({"args": [name, number], "path_args": self.path_args})

    class Named(RH):
        def get(self, **kwargs: str) -> None:
            self.write({"kwargs": kwargs, "path_kwargs": self.path_kwargs})

    class Optional(RH):
        def get(self, part: str | None) -> None:
            self.write({"part": part})

    class Latin1(RH):
        def decode_argument(self, value: bytes, name: str | None = None) -> str:
            return value.decode("latin-1")

        def get(self, word: str) -> None:
            self.write({"word": word, "q": self.get_argument("q", None)})

    class RawBytes(RH):
        def decode_argument(self, value: bytes, name: str | None = None) -> Any:
            return value  # undecoded: the handler decodes it itself

        def get(self, group: bytes) -> None:
            values = [group, self.get_argument("q"), *self.get_arguments("q", strip=False)]
            self.write({"reprs": [repr(v) for v in values]})

    class Request(RH):
        def get(self) -> None:
            r = self.request
            self.write(
                {
                    "method": r.method,
                    "uri": r.uri,
                    "path": r.path,
                    "query": r.query,
                    "version": r.version,
                    "host": r.host,
                    "host_name": r.host_name,
                    "remote_ip": r.remote_ip,
                    "protocol": r.protocol,
                    "body": r.body.decode("latin-1"),
                }
            )

        post = get

    class Cookies(RH):
        def get(self) -> None:
            self.write(
                {
                    "c": self.get_cookie("c"),
                    "missing": self.get_cookie("missing", "dflt"),
                    "names": sorted(self.cookies),
                }
            )

    class SetCookies(RH):
        def get(self) -> None:
            self.set_cookie("a", "b")
            self.set_cookie("full", "v", domain="example.com", path="/p", max_age=60,
                            httponly=True, secure=True, samesite="Lax",
                            expires=1700000000)  # fmt: skip
            self.set_cookie("replaced", "first", path="/one")
            self.set_cookie("replaced", "second")
            self.set_cookie("bytes", b"bin")
            self.set_cookie("quoted", 'a"b,c')
            self.set_cookie("days", "d", expires_days=1)
            self.clear_cookie("gone")
            self.clear_cookie("gone2", path="/x", domain="d.example")
            refused = []
            for name, value in (("bad", "a b"), ("bad;name", "v")):
                try:
                    self.set_cookie(name, value)
                except (ValueError, Exception) as e:
                    refused.append(type(e).__name__)
            self.write(",".join(refused))

    class ClearAllCookies(RH):
        def get(self) -> None:
            if self.get_argument("scoped", None):
                self.clear_all_cookies(path="/p", domain="d.example")
            else:
                self.clear_all_cookies()

    class CookieOnError(RH):
        def get(self) -> None:
            self.set_cookie("kept", "1")
            raise web.HTTPError(403)

    return web.Application(
        [
            ("/args", Args),
            ("/required-body", RequiredBody),
            (r"/pos/([^/]+)/(\d+)", Positional),
            (r"/named/(?P<name>[^/]+)/(?P<number>\d+)", Named),
            (r"/opt/?(\w+)?", Optional),
            (r"/latin1/(.*)", Latin1),
            (r"/raw-bytes/(.*)", RawBytes),
            ("/request", Request),
            ("/cookies", Cookies),
            ("/set-cookies", SetCookies),
            ("/clear-all-cookies", ClearAllCookies),
            ("/cookie-on-error", CookieOnError),
        ]
    )


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with serve_pair(make_app) as served:
        yield served


async def echo(pair: Pair, raw: bytes) -> Any:
    import json

    ours = await pair.same(raw)
    assert ours.status == 200, ours.raw
    return json.loads(ours.body)


# ---- Query and body arguments -----------------------------------------------------------------


async def test_query_arguments_decode_and_last_value_wins(pair: Pair) -> None:
    # ?q=caf%C3%A9+x&q=%E2%9C%93 -> ["café x", "✓"]; get_argument gives the last.
    seen = await echo(pair, get("/args?q=caf%C3%A9+x&q=%E2%9C%93"))
    assert seen["qs"] == ["café x", "✓"] and seen["q"] == "✓"
    assert seen["default"] == "dflt" and seen["body"] == []


async def test_control_characters_become_spaces_and_values_are_stripped(pair: Pair) -> None:
    # ?q=a%01b%20 -> "a b" (stripped), "a b " unstripped.
    seen = await echo(pair, get("/args?q=a%01b%20"))
    assert seen["q"] == "a b" and seen["raw"] == ["a b "]


async def test_invalid_utf8_argument_is_a_400(pair: Pair) -> None:
    # ?q=%FF cannot be decoded: 400 page.
    ours = await pair.same(get("/args?q=%FF"))
    assert ours.status == 400


async def test_form_body_arguments_follow_query_arguments(pair: Pair) -> None:
    # A urlencoded POST with query q=fromquery and body q=é&q=2.
    raw = post(
        "/args?q=fromquery",
        b"q=%C3%A9&q=2",
        "Content-Type: application/x-www-form-urlencoded",
    )
    seen = await echo(pair, raw)
    assert seen["qs"] == ["fromquery", "é", "2"] and seen["q"] == "2"
    assert seen["body"] == ["é", "2"] and seen["query"] == ["fromquery"]
    assert seen["body_one"] == "2" and seen["query_one"] == "fromquery"


async def test_missing_body_argument_is_a_400(pair: Pair) -> None:
    # get_body_argument without default, absent from the body: 400 even if in the query.
    raw = post("/required-body?needed=1", b"", "Content-Type: application/x-www-form-urlencoded")
    ours = await pair.same(raw)
    assert ours.status == 400


async def test_chunked_request_body_is_read(pair: Pair) -> None:
    # A chunked upload reaches request.body whole.
    raw = get("/request", "Transfer-Encoding: chunked", method="POST")
    raw += b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    seen = await echo(pair, raw)
    assert seen["body"] == "hello world"


async def test_request_attributes(pair: Pair) -> None:
    # What the handler sees of the request: method, uri, path, query, host, remote_ip...
    seen = await echo(pair, get("/request?a=1", method="GET").replace(b"Host: x", b"Host: X:80"))
    assert seen["host_name"] == "x" and seen["query"] == "a=1" and seen["remote_ip"] == "127.0.0.1"


# ---- Path arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/pos/a%2Fb/7", ["a/b", "7"]),
        ("/pos/a+b/7", ["a+b", "7"]),
        ("/pos/caf%C3%A9/7", ["café", "7"]),
    ],
)
async def test_positional_groups_are_unquoted_after_matching(
    pair: Pair, path: str, expected: list[str]
) -> None:
    # %2F becomes "/" only after the match; "+" is not a space in a path.
    seen = await echo(pair, get(path))
    assert seen["args"] == expected == seen["path_args"]


async def test_named_groups_are_keyword_arguments(pair: Pair) -> None:
    # Named groups reach get() as keyword arguments, unquoted and decoded.
    seen = await echo(pair, get("/named/x%20y/42"))
    assert seen["kwargs"] == {"name": "x y", "number": "42"} == seen["path_kwargs"]


async def test_invalid_utf8_in_a_path_group_is_a_400(pair: Pair) -> None:
    # %FF in a path group does not decode as UTF-8: the 400 page.
    ours = await pair.same(get("/pos/%FF/7"))
    assert ours.status == 400


async def test_optional_group_that_did_not_match_is_none(pair: Pair) -> None:
    # An optional group that did not take part reaches get() as None.
    seen = await echo(pair, get("/opt"))
    assert seen["part"] is None
    seen = await echo(pair, get("/opt/word"))
    assert seen["part"] == "word"


async def test_decode_argument_override_applies_to_path_and_query(pair: Pair) -> None:
    # A latin-1 decode_argument: %E9 is "é" in both the path and the query.
    seen = await echo(pair, get("/latin1/caf%E9?q=%E9"))
    assert seen == {"word": "café", "q": "é"}


async def test_decode_argument_returning_bytes_keeps_control_characters(pair: Pair) -> None:
    # A decode_argument that returns the bytes undecoded: get_argument(s) return bytes, only
    # stripped; the control character %01 stays (a str would have it turned into a space).
    seen = await echo(pair, get("/raw-bytes/%FF?q=%20a%01%FF%20"))
    assert seen["reprs"] == ["b'\\xff'", "b'a\\x01\\xff'", "b' a\\x01\\xff '"]


# ---- Cookies ----------------------------------------------------------------------------------


async def test_get_cookie_and_cookies(pair: Pair) -> None:
    # Cookie: c=hello; d=2 -> get_cookie("c") == "hello"; a missing one gives the default.
    seen = await echo(pair, get("/cookies", "Cookie: c=hello; d=2"))
    assert seen == {"c": "hello", "missing": "dflt", "names": ["c", "d"]}


def mask_dates(raw: bytes) -> bytes:
    # expires_days/clear_cookie dates depend on the current second: compare their shape.
    return re.sub(rb"expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", b"expires=<date>", raw)


async def test_set_cookie_attributes_and_clear_cookie(pair: Pair) -> None:
    # Every attribute, a replaced cookie, bytes, a value needing quotes, expires_days,
    # clear_cookie; bad values and names are refused. Set-Cookie lines come after
    # Content-Length, in the order the cookies were first set.
    ours, theirs = await pair.fetch(get("/set-cookies"))
    assert mask_dates(ours.normalized) == mask_dates(theirs.normalized)
    cookies = [v for k, v in ours.headers if k == "Set-Cookie"]
    assert cookies[0] == "a=b; Path=/"
    assert cookies[1] == (
        "full=v; Domain=example.com; expires=Tue, 14 Nov 2023 22:13:20 GMT; HttpOnly; "
        "Max-Age=60; Path=/p; SameSite=Lax; Secure"
    )
    assert "replaced=second; Path=/" in cookies
    assert ours.body == b"ValueError,CookieError"
    assert [name for name, _ in ours.headers][-len(cookies) - 1] == "Content-Length"


@pytest.mark.parametrize("query", ["", "?scoped=1"])
async def test_clear_all_cookies_clears_each_cookie_the_request_sent(
    pair: Pair, query: str
) -> None:
    # Cookie: foo=bar; baz=xyzzy -> one expired, empty Set-Cookie per name, in the request's
    # order, each with the path and domain given to clear_all_cookies (default: Path=/).
    ours, theirs = await pair.fetch(get(f"/clear-all-cookies{query}", "Cookie: foo=bar; baz=xyzzy"))
    assert mask_dates(ours.normalized) == mask_dates(theirs.normalized)
    scope = "; Domain=d.example; expires=<date>; Path=/p" if query else "; expires=<date>; Path=/"
    cookies = [mask_dates(v.encode()).decode() for k, v in ours.headers if k == "Set-Cookie"]
    assert cookies == [f'foo=""{scope}', f'baz=""{scope}']


async def test_cookies_survive_the_error_page(pair: Pair) -> None:
    # send_error clears headers, but cookies set before the error still go out.
    ours = await pair.same(get("/cookie-on-error"))
    assert ours.status == 403 and ours.header("Set-Cookie") == "kept=1; Path=/"


@pytest.mark.parametrize(
    ("body", "content_type", "logged"),
    [
        (b"q=1", "multipart/form-data", "Invalid body: Invalid multipart/form-data"),
        (
            b"&".join(b"a%d=1" % i for i in range(1001)),
            "application/x-www-form-urlencoded",
            "Max number of fields exceeded",
        ),
        (b"q=%FF", "application/x-www-form-urlencoded", "Invalid unicode in q: b'\\xff'"),
    ],
)
async def test_bad_bodies_are_400_with_tornados_warning(
    pair: Pair, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str, logged: str
) -> None:
    # A body _parse_body refuses (or that does not decode) is a 400 page, logged at WARNING
    # on the general logger with the same words as Tornado's.
    ours = await pair.same(post("/args", body, f"Content-Type: {content_type}"))
    assert ours.status == 400
    ours_log = log_lines(caplog, "minitornado", "general")
    assert ours_log == log_lines(caplog, "tornado", "general")
    assert len(ours_log) == 1 and logged in ours_log[0]
