"""HTTP's vocabulary: the objects every layer of the server shares.

Mirrors: tornado/httputil.py (Tornado 6.6)

Nothing here touches a socket. The connection layer (``http1connection``) gets the request
line and header fields from h11 and turns them into a ``RequestStartLine`` and an
``HTTPHeaders`` (``HTTPHeaders.add`` checks each field); the router builds an
``HTTPServerRequest`` from them; ``web.RequestHandler`` has the body parsed into arguments and
files and answers with a ``ResponseStartLine``. The three interface classes
(``HTTPServerConnectionDelegate``, ``HTTPMessageDelegate``, ``HTTPConnection``) are the
contracts between those layers. Bodies and cookies are parsed in ``_httputil_forms.py``; its
public names are importable from here, as in Tornado.

Kept: the strict checks Tornado 6.6 makes on untrusted input, with its error messages: header
names and values (no obs-fold, no control characters), the request line, the ``Host`` rules,
the 1000-argument cap on query strings. ``HTTPHeaders.parse`` and
``parse_request_start_line`` are kept for applications and tests; the server does not call
them (h11 parses the request; the multipart parser uses ``HTTPHeaders.parse`` for part
headers). ``request.arguments`` has Tornado's shape: ``dict[str, list[bytes]]``, names decoded
as latin-1, values left as bytes for ``RequestHandler.decode_argument``.

Left out: ``HTTPServerRequest.get_ssl_certificate`` (TLS client certificates); the Range
helpers ``_parse_request_range`` / ``_get_content_range`` (only ``StaticFileHandler`` uses
them); ``_encode_header`` (websocket) and ``encode_username_password`` (HTTP clients);
``ParseBodyConfig`` / ``set_parse_body_config`` (Tornado's knobs for the body limits: here the
limits are constants with Tornado's default values).

Study path: step 14 (``HTTP1Connection.read_response`` builds the ``RequestStartLine`` and
``HTTPHeaders``, through ``_h11_checks.request_from_h11``), step 15 (the router builds the
``HTTPServerRequest``), step 16 (``RequestHandler._execute`` calls ``_parse_body``), step 17
(``ResponseStartLine`` goes to ``HTTPConnection.write_headers``).
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import datetime
import email.utils
import http.cookies
import re
import time
import urllib.parse
import warnings
from collections.abc import Awaitable, Iterable, Iterator, MutableMapping
from functools import lru_cache
from http.client import responses as responses  # re-exported: web.py's reason phrases
from typing import Any, AnyStr, NamedTuple, TypeVar, overload

# Bodies and cookies are parsed in _httputil_forms.py; Tornado defines these names here
# (parse_qs_bytes in tornado/escape.py), so they are importable from here too.
from minitornado._httputil_forms import _MAX_ARGUMENTS
from minitornado._httputil_forms import HTTPFile as HTTPFile
from minitornado._httputil_forms import parse_body_arguments as parse_body_arguments
from minitornado._httputil_forms import parse_cookie as parse_cookie
from minitornado._httputil_forms import parse_multipart_form_data as parse_multipart_form_data
from minitornado.escape import parse_qs_bytes as parse_qs_bytes

_T = TypeVar("_T")

# Tornado: tornado/httputil.py::HTTP_WHITESPACE
HTTP_WHITESPACE = " \t"  # RFC 9110 §5.6.3 OWS: the only whitespace HTTP strips


# Tornado: tornado/httputil.py::HTTPInputError
class HTTPInputError(Exception):
    """The peer sent a malformed message. The server answers 400 and closes the connection."""


# Tornado: tornado/httputil.py::HTTPOutputError
class HTTPOutputError(Exception):
    """Our own side tried to send something HTTP forbids (say, more body than Content-Length)."""


# ---- The grammar: the few RFC rules we check, as regexes ----------------------------------


# Rule fragments the patterns below are built from, as the RFCs build their rules.
_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"  # RFC 9110 §5.6.2
_FIELD_VCHAR = r"[\x21-\x7e\x80-\xff]"  # RFC 9110 §5.5: VCHAR or obs-text (bytes >= 0x80)
_HTTP_VERSION = r"HTTP/[0-9]\.[0-9]"  # RFC 9112 §2.3


# Tornado: tornado/httputil.py::_ABNF
class _ABNF:
    """Compiled rules, named as in the RFCs (``-`` spelled ``_``); use them with ``fullmatch``.

    Strings reach these rules decoded as latin-1, so ``\\x80-\\xff`` stands for one raw byte.

    Compared with Tornado:
        Simplified: only the rules used here and by ``set_status``'s reason check.
    """

    # RFC 9110 §5.6.2: token = 1*tchar. Header names and methods are tokens.
    token = re.compile(f"{_TCHAR}+")
    field_name = token
    # RFC 9110 §5.5: field-value. SP and HTAB may appear only inside, so a value with
    # whitespace left at either end was not stripped by the parser: reject it.
    field_value = re.compile(rf"(?:{_FIELD_VCHAR}(?:[\t ]*{_FIELD_VCHAR})*)?")
    # RFC 9110 §7.2: Host = uri-host [ ":" port ]. RFC 3986's uri-host is loosened the way
    # Tornado does: "[", "]" and ":" may stand anywhere, which also covers the port.
    host = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=\[\]:]|%[0-9A-Fa-f]{2})*")
    # RFC 9112 §3: request-line = method SP request-target SP HTTP-version. The target is
    # loosened to "visible bytes": browsers send more than RFC 3986 allows (raw UTF-8, say).
    request_line = re.compile(rf"({_TCHAR}+) ({_FIELD_VCHAR}+) ({_HTTP_VERSION})")
    # RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
    reason_phrase = re.compile(rf"(?:[\t ]|{_FIELD_VCHAR})+")
    status_line = re.compile(rf"({_HTTP_VERSION}) ([0-9]{{3}}) ({reason_phrase.pattern})?")


# Control characters other than HTAB. For text that is real Unicode rather than latin-1
# bytes: multipart part headers, and the target RedirectHandler builds (_web_redirect.py).
# Tornado: tornado/httputil.py::_FORBIDDEN_HEADER_CHARS_RE
_FORBIDDEN_HEADER_CHARS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


# ---- The interfaces between the layers (steps 12-17) --------------------------------------


# Tornado: tornado/httputil.py::HTTPServerConnectionDelegate
class HTTPServerConnectionDelegate:
    """What a server hands each new request to; ``HTTPServer`` and ``Application`` are ones."""

    # Tornado: tornado/httputil.py::HTTPServerConnectionDelegate.start_request
    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Called by the connection when a request begins; returns who will receive it.

        ``server_conn`` stands for the long-lived TCP connection, ``request_conn`` for this one
        request/response exchange on it.
        """
        raise NotImplementedError()

    # Tornado: tornado/httputil.py::HTTPServerConnectionDelegate.on_close
    def on_close(self, server_conn: object) -> None:
        """Called by the connection once it is closed, after its last request."""


