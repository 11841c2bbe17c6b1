"""The web framework: ``Application`` routes each request to a ``RequestHandler`` subclass.

Mirrors: tornado/web.py (Tornado 6.6)

``Application`` is a router (``routing.ReversibleRouter``), so ``HTTPServer`` hands it every
request. ``find_handler`` matches the path against the rules and returns a
``_HandlerDelegate``, which collects the body and then runs the handler: ``initialize`` ->
``prepare`` -> ``get``/``post``/... -> ``finish``, all in ``RequestHandler._execute``, one
asyncio task per request. ``finish`` adds Etag and Content-Length, writes the status line,
headers and body through the connection (``write_headers``), logs the access line, then
calls ``on_finish``.

Kept: ``Application`` (``listen``, ``add_handlers``, ``find_handler``, ``get_handler_delegate``,
``reverse_url``, ``log_request``; settings ``default_handler_class``/``_args``,
``serve_traceback``, ``debug``, ``log_function``); ``RequestHandler`` (dispatch, hooks, output,
errors with Tornado's error page and log lines, arguments, cookies, Etag/304, redirects,
streaming in both directions);
``ErrorHandler``, ``RedirectHandler``, ``HTTPError``, ``Finish``, ``MissingArgumentError``,
``stream_request_body``, ``removeslash``, ``addslash``, ``url``.

``RequestHandler`` keeps its lifecycle, output and error path here (``_execute`` and,
beside it, how an exception becomes an answer); three mixins, listed as its bases, bring the
rest: ``_web_input.py`` (arguments, cookies read), ``_web_output.py`` (status, headers,
cookies set, Etag) and ``_web_signing.py`` (signed cookies, and the signed values under them:
``create_signed_value``, ``decode_signed_value``). ``_web_errors.py`` holds the exceptions
and ``_web_redirect.py`` the slash decorators and RedirectHandler's URL check. Every public
name is importable from this module.

Left out (all in tornado/web.py): templates (``render``, ``UIModule``, ``template_path``),
static files (``StaticFileHandler``, ``static_path``), output transforms and gzip
(``compress_response``), XSRF and ``cross_origin_protection``, ``current_user``
and ``authenticated``, locales, ``detach``, ``FallbackHandler``, autoreload. The settings that
would switch one of these on raise ``NotImplementedError`` rather than be ignored.

Study path (numbers from ``minitornado/__init__.py``): step 1 (``Application.listen``),
step 15 (``Application.find_handler``), step 16 (``RequestHandler._execute``), step 17
(``RequestHandler.finish`` -> ``flush`` -> ``HTTPConnection.write_headers``).
"""

from __future__ import annotations

import asyncio
import html
import http.cookies
import json
import logging
import socket
import sys
import traceback
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast

import minitornado
from minitornado import httputil, iostream
from minitornado._web_errors import Finish, HTTPError, MissingArgumentError
from minitornado._web_input import _RequestInputMixin
from minitornado._web_output import _http_date_now, _ResponseHeadersMixin
from minitornado._web_redirect import _redirect_target, addslash, removeslash
from minitornado._web_signing import (
    DEFAULT_SIGNED_VALUE_MIN_VERSION as DEFAULT_SIGNED_VALUE_MIN_VERSION,
)
from minitornado._web_signing import (
    DEFAULT_SIGNED_VALUE_VERSION as DEFAULT_SIGNED_VALUE_VERSION,
)
from minitornado._web_signing import (
    MAX_SUPPORTED_SIGNED_VALUE_VERSION as MAX_SUPPORTED_SIGNED_VALUE_VERSION,
)
from minitornado._web_signing import (
    MIN_SUPPORTED_SIGNED_VALUE_VERSION as MIN_SUPPORTED_SIGNED_VALUE_VERSION,
)
from minitornado._web_signing import _SignedCookiesMixin
from minitornado._web_signing import create_signed_value as create_signed_value
from minitornado._web_signing import decode_signed_value as decode_signed_value
from minitornado._web_signing import get_signature_key_version as get_signature_key_version
from minitornado.httpserver import HTTPServer
from minitornado.log import access_log, app_log, gen_log
from minitornado.netutil import _DEFAULT_BACKLOG
from minitornado.routing import (
    AnyMatches,
    DefaultHostMatches,
    HostMatches,
    ReversibleRouter,
    ReversibleRuleRouter,
    Rule,
    URLSpec,
    _RuleList,
)

__all__ = [
    "Application", "ErrorHandler", "Finish", "HTTPError", "MissingArgumentError",
    "RedirectHandler", "RequestHandler", "URLSpec", "addslash", "removeslash",
    "stream_request_body", "url",
]  # fmt: skip

