"""httputil: headers, start lines, the request object, arguments, cookies, URLs and dates.

Most tests run twice, once on ``minitornado.httputil`` and once on ``tornado.httputil`` (the
``httputil`` fixture), and assert the same thing of both: where they pass for Tornado, they
pin Tornado's behaviour, and minitornado must match it. A test that compares an answer with
Tornado's own answer runs on minitornado alone (Tornado against itself cannot fail). Errors
are compared by type only (each module raises its own ``HTTPInputError``); the exact
messages are checked on minitornado alone, against the strings Tornado 6.6.1 was observed
to log.
"""

from __future__ import annotations

import copy
import datetime
import http.client
import inspect
import pickle
import time
import types
from collections.abc import Callable
from typing import Any

import pytest
import tornado.escape
import tornado.httputil
from hypothesis import given, settings
from hypothesis import strategies as st

import minitornado.httputil
from minitornado import _httputil_forms
from minitornado.httputil import (
    HTTPConnection,
    HTTPFile,
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)

IMPLEMENTATIONS = [
    pytest.param(minitornado.httputil, id="minitornado"),
    pytest.param(tornado.httputil, id="tornado"),
]


@pytest.fixture(params=IMPLEMENTATIONS)
def httputil(request: pytest.FixtureRequest) -> types.ModuleType:
    """The module under test: minitornado's or Tornado's httputil."""
    module: types.ModuleType = request.param
    return module


def parse_qs_bytes_of(httputil: types.ModuleType) -> Callable[..., dict[str, list[bytes]]]:
    """parse_qs_bytes is defined in tornado.escape, and minitornado.escape; httputil imports it."""
    if httputil is tornado.httputil:
        return tornado.escape.parse_qs_bytes
    return minitornado.httputil.parse_qs_bytes


def outcome(httputil: types.ModuleType, func: Callable[[], Any]) -> Any:
    """``func()``'s result, or the marker "HTTPInputError" if it raised the module's one."""
    try:
        return func()
    except httputil.HTTPInputError:
        return "HTTPInputError"


def make_request(
    httputil: types.ModuleType,
    uri: str = "/",
    version: str = "HTTP/1.1",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """An HTTPServerRequest built the 6.6 way (start_line=, no deprecated arguments)."""
    return httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine("GET", uri, version),
        headers=httputil.HTTPHeaders({"Host": "example.com"} if headers is None else headers),
        **kwargs,
    )


def as_plain(files: dict[str, list[Any]]) -> dict[str, list[dict[str, Any]]]:
    """Files with each HTTPFile turned into a plain dict, so both modules' results compare."""
    return {name: [dict(f) for f in uploads] for name, uploads in files.items()}


# The "# Tornado:" markers of httputil.py are checked with every module's, in
# tests/test_annotations.py.


# ---- HTTPHeaders: the dict interface ----------------------------------------------------------


def test_header_names_are_normalised_and_looked_up_case_insensitively(httputil: Any) -> None:
    # Scenario: names come back in Http-Header-Case whatever case they were given in.
    headers = httputil.HTTPHeaders({"content-TYPE": "text/html", "x-a-b": "1"})
    assert list(headers) == ["Content-Type", "X-A-B"]
    assert headers["CONTENT-type"] == "text/html"
    assert "content-type" in headers
    assert 42 not in headers


def test_added_values_are_kept_apart_and_joined_by_commas_on_lookup(httputil: Any) -> None:
    # Scenario: two Set-Cookie values stay separate in get_list / get_all, and h[name] joins
    # them with a bare comma (no space), as Tornado does.
    headers = httputil.HTTPHeaders()
    headers.add("Set-Cookie", "a=1")
    headers.add("set-cookie", "b=2")
    headers.add("Content-Length", "3")
    assert headers["Set-Cookie"] == "a=1,b=2"
    assert headers.get_list("SET-COOKIE") == ["a=1", "b=2"]
    assert list(headers.get_all()) == [
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Content-Length", "3"),
    ]
    assert len(headers) == 2
    assert headers.get_list("Missing") == []


def test_setitem_replaces_every_value_and_checks_nothing(httputil: Any) -> None:
    # Scenario: h[name] = v drops earlier values; unlike add(), it does not validate, because
    # the application's headers are checked by RequestHandler.
    headers = httputil.HTTPHeaders()
    headers.add("X", "1")
    headers.add("X", "2")
    headers["x"] = "3"
    assert headers.get_list("X") == ["3"]
    headers["X"] = "bad\x01value"
    assert headers["X"] == "bad\x01value"


def test_delitem_removes_all_values_and_missing_names_raise_keyerror(httputil: Any) -> None:
    # Scenario: del drops the name with every value; a second del and a lookup raise.
    headers = httputil.HTTPHeaders()
    headers.add("X", "1")
    headers.add("X", "2")
    del headers["x"]
    assert "X" not in headers
    with pytest.raises(KeyError):
        del headers["X"]
    with pytest.raises(KeyError):
        headers["X"]
    assert headers.get("X", "default") == "default"


def test_mutablemapping_helpers_work_on_headers(httputil: Any) -> None:
    # Scenario: setdefault, pop, update and items come from MutableMapping.
    headers = httputil.HTTPHeaders(a="1")
    assert headers.setdefault("A", "9") == "1"
    assert headers.setdefault("B", "2") == "2"
    headers.update([("c", "3")])
    assert sorted(headers.items()) == [("A", "1"), ("B", "2"), ("C", "3")]
    assert headers.pop("a") == "1"
    assert "A" not in headers


def test_copies_keep_every_value_and_do_not_share_lists(httputil: Any) -> None:
    # Scenario: copy(), copy.copy() and HTTPHeaders(other) keep multi-values, and adding to the
    # copy leaves the original alone.
    headers = httputil.HTTPHeaders()
    headers.add("X", "1")
    headers.add("X", "2")
    for duplicate in (headers.copy(), copy.copy(headers), httputil.HTTPHeaders(headers)):
        assert isinstance(duplicate, httputil.HTTPHeaders)
        assert duplicate.get_list("X") == ["1", "2"]
        duplicate.add("X", "3")
        assert headers.get_list("X") == ["1", "2"]


def test_headers_survive_a_pickle_round_trip(httputil: Any) -> None:
    # Scenario: headers can be pickled (e.g. sent to a worker process) and come back whole.
    headers = httputil.HTTPHeaders()
    headers.add("X", "1")
    headers.add("X", "2")
    restored = pickle.loads(pickle.dumps(headers))
    assert list(restored.get_all()) == [("X", "1"), ("X", "2")]


