"""Everything that exists only because h11 parses: the checks, limits and answers added on top.

Mirrors: the strict parts of tornado/http1connection.py (``_read_message_inner``,
``_read_body``, ``is_transfer_encoding_chunked``) and tornado/httputil.py
(``HTTPHeaders.parse_line``, ``parse_request_start_line``) that h11 0.16 does not share.

h11 parses the request line, the header block and the body framing, and it already refuses
most of what Tornado refuses (a missing or repeated ``Host``, a bad or conflicting
``Content-Length``, a transfer coding other than ``chunked``, a malformed chunk size). It is
more lenient in the few places listed below, each compared byte for byte with Tornado in
tests/test_hostile_corpus.py and tests/test_http_differential.py. ``HTTP1Connection`` turns
h11's ``Request`` into Tornado's start line and headers with ``request_from_h11``, which
also refuses those inputs as Tornado refuses them (a 400 and a closed connection), before
the delegate sees the request. Of the serving modules, only this one and ``http1connection``
import h11, whose reading ladder takes h11's events.

Kept (what Tornado refuses and h11 accepts, answered with Tornado's 400 and log message):
    a version other than HTTP/1.x (h11 takes any ``HTTP/d.d``);
    obs-fold header lines (h11 joins them to the line above);
    ``Transfer-Encoding`` together with ``Content-Length`` (h11 follows ``Transfer-Encoding``);
    control characters in header values (``HTTPHeaders.add`` refuses them, called here).
Kept too, the limits h11 lacks: ``max_header_size`` for a complete header block (h11's
``max_incomplete_event_size`` only counts a block that has not fully arrived), and
``max_body_size``, with our answers to both (431 and 413, where Tornado closes or sends a
bare 400: ``answer_to_refused``). And one leniency: one empty line before the request line
is skipped (Tornado and RFC 9112 §2.2 skip it; h11 refuses it). Where h11 refuses what
Tornado refuses too, the reason logged is Tornado's (``tornado_reason``).

Checked elsewhere, as in Tornado: a malformed ``Host`` (``httputil.HTTPServerRequest``).

Left out: refusing chunk extensions and trailers (Tornado answers 400; h11 accepts them as
RFC 9112 §7.1 allows, and so do we: see ``http1connection``'s ``Compared with Tornado``).

Study path: step 14 (``HTTP1Connection.read_response`` calls these on each request).
"""

import re

import h11

from minitornado import httputil

# RFC 9112 §5.2: a header line starting with SP or HTAB continues the line above (obs-fold).
# One pass finds whichever comes first: such a line, or the empty line that ends the block
# (h11's end-of-block rule: LF, an optional CR, LF).
_FOLD_OR_END_OF_BLOCK = re.compile(rb"\n(?:([ \t])|\r?\n)")
# Where Tornado's reading of a header block stops (its read_until_regex in _read_message).
_END_OF_BLOCK = re.compile(rb"\r?\n\r?\n")


# Our answers for the two limits, where Tornado sends nothing (431) or the bare 400 (413).
ANSWER_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Connection: close\r\nContent-Length: 0\r\n\r\n"
)
ANSWER_413 = b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"



class RequestHeaderFieldsTooLarge(httputil.HTTPInputError):
    """The header block is longer than ``max_header_size``: answered 431 (RFC 6585 §5)."""


class ContentTooLarge(httputil.HTTPInputError):
    """The body is longer than ``max_body_size``: answered 413 (RFC 9110 §15.5.14)."""


def skip_empty_line(data: bytes) -> bytes:
    """``data`` without one leading empty line (CRLF or a bare LF), if it starts with one.

    RFC 9112 §2.2: a server SHOULD ignore at least one empty line received before the
    request line (clients have been known to send one after a POST body). Tornado ignores
    exactly one; a second one is an empty request line, and 400.
    """
    if data.startswith(b"\r\n"):
        return data[2:]
    if data.startswith(b"\n"):
        return data[1:]
    return data


