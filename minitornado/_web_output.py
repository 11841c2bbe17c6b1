"""What a request handler sets on its response before it is sent: status, headers,
cookies, Etag.

Mirrors: tornado/web.py (Tornado 6.6): the header half of ``RequestHandler``.

``web.RequestHandler`` inherits these methods from ``_ResponseHeadersMixin``; they live here
only to keep web.py short. Call them on the handler, as in Tornado. Nothing here writes to
the network: the status and headers wait in the handler until the first ``flush()``.

Kept: ``set_status`` with Tornado's reason-phrase rules, ``get_status``, ``set_header``,
``add_header``, ``clear_header`` (values converted and checked as Tornado does),
``set_cookie`` (path, domain, expires, expires_days, max_age, secure, httponly, samesite),
``clear_cookie``, ``clear_all_cookies`` (deprecated in Tornado 6.3, kept for the apps that
call it), ``compute_etag`` / ``set_etag_header`` / ``check_etag_header``.

Left out: ``set_cookie``'s deprecated case-insensitive ``**kwargs`` (tornado/web.py). (Signed
cookies are set in ``_web_signing.py``.)

Study path (numbers from ``minitornado/__init__.py``): step 17, ``RequestHandler.finish``
calls ``set_etag_header`` / ``check_etag_header`` before the headers go out.
"""

from __future__ import annotations

import datetime
import hashlib
import http.cookies
import re
import time
from typing import Any

from minitornado import httputil

# RFC 9110 §5.5: a field value is HTAB, SP, visible ASCII or obs-text. No CR, LF or other
# control character: one of those would let a value end the header line and start another
# (response splitting).
# Tornado: tornado/web.py::RequestHandler._VALID_HEADER_CHARS
_VALID_HEADER_CHARS = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")

# What a header name may not contain, for the same reason (see set_header).
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f]")

# Cookie attributes may not hold controls, spaces or ";" (which would start a new attribute).
_UNSAFE_COOKIE_ATTR = re.compile(r"[\x00-\x20\x3b\x7f]")

# An If-None-Match header: "*", or a list of strong or weak (W/) entity tags (RFC 9110 §13.1.2).
_ETAG_LIST = re.compile(rb'\*|(?:W/)?"[^"]*"')

# Headers that describe a body, which a 204/304 response has none of (RFC 9110 §8.3-8.5).
_REPRESENTATION_HEADERS = ("Content-Encoding", "Content-Language", "Content-Type")

_HeaderValue = str | bytes | int | datetime.datetime

_date_second = -1
_date_value = ""


def _http_date_now() -> str:
    """The ``Date`` header for now, formatted at most once per second.

    Every response carries a Date, and formatting one costs more than the rest of the
    header block; one value per second is all HTTP dates can say anyway.
    """
    global _date_second, _date_value
    now = time.time()
    if int(now) != _date_second:
        _date_second = int(now)
        _date_value = httputil.format_timestamp(now)
    return _date_value