def test_str_writes_one_line_per_value(httputil: Any) -> None:
    # Scenario: str() lists every value on its own "Name: value\n" line.
    headers = httputil.HTTPHeaders()
    headers.add("Set-Cookie", "a=1")
    headers.add("Set-Cookie", "b=2")
    headers["Content-Type"] = "text/plain"
    assert str(headers) == "Set-Cookie: a=1\nSet-Cookie: b=2\nContent-Type: text/plain\n"


def test_parse_line_accepts_crlf_lf_or_no_line_ending(httputil: Any) -> None:
    # Scenario: parse_line takes lines with their ending left on, and ignores blank lines.
    headers = httputil.HTTPHeaders()
    headers.parse_line("A: 1\r\n")
    headers.parse_line("B: 2\n")
    headers.parse_line("C: 3")
    headers.parse_line("\r\n")
    assert list(headers.get_all()) == [("A", "1"), ("B", "2"), ("C", "3")]


# ---- HTTPHeaders.parse: the strict header parser ------------------------------------------

VALID_HEADER_BLOCKS = [
    "Content-Type: text/html\r\nContent-Length: 42\r\n\r\n",
    "A: 1\nB: 2\n\n",  # bare LF endings (accepted until Tornado 6.7)
    "A: 1\r\nB: 2",  # no final line ending
    "X:    padded \t \r\n",  # OWS around the value is stripped
    "X:\r\n",  # empty value
    "X: a\tb  c\r\n",  # tabs and spaces inside a value are kept
    "X: caf\xe9\r\n",  # obs-text: one latin-1 byte
    "X: foo=\xc2\x85bar\r\n",  # U+0085 encoded in UTF-8, seen as latin-1: not a newline
    "Transfer-Encoding: \xa0chunked\r\n",  # a no-break space is data, not whitespace
    "Dup: 1\r\nDup: 2\r\ndup: 3\r\n",
    "X: a:b:c\r\n",  # only the first colon splits
    "!#$%&'*+-.^_`|~09azAZ: token\r\n",  # every tchar in a name
    "",
    "\r\n",
]

INVALID_HEADER_BLOCKS = [
    "Foo: bar\r\n\tasdf\r\n",  # obs-fold continuation
    "Foo: bar\r\n asdf\r\n",
    " Foo: bar\r\n",
    "No colon here\r\n",
    "X-Foo : bar\r\n",  # whitespace before the colon
    "X Foo: bar\r\n",
    ": no name\r\n",
    "X: a\x00b\r\n",
    "X: a\x01b\r\n",
    "X: a\x7fb\r\n",
    "X: a\rb\r\n",  # a bare CR is not a line ending
    "A: 1\rB: 2\r\n",
    "A: 1\r",  # a CR with no LF after it at the very end
    "X: a\u2028b\r\n",  # not a latin-1 byte at all
    "Caf\xe9: x\r\n",  # obs-text is allowed in values, not names
]


@pytest.mark.parametrize("block", VALID_HEADER_BLOCKS)
def test_parse_accepts_what_tornado_accepts(block: str) -> None:
    # Scenario: each well-formed (or tolerated) block parses to the same name/value pairs.
    mini = list(minitornado.httputil.HTTPHeaders.parse(block).get_all())
    real = list(tornado.httputil.HTTPHeaders.parse(block).get_all())
    assert mini == real


@pytest.mark.parametrize("block", INVALID_HEADER_BLOCKS)
def test_parse_rejects_what_tornado_rejects(httputil: Any, block: str) -> None:
    # Scenario: each malformed block raises the module's HTTPInputError.
    with pytest.raises(httputil.HTTPInputError):
        httputil.HTTPHeaders.parse(block)


def test_parse_accepts_the_same_bytes_in_a_value_as_tornado() -> None:
    # Scenario: try every latin-1 character inside a value; the accepted set is HTAB, SP and
    # everything visible, i.e. all but the C0 controls and DEL, for both modules.
    def accepted(module: Any) -> set[int]:
        ok = set()
        for code in range(256):
            try:
                module.HTTPHeaders.parse(f"Foo: bar{chr(code)}baz\r\n")
            except module.HTTPInputError:
                continue
            ok.add(code)
        return ok

    expected = {0x09} | {c for c in range(0x20, 0x100) if c != 0x7F} - {0x0A}
    assert accepted(minitornado.httputil) == accepted(tornado.httputil) == expected


def test_part_headers_may_hold_unicode_but_no_controls(httputil: Any) -> None:
    # Scenario: multipart part headers are real UTF-8 text (_chars_are_bytes=False): a file
    # name in any script is fine, a control character is not.
    block = 'Content-Disposition: form-data; name="f"; filename="€ 日本.txt"\r\n'
    headers = httputil.HTTPHeaders.parse(block, _chars_are_bytes=False)
    assert headers["Content-Disposition"].endswith('"€ 日本.txt"')
    with pytest.raises(httputil.HTTPInputError):
        httputil.HTTPHeaders.parse("X: a\x01b\r\n", _chars_are_bytes=False)


HEADER_ALPHABET = ["A", "b", "-", ":", " ", "\t", "\r", "\n", "\x00", "\x7f", "\xe9", "\u2028"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(HEADER_ALPHABET), max_size=30).map("".join))
def test_parse_matches_tornado_on_random_header_text(block: str) -> None:
    # Scenario: random text built from the characters that matter (separators, whitespace,
    # controls, a latin-1 byte, a Unicode line separator) gives the same pairs or the same
    # error in both parsers.
    def run(module: Any) -> Any:
        return outcome(module, lambda: list(module.HTTPHeaders.parse(block).get_all()))

    assert run(minitornado.httputil) == run(tornado.httputil)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("Foo: bar\r\n\tasdf", "header line cannot start with whitespace, folding not supported"),
        ("No colon\r\n", "no colon in header line"),
        ("X-Foo : bar\r\n", "Invalid header name 'X-Foo '"),
        ("X: a\x01b\r\n", "Invalid header value 'a\\x01b'"),
    ],
)
def test_header_errors_say_what_tornado_logs(block: str, message: str) -> None:
    # Scenario: the HTTPInputError text is what Tornado 6.6.1 logs for the same input
    # (as "Malformed HTTP message from ...: <message>", in tornado/http1connection.py's
    # HTTP1Connection._read_message_inner).
    with pytest.raises(HTTPInputError) as info:
        HTTPHeaders.parse(block)
    assert str(info.value) == message


