"""What a request handler reads: arguments (query and form body) and cookies.

Mirrors: tornado/web.py (Tornado 6.6): the input half of ``RequestHandler``.

``web.RequestHandler`` inherits these methods from ``_RequestInputMixin``; they live here
only to keep web.py short. Call them on the handler, as in Tornado.

``HTTPServerRequest`` has already split the query string and the urlencoded body into
``dict[str, list[bytes]]`` (percent escapes undone, values still bytes). These methods pick a
name's values, decode each one with ``decode_argument`` (UTF-8; bad bytes are a 400), turn
control characters into spaces and strip the result.

Kept: ``get_argument(s)``, ``get_query_argument(s)``, ``get_body_argument(s)`` (the last value
wins; a missing required one raises ``MissingArgumentError``), ``decode_argument``,
``cookies``, ``get_cookie``.

Left out: the XSRF token, ``get_browser_locale``; both in tornado/web.py. (Signed cookies
are read in ``_web_signing.py``.)

Study path (numbers from ``minitornado/__init__.py``): step 16, where ``_execute`` passes
the path arguments through ``decode_argument`` before calling ``get``/``post``.
"""

from __future__ import annotations

import http.cookies
import re
from typing import overload

from minitornado import httputil
from minitornado._web_errors import HTTPError, MissingArgumentError
from minitornado.escape import to_unicode


class _ArgDefault:
    """The type of ``_ARG_DEFAULT``: "no default given, the argument is required"."""


# Tornado: tornado/web.py::_ARG_DEFAULT
_ARG_DEFAULT = _ArgDefault()

# C0 controls except TAB, LF, VT, FF, CR (those become whitespace that strip() may remove).
# Tornado: tornado/web.py::RequestHandler._remove_control_chars_regex
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f]")


class _RequestInputMixin:
    """The argument and cookie readers of ``web.RequestHandler``."""

    request: httputil.HTTPServerRequest

    @overload
    def get_argument(self, name: str, default: str, strip: bool = True) -> str: ...
    @overload
    def get_argument(
        self, name: str, default: _ArgDefault = _ARG_DEFAULT, strip: bool = True
    ) -> str: ...
    @overload
    def get_argument(self, name: str, default: None, strip: bool = True) -> str | None: ...

    # Tornado: tornado/web.py::RequestHandler.get_argument
    def get_argument(
        self, name: str, default: str | _ArgDefault | None = _ARG_DEFAULT, strip: bool = True
    ) -> str | None:
        """The last value of argument ``name``, from the query or the body.

        Without ``default`` the argument is required: a missing one raises
        ``MissingArgumentError`` (a 400 page). With ``default`` (``None`` too) that is returned.
        """
        return self._get_argument(name, default, self.request.arguments, strip)

    # Tornado: tornado/web.py::RequestHandler.get_arguments
    def get_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Every value of argument ``name`` (query values first, then body ones); ``[]``."""
        # A bool check, because get_arguments("x", "default") is a common slip for get_argument.
        assert isinstance(strip, bool)
        return self._get_arguments(name, self.request.arguments, strip)

    @overload
    def get_body_argument(self, name: str, default: str, strip: bool = True) -> str: ...
    @overload
    def get_body_argument(
        self, name: str, default: _ArgDefault = _ARG_DEFAULT, strip: bool = True
    ) -> str: ...
    @overload
    def get_body_argument(self, name: str, default: None, strip: bool = True) -> str | None: ...

    # Tornado: tornado/web.py::RequestHandler.get_body_argument
    def get_body_argument(
        self, name: str, default: str | _ArgDefault | None = _ARG_DEFAULT, strip: bool = True
    ) -> str | None:
        """As ``get_argument``, but only from the form body."""
        return self._get_argument(name, default, self.request.body_arguments, strip)

    # Tornado: tornado/web.py::RequestHandler.get_body_arguments
    def get_body_arguments(self, name: str, strip: bool = True) -> list[str]:
        """As ``get_arguments``, but only from the form body."""
        return self._get_arguments(name, self.request.body_arguments, strip)

    @overload
    def get_query_argument(self, name: str, default: str, strip: bool = True) -> str: ...
    @overload
    def get_query_argument(
        self, name: str, default: _ArgDefault = _ARG_DEFAULT, strip: bool = True
    ) -> str: ...
    @overload
    def get_query_argument(self, name: str, default: None, strip: bool = True) -> str | None: ...

    # Tornado: tornado/web.py::RequestHandler.get_query_argument
    def get_query_argument(
        self, name: str, default: str | _ArgDefault | None = _ARG_DEFAULT, strip: bool = True
    ) -> str | None:
        """As ``get_argument``, but only from the query string."""
        return self._get_argument(name, default, self.request.query_arguments, strip)

    # Tornado: tornado/web.py::RequestHandler.get_query_arguments
    def get_query_arguments(self, name: str, strip: bool = True) -> list[str]:
        """As ``get_arguments``, but only from the query string."""
        return self._get_arguments(name, self.request.query_arguments, strip)

    # Tornado: tornado/web.py::RequestHandler._get_argument
    def _get_argument(
        self,
        name: str,
        default: str | _ArgDefault | None,
        source: dict[str, list[bytes]],
        strip: bool,
    ) -> str | None:
        values = self._get_arguments(name, source, strip)
        if values:
            return values[-1]
        if isinstance(default, _ArgDefault):
            raise MissingArgumentError(name)
        return default

    # Tornado: tornado/web.py::RequestHandler._get_arguments
    def _get_arguments(self, name: str, source: dict[str, list[bytes]], strip: bool) -> list[str]:
        values = []
        for raw in source.get(name, []):
            value = self.decode_argument(raw, name=name)
            # An override may return bytes (to leave the decoding to the handler): those are
            # kept as they are, control characters included, and only stripped.
            if isinstance(value, str):
                value = _CONTROL_CHARS.sub(" ", value)
            values.append(value.strip() if strip else value)
        return values

    # Tornado: tornado/web.py::RequestHandler.decode_argument
    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """Decode one percent-decoded argument or path group; override for another charset.

        ``name`` is the argument's name, or ``None`` for a positional path group. Bytes that
        are not UTF-8 raise ``HTTPError(400)``. An override that returns the bytes as they
        are is allowed, as in Tornado: ``get_argument`` then returns bytes, only stripped.
        A str comes back as it is (a router may pass ``path_args`` as str, as Tornado allows).
        """
        try:
            return to_unicode(value)
        except UnicodeDecodeError:
            raise HTTPError(
                400, "Invalid unicode in {}: {!r}".format(name or "url", value[:40])
            ) from None

    # Tornado: tornado/web.py::RequestHandler.cookies
    @property
    def cookies(self) -> dict[str, http.cookies.Morsel[str]]:
        """The request's cookies (``request.cookies``), as ``Morsel`` objects by name."""
        return self.request.cookies

    @overload
    def get_cookie(self, name: str, default: str) -> str: ...
    @overload
    def get_cookie(self, name: str, default: None = None) -> str | None: ...

    # Tornado: tornado/web.py::RequestHandler.get_cookie
    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        """The value of the request's cookie ``name``, else ``default``.

        Cookies set by this handler with ``set_cookie`` are not seen: they belong to the
        response, and come back with the client's next request.
        """
        cookies = self.request.cookies
        if name in cookies:
            return cookies[name].value
        return default
