"""The requests ``minitornado.study.compare`` sends to both servers, each by name.

Mirrors: nothing in Tornado (a tool of ours). The cases come from what was observed of
Tornado 6.6.1 on the wire, aimed at the routes of ``demo_app.py``.

Each ``Case`` is raw bytes sent as they are on a fresh connection: well-formed requests to
every route (they say ``Connection: close``, so the server's close ends the answer),
keep-alive and pipelining (they say how many responses to wait for), the framing and size
edge cases, and malformed input. ``custom`` turns ``--request NAME=RAW`` into a case, and
``read_requests_file`` the entries of a ``--requests`` file (its format is in
``minitornado/study/compare.py``). The shape functions at the end (``target_has_raw_utf8``,
``has_chunk_extension``, ...) look at a request's bytes, so that a declared difference is
recognised on any request of its shape, not only on the built-in one that shows it.

Kept: the requests that apply to the demo app. Left out: timeouts (each would cost its
seconds), and anything needing a server option the demo does not set.

Study path: none; these requests walk steps 10 to 17 (one request) on both servers.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One request: a name, the raw bytes, and what the reader must know to frame the answer.

    ``responses`` final responses are awaited (pipelined requests get several); ``head``
    says the answers carry no body. ``custom`` marks a request given on the command line.
    """

    name: str
    raw: bytes
    responses: int = 1
    head: bool = False
    about: str = ""
    custom: bool = False


def request(target: str, *headers: str, method: str = "GET", body: bytes = b"",
            version: str = "HTTP/1.1", close: bool = True) -> bytes:  # fmt: skip
    """A well-formed request: ``Host: x`` first, ``Connection: close`` last unless told."""
    lines = [f"{method} {target} {version}", "Host: x", *headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def custom(spec: str) -> Case:
    """``NAME=RAW`` from the command line, RAW with backslash escapes (``\\r\\n``, ``\\x01``)."""
    name, equals, raw = spec.partition("=")
    if not equals or not name:
        raise ValueError(f"--request wants NAME=RAW, got {spec!r}")
    data = raw.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
    return Case(name, data, head=data.startswith(b"HEAD "), about="given with --request",
                custom=True)  # fmt: skip


def read_requests_file(text: str, source: str) -> list[Case]:
    """The entries of a ``--requests`` file: ``### NAME [about]`` lines, each request below its own.

    The head (down to its first empty line) has its line ends made CRLF and always ends
    with an empty line. Trailing empty lines and the last line end of an entry are not
    sent. A body goes as written, except that a chunked body's line ends become CRLF and
    the last chunk gets its closing empty line; a body whose head has neither
    Content-Length nor Transfer-Encoding gets ``Content-Length`` added. Lines before the
    first ``###`` must be empty or start with ``#``. ``source`` names the file in errors.
    """
    entries: list[tuple[int, str, list[str]]] = []  # (line number, "### ..." line, lines)
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("###"):
            entries.append((number, line, []))
        elif entries:
            entries[-1][2].append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"{source}:{number}: a request must follow a '### NAME' line")
    cases: list[Case] = []
    for number, marker, lines in entries:
        name, _, about = marker[3:].strip().partition(" ")
        where = f"{source}:{number}"
        if not name:
            raise ValueError(f"{where}: '###' wants a name after it")
        if name in {case.name for case in cases}:
            raise ValueError(f"{where}: a second request named {name}")
        cases.append(_file_case(name, about.strip() or f"from {source}", lines, where))
    if not cases:
        raise ValueError(f"{source}: no '### NAME' line, so no request")
    return cases


def _file_case(name: str, about: str, lines: list[str], where: str) -> Case:
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{where}: request {name} is empty")
    blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    head_lines, body_lines = lines[:blank], lines[blank + 1 :]
    head = "".join(line + "\r\n" for line in head_lines).encode()
    fields = head.lower()
    if re.search(rb"\r\ntransfer-encoding:[^\r]*chunked", fields):
        body = "".join(line + "\r\n" for line in body_lines).encode() + b"\r\n"
    else:
        body = "\n".join(body_lines).encode()
        if body and not re.search(rb"\r\n(content-length|transfer-encoding):", fields):
            head += f"Content-Length: {len(body)}\r\n".encode()
    raw = head + b"\r\n" + body
    return Case(name, raw, head=raw.startswith(b"HEAD "), about=about, custom=True)


# ---- Well-formed, one per route of demo_app.py ----------------------------------------------

FORM = b"q=caf%C3%A9&q=2"
CHUNKED_FORM = b"4\r\nq=ca\r\nb\r\nf%C3%A9&q=2\r\n0\r\n\r\n"
FORM_TYPE = "Content-Type: application/x-www-form-urlencoded"