def test_add_checks_name_and_value_like_parse() -> None:
    # Scenario: add() is where the checks live, so a direct call is refused the same way.
    headers = HTTPHeaders()
    with pytest.raises(HTTPInputError, match="Invalid header name"):
        headers.add("Bad Name", "x")
    with pytest.raises(HTTPInputError, match="Invalid header value"):
        headers.add("X", " leading space")
    with pytest.raises(HTTPInputError, match="Invalid header value"):
        headers.add("X", "line\nbreak")
    assert len(headers) == 0


# ---- Start lines --------------------------------------------------------------------------

VALID_REQUEST_LINES = [
    "GET / HTTP/1.1",
    "GET /foo?a=1&b=2 HTTP/1.0",
    "get / HTTP/1.1",  # lower-case methods are tokens too (web.py answers 405)
    "FOO /x HTTP/1.1",
    "GET http://example.com/ HTTP/1.1",  # absolute form
    "OPTIONS * HTTP/1.1",
    "GET /caf\xc3\xa9 HTTP/1.1",  # raw UTF-8 bytes, seen as latin-1
    "GET / HTTP/1.2",
]

INVALID_REQUEST_LINES = [
    "GARBAGE",
    "GET / HTTP/2.0",
    "GET / http/1.1",
    "GET  / HTTP/1.1",
    "GET /",
    "GET /\x01 HTTP/1.1",
    "GET / HTTP/1.1 ",
    " GET / HTTP/1.1",
    "GET / HTTP/1.10",
    "GET / HTTP/1",
    "G@T / HTTP/1.1",
    "GET /a b HTTP/1.1",
    "GET\t/ HTTP/1.1",
    "GET /\u2028 HTTP/1.1",
    "",
]


@pytest.mark.parametrize("line", VALID_REQUEST_LINES)
def test_request_line_splits_into_method_target_and_version(httputil: Any, line: str) -> None:
    # Scenario: a valid request line comes back as a RequestStartLine with three fields.
    parsed = httputil.parse_request_start_line(line)
    assert isinstance(parsed, httputil.RequestStartLine)
    assert tuple(parsed) == tuple(line.split(" "))
    assert (parsed.method, parsed.path, parsed.version) == tuple(line.split(" "))


@pytest.mark.parametrize("line", INVALID_REQUEST_LINES)
def test_malformed_request_lines_are_refused(httputil: Any, line: str) -> None:
    # Scenario: anything but "token SP target SP HTTP/1.x" raises HTTPInputError.
    with pytest.raises(httputil.HTTPInputError):
        httputil.parse_request_start_line(line)


def test_request_line_errors_say_what_tornado_logs() -> None:
    # Scenario: a malformed line and a wrong major version get Tornado's two messages.
    with pytest.raises(HTTPInputError) as info:
        minitornado.httputil.parse_request_start_line("GET  / HTTP/1.1")
    assert str(info.value) == "Malformed HTTP request line"
    with pytest.raises(HTTPInputError) as info:
        minitornado.httputil.parse_request_start_line("GET / HTTP/2.0")
    assert str(info.value) == "Unexpected HTTP version 'HTTP/2.0'"


REQUEST_LINE_ALPHABET = ["GET", "/", " ", "HTTP/1.1", "HTTP/2.0", "\t", "\x01", "\xe9", "a", "?"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(REQUEST_LINE_ALPHABET), max_size=8).map("".join))
def test_request_line_parser_matches_tornado_on_random_lines(line: str) -> None:
    # Scenario: random lines made of request-line pieces are accepted or refused alike.
    def run(module: Any) -> Any:
        return outcome(module, lambda: tuple(module.parse_request_start_line(line)))

    assert run(minitornado.httputil) == run(tornado.httputil)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("HTTP/1.1 200 OK", ("HTTP/1.1", 200, "OK")),
        ("HTTP/1.0 404 Not Found", ("HTTP/1.0", 404, "Not Found")),
        ("HTTP/1.1 599 caf\xe9\tx", ("HTTP/1.1", 599, "caf\xe9\tx")),
        ("HTTP/1.1 204 ", ("HTTP/1.1", 204, None)),  # an empty reason is allowed
        ("HTTP/1.1 200", "HTTPInputError"),  # ...but its space is not optional
        ("HTTP/2.0 200 OK", "HTTPInputError"),
        ("HTTP/1.1 2000 OK", "HTTPInputError"),
        ("HTTP/1.1 200 O\x01K", "HTTPInputError"),
    ],
)
def test_status_line_parses_like_tornado(httputil: Any, line: str, expected: Any) -> None:
    # Scenario: parse_response_start_line splits a status line or raises HTTPInputError.
    result = outcome(httputil, lambda: tuple(httputil.parse_response_start_line(line)))
    assert result == expected


def test_start_lines_are_named_tuples() -> None:
    # Scenario: web.py builds ResponseStartLine("", code, reason); fields read by name.
    line = ResponseStartLine("", 404, "Not Found")
    assert (line.version, line.code, line.reason) == ("", 404, "Not Found")
    assert RequestStartLine("GET", "/", "HTTP/1.1")._fields == ("method", "path", "version")


# ---- HTTPServerRequest --------------------------------------------------------------------


def test_request_splits_uri_into_path_and_query(httputil: Any) -> None:
    # Scenario: the target is cut at the first "?"; later "?" stay in the query.
    request = make_request(httputil, "/a/b?x=1?y&z=")
    assert (request.method, request.uri, request.version) == ("GET", "/a/b?x=1?y&z=", "HTTP/1.1")
    assert (request.path, request.query) == ("/a/b", "x=1?y&z=")
    assert request.arguments == {"x": [b"1?y"], "z": [b""]}


def test_arguments_are_latin1_names_with_lists_of_raw_bytes(httputil: Any) -> None:
    # Scenario: percent escapes become raw bytes (decoded as UTF-8 only later, by web.py),
    # names are str through latin-1, "+" is a space, repeats keep their order, and raw UTF-8
    # in the target (which arrives as latin-1 text) round-trips to the same bytes.
    uri = "/args?q=caf%C3%A9+x&q=%E2%9C%93&%C3%A9=1&raw=\xc3\xa9&blank&=v"
    request = make_request(httputil, uri)
    assert request.arguments == {
        "q": [b"caf\xc3\xa9 x", b"\xe2\x9c\x93"],
        "\xc3\xa9": [b"1"],
        "raw": [b"\xc3\xa9"],
        "blank": [b""],
        "": [b"v"],
    }
    assert request.query_arguments == request.arguments
    assert request.query_arguments is not request.arguments
    assert request.body_arguments == {}