# Tornado: tornado/web.py::url
url = URLSpec

# Tornado sends "TornadoServer/6.6.1"; ours names itself, so the two can be told apart.
SERVER_HEADER = f"minitornado/{minitornado.version}"

# Settings that switch on a part of Tornado minitornado leaves out, and that part. Ignoring
# one would change what the server answers without a word, so the constructor refuses them.
# (Settings that only tune a left-out part, such as static_url_prefix or autoescape, change
# nothing without it, here as in Tornado: they are kept in settings like any other.)
_UNSUPPORTED_SETTINGS = {
    "autoreload": "autoreload",
    "compress_response": "gzip output (output transforms)",
    "gzip": "gzip output (output transforms)",
    "static_path": "static files (StaticFileHandler)",
    "template_path": "templates (render)",
    "template_loader": "templates (render)",
    "xsrf_cookies": "XSRF protection",
    "cross_origin_protection": "cross-origin protection",
    "ui_modules": "UI modules (templates)",
    "ui_methods": "UI methods (templates)",
}


def _left_out(feature: str, switch: str) -> NotImplementedError:
    """The error for ``switch`` (a setting, an argument), which asks for a left-out feature."""
    return NotImplementedError(
        f"minitornado leaves out {feature}, which {switch} switches on "
        "(README.md, 'What runs unchanged', says what to use instead)"
    )


class _ResponseConnection(Protocol):
    """What the handler uses of ``request.connection`` (an ``HTTP1Connection``)."""

    def write_headers(
        self, start_line: httputil.ResponseStartLine, headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]: ...  # fmt: skip
    def write(self, chunk: bytes) -> asyncio.Future[None]: ...
    def finish(self) -> None: ...
    def set_close_callback(self, callback: Callable[[], None] | None) -> None: ...
    def close(self) -> None: ...


