"""The same raw requests to Tornado's HTTPServer and to ours: the answers must match.

Both servers run on the same event loop, on 127.0.0.1 port 0, with the same plain-callable
app (``app_for`` from tests/support.py, built on each library's own
``ResponseStartLine`` and ``HTTPHeaders``). Every request in ``WELL_FORMED`` and
``MALFORMED`` goes to both; what comes back (status lines, headers without ``Date`` and
``Server``, bodies) and whether the server then closed the connection must be equal.

``DECLARED`` lists the differences http1connection keeps on purpose (its ``Compared with
Tornado`` block): for each, both answers are asserted, ours and Tornado's.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from support import BARE_400, IMPLS, MALFORMED_REQUESTS, TIMEOUT, Client, app_for

from minitornado._h11_checks import ANSWER_413, ANSWER_431

QUIET = 0.3  # seconds without a byte after which a connection counts as left open
H = b"Host: x\r\n"


@dataclass(frozen=True)
class Observed:
    answer: bytes  # everything the server sent, Date and Server lines removed
    closed: bool  # did the server close the connection afterwards?


async def observe(port: int, request: bytes) -> Observed:
    """Send ``request`` on a new connection and record the server's whole reaction."""
    client = await Client.connect(port)
    try:
        await client.send(request)
        received, closed = await client.read_until_quiet(TIMEOUT, QUIET)
    finally:
        client.close()
    return Observed(re.sub(rb"(?m)^(?:Date|Server): [^\r\n]*\r\n", b"", received), closed)


@pytest.fixture
async def servers(serve: Callable[..., int]) -> dict[tuple[str, str], int]:
    """Ports of four servers: {minitornado, tornado} x {default, small limits}."""
    ports = {}
    for impl in IMPLS:
        ports[impl, "default"] = serve(impl, app_for(impl))
        ports[impl, "limits"] = serve(impl, app_for(impl), max_header_size=1024, max_body_size=100)
    return ports


async def observe_both(
    servers: dict[tuple[str, str], int], cases: dict[str, bytes], config: str = "default"
) -> dict[str, tuple[Observed, Observed]]:
    """Every case sent to both servers at once: {case: (tornado's, ours)}."""

    async def pair(request: bytes) -> tuple[Observed, Observed]:
        theirs, ours = await asyncio.gather(
            observe(servers["tornado", config], request),
            observe(servers["minitornado", config], request),
        )
        return theirs, ours

    results = await asyncio.gather(*(pair(request) for request in cases.values()))
    return dict(zip(cases, results, strict=True))


def mismatches(observed: dict[str, tuple[Observed, Observed]]) -> dict[str, tuple[Observed, ...]]:
    return {case: pair for case, pair in observed.items() if pair[0] != pair[1]}


# ---- The same answers ---------------------------------------------------------------------