def test_request_attributes_default_like_tornado(httputil: Any) -> None:
    # Scenario: with no connection, body or files, the request still has every attribute.
    request = make_request(httputil)
    assert request.body == b""
    assert request.files == {}
    assert request.remote_ip is None
    assert request.protocol == "http"
    assert request.connection is None
    assert request.server_connection is None
    assert request.full_url() == "http://example.com/"
    assert isinstance(request.headers, httputil.HTTPHeaders)


def test_remote_ip_and_protocol_come_from_the_connection_context(httputil: Any) -> None:
    # Scenario: HTTPServer gives each connection a context with the peer address and the
    # scheme; the request copies both (full_url uses the scheme).
    class Context:
        remote_ip = "10.1.2.3"
        protocol = "https"

    class Connection(HTTPConnection):
        context = Context()

    connection, server_connection = Connection(), object()
    request = make_request(
        httputil, "/p?q=1", connection=connection, server_connection=server_connection
    )
    assert (request.remote_ip, request.protocol) == ("10.1.2.3", "https")
    assert request.connection is connection
    assert request.server_connection is server_connection
    assert request.full_url() == "https://example.com/p?q=1"


@pytest.mark.parametrize(
    ("version", "headers", "expected"),
    [
        ("HTTP/1.1", {"Host": "example.com"}, ("example.com", "example.com")),
        ("HTTP/1.1", {"Host": "Example.COM:8080"}, ("Example.COM:8080", "example.com")),
        ("HTTP/1.1", {"Host": "[::1]:8080"}, ("[::1]:8080", "[::1]")),
        ("HTTP/1.1", {"Host": "127.0.0.1"}, ("127.0.0.1", "127.0.0.1")),
        ("HTTP/1.1", {"Host": "caf%C3%A9.example"}, ("caf%C3%A9.example", "caf%c3%a9.example")),
        ("HTTP/1.1", {"Host": ""}, ("", "")),  # an empty Host is accepted
        ("HTTP/1.0", {}, ("127.0.0.1", "127.0.0.1")),  # 1.0 may omit Host
        ("HTTP/1.1", {}, "HTTPInputError"),  # 1.1 may not
        ("HTTP/1.2", {}, "HTTPInputError"),
        ("HTTP/1.1", {"Host": "a b"}, "HTTPInputError"),
        ("HTTP/1.1", {"Host": "a/b"}, "HTTPInputError"),
        ("HTTP/1.1", {"Host": "caf\xe9"}, "HTTPInputError"),
        ("HTTP/1.1", {"Host": "a,b"}, "HTTPInputError"),
        ("HTTP/1.0", {"Host": "a,b"}, "HTTPInputError"),
    ],
)
def test_host_rules_match_tornado(
    httputil: Any, version: str, headers: dict[str, str], expected: Any
) -> None:
    # Scenario: the constructor applies RFC 9112 §3.2: host and host_name, or HTTPInputError.
    result = outcome(
        httputil,
        lambda: (lambda r: (r.host, r.host_name))(make_request(httputil, "/", version, headers)),
    )
    assert result == expected


def test_two_host_lines_are_refused_as_multiple_hosts(httputil: Any) -> None:
    # Scenario: two Host lines arrive joined as "a,b", which the comma rule refuses.
    headers = httputil.HTTPHeaders.parse("Host: a\r\nHost: b\r\n")
    with pytest.raises(httputil.HTTPInputError):
        httputil.HTTPServerRequest(
            start_line=httputil.RequestStartLine("GET", "/", "HTTP/1.1"), headers=headers
        )


@pytest.mark.parametrize(
    ("version", "headers", "message"),
    [
        ("HTTP/1.1", {}, "Missing Host header"),
        ("HTTP/1.1", {"Host": "a b"}, "Invalid Host header: 'a b'"),
        ("HTTP/1.1", {"Host": "a,b"}, "Multiple host headers not allowed: 'a,b'"),
    ],
)
def test_host_errors_say_what_tornado_logs(
    version: str, headers: dict[str, str], message: str
) -> None:
    # Scenario: the three Host errors carry the messages Tornado raises for them
    # (tornado/httputil.py::HTTPServerRequest.__init__).
    with pytest.raises(HTTPInputError) as info:
        make_request(minitornado.httputil, "/", version, headers)
    assert str(info.value) == message


@pytest.mark.parametrize(("count", "accepted"), [(999, True), (1000, True), (1001, False)])
def test_query_string_holds_at_most_1000_arguments(
    httputil: Any, count: int, accepted: bool
) -> None:
    # Scenario: 1000 query fields parse; 1001 raise HTTPInputError (the server answers 400).
    uri = "/?" + "&".join(f"a={i}" for i in range(count))
    if accepted:
        assert len(make_request(httputil, uri).arguments["a"]) == count
    else:
        with pytest.raises(httputil.HTTPInputError, match="Max number of fields exceeded"):
            make_request(httputil, uri)


def test_empty_query_fields_count_toward_the_cap(httputil: Any) -> None:
    # Scenario: the cap counts "&"-separated fields before dropping empty ones, so 999
    # arguments plus two stray "&" (1001 fields) are refused.
    uri = "/?" + "&".join(f"a={i}" for i in range(999)) + "&&"
    with pytest.raises(httputil.HTTPInputError):
        make_request(httputil, uri)


def test_query_cap_error_message() -> None:
    # Scenario: the query cap's message wraps parse_qs_bytes' ValueError as Tornado's does.
    with pytest.raises(HTTPInputError) as info:
        make_request(minitornado.httputil, "/?" + "&" * 1000)
    assert str(info.value) == "Invalid query string: Max number of fields exceeded"


def test_cookies_property_parses_the_cookie_header_into_morsels(httputil: Any) -> None:
    # Scenario: request.cookies holds Morsels; names http.cookies refuses are dropped, and a
    # request without a Cookie header has no cookies.
    request = make_request(
        httputil, headers={"Host": "x", "Cookie": 'c=hello; d="quo\\"ted"; bad,name=1; =v'}
    )
    cookies = request.cookies
    assert sorted(cookies) == ["c", "d"]
    assert cookies["c"].value == "hello"
    assert cookies["d"].value == 'quo"ted'
    assert request.cookies is cookies  # parsed once
    assert dict(make_request(httputil).cookies) == {}


def test_parse_body_appends_body_arguments_after_query_arguments(httputil: Any) -> None:
    # Scenario: a form POST with a query: body arguments are kept apart and also appended to
    # arguments after the query's, so get_argument (the last value) prefers the body.
    request = make_request(
        httputil,
        "/?q=fromquery",
        headers={"Host": "x", "Content-Type": "application/x-www-form-urlencoded"},
        body=b"q=%C3%A9&q=2&other=",
    )
    request._parse_body()
    assert request.query_arguments == {"q": [b"fromquery"]}
    assert request.body_arguments == {"q": [b"\xc3\xa9", b"2"], "other": [b""]}
    assert request.arguments == {"q": [b"fromquery", b"\xc3\xa9", b"2"], "other": [b""]}