# Tornado: tornado/web.py::Application
class Application(ReversibleRouter):
    """A web application: routing rules plus settings. Give it to ``HTTPServer``, or ``listen``.

    ``handlers`` is a list of rules, each a ``url(...)``/``Rule`` or a tuple
    ``(pattern, handler_class[, kwargs[, name]])``. Patterns are regexes anchored at the end
    and matched against the path; the first matching rule wins. A rule's target may also be
    a list of rules, a ``Router``, or any target ``routing.RuleRouter`` accepts.
    ``add_handlers`` adds rules for one host; ``default_host`` names the host to serve a
    request for when no host pattern matches it. An unmatched path gets ``ErrorHandler``'s
    404, or the ``default_handler_class`` setting (with ``default_handler_args``).

    Settings used here: ``default_handler_class``, ``default_handler_args``,
    ``serve_traceback`` (error pages show the traceback), ``debug`` (implies
    ``serve_traceback``), ``log_function`` (replaces ``log_request``). Others are kept in
    ``settings`` for the application's own use.

    Compared with Tornado:
        Left out: ``transforms`` (gzip); ``debug`` turns on ``serve_traceback`` only, not
        autoreload or the template and static caches. The settings of left-out features
        (``static_path``, ``compress_response``, ``xsrf_cookies``, ...) raise
        ``NotImplementedError`` instead of being honoured.
    """

    # Tornado: tornado/web.py::Application.__init__
    def __init__(
        self,
        handlers: _RuleList | None = None,
        default_host: str | None = None,
        transforms: list[Any] | None = None,
        **settings: Any,
    ) -> None:
        if transforms:
            raise _left_out("output transforms (gzip)", "the transforms argument")
        for name, feature in _UNSUPPORTED_SETTINGS.items():
            if settings.get(name):
                raise _left_out(feature, f"the {name!r} setting")
        self.default_host = default_host
        self.settings = settings
        if settings.get("debug"):
            settings.setdefault("serve_traceback", True)
        # Two levels, as in Tornado: host rules (add_handlers) sit in default_router before
        # its last rule, which sends every other request to the host-less rules.
        self.wildcard_router = _ApplicationRouter(self, handlers)
        self.default_router = _ApplicationRouter(self, [Rule(AnyMatches(), self.wildcard_router)])

    # Tornado: tornado/web.py::Application.listen                    (study path, step 1)
    def listen(
        self,
        port: int,
        address: str | None = None,
        *,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
        **kwargs: Any,
    ) -> HTTPServer:
        """Serve this application on ``port``: an ``HTTPServer`` built with ``kwargs``, then
        its ``listen``. Returns the server. Requests are served while the loop runs."""
        server = HTTPServer(self, **kwargs)
        server.listen(
            port, address=address, family=family, backlog=backlog, flags=flags,
            reuse_port=reuse_port,
        )  # fmt: skip
        return server

    # Tornado: tornado/web.py::Application.add_handlers
    def add_handlers(self, host_pattern: str, host_handlers: _RuleList) -> None:
        """Add rules that apply only when the request's host matches ``host_pattern``.

        Host rules are tried in the order they were added, before the host-less rules.
        """
        host_matcher = HostMatches(host_pattern)
        rule = Rule(host_matcher, _ApplicationRouter(self, host_handlers))
        self.default_router.rules.insert(-1, rule)
        if self.default_host is not None:
            self.wildcard_router.add_rules(
                [(DefaultHostMatches(self, host_matcher.host_pattern), host_handlers)]
            )

    # Tornado: tornado/web.py::Application.__call__
    def __call__(self, request: httputil.HTTPServerRequest) -> Awaitable[None] | None:
        """Serve a request whose body is already in (the old callable-server interface)."""
        return self.find_handler(request).execute()

    # Tornado: tornado/web.py::Application.find_handler              (study path, step 15)
    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> _HandlerDelegate:
        route = self.default_router.find_handler(request)
        if route is not None:
            delegate = cast(_HandlerDelegate, route)
        elif self.settings.get("default_handler_class"):
            delegate = self.get_handler_delegate(
                request,
                self.settings["default_handler_class"],
                self.settings.get("default_handler_args", {}),
            )
        else:
            delegate = self.get_handler_delegate(request, ErrorHandler, {"status_code": 404})
        return delegate

    # Tornado: tornado/web.py::Application.get_handler_delegate
    def get_handler_delegate(
        self,
        request: httputil.HTTPServerRequest,
        target_class: type[RequestHandler],
        target_kwargs: dict[str, Any] | None = None,
        path_args: list[bytes] | None = None,
        path_kwargs: dict[str, bytes] | None = None,
    ) -> _HandlerDelegate:
        """The delegate that will run ``target_class`` for ``request``: ``target_kwargs`` go
        to ``initialize``, ``path_args``/``path_kwargs`` (still bytes) to the method."""
        return _HandlerDelegate(self, request, target_class, target_kwargs, path_args, path_kwargs)

    # Tornado: tornado/web.py::Application.reverse_url
    def reverse_url(self, name: str, *args: Any) -> str:
        """The path of the rule named ``name``, its groups filled with ``args`` (converted
        to str, UTF-8, percent-quoted). A name no rule has raises ``KeyError``."""
        reversed_url = self.default_router.reverse_url(name, *args)
        if reversed_url is None:
            raise KeyError(f"{name} not found in named urls")
        return reversed_url

    # Tornado: tornado/web.py::Application.log_request
    def log_request(self, handler: RequestHandler) -> None:
        """Log a finished request on ``minitornado.access``: ``200 GET / (127.0.0.1) 0.82ms``.

        INFO below 400, WARNING below 500, ERROR above. The ``log_function`` setting, if
        given, is called with the handler instead.
        """
        if "log_function" in self.settings:
            self.settings["log_function"](handler)
            return
        status = handler.get_status()
        if status < 400:
            level = logging.INFO
        elif status < 500:
            level = logging.WARNING
        else:
            level = logging.ERROR
        # Unconfigured, Python's logging drops INFO: then there is nothing to format.
        if access_log.isEnabledFor(level):
            request_time = 1000.0 * handler.request.request_time()
            access_log.log(level, "%d %s %.2fms", status, handler._request_summary(), request_time)


# Tornado: tornado/web.py::_ApplicationRouter
class _ApplicationRouter(ReversibleRuleRouter):
    """The rule router inside ``Application``: ``RequestHandler`` classes are targets too,
    and a list of rules as a target becomes a nested router."""

    def __init__(self, application: Application, rules: _RuleList | None = None) -> None:
        self.application = application
        super().__init__(rules)

    # Tornado: tornado/web.py::_ApplicationRouter.process_rule
    def process_rule(self, rule: Rule) -> Rule:
        rule = super().process_rule(rule)
        if isinstance(rule.target, (list, tuple)):
            rule.target = _ApplicationRouter(self.application, rule.target)
        return rule

    # Tornado: tornado/web.py::_ApplicationRouter.get_target_delegate
    def get_target_delegate(
        self, target: Any, request: httputil.HTTPServerRequest, **target_params: Any
    ) -> httputil.HTTPMessageDelegate | None:
        if isinstance(target, type) and issubclass(target, RequestHandler):
            return self.application.get_handler_delegate(request, target, **target_params)
        return super().get_target_delegate(target, request, **target_params)


