"""Where h11 accepts what Tornado refuses: the checks and limits added on top of h11.

Mirrors: the strict parts of tornado/http1connection.py (``_read_message_inner``,
``_read_body``, ``is_transfer_encoding_chunked``) and tornado/httputil.py
(``HTTPHeaders.parse_line``, ``parse_request_start_line``) that h11 0.16 does not share.

h11 parses the request line, the header block and the body framing, and it already refuses
most of what Tornado refuses (a missing or repeated ``Host``, a bad or conflicting
``Content-Length``, a transfer coding other than ``chunked``, a malformed chunk size). It is
more lenient in a few places, measured byte for byte in ANATOMY §3.13. ``HTTP1Connection``
turns h11's ``Request`` into Tornado's start line and headers with ``request_from_h11``,
which also refuses those inputs as Tornado refuses them (a 400 and a closed connection),
before the delegate sees the request.

Kept (what Tornado refuses and h11 accepts, answered with Tornado's 400 and log message):
    a version other than HTTP/1.x (h11 takes any ``HTTP/d.d``);
    obs-fold header lines (h11 joins them to the line above);
    ``Transfer-Encoding`` together with ``Content-Length`` (h11 follows the first);
    control characters in header values (``HTTPHeaders.add`` refuses them, called here).
Kept too, the limits h11 lacks: ``max_header_size`` for a complete header block (h11's
``max_incomplete_event_size`` only counts a block that has not fully arrived), and
``max_body_size``. And one leniency: one empty line before the request line is skipped
(Tornado and RFC 9112 §2.2 skip it; h11 refuses it).

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