def test_request_time_counts_from_construction(httputil: Any) -> None:
    # Scenario: request_time() grows from the moment the request object was made.
    before = time.time()
    request = make_request(httputil)
    assert before <= request._start_time <= time.time()
    first = request.request_time()
    time.sleep(0.01)
    assert request.request_time() >= first + 0.009


def test_repr_names_the_request_but_not_its_headers(httputil: Any) -> None:
    # Scenario: the repr goes into error logs, so it shows the request line and peer, and no
    # header (which could be a credential).
    request = make_request(httputil, "/x", headers={"Host": "h", "Authorization": "secret"})
    assert repr(request) == (
        "HTTPServerRequest(protocol='http', host='h', method='GET', uri='/x', "
        "version='HTTP/1.1', remote_ip=None)"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "GET", "uri": "/"},
        {"uri": "/"},
        {"start_line": RequestStartLine("GET", "/", "HTTP/1.0"), "host": "h"},
        {},
    ],
    ids=["method-uri", "uri", "host", "no-start-line"],
)
def test_deprecated_constructor_arguments_warn(httputil: Any, kwargs: dict[str, Any]) -> None:
    # Scenario: the pre-6.6 arguments (method, uri, version, host, or no start_line) still
    # build a request but emit a DeprecationWarning, as in Tornado 6.6.
    with pytest.warns(DeprecationWarning) as record:
        request = httputil.HTTPServerRequest(**kwargs)
    assert (request.method, request.path) == ("GET", "/")
    assert {warning.filename for warning in record} == {__file__}  # blames the caller


def test_request_takes_the_start_line_and_headers_it_is_given(httputil: Any) -> None:
    # Scenario: the 6.6 way to build a request (what the router does) emits no warning.
    headers = httputil.HTTPHeaders({"Host": "h"})
    request = httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine("POST", "/p", "HTTP/1.1"),
        headers=headers,
        body=b"data",
    )
    assert (request.method, request.uri, request.version) == ("POST", "/p", "HTTP/1.1")
    assert request.headers is headers
    assert request.body == b"data"


# ---- Bodies: urlencoded -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"a=1&b=2&a=3",
        b"q=%C3%A9+x&%E2%9C%93=&&flag&=empty-name",
        b"bad=%zz&pct=%&plus=a+b%2B",
        b"",
    ],
)
def test_urlencoded_bodies_parse_like_tornado(body: bytes) -> None:
    # Scenario: the same urlencoded body gives the same arguments (and no files).
    arguments: dict[str, list[bytes]] = {"a": [b"before"]}
    files: dict[str, list[Any]] = {}
    form = "application/x-www-form-urlencoded"
    minitornado.httputil.parse_body_arguments(form, body, arguments, files)
    expected: dict[str, list[bytes]] = {"a": [b"before"]}
    their_files: dict[str, list[Any]] = {}
    tornado.httputil.parse_body_arguments(form, body, expected, their_files)
    assert arguments == expected
    assert files == their_files == {}


@pytest.mark.parametrize(("count", "accepted"), [(1000, True), (1001, False)])
def test_urlencoded_body_holds_at_most_1000_arguments(
    httputil: Any, count: int, accepted: bool
) -> None:
    # Scenario: a form body gets the same 1000-field cap as the query string.
    body = "&".join(f"a={i}" for i in range(count)).encode()
    arguments: dict[str, list[bytes]] = {}
    result = outcome(
        httputil,
        lambda: httputil.parse_body_arguments(
            "application/x-www-form-urlencoded", body, arguments, {}
        ),
    )
    if accepted:
        assert result is None
        assert len(arguments["a"]) == count
    else:
        assert result == "HTTPInputError"


def test_urlencoded_cap_error_message() -> None:
    # Scenario: Tornado's test_max_arguments input gives Tornado's message.
    with pytest.raises(HTTPInputError) as info:
        minitornado.httputil.parse_body_arguments(
            "application/x-www-form-urlencoded", b"a=1&" * 1001, {}, {}
        )
    assert str(info.value) == "Invalid x-www-form-urlencoded body: Max number of fields exceeded"


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_compressed_form_bodies_are_refused(httputil: Any, content_type: str) -> None:
    # Scenario: a Content-Encoding header still present means nobody decompressed the body.
    headers = httputil.HTTPHeaders({"Content-Encoding": "gzip"})
    with pytest.raises(httputil.HTTPInputError, match="Unsupported Content-Encoding: gzip"):
        httputil.parse_body_arguments(content_type + "; boundary=b", b"a=1", {}, {}, headers)


@pytest.mark.parametrize("content_type", ["", "text/plain", "application/json", "form-data"])
def test_other_content_types_are_left_alone(httputil: Any, content_type: str) -> None:
    # Scenario: bodies that are not forms produce no arguments and no error.
    arguments: dict[str, list[bytes]] = {}
    files: dict[str, list[Any]] = {}
    httputil.parse_body_arguments(content_type, b"a=1&b=2", arguments, files)
    assert (arguments, files) == ({}, {})


# ---- Bodies: multipart/form-data ----------------------------------------------------------


def multipart(*parts: bytes, boundary: bytes = b"1234") -> bytes:
    """A multipart body: each part is "headers CRLF CRLF content"; CRLFs are added around."""
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary + b"--\r\n"


