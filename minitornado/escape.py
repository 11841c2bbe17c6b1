"""Strings in and out of a web app: bytes and text, JSON, URLs, HTML, query strings.

Mirrors: tornado/escape.py (Tornado 6.6)

Small conversions an application and the server use at their edges. The network deals in
bytes, Python code in ``str``: ``utf8`` and ``to_unicode`` cross between the two (UTF-8, and
``None`` passes through). ``json_encode`` makes JSON that can sit inside an HTML
``<script>`` element; ``url_escape`` / ``url_unescape`` default to the query-string rules
(a space is ``+``), unlike ``urllib.parse``; ``xhtml_escape`` makes text safe inside HTML.
``parse_qs_bytes`` splits a query string or a urlencoded body into names and byte values.

Kept: ``utf8``, ``to_unicode`` and its aliases ``to_basestring`` / ``native_str``,
``recursive_unicode``, ``json_encode`` / ``json_decode``, ``url_escape`` / ``url_unescape``
(``plus=``, ``encoding=None`` for bytes), ``xhtml_escape`` / ``xhtml_unescape``,
``squeeze``, ``parse_qs_bytes`` (with ``max_num_fields``); the same results, types and error
messages as Tornado's, and an unquoting whose peak memory stays a small multiple of its input.

Left out: ``linkify`` (turns URLs in text into ``<a>`` links; the template helpers use it)
and the ``_unicode`` alias; both in tornado/escape.py.

Study path: none of the steps is defined here; at steps 15 and 16 ``HTTPServerRequest``
parses its query string and a urlencoded body with ``parse_qs_bytes``.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from typing import Any, overload

# ---- Bytes and text -------------------------------------------------------------------------


@overload
def utf8(value: bytes) -> bytes: ...
@overload
def utf8(value: str) -> bytes: ...
@overload
def utf8(value: None) -> None: ...


# Tornado: tornado/escape.py::utf8
def utf8(value: str | bytes | None) -> bytes | None:
    """``value`` as bytes: a str is encoded as UTF-8; bytes and ``None`` come back as given.

    Anything else raises ``TypeError``.

    >>> utf8("café"), utf8(b"caf\\xc3\\xa9"), utf8(None)
    (b'caf\\xc3\\xa9', b'caf\\xc3\\xa9', None)

    Compared with Tornado:
        Same: the result types and the ``TypeError`` message.
    """
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"Expected bytes, unicode, or None; got {type(value)!r}")


@overload
def to_unicode(value: str) -> str: ...
@overload
def to_unicode(value: bytes) -> str: ...
@overload
def to_unicode(value: None) -> None: ...


# Tornado: tornado/escape.py::to_unicode
def to_unicode(value: str | bytes | None) -> str | None:
    """``value`` as str: bytes are decoded as UTF-8; a str and ``None`` come back as given.

    Anything else raises ``TypeError``; bytes that are not UTF-8 raise
    ``UnicodeDecodeError``.

    >>> to_unicode(b"caf\\xc3\\xa9"), to_unicode("café"), to_unicode(None)
    ('café', 'café', None)

    Compared with Tornado:
        Same: the result types and the ``TypeError`` message.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"Expected bytes, unicode, or None; got {type(value)!r}")


# Names from Python 2 days, when "native" and "base" strings were not always unicode. Old
# applications still import them.
# Tornado: tornado/escape.py::native_str
native_str = to_unicode
to_basestring = to_unicode