# Tornado: tornado/web.py::_HandlerDelegate
class _HandlerDelegate(httputil.HTTPMessageDelegate):
    """Receives one routed request from the connection and runs its handler.

    Usually the body is collected and the handler starts in ``finish``. For a
    ``@stream_request_body`` handler it starts at ``headers_received``, and each piece of
    body goes straight to its ``data_received``.
    """

    def __init__(
        self,
        application: Application,
        request: httputil.HTTPServerRequest,
        handler_class: type[RequestHandler],
        handler_kwargs: dict[str, Any] | None,
        path_args: list[bytes] | None,
        path_kwargs: dict[str, bytes] | None,
    ) -> None:
        self.application = application
        self.request = request
        self.handler_class = handler_class
        self.handler_kwargs = handler_kwargs or {}
        self.path_args = path_args or []
        self.path_kwargs = path_kwargs or {}
        # One growing buffer, not Tornado's list of pieces. malloc gives a large buffer a
        # memory mapping of its own, returned to the system when freed; a 40 MB body in
        # 64 KiB pieces would go on the heap instead, among long-lived objects, and a heap
        # cannot shrink below the last of those: the process would keep the memory
        # (tests/test_circlerefs.py measures it).
        self.chunks = bytearray()
        self.stream_request_body = handler_class._stream_request_body

    # Tornado: tornado/web.py::_HandlerDelegate.headers_received
    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        """Called by the connection. Streaming: start the handler now, and make the
        connection wait for its ``prepare`` before it reads the body."""
        if self.stream_request_body:
            self.request._body_future = asyncio.get_running_loop().create_future()
            return self.execute()
        return None

    # Tornado: tornado/web.py::_HandlerDelegate.data_received
    def data_received(self, data: bytes) -> Awaitable[None] | None:
        if self.stream_request_body:
            return self.handler.data_received(data)
        self.chunks += data
        return None

    # Tornado: tornado/web.py::_HandlerDelegate.finish
    def finish(self) -> None:
        """Called by the connection once the body is in: run the handler (or, streaming,
        let its method run)."""
        if self.stream_request_body:
            if not self.request._body_future.done():
                self.request._body_future.set_result(None)
        else:
            # The body is parsed into arguments in _execute, where a bad one becomes a 400.
            self.request.body = bytes(self.chunks)
            self.chunks = bytearray()  # copied: free it now, not once the response is done
            self.execute()

    # Tornado: tornado/web.py::_HandlerDelegate.on_connection_close
    def on_connection_close(self) -> None:
        if self.stream_request_body:
            self.handler.on_connection_close()
        else:
            self.chunks = bytearray()

    # Tornado: tornado/web.py::_HandlerDelegate.execute                (study path, step 16)
    def execute(self) -> Awaitable[None] | None:
        """Make the handler and start ``_execute`` as its own task.

        Returns, when streaming, the future the connection waits on before reading the body.
        """
        self.handler = self.handler_class(self.application, self.request, **self.handler_kwargs)
        if self.stream_request_body:
            self.handler._prepared_future = asyncio.get_running_loop().create_future()
        # Held here so the task cannot be garbage-collected while it waits on something
        # nothing else references.
        self.task = asyncio.get_running_loop().create_task(
            self.handler._execute(*self.path_args, **self.path_kwargs)
        )
        return self.handler._prepared_future


