"""The exceptions a request handler raises to answer with an error, or to stop early.

Mirrors: tornado/web.py (Tornado 6.6): ``HTTPError``, ``Finish``, ``MissingArgumentError``.

Import them from ``minitornado.web``, as from ``tornado.web``; they live here only to keep
web.py short. What happens to them is in web.py, beside ``RequestHandler._execute``, which
catches every exception: a ``Finish`` ends the response as it stands; anything else is
logged (``log_exception``) and answered with an error page (``send_error`` ->
``write_error``): an ``HTTPError`` with its status, others with 500.

Kept: the three exceptions with Tornado's arguments, ``log_message`` %-formatting and
``str()``.

Left out: nothing.

Study path (numbers from ``minitornado/__init__.py``): step 16, where ``_execute`` turns
them into responses.
"""

from __future__ import annotations

from typing import Any

from minitornado import httputil


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
