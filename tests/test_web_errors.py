"""Error pages, HTTPError/Finish/MissingArgumentError, and how errors are logged, compared
with Tornado 6.6.1: the same raw requests, the same bytes (but Date/Server), the same log lines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from support import IMPLS, Pair, get, is_closed, log_lines, log_records, read_response, serve_pair


def make_app(web: ModuleType, **settings: Any) -> Any:
    RH: Any = web.RequestHandler

    class Boom(RH):
        def get(self) -> None:
            raise ValueError("boom")

    class AsyncBoom(RH):
        async def get(self) -> None:
            raise KeyError("async boom")

    class Raise(RH):
        def get(self, code: str) -> None:
            reason = self.get_argument("reason", None)
            if self.get_argument("log", None):
                raise web.HTTPError(int(code), "logmsg %s", "x", reason=reason)
            raise web.HTTPError(int(code), reason=reason)

    class SendError(RH):
        def get(self) -> None:
            self.write("discarded")
            self.send_error(503)

    class FinishExc(RH):
        def get(self) -> None:
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'Basic realm="x"')
            if self.get_argument("bare", None):
                self.write("buffered")
                raise web.Finish()
            raise web.Finish("nope")

    class Missing(RH):
        def get(self) -> None:
            self.write(self.get_argument("x"))

    class OnlyGet(RH):
        def get(self) -> None:
            self.write("got")

    class CustomPage(RH):
        def get(self) -> None:
            raise web.HTTPError(402)

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            exc = kwargs["exc_info"][1]
            self.write(f"custom {status_code} {type(exc).__name__} {self._reason}")

    class BrokenPage(RH):
        def get(self) -> None:
            raise web.HTTPError(409)

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            self.write("half")
            raise RuntimeError("write_error broke")

    class AfterFlush(RH):
        async def get(self) -> None:
            self.write("a")
            await self.flush()
            raise ValueError("after flush")

    class AfterFinish(RH):
        def get(self) -> None:
            self.finish("done")
            raise ValueError("after finish")

    class Body204(RH):
        def get(self) -> None:
            self.set_status(204)
            self.write("x")

    class Hooks(RH):
        def initialize(self, log: list[str]) -> None:
            self.log = log
            log.append("initialize")

        async def prepare(self) -> None:
            self.log.append("prepare")

        def get(self) -> None:
            self.log.append("get")
            raise web.HTTPError(400)

        def on_finish(self) -> None:
            self.log.append(f"on_finish {self.get_status()}")

    hooks: list[str] = []
    app = web.Application(
        [
            ("/boom", Boom),
            ("/async-boom", AsyncBoom),
            (r"/raise/(\d+)", Raise),
            ("/send-error", SendError),
            ("/finish", FinishExc),
            ("/missing", Missing),
            ("/only-get", OnlyGet),
            ("/custom", CustomPage),
            ("/broken-page", BrokenPage),
            ("/after-flush", AfterFlush),
            ("/after-finish", AfterFinish),
            ("/204-body", Body204),
            ("/hooks", Hooks, {"log": hooks}),
        ],
        **settings,
    )
    app.hooks = hooks
    return app


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with serve_pair(make_app) as served:
        yield served


def page(code: int, reason: str) -> bytes:
    return f"<html><title>{code}: {reason}</title><body>{code}: {reason}</body></html>".encode()


# ---- Error pages ----------------------------------------------------------------------------


async def test_unmatched_path_is_tornados_404_page(pair: Pair) -> None:
    # No route: ErrorHandler's 404 page, 69 bytes, connection kept.
    ours = await pair.same(get("/nope"))
    assert ours.status == 404 and ours.body == page(404, "Not Found")
    assert ours.header("Content-Length") == "69"


@pytest.mark.parametrize(
    "raw",
    [
        get("/only-get", "Content-Length: 0", method="POST"),
        get("/only-get", method="OPTIONS"),
        get("/only-get", method="FOO"),
        get("/only-get", method="get"),
        get("/only-get", method="DELETE"),
        get("/only-get", "Content-Length: 0", method="PUT"),
        get("/only-get", "Content-Length: 0", method="PATCH"),
    ],
)
async def test_undefined_or_unknown_methods_are_405(pair: Pair, raw: bytes) -> None:
    # A method the class lacks, an unknown one, a lowercase one: 405, no Allow header.
    ours = await pair.same(raw)
    assert ours.status == 405 and ours.header("Allow") is None
    assert ours.body == page(405, "Method Not Allowed")


async def test_uncaught_exception_is_a_500_logged_as_tornado_logs_it(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    # ValueError in get(): the 500 page; ERROR "Uncaught exception GET /boom (127.0.0.1)" with
    # the request's repr and a traceback; the access line at ERROR.
    caplog.set_level(logging.INFO)
    ours = await pair.same(get("/boom"))
    assert ours.body == page(500, "Internal Server Error")
    for impl in IMPLS:
        (record,) = log_records(caplog, impl, "application")
        assert record.levelno == logging.ERROR and record.exc_info is not None
        assert record.exc_info[0] is ValueError
    assert log_lines(caplog, "minitornado", "application") == log_lines(
        caplog, "tornado", "application"
    )
    assert log_lines(caplog, "minitornado", "application")[0].startswith(
        "Uncaught exception GET /boom (127.0.0.1)\nHTTPServerRequest(protocol='http', host='x'"
    )
    assert log_lines(caplog, "minitornado", "access") == log_lines(caplog, "tornado", "access")
    assert [r.levelno for r in log_records(caplog, "minitornado", "access")] == [logging.ERROR]


async def test_async_handler_exception_is_a_500(pair: Pair) -> None:
    # The same for an async def handler.
    ours = await pair.same(get("/async-boom"))
    assert ours.status == 500


async def test_serve_traceback_sends_the_traceback_as_text() -> None:
    # serve_traceback=True (and debug=True): text/plain, the traceback ending in the error.
    for settings in ({"serve_traceback": True}, {"debug": True}):
        async with serve_pair(lambda web, s=settings: make_app(web, **s)) as pair:
            ours, theirs = await pair.fetch(get("/boom"))
            for response in (ours, theirs):
                assert response.status == 500
                assert response.header("Content-Type") == "text/plain"
                assert response.body.startswith(b"Traceback (most recent call last):\n")
                assert response.body.endswith(b"ValueError: boom\n")


# ---- HTTPError and reasons ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status_line", "length"),
    [
        ("/raise/418", b"HTTP/1.1 418 I'm a Teapot", "85"),
        ("/raise/599", b"HTTP/1.1 599 Unknown", "65"),
        ("/raise/299", b"HTTP/1.1 299 Unknown", "65"),
        ("/raise/404?reason=Custom%20Reason", b"HTTP/1.1 404 Custom Reason", "77"),
        ("/raise/599?reason=My%20Reason", b"HTTP/1.1 599 My Reason", None),
        ("/raise/400?reason=bad%3Cscript", b"HTTP/1.1 400 Unknown", None),
        ("/raise/400?reason=caf%C3%A9", b"HTTP/1.1 400 caf\xc3\xa9", None),
        ("/raise/400?reason=", b"HTTP/1.1 400 Bad Request", None),
        ("/raise/404?log=1", b"HTTP/1.1 404 Not Found", "69"),
    ],
)
async def test_http_error_status_reason_and_page(
    pair: Pair, path: str, status_line: bytes, length: str | None
) -> None:
    # The reason from http.client.responses, "Unknown", or reason= (checked, escaped in the page).
    ours = await pair.same(get(path))
    assert ours.raw.startswith(status_line + b"\r\n")
    if length is not None:
        assert ours.header("Content-Length") == length


@pytest.mark.parametrize("code", [204, 304])
async def test_http_error_204_304_have_no_body_or_content_type(pair: Pair, code: int) -> None:
    # HTTPError(204/304): status line, Server, Date, nothing else.
    ours = await pair.same(get(f"/raise/{code}"))
    assert [name for name, _ in ours.headers] == ["Server", "Date"]


async def test_http_error_log_message_is_a_warning(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    # HTTPError(404, "logmsg %s", "x") -> WARNING "404 GET /raise/404?log=1 (127.0.0.1): logmsg x".
    caplog.set_level(logging.INFO)
    await pair.same(get("/raise/404?log=1"))
    ours = log_lines(caplog, "minitornado", "general")
    assert ours == log_lines(caplog, "tornado", "general")
    assert ours == ["404 GET /raise/404?log=1 (127.0.0.1): logmsg x"]
    assert log_records(caplog, "minitornado", "general")[0].levelno == logging.WARNING


async def test_http_error_str_and_log_message() -> None:
    # str(), get_message() and the %-doubling log_message property match Tornado's.
    import tornado.web

    import minitornado.web

    for args, kwargs in [
        ((404,), {}),
        ((404, "a %s", "b"), {}),
        ((500, "100%"), {}),
        ((599,), {"reason": "Why"}),
    ]:
        ours = minitornado.web.HTTPError(*args, **kwargs)
        theirs = tornado.web.HTTPError(*args, **kwargs)
        assert str(ours) == str(theirs)
        assert ours.log_message == theirs.log_message
        assert ours.get_message() == theirs.get_message()
    assert (
        str(minitornado.web.MissingArgumentError("x"))
        == "HTTP 400: Bad Request (Missing argument x)"
    )


async def test_send_error_discards_the_buffer(pair: Pair) -> None:
    # send_error(503) replaces what was written with the 503 page.
    ours = await pair.same(get("/send-error"))
    assert ours.body == page(503, "Service Unavailable")


async def test_finish_exception_sends_the_response_as_it_stands(pair: Pair) -> None:
    # raise Finish("nope") after set_status(401): 401 with body "nope", no error page;
    # Finish() with no argument sends what was buffered.
    ours = await pair.same(get("/finish"))
    assert ours.status == 401 and ours.body == b"nope"
    ours = await pair.same(get("/finish?bare=1"))
    assert ours.body == b"buffered"


async def test_missing_argument_is_a_400_logged_as_a_warning(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    # get_argument("x") without x: 400 page; WARNING "400 GET /missing (127.0.0.1): Missing
    # argument x"; the access line at WARNING.
    caplog.set_level(logging.INFO)
    ours = await pair.same(get("/missing"))
    assert ours.status == 400 and ours.header("Content-Length") == "73"
    assert log_lines(caplog, "minitornado", "general") == [
        "400 GET /missing (127.0.0.1): Missing argument x"
    ]
    assert log_lines(caplog, "minitornado", "general") == log_lines(caplog, "tornado", "general")
    assert [r.levelno for r in log_records(caplog, "minitornado", "access")] == [logging.WARNING]


async def test_custom_write_error_gets_exc_info(pair: Pair) -> None:
    # An overridden write_error receives exc_info and the reason is already set.
    ours = await pair.same(get("/custom"))
    assert ours.body == b"custom 402 HTTPError Payment Required"


async def test_write_error_that_raises_is_logged_and_the_response_finished(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    # write_error raising: "Uncaught exception in write_error" is logged, and what it had
    # written goes out.
    caplog.set_level(logging.INFO)
    ours = await pair.same(get("/broken-page"))
    assert ours.status == 409 and ours.body == b"half"
    assert "Uncaught exception in write_error" in log_lines(caplog, "minitornado", "application")
    assert log_lines(caplog, "minitornado", "application") == log_lines(
        caplog, "tornado", "application"
    )


async def test_body_with_204_is_a_500(pair: Pair) -> None:
    # set_status(204) then write: RuntimeError in finish, so the 500 page.
    ours = await pair.same(get("/204-body"))
    assert ours.status == 500


async def test_error_after_finish_is_only_logged(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    # An exception after finish(): the response stands; the exception is logged.
    caplog.set_level(logging.INFO)
    ours = await pair.same(get("/after-finish"))
    assert ours.body == b"done"
    assert log_lines(caplog, "minitornado", "application") == log_lines(
        caplog, "tornado", "application"
    )


async def test_hooks_run_in_order_with_on_finish_after_the_error_page(pair: Pair) -> None:
    # initialize -> prepare -> get (raises 400) -> on_finish, which sees the final status.
    await pair.same(get("/hooks"))
    assert pair.mini.app.hooks == pair.tornado.app.hooks
    assert pair.mini.app.hooks == ["initialize", "prepare", "get", "on_finish 400"]


# ---- An error once the headers are out ---------------------------------------------------------


async def test_error_after_flush_closes_the_connection(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    # Differs on purpose: an exception after flush() cannot become an error page. We close the
    # connection without the last chunk, so the client sees a truncated response; Tornado
    # ends the chunked body normally and keeps the connection, so it looks complete.
    # Both log "Cannot send error response after headers written".
    caplog.set_level(logging.INFO)
    reader, writer = await pair.mini.connect()
    writer.write(get("/after-flush"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Transfer-Encoding: chunked" in head
    rest = await asyncio.wait_for(reader.read(), 2.0)  # until the server closes
    assert rest == b"1\r\na\r\n"  # no 0\r\n\r\n
    assert await is_closed(reader)

    reader, writer = await pair.tornado.connect()
    writer.write(get("/after-flush"))
    theirs = await read_response(reader)
    assert theirs.body == b"1\r\na\r\n0\r\n\r\n"
    assert not await is_closed(reader)

    for impl in IMPLS:
        assert "Cannot send error response after headers written" in log_lines(
            caplog, impl, "general"
        )