# Tornado: tornado/httputil.py::HTTPMessageDelegate
class HTTPMessageDelegate:
    """Receives one parsed message: headers, then body chunks, then the end."""

    # Tornado: tornado/httputil.py::HTTPMessageDelegate.headers_received
    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """Called by the connection once the start line and headers are parsed.

        If it returns an awaitable, the body is not read until that is done.
        """
        return None

    # Tornado: tornado/httputil.py::HTTPMessageDelegate.data_received
    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Called by the connection for each piece of body; an awaitable result slows reading."""
        return None

    # Tornado: tornado/httputil.py::HTTPMessageDelegate.finish
    def finish(self) -> None:
        """Called by the connection after the whole body arrived."""

    # Tornado: tornado/httputil.py::HTTPMessageDelegate.on_connection_close
    def on_connection_close(self) -> None:
        """Called by the connection if it closes before the message was complete.

        After ``headers_received``, exactly one of ``finish`` and this one is called.
        """


# Tornado: tornado/httputil.py::HTTPConnection
class HTTPConnection:
    """How the application writes its response: headers once, body chunks, then finish."""

    # Tornado: tornado/httputil.py::HTTPConnection.write_headers
    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        """Send the start line, the headers and (so small responses take one write) a chunk.

        The start line's version is ignored. The future resolves when the bytes are written.
        """
        raise NotImplementedError()

    # Tornado: tornado/httputil.py::HTTPConnection.write
    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Send a piece of body; the future resolves when it is written."""
        raise NotImplementedError()

    # Tornado: tornado/httputil.py::HTTPConnection.finish
    def finish(self) -> None:
        """Mark the response complete."""
        raise NotImplementedError()


