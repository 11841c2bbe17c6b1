"""Application: listen, routing tables, hosts, default handlers, reverse_url, the access log,
and the settings we refuse; compared with Tornado 6.6.1 where behaviour should match.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from support import (
    IMPLS,
    Impl,
    Pair,
    get,
    is_closed,
    log_lines,
    log_records,
    read_response,
    serve_pair,
)


def make_app(web: ModuleType, **settings: Any) -> Any:
    RH: Any = web.RequestHandler

    class Echo(RH):
        def initialize(self, tag: str = "none") -> None:
            self.tag = tag

        def get(self, *args: str, **kwargs: str) -> None:
            self.write(f"{type(self).__name__} tag={self.tag} args={args} kwargs={kwargs}")

    class Reverse(RH):
        def get(self) -> None:
            self.write(
                {
                    "named": self.reverse_url("named", "x y", 42),
                    "plain": self.reverse_url("plain"),
                    "kw": self.application.reverse_url("kw", "a/b"),
                    "host": self.reverse_url("on-host", 5),
                }
            )

    class Fallback(RH):
        def initialize(self, note: str) -> None:
            self.note = note

        def get(self) -> None:
            self.set_status(410)
            self.write(f"fallback {self.note} {self.request.path}")

    class Settings(RH):
        def get(self) -> None:
            self.write({"custom": self.settings.get("custom")})

    app = web.Application(
        [
            ("/", Echo),
            ("/tagged", Echo, {"tag": "t"}),
            (r"/named/([^/]+)/(\d+)", Echo, {}, "named"),
            web.url("/plain", Echo, name="plain"),
            web.url(r"/kw/(?P<key>.+)", Echo, dict(tag="kw"), name="kw"),
            ("/reverse", Reverse),
            ("/settings", Settings),
        ],
        default_host=settings.pop("default_host", None),
        **settings,
    )
    app.add_handlers(r"www\.example\.com", [("/", Echo, {"tag": "www"}), ("/host-only", Echo)])
    app.add_handlers(r".*\.example\.org", [(r"/item/(\d+)", Echo, {"tag": "org"}, "on-host")])
    app.fallback = Fallback
    return app


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with serve_pair(make_app, no_keep_alive=False) as served:
        yield served


# ---- listen -----------------------------------------------------------------------------------


async def test_listen_returns_the_http_server_and_serves(impl: Impl) -> None:
    # app.listen(0, "127.0.0.1", **server_kwargs) builds the HTTPServer with those kwargs
    # (here no_keep_alive) and returns it, already accepting.
    web = impl.web
    httpserver = impl.httpserver
    server = make_app(web).listen(0, "127.0.0.1", no_keep_alive=True)
    try:
        assert isinstance(server, httpserver.HTTPServer)
        (sock,) = server._sockets.values()
        reader, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        writer.write(get("/"))
        response = await read_response(reader)
        assert response.status == 200 and response.header("Connection") == "close"
        assert await is_closed(reader)
        writer.close()
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), 5)


# ---- Routing tables ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/tagged",
        "/named/a%2Fb/7",
        "/plain",
        "/plain/",
        "/kw/x%20y",
        "/named/a/b",
        "/tagged?x=1",
        "/TAGGED",
    ],
)
async def test_rule_forms_and_anchoring(pair: Pair, path: str) -> None:
    # 2-, 3- and 4-tuples and url(); patterns anchored at the end, matched on the path only,
    # case-sensitive; kwargs reach initialize.
    await pair.same(get(path))


@pytest.mark.parametrize(
    ("host", "path", "status"),
    [
        ("www.example.com", "/", 200),
        ("WWW.EXAMPLE.COM:8080", "/", 200),
        ("www.example.com", "/host-only", 200),
        ("other", "/host-only", 404),
        ("other", "/", 200),
        ("a.example.org", "/item/3", 200),
        ("example.org", "/item/3", 404),
    ],
)
async def test_add_handlers_matches_the_host(pair: Pair, host: str, path: str, status: int) -> None:
    # Host rules come first; the host is compared lower-cased and without its port.
    raw = get(path).replace(b"Host: x", f"Host: {host}".encode())
    ours = await pair.same(raw)
    assert ours.status == status


async def test_default_host_serves_unknown_hosts_as_that_host() -> None:
    # default_host="www.example.com": a request for an unknown host gets that host's rules,
    # unless it carries X-Real-Ip.
    async with serve_pair(lambda web: make_app(web, default_host="www.example.com")) as pair:
        ours = await pair.same(get("/host-only").replace(b"Host: x", b"Host: unknown"))
        assert ours.status == 200
        ours = await pair.same(get("/host-only", "X-Real-Ip: 1.2.3.4"))
        assert ours.status == 404


async def test_default_handler_class_and_args() -> None:
    # Unmatched paths go to default_handler_class, built with default_handler_args.
    def make(web: ModuleType) -> Any:
        base = make_app(web)
        return make_app(
            web, default_handler_class=base.fallback, default_handler_args={"note": "n"}
        )

    async with serve_pair(make) as pair:
        ours = await pair.same(get("/nowhere"))
        assert ours.status == 410 and ours.body == b"fallback n /nowhere"


async def test_reverse_url_quotes_arguments(pair: Pair) -> None:
    # reverse_url fills groups with quoted text ("x y" -> "x%20y", "/" kept), on any router.
    import json

    ours = await pair.same(get("/reverse"))
    assert json.loads(ours.body) == {
        "named": "/named/x%20y/42",
        "plain": "/plain",
        "kw": "/kw/a/b",
        "host": "/item/5",
    }


def test_reverse_url_of_an_unknown_name_is_a_key_error(impl: Impl) -> None:
    # reverse_url of a name no rule has: KeyError with Tornado's message.
    app = make_app(impl.web)
    with pytest.raises(KeyError, match="nothing not found in named urls"):
        app.reverse_url("nothing")


async def test_settings_reach_the_handler() -> None:
    # Application keyword settings are handler.settings.
    async with serve_pair(lambda web: make_app(web, custom="yes")) as pair:
        ours = await pair.same(get("/settings"))
        assert ours.body == b'{"custom": "yes"}'


def test_duplicate_names_warn(impl: Impl, caplog: pytest.LogCaptureFixture) -> None:
    # Two rules with one name: a warning, and the later rule wins.
    web = impl.web
    RH: Any = web.RequestHandler
    app = web.Application([web.url("/a", RH, name="n"), web.url("/b", RH, name="n")])
    assert app.reverse_url("n") == "/b"
    assert log_lines(caplog, impl, "application") == [
        "Multiple handlers named n; replacing previous value"
    ]


# ---- The access log ---------------------------------------------------------------------------


async def test_access_log_line_and_level_by_status(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    # "200 GET /tagged?x=1 (127.0.0.1) 0.82ms": INFO below 400, WARNING below 500, else ERROR.
    caplog.set_level(logging.INFO)
    await pair.same(get("/tagged?x=1"))
    await pair.same(get("/missing"))
    ours = log_lines(caplog, "minitornado", "access")
    assert ours == log_lines(caplog, "tornado", "access")
    assert ours == ["200 GET /tagged?x=1 (127.0.0.1) <t>ms", "404 GET /missing (127.0.0.1) <t>ms"]
    levels = [r.levelno for r in log_records(caplog, "minitornado", "access")]
    assert levels == [logging.INFO, logging.WARNING]


async def test_log_function_setting_replaces_the_access_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # log_function is called with the handler; nothing goes to the access logger.
    seen: dict[str, list[Any]] = {impl: [] for impl in IMPLS}

    def make(web: ModuleType) -> Any:
        impl = web.__name__.split(".")[0]
        return make_app(
            web, log_function=lambda h: seen[impl].append((h.get_status(), h.request.uri))
        )

    caplog.set_level(logging.INFO)
    async with serve_pair(make) as pair:
        await pair.same(get("/tagged"))
    assert seen["minitornado"] == seen["tornado"] == [(200, "/tagged")]
    assert log_lines(caplog, "minitornado", "access") == []


# ---- What we refuse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"static_path": "/tmp"},
        {"compress_response": True},
        {"xsrf_cookies": True},
        {"template_path": "/tmp"},
        {"autoreload": True},
        {"transforms": [object]},
    ],
)
def test_settings_of_left_out_features_raise(settings: dict[str, Any]) -> None:
    # Differs on purpose: Tornado honours these; we leave the features out, and refuse the
    # setting rather than silently serve something else.
    import tornado.web

    import minitornado.web

    with pytest.raises(NotImplementedError):
        minitornado.web.Application([], **settings)
    if "transforms" not in settings:
        tornado.web.Application([], **{k: v for k, v in settings.items() if k != "autoreload"})


def test_every_refused_setting_names_its_feature_when_the_app_is_built() -> None:
    # Every setting in _UNSUPPORTED_SETTINGS, switched on: Application() itself raises
    # NotImplementedError naming the left-out feature and the setting (never a 500 at the
    # first request); switched off (False, None), it is accepted, as Tornado accepts it.
    import minitornado.web

    for name, feature in minitornado.web._UNSUPPORTED_SETTINGS.items():
        with pytest.raises(NotImplementedError) as refused:
            minitornado.web.Application([], **{name: "/tmp"})
        assert feature in str(refused.value) and repr(name) in str(refused.value)
        for off in (False, None):
            minitornado.web.Application([], **{name: off})
    with pytest.raises(NotImplementedError, match="output transforms"):
        minitornado.web.Application([], transforms=[object])


def test_find_handler_returns_the_delegate_for_the_route(impl: Impl) -> None:
    # find_handler picks the rule (path groups still bytes, kwargs for initialize); an
    # unmatched path gets ErrorHandler with status_code 404; get_handler_delegate builds one.
    web = impl.web
    httputil = impl.httputil
    app = make_app(web)

    def request(path: str) -> Any:
        start_line = httputil.RequestStartLine("GET", path, "HTTP/1.1")
        return httputil.HTTPServerRequest(
            start_line=start_line, headers=httputil.HTTPHeaders({"Host": "x"})
        )

    delegate = app.find_handler(request("/named/a%20b/7"))
    assert delegate.handler_class.__name__ == "Echo"
    assert (delegate.path_args, delegate.handler_kwargs) == ([b"a b", b"7"], {})
    delegate = app.find_handler(request("/tagged"))
    assert delegate.handler_kwargs == {"tag": "t"}
    delegate = app.find_handler(request("/nowhere"))
    assert delegate.handler_class is web.ErrorHandler
    assert delegate.handler_kwargs == {"status_code": 404}
    built = app.get_handler_delegate(request("/"), web.RedirectHandler, {"url": "/x"})
    assert (built.handler_class, built.handler_kwargs) == (web.RedirectHandler, {"url": "/x"})


def test_public_names_import_from_web_as_from_tornado_web() -> None:
    # The subset's public names are importable from minitornado.web, and each is what
    # tornado.web has under that name (a class for a class, a function for a function).
    import inspect

    import tornado.web

    import minitornado.web

    names = [
        "Application", "RequestHandler", "HTTPError", "Finish", "MissingArgumentError",
        "ErrorHandler", "RedirectHandler", "stream_request_body", "removeslash", "addslash",
        "url", "URLSpec",
    ]  # fmt: skip
    for name in names:
        ours, theirs = getattr(minitornado.web, name), getattr(tornado.web, name)
        assert inspect.isclass(ours) == inspect.isclass(theirs), name
    assert minitornado.web.url is minitornado.web.URLSpec
    assert issubclass(minitornado.web.MissingArgumentError, minitornado.web.HTTPError)