# Tornado: tornado/web.py::RequestHandler
class RequestHandler(_RequestInputMixin, _ResponseHeadersMixin, _SignedCookiesMixin):
    """Answers one request: subclass it and define ``get``, ``post``, and so on.

    One instance is made per request, by the ``Application``. Override ``initialize`` (it
    receives the route's keyword arguments) rather than ``__init__``. Handler methods and
    ``prepare`` may be ``async def``. A method the class does not define answers 405.

    Compared with Tornado:
        Same: the hooks, their order, and the bytes of every response, but for the
        ``Server`` header.
        Simplified: ``_execute`` takes no output transforms.
        Left out: ``render`` and templates, ``current_user``, ``locale``, XSRF,
        ``static_url``, ``detach``.
        Differs on purpose: ``Server: minitornado/<version>``; an error raised after the
        headers were flushed closes the connection (see ``send_error``); a control
        character in a header name raises at ``set_header`` (see there); a streaming
        upload cut short by its client makes no reference cycle (Tornado's keeps the
        handler alive until the garbage collector runs; tests/test_circlerefs.py).
    """

    # Tornado: tornado/web.py::RequestHandler.SUPPORTED_METHODS
    SUPPORTED_METHODS: tuple[str, ...] = (
        "GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS",
    )  # fmt: skip

    _stream_request_body = False  # set by @stream_request_body
    path_args: list[str]
    path_kwargs: dict[str, str]

    # Tornado: tornado/web.py::RequestHandler.__init__
    def __init__(
        self, application: Application, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> None:
        self.application = application
        self.request = request
        self._headers_written = False
        self._finished = False
        self._auto_finish = True
        self._new_cookie: http.cookies.SimpleCookie | None = None
        # Streaming uploads: resolved once prepare() is done, so the body may be read.
        self._prepared_future: asyncio.Future[None] | None = None
        self.clear()
        self._connection = cast(_ResponseConnection, request.connection)
        self._connection.set_close_callback(self.on_connection_close)
        self.initialize(**kwargs)

    # Tornado: tornado/web.py::RequestHandler._initialize
    def _initialize(self) -> None:
        pass

    # A Callable attribute rather than a method, so subclasses may give it any signature.
    # Tornado: tornado/web.py::RequestHandler.initialize
    initialize: Callable[..., None] = _initialize
    """Hook: receives the route's keyword arguments (the dict in ``(pattern, cls, dict)``).
    Called for every request, before ``prepare``."""

    # Tornado: tornado/web.py::RequestHandler.settings
    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings (``self.application.settings``)."""
        return self.application.settings

    # Tornado: tornado/web.py::RequestHandler._unimplemented_method
    def _unimplemented_method(self, *args: str, **kwargs: str) -> None:
        raise HTTPError(405)

    # Tornado: tornado/web.py::RequestHandler.head (this marker covers the six below too)
    head: Callable[..., Awaitable[None] | None] = _unimplemented_method
    get: Callable[..., Awaitable[None] | None] = _unimplemented_method
    post: Callable[..., Awaitable[None] | None] = _unimplemented_method
    delete: Callable[..., Awaitable[None] | None] = _unimplemented_method
    patch: Callable[..., Awaitable[None] | None] = _unimplemented_method
    put: Callable[..., Awaitable[None] | None] = _unimplemented_method
    options: Callable[..., Awaitable[None] | None] = _unimplemented_method

    # Tornado: tornado/web.py::RequestHandler.prepare
    def prepare(self) -> Awaitable[None] | None:
        """Hook: runs before the method, whatever the method; may be ``async def``.

        If it finishes the response (``finish``, ``redirect``, ``send_error``), the method
        is not called.
        """
        return None

    # Tornado: tornado/web.py::RequestHandler.on_finish
    def on_finish(self) -> None:
        """Hook: runs once the response has been handed to the connection. It may not write."""

    # Tornado: tornado/web.py::RequestHandler.on_connection_close
    def on_connection_close(self) -> None:
        """Hook: the client closed the connection before the response was finished.

        The default ends a streaming upload: the handler method is then not called.
        """
        if self._stream_request_body and not self.request._body_future.done():
            self.request._body_future.set_exception(iostream.StreamClosedError())
            self.request._body_future.exception()  # retrieved: nobody else may be waiting

    # Tornado: tornado/web.py::RequestHandler.clear
    def clear(self) -> None:
        """Reset the response: status 200, the default headers, an empty body.

        ``send_error`` calls it before the error page; cookies set so far are kept.
        """
        headers = httputil.HTTPHeaders()
        headers["Server"] = SERVER_HEADER
        headers["Content-Type"] = "text/html; charset=UTF-8"
        headers["Date"] = _http_date_now()
        self._headers = headers
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = "OK"

    # Tornado: tornado/web.py::RequestHandler.set_default_headers
    def set_default_headers(self) -> None:
        """Hook: set headers every response should carry, error pages included."""

    # ---- Output -------------------------------------------------------------------------------

    # Tornado: tornado/web.py::RequestHandler.write
    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        """Buffer ``chunk`` for the response body; nothing is sent before ``flush``/``finish``.

        A str is sent as UTF-8. A dict is sent as JSON (``</`` escaped so it can sit in a
        ``<script>``) and sets ``Content-Type: application/json; charset=UTF-8``. Anything
        else, a list in particular (JSON arrays could be read cross-site), is a TypeError.
        """
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        elif isinstance(chunk, dict):
            chunk = json.dumps(chunk).replace("</", "<\\/").encode("utf-8")
            self.set_header("Content-Type", "application/json; charset=UTF-8")
        elif not isinstance(chunk, bytes):
            message = "write() only accepts bytes, unicode, and dict objects"
            if isinstance(chunk, list):
                message += (
                    ". Lists not accepted for security reasons; see "
                    "http://www.tornadoweb.org/en/stable/web.html"
                    "#tornado.web.RequestHandler.write"
                )
            raise TypeError(message)
        self._write_buffer.append(chunk)

    # Tornado: tornado/web.py::RequestHandler.flush                   (study path, step 17)
    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        """Send what is buffered. The first call sends the status line and headers too.

        After a first ``flush`` the headers are fixed and the body streams: chunked to an
        HTTP/1.1 client, close-delimited to HTTP/1.0. The future resolves once the bytes
        are written. A HEAD response sends headers only.

        Compared with Tornado:
            Left out: ``include_footers`` is accepted and ignored (it is for output
            transforms, left out).
        """
        chunk = b"".join(self._write_buffer)
        self._write_buffer = []
        if not self._headers_written:
            self._headers_written = True
            if self.request.method == "HEAD":
                chunk = b""
            # Cookies wait in a SimpleCookie until now, so a later set_cookie can replace them.
            if self._new_cookie is not None:
                for morsel in self._new_cookie.values():
                    self.add_header("Set-Cookie", morsel.OutputString(None))
            start_line = httputil.ResponseStartLine("", self._status_code, self._reason)
            return self._connection.write_headers(start_line, self._headers, chunk)
        if self.request.method != "HEAD":
            return self._connection.write(chunk)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    # Tornado: tornado/web.py::RequestHandler.finish                  (study path, step 17)
    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        """End the response: write ``chunk`` if given, send everything, log, ``on_finish``.

        If nothing was flushed yet, a 200 to GET/HEAD gets an ``Etag`` and becomes a bodiless
        304 when the request's ``If-None-Match`` matches; 1xx/204/304 lose their
        Content-Type (a body with them is a RuntimeError); others get ``Content-Length``.
        Called for you after the handler method returns. Calling it twice is a RuntimeError.
        """
        if self._finished:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        if not self._headers_written:
            self._complete_headers()
        # The connection must not call on_connection_close once the response is complete.
        self._connection.set_close_callback(None)
        future = self.flush(include_footers=True)
        self._connection.finish()
        self._log()
        self._finished = True
        self.on_finish()
        return future

    def _complete_headers(self) -> None:
        """The headers ``finish`` adds when the whole body is known: Etag (or a 304 instead)
        and Content-Length."""
        if (
            self._status_code == 200
            and self.request.method in ("GET", "HEAD")
            and "Etag" not in self._headers
        ):
            self.set_etag_header()
            if self.check_etag_header():
                self._write_buffer = []
                self.set_status(304)
        if self._status_code in (204, 304) or 100 <= self._status_code < 200:
            # RFC 9110 §15.3.5, §15.4.5: these responses have no body, so nothing describes one.
            if self._write_buffer:
                raise RuntimeError(f"Cannot send body with status code HTTP{self._status_code}")
            self._clear_representation_headers()
        elif "Content-Length" not in self._headers:
            self._headers["Content-Length"] = str(sum(map(len, self._write_buffer)))

    def _abort(self) -> None:
        """Drop a response whose headers are out: close the connection, log, ``on_finish``."""
        self._connection.set_close_callback(None)
        self._connection.close()
        self._log()
        self._finished = True
        self.on_finish()

    # Tornado: tornado/web.py::RequestHandler.redirect
    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Answer with a redirect to ``url`` (kept as given, relative or not) and finish.

        ``status`` (300-399) wins over ``permanent`` (301), which wins over the default 302.
        """
        if self._headers_written:
            raise Exception("Cannot redirect after headers have been written")
        if status is None:
            status = 301 if permanent else 302
        else:
            assert isinstance(status, int) and 300 <= status <= 399
        self.set_status(status)
        self.set_header("Location", url.encode("utf-8"))  # bytes: UTF-8 reaches the wire
        self.finish()

    # Tornado: tornado/web.py::RequestHandler.reverse_url
    def reverse_url(self, name: str, *args: Any) -> str:
        """``self.application.reverse_url(name, *args)``."""
        return self.application.reverse_url(name, *args)

    # ---- Running the request (step 16) ------------------------------------------------------

    # Tornado: tornado/web.py::RequestHandler._execute                 (study path, step 16)
    async def _execute(self, *args: bytes, **kwargs: bytes) -> None:
        """Run the request: checks, ``prepare``, the method, ``finish``. Errors become pages.

        ``args``/``kwargs`` are the route's path groups, still bytes.
        """
        try:
            if self.request.method not in self.SUPPORTED_METHODS:
                raise HTTPError(405)
            if not self._stream_request_body:
                try:
                    self.request._parse_body()
                except httputil.HTTPInputError as e:
                    raise HTTPError(400, f"Invalid body: {e}") from e
            # An optional group that did not take part is None, and stays None.
            self.path_args = [self.decode_argument(a) if a is not None else a for a in args]
            self.path_kwargs = {
                k: self.decode_argument(v, name=k) if v is not None else v
                for k, v in kwargs.items()
            }
            result = self.prepare()
            if result is not None:
                await result
            if self._prepared_future is not None and not self._prepared_future.done():
                self._prepared_future.set_result(None)  # the body may now be read
            if self._finished:
                return  # prepare() answered
            if self._stream_request_body:
                try:
                    await self.request._body_future
                except iostream.StreamClosedError as e:
                    # The client left before the body was complete. The request's Future
                    # keeps this error, whose traceback would keep this frame, and so the
                    # handler and the request: a reference cycle.
                    e.__traceback__ = None
                    return
            method = getattr(self, self.request.method.lower())
            result = method(*self.path_args, **self.path_kwargs)
            if result is not None:
                await result
            if self._auto_finish and not self._finished:
                self.finish()
        except (Exception, asyncio.CancelledError) as e:
            self._on_execute_error(e)
        finally:
            # Even when prepare() failed, the connection must not wait for it forever.
            if self._prepared_future is not None and not self._prepared_future.done():
                self._prepared_future.set_result(None)

    # ---- When the request fails: from an exception to an answer (step 16) -------------------

    # Tornado: tornado/web.py::RequestHandler._execute (its except clause, split out)
    def _on_execute_error(self, e: BaseException) -> None:
        """``_execute``'s except clause: answer for ``e``; only our own cancellation goes on.

        Compared with Tornado:
            Same: a cancelled handler task still answers 500, unlogged, then re-raises.
            On Python 3.10 (no ``Task.cancelling()``; Tornado 6.6 needs 3.11) every
            CancelledError counts as the task's own.
        """
        if isinstance(e, asyncio.CancelledError) and _own_task_cancelled():
            # Our own task is being cancelled (a server shutting down, say): not an error to
            # log, but the client still gets an answer; then the cancellation goes on.
            if not self._finished:
                try:
                    self.send_error(500)
                except Exception:
                    app_log.error("Exception in exception handler", exc_info=True)
            raise e
        try:
            self._handle_request_exception(e)
        except Exception:
            app_log.error("Exception in exception handler", exc_info=True)

    # Tornado: tornado/web.py::RequestHandler._handle_request_exception
    def _handle_request_exception(self, e: BaseException) -> None:
        """Answer for an exception the handler raised: log it, then the error page.

        Compared with Tornado:
            Differs on purpose: a ``StreamClosedError`` raised because the client left (an
            ``await self.flush()`` after the connection closed) is not logged at ERROR,
            and no error page is attempted: the client is gone, not the server broken.
            ``on_connection_close`` has run; the access line is logged as usual. Tornado
            logs it as ``Uncaught exception``, then ``Cannot send error response after
            headers written``, both at ERROR (tests/test_disconnects.py).
        """
        if isinstance(e, Finish):
            if not self._finished:
                self.finish(*e.args)
            return
        if isinstance(e, iostream.StreamClosedError) and self._client_left():
            if not self._finished:
                self._abort()
            return
        try:
            self.log_exception(*sys.exc_info())
        except Exception:
            # The client must still get an answer, so a broken logger is only logged.
            app_log.error("Error in exception logger", exc_info=True)
        if self._finished:
            return  # the error came after the response: logging it is all we can do
        status = e.status_code if isinstance(e, HTTPError) else 500
        self.send_error(status, exc_info=sys.exc_info())

    def _client_left(self) -> bool:
        """Whether the request's connection is closed (the client hung up)."""
        stream = getattr(self.request.connection, "stream", None)
        return isinstance(stream, iostream.IOStream) and stream.closed()

    # Tornado: tornado/web.py::RequestHandler.log_exception
    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Log an exception that ended the request; override to log differently.

        An ``HTTPError`` with a log message: one WARNING line on the general logger,
        ``404 GET /x (127.0.0.1): message``. Any other exception: ERROR with the traceback
        on the application logger, ``Uncaught exception GET /x (127.0.0.1)`` + the request.
        """
        if isinstance(value, HTTPError):
            log_message = value.get_message()
            if log_message:
                gen_log.warning(
                    "%d %s: %s", value.status_code, self._request_summary(), log_message
                )
        else:
            app_log.error(
                "Uncaught exception %s\n%r",
                self._request_summary(),
                self.request,
                exc_info=(typ, value, tb),  # type: ignore[arg-type]
            )

    # Tornado: tornado/web.py::RequestHandler.send_error
    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Replace whatever was buffered with the error page for ``status_code``, and finish.

        ``kwargs`` go to ``write_error``; ``reason=`` sets the reason phrase, and so does the
        ``reason`` of an ``HTTPError`` in ``exc_info``.

        Compared with Tornado:
            Differs on purpose: once the headers have been flushed no error page is
            possible; we then close the connection without ending the body, so the client
            sees that the response is incomplete. Tornado ends the body normally (chunked:
            ``0\\r\\n\\r\\n``) and keeps the connection, so a truncated response looks whole.
        """
        if self._headers_written:
            gen_log.error("Cannot send error response after headers written")
            if not self._finished:
                self._abort()
            return
        self.clear()
        reason = kwargs.get("reason")
        if "exc_info" in kwargs:
            exception = kwargs["exc_info"][1]
            if isinstance(exception, HTTPError) and exception.reason:
                reason = exception.reason
        self.set_status(status_code, reason=reason)
        try:
            if status_code != 304:
                self.write_error(status_code, **kwargs)
        except Exception:
            app_log.error("Uncaught exception in write_error", exc_info=True)
        if not self._finished:
            self.finish()

    # Tornado: tornado/web.py::RequestHandler.write_error
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Write the error page; override for your own. ``send_error`` calls it.

        The page is ``<html><title>404: Not Found</title><body>404: Not Found</body></html>``
        (the reason HTML-escaped). With the ``serve_traceback`` setting and an exception in
        ``kwargs["exc_info"]``, the traceback is sent as text/plain instead. 1xx/204/304 get
        no body.
        """
        if status_code in (204, 304) or 100 <= status_code < 200:
            self.finish()
        elif self.settings.get("serve_traceback") and "exc_info" in kwargs:
            self.set_header("Content-Type", "text/plain")
            for line in traceback.format_exception(*kwargs["exc_info"]):
                self.write(line)
            self.finish()
        else:
            message = html.escape(self._reason)
            self.finish(
                f"<html><title>{status_code}: {message}</title>"
                f"<body>{status_code}: {message}</body></html>"
            )

    # Tornado: tornado/web.py::RequestHandler.data_received
    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """With ``@stream_request_body``: called with each piece of the request body, after
        ``prepare``. May be ``async def``: the next piece is not read until it is done."""
        raise NotImplementedError()

    # Tornado: tornado/web.py::RequestHandler._log
    def _log(self) -> None:
        self.application.log_request(self)

    # Tornado: tornado/web.py::RequestHandler._request_summary
    def _request_summary(self) -> str:
        return f"{self.request.method} {self.request.uri} ({self.request.remote_ip})"


def _own_task_cancelled() -> bool:
    """Whether the running task itself is being cancelled (rather than something it awaited).

    ``Task.cancelling()`` is new in Python 3.11; on 3.10 every CancelledError counts as ours.
    """
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    return cancelling is None or cancelling() > 0


_HandlerType = TypeVar("_HandlerType", bound=type[RequestHandler])


# Tornado: tornado/web.py::stream_request_body
def stream_request_body(cls: _HandlerType) -> _HandlerType:
    """Class decorator: hand the request body to ``data_received`` piece by piece.

    ``prepare`` runs as soon as the headers are in (it may raise the body limits with
    ``request.connection.set_max_body_size``); then ``data_received`` gets each piece; the
    method (``post``, ``put``...) runs once the body is complete. ``request.body`` stays
    empty, and there are no body arguments.
    """
    if not (isinstance(cls, type) and issubclass(cls, RequestHandler)):
        raise TypeError(f"expected subclass of RequestHandler, got {cls!r}")
    cls._stream_request_body = True
    return cls


# Tornado: tornado/web.py::ErrorHandler
class ErrorHandler(RequestHandler):
    """Answers every request with the error page for ``status_code`` (the 404 of unmatched
    paths)."""

    # Tornado: tornado/web.py::ErrorHandler.initialize
    def initialize(self, status_code: int) -> None:
        self.set_status(status_code)

    # Tornado: tornado/web.py::ErrorHandler.prepare
    def prepare(self) -> None:
        raise HTTPError(self._status_code)


# Tornado: tornado/web.py::RedirectHandler
class RedirectHandler(RequestHandler):
    """Redirects GET requests to ``url`` (301, or 302 with ``permanent=False``).

    ``url`` is a ``str.format`` template filled with the route's groups:
    ``(r"/(.*?)/(.*?)/(.*)", RedirectHandler, {"url": "/{1}/{0}/{2}"})`` sends ``/a/b/c`` to
    ``/b/a/c``. The request's query arguments are appended. A substitution may not change
    the scheme or host of the template (a 400 instead of an open redirect).
    """

    # Tornado: tornado/web.py::RedirectHandler.initialize
    def initialize(self, url: str, permanent: bool = True) -> None:
        self._url = url
        self._permanent = permanent

    # Tornado: tornado/web.py::RedirectHandler.get
    def get(self, *args: Any, **kwargs: Any) -> None:
        to_url = _redirect_target(self._url, args, kwargs, self.request.query_arguments)
        self.redirect(to_url, permanent=self._permanent)