MULTIPART_CASES = {
    "file-and-field": (
        "multipart/form-data; boundary=1234",
        multipart(
            b'Content-Disposition: form-data; name="files"; filename="ab.txt"\r\n\r\nFoo',
            b'Content-Disposition: form-data; name="field"\r\n\r\nvalue\r\nwith CRLF',
            b'Content-Disposition: form-data; name="files"; filename="b.png"\r\n'
            b"Content-Type: image/png\r\n\r\n\x89PNG",
        ),
    ),
    "unquoted-names": (
        "multipart/form-data; boundary=1234",
        multipart(b"Content-Disposition: form-data; name=files; filename=ab.txt\r\n\r\nFoo"),
    ),
    "quoted-boundary": (
        'multipart/form-data; boundary="1234"',
        multipart(b'Content-Disposition: form-data; name="a"\r\n\r\n1'),
    ),
    "boundary-not-first-param": (
        "multipart/form-data; charset=utf-8; boundary=xyz",
        multipart(b'Content-Disposition: form-data; name="a"\r\n\r\n1', boundary=b"xyz"),
    ),
    "special-filenames": (
        "multipart/form-data; boundary=1234",
        multipart(
            b'Content-Disposition: form-data; name="a"; filename="a;b.txt"\r\n\r\n1',
            b'Content-Disposition: form-data; name="b"; filename="a\\"b\\\\.txt"\r\n\r\n2',
            b'Content-Disposition: form-data; name="c"; filename="C:\\dir\\c.txt"\r\n\r\n3',
            b'Content-Disposition: form-data; name="d"; filename="\xc3\xa9t\xc3\xa9"\r\n\r\n4',
        ),
    ),
    "rfc5987-filename": (
        "multipart/form-data; boundary=1234",
        multipart(
            b'Content-Disposition: form-data; name="f"; filename="fallback.txt"; '
            b"filename*=UTF-8''%e2%82%ac%20rates.txt\r\n\r\nx"
        ),
    ),
    "empty-filename-is-a-field": (
        "multipart/form-data; boundary=1234",
        multipart(b'Content-Disposition: form-data; name="f"; filename=""\r\n\r\nx'),
    ),
    "data-after-final-boundary": (
        "multipart/form-data; boundary=1234",
        multipart(b'Content-Disposition: form-data; name="a"\r\n\r\n1') + b"epilogue\r\n",
    ),
    "empty-body-with-final-boundary": ("multipart/form-data; boundary=1234", b"--1234--\r\n"),
    "missing-headers": ("multipart/form-data; boundary=1234", multipart(b"no headers here")),
    "not-form-data": (
        "multipart/form-data; boundary=1234",
        multipart(b'Content-Disposition: attachment; name="a"\r\n\r\n1'),
    ),
    "missing-name": (
        "multipart/form-data; boundary=1234",
        multipart(b'Content-Disposition: form-data; filename="a"\r\n\r\n1'),
    ),
    "no-final-boundary": (
        "multipart/form-data; boundary=1234",
        b'--1234\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n',
    ),
    "part-without-trailing-crlf": (
        "multipart/form-data; boundary=1234",
        b'--1234\r\nContent-Disposition: form-data; name="a"\r\n\r\n1--1234--',
    ),
    "preamble-is-not-a-part": (
        "multipart/form-data; boundary=1234",
        b"preamble" + multipart(b'Content-Disposition: form-data; name="a"\r\n\r\n1'),
    ),
    "no-boundary-param": ("multipart/form-data", multipart(b"x")),
    "empty-boundary-param": ("multipart/form-data; boundary=", multipart(b"x")),
    "wrong-media-type": ("multipart/form-dataxyz; boundary=1234", multipart(b"x")),
    "non-utf8-part-header": (
        "multipart/form-data; boundary=1234",
        multipart(b'Content-Disposition: form-data; name="\xff"\r\n\r\n1'),
    ),
    "control-char-in-part-header": (
        "multipart/form-data; boundary=1234",
        multipart(b'Content-Disposition: form-data; name="a\x01"\r\n\r\n1'),
    ),
}


@pytest.mark.parametrize(("content_type", "body"), MULTIPART_CASES.values(), ids=MULTIPART_CASES)
def test_multipart_bodies_parse_like_tornado(content_type: str, body: bytes) -> None:
    # Scenario: each body gives the same arguments and files in both modules, or both raise
    # HTTPInputError.
    def run(module: Any) -> Any:
        arguments: dict[str, list[bytes]] = {}
        files: dict[str, list[Any]] = {}

        def parse() -> Any:
            module.parse_body_arguments(content_type, body, arguments, files)
            return arguments, as_plain(files)

        return outcome(module, parse)

    assert run(minitornado.httputil) == run(tornado.httputil)


def test_multipart_upload_becomes_httpfile_with_attribute_and_key_access() -> None:
    # Scenario: an uploaded file reads as f.body and as f["body"] (old tutorials use keys);
    # a part without Content-Type gets "application/unknown".
    arguments: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    content_type, body = MULTIPART_CASES["file-and-field"]
    minitornado.httputil.parse_body_arguments(content_type, body, arguments, files)
    first, second = files["files"]
    assert (first.filename, first.body, first.content_type) == (
        "ab.txt",
        b"Foo",
        "application/unknown",
    )
    assert first["body"] == b"Foo"
    assert second.content_type == "image/png"
    assert arguments == {"field": [b"value\r\nwith CRLF"]}
    with pytest.raises(AttributeError):
        first.missing  # noqa: B018


@pytest.mark.parametrize(("count", "accepted"), [(99, True), (100, False)])
def test_multipart_holds_at_most_99_parts(httputil: Any, count: int, accepted: bool) -> None:
    # Scenario: the part cap (100) counts the empty piece before the first boundary, so 99
    # form fields parse and 100 are refused, in Tornado and here.
    part = b'Content-Disposition: form-data; name="a"\r\n\r\nx'
    arguments: dict[str, list[bytes]] = {}
    result = outcome(
        httputil,
        lambda: httputil.parse_body_arguments(
            "multipart/form-data; boundary=1234", multipart(*[part] * count), arguments, {}
        ),
    )
    assert (result is None) == accepted
    if accepted:
        assert len(arguments["a"]) == count


@pytest.mark.parametrize(("padding", "accepted"), [(10 * 1024, True), (10 * 1024 + 1, False)])
def test_multipart_part_headers_hold_at_most_10_kib(
    httputil: Any, padding: int, accepted: bool
) -> None:
    # Scenario: a part's header block may be 10 KiB (up to its blank line), not a byte more.
    header = b'Content-Disposition: form-data; name="a"\r\nX-Pad: '
    header += b"p" * (padding - len(header))
    body = multipart(header + b"\r\n\r\nx")
    result = outcome(
        httputil,
        lambda: httputil.parse_body_arguments("multipart/form-data; boundary=1234", body, {}, {}),
    )
    assert (result is None) == accepted


def test_multipart_error_messages_name_the_format() -> None:
    # Scenario: every multipart error is wrapped as "Invalid multipart/form-data: <why>".
    def message(content_type: str, body: bytes) -> str:
        with pytest.raises(HTTPInputError) as info:
            minitornado.httputil.parse_body_arguments(content_type, body, {}, {})
        return str(info.value)

    assert message(*MULTIPART_CASES["no-boundary-param"]) == (
        "Invalid multipart/form-data: multipart boundary not found"
    )
    assert message(*MULTIPART_CASES["missing-name"]) == (
        "Invalid multipart/form-data: multipart/form-data missing name"
    )
    assert message(*MULTIPART_CASES["no-final-boundary"]) == (
        "Invalid multipart/form-data: Invalid multipart/form-data: no final boundary found"
    )