# Tornado: tornado/escape.py::recursive_unicode
def recursive_unicode(obj: Any) -> Any:
    """``obj`` with every bytes value turned into str (UTF-8), inside dicts (keys too),
    lists and tuples, at any depth. Other values are returned as they are.

    >>> recursive_unicode({b"k": [b"v", (b"w", 1)]})
    {'k': ['v', ('w', 1)]}
    """
    if isinstance(obj, bytes):
        return to_unicode(obj)
    if isinstance(obj, dict):
        return {recursive_unicode(key): recursive_unicode(item) for key, item in obj.items()}
    if isinstance(obj, list):
        return [recursive_unicode(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(recursive_unicode(item) for item in obj)
    return obj


# ---- JSON -----------------------------------------------------------------------------------


# Tornado: tornado/escape.py::json_encode
def json_encode(value: Any) -> str:
    """``json.dumps(value)``, but ``</`` never appears in the result: it is written ``<\\/``.

    JSON allows ``\\/`` for ``/``. The escape matters when the JSON is put inside an HTML
    ``<script>`` element: a string holding ``</script>`` would otherwise end the element
    there, and what follows would be read as HTML (an injection).

    >>> print(json_encode({"html": "</script>"}))
    {"html": "<\\/script>"}

    Compared with Tornado:
        Same: no keyword arguments, on purpose (Tornado refuses them: the output would no
        longer be what every caller of ``json_encode`` expects).
    """
    return json.dumps(value).replace("</", "<\\/")


# Tornado: tornado/escape.py::json_decode
def json_decode(value: str | bytes) -> Any:
    """The Python value of the JSON text ``value`` (str, or bytes in UTF-8): ``json.loads``."""
    return json.loads(value)


# ---- Whitespace and HTML --------------------------------------------------------------------


# Tornado: tornado/escape.py::squeeze
def squeeze(value: str) -> str:
    """Each run of whitespace or control characters (``\\x00`` to space) becomes one space;
    the ends are stripped.

    >>> squeeze("  one \\t\\n two  ")
    'one two'

    Compared with Tornado:
        Same: "whitespace" is the ASCII range up to space, not ``str.split``'s Unicode set,
        and the final ``strip()`` is ``str.strip`` (which does strip Unicode spaces).
    """
    return re.sub(r"[\x00-\x20]+", " ", value).strip()


# Tornado: tornado/escape.py::xhtml_escape
def xhtml_escape(value: str | bytes) -> str:
    """Text safe inside HTML or XML: ``& < > " '`` become entities. Always returns str.

    Attribute values must still be quoted.

    >>> xhtml_escape("<a href='x'>&</a>")
    '&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;'

    Compared with Tornado:
        Same: ``html.escape`` on the text (bytes are decoded as UTF-8 first).
    """
    return html.escape(to_unicode(value))


# Tornado: tornado/escape.py::xhtml_unescape
def xhtml_unescape(value: str | bytes) -> str:
    """Undo HTML character references (``&amp;``, ``&#32;``, ``&eacute;``...), as HTML5 does.

    >>> xhtml_unescape("&lt;b&gt; &amp; &#x27;")
    "<b> & '"

    Compared with Tornado:
        Same: ``html.unescape`` on the text (bytes are decoded as UTF-8 first).
    """
    return html.unescape(to_unicode(value))


# ---- URLs -----------------------------------------------------------------------------------


# Tornado: tornado/escape.py::url_escape
def url_escape(value: str | bytes, plus: bool = True) -> str:
    """``value`` percent-encoded for a URL (a str is encoded as UTF-8 first).

    With ``plus=True`` (the default) the result is for a query string: a space becomes
    ``+`` and ``/`` becomes ``%2F``. With ``plus=False`` it is for a path: a space is
    ``%20`` and ``/`` stays. Note that ``urllib.parse.quote`` defaults the other way.

    >>> url_escape("a b/c"), url_escape("a b/c", plus=False)
    ('a+b%2Fc', 'a%20b/c')
    """
    if plus:
        return urllib.parse.quote_plus(value)
    return urllib.parse.quote(value)


@overload
def url_unescape(value: str | bytes, encoding: None, plus: bool = True) -> bytes: ...
@overload
def url_unescape(value: str | bytes, encoding: str = "utf-8", plus: bool = True) -> str: ...


# Tornado: tornado/escape.py::url_unescape
def url_unescape(
    value: str | bytes, encoding: str | None = "utf-8", plus: bool = True
) -> str | bytes:
    """Undo ``url_escape``: percent escapes are decoded, and with ``plus=True`` (the
    default, for query strings and form values) a ``+`` is a space.

    The escaped bytes are decoded with ``encoding`` (invalid sequences become U+FFFD);
    ``encoding=None`` returns the bytes. A bytes ``value`` is first read as UTF-8, except
    for ``encoding=None, plus=False``, which takes it as it is.

    >>> url_unescape("caf%C3%A9+au+lait"), url_unescape("a+b%2B", None, plus=False)
    ('café au lait', b'a+b+')

    Compared with Tornado:
        Same: a bytes ``value`` that is not UTF-8 raises ``UnicodeDecodeError`` (but with
        ``encoding=None, plus=False``).
    """
    if encoding is None:
        if not plus:
            return urllib.parse.unquote_to_bytes(value)
        # unquote_to_bytes has no "plus" variant: swap "+" for a space first.
        return urllib.parse.unquote_to_bytes(to_unicode(value).replace("+", " "))
    if plus:
        return urllib.parse.unquote_plus(to_unicode(value), encoding=encoding)
    return urllib.parse.unquote(to_unicode(value), encoding=encoding)


# ---- Query strings --------------------------------------------------------------------------


# Tornado: tornado/escape.py::parse_qs_bytes
def parse_qs_bytes(
    qs: str | bytes,
    keep_blank_values: bool = False,
    strict_parsing: bool = False,
    *,
    max_num_fields: int | None = None,
) -> dict[str, list[bytes]]:
    """Like ``urllib.parse.parse_qs``, but values stay bytes and names are latin-1 str.

    Fields are split on ``&``; ``+`` is a space and percent escapes are undone to raw
    bytes, so ``%C3%A9`` is ``b"\\xc3\\xa9"`` (which charset they are in is decided later:
    ``RequestHandler.decode_argument`` says UTF-8). A str ``qs`` is taken as latin-1, the
    way the request line was decoded. Fields with an empty value are dropped unless
    ``keep_blank_values``; ``strict_parsing`` raises ``ValueError`` on an empty field or
    one without ``=``. More than ``max_num_fields`` fields (empty ones count) raise
    ``ValueError`` before any is decoded.

    >>> parse_qs_bytes("a=1&b=%C3%A9+x&a=2")
    {'a': [b'1', b'2'], 'b': [b'\\xc3\\xa9 x']}

    Compared with Tornado:
        Same: results and error messages, and a peak memory that is a small multiple of
        the input (``urllib.parse.unquote_to_bytes`` alone can need a hundred times the
        input at once); ``_unquote_to_bytes`` says how.
    """
    if isinstance(qs, str):
        qs = qs.encode("latin-1")
    if not qs:
        return {}
    # Count before splitting, so an oversized input costs one pass and no list.
    if max_num_fields is not None and qs.count(b"&") + 1 > max_num_fields:
        raise ValueError("Max number of fields exceeded")
    result: dict[str, list[bytes]] = {}
    for field in qs.split(b"&"):
        if not field and not strict_parsing:
            continue
        name, has_equals, value = field.partition(b"=")
        if not has_equals and strict_parsing:
            raise ValueError(f"bad query field: {field!r}")
        if value or keep_blank_values:
            key = _unquote_to_bytes(name.replace(b"+", b" ")).decode("latin-1")
            result.setdefault(key, []).append(_unquote_to_bytes(value.replace(b"+", b" ")))
    return result


# At most this many bytes are unquoted at once (see _unquote_to_bytes).
_UNQUOTE_CHUNK = 1024


# Tornado: tornado/escape.py::_unquote_to_bytes (same result, another way)
def _unquote_to_bytes(data: bytes) -> bytes:
    """``urllib.parse.unquote_to_bytes(data)``, in pieces so the peak memory stays bounded.

    The standard library makes Python objects for each ``%`` while it works, up to about
    185 bytes of them per ``%`` (a run of lone ``%``): a 1 MB body would cost 185 MB at
    once. Cut into pieces of ``_UNQUOTE_CHUNK`` bytes, that cost is paid for one piece at a
    time. A cut never falls inside an escape: when one of the last two bytes before it is
    a ``%``, the cut moves back to that ``%``.

    Compared with Tornado:
        Same: the result, for every input.
        Simplified: Tornado decodes with ``binascii.a2b_qp`` after swapping ``%`` and
        ``=`` (about four times faster, and trickier to read); this reuses the standard
        library, piecewise (faster than the standard library on the whole input).
    """
    if b"%" not in data:
        return data
    if len(data) <= _UNQUOTE_CHUNK:
        return urllib.parse.unquote_to_bytes(data)
    pieces = []
    start = 0
    while start < len(data):
        end = start + _UNQUOTE_CHUNK
        if end < len(data):
            percent = data.find(b"%", end - 2, end)
            if percent != -1:
                end = percent
        pieces.append(urllib.parse.unquote_to_bytes(data[start:end]))
        start = end
    return b"".join(pieces)
