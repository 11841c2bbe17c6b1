"""Request bodies and cookies, parsed: form arguments, uploaded files, the Cookie header.

Mirrors: tornado/httputil.py (Tornado 6.6): ``parse_body_arguments``,
``parse_multipart_form_data``, ``HTTPFile``, ``_parse_header``, ``parse_cookie``.

Import the public names from ``minitornado.httputil``, where Tornado defines them: it
re-exports them. They live here only to keep httputil.py about HTTP's vocabulary.
``HTTPServerRequest`` calls ``parse_body_arguments`` from ``_parse_body`` once the body is
in (a urlencoded body goes through ``escape.parse_qs_bytes``, as the query string does),
and ``parse_cookie`` when ``request.cookies`` is first read.

Kept: Tornado's limits with its default values (1000 arguments per query string or urlencoded
body, 100 multipart parts, 10 KiB of headers per part) and its error messages; values stay
bytes (``dict[str, list[bytes]]``), names are latin-1 str; part headers are UTF-8, with
``filename*=`` (RFC 5987) decoded; the browser-compatible cookie parser.

Left out: ``ParseBodyConfig`` and the ``config=`` keywords (the limits are constants here);
RFC 2231 continuations (``filename*0=``).

Study path (numbers from ``minitornado/__init__.py``): step 15 (the router builds the
``HTTPServerRequest``, which parses its query string) and step 16 (``RequestHandler._execute``
calls ``_parse_body``).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from minitornado.escape import parse_qs_bytes

# The body limits (Tornado's defaults; Tornado lets set_parse_body_config change them).
# Tornado: tornado/httputil.py::ParseUrlEncodedConfig.max_arguments
_MAX_ARGUMENTS = 1000  # per query string and per urlencoded body
# Tornado: tornado/httputil.py::ParseMultipartConfig.max_parts
_MAX_MULTIPART_PARTS = 100
# Tornado: tornado/httputil.py::ParseMultipartConfig.max_part_header_size
_MAX_PART_HEADER_SIZE = 10 * 1024


# ---- Request bodies: urlencoded or multipart/form-data (step 16) --------------------------


# Tornado: tornado/httputil.py::HTTPFile
class HTTPFile(dict[str, Any]):
    """One uploaded file: ``filename``, ``body`` (bytes) and ``content_type``.

    Both ``f.body`` and ``f["body"]`` work; old tutorials use the second.
    """

    filename: str
    body: bytes
    content_type: str

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


# Tornado: tornado/httputil.py::parse_body_arguments
def parse_body_arguments(
    content_type: str,
    body: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    headers: httputil.HTTPHeaders | None = None,
) -> None:
    """Parse a form body into ``arguments`` and ``files`` (both updated in place).

    ``application/x-www-form-urlencoded`` (at most 1000 fields) and ``multipart/form-data``
    are understood; any other content type is left alone. Raises ``HTTPInputError`` on a
    malformed body, or one still compressed (a ``Content-Encoding`` header: the server's
    ``decompress_request`` would have removed it).

    Compared with Tornado:
        Left out: the ``config=`` keyword (limits are module constants here).
    """
    is_urlencoded = content_type.startswith("application/x-www-form-urlencoded")
    is_multipart = content_type.startswith("multipart/form-data")
    if (is_urlencoded or is_multipart) and headers and "Content-Encoding" in headers:
        encoding = headers["Content-Encoding"]
        raise httputil.HTTPInputError(f"Unsupported Content-Encoding: {encoding}")
    if is_urlencoded:
        try:
            parsed = parse_qs_bytes(body, keep_blank_values=True, max_num_fields=_MAX_ARGUMENTS)
        except ValueError as e:
            raise httputil.HTTPInputError(f"Invalid x-www-form-urlencoded body: {e}") from e
        for name, values in parsed.items():
            arguments.setdefault(name, []).extend(values)
    elif is_multipart:
        try:
            _parse_multipart_content_type(content_type, body, arguments, files)
        except (httputil.HTTPInputError, ValueError) as e:  # ValueError: a non-UTF-8 header
            raise httputil.HTTPInputError(f"Invalid multipart/form-data: {e}") from e


def _parse_multipart_content_type(
    content_type: str,
    body: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
) -> None:
    """Find the boundary in ``multipart/form-data; boundary=...`` and parse the body with it."""
    media_type, *params = content_type.split(";")
    if media_type.strip() != "multipart/form-data":  # "multipart/form-dataxyz"
        raise httputil.HTTPInputError("Invalid content type")
    for param in params:
        key, _, value = param.strip().partition("=")
        if key == "boundary" and value:
            parse_multipart_form_data(value.encode("utf-8"), body, arguments, files)
            return
    raise httputil.HTTPInputError("multipart boundary not found")


# Tornado: tornado/httputil.py::parse_multipart_form_data
def parse_multipart_form_data(
    boundary: bytes,
    data: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
) -> None:
    """Parse a ``multipart/form-data`` body (RFC 7578) into ``arguments`` and ``files``.

    Each part is ``--boundary CRLF headers CRLF CRLF content CRLF``; the body ends with
    ``--boundary--``. A part whose ``Content-Disposition`` has a ``filename`` is a file.
    Part headers are UTF-8 (browsers send raw UTF-8 file names); ``filename*=`` (RFC 5987)
    is decoded too. Raises ``HTTPInputError``; at most 100 pieces (the text before the first
    boundary counts as one, as in Tornado), part headers at most 10 KiB.

    Compared with Tornado:
        Left out: the ``config=`` keyword; RFC 2231 continuations (``filename*0=``).
        Differs on purpose: a percent-encoded ``\\`` or ``"`` in ``filename*=`` is decoded
        as itself (see ``_parse_header``).
    """
    if boundary.startswith(b'"') and boundary.endswith(b'"'):
        boundary = boundary[1:-1]  # RFC 2046 allows a quoted boundary
    end = data.rfind(b"--" + boundary + b"--")
    if end == -1:
        raise httputil.HTTPInputError("Invalid multipart/form-data: no final boundary found")
    # maxsplit bounds the work on a body with thousands of tiny parts.
    parts = data[:end].split(b"--" + boundary + b"\r\n", _MAX_MULTIPART_PARTS + 1)
    if len(parts) > _MAX_MULTIPART_PARTS:
        raise httputil.HTTPInputError("multipart/form-data has too many parts")
    for part in parts:
        if part:
            _parse_multipart_part(part, arguments, files)


def _parse_multipart_part(
    part: bytes, arguments: dict[str, list[bytes]], files: dict[str, list[HTTPFile]]
) -> None:
    """Parse one part (everything between two boundary lines) and file it."""
    header_end = part.find(b"\r\n\r\n")
    if header_end == -1:
        raise httputil.HTTPInputError("multipart/form-data missing headers")
    if header_end > _MAX_PART_HEADER_SIZE:
        raise httputil.HTTPInputError("multipart/form-data part header too large")
    header_block = part[:header_end].decode("utf-8")
    headers = httputil.HTTPHeaders.parse(header_block, _chars_are_bytes=False)
    disposition, params = _parse_header(headers.get("Content-Disposition", ""))
    if disposition != "form-data" or not part.endswith(b"\r\n"):
        raise httputil.HTTPInputError("Invalid multipart/form-data")
    if not params.get("name"):
        raise httputil.HTTPInputError("multipart/form-data missing name")
    value = part[header_end + 4 : -2]  # the CRLF before the next boundary is not content
    if params.get("filename"):
        content_type = headers.get("Content-Type", "application/unknown")
        upload = HTTPFile(filename=params["filename"], body=value, content_type=content_type)
        files.setdefault(params["name"], []).append(upload)
    else:
        arguments.setdefault(params["name"], []).append(value)


# ---- Header parameters: Content-Disposition in a multipart part ---------------------------


_EXTENDED_PARAM_RE = re.compile(r"(\w+)\*")  # RFC 5987 §3.2: "filename*" marks an ext-value


# Tornado: tornado/httputil.py::_parse_header
def _parse_header(line: str) -> tuple[str, dict[str, str]]:
    """Split ``form-data; name="a"; filename*=utf-8''%C3%A9.txt`` into its value and params.

    Parameter names are lower-cased; quoted values lose their quotes and ``\\"`` / ``\\\\``
    escapes; a ``name*=charset'lang'percent-encoded`` value (RFC 5987) is decoded and wins
    over a plain ``name=``. Parameters without ``=`` are dropped.

    Compared with Tornado:
        Simplified: written directly instead of on ``email.utils``.
        Left out: RFC 2231 continuations (``name*0=``, ``name*1=``) are not joined.
        Differs on purpose: a ``\\`` or ``"`` percent-encoded in a ``name*=`` value comes
        out as itself; Tornado (through ``email.utils``' re-quoting) returns it escaped, so
        ``filename*=utf-8''C%3A%5Cf.txt`` gives it ``C:\\\\f.txt``.
    """
    value, *raw_params = _split_on_semicolons(line)
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    for raw in raw_params:
        name, equals, param = raw.partition("=")
        if not equals:
            continue
        name, param = name.strip().lower(), _unquote_param(param.strip())
        if extended_name := _EXTENDED_PARAM_RE.fullmatch(name):
            extended[extended_name[1]] = _decode_rfc5987(param)
        else:
            params[name] = param
    params.update(extended)
    return value, params


def _split_on_semicolons(line: str) -> list[str]:
    """Split at each ``;`` outside double quotes; strip each piece.

    A quote with a backslash just before it does not open or close quoting.
    """
    pieces, start, in_quotes = [], 0, False
    for i, char in enumerate(line):
        if char == '"' and line[i - 1 : i] != "\\":
            in_quotes = not in_quotes
        elif char == ";" and not in_quotes:
            pieces.append(line[start:i].strip())
            start = i + 1
    pieces.append(line[start:].strip())
    return pieces


def _unquote_param(value: str) -> str:
    """``"a\\"b"`` -> ``a"b``. Only ``\\"`` and ``\\\\`` are escapes: IE sends raw ``C:\\dir``."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    return value


def _decode_rfc5987(value: str) -> str:
    """``utf-8'en'%E2%82%AC`` -> ``€`` (RFC 5987 §3.2). No charset means ASCII; an unknown
    one leaves the escapes decoded as latin-1."""
    charset, _language, encoded = value.split("'", 2) if value.count("'") >= 2 else ("", "", value)
    try:
        return urllib.parse.unquote(encoded, encoding=charset or "us-ascii", errors="replace")
    except LookupError:
        return urllib.parse.unquote(encoded, encoding="latin-1")


# ---- Cookies ------------------------------------------------------------------------------


# Tornado: tornado/httputil.py::parse_cookie
def parse_cookie(cookie: str) -> dict[str, str]:
    """Parse a ``Cookie`` header the way browsers write it, not the way the RFCs say.

    Pairs split at every ``;`` (even inside quotes) and at the first ``=``; a piece without
    ``=`` is a value with an empty name; a later name wins. Quoted values are unquoted with
    ``http.cookies``' escapes (``\\"`` and octal ``\\042``). This is Django's algorithm.
    """
    cookies = {}
    for piece in cookie.split(";"):
        name, equals, value = piece.partition("=")
        if not equals:
            name, value = "", piece  # Firefox's reading of a bare value
        name, value = name.strip(), value.strip()
        if name or value:
            cookies[name] = _unquote_cookie(value)
    return cookies


_COOKIE_ESCAPE_RE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))")


# Tornado: tornado/httputil.py::_unquote_cookie
def _unquote_cookie(value: str) -> str:
    """Undo ``http.cookies``' quoting: ``"a\\"b\\012"`` -> ``a"b`` + newline. One regex pass,
    so a long run of backslashes costs linear time (CVE-2024-7592 was a quadratic loop)."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _COOKIE_ESCAPE_RE.sub(lambda m: chr(int(m[1], 8)) if m[1] else m[2], value[1:-1])


# Last, not first: httputil imports this module's names as it loads, so by the time this line
# runs they all exist, whichever of the two modules was imported first. The functions above
# look up httputil.HTTPInputError and httputil.HTTPHeaders only when called.
from minitornado import httputil  # noqa: E402