class _ResponseHeadersMixin:
    """The status, header, cookie and Etag setters of ``web.RequestHandler``."""

    request: httputil.HTTPServerRequest
    _headers: httputil.HTTPHeaders
    _status_code: int
    _reason: str
    _write_buffer: list[bytes]
    _new_cookie: http.cookies.SimpleCookie | None

    # Tornado: tornado/web.py::RequestHandler.set_status
    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """Set the response's status code and reason phrase.

        Without ``reason`` the phrase comes from ``http.client.responses``, and any code
        missing there gets ``Unknown`` (no range check: ``42`` goes out as ``42 Unknown``).
        A ``reason`` that is not an RFC 9112 reason-phrase (an empty one included), or that
        holds ``<``, is replaced by ``Unknown``.
        """
        self._status_code = status_code
        if reason is not None:
            # No exception: this runs on error paths, which must still produce a response.
            # "<" is refused although the RFC allows it: error pages echo the reason.
            if "<" in reason or not httputil._ABNF.reason_phrase.fullmatch(reason):
                reason = "Unknown"
            self._reason = reason
        else:
            self._reason = httputil.responses.get(status_code, "Unknown")

    # Tornado: tornado/web.py::RequestHandler.get_status
    def get_status(self) -> int:
        return self._status_code

    # Tornado: tornado/web.py::RequestHandler.set_header
    def set_header(self, name: str, value: _HeaderValue) -> None:
        """Set response header ``name``, replacing any earlier value.

        ``value`` may be a str, bytes (taken as latin-1, so they reach the wire unchanged),
        an int, or a datetime (formatted as an HTTP date). A CR, LF or other control
        character in the name or value raises ``ValueError``.

        Compared with Tornado:
            Differs on purpose: a control character in the *name* raises ``ValueError``
            here, at the call. Tornado accepts it here and fails later, when the headers
            are written, once the response can no longer become an error page.
        """
        self._headers[_checked_name(name)] = _convert_header_value(value)

    # Tornado: tornado/web.py::RequestHandler.add_header
    def add_header(self, name: str, value: _HeaderValue) -> None:
        """Add a value for response header ``name``, keeping earlier ones (one line each).

        Compared with Tornado:
            Differs on purpose: as ``set_header``, a control character in the name is a
            ``ValueError``.
        """
        self._headers.add(_checked_name(name), _convert_header_value(value))

    # Tornado: tornado/web.py::RequestHandler.clear_header
    def clear_header(self, name: str) -> None:
        """Remove response header ``name`` (every value of it), if set."""
        if name in self._headers:
            del self._headers[name]

    # Tornado: tornado/web.py::RequestHandler._clear_representation_headers
    def _clear_representation_headers(self) -> None:
        for name in _REPRESENTATION_HEADERS:
            self.clear_header(name)

    # ---- Cookies ---------------------------------------------------------------------------

    # Tornado: tornado/web.py::RequestHandler.set_cookie
    def set_cookie(
        self,
        name: str,
        value: str | bytes,
        domain: str | None = None,
        expires: float | tuple[int, ...] | datetime.datetime | None = None,
        path: str = "/",
        expires_days: float | None = None,
        *,
        max_age: int | None = None,
        httponly: bool = False,
        secure: bool = False,
        samesite: str | None = None,
    ) -> None:
        """Send cookie ``name=value`` with the response (one ``Set-Cookie`` line per name).

        ``expires`` is a timestamp, a ``time.gmtime()`` tuple or a datetime;
        ``expires_days`` counts days from now and is used only without ``expires``. Setting
        the same name twice keeps the last. A control character or space in the value, or a
        control character, space or ``;`` in the name, domain, path or samesite, raises
        (``ValueError`` / ``http.cookies.CookieError``, as in Tornado).
        """
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if re.search(r"[\x00-\x20]", value):
            raise ValueError(f"Invalid cookie {name!r}: {value!r}")
        for attr, attr_value in (("name", name), ("domain", domain), ("path", path),
                                 ("samesite", samesite)):  # fmt: skip
            if attr_value is not None and _UNSAFE_COOKIE_ATTR.search(attr_value):
                raise http.cookies.CookieError(
                    f"Invalid cookie attribute {attr}={attr_value!r} for cookie {name!r}"
                )
        if self._new_cookie is None:
            self._new_cookie = http.cookies.SimpleCookie()
        self._new_cookie.pop(name, None)  # a fresh Morsel: attributes of an earlier set go
        self._new_cookie[name] = value
        morsel = self._new_cookie[name]
        if domain:
            morsel["domain"] = domain
        if expires_days is not None and not expires:
            expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
                days=expires_days
            )
        if expires:
            morsel["expires"] = httputil.format_timestamp(expires)
        if path:
            morsel["path"] = path
        if max_age:
            morsel["max-age"] = str(int(max_age))  # int(): nothing else can ride along
        if httponly:
            morsel["httponly"] = True
        if secure:
            morsel["secure"] = True
        if samesite:
            morsel["samesite"] = samesite

    # Tornado: tornado/web.py::RequestHandler.clear_cookie
    def clear_cookie(
        self,
        name: str,
        domain: str | None = None,
        path: str = "/",
        *,
        httponly: bool = False,
        secure: bool = False,
        samesite: str | None = None,
    ) -> None:
        """Tell the client to drop cookie ``name``: an empty value that expired a year ago.

        ``domain`` and ``path`` must be those the cookie was set with (browsers may also
        want ``secure`` and ``samesite``).
        """
        expired = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=365)
        self.set_cookie(name, "", domain, expired, path, httponly=httponly, secure=secure,
                        samesite=samesite)  # fmt: skip

    # Tornado: tornado/web.py::RequestHandler.clear_all_cookies
    def clear_all_cookies(self, **kwargs: Any) -> None:
        """``clear_cookie(name, **kwargs)`` for every cookie the request carried.

        The request tells only the names, so ``kwargs`` (``domain``, ``path``, ``secure``,
        ``samesite``, ...) must be those every one of them was set with. Tornado deprecated
        it in 6.3 for that reason: prefer ``clear_cookie`` one name at a time.
        """
        for name in self.request.cookies:
            self.clear_cookie(name, **kwargs)

    # ---- Etag (RFC 9110 §8.8.3, §13.1.2) --------------------------------------------------

    # Tornado: tornado/web.py::RequestHandler.compute_etag
    def compute_etag(self) -> str | None:
        """The response's entity tag: the quoted SHA-1 of the body written so far.

        Override to use another tag, or return ``None`` for none.
        """
        hasher = hashlib.sha1()
        for part in self._write_buffer:
            hasher.update(part)
        return f'"{hasher.hexdigest()}"'

    # Tornado: tornado/web.py::RequestHandler.set_etag_header
    def set_etag_header(self) -> None:
        """Set the ``Etag`` header from ``compute_etag()`` (unless that returns ``None``).

        ``finish`` calls it for a 200 answer to GET or HEAD that has no Etag yet.
        """
        etag = self.compute_etag()
        if etag is not None:
            self.set_header("Etag", etag)

    # Tornado: tornado/web.py::RequestHandler.check_etag_header
    def check_etag_header(self) -> bool:
        """Whether the request's ``If-None-Match`` matches our ``Etag`` (so a 304 will do).

        ``*`` matches any tag; otherwise tags compare weakly (``W/"x"`` matches ``"x"``).
        ``finish`` calls it right after ``set_etag_header``.
        """
        if_none_match = self.request.headers.get("If-None-Match")
        if not if_none_match:
            return False  # the usual case: the client has no copy to validate
        our_etag = self._headers.get("Etag", "").encode("latin-1")
        their_etags = _ETAG_LIST.findall(if_none_match.encode("latin-1"))
        if not our_etag or not their_etags:
            return False
        if their_etags[0] == b"*":
            return True
        ours = our_etag.removeprefix(b"W/")
        return any(etag.removeprefix(b"W/") == ours for etag in their_etags)


def _checked_name(name: str) -> str:
    if _UNSAFE_NAME_CHARS.search(name):
        raise ValueError(f"Unsafe header name {name!r}")
    return name


# Tornado: tornado/web.py::RequestHandler._convert_header_value
def _convert_header_value(value: _HeaderValue) -> str:
    """A header value as the str that goes on the wire (latin-1), after the safety check."""
    if isinstance(value, str):
        converted = value
    elif isinstance(value, bytes):
        converted = value.decode("latin-1")  # each byte goes out as itself
    elif isinstance(value, int):
        return str(value)  # digits only: nothing to check
    elif isinstance(value, datetime.datetime):
        return httputil.format_timestamp(value)
    else:
        raise TypeError(f"Unsupported header value {value!r}")
    if _VALID_HEADER_CHARS.fullmatch(converted) is None:
        raise ValueError(f"Unsafe header value {converted!r}")
    return converted
