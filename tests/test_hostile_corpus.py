"""Hostile input: the bytes behind Tornado's past security fixes, sent to both servers.

Tornado 6.6 keeps a corpus of the requests that triggered its security fixes
(``tornado/test/security_corpus_test.py``) and checks only what a client can see: the status,
bytes that must not appear, and the log levels. This is our own corpus of the same kinds of
input, widened where a variation could fool a parser one way and a proxy another:

- lengths and chunk sizes that ``int()`` would take but RFC 9112 does not (a sign, an
  underscore, a hex prefix, non-ASCII digits, whitespace Python strips but HTTP does not);
- ``Transfer-Encoding`` and ``Content-Length`` repeated, combined or disguised;
- header and reason-phrase injection through the application's own calls
  (``set_header``, ``redirect``, ``set_status``, ``send_error``, ``set_cookie``);
- 1,001 arguments or parts, and inputs that once took quadratic time.

Every case goes to minitornado's ``HTTPServer`` and to Tornado's, each serving the same
``web.Application``. Tornado's answer is asserted too (so the corpus is right about it), and
ours must be the same, or the one the case declares with its reason: a 413 where Tornado
sends a bare 400, a 400 page where Tornado never answers, and two chunk-size edge cases where
h11 draws the line elsewhere (each also in its module's ``Compared with Tornado`` block).
A case whose framing a confused server could misread carries a second request behind it:
unless the first was valid and read correctly, neither server may ever route it. No case may
make our server log at ERROR (nor Tornado, but in the one case where that is its answer),
and each server must answer a normal request afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from support import IMPLS, TIMEOUT, Client, Served

QUIET = 0.4  # seconds without a byte after which the server counts as done answering
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n"


# ---- The application both servers run ------------------------------------------------------


def make_corpus_app(web: ModuleType) -> Any:
    """Handlers that pass attacker-chosen query values to the calls that once let them through.

    ``/smuggled`` counts the requests that reach it in the ``smuggled`` setting: a request
    hidden behind a misread body would.
    """

    class Echo(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.post()

        def post(self) -> None:
            self.write(
                {
                    "arguments": len(self.request.arguments),
                    "files": len(self.request.files),
                    "cookies": sorted(self.cookies),
                    "body": len(self.request.body),
                }
            )

    class Status(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            code, reason = int(self.get_argument("code")), self.get_argument("reason")
            self.set_status(code, reason)
            if code >= 400:
                self.send_error(code, reason=reason)
            else:
                self.write("ok")

    class Header(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            try:
                self.set_header(self.get_argument("name", "X-Test"), self.get_argument("value"))
            except ValueError:
                self.send_error(400)

    class Redirect(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            try:
                self.redirect(self.get_argument("url"))
            except ValueError:
                self.send_error(400)

    class Cookie(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            import http.cookies

            try:
                self.set_cookie(
                    self.get_argument("name", "a"),
                    self.get_argument("value", "b"),
                    domain=self.get_argument("domain", None),
                    path=self.get_argument("path", "/"),
                    samesite=self.get_argument("samesite", None),
                )
            except (ValueError, http.cookies.CookieError):
                self.send_error(400)

    class Smuggled(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.settings["smuggled"].append(self.request.uri)
            self.write("smuggled")

    return web.Application(
        [
            ("/echo", Echo),
            ("/status", Status),
            ("/header", Header),
            ("/redirect", Redirect),
            ("/cookie", Cookie),
            ("/smuggled", Smuggled),
        ],
        smuggled=[],
    )


@pytest.fixture
async def servers() -> AsyncIterator[dict[tuple[str, str], Served]]:
    """Both implementations' servers, with the default limits and with a 1 MiB header limit."""
    served: dict[tuple[str, str], Served] = {}
    for impl in IMPLS:
        served[impl, "default"] = Served.start(impl, make_corpus_app(impl.web))
        served[impl, "large_headers"] = Served.start(
            impl, make_corpus_app(impl.web), max_header_size=1 << 20
        )
    yield served
    for one in served.values():
        await one.close()