def test_disposition_parsing_stays_linear_on_semicolon_floods() -> None:
    # Scenario: a 10 KiB Content-Disposition full of quoted semicolons (the shape behind
    # Tornado's quadratic-parsing fix) parses in well under a second.
    line = 'form-data; name="' + ";" * 10_000 + '"'
    started = time.perf_counter()
    _, params = _httputil_forms._parse_header(line)
    assert params["name"] == ";" * 10_000
    assert time.perf_counter() - started < 0.5


def test_rfc2231_continuations_are_not_joined_unlike_tornado() -> None:
    # Scenario: "Left out" in _parse_header: filename*0= / filename*1= pieces are not joined
    # (Tornado joins them through email.utils); nothing on the serving path sends them.
    line = 'form-data; name="f"; filename*0="a"; filename*1="b"'
    assert tornado.httputil._parse_header(line)[1].get("filename") == "ab"
    assert _httputil_forms._parse_header(line)[1].get("filename") is None


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [("C%3A%5Cdir%5Cf.txt", "C:\\dir\\f.txt"), ("say%20%22hi%22.txt", 'say "hi".txt')],
)
def test_percent_encoded_backslash_or_quote_in_filename_star_decodes_unlike_tornado(
    encoded: str, decoded: str
) -> None:
    # Scenario: "Differs on purpose" in _parse_header. A client percent-encodes a Windows path
    # or a quote in filename*=; we return the characters it meant, Tornado returns them
    # backslash-escaped (email.utils re-quotes the decoded value before unquoting it).
    line = f"form-data; name=\"f\"; filename*=utf-8''{encoded}"
    assert _httputil_forms._parse_header(line)[1]["filename"] == decoded
    tornado_filename = tornado.httputil._parse_header(line)[1]["filename"]
    assert tornado_filename != decoded
    assert tornado_filename.replace("\\\\", "\\").replace('\\"', '"') == decoded


# ---- Cookies ------------------------------------------------------------------------------

COOKIE_HEADERS = [
    "chips=ahoy; vienna=finger",
    'keebler="E=mc2; L=\\"Loves\\"; fudge=\\012;"',
    "keebler=E=mc2",
    "key:term=value:term",
    "a=b; c=[; d=r; f=h",
    "a=b; Domain=example.com",
    "a=b; h=i; a=c",
    "abc=def; unnamed; django_language=en",
    'a=b; "; c=d',
    "a b c=d e = f; gh=i",
    'a   b,c<>@:/[]?{}=d  "  =e,f g',
    "saint=André Bessette",
    "  =  b  ;  ;  =  ;   c  =  ;  ",
    "",
    *(
        "a=" + quoted
        for quoted in [
            r'"b=\""',
            r'"b=\\"',
            r'"b=\="',
            r'"b=\n"',
            r'"b=\042"',
            r'"b=\134"',
            r'"b=\377"',
            r'"b=\400"',
            r'"b=\42"',
            r'"b=\\042"',
            r'"b=\\\""',
            r'"b=\134\042"',
            '"',
            '""',
        ]
    ),
]


@pytest.mark.parametrize("header", COOKIE_HEADERS)
def test_cookie_header_parses_like_tornado(header: str) -> None:
    # Scenario: Django's browser-like cookie parsing, plus http.cookies' unquoting, gives
    # the same dict in both modules (the cases are Tornado's and CPython's own).
    assert minitornado.httputil.parse_cookie(header) == tornado.httputil.parse_cookie(header)


def test_cookie_unquoting_examples() -> None:
    # Scenario: a few results spelled out: later names win, octal escapes decode.
    parse_cookie = minitornado.httputil.parse_cookie
    assert parse_cookie("a=b; h=i; a=c") == {"a": "c", "h": "i"}
    assert parse_cookie(r'a="b=\042\\"') == {"a": 'b="\\'}
    assert parse_cookie("abc=def; unnamed") == {"abc": "def", "": "unnamed"}


def test_cookie_unquoting_is_linear_in_backslashes() -> None:
    # Scenario: CVE-2024-7592 was quadratic unquoting; 100k escapes must stay fast.
    for escape in (r"\\", r"\134"):
        started = time.perf_counter()
        value = minitornado.httputil.parse_cookie('a="b=' + escape * 100_000 + '"')["a"]
        assert len(value) == 100_002
        assert time.perf_counter() - started < 1.0


# ---- URLs, dates, reason phrases ----------------------------------------------------------

URL_CONCAT_CASES = [
    ("https://localhost/path", [("y", "y"), ("z", "z")]),
    ("https://localhost/path?x", [("y", "y"), ("z", "z")]),
    ("https://localhost/path?", [("y", "y"), ("z", "z")]),
    ("https://localhost/path?x&", [("y", "y"), ("z", "z")]),
    ("https://localhost/path?a=1&b=2", [("y", "y")]),
    ("https://localhost/path?r=1&t=2", []),
    ("https://localhost/path?r=1&t=2", None),
    ("https://localhost/path#frag", [("y", "y")]),
    ("https://localhost/path?a=1#frag", {"b": "2 3", "é": "&"}),
    ("https://localhost/path", (("y", "y"), ("y", "y2"))),
    ("/relative?a=b", {"c": "d"}),
]


@pytest.mark.parametrize(("url", "args"), URL_CONCAT_CASES)
def test_url_concat_matches_tornado(url: str, args: Any) -> None:
    # Scenario: arguments are appended to any existing query, fragments are kept.
    assert minitornado.httputil.url_concat(url, args) == tornado.httputil.url_concat(url, args)


def test_url_concat_examples_and_bad_argument_type(httputil: Any) -> None:
    # Scenario: the documented examples, and a TypeError for args of the wrong type.
    assert httputil.url_concat("http://e.com/foo?a=b", [("c", "d"), ("c", "d2")]) == (
        "http://e.com/foo?a=b&c=d&c=d2"
    )
    with pytest.raises(TypeError, match="should be dict, list or tuple"):
        httputil.url_concat("http://e.com/", "a=b")


TIMESTAMPS = [
    1359312200,
    1359312200.999,
    0,
    time.gmtime(1359312200),
    tuple(time.gmtime(1359312200)),
    datetime.datetime(2013, 1, 27, 18, 43, 20),  # naive means UTC
    datetime.datetime(2013, 1, 27, 18, 43, 20, tzinfo=datetime.timezone.utc),
    datetime.datetime(
        2013, 1, 27, 13, 43, 20, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
    ),
]


