"""HTTP/1.x on the wire: minitornado/http1connection.py (and _h11_checks.py) over real sockets.

Every rule test runs against minitornado's ``HTTPServer`` and Tornado's (the ``impl``
fixture) with the same plain-callable app, so each expectation is also shown to be
Tornado's. The ``Differs on purpose`` lines of http1connection's docstring have their own
tests at the end, which assert both our answer and Tornado's different one.

The harness (``Impl``, ``Client``, ``app_for``) is in tests/support.py, the ``impl``,
``serve`` and ``clients`` fixtures in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import time
from typing import Any

import pytest
from support import (
    BARE_400,
    MALFORMED_REQUESTS,
    MINI,
    TIMEOUT,
    TORNADO,
    AppLog,
    Impl,
    app_for,
    exchange,
)

from minitornado import http1connection
from minitornado._h11_checks import ANSWER_413, ANSWER_431

OK_ECHO = "HTTP/1.1 200 OK"


# ---- Keep-alive, HTTP/1.0, pipelining ------------------------------------------------


async def test_http11_connection_stays_open_between_requests(impl, serve, clients):
    # Two HTTP/1.1 requests, one after the other, on one connection: both are answered,
    # with no Connection header, and the connection stays open.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    for path in ("/a", "/b"):
        await client.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        response = await client.read_response()
        assert (response.code, response.json()["uri"]) == (200, path)
        assert response.header("Connection") is None
    assert await client.is_open()


@pytest.mark.parametrize("value", ["close", "Close"])
async def test_connection_close_is_honoured(impl, serve, clients, value):
    # "Connection: close" (any case) on HTTP/1.1: the answer says so, then the server closes.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(f"GET / HTTP/1.1\r\nHost: x\r\nConnection: {value}\r\n\r\n".encode())
    response = await client.read_response()
    assert response.header("Connection") == "close"
    assert response.headers[-1] == ("Connection", "close")
    assert not await client.is_open()


async def test_connection_header_is_compared_exactly(impl, serve, clients):
    # "keep-alive, close" is not "close": Tornado compares the whole value, so it stays open.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n")
    response = await client.read_response()
    assert response.header("Connection") is None
    assert await client.is_open()


async def test_http10_closes_unless_keep_alive_was_asked(impl, serve):
    # A plain HTTP/1.0 request: the answer has no Connection header, then the server closes.
    port = serve(impl, app_for(impl))
    raw = await exchange(port, b"GET / HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\nContent-Length: ")
    assert b"Connection" not in raw.split(b"\r\n\r\n")[0]


async def test_http10_keep_alive_is_echoed_and_honoured(impl, serve, clients):
    # HTTP/1.0 with "Connection: keep-alive": "Connection: Keep-Alive" comes back as the last
    # header, and a second request is served on the same connection.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    for _ in range(2):
        await client.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        response = await client.read_response()
        assert response.headers[-1] == ("Connection", "Keep-Alive")
        assert response.json()["host"] == "127.0.0.1"  # HTTP/1.0 without Host
    assert await client.is_open()


async def test_http10_post_without_length_closes_despite_keep_alive(impl, serve, clients):
    # Tornado's quirk, kept: a 1.0 POST with no body framing cannot be kept alive, yet the
    # answer still echoes "Connection: Keep-Alive". With a Content-Length it stays open.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert (await client.read_response()).header("Connection") == "Keep-Alive"
    assert not await client.is_open()
    client = await clients(port)
    await client.send(b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi")
    assert (await client.read_response()).json()["body"] == "hi"
    assert await client.is_open()


async def test_other_http1_versions_follow_the_http10_rules(impl, serve):
    # HTTP/1.2 is accepted, but only HTTP/1.1 is kept alive by default: answered, then closed.
    port = serve(impl, app_for(impl))
    raw = await exchange(port, b"GET / HTTP/1.2\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\nContent-Length: ")
    assert b'"version": "HTTP/1.2"' in raw


async def test_pipelined_requests_are_answered_in_order(impl, serve, clients):
    # Three requests in one write, the first one slow: three answers, in order; the last
    # asked to close, so its answer says so and the connection closes.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(
        b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    responses = [await client.read_response() for _ in range(3)]
    assert [r.json()["uri"] for r in responses] == ["/later", "/second", "/third"]
    assert responses[1].json()["body"] == "abc"
    assert [r.header("Connection") for r in responses] == [None, None, "close"]
    assert not await client.is_open()


async def test_one_empty_line_before_a_request_is_skipped(impl, serve, clients):
    # RFC 9112 §2.2: a CRLF after a POST body, before the next request, is ignored (once).
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\n")
    await client.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.read_response()).json()["body"] == "hi"
    assert (await client.read_response()).json()["uri"] == "/next"
    # Two empty lines are an empty request line: the bare 400.
    assert await exchange(port, b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n") == BARE_400


async def test_no_keep_alive_closes_after_each_response(impl, serve):
    # no_keep_alive=True: every HTTP/1.1 answer carries "Connection: close", then closes.
    port = serve(impl, app_for(impl), no_keep_alive=True)
    two = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = await exchange(port, two)
    assert raw.count(b"HTTP/1.1 200 OK") == 1
    assert b"\r\nConnection: close\r\n\r\n" in raw


# ---- Request bodies, 100-continue, response framing ------------------------------------


@pytest.mark.parametrize("coding", ["chunked", "CHUNKED"])
async def test_chunked_request_body_is_read(impl, serve, clients, coding):
    # A chunked body (the coding name in any case) arrives whole; the connection stays open.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(
        f"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\n\r\n".encode()
        + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    assert (await client.read_response()).json()["body"] == "hello world"
    assert await client.is_open()


async def test_body_sent_in_pieces_is_read(impl, serve, clients):
    # A Content-Length body that trickles in is read to its end; so is one on a GET.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab")
    await asyncio.sleep(0.05)
    await client.send(b"cdef")
    assert (await client.read_response()).json()["body"] == "abcdef"


async def test_expect_100_continue_is_answered_before_the_body(impl, serve, clients):
    # The client waits for "100 (Continue)" before it sends the body; the 100 must come.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(
        b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    interim = await asyncio.wait_for(client.reader.readexactly(27), TIMEOUT)
    assert interim == b"HTTP/1.1 100 (Continue)\r\n\r\n"
    await client.send(b"hello")
    assert (await client.read_response()).json()["body"] == "hello"


async def test_expect_value_is_matched_exactly(impl, serve, clients):
    # "100-Continue" is not "100-continue" for Tornado: no interim answer, just the 200.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(
        b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-Continue\r\n\r\nhi"
    )
    assert (await client.read_response()).status_line == OK_ECHO


async def test_response_without_length_is_chunked_for_http11(impl, serve, clients):
    # No Content-Length: HTTP/1.1 gets chunked framing, and the connection stays open.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
    response = await client.read_response()
    assert response.raw == (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"
    )
    assert await client.is_open()


async def test_response_without_length_is_close_delimited_for_http10(impl, serve):
    # An HTTP/1.0 client does not know chunked framing: the body ends when the server closes.
    port = serve(impl, app_for(impl))
    assert await exchange(port, b"GET /chunked HTTP/1.0\r\n\r\n") == b"HTTP/1.1 200 OK\r\n\r\nabcd"


async def test_head_response_carries_no_body(impl, serve, clients):
    # HEAD, then GET on the same connection: the HEAD answer keeps its Content-Length but has
    # no body (the GET answer follows right after its headers); no chunking for HEAD either.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /chunked HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    first = await client.read_response(head=True)
    assert int(first.header("Content-Length") or 0) > 0
    assert (await client.read_response(head=True)).raw == b"HTTP/1.1 200 OK\r\n\r\n"
    await client.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.read_response()).json()["uri"] == "/next"


@pytest.mark.parametrize("code", [204, 304])
async def test_204_and_304_carry_no_body_and_no_chunking(impl, serve, clients, code):
    # Answers that never have a body get neither Transfer-Encoding nor Content-Length.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(f"GET /{code} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    response = await client.read_response()
    assert response.raw == f"HTTP/1.1 {code} {http.client.responses[code]}\r\n\r\n".encode()
    assert await client.is_open()


async def test_tiny_chunks_reach_the_delegate_coalesced(impl, serve, clients):
    # Two small chunks that arrive together reach data_received as one piece (Tornado 6.6).
    seen: list[bytes] = []
    port = serve(impl, recording_delegate(impl, seen))
    client = await clients(port)
    await client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
    await client.read_response()
    assert seen == [b"data abcdefg", b"finish"]


def recording_delegate(impl: Impl, seen: list[bytes]) -> Any:
    """An HTTPServerConnectionDelegate whose message delegates record what they are told."""
    httputil = impl.httputil

    class Message(httputil.HTTPMessageDelegate):  # type: ignore[misc,name-defined]
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def data_received(self, chunk: bytes) -> None:
            seen.append(b"data " + chunk)

        def finish(self) -> None:
            seen.append(b"finish")
            headers = httputil.HTTPHeaders({"Content-Length": "0"})
            self.connection.write_headers(httputil.ResponseStartLine("", 200, "OK"), headers)
            self.connection.finish()

        def on_connection_close(self) -> None:
            seen.append(b"on_connection_close")

    class Server(httputil.HTTPServerConnectionDelegate):  # type: ignore[misc,name-defined]
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            return Message(request_conn)

    return Server()


async def test_http1_server_connection_serves_without_httpserver(impl, clients):
    # HTTP1ServerConnection on its own, with default parameters and no context, started
    # from a bare TCPServer: requests reach the delegate, start_request gets the server
    # connection, on_close runs once when the client leaves.
    tcpserver = impl.module("tcpserver")
    h1 = impl.module("http1connection")
    seen: list[bytes] = []
    inner = recording_delegate(impl, seen)

    class Delegate(impl.httputil.HTTPServerConnectionDelegate):  # type: ignore[misc,name-defined]
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            assert isinstance(server_conn, h1.HTTP1ServerConnection)
            return inner.start_request(server_conn, request_conn)

        def on_close(self, server_conn: Any) -> None:
            seen.append(b"on_close")

    class Server(tcpserver.TCPServer):  # type: ignore[misc,name-defined]
        def handle_stream(self, stream: Any, address: Any) -> None:
            h1.HTTP1ServerConnection(stream).start_serving(Delegate())

    server = Server()
    [sock] = impl.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    try:
        client = await clients(sock.getsockname()[1])
        await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        assert (await client.read_response()).code == 200
        client.close()
        for _ in range(200):
            if b"on_close" in seen:
                break
            await asyncio.sleep(0.01)
        assert seen == [b"data hi", b"finish", b"on_close"]
    finally:
        server.stop()


# ---- Malformed input ----------------------------------------------------------------
# The requests are support.MALFORMED_REQUESTS, shared with test_http_differential.py.


@pytest.mark.parametrize(
    "request_bytes", MALFORMED_REQUESTS.values(), ids=MALFORMED_REQUESTS.keys()
)
async def test_malformed_request_gets_bare_400_and_close(impl, serve, caplog, request_bytes):
    # Tornado answers malformed input with exactly "HTTP/1.1 400 Bad Request\r\n\r\n", closes,
    # and logs it at INFO, never at ERROR.
    caplog.set_level(logging.INFO)
    port = serve(impl, app_for(impl))
    assert await exchange(port, request_bytes) == BARE_400
    malformed = [r for r in caplog.records if r.name == impl.gen_log]
    assert [r.levelno for r in malformed] == [logging.INFO]
    assert malformed[0].getMessage().startswith("Malformed HTTP message from 127.0.0.1: ")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


ACCEPTED = {
    "lf line endings": b"GET / HTTP/1.1\nHost: x\n\n",
    "empty host": b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
    "latin-1 byte in value": b"GET / HTTP/1.1\r\nHost: x\r\nX-Foo: caf\xe9\r\n\r\n",
    "equal cls": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
    "cl list": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nhi",
    "lowercase method": b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
    "absolute form": b"GET http://x/y?z=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "asterisk form": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "1000 query fields": b"GET /?" + b"&".join(b"a=1" for _ in range(1000)) + b" HTTP/1.1\r\n"
    b"Host: x\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_lenient_but_valid_request_is_answered(impl, serve, clients, request_bytes):
    # Inputs Tornado accepts (some only tolerated by the RFC): a normal 200, connection open.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(request_bytes)
    assert (await client.read_response()).status_line == OK_ECHO
    assert await client.is_open()


# ---- Limits and timeouts ------------------------------------------------------------------


def request_with_header_block_of(size: int) -> bytes:
    """A GET whose header block, final CRLFCRLF included, is ``size`` bytes long."""
    start = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


@pytest.mark.parametrize("max_header_size", [None, 1024])
async def test_header_block_at_the_limit_is_accepted(impl, serve, clients, max_header_size):
    # A header block of exactly max_header_size bytes (64 KiB by default) is served.
    port = serve(impl, app_for(impl), max_header_size=max_header_size)
    client = await clients(port)
    await client.send(request_with_header_block_of(max_header_size or 65536))
    assert (await client.read_response()).status_line == OK_ECHO


async def test_content_length_at_max_body_size_is_accepted(impl, serve, clients):
    # max_body_size=100 and a body of 100 bytes, by length and chunked: served.
    port = serve(impl, app_for(impl), max_body_size=100)
    client = await clients(port)
    await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"a" * 100)
    assert len((await client.read_response()).json()["body"]) == 100
    await client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n"
        + b"a" * 100
        + b"\r\n0\r\n\r\n"
    )
    assert len((await client.read_response()).json()["body"]) == 100


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"GET / HTTP/1.1\r\nHost",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["nothing sent", "partial headers", "idle after answers"],
)
async def test_idle_connection_timeout_closes_silently(impl, serve, clients, sent):
    # idle_connection_timeout bounds the wait for a request's headers, idle keep-alive
    # included: after it the server closes without sending anything more.
    port = serve(impl, app_for(impl), idle_connection_timeout=0.5)
    client = await clients(port)
    await client.send(sent)
    started = time.monotonic()
    rest = await client.read_until_close()
    assert rest.count(b"HTTP/1.1 200 OK") == sent.count(b"\r\n\r\n")
    assert rest.endswith(b"}") or rest == b""
    assert 0.4 < time.monotonic() - started < 3


async def test_body_timeout_closes_and_logs(impl, serve, clients, caplog):
    # body_timeout bounds the wait for the body: the server closes without an answer and
    # logs "Timeout reading body from <ip>" at INFO.
    caplog.set_level(logging.INFO)
    port = serve(impl, app_for(impl), body_timeout=0.5)
    client = await clients(port)
    await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    started = time.monotonic()
    assert await client.read_until_close() == b""
    assert 0.4 < time.monotonic() - started < 3
    messages = [r.getMessage() for r in caplog.records if r.name == impl.gen_log]
    assert messages == ["Timeout reading body from 127.0.0.1"]


async def test_default_max_body_size_is_100_mib(impl, serve, clients):
    # Without max_body_size or max_buffer_size, a declared body of 100 MiB is awaited and
    # one byte more is refused at once (413 here, 400 in Tornado: see the end of this file).
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
    assert await client.is_open()
    over = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 104857601\r\n\r\n"
    assert (await exchange(port, over)).startswith((b"HTTP/1.1 413 ", b"HTTP/1.1 400 "))


async def test_default_idle_timeout_is_an_hour(impl):
    # Without idle_connection_timeout the header timeout is 3600 s, as in Tornado.
    server = impl.httpserver.HTTPServer(app_for(impl))
    assert server.conn_params.header_timeout == 3600
    assert server.conn_params.max_header_size == 65536
    assert server.conn_params.chunk_size == 65536


# ---- Clients that leave, applications that fail ------------------------------------------


async def test_client_leaving_mid_body_ends_the_request_quietly(impl, serve, clients, caplog):
    # The client sends half a body and hangs up: the delegate hears on_connection_close,
    # nothing is logged at WARNING or above, and the server goes on serving others.
    seen: list[bytes] = []
    port = serve(impl, recording_delegate(impl, seen))
    client = await clients(port)
    await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    await asyncio.sleep(0.05)
    client.close()
    for _ in range(100):
        if b"on_connection_close" in seen:
            break
        await asyncio.sleep(0.02)
    assert seen == [b"data abc", b"on_connection_close"]
    other = await clients(port)
    await other.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await other.read_response()).code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("path", ["/hang", "/partial"])
async def test_client_leaving_before_the_response_runs_the_close_callback(
    impl, serve, clients, caplog, path
):
    # The client hangs up while the application is still answering (before or after the
    # first bytes): the connection's close callback runs, a later write fails quietly with
    # StreamClosedError, nothing is logged, and the server goes on serving others.
    log = AppLog()
    port = serve(impl, app_for(impl, log))
    client = await clients(port)
    await client.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    if path == "/partial":
        head = await asyncio.wait_for(client.reader.readuntil(b"ab"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 200 OK")
    client.close()
    await asyncio.wait_for(log.closed.wait(), TIMEOUT)
    assert log.events == [f"closed {path}"]
    if path == "/partial":
        for _ in range(100):
            if log.errors:
                break
            await asyncio.sleep(0.02)
        assert [type(e) for e in log.errors] == [impl.iostream.StreamClosedError]
    other = await clients(port)
    await other.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await other.read_response()).code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_error_in_the_application_is_logged_and_closes(impl, serve, clients, caplog):
    # The callable raises: "Uncaught exception" at ERROR on the application log with the
    # traceback, no answer, the connection closes; other clients are still served.
    port = serve(impl, app_for(impl))
    assert await exchange(port, b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (record.name, record.getMessage()) == (impl.app_log, "Uncaught exception")
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    client = await clients(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.read_response()).code == 200


@pytest.mark.parametrize(
    ("path", "error"),
    [("/crlf", "ValueError"), ("/short", "HTTPOutputError"), ("/long", "HTTPOutputError")],
)
async def test_broken_response_raises_in_the_application_and_closes(
    impl, serve, caplog, path, error
):
    # A header with CR LF (ValueError), or a body shorter or longer than its Content-Length
    # (HTTPOutputError) raises in the application, and the connection closes.
    log = AppLog()
    port = serve(impl, app_for(impl, log))
    raw = await exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert [type(e).__name__ for e in log.errors] == [error]
    assert b"X-B" not in raw
    if path == "/long":
        assert raw == b""  # the overflowing chunk is refused before anything is sent


# ---- Differs on purpose (http1connection's "Compared with Tornado") ----------------------


@pytest.mark.parametrize("max_header_size", [None, 1024])
async def test_header_block_over_the_limit_gets_431_where_tornado_closes_silently(
    serve, max_header_size
):
    # One byte over max_header_size, arriving whole or never ending: we answer 431, Tornado
    # closes without a word.
    limit = max_header_size or 65536
    over = request_with_header_block_of(limit + 1)
    # (Only a little over: bytes the server never read would turn its close into a reset.)
    never_ending = over[:-4] + b"a" * 10
    for impl, expected in ((MINI, ANSWER_431), (TORNADO, b"")):
        port = serve(impl, app_for(impl), max_header_size=max_header_size)
        assert await exchange(port, over) == expected
        assert await exchange(port, never_ending) == expected


async def test_body_over_the_limit_gets_413_where_tornado_sends_400(serve, clients):
    # max_body_size=100: a Content-Length of 101, or chunks adding up to 150, get 413 from us
    # and the bare 400 from Tornado. With Expect: 100-continue we refuse before the 100;
    # Tornado sends the 100 first.
    cl_101 = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n"
    chunked_150 = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n"
        + b"a" * 100
        + b"\r\n32\r\n"
        + b"a" * 50
        + b"\r\n0\r\n\r\n"
    )
    expect_500 = b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\nExpect: 100-continue\r\n\r\n"
    ours = ANSWER_413
    for impl, expected in ((MINI, ours), (TORNADO, BARE_400)):
        port = serve(impl, app_for(impl), max_body_size=100)
        assert await exchange(port, cl_101) == expected
        assert await exchange(port, chunked_150) == expected
        interim = b"" if impl is MINI else b"HTTP/1.1 100 (Continue)\r\n\r\n"
        assert await exchange(port, expect_500) == interim + expected


@pytest.mark.parametrize(
    "body",
    [b"5;name=value\r\nhello\r\n0\r\n\r\n", b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"],
    ids=["chunk extension", "trailer"],
)
async def test_chunk_extensions_and_trailers_are_accepted_where_tornado_refuses(serve, body):
    # RFC 9112 §7.1.1/§7.1.2 allow both; h11 accepts them and so do we. Tornado: bare 400.
    request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    request += b"Connection: close\r\n\r\n" + body
    raw = await exchange(serve(MINI, app_for(MINI)), request)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and b'"body": "hello"' in raw
    assert b"X-Trailer" not in raw  # trailers are dropped, not merged into the headers
    assert await exchange(serve(TORNADO, app_for(TORNADO)), request) == BARE_400


async def test_raw_utf8_in_the_target_gets_400_where_tornado_accepts(serve):
    # h11 follows RFC 9112 §3.2: the target is ASCII. Tornado takes the bytes as latin-1.
    request = b"GET /caf\xc3\xa9?q=\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert await exchange(serve(MINI, app_for(MINI)), request) == BARE_400
    raw = await exchange(serve(TORNADO, app_for(TORNADO)), request)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_log_reason_is_tornados_unless_h11_alone_refuses(serve, caplog):
    # "Transfer-Encoding: gzip" is refused by both (h11 first): the reason logged after
    # "Malformed HTTP message from 127.0.0.1: " is Tornado's. A raw "é" in the target is
    # refused by h11 alone (Tornado serves it): with no reason of Tornado's, h11's is kept.
    caplog.set_level(logging.INFO)
    prefix = "Malformed HTTP message from 127.0.0.1: "
    for impl in (MINI, TORNADO):
        assert await exchange(serve(impl, app_for(impl)), MALFORMED_REQUESTS["te gzip"]) == BARE_400
    raw_target = "GET /caf\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert await exchange(serve(MINI, app_for(MINI)), raw_target) == BARE_400
    reasons = [(r.name, r.getMessage()) for r in caplog.records if "Malformed" in r.getMessage()]
    assert reasons == [
        ("minitornado.general", prefix + "Unsupported Transfer-Encoding gzip"),
        ("tornado.general", prefix + "Unsupported Transfer-Encoding gzip"),
        (
            "minitornado.general",
            prefix + r"illegal request line: bytearray(b'GET /caf\xc3\xa9 HTTP/1.1')",
        ),
    ]


async def test_log_reason_for_a_chunk_size_over_20_digits_is_tornados_for_a_bad_size(
    serve, caplog
):
    # A chunk size of 22 hex digits is refused by h11 alone (Tornado reads it: see
    # tests/test_hostile_corpus.py); the reason logged is Tornado's words for a bad chunk
    # size, not h11's "illegal chunk header".
    caplog.set_level(logging.INFO)
    request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    request += b"0" * 21 + b"2\r\nhi\r\n0\r\n\r\n"
    assert await exchange(serve(MINI, app_for(MINI)), request) == BARE_400
    reasons = [r.getMessage() for r in caplog.records if "Malformed" in r.getMessage()]
    assert reasons == ["Malformed HTTP message from 127.0.0.1: invalid chunk size"]


async def test_transfer_encoding_value_arrives_lower_cased_where_tornado_keeps_it(serve):
    # h11 lower-cases the Transfer-Encoding value; Tornado hands it over as sent.
    request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n"
    request += b"Connection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    for impl, value in ((MINI, "chunked"), (TORNADO, "CHUNKED")):
        raw = await exchange(serve(impl, app_for(impl)), request)
        seen = json.loads(raw.split(b"\r\n\r\n", 1)[1])
        assert ["Transfer-Encoding", value] in seen["headers"]
        assert seen["body"] == "hi"


async def test_cancelled_request_loop_closes_its_socket_where_tornado_leaves_it(serve, clients):
    # The serving Task of a keep-alive connection is cancelled (as at loop shutdown): we
    # close the socket, the client sees EOF; Tornado leaves it open.
    for impl, stays_open in ((MINI, False), (TORNADO, True)):
        server = impl.httpserver.HTTPServer(app_for(impl))
        [sock] = impl.netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets([sock])
        client = await clients(sock.getsockname()[1])
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.read_response()
        [conn] = server._connections
        conn._serving_future.cancel()
        await asyncio.sleep(0.05)
        assert await client.is_open() is stays_open
        server.stop()
        conn.stream.close()


async def test_http1connection_has_no_client_side():
    # Left out: the client side of HTTP1Connection.
    class Stream:
        max_buffer_size = 1

    with pytest.raises(NotImplementedError):
        http1connection.HTTP1Connection(Stream(), True)  # type: ignore[arg-type]