def request_from_h11(
    event: h11.Request, received: bytes, max_header_size: int
) -> tuple[httputil.RequestStartLine, httputil.HTTPHeaders]:
    """Tornado's start line and headers for h11's ``Request``, refused where Tornado refuses.

    ``received`` is what was fed to h11 for this request (see ``check_header_block``).
    Raises ``HTTPInputError`` (or ``RequestHeaderFieldsTooLarge``).
    """
    check_header_block(received, max_header_size)
    # h11 checked the request line and header names against the RFC grammar; as Tornado
    # reads headers, one byte is one character (latin-1).
    start_line = httputil.RequestStartLine(
        event.method.decode("latin-1"),
        event.target.decode("latin-1"),
        "HTTP/" + event.http_version.decode("latin-1"),
    )
    headers = httputil.HTTPHeaders()
    for name, value in event.headers.raw_items():
        # add() also refuses control characters in a value, which h11 lets through.
        headers.add(name.decode("latin-1"), value.decode("latin-1"))
    check_request(start_line, headers)
    return start_line, headers


def check_header_block(received: bytes, max_header_size: int) -> None:
    """Refuse a complete header block that is folded or longer than ``max_header_size``.

    ``received`` starts at the request line and holds at least the whole block: h11 has just
    parsed a request out of these very bytes. The size counts the final empty line, as
    Tornado's does (a block of exactly ``max_header_size`` bytes is accepted).
    """
    match = _FOLD_OR_END_OF_BLOCK.search(received)
    if match is None:
        return  # not reached: h11 found the end of the block in these bytes
    if match[1] is not None:
        raise httputil.HTTPInputError(
            "header line cannot start with whitespace, folding not supported"
        )
    if match.end() > max_header_size:
        raise RequestHeaderFieldsTooLarge(
            f"header block of {match.end()} bytes exceeds max_header_size {max_header_size}"
        )


def check_request(start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders) -> None:
    """Refuse a version other than HTTP/1.x, and a body framed two ways at once."""
    if not start_line.version.startswith("HTTP/1."):
        raise httputil.HTTPInputError(f"Unexpected HTTP version {start_line.version!r}")
    # RFC 9112 §6.3: with both headers the length is ambiguous between a proxy and us, the
    # classic request smuggling setup. The RFC lets a server follow Transfer-Encoding (h11
    # does) or refuse the message; Tornado refuses it.
    if "Transfer-Encoding" in headers and "Content-Length" in headers:
        raise httputil.HTTPInputError("Message with both Transfer-Encoding and Content-Length")


def check_content_length(headers: httputil.HTTPHeaders, max_body_size: int) -> None:
    """Refuse a declared body longer than ``max_body_size`` before reading any of it.

    h11 has already checked the value (digits only; repeated values must be equal, and it
    keeps one), so ``int()`` cannot fail here.
    """
    if "Content-Length" in headers and int(headers["Content-Length"]) > max_body_size:
        raise ContentTooLarge("Content-Length too long")


def chunk_bytes_announced(conn: h11.Connection) -> int:
    """How many bytes of the chunk being read h11 still expects (0 outside a chunked body).

    Tornado refuses a chunk whose size line alone exceeds ``max_body_size``; h11 parses the
    size but keeps it to itself, in its reader (``_bytes_in_chunk`` of ``ChunkedReader``,
    private in h11 0.16, the version pinned). ``tests/test_hostile_corpus.py`` fails if it
    ever moves, rather than this silently returning 0.
    """
    return int(getattr(conn._reader, "_bytes_in_chunk", 0))


def answer_to_refused(error: Exception, reading_headers: bool) -> bytes | None:
    """Our answer to a request refused for one of the two limits; None for any other refusal
    (``HTTP1Connection`` then sends Tornado's bare 400)."""
    if isinstance(error, RequestHeaderFieldsTooLarge) or (
        # h11's own limit on a header block that has not fully arrived yet.
        reading_headers
        and isinstance(error, h11.RemoteProtocolError)
        and error.error_status_hint == 431
    ):
        return ANSWER_431
    if isinstance(error, ContentTooLarge):
        return ANSWER_413
    return None