@pytest.mark.parametrize("ts", TIMESTAMPS)
def test_format_timestamp_matches_tornado(ts: Any) -> None:
    # Scenario: every accepted timestamp type formats to the same IMF-fixdate.
    assert minitornado.httputil.format_timestamp(ts) == tornado.httputil.format_timestamp(ts)


def test_format_timestamp_writes_an_imf_fixdate(httputil: Any) -> None:
    # Scenario: the docstring's example; an unknown type is a TypeError.
    assert httputil.format_timestamp(1359312200) == "Sun, 27 Jan 2013 18:43:20 GMT"
    with pytest.raises(TypeError):
        httputil.format_timestamp("2013-01-27")


@pytest.mark.parametrize(
    "netloc", ["example.com", "example.com:8080", "[::1]:80", "[::1]", "a:b:1", "host:", ":80", ""]
)
def test_split_host_and_port_matches_tornado(netloc: str) -> None:
    # Scenario: a trailing ":digits" is the port; anything else is all host.
    ours = minitornado.httputil.split_host_and_port(netloc)
    assert ours == tornado.httputil.split_host_and_port(netloc)


def test_split_host_and_port_examples() -> None:
    # Scenario: the port comes back as an int, or None.
    split = minitornado.httputil.split_host_and_port
    assert split("example.com:8080") == ("example.com", 8080)
    assert split("example.com") == ("example.com", None)


def test_qs_to_qsl_flattens_parsed_query_strings(httputil: Any) -> None:
    # Scenario: the inverse of parse_qs, for str and bytes values alike.
    assert list(httputil.qs_to_qsl({"a": ["1", "3"], "b": ["2"]})) == [
        ("a", "1"),
        ("a", "3"),
        ("b", "2"),
    ]
    assert list(httputil.qs_to_qsl({"a": [b"x"]})) == [("a", b"x")]


@pytest.mark.parametrize(
    "qs",
    ["a=1&b=2&a=3", "a+b=c+d&%41=%42", "x=%zz&y=%&z=%4", "&&a&=b&c=", "é=%C3%A9", "", "a;b=c"],
)
@pytest.mark.parametrize("keep_blank_values", [True, False])
def test_parse_qs_bytes_matches_tornado(qs: str, keep_blank_values: bool) -> None:
    # Scenario: str and bytes query strings give the same dict[str, list[bytes]].
    ours = minitornado.httputil.parse_qs_bytes
    for given_qs in (qs, qs.encode("latin-1")):
        assert ours(given_qs, keep_blank_values) == tornado.escape.parse_qs_bytes(
            given_qs, keep_blank_values
        )


def test_parse_qs_bytes_strict_parsing_refuses_fields_without_equals(httputil: Any) -> None:
    # Scenario: strict_parsing turns empty fields and fields without "=" into ValueError.
    ours = parse_qs_bytes_of(httputil)
    with pytest.raises(ValueError, match="bad query field"):
        ours("a=1&b", strict_parsing=True)
    with pytest.raises(ValueError, match="bad query field"):
        ours("a=1&&b=2", strict_parsing=True)


def test_responses_is_http_client_responses(httputil: Any) -> None:
    # Scenario: web.py looks reason phrases up here; it is the standard library's table.
    assert httputil.responses is http.client.responses
    assert httputil.responses[418] == "I'm a Teapot"


# ---- The interfaces between layers --------------------------------------------------------


def test_interface_defaults_match_tornado(httputil: Any) -> None:
    # Scenario: the delegate hooks an implementation may skip do nothing; the methods it
    # must provide raise NotImplementedError.
    server_delegate = httputil.HTTPServerConnectionDelegate()
    message_delegate = httputil.HTTPMessageDelegate()
    connection = httputil.HTTPConnection()
    with pytest.raises(NotImplementedError):
        server_delegate.start_request(object(), connection)
    assert server_delegate.on_close(object()) is None
    start_line = httputil.RequestStartLine("GET", "/", "HTTP/1.1")
    assert message_delegate.headers_received(start_line, httputil.HTTPHeaders()) is None
    assert message_delegate.data_received(b"x") is None
    assert message_delegate.finish() is None
    assert message_delegate.on_connection_close() is None
    with pytest.raises(NotImplementedError):
        connection.write_headers(httputil.ResponseStartLine("", 200, "OK"), httputil.HTTPHeaders())
    with pytest.raises(NotImplementedError):
        connection.write(b"x")
    with pytest.raises(NotImplementedError):
        connection.finish()


def test_interfaces_have_tornados_signatures() -> None:
    # Scenario: http1connection and web.py call these by Tornado's parameter names.
    pairs = [
        (HTTPServerConnectionDelegate, tornado.httputil.HTTPServerConnectionDelegate),
        (HTTPMessageDelegate, tornado.httputil.HTTPMessageDelegate),
        (HTTPConnection, tornado.httputil.HTTPConnection),
    ]
    for ours, theirs in pairs:
        names = [n for n in vars(theirs) if not n.startswith("_")]
        assert names == [n for n in vars(ours) if not n.startswith("_")]
        for name in names:
            ours_params = inspect.signature(getattr(ours, name)).parameters
            assert list(ours_params) == list(inspect.signature(getattr(theirs, name)).parameters)
    ours_init = inspect.signature(HTTPServerRequest.__init__).parameters
    theirs_init = inspect.signature(tornado.httputil.HTTPServerRequest.__init__).parameters
    assert list(ours_init) == list(theirs_init)


def test_a_message_delegate_sees_headers_then_body_then_finish() -> None:
    # Scenario: the order a connection drives a delegate in, recorded by a small subclass.
    calls: list[str] = []

    class Recorder(HTTPMessageDelegate):
        def headers_received(
            self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
        ) -> None:
            calls.append(
                f"headers {start_line.method if isinstance(start_line, RequestStartLine) else ''}"
            )

        def data_received(self, chunk: bytes) -> None:
            calls.append(f"data {chunk!r}")

        def finish(self) -> None:
            calls.append("finish")

    class Server(HTTPServerConnectionDelegate):
        def start_request(
            self, server_conn: object, request_conn: HTTPConnection
        ) -> HTTPMessageDelegate:
            return Recorder()

    delegate = Server().start_request(object(), HTTPConnection())
    start_line = minitornado.httputil.parse_request_start_line("POST / HTTP/1.1")
    delegate.headers_received(start_line, HTTPHeaders.parse("Host: x\r\n\r\n"))
    delegate.data_received(b"ab")
    delegate.finish()
    assert calls == ["headers POST", "data b'ab'", "finish"]
