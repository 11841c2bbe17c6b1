"""Trailing-slash redirects, and the checks that keep redirects on our own site.

Mirrors: tornado/web.py (Tornado 6.6): ``removeslash``, ``addslash`` and the private URL
helpers ``RedirectHandler`` uses.

Import ``removeslash`` / ``addslash`` from ``minitornado.web``, as from ``tornado.web``; they
live here only to keep web.py short. Tornado never adds or removes a trailing slash on its
own (``/a/`` does not match a route ``/a``); these decorators are how a handler opts in.

Kept: both decorators, with Tornado 6.6's refusal (403) to redirect to a path that a browser
would read as another host (``//example.com``); ``RedirectHandler``'s target URL, with its
check that a substitution changes neither scheme nor host.

Left out: nothing.

Study path (numbers from ``minitornado/__init__.py``): off the path; these run inside the
handler method called at step 16.
"""

from __future__ import annotations

import functools
import re
import string
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from minitornado import httputil
from minitornado._web_errors import HTTPError

_HandlerMethod = Callable[..., Awaitable[None] | None]


# Tornado: tornado/web.py::removeslash
def removeslash(method: _HandlerMethod) -> _HandlerMethod:
    """Decorate ``get``/``head`` (etc.) to redirect ``/foo/`` to ``/foo`` (301).

    The route must accept both forms (``r"/foo/*"``). The query string is kept. Other
    methods get a 404 for a path with a trailing slash, since a redirect would lose their
    body. ``/`` itself is served.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        if self.request.path.endswith("/"):
            if self.request.method not in ("GET", "HEAD"):
                raise HTTPError(404)
            uri = self.request.path.rstrip("/")
            if _is_protocol_relative(uri):
                # "//example.com//" stripped would send the browser to example.com.
                raise HTTPError(403, "cannot redirect path with two initial slashes")
            if uri:  # "/" would become "", which is no URL at all
                if self.request.query:
                    uri += "?" + self.request.query
                self.redirect(uri, permanent=True)
                return None
        return method(self, *args, **kwargs)

    return wrapper


# Tornado: tornado/web.py::addslash
def addslash(method: _HandlerMethod) -> _HandlerMethod:
    """Decorate ``get``/``head`` (etc.) to redirect ``/foo`` to ``/foo/`` (301).

    The route must accept both forms (``r"/foo/?"``). The query string is kept; other
    methods get a 404 for a path without the slash.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        if not self.request.path.endswith("/"):
            if self.request.method not in ("GET", "HEAD"):
                raise HTTPError(404)
            uri = self.request.path + "/"
            if _is_protocol_relative(uri):
                raise HTTPError(403, "cannot redirect path with two initial slashes")
            if self.request.query:
                uri += "?" + self.request.query
            self.redirect(uri, permanent=True)
            return None
        return method(self, *args, **kwargs)

    return wrapper


# ---- How a browser reads a redirect target ---------------------------------------------------
# Browsers follow the WHATWG URL spec, not RFC 3986: they trim controls and spaces at both
# ends, drop tabs and newlines anywhere, read "\" as "/" in http(s) URLs, and skip any number
# of slashes before a host. A check on a redirect built from request data must read the URL
# the same way, or "/\example.com" slips through as a path.


# Tornado: tornado/web.py::_normalize_url_like_browser
def _normalize_url_like_browser(url: str) -> str:
    url = url.strip("".join(chr(i) for i in range(0x21)))
    url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    return url.replace("\\", "/")


# Tornado: tornado/web.py::_is_protocol_relative
def _is_protocol_relative(url: str) -> bool:
    """Whether a browser would take ``url`` as ``//host/...``: another site, same scheme."""
    return _normalize_url_like_browser(url).startswith("//")


# Tornado: tornado/web.py::_scheme_and_netloc
def _scheme_and_netloc(url: str) -> tuple[str, str]:
    """The scheme and netloc (user info, host, port) a browser sees, lower-cased; both are
    empty for a relative URL. May raise ``ValueError`` on a malformed URL."""
    url = re.sub(r"^//+", "//", _normalize_url_like_browser(url))
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


# Tornado: tornado/web.py::RedirectHandler.get
def _redirect_target(
    template: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    query_arguments: dict[str, list[bytes]],
) -> str:
    """``RedirectHandler``'s target: ``template`` formatted with the path groups, plus the
    request's query. ``HTTPError(400)`` if a substitution changed the template's scheme or
    host (an open redirect), or brought in a control character."""
    to_url = template.format(*args, **kwargs)
    # The template's own scheme and host end where its first substitution starts.
    prefix, substituted = "", False
    for literal, field, _, _ in string.Formatter().parse(template):
        prefix += literal
        if field is not None:
            substituted = True
            break
    try:
        if query_arguments:
            # Before the check, because url_concat re-encodes the whole URL.
            query = list(httputil.qs_to_qsl(query_arguments))
            to_url = httputil.url_concat(to_url, query)  # type: ignore[arg-type]
        scheme, netloc = _scheme_and_netloc(prefix)
        unchanged = _scheme_and_netloc(to_url) == (scheme, netloc)
        if substituted and scheme in ("http", "https") and not netloc:
            unchanged = False  # the host would come from the substitution alone
    except ValueError:
        unchanged = False
    if not unchanged:
        raise HTTPError(400, "Redirect URL cannot change the scheme or netloc")
    if httputil._FORBIDDEN_HEADER_CHARS_RE.search(to_url):
        raise HTTPError(400, "Redirect URL contains invalid characters")  # not a 500 later
    return to_url
