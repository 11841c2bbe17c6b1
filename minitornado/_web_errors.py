"""When a request handler fails: the exceptions it raises, and how they become answers.

Mirrors: tornado/web.py (Tornado 6.6): ``HTTPError``, ``Finish``, ``MissingArgumentError``, and
the error half of ``RequestHandler`` (``send_error``, ``write_error``, ``log_exception``).

Import the exceptions from ``minitornado.web``, as from ``tornado.web``; ``web.RequestHandler``
inherits the methods from ``_ErrorResponseMixin``. They live here only to keep web.py short.
``RequestHandler._execute`` catches every exception: a ``Finish`` ends the response as it
stands; anything else is logged (``log_exception``) and answered with an error page
(``send_error`` -> ``write_error``): an ``HTTPError`` with its status, others with 500.

Kept: the three exceptions with Tornado's arguments, ``log_message`` %-formatting and
``str()``; the error page byte for byte, the ``serve_traceback`` text/plain traceback, the log
lines and levels.

Left out: nothing.

Study path (numbers from ``minitornado/__init__.py``): step 16, where ``_execute`` turns
them into responses.
"""

from __future__ import annotations

import asyncio
import html
import sys
import traceback
from types import TracebackType
from typing import TYPE_CHECKING, Any

from minitornado import httputil, iostream
from minitornado._web_output import _ResponseHeadersMixin
from minitornado.log import app_log, gen_log


# Tornado: tornado/web.py::HTTPError
class HTTPError(Exception):
    """Raise it in a handler to answer with ``status_code`` and the standard error page.

    ``log_message`` goes to the log (WARNING, with the request), never to the client; it
    may hold ``%s`` placeholders filled from ``args``. ``reason`` replaces the standard
    reason phrase in the status line and the page (``set_status`` checks it). Override
    ``RequestHandler.write_error`` to change the page.

    Compared with Tornado:
        Same: the arguments, ``str()`` (``HTTP 404: Not Found (log message)``).
        Simplified: ``reason`` is a declared keyword-only argument, not picked out of
        ``**kwargs`` (other keywords are a TypeError here, ignored by Tornado).
    """

    # Tornado: tornado/web.py::HTTPError.__init__
    def __init__(
        self,
        status_code: int = 500,
        log_message: str | None = None,
        *args: Any,
        reason: str | None = None,
    ) -> None:
        self.status_code = status_code
        self._log_message = log_message
        self.args = args
        self.reason = reason

    # Tornado: tornado/web.py::HTTPError.log_message
    @property
    def log_message(self) -> str | None:
        """The message as given, with ``%`` doubled when there are no ``args`` (so code that
        formats it once more, as old Tornado did, prints it unchanged)."""
        if self._log_message and not self.args:
            return self._log_message.replace("%", "%%")
        return self._log_message

    # Tornado: tornado/web.py::HTTPError.get_message
    def get_message(self) -> str | None:
        """The log message with ``args`` filled in."""
        if self._log_message and self.args:
            return self._log_message % self.args
        return self._log_message

    # Tornado: tornado/web.py::HTTPError.__str__
    def __str__(self) -> str:
        reason = self.reason or httputil.responses.get(self.status_code, "Unknown")
        message = f"HTTP {self.status_code}: {reason}"
        log_message = self.get_message()
        return f"{message} ({log_message})" if log_message else message


# Tornado: tornado/web.py::Finish
class Finish(Exception):
    """Raise it to end the request without an error page.

    The response goes out as the handler left it (status, headers, buffered body);
    ``Finish(chunk)`` first writes ``chunk``, as ``finish(chunk)`` does. ``write_error`` is
    not called and nothing is logged but the access line.
    """


# Tornado: tornado/web.py::MissingArgumentError
class MissingArgumentError(HTTPError):
    """Raised by ``get_argument`` and friends for a required argument that is absent: a 400,
    logged as ``Missing argument <name>``."""

    # Tornado: tornado/web.py::MissingArgumentError.__init__
    def __init__(self, arg_name: str) -> None:
        super().__init__(400, f"Missing argument {arg_name}")
        self.arg_name = arg_name


class _ErrorResponseMixin(_ResponseHeadersMixin):
    """The error path of ``web.RequestHandler``: from an exception to the error page."""

    _headers_written: bool
    _finished: bool

    if TYPE_CHECKING:  # defined by web.RequestHandler

        @property
        def settings(self) -> dict[str, Any]: ...
        def clear(self) -> None: ...
        def write(self, chunk: str | bytes | dict[str, Any]) -> None: ...
        def finish(
            self, chunk: str | bytes | dict[str, Any] | None = None
        ) -> asyncio.Future[None]: ...
        def _abort(self) -> None: ...
        def _request_summary(self) -> str: ...

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

    def _on_execute_error(self, e: BaseException) -> None:
        """``_execute``'s except clause: answer for the error, without raising a new one."""
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


def _own_task_cancelled() -> bool:
    """Whether the running task itself is being cancelled (rather than something it awaited).

    ``Task.cancelling()`` is new in Python 3.11; on 3.10 every CancelledError counts as ours.
    """
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    return cancelling is None or cancelling() > 0