# ---- Headers (step 14) --------------------------------------------------------------------


# Tornado: tornado/httputil.py::_normalize_header
@lru_cache(1000)  # the same few dozen names come in on every request
def _normalize_header(name: str) -> str:
    """``"coNtent-TYPE"`` -> ``"Content-Type"``: each dash-separated word capitalised."""
    return "-".join(word.capitalize() for word in name.split("-"))


# Tornado: tornado/httputil.py::HTTPHeaders
class HTTPHeaders(MutableMapping[str, str]):
    """Header fields: a case-insensitive dict whose keys read ``Http-Header-Case``.

    A name may carry several values (``add``, ``get_list``, ``get_all``); plain ``h[name]``
    joins them with ``","`` (RFC 9110 §5.3), which is wrong only for ``Set-Cookie``: use
    ``get_list`` there. ``h[name] = v`` replaces every value and checks nothing (the
    application's own headers are checked by ``web.RequestHandler``); ``add`` and ``parse``
    check names and values against RFC 9110 and raise ``HTTPInputError``.

    Compared with Tornado:
        Same: the constructor takes a mapping, ``(name, value)`` pairs, keywords, or another
        ``HTTPHeaders`` (copied value by value).
        Simplified: the joined value is built on each ``h[name]``, not cached; one
        constructor signature instead of Tornado's typed overloads.
    """

    def __init__(self, *args: Any, **kwargs: str) -> None:
        self._as_list: dict[str, list[str]] = {}  # normalised name -> values, in arrival order
        if not args and not kwargs:
            return  # (every request makes two empty ones: update() would check types for nothing)
        if len(args) == 1 and not kwargs and isinstance(args[0], HTTPHeaders):
            for name, value in args[0].get_all():  # a copy keeps every value, not the joined one
                self.add(name, value)
        else:
            self.update(*args, **kwargs)

    # Tornado: tornado/httputil.py::HTTPHeaders.parse
    @classmethod
    def parse(cls, headers: str, *, _chars_are_bytes: bool = True) -> HTTPHeaders:
        """Build headers from a header block: lines ended by CRLF or a bare LF.

        ``headers`` is the block decoded as latin-1, so each character is one byte. The
        multipart parser passes UTF-8 text with ``_chars_are_bytes=False``, which swaps the
        byte-level value rule for "no control characters".
        Raises ``HTTPInputError`` on the first bad line. The server does not call it for a
        request (h11 reads the header block; ``HTTPHeaders.add`` checks each field).

        Compared with Tornado:
            Same: the split on LF only (a lone CR, or U+2028, is data and then fails the
            value rule), the error messages.
        """
        parsed = cls()
        # Each line keeps its LF, so that parse_line strips a CR only when an LF follows it.
        for line in re.findall(r"[^\n]*\n|[^\n]+", headers):
            parsed.parse_line(line, _chars_are_bytes=_chars_are_bytes)
        return parsed

    # Tornado: tornado/httputil.py::HTTPHeaders.parse_line
    def parse_line(self, line: str, *, _chars_are_bytes: bool = True) -> None:
        """Add one ``Name: value`` line; its line ending (CRLF or LF) may be left on.

        An empty line is ignored. Whitespace around the value is stripped, none is allowed
        around the name. A line starting with whitespace is an obs-fold continuation, which
        Tornado 6.6 rejects (RFC 9112 §5.2 lets a server answer 400).
        """
        # RFC 9112 §2.2: a bare LF may end a line, and a CR just before it is not data.
        if line.endswith("\n"):
            line = line[:-1]
            if line.endswith("\r"):
                line = line[:-1]
        if not line:
            return
        if line[0] in HTTP_WHITESPACE:
            raise HTTPInputError("header line cannot start with whitespace, folding not supported")
        name, colon, value = line.partition(":")
        if not colon:
            raise HTTPInputError("no colon in header line")
        self.add(name, value.strip(HTTP_WHITESPACE), _chars_are_bytes=_chars_are_bytes)

    # Tornado: tornado/httputil.py::HTTPHeaders.add
    def add(self, name: str, value: str, *, _chars_are_bytes: bool = True) -> None:
        """Append a value for ``name``, after checking both against RFC 9110."""
        if not _ABNF.field_name.fullmatch(name):
            raise HTTPInputError(f"Invalid header name {name!r}")
        if _chars_are_bytes:
            valid = _ABNF.field_value.fullmatch(value) is not None
        else:
            valid = _FORBIDDEN_HEADER_CHARS_RE.search(value) is None
        if not valid:
            raise HTTPInputError(f"Invalid header value {value!r}")
        self._as_list.setdefault(_normalize_header(name), []).append(value)

    # Tornado: tornado/httputil.py::HTTPHeaders.get_list
    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, in arrival order; ``[]`` if there is none."""
        return self._as_list.get(_normalize_header(name), [])

    # Tornado: tornado/httputil.py::HTTPHeaders.get_all
    def get_all(self) -> Iterable[tuple[str, str]]:
        """Every ``(name, value)`` pair; a name with several values comes once per value."""
        # A list, not a generator: every response's header block is built from it, and
        # resuming a generator once per header costs more than the list.
        return [(name, value) for name, values in self._as_list.items() for value in values]

    # The five methods MutableMapping needs; it derives get, update, setdefault, pop... from them.

    # Tornado: tornado/httputil.py::HTTPHeaders.__getitem__
    def __getitem__(self, name: str) -> str:
        return ",".join(self._as_list[_normalize_header(name)])

    # Tornado: tornado/httputil.py::HTTPHeaders.__setitem__
    def __setitem__(self, name: str, value: str) -> None:
        self._as_list[_normalize_header(name)] = [value]

    # Tornado: tornado/httputil.py::HTTPHeaders.__delitem__
    def __delitem__(self, name: str) -> None:
        del self._as_list[_normalize_header(name)]

    # Tornado: tornado/httputil.py::HTTPHeaders.__len__
    def __len__(self) -> int:
        return len(self._as_list)

    # Tornado: tornado/httputil.py::HTTPHeaders.__iter__
    def __iter__(self) -> Iterator[str]:
        return iter(self._as_list)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str | _T) -> str | _T: ...

    # The inherited get() would raise and catch a KeyError for each missing header, and a
    # request asks for several (Connection, Expect, If-None-Match...).
    def get(self, name: str, default: object = None) -> object:
        """``h[name]`` (the values joined by ``","``), or ``default`` if there is none."""
        values = self._as_list.get(_normalize_header(name))
        return default if values is None else ",".join(values)

    # Tornado: tornado/httputil.py::HTTPHeaders.__contains__
    def __contains__(self, name: object) -> bool:
        # Faster than the inherited version, which would build the joined value.
        return isinstance(name, str) and _normalize_header(name) in self._as_list

    # Tornado: tornado/httputil.py::HTTPHeaders.copy
    def copy(self) -> HTTPHeaders:
        """A new ``HTTPHeaders`` with the same values (``dict.copy``, which Mapping lacks)."""
        return HTTPHeaders(self)

    __copy__ = copy  # so copy.copy() also copies the value lists

    # Tornado: tornado/httputil.py::HTTPHeaders.__str__
    def __str__(self) -> str:
        """One ``Name: value\\n`` line per value."""
        return "".join(f"{name}: {value}\n" for name, value in self.get_all())


# ---- Start lines (steps 14 and 17) --------------------------------------------------------


# Tornado: tornado/httputil.py::RequestStartLine
class RequestStartLine(NamedTuple):
    """``GET /path?q=1 HTTP/1.1``, split; ``path`` is the whole request target."""

    method: str
    path: str
    version: str


# Tornado: tornado/httputil.py::parse_request_start_line
def parse_request_start_line(line: str) -> RequestStartLine:
    """Split a request line, strictly: token, one space, target, one space, ``HTTP/1.x``.

    Raises ``HTTPInputError`` ("Malformed HTTP request line", or "Unexpected HTTP version
    'HTTP/2.0'" for a well-formed line of another major version). The server does not call
    it: h11 splits the request line (refusing a malformed one), and ``_h11_checks`` refuses
    a version other than HTTP/1.x.
    """
    match = _ABNF.request_line.fullmatch(line)
    if match is None:
        # RFC 9112 §3: a server that receives an invalid request-line SHOULD answer 400.
        raise HTTPInputError("Malformed HTTP request line")
    start_line = RequestStartLine(match[1], match[2], match[3])
    if not start_line.version.startswith("HTTP/1"):
        raise HTTPInputError(f"Unexpected HTTP version {start_line.version!r}")
    return start_line


# Tornado: tornado/httputil.py::ResponseStartLine
class ResponseStartLine(NamedTuple):
    """``HTTP/1.1 200 OK``, split. A server builds one to pass to ``write_headers``."""

    version: str
    code: int
    reason: str


# Tornado: tornado/httputil.py::parse_response_start_line
def parse_response_start_line(line: str) -> ResponseStartLine:
    """Split a status line (``HTTP/1.x``, a 3-digit code, a space, an optional reason)."""
    match = _ABNF.status_line.fullmatch(line)
    if match is None:
        raise HTTPInputError("Error parsing response start line")
    start_line = ResponseStartLine(match[1], int(match[2]), match[3])
    if not start_line.version.startswith("HTTP/1"):
        raise HTTPInputError(f"Unexpected HTTP version {start_line.version!r}")
    return start_line


# ---- The request object (step 15) ---------------------------------------------------------


# Tornado: tornado/httputil.py::HTTPServerRequest
class HTTPServerRequest:
    """One request as the application sees it (``RequestHandler.request``).

    Attributes: ``method``, ``uri`` (the raw target), ``path`` and ``query`` (``uri`` split at
    the first ``?``), ``version``, ``headers``, ``body`` (bytes, filled in by web.py once read),
    ``host`` (the ``Host`` header), ``host_name`` (it, lower-cased, without port),
    ``remote_ip`` and ``protocol`` (from the connection's ``context``: ``HTTPServer`` sets the
    peer address and ``"http"``/``"https"``), ``arguments`` (query, then body arguments),
    ``query_arguments``, ``body_arguments`` (all ``dict[str, list[bytes]]``), ``files``,
    ``cookies``, ``connection`` (the ``HTTPConnection`` to answer on), ``server_connection``.

    The constructor enforces RFC 9112 §3.2 and raises ``HTTPInputError`` (the server then
    answers 400): an HTTP/1.1 request needs a ``Host`` header (HTTP/1.0 gets ``127.0.0.1``);
    the value must be a valid host and must not contain a comma (two Host lines arrive joined
    by one). An empty ``Host:`` is accepted. The query string may hold at most 1000 fields.

    Compared with Tornado:
        Same: ``method``/``uri``/``version``/``host`` as arguments still work but emit a
        DeprecationWarning (Tornado removes them in 6.7; pass ``start_line`` and headers).
        Left out: ``get_ssl_certificate``; ``_finish_time`` (Tornado 6.6 never sets it, so
        ``request_time()`` is always "time since the request object was made").
    """

    path: str
    query: str
    _body_future: asyncio.Future[None]  # set by web.py for @stream_request_body handlers

    def __init__(
        self,
        method: str | None = None,
        uri: str | None = None,
        version: str = "HTTP/1.0",
        headers: HTTPHeaders | None = None,
        body: bytes | None = None,
        host: str | None = None,
        files: dict[str, list[HTTPFile]] | None = None,
        connection: HTTPConnection | None = None,
        start_line: RequestStartLine | None = None,
        server_connection: object | None = None,
    ) -> None:
        start_line = _accept_deprecated_arguments(start_line, method, uri, version, host)
        self.method, self.uri, self.version = start_line
        self.headers = headers or HTTPHeaders()
        if host is not None:
            self.headers["Host"] = host
        self.body = body or b""

        context = getattr(connection, "context", None)  # HTTPServer's _HTTPRequestContext
        self.remote_ip: str | None = getattr(context, "remote_ip", None)
        self.protocol: str = getattr(context, "protocol", "http")

        self.host = _check_host(self.headers, self.version)
        self.host_name = split_host_and_port(self.host.lower())[0]
        self.files = files or {}
        self.connection = connection
        self.server_connection = server_connection
        self._start_time = time.time()

        self.path, _, self.query = self.uri.partition("?")
        try:
            # The query is bounded by max_header_size, but each field costs enough to parse
            # that Tornado caps their number as it does for a urlencoded body.
            self.arguments = parse_qs_bytes(
                self.query, keep_blank_values=True, max_num_fields=_MAX_ARGUMENTS
            )
        except ValueError as e:
            raise HTTPInputError(f"Invalid query string: {e}") from e
        self.query_arguments = {name: list(values) for name, values in self.arguments.items()}
        self.body_arguments: dict[str, list[bytes]] = {}

    # Tornado: tornado/httputil.py::HTTPServerRequest.cookies
    @property
    def cookies(self) -> dict[str, http.cookies.Morsel[str]]:
        """The ``Cookie`` header as ``Morsel`` objects, parsed on first use.

        Names that ``http.cookies`` refuses (``parse_cookie`` does not) are dropped.
        """
        if not hasattr(self, "_cookies"):
            self._cookies: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            for name, value in parse_cookie(self.headers.get("Cookie", "")).items():
                with contextlib.suppress(http.cookies.CookieError):
                    self._cookies[name] = value
        return self._cookies

    # Tornado: tornado/httputil.py::HTTPServerRequest.full_url
    def full_url(self) -> str:
        """``protocol://host/uri`` as the client asked for it."""
        return self.protocol + "://" + self.host + self.uri

    # Tornado: tornado/httputil.py::HTTPServerRequest.request_time
    def request_time(self) -> float:
        """Seconds since this request object was made (the access log prints it)."""
        return time.time() - self._start_time

    # Tornado: tornado/httputil.py::HTTPServerRequest._parse_body
    def _parse_body(self) -> None:
        """Parse ``body`` (form or multipart) into ``body_arguments`` and ``files``.

        Called by ``RequestHandler._execute`` once the body is in. Body arguments are also
        appended to ``arguments``, after the query's.
        """
        content_type = self.headers.get("Content-Type", "")
        parse_body_arguments(content_type, self.body, self.body_arguments, self.files, self.headers)
        for name, values in self.body_arguments.items():
            self.arguments.setdefault(name, []).extend(values)

    # Tornado: tornado/httputil.py::HTTPServerRequest.__repr__
    def __repr__(self) -> str:
        # No headers: this repr goes into error logs, and headers may carry credentials.
        fields = ("protocol", "host", "method", "uri", "version", "remote_ip")
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return f"{type(self).__name__}({shown})"


def _accept_deprecated_arguments(
    start_line: RequestStartLine | None,
    method: str | None,
    uri: str | None,
    version: str,
    host: str | None,
) -> RequestStartLine:
    """The start line to use; warns about each pre-6.6 argument given, as Tornado 6.6 does."""
    if method is not None or uri is not None:
        _warn_deprecated("method=, uri= and version= (pass start_line=RequestStartLine(...))")
    if host is not None:
        _warn_deprecated("host= (set headers['Host'] instead)")
    if start_line is None:
        _warn_deprecated("leaving out start_line (Tornado 6.7 requires it)")
        start_line = RequestStartLine(method or "GET", uri or "/", version)
    return start_line


def _warn_deprecated(what: str) -> None:
    # stacklevel=4 skips this function, _accept_deprecated_arguments and __init__, so the
    # warning points at the line that called HTTPServerRequest().
    message = f"HTTPServerRequest: {what} is deprecated and goes away in Tornado 6.7"
    warnings.warn(message, DeprecationWarning, stacklevel=4)


def _check_host(headers: HTTPHeaders, version: str) -> str:
    """The request's host, by the RFC 9112 §3.2 rules HTTPServerRequest documents."""
    if "Host" in headers:
        host = headers["Host"]
    elif version == "HTTP/1.0":
        host = "127.0.0.1"  # HTTP/1.0 predates Host; answer as the local machine
    else:
        raise HTTPInputError("Missing Host header")
    if not _ABNF.host.fullmatch(host):
        raise HTTPInputError(f"Invalid Host header: {host!r}")
    # RFC 9112 §3.2 says 400 for several Host lines; a proxy may have joined them into one
    # with commas (RFC 9110 §5.3), and no DNS name holds a comma, so refuse any comma.
    if "," in host:
        raise HTTPInputError(f"Multiple host headers not allowed: {host!r}")
    return host


# ---- URLs, dates ---------------------------------------------------------------------------


# Tornado: tornado/httputil.py::url_concat
def url_concat(
    url: str,
    args: dict[str, str] | list[tuple[str, str]] | tuple[tuple[str, str], ...] | None,
) -> str:
    """Append query arguments to ``url``, which may already have a query (or a fragment).

    ``args`` is a dict, or a list/tuple of pairs (to repeat a name); ``None`` returns ``url``.
    Existing arguments are re-encoded along the way, as Tornado does.
    """
    if args is None:
        return url
    if isinstance(args, dict):
        pairs: list[tuple[str, str]] = list(args.items())
    elif isinstance(args, (list, tuple)):
        pairs = list(args)
    else:
        raise TypeError(f"'args' parameter should be dict, list or tuple. Not {type(args)}")
    parsed = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True) + pairs
    return urllib.parse.urlunparse(parsed._replace(query=urllib.parse.urlencode(query)))


