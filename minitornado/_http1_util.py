"""The small parts of ``http1connection`` that a first reading can skip.

Mirrors: private helpers of tornado/http1connection.py (Tornado 6.6), and
``future_add_done_callback`` from tornado/concurrent.py.

Kept: ``_ExceptionLoggingContext`` (the ``with`` block around every call into the
application's delegate), the bytes that answer a refused request, the formatting of a
response's header block, Tornado's strict integer parsing for ``Content-Length``, and
"run this callback as soon as the Future is done".

Left out: nothing that ``http1connection`` needs; Tornado's other helpers are listed there.

Study path: none of these is a step of its own; step 14 (reading) and step 17 (writing)
call them.
"""

import asyncio
import logging
import types
from collections.abc import Callable
from typing import Any

import h11

from minitornado import _h11_checks, httputil

# What Tornado sends for any malformed request before it closes: no headers, no body.
BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"
# Our answers for the two limits, where Tornado sends nothing (431) or the bare 400 (413).
ANSWER_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Connection: close\r\nContent-Length: 0\r\n\r\n"
)
ANSWER_413 = b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


# Tornado: tornado/http1connection.py::_QuietException
class _QuietException(Exception):
    """A delegate failed; it is logged already, so only the connection must close."""


# Tornado: tornado/http1connection.py::_ExceptionLoggingContext
class _ExceptionLoggingContext:
    """The ``with`` block around each call into a delegate (the application's code).

    An ``HTTPInputError`` passes through: the client's fault, it gets a 400. Anything else
    is logged with its traceback as ``Uncaught exception`` and becomes a
    ``_QuietException``, which closes the connection without a response.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def __enter__(self) -> None:
        pass

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if value is not None and not isinstance(
            value, (httputil.HTTPInputError, asyncio.CancelledError)
        ):
            # A cancellation is no error of the delegate's: it passes through to the loop.
            self.logger.error("Uncaught exception", exc_info=value)
            raise _QuietException


def answer_to_refused(error: Exception, reading_headers: bool) -> bytes:
    """The bytes that answer a request refused with ``error``, before the connection closes."""
    if isinstance(error, _h11_checks.RequestHeaderFieldsTooLarge) or (
        # h11's own limit on a header block that has not fully arrived yet.
        reading_headers
        and isinstance(error, h11.RemoteProtocolError)
        and error.error_status_hint == 431
    ):
        return ANSWER_431
    if isinstance(error, _h11_checks.ContentTooLarge):
        return ANSWER_413
    return BARE_400


def format_header_block(
    start_line: httputil.ResponseStartLine, headers: httputil.HTTPHeaders
) -> bytes:
    """The status line (always ``HTTP/1.1``) and header lines, each ended by CRLF, then CRLF.

    A CR or LF inside any line raises ``ValueError``: it would let a value start a header
    (or a whole response) of its own.
    """
    # As in Tornado, the status line is UTF-8 (a reason "café" goes out as UTF-8) and
    # header lines are latin-1: one byte per character, as HTTP/1.1 defines them.
    status_line = f"HTTP/1.1 {start_line.code} {start_line.reason}"
    lines = [f"{name}: {value}" for name, value in headers.get_all()]
    for line in (status_line, *lines):
        if "\r" in line or "\n" in line:
            raise ValueError(f"Illegal characters (CR or LF) in header: {line!r}")
    header_text = "".join([line + "\r\n" for line in lines])
    return status_line.encode("utf-8") + b"\r\n" + header_text.encode("latin-1") + b"\r\n"


# Tornado: tornado/http1connection.py::parse_int
def parse_int(value: str) -> int:
    """A non-negative decimal integer, ASCII digits only (``int()`` also takes ``" +5"``)."""
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


# Tornado: tornado/concurrent.py::future_add_done_callback
def future_add_done_callback(
    future: asyncio.Future[Any], callback: Callable[[asyncio.Future[Any]], None]
) -> None:
    """Call ``callback(future)`` now if ``future`` is done, else once it is."""
    # asyncio's add_done_callback waits for a loop turn even when the Future is done
    # already; most writes finish at once, and what follows them should too.
    if future.done():
        callback(future)
    else:
        future.add_done_callback(callback)