# ---- Sending one case ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    raw: bytes  # everything the server sent
    closed: bool  # it closed the connection afterwards

    @property
    def status(self) -> int | None:
        """The first response's status; None if the server sent nothing."""
        match = re.match(rb"HTTP/1\.1 (\d{3}) ", self.raw)
        return int(match[1]) if match else None


async def send(port: int, data: bytes, first_byte: float = TIMEOUT) -> Answer:
    """Send ``data`` on a new connection; read until the server closes or goes quiet.

    ``first_byte`` is how long to wait for an answer to begin (shorter where the case
    expects none).
    """
    client = await Client.connect(port)
    try:
        client.writer.write(data)  # no drain: a server that stops reading must not stall us
        received, closed = await client.read_until_quiet(first_byte, QUIET)
    finally:
        client.close()
    return Answer(received, closed)


def request(
    method: str, target: str, headers: str = "", body: bytes | None = None, close: bool = True
) -> bytes:
    """A request with ``Host``; ``Content-Length`` is added for a body unless framing is given.

    ``Connection: close`` (the default) lets the answer end with the connection; a request
    with a smuggled one behind it must leave it out, or a server that misread the framing
    would close before it could show it.
    """
    head = f"{method} {target} HTTP/1.1\r\nHost: example.com\r\n"
    if close:
        head += "Connection: close\r\n"
    if body is not None and "Transfer-Encoding" not in headers and "Content-Length" not in headers:
        head += f"Content-Length: {len(body)}\r\n"
    return (head + headers + "\r\n").encode("latin-1") + (body or b"")


def post(content_type: str, body: bytes) -> bytes:
    return request("POST", "/echo", f"Content-Type: {content_type}\r\n", body)


def multipart(*parts: bytes) -> bytes:
    body = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts) + b"--B--\r\n"
    return post("multipart/form-data; boundary=B", body)


def chunked(size_line: bytes, data: bytes = b"ok") -> bytes:
    """A chunked POST whose first chunk-size line is ``size_line``, then the smuggled request."""
    body = size_line + b"\r\n" + data + b"\r\n0\r\n\r\n"
    return request("POST", "/echo", "Transfer-Encoding: chunked\r\n", body, close=False) + SMUGGLED


def with_length(value: str, body: bytes) -> bytes:
    """A POST with ``Content-Length: <value>`` and ``body``, then the smuggled request."""
    head = request("POST", "/echo", f"Content-Length: {value}\r\n", b"", close=False)
    return head + body + SMUGGLED


def with_te(headers: str, body: bytes = b"2\r\nok\r\n0\r\n\r\n") -> bytes:
    """A POST with the given framing headers and a chunked body, then the smuggled request."""
    return request("POST", "/echo", headers, b"", close=False) + body + SMUGGLED


PART = b'Content-Disposition: form-data; name="a"\r\n\r\nb'


@dataclass(frozen=True)
class Case:
    origin: str  # the Tornado release (and CVE) whose fix this input is about, or "ours"
    request: bytes
    status: int | None  # Tornado's answer; None: it sends nothing
    ours: int | str | None = "same"  # our answer where it differs on purpose (see `why`)
    why: str = ""
    # The request behind this one is a genuine pipelined request: a server that answers the
    # first with 200 must route it (once). Otherwise it is smuggled and must never be routed.
    next_is_genuine: bool = False
    forbidden: bytes | None = None  # must appear in neither server's answer
    config: str = "default"
    max_logs: int = 2  # at most this many non-access log records per server
    tornado_logs_error: bool = False  # Tornado's answer is an ERROR log (ours never is)

    @property
    def our_status(self) -> int | None:
        return self.status if self.ours == "same" else self.ours  # type: ignore[return-value]


# Whitespace that Python's str.strip() removes but RFC 9110 §5.6.3 (OWS: SP and HTAB) does
# not allow around a value: a server that strips it reads a length a proxy may refuse.
PY_ONLY_SPACE = {"VT": "\x0b", "FF": "\x0c", "FS": "\x1c", "NEL": "\x85", "NBSP": "\xa0"}