ROUTES = [
    Case("index", request("/"), about="GET / (the index page)"),
    Case("hello", request("/hello"), about="the hello handler"),
    Case("hello-second-path", request("/hi"), about="the same handler on its second path"),
    Case("hello-query", request("/hello?name=caf%C3%A9+x"), about="a query argument"),
    Case("json", request("/json"), about="a dict written as JSON"),
    Case("path-args", request("/args/a%2Fb/7"), about="path arguments, unquoted after matching"),
    Case("path-args-bad-utf8", request("/args/%FF/7"), about="a path argument not UTF-8: 400"),
    Case("form-post", request("/form?q=fromquery", FORM_TYPE, f"Content-Length: {len(FORM)}",
                              method="POST", body=FORM), about="a urlencoded form POST"),
    Case("form-chunked", request("/form", FORM_TYPE, "Transfer-Encoding: chunked",
                                 method="POST", body=CHUNKED_FORM), about="the form, chunked"),
    Case("form-100-continue", request("/form", FORM_TYPE, f"Content-Length: {len(FORM)}",
                                      "Expect: 100-continue", method="POST", body=FORM),
         about="Expect: 100-continue: an interim 100, then the answer"),
    Case("stream", request("/stream?delay=0"), about="a response sent in pieces with flush()"),
    Case("stream-http10", request("/stream?delay=0", version="HTTP/1.0", close=False),
         about="the same over HTTP/1.0: no chunks, the close ends it"),
    Case("async", request("/async?seconds=0.01"), about="an async def handler"),
    Case("blocking", request("/blocking?seconds=0.05"), about="a handler that blocks the loop"),
    Case("error", request("/error"), about="a handler that raises: the 500 page"),
    Case("etag-304", request("/", "If-None-Match: *"), about="If-None-Match: * gives 304"),
]  # fmt: skip

# ---- Methods, 404, HTTP/1.0, keep-alive and pipelining --------------------------------------

CONNECTION = [
    Case("head", request("/", method="HEAD"), head=True, about="HEAD on a GET-only handler"),
    Case("not-found", request("/nope"), about="no route: the 404 page"),
    Case("post-to-get-only", request("/", "Content-Length: 0", method="POST"),
         about="a method the handler lacks: 405"),
    Case("unknown-method", request("/", method="FOO"), about="an unknown method: 405"),
    Case("lowercase-method", request("/", method="get"), about="methods are case-sensitive"),
    Case("http10", b"GET / HTTP/1.0\r\n\r\n", about="HTTP/1.0, no Host: served, then closed"),
    Case("http10-keep-alive", request("/", "Connection: keep-alive", version="HTTP/1.0",
                                      close=False), about="HTTP/1.0 asking to keep the connection"),
    Case("keep-alive", request("/", close=False), about="HTTP/1.1 without Connection: open"),
    Case("http12", request("/", version="HTTP/1.2", close=False),
         about="HTTP/1.2 follows the HTTP/1.0 rules"),
    Case("pipelined", request("/blocking?seconds=0.1", close=False) + request("/", close=False)
         + request("/nope"), responses=3, about="three requests in one write"),
    Case("keep-alive-then-close", request("/hello", close=False) + request("/json"),
         responses=2, about="two requests on one connection, the second says close"),
]  # fmt: skip

# ---- Request framing ------------------------------------------------------------------------

FRAMING = [
    Case("chunked-uppercase", request("/form", FORM_TYPE, "Transfer-Encoding: CHUNKED",
                                      method="POST", body=CHUNKED_FORM), about="CHUNKED"),
    Case("content-length-twice", request("/form", FORM_TYPE, "Content-Length: 3",
                                         "Content-Length: 3", method="POST", body=b"q=1"),
         about="two equal Content-Lengths: accepted"),
    Case("content-length-unequal", request("/form", "Content-Length: 3", "Content-Length: 4",
                                           method="POST", body=b"q=1"), about="3 and 4: 400"),
    Case("content-length-plus", request("/form", "Content-Length: +3", method="POST",
                                        body=b"q=1"), about="a signed length: 400"),
    Case("content-length-word", request("/form", "Content-Length: abc", method="POST"),
         about="a length that is no number: 400"),
    Case("te-and-cl", request("/form", "Transfer-Encoding: chunked", "Content-Length: 3",
                              method="POST", body=b"0\r\n\r\n"), about="both framings: 400"),
    Case("te-gzip", request("/form", "Transfer-Encoding: gzip", method="POST"),
         about="a transfer coding other than chunked: 400"),
    Case("chunk-size-bad", request("/form", "Transfer-Encoding: chunked", method="POST",
                                   body=b"zz\r\nhello\r\n0\r\n\r\n"), about="size zz: 400"),
    Case("chunk-extension", request("/form", FORM_TYPE, "Transfer-Encoding: chunked",
                                    method="POST", body=b"3;x=1\r\nq=1\r\n0\r\n\r\n"),
         about="a chunk extension (RFC 9112 §7.1.1)"),
    Case("chunk-trailer", request("/form", FORM_TYPE, "Transfer-Encoding: chunked",
                                  method="POST", body=b"3\r\nq=1\r\n0\r\nX-T: 1\r\n\r\n"),
         about="a trailer field after the last chunk (RFC 9112 §7.1.2)"),
    Case("oversized-headers", request("/", "X-Big: " + "a" * 65536),
         about="a header block over 64 KiB"),
    Case("oversized-body", request("/form", "Content-Length: 104857601", method="POST"),
         about="a Content-Length over the 100 MiB limit (no body sent)"),
    Case("query-1000-args", request("/?" + "&".join(["a=1"] * 1000)), about="1000 arguments"),
    Case("query-1001-args", request("/?" + "&".join(["a=1"] * 1001)), about="1001: refused"),
]  # fmt: skip