WELL_FORMED = {
    "get": b"GET / HTTP/1.1\r\n" + H + b"\r\n",
    "query": b"GET /p?a=1&b=%C3%A9&a=2 HTTP/1.1\r\n" + H + b"\r\n",
    "connection close": b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
    "connection Close": b"GET / HTTP/1.1\r\n" + H + b"Connection: Close\r\n\r\n",
    "keep-alive, close": b"GET / HTTP/1.1\r\n" + H + b"Connection: keep-alive, close\r\n\r\n",
    "http/1.0": b"GET / HTTP/1.0\r\n\r\n",
    "http/1.0 keep-alive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "http/1.0 Keep-Alive": b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    "http/1.0 post keep-alive": b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "http/1.0 post keep-alive cl": b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n"
    b"Content-Length: 2\r\n\r\nhi",
    "http/1.0 chunked body": b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    "http/1.2": b"GET / HTTP/1.2\r\n" + H + b"\r\n",
    "pipelined": b"GET /later HTTP/1.1\r\n" + H + b"\r\nGET /2 HTTP/1.1\r\n" + H + b"\r\n"
    b"GET /3 HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
    "head": b"HEAD / HTTP/1.1\r\n" + H + b"\r\n",
    "head no length": b"HEAD /chunked HTTP/1.1\r\n" + H + b"\r\n",
    "head http/1.0": b"HEAD / HTTP/1.0\r\n\r\n",
    "chunked answer": b"GET /chunked HTTP/1.1\r\n" + H + b"\r\n",
    "chunked answer http/1.0": b"GET /chunked HTTP/1.0\r\n\r\n",
    "chunked answer http/1.0 keep-alive": b"GET /chunked HTTP/1.0\r\n"
    b"Connection: keep-alive\r\n\r\n",
    "204": b"GET /204 HTTP/1.1\r\n" + H + b"\r\n",
    "304": b"GET /304 HTTP/1.1\r\n" + H + b"\r\n",
    "chunked body": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "content-length body": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello",
    "equal content-lengths": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2\r\n"
    b"Content-Length: 2\r\n\r\nhi",
    "content-length list": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2, 2\r\n\r\nhi",
    "get with body": b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc",
    "post without length": b"POST / HTTP/1.1\r\n" + H + b"\r\n",
    "expect 100-continue": b"PUT / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\n"
    b"Content-Length: 2\r\n\r\nhi",
    "expect 100-Continue": b"PUT / HTTP/1.1\r\n" + H + b"Expect: 100-Continue\r\n"
    b"Content-Length: 2\r\n\r\nhi",
    "expect on http/1.0": b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    "one leading crlf": b"\r\nGET / HTTP/1.1\r\n" + H + b"\r\n",
    "lf line endings": b"GET / HTTP/1.1\nHost: x\n\n",
    "empty host": b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
    "host with port": b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    "ipv6 host": b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
    "latin-1 value": b"GET / HTTP/1.1\r\n" + H + b"X-Foo: caf\xe9\r\n\r\n",
    "tab in value": b"GET / HTTP/1.1\r\n" + H + b"X-Foo: a\tb\r\n\r\n",
    "spaces around value": b"GET / HTTP/1.1\r\n" + H + b"X-Foo:   a b  \r\n\r\n",
    "underscore in name": b"GET / HTTP/1.1\r\n" + H + b"X_Foo: a\r\n\r\n",
    "repeated header": b"GET / HTTP/1.1\r\n" + H + b"X-Foo: a\r\nx-foo: b\r\n\r\n",
    "lowercase method": b"get / HTTP/1.1\r\n" + H + b"\r\n",
    "unknown method": b"BREW /pot HTTP/1.1\r\n" + H + b"\r\n",
    "absolute form": b"GET http://x/y?z=1 HTTP/1.1\r\n" + H + b"\r\n",
    "asterisk form": b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
    "query only": b"GET ?x=1 HTTP/1.1\r\n" + H + b"\r\n",
    "long target": b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\n" + H + b"\r\n",
    "1000 query fields": b"GET /?" + b"&".join([b"a=1"] * 1000) + b" HTTP/1.1\r\n" + H + b"\r\n",
    "proxy headers ignored": b"GET / HTTP/1.1\r\n" + H + b"X-Real-Ip: 5.6.7.8\r\n\r\n",
    "upgrade asked": b"GET / HTTP/1.1\r\n"
    + H
    + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    b"GET /next HTTP/1.1\r\n" + H + b"\r\n",
    "connect": b"CONNECT x:443 HTTP/1.1\r\n" + H + b"\r\n",
    "good then garbage": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello"
    b"GARBAGE\r\n\r\n",
}

MALFORMED = {
    **MALFORMED_REQUESTS,
    "trailing space in request line": b"GET / HTTP/1.1 \r\n" + H + b"\r\n",
    "space before first header": b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
    "nul in target": b"GET /\x00 HTTP/1.1\r\n" + H + b"\r\n",
    "non-token in name": b"GET / HTTP/1.1\r\n" + H + b"X-Fo\xe9: a\r\n\r\n",
    "two leading crlfs": b"\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n",
    "http/1.0 cl and te": b"POST / HTTP/1.0\r\nContent-Length: 2\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "no-break space in te": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\xa0\r\n\r\n",
    "no-break space in cl": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2\xa0\r\n\r\nhi",
    "empty chunk size": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n\r\n",
}


async def test_well_formed_requests_get_the_same_answers(servers):
    # Keep-alive, HTTP/1.0, pipelining, bodies, 100-continue, framing of the answers, and the
    # lenient-but-valid inputs: byte for byte what Tornado sends, closing when it closes.
    observed = await observe_both(servers, WELL_FORMED)
    assert mismatches(observed) == {}
    # (The comparison must see something: every case was answered.)
    assert all(theirs.answer.startswith(b"HTTP/1.1 ") for theirs, _ in observed.values())


async def test_malformed_requests_get_the_same_answers(servers):
    # Malformed request lines, headers and framing: the bare 400 and a close, as Tornado.
    observed = await observe_both(servers, MALFORMED)
    assert mismatches(observed) == {}
    assert all(theirs == Observed(BARE_400, True) for theirs, _ in observed.values())


async def test_malformed_requests_are_logged_in_tornados_words(servers, caplog):
    # The same malformed requests: the INFO line "Malformed HTTP message from <ip>: <reason>"
    # says what Tornado says, though h11 is the one refusing most of them. (Log alerts and
    # tests written against Tornado match on this text.)
    caplog.set_level(logging.INFO)
    await observe_both(servers, MALFORMED)

    def reasons(impl: str) -> list[str]:
        return sorted(
            r.getMessage() for r in caplog.records
            if r.name == f"{impl}.general" and r.getMessage().startswith("Malformed HTTP")
        )  # fmt: skip

    assert len(reasons("tornado")) == len(MALFORMED)
    assert reasons("minitornado") == reasons("tornado")