CASES: dict[str, Case] = {
    # -- 6.3.3: Content-Length takes ASCII digits only (int() also takes signs, underscores).
    "content-length plus sign": Case("6.3.3", with_length("+2", b"ok"), 400),
    "content-length minus sign": Case("6.3.3", with_length("-2", b"ok"), 400),
    "content-length underscore": Case("6.3.3", with_length("1_0", b"x" * 10), 400),
    "content-length hex": Case("6.3.3", with_length("0x2", b"ok"), 400),
    "content-length exponent": Case("6.3.3", with_length("1e1", b"x" * 10), 400),
    "content-length decimal point": Case("6.3.3", with_length("2.0", b"ok"), 400),
    "content-length not a number": Case("6.3.3", with_length("foo", b""), 400),
    "content-length empty": Case("ours", with_length("", b""), 400),
    "content-length inner space": Case("ours", with_length("1 0", b"x" * 10), 400),
    "content-length superscript two": Case("ours", with_length("\xb2", b"ok"), 400),
    "content-length arabic-indic digit": Case(
        "ours",
        request("POST", "/echo", "", b"", close=False)[:-2]
        + b"Content-Length: \xd9\xa2\r\n\r\nok"
        + SMUGGLED,
        400,
    ),
    "content-length with leading zeros": Case(
        "ours", with_length("0002", b"ok"), 200, next_is_genuine=True
    ),
    "content-length after a tab": Case(
        "ours", with_length("\t2", b"ok"), 200, next_is_genuine=True
    ),
    "content-length of 30 digits": Case("ours", with_length("9" * 30, b"ok"), 400),
    "content-length over max_body_size": Case(
        "ours",
        with_length("9" * 12, b"ok"),
        400,
        ours=413,
        why="413 Content Too Large names the reason (http1connection: Differs on purpose)",
    ),
    # -- 6.3.3: chunk sizes take hex digits only.
    "chunk size underscore": Case("6.3.3", chunked(b"1_a", b"x" * 26), 400),
    "chunk size hex prefix": Case("6.3.3", chunked(b"0x2"), 400),
    "chunk size plus sign": Case("6.3.3", chunked(b"+2"), 400),
    "chunk size minus sign": Case("6.3.3", chunked(b"-2"), 400),
    "chunk size leading space": Case("ours", chunked(b" 2"), 400),
    "chunk size not hex": Case("ours", chunked(b"2g"), 400),
    "chunk size empty": Case("ours", chunked(b""), 400),
    "chunk size with leading zeros": Case(
        "ours", chunked(b"0" * 8 + b"2"), 200, next_is_genuine=True
    ),
    "chunk size upper-case hex": Case("ours", chunked(b"A", b"x" * 10), 200, next_is_genuine=True),
    "chunk size of 22 digits": Case(
        "ours",
        chunked(b"0" * 21 + b"2"),
        200,
        ours=400,
        why="h11 refuses a chunk size longer than 20 hex digits (2**80 bytes), zeros or not",
        next_is_genuine=True,
    ),
    "chunk size with trailing whitespace": Case(
        "ours",
        chunked(b"2 "),
        400,
        ours=200,
        why="h11 allows whitespace after the size, as before a chunk extension (RFC 9112 "
        "§7.1.1 BWS); the size read is the same, so the next request is still found",
        next_is_genuine=True,
    ),
    "chunk size beyond any limit": Case(
        "ours",
        chunked(b"f" * 20),
        400,
        ours=413,
        why="413 Content Too Large names the reason (http1connection: Differs on purpose)",
    ),
    # The size line alone, no data and no FIN: refused as soon as it is read, not after a
    # data byte the client may never send (the request would hang: no body_timeout here).
    "chunk size line alone over the limit": Case(
        "ours",
        request("POST", "/echo", "Transfer-Encoding: chunked\r\n", b"FFFFFFFF\r\n", close=False),
        400,
        ours=413,
        why="413 Content Too Large names the reason (http1connection: Differs on purpose)",
    ),
    # -- 6.4.1: only "chunked" is a transfer coding we read; a repeated or combined one is
    # refused, and a body with both framings is refused.
    "transfer-encoding gzip, chunked": Case(
        "6.4.1", with_te("Transfer-Encoding: gzip, chunked\r\n"), 400
    ),
    "transfer-encoding identity": Case("ours", with_te("Transfer-Encoding: identity\r\n"), 400),
    "transfer-encoding repeated": Case(
        "6.4.1", with_te("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400
    ),
    "transfer-encoding chunked, chunked": Case(
        "6.4.1", with_te("Transfer-Encoding: chunked, chunked\r\n"), 400
    ),
    "transfer-encoding and content-length": Case(
        "6.4.1", with_te("Transfer-Encoding: chunked\r\nContent-Length: 2\r\n"), 400
    ),
    "content-length and transfer-encoding": Case(
        "6.4.1", with_te("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n"), 400
    ),
    "transfer-encoding quoted": Case("ours", with_te('Transfer-Encoding: "chunked"\r\n'), 400),
    "transfer-encoding with parameter": Case(
        "ours", with_te("Transfer-Encoding: chunked;q=1\r\n"), 400
    ),
    "transfer-encoding upper-case": Case(
        "ours", with_te("Transfer-Encoding: CHUNKED\r\n"), 200, next_is_genuine=True
    ),
    "transfer-encoding after a tab": Case(
        "ours", with_te("Transfer-Encoding:\tchunked\r\n"), 200, next_is_genuine=True
    ),
    "transfer-encoding empty": Case("ours", with_te("Transfer-Encoding: \r\n"), 400),
    # A proxy that normalises "_" to "-" would see chunked framing; the server sees a header
    # it ignores, a request without a body, then the chunk bytes as a malformed request.
    "transfer_encoding with an underscore": Case(
        "ours", with_te("Transfer_Encoding: chunked\r\n"), 200
    ),
    "space before the colon": Case("ours", with_te("Transfer-Encoding : chunked\r\n"), 400),
    "content-lengths unequal": Case("ours", with_length("2\r\nContent-Length: 3", b"okx"), 400),
    "content-length list unequal": Case("ours", with_length("2, 3", b"okx"), 400),
    # -- 6.4.1: non-ASCII whitespace is not stripped from framing headers.
    **{
        f"transfer-encoding with {name} before": Case(
            "6.4.1", with_te(f"Transfer-Encoding: {char}chunked\r\n"), 400
        )
        for name, char in PY_ONLY_SPACE.items()
    },
    **{
        f"transfer-encoding with {name} after": Case(
            "6.4.1", with_te(f"Transfer-Encoding: chunked{char}\r\n"), 400
        )
        for name, char in PY_ONLY_SPACE.items()
    },
    **{
        f"content-length with {name} after": Case("6.4.1", with_length(f"2{char}", b"ok"), 400)
        for name, char in PY_ONLY_SPACE.items()
    },
    **{
        f"content-length with {name} before": Case("6.4.1", with_length(f"{char}2", b"ok"), 400)
        for name, char in PY_ONLY_SPACE.items()
    },
    # -- 2.2.1 and 6.5.3 (CVE-2025-67724): what the application writes into the response
    # head cannot start a header line of its own, nor a script in the error page.
    "set_header value injection": Case(
        "2.2.1",
        request("GET", "/header?value=a%0D%0AX-Injection:%20injected"),
        400,
        forbidden=b"X-Injection",
    ),
    "set_header value bare LF": Case(
        "2.2.1", request("GET", "/header?value=a%0AX-Injection:%20i"), 400, forbidden=b"X-Inj"
    ),
    "set_header value bare CR": Case(
        "2.2.1", request("GET", "/header?value=a%0DX-Injection:%20i"), 400, forbidden=b"X-Inj"
    ),
    "set_header name injection": Case(
        "ours",
        request("GET", "/header?name=X-A:%20b%0D%0AX-Injection&value=c"),
        None,
        ours=400,
        why="set_header refuses the name at once (_web_output: Differs on purpose); Tornado "
        "fails only when it writes the head, logs an ERROR and leaves the client waiting",
        forbidden=b"X-Injection",
        tornado_logs_error=True,
    ),
    "redirect header injection": Case(
        "2.2.1",
        request("GET", "/redirect?url=/a%0D%0AX-Injection:%20injected"),
        400,
        forbidden=b"X-Injection",
    ),
    "reason header injection": Case(
        "6.5.3 CVE-2025-67724",
        request("GET", "/status?code=200&reason=OK%0D%0AX-Injection:injected"),
        200,
        forbidden=b"X-Injection",
    ),
    "reason xss": Case(
        "6.5.3 CVE-2025-67724",
        request("GET", "/status?code=400&reason=<script>alert(1)</script>"),
        400,
        forbidden=b"<script>",
    ),
    "reason injection in an error": Case(
        "6.5.3 CVE-2025-67724",
        request("GET", "/status?code=404&reason=x%0D%0AX-Injection:injected"),
        404,
        forbidden=b"X-Injection",
    ),
    # -- 6.5.5: cookie attributes cannot carry other attributes.
    "cookie domain injection": Case(
        "6.5.5", request("GET", "/cookie?domain=example.com;%20HttpOnly"), 400, forbidden=b"Http"
    ),
    "cookie path injection": Case(
        "6.5.5", request("GET", "/cookie?path=/;Secure"), 400, forbidden=b"Secure"
    ),
    "cookie samesite injection": Case(
        "6.5.5", request("GET", "/cookie?samesite=Lax;Partitioned"), 400, forbidden=b"Partitioned"
    ),
    "cookie value injection": Case(
        "ours", request("GET", "/cookie?value=b%0D%0AX-Injection:%20i"), 400, forbidden=b"X-Inj"
    ),
    # -- 4.4.2: a cookie value cannot set another cookie (the echo lists the names it saw).
    "cookie set by another cookie's value": Case(
        "4.4.2", request("GET", "/echo", "Cookie: a=b]_xsrf=injected\r\n"), 200, forbidden=b"_xsrf"
    ),
    # -- 6.5.8 and 6.5.9: at most 1000 arguments in a query or an urlencoded body.
    "1001 query arguments": Case("6.5.9", request("GET", "/echo?" + "&".join(["a=b"] * 1001)), 400),
    "1001 urlencoded arguments": Case(
        "6.5.8", post("application/x-www-form-urlencoded", b"&".join([b"a=b"] * 1001)), 400
    ),
    "1000 urlencoded arguments": Case(
        "6.5.8", post("application/x-www-form-urlencoded", b"&".join([b"a=b"] * 1000)), 200
    ),
    # -- 6.5.0 (CVE-2025-47287) and 6.5.5: multipart bodies fail on their first bad part (one
    # log line, not one per part) and have at most 100 parts.
    "malformed multipart parts": Case(
        "6.5.0 CVE-2025-47287",
        multipart(*[b'Content-Disposition: invalid; name="a"\r\n\r\nb'] * 50),
        400,
    ),
    "multipart parts without headers": Case("6.5.0 CVE-2025-47287", multipart(*[b"b"] * 50), 400),
    "too many multipart parts": Case("6.5.5", multipart(*[PART] * 150), 400),
    "multipart header with bare CR": Case(
        "6.5.5",
        multipart(b'Content-Disposition: form-data; name="f"; filename="a\rb.txt"\r\n\r\nb'),
        400,
    ),
}


def no_errors(caplog: pytest.LogCaptureFixture, impl: str) -> list[logging.LogRecord]:
    """``impl``'s log records other than access lines; fails on any at ERROR or above."""
    records = [r for r in caplog.records if r.name.startswith(impl + ".")]
    errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    assert errors == [], f"{impl} logged an error"
    return [r for r in records if not r.name.endswith(".access")]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_hostile_request_is_answered_as_tornado_answers_or_as_declared(servers, caplog, case):
    # One corpus input, sent to both servers at once: Tornado's answer is what the corpus
    # says, ours is the same (or the declared one), nothing forbidden comes back, a request
    # smuggled behind it is never routed, nothing is logged at ERROR, and both still serve.
    caplog.set_level(logging.INFO)
    first_byte = TIMEOUT if None not in (case.status, case.our_status) else 1.5
    theirs, ours = await asyncio.gather(
        send(servers["tornado", case.config].port, case.request, first_byte),
        send(servers["minitornado", case.config].port, case.request, first_byte),
    )
    assert (theirs.status, ours.status) == (case.status, case.our_status), (theirs, ours)
    if case.forbidden is not None:
        assert case.forbidden not in theirs.raw and case.forbidden not in ours.raw
    for impl, answer in (("tornado", theirs), ("minitornado", ours)):
        served = servers[impl, case.config]
        routed = 1 if case.next_is_genuine and answer.status == 200 else 0
        assert len(served.app.settings["smuggled"]) == routed, f"{impl} misread the framing"
        if impl == "minitornado" or not case.tornado_logs_error:
            assert len(no_errors(caplog, impl)) <= case.max_logs
        after = await served.fetch(request("GET", "/echo"))
        assert after.status == 200


def test_every_declared_difference_says_why():
    # A case where we answer differently from Tornado must say why, and be a real difference.
    for name, case in CASES.items():
        if case.ours != "same":
            assert case.why and case.ours != case.status, name


# ---- Inputs that once took quadratic time ---------------------------------------------------


SCALING = {
    # 6.4.2 (CVE-2024-7592): unquoting backslash escapes in a cookie value.
    "cookie backslashes": (
        lambda n: request("GET", "/echo", 'Cookie: a="b=' + "\\\\" * n + '"\r\n'),
        2_000,
        20_000,
        "default",
    ),
    # 6.5.3 (CVE-2025-67725): many repeated header lines (with a 1 MiB header limit).
    "repeated header": (
        lambda n: request("GET", "/echo", "X: a\r\n" * n),
        10_000,
        100_000,
        "large_headers",
    ),
    # 6.5.3 (CVE-2025-67726): semicolons in a quoted Content-Disposition parameter.
    "content-disposition semicolons": (
        lambda n: multipart(
            b'Content-Disposition: form-data; x="' + b";" * n + b'"; name="a"\r\n\r\nb'
        ),
        1_000,
        10_000,
        "default",
    ),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", SCALING)
async def test_ten_times_the_input_costs_about_ten_times_the_time(servers, impl, name, caplog):
    # The inputs behind Tornado's fixes for quadratic parsing, at n and 10 n: the server's
    # CPU time (it runs in this process) may grow by 10x, with generous slack (30x), never
    # by the 100x of a quadratic parser. Every one of them is answered, with no ERROR log.
    build, n1, n2, config = SCALING[name]
    served = servers[impl, config]
    statuses: list[int] = []

    async def fetch(n: int) -> None:
        statuses.append((await served.fetch(build(n), "GET")).status)

    async def measure(n: int) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            await fetch(n)
            best = min(best, time.process_time() - start)
        return best

    await fetch(n1)  # warm up
    for _ in range(3):  # a change of complexity class repeats; a scheduling hiccup does not
        small, large = await measure(n1), await measure(n2)
        ratio = large / max(small, 1e-4)
        if ratio < 30:
            break
    print(f"scaling {name} ({impl}): n={n1}: {small * 1000:.1f} ms, n={n2}: {large * 1000:.1f} ms")
    assert ratio < 30, f"{name}: 10x the input took {ratio:.0f}x the time"
    assert all(200 <= s < 500 for s in statuses)
    no_errors(caplog, impl)