# ---- Malformed request lines and headers ----------------------------------------------------

MALFORMED = [
    Case("garbage", b"GARBAGE\r\n\r\n", about="no request line at all"),
    Case("garbage-then-request", b"GARBAGE\r\n\r\n" + request("/"),
         about="the request after the garbage is never read"),
    Case("version-2", request("/", version="HTTP/2.0"), about="HTTP/2.0 in an HTTP/1 line"),
    Case("version-lowercase", request("/", version="http/1.1"), about="http/1.1"),
    Case("two-spaces", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", about="two spaces after GET"),
    Case("no-version", b"GET /\r\nHost: x\r\n\r\n", about="no HTTP version"),
    Case("control-char-target", b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
         about="a control character in the target"),
    Case("raw-utf8-target", "GET /hello?name=é HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
         .encode(), about="raw (unencoded) UTF-8 in the target"),
    Case("host-missing", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", about="no Host"),
    Case("host-twice", request("/", "Host: y"), about="two Host headers"),
    Case("host-with-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", about="Host: a b"),
    Case("host-empty", b"GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
         about="an empty Host is accepted"),
    Case("header-no-colon", request("/", "X-Foo"), about="a header line with no colon"),
    Case("header-space-before-colon", request("/", "X-Foo : bar"), about="X-Foo : bar"),
    Case("header-obs-fold", request("/", "X-Foo: a", " b"), about="a folded header line"),
    Case("header-control-char", request("/", "X-Foo: a\x01b"), about="\\x01 in a value"),
    Case("header-latin1", request("/", "X-Foo: caf\xe9"), about="a latin-1 byte: accepted"),
    Case("bare-lf", b"GET / HTTP/1.1\nHost: x\nConnection: close\n\n", about="LF line ends"),
    Case("one-leading-crlf", b"\r\n" + request("/"), about="one empty line first: skipped"),
    Case("two-leading-crlf", b"\r\n\r\n" + request("/"), about="two empty lines first: 400"),
]  # fmt: skip

CASES: list[Case] = ROUTES + CONNECTION + FRAMING + MALFORMED
# What ``--app`` sends of the built-ins: they test the server whatever the app's routes (a
# path the app lacks is a 404 on both sides); ROUTES, written for the demo's handlers, are not.
PROTOCOL: list[Case] = CONNECTION + FRAMING + MALFORMED


# ---- Shapes of requests (the first request in the bytes) ------------------------------------

MAX_HEADER_SIZE = 65536  # HTTPServer's default max_header_size (64 KiB), in both libraries
MAX_BODY_SIZE = 104857600  # HTTPServer's default max_body_size (100 MiB), in both libraries


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    """The first request's head (without its empty line) and the bytes after it."""
    match = re.search(rb"\r?\n\r?\n", raw)
    return (raw[: match.start()], raw[match.end() :]) if match else (raw, b"")


def target_has_raw_utf8(raw: bytes) -> bool:
    """A request target with raw bytes above 0x7F (not percent-encoded), as in /?q=café."""
    words = split_head(raw)[0].split(b"\n", 1)[0].split(b" ")
    return len(words) > 1 and any(byte > 0x7F for byte in words[1])


def header_block_too_large(raw: bytes) -> bool:
    """A head (request line and header fields) over 64 KiB, the default max_header_size."""
    return len(split_head(raw)[0]) > MAX_HEADER_SIZE


def body_too_large(raw: bytes) -> bool:
    """A Content-Length over 100 MiB, the default max_body_size."""
    lengths = re.findall(rb"\ncontent-length:[ \t]*(\d+)", split_head(raw)[0].lower())
    return any(int(length) > MAX_BODY_SIZE for length in lengths)


def has_chunk_extension(raw: bytes) -> bool:
    """A well-formed chunked body where a chunk size carries an extension, as in 3;x=1."""
    chunks = _chunks(raw)
    return chunks is not None and any(b";" in size_line for size_line in chunks[0])


def has_chunk_trailer(raw: bytes) -> bool:
    """A well-formed chunked body with trailer fields after its last chunk."""
    chunks = _chunks(raw)
    return chunks is not None and bool(chunks[1])


def _chunks(raw: bytes) -> tuple[list[bytes], list[bytes]] | None:
    """A chunked body's size lines and trailer lines; None when not chunked or malformed."""
    head, body = split_head(raw)
    if not re.search(rb"\ntransfer-encoding:[^\n]*chunked", head.lower()):
        return None
    sizes, position = [], 0
    while (match := re.match(rb"([0-9a-fA-F]+)([^\r\n]*)\r\n", body[position:])) is not None:
        sizes.append(match.group(0)[:-2])
        position += match.end()
        size = int(match.group(1), 16)
        if size == 0:
            trailer = body[position:].split(b"\r\n\r\n", 1)[0]
            return sizes, [line for line in trailer.split(b"\r\n") if line]
        position += size + 2
    return None