_NETLOC_RE = re.compile(r"^(.+):(\d+)$")


# Tornado: tornado/httputil.py::split_host_and_port
def split_host_and_port(netloc: str) -> tuple[str, int | None]:
    """``"example.com:8080"`` -> ``("example.com", 8080)``; no port gives ``None``."""
    match = _NETLOC_RE.match(netloc)
    if match is None:
        return netloc, None
    return match[1], int(match[2])


# Tornado: tornado/httputil.py::qs_to_qsl
def qs_to_qsl(qs: dict[str, list[AnyStr]]) -> Iterable[tuple[str, AnyStr]]:
    """The inverse of ``parse_qs``: ``{"a": ["1", "2"]}`` -> ``("a", "1"), ("a", "2")``."""
    for name, values in qs.items():
        for value in values:
            yield name, value


# Tornado: tornado/httputil.py::format_timestamp
def format_timestamp(ts: float | tuple[int, ...] | time.struct_time | datetime.datetime) -> str:
    """An HTTP date (RFC 9110 §5.6.7 IMF-fixdate): ``Sun, 27 Jan 2013 18:43:20 GMT``.

    Takes a POSIX timestamp, a ``time.gmtime()`` tuple, or a datetime (naive means UTC).
    """
    if isinstance(ts, (int, float)):
        seconds = ts
    elif isinstance(ts, (tuple, time.struct_time)):
        seconds = calendar.timegm(ts)
    elif isinstance(ts, datetime.datetime):
        seconds = calendar.timegm(ts.utctimetuple())
    else:
        raise TypeError(f"unknown timestamp type: {ts!r}")
    return email.utils.formatdate(seconds, usegmt=True)