def limits_request(header_block_size: int = 0, body: bytes = b"") -> bytes:
    """For the "limits" servers (max_header_size=1024, max_body_size=100)."""
    start = b"POST / HTTP/1.1\r\n" + H + b"Connection: close\r\nContent-Length: %d\r\n" % len(body)
    pad = b"X-Pad: " + b"a" * max(header_block_size - len(start) - 11, 0) + b"\r\n"
    return start + (pad if header_block_size else b"") + b"\r\n" + body


async def test_requests_at_the_limits_get_the_same_answers(servers):
    # Exactly at max_header_size and at max_body_size: both servers answer normally.
    at_limits = {
        "header block of 1024": limits_request(1024),
        "body of 100": limits_request(body=b"a" * 100),
        "chunked body of 100": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n64\r\n" + b"a" * 100 + b"\r\n0\r\n\r\n",
    }
    assert len(at_limits["header block of 1024"].split(b"\r\n\r\n")[0]) + 4 == 1024
    observed = await observe_both(servers, at_limits, "limits")
    assert mismatches(observed) == {}
    assert all(ours.answer.startswith(b"HTTP/1.1 200 OK") for _, ours in observed.values())


# ---- Declared differences -----------------------------------------------------------------


Expected = Observed | Callable[[Observed], bool]  # exact, or a test of what was observed


@dataclass(frozen=True)
class Declared:
    request: bytes
    config: str
    tornado: Expected
    ours: Expected


def answered_200(stays_open: bool) -> Callable[[Observed], bool]:
    def check(observed: Observed) -> bool:
        return observed.answer.startswith(b"HTTP/1.1 200 OK") and observed.closed != stays_open

    return check


def matches(expected: Expected, observed: Observed) -> bool:
    return expected(observed) if callable(expected) else observed == expected


DECLARED = {
    # A header block over max_header_size: 431, where Tornado closes without a word.
    "header block over the limit": Declared(
        limits_request(1025), "limits", Observed(b"", True), Observed(ANSWER_431, True)
    ),
    # A body over max_body_size: 413, where Tornado sends the bare 400.
    "content-length over the limit": Declared(
        limits_request(body=b"a" * 101), "limits",
        Observed(BARE_400, True), Observed(ANSWER_413, True),
    ),
    "chunked body over the limit": Declared(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n64\r\n" + b"a" * 100
        + b"\r\n1\r\na\r\n0\r\n\r\n",
        "limits", Observed(BARE_400, True), Observed(ANSWER_413, True),
    ),
    # ... and without the 100 (Continue) Tornado sends first.
    "expect with a body over the limit": Declared(
        b"PUT / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 500\r\n\r\n",
        "limits", Observed(b"HTTP/1.1 100 (Continue)\r\n\r\n" + BARE_400, True),
        Observed(ANSWER_413, True),
    ),
    # Chunk extensions and trailers are accepted (RFC 9112 §7.1.1, §7.1.2).
    "chunk extension": Declared(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
        b"5;a=b\r\nhello\r\n0\r\n\r\n",
        "default", Observed(BARE_400, True),
        answered_200(stays_open=True),
    ),
    "trailer": Declared(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
        b"X-T: 1\r\n\r\n",
        "default", Observed(BARE_400, True),
        answered_200(stays_open=True),
    ),
    # The Transfer-Encoding value reaches the application lower-cased (h11 normalises it).
    "CHUNKED body": Declared(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "default",
        lambda theirs: b'["Transfer-Encoding", "CHUNKED"]' in theirs.answer,
        lambda ours: b'["Transfer-Encoding", "chunked"]' in ours.answer,
    ),
    # Raw non-ASCII bytes in the target: the bare 400 (h11, RFC 9112 §3.2); Tornado takes them.
    "raw utf-8 in the target": Declared(
        b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
        "default", answered_200(stays_open=False), Observed(BARE_400, True),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", DECLARED.values(), ids=DECLARED.keys())
async def test_declared_differences_differ_as_documented(servers, case):
    # Each difference http1connection keeps on purpose: Tornado's answer and ours, both as
    # documented, and different from each other.
    observed = await observe_both(servers, {"case": case.request}, case.config)
    [(theirs, ours)] = observed.values()
    assert matches(case.tornado, theirs), theirs
    assert matches(case.ours, ours), ours
    assert theirs != ours


def test_declared_and_compared_cases_do_not_overlap():
    # A request is either expected to match or declared to differ, never both.
    compared = {*WELL_FORMED.values(), *MALFORMED.values()}
    assert not compared & {case.request for case in DECLARED.values()}
