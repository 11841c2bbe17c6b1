"""tornado.routing without web.Application: matchers, rules, reversing, and rule routers
served directly by HTTPServer; compared with Tornado 6.6.1 class by class and byte by byte.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
import tornado.httputil
import tornado.routing
from support import IMPLS, Impl, Pair, get, serve_pair

import minitornado.httputil
import minitornado.routing

ROUTING = {"minitornado": minitornado.routing, "tornado": tornado.routing}
HTTPUTIL = {"minitornado": minitornado.httputil, "tornado": tornado.httputil}


def request_for(impl: str, path: str, host: str = "x", **headers: str) -> Any:
    httputil = HTTPUTIL[impl]
    all_headers = httputil.HTTPHeaders({"Host": host, **headers})
    start_line = httputil.RequestStartLine("GET", path, "HTTP/1.1")
    return httputil.HTTPServerRequest(start_line=start_line, headers=all_headers)


# ---- Matchers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("/a", "/a"),
        ("/a", "/ab"),
        ("/a", "/a/"),
        ("/a$", "/a"),
        ("/a/(.*)", "/a/x%2Fy"),
        ("/a/(.*)", "/a/caf%C3%A9+1"),
        (r"/(?P<first>\w+)/(?P<second>\d+)", "/x/7"),
        (r"/opt/?(\w+)?", "/opt"),
        ("/a", "/A"),
        ("/a", "/x/a"),
    ],
)
def test_path_matches_anchors_at_the_end_and_unquotes_groups(pattern: str, path: str) -> None:
    # Patterns match from the start and, with the appended "$", to the end; groups are
    # percent-decoded to bytes afterwards ("+" stays "+"); Tornado gives the same.
    ours = minitornado.routing.PathMatches(pattern).match(request_for("minitornado", path))
    theirs = tornado.routing.PathMatches(pattern).match(request_for("tornado", path))
    assert ours == theirs


def test_path_matches_refuses_mixed_groups(impl: Impl) -> None:
    # Named and positional groups in one pattern: an AssertionError at construction.
    with pytest.raises(AssertionError, match="all named or all positional"):
        ROUTING[impl].PathMatches(r"/(?P<a>\w+)/(\d+)")


@pytest.mark.parametrize(
    ("pattern", "args"),
    [
        ("/plain", ()),
        ("/plain$", ()),
        ("^/start", ()),
        (r"/named/([^/]+)/(\d+)", ("x y", 42)),
        (r"/bytes/(.*)", (b"caf\xc3\xa9",)),
        (r"/kw/(?P<key>.+)", ("a/b?c",)),
        (r"/esc\.html/(\d+)", (3,)),
        (r"/dash\-(\w+)", ("é",)),
    ],
)
def test_reverse_fills_groups_like_tornado(pattern: str, args: tuple[Any, ...]) -> None:
    # The %s template from the pattern, arguments str()-ed, UTF-8, quoted ("/" kept).
    ours = minitornado.routing.PathMatches(pattern)
    theirs = tornado.routing.PathMatches(pattern)
    assert ours._find_groups() == theirs._find_groups()
    assert ours.reverse(*args) == theirs.reverse(*args)


@pytest.mark.parametrize("pattern", [r"/\d+/(x)", r"/(a)/\1", r"/a(?:b)/(c)", r"/\((c)"])
def test_unreversible_patterns_raise_value_error(pattern: str) -> None:
    # Scenario: only two things make a pattern unreversible: a backslash before an ASCII
    # letter or digit outside the groups (\d, \1), or a "(" that opens no capturing group.
    ours = minitornado.routing.PathMatches(pattern)
    theirs = tornado.routing.PathMatches(pattern)
    assert ours._find_groups() == theirs._find_groups() == (None, None)
    with pytest.raises(ValueError, match="Cannot reverse url regex"):
        ours.reverse("1")


@pytest.mark.parametrize(
    ("pattern", "template"),
    [(r"/a/(\d+)?", "/a/%s?"), (r"/a+/(x)", "/a+/%s"), (r"/[ab]|c/(x)", "/[ab]|c/%s")],
)
def test_other_regex_syntax_outside_groups_is_copied_like_tornado(
    pattern: str, template: str
) -> None:
    # Scenario: any other regex syntax outside the groups goes into the template as if it
    # were literal text, in both implementations; reverse() then builds a URL with it.
    ours = minitornado.routing.PathMatches(pattern)
    theirs = tornado.routing.PathMatches(pattern)
    assert ours._find_groups() == theirs._find_groups() == (template, 1)
    assert ours.reverse("1") == theirs.reverse("1") == template % "1"


def test_nested_groups_give_a_template_reverse_cannot_fill_like_tornado() -> None:
    # Scenario: a nested group passes the group count check; the template has one %s too
    # few, so reverse() fails with TypeError in both implementations (not ValueError).
    ours = minitornado.routing.PathMatches(r"/a/((x)y)")
    theirs = tornado.routing.PathMatches(r"/a/((x)y)")
    assert ours._find_groups() == theirs._find_groups() == ("/a/%sy)", 2)
    for matcher in (ours, theirs):
        with pytest.raises(TypeError):
            matcher.reverse("1", "2")


def test_host_matches_and_any_matches(impl: Impl) -> None:
    # HostMatches compares host_name (lower case, no port) to a pattern anchored at the end.
    routing = ROUTING[impl]
    matcher = routing.HostMatches(r"www\.example\.com")
    assert matcher.match(request_for(impl, "/", "WWW.example.com:81")) == {}
    assert matcher.match(request_for(impl, "/", "www.example.com.evil")) is None
    assert routing.HostMatches(re.compile("a.*")).match(request_for(impl, "/", "abc")) == {}
    assert routing.AnyMatches().match(request_for(impl, "/")) == {}
    assert routing.Matcher().reverse() is None


# ---- Rule routers served directly ----------------------------------------------------------------


def make_router(web: ModuleType) -> Any:
    impl = web.__name__.split(".")[0]
    routing = ROUTING[impl]
    httputil = HTTPUTIL[impl]

    def plain_callable(request: Any) -> None:
        # The old callable interface: the whole request, answered on its connection.
        body = f"callable {request.method} {request.path} {request.body!r}".encode()
        headers = httputil.HTTPHeaders({"Content-Length": str(len(body))})
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers, body
        )
        request.connection.finish()

    class Delegate(httputil.HTTPMessageDelegate):
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def finish(self) -> None:
            headers = httputil.HTTPHeaders({"Content-Length": "8"})
            self.connection.write_headers(
                httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers, b"delegate"
            )
            self.connection.finish()

    class CustomRouter(routing.Router):
        def find_handler(self, request: Any, **kwargs: Any) -> Any:
            if request.path == "/custom":
                return Delegate(request.connection)
            return None

    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write("app")

    app = web.Application([("/app", Hello)])
    return routing.RuleRouter(
        [
            ("/callable", plain_callable),
            routing.Rule(routing.PathMatches("/app.*"), app),
            (routing.HostMatches("nested.example"), routing.RuleRouter([("/n", plain_callable)])),
            (routing.AnyMatches(), CustomRouter()),
        ]
    )


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with serve_pair(make_router) as served:
        yield served


@pytest.mark.parametrize(
    "raw",
    [
        get("/callable"),
        get("/callable", "Content-Length: 3", method="POST") + b"abc",
        get("/app"),
        get("/app/nothing"),
        get("/n").replace(b"Host: x", b"Host: nested.example"),
        get("/n"),
        get("/custom"),
        get("/nowhere"),
    ],
)
async def test_rule_router_targets(pair: Pair, raw: bytes) -> None:
    # Callables, applications (HTTPServerConnectionDelegates), nested routers and custom
    # routers as targets; a router that finds nothing lets the search continue; with no
    # delegate at all the answer is the bare "404 Not Found".
    ours = await pair.same(raw)
    assert ours.status in (200, 404)


async def test_no_match_is_a_bare_404(pair: Pair) -> None:
    # No headers of its own; the connection frames the empty body (chunked on HTTP/1.1).
    ours = await pair.same(get("/nowhere"))
    assert (
        ours.normalized == b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )


def test_reversible_rule_router_finds_names_in_nested_routers(impl: Impl) -> None:
    # reverse_url looks in its own named rules, then in nested reversible routers.
    routing = ROUTING[impl]
    inner = routing.ReversibleRuleRouter([routing.URLSpec(r"/in/(\d+)", object, name="in")])
    outer = routing.ReversibleRuleRouter(
        [(routing.PathMatches("/x"), object, {}, "x"), (routing.AnyMatches(), inner)]
    )
    assert outer.reverse_url("x") == "/x"
    assert outer.reverse_url("in", 5) == "/in/5"
    assert outer.reverse_url("none") is None


def test_rule_tuples_become_rules_like_tornados() -> None:
    # (pattern, target[, kwargs[, name]]) -> Rule(PathMatches(pattern), ...), same fields.
    for impl in IMPLS:
        rules = ROUTING[impl].RuleRouter([("/a", object), ("/b", object, {"k": 1}, "b")]).rules
        fields = [(r.matcher.regex.pattern, r.target, r.target_kwargs, r.name) for r in rules]
        assert fields == [("/a$", object, {}, None), ("/b$", object, {"k": 1}, "b")]


def test_a_target_given_as_an_import_string_is_refused_when_the_app_is_built() -> None:
    # Left out: Tornado imports a target given as "package.module.Name"; ours raises
    # NotImplementedError naming it, in Application() (or url()), rather than answer 404
    # for ever.
    import tornado.web

    import minitornado.web

    app = tornado.web.Application([("/", "tornado.web.ErrorHandler", {"status_code": 410})])
    assert app.wildcard_router.rules[0].target is tornado.web.ErrorHandler
    with pytest.raises(NotImplementedError, match="import strings"):
        minitornado.web.Application([("/", "minitornado.web.ErrorHandler")])
    with pytest.raises(NotImplementedError, match="import strings"):
        minitornado.web.url("/", "minitornado.web.ErrorHandler")


def test_web_url_is_urlspec() -> None:
    # web.url is routing.URLSpec, with Tornado's regex/handler_class/kwargs/name fields.
    import minitornado.web

    spec = minitornado.web.url(r"/u/(\d+)", object, {"k": 1}, "u")
    assert isinstance(spec, minitornado.routing.URLSpec)
    assert (spec.regex.pattern, spec.handler_class, spec.kwargs, spec.name) == (
        r"/u/(\d+)$",
        object,
        {"k": 1},
        "u",
    )
    assert importlib.import_module("tornado.web").url is tornado.routing.URLSpec