# ---- Tornado's words for h11's refusals -----------------------------------------------------

# When h11 refuses a request that Tornado refuses too, the log line and the HTTPInputError say
# what Tornado says. One table, from the start of h11's message to Tornado's reason. A header
# block's reasons quote what Tornado read ("Only integer Content-Length is allowed: abc"),
# so for those Tornado's reading of the same bytes is done again (reason_for_header_block);
# a body's reasons are fixed texts.
_TORNADO_REASONS: dict[str, str | None] = {
    # In the header block (request line, headers, Host, framing):
    "illegal request line": None,
    "no request line received": None,
    "illegal header line": None,
    "continuation line at start of headers": None,
    "Missing mandatory Host: header": None,
    "Found multiple Host: headers": None,
    "bad Content-Length": None,
    "conflicting Content-Length headers": None,
    "Only Transfer-Encoding: chunked is supported": None,
    "multiple Transfer-Encoding headers": None,
    # In a chunked body:
    "illegal chunk header": "invalid chunk size",
    "malformed chunk footer": "improperly terminated chunk",
}


def tornado_reason(error: h11.RemoteProtocolError, received: bytes, max_body_size: int) -> str:
    """What Tornado gives as the reason for refusing the request h11 refused with ``error``.

    ``received``: the bytes fed to h11 for this request's header block (empty once the
    block was parsed: a refusal in the body needs none). h11's own words are kept where
    Tornado would not refuse the request (a declared difference) or where the table has no
    entry.
    """
    h11_reason = str(error)
    for prefix, reason in _TORNADO_REASONS.items():
        if h11_reason.startswith(prefix):
            if reason is None:
                reason = reason_for_header_block(received, max_body_size)
            return reason if reason is not None else h11_reason
    return h11_reason


def reason_for_header_block(received: bytes, max_body_size: int) -> str | None:
    """Read a header block as Tornado does, in its order: the header lines, the request line,
    ``Host``, then the body's framing. Returns Tornado's reason for refusing it, or None if
    Tornado would accept it."""
    # Tornado's block ends at the first empty line, and the line ends before it are skipped.
    # One empty line was skipped already (skip_empty_line): a block that starts with a second
    # one is empty to Tornado, whose reading stops right there.
    end = _END_OF_BLOCK.search(received)
    block = received[: end.start() if end else len(received)]
    text = "" if received.startswith((b"\r\n", b"\n")) else block.decode("latin-1")
    eol = text.find("\n")
    start_line, header_lines = (text, "") if eol == -1 else (text[:eol].rstrip("\r"), text[eol:])
    try:
        headers = httputil.HTTPHeaders.parse(header_lines)
        request = httputil.parse_request_start_line(start_line)
        httputil.HTTPServerRequest(start_line=request, headers=headers)  # it checks Host
        check_framing(headers, max_body_size)
    except httputil.HTTPInputError as e:
        return str(e)
    return None


def check_framing(headers: httputil.HTTPHeaders, max_body_size: int) -> None:
    """Tornado's checks of ``Content-Length`` and ``Transfer-Encoding``, with its messages."""
    if "Content-Length" in headers:
        value = headers["Content-Length"]
        pieces = re.split(r",[ \t]*", value)
        if any(piece != pieces[0] for piece in pieces):
            raise httputil.HTTPInputError(f"Multiple unequal Content-Lengths: {value!r}")
        if not (pieces[0].isascii() and pieces[0].isdigit()):
            raise httputil.HTTPInputError(f"Only integer Content-Length is allowed: {pieces[0]}")
        if int(pieces[0]) > max_body_size:
            raise httputil.HTTPInputError("Content-Length too long")
    if "Transfer-Encoding" in headers:
        if "Content-Length" in headers:
            raise httputil.HTTPInputError(
                "Message with both Transfer-Encoding and Content-Length"
            )
        if headers["Transfer-Encoding"].lower() != "chunked":
            raise httputil.HTTPInputError(
                f"Unsupported Transfer-Encoding {headers['Transfer-Encoding']}"
            )
