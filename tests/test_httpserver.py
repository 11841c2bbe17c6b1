"""HTTPServer: minitornado/httpserver.py over real sockets, with raw and real clients.

Most tests run on minitornado and on Tornado (the ``impl`` fixture) with the same app: the
two must serve the same way. The harness comes from tests/support.py and tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
from support import MINI, TIMEOUT, TORNADO, AppLog, Client, app_for, exchange

import minitornado.httpserver
import minitornado.httputil
from minitornado.httpserver import HTTPServer

# ---- The docstring example ----------------------------------------------------------------


def run_docstring_example() -> tuple[HTTPServer, int]:
    """Execute the server printed in httpserver.py's docstring; listen() binds a free port."""
    doc = minitornado.httpserver.__doc__
    assert doc is not None
    text = doc.split("runs this very text)::\n\n", 1)[1].split("\n\nKept:", 1)[0]
    example = textwrap.dedent(text)
    bound: list[HTTPServer] = []

    class FreePortServer(HTTPServer):
        def listen(self, port: int, *args: Any, **kwargs: Any) -> None:
            assert port == 8888
            super().listen(0, "127.0.0.1")
            bound.append(self)

    namespace = {
        "HTTPServer": FreePortServer,
        "ResponseStartLine": minitornado.httputil.ResponseStartLine,
        "HTTPHeaders": minitornado.httputil.HTTPHeaders,
    }
    exec(example, namespace)
    [server] = bound
    port = next(iter(server._sockets.values())).getsockname()[1]
    return server, port


async def test_docstring_example_serves_hello():
    # The plain-callable server from the module docstring answers "Hello, <ip>".
    server, port = run_docstring_example()
    try:
        raw = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert raw == (
            b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: close\r\n\r\nHello, 127.0.0.1"
        )
    finally:
        server.stop()
        await server.close_all_connections()


# ---- Where requests come from: context and X-headers ------------------------------------

XHEADER_CASES = [
    ({"X-Forwarded-For": "1.2.3.4, 10.0.0.1"}, None, "10.0.0.1", "http"),
    ({"X-Forwarded-For": "1.2.3.4, 10.0.0.1"}, ["10.0.0.1"], "1.2.3.4", "http"),
    ({"X-Forwarded-For": "1.2.3.4, 10.0.0.1"}, ["10.0.0.1", "1.2.3.4"], "1.2.3.4", "http"),
    ({"X-Real-Ip": "5.6.7.8", "X-Forwarded-For": "1.2.3.4"}, None, "5.6.7.8", "http"),
    ({"X-Real-Ip": "not-an-ip"}, None, "127.0.0.1", "http"),
    ({"X-Forwarded-For": "::1"}, None, "::1", "http"),
    ({"X-Forwarded-Proto": "https"}, None, "127.0.0.1", "https"),
    ({"X-Forwarded-Proto": "http, https"}, None, "127.0.0.1", "https"),
    ({"X-Scheme": "http", "X-Forwarded-Proto": "https"}, None, "127.0.0.1", "http"),
    ({"X-Scheme": "ftp"}, None, "127.0.0.1", "http"),
]


@pytest.mark.parametrize(("headers", "trusted", "remote_ip", "protocol"), XHEADER_CASES)
async def test_xheaders_set_remote_ip_and_protocol(
    impl, serve, clients, headers, trusted, remote_ip, protocol
):
    # xheaders=True: X-Real-Ip, else the last X-Forwarded-For entry not in
    # trusted_downstream; X-Scheme, else X-Forwarded-Proto (last entry). Invalid values are
    # ignored. A second plain request on the same connection is back to the socket's values.
    port = serve(impl, app_for(impl), xheaders=True, trusted_downstream=trusted)
    client = await clients(port)
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    await client.send(f"GET / HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode())
    seen = (await client.read_response()).json()
    assert (seen["remote_ip"], seen["protocol"]) == (remote_ip, protocol)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    seen = (await client.read_response()).json()
    assert (seen["remote_ip"], seen["protocol"]) == ("127.0.0.1", "http")


async def test_xheaders_are_ignored_unless_enabled(impl, serve, clients):
    # Without xheaders=True the proxy headers change nothing.
    port = serve(impl, app_for(impl))
    client = await clients(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Real-Ip: 5.6.7.8\r\nX-Scheme: https\r\n\r\n")
    seen = (await client.read_response()).json()
    assert (seen["remote_ip"], seen["protocol"]) == ("127.0.0.1", "http")


async def test_xheaders_are_undone_when_the_client_leaves(impl, serve, clients):
    # A request with X-Real-Ip whose client hangs up mid-body: the delegate saw the proxy's
    # address, and afterwards the connection's context is back to the socket's own.
    contexts: list[Any] = []
    seen: list[str] = []
    httputil = impl.httputil

    class Message(httputil.HTTPMessageDelegate):  # type: ignore[misc,name-defined]
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def headers_received(self, start_line: Any, headers: Any) -> None:
            contexts.append(self.connection.context)
            seen.append(self.connection.context.remote_ip)

        def on_connection_close(self) -> None:
            seen.append("closed")

    class Delegate(httputil.HTTPServerConnectionDelegate):  # type: ignore[misc,name-defined]
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            return Message(request_conn)

    port = serve(impl, Delegate(), xheaders=True)
    client = await clients(port)
    await client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Real-Ip: 5.6.7.8\r\nContent-Length: 9\r\n\r\n"
    )
    while not seen:
        await asyncio.sleep(0.01)
    client.close()
    for _ in range(200):
        if "closed" in seen and contexts[0].remote_ip == "127.0.0.1":
            break
        await asyncio.sleep(0.01)
    assert seen == ["5.6.7.8", "closed"]
    assert contexts[0].remote_ip == "127.0.0.1"


async def test_protocol_argument_is_the_request_protocol(impl, serve, clients):
    # protocol="https" (a TLS proxy in front): every request says https.
    port = serve(impl, app_for(impl), protocol="https")
    client = await clients(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.read_response()).json()["protocol"] == "https"


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")
async def test_unix_socket_requests_have_a_placeholder_ip(impl, tmp_path: Path):
    # A Unix socket has no peer IP: remote_ip is "0.0.0.0".
    server = impl.httpserver.HTTPServer(app_for(impl))
    path = str(tmp_path / "http.sock")
    server.add_socket(impl.netutil.bind_unix_socket(path))
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), TIMEOUT)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
        assert json.loads(raw.split(b"\r\n\r\n", 1)[1])["remote_ip"] == "0.0.0.0"
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), TIMEOUT)


# ---- Shutting down ------------------------------------------------------------------------


async def test_close_all_connections_cuts_idle_and_busy_connections(impl, clients):
    # An idle keep-alive client gets EOF after its answer; a client whose request is still
    # being answered gets EOF and no bytes (its close callback runs). Nothing is drained.
    log = AppLog()
    server = impl.httpserver.HTTPServer(app_for(impl, log))
    [sock] = impl.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    port = sock.getsockname()[1]
    idle, busy = await clients(port), await clients(port)
    await idle.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await idle.read_response()).code == 200
    await busy.send(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
    while not log.requests or len(log.requests) < 2:
        await asyncio.sleep(0.01)
    server.stop()
    started = time.monotonic()
    await asyncio.wait_for(server.close_all_connections(), TIMEOUT)
    assert time.monotonic() - started < 1
    assert await idle.read_until_close() == b""
    assert await busy.read_until_close() == b""
    await asyncio.wait_for(log.closed.wait(), TIMEOUT)
    assert server._connections == set()


async def test_stop_refuses_new_clients_but_serves_open_connections(impl, clients):
    # After stop(), connecting is refused; a keep-alive connection made before is still served.
    server = impl.httpserver.HTTPServer(app_for(impl))
    [sock] = impl.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    port = sock.getsockname()[1]
    kept = await clients(port)
    await kept.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await kept.read_response()
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    await kept.send(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await kept.read_response()).json()["uri"] == "/again"
    await asyncio.wait_for(server.close_all_connections(), TIMEOUT)


async def test_a_closed_connection_leaves_the_server_set(impl, clients):
    # When a client hangs up, on_close drops its connection from the server's bookkeeping.
    server = impl.httpserver.HTTPServer(app_for(impl))
    [sock] = impl.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    try:
        client = await clients(sock.getsockname()[1])
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.read_response()
        assert len(server._connections) == 1
        client.close()
        for _ in range(200):
            if not server._connections:
                break
            await asyncio.sleep(0.01)
        assert server._connections == set()
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), TIMEOUT)


# ---- Real clients -------------------------------------------------------------------------


def http_client_session(port: int) -> list[tuple[int, bytes, str | None]]:
    """Blocking http.client calls on one keep-alive connection (run in a thread)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    results = []
    try:
        for method, path, body in [
            ("GET", "/", None),
            ("POST", "/form", b"a=1&b=2"),
            ("GET", "/chunked", None),
            ("HEAD", "/", None),
            ("GET", "/204", None),
        ]:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            results.append((response.status, response.read(), response.getheader("Connection")))
    finally:
        conn.close()
    return results


async def test_http_client_keeps_one_connection_for_several_requests(impl, serve):
    # Python's http.client on one connection: GET, POST with a body, a chunked answer, HEAD,
    # 204; the answers' framing must let it read every one of them on the same socket.
    log = AppLog()
    port = serve(impl, app_for(impl, log))
    results = await asyncio.wait_for(asyncio.to_thread(http_client_session, port), TIMEOUT * 2)
    assert [status for status, _, _ in results] == [200, 200, 200, 200, 204]
    assert json.loads(results[1][1])["body"] == "a=1&b=2"
    assert results[2][1] == b"abcd"
    assert results[3][1] == b"" and results[4][1] == b""
    assert len({id(r.connection.context) for r in log.requests}) == 1  # one TCP connection


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--http1.0"],
        ["-d", "hello"],
        ["-H", "Expect: 100-continue", "-d", "hello"],
        ["-H", "Transfer-Encoding: chunked", "-d", "hello"],
    ],
    ids=["get", "http1.0", "post", "expect-100", "chunked-upload"],
)
async def test_curl_is_served(impl, serve, args):
    # curl, as a user would run it: GET, HTTP/1.0, a POST body, Expect: 100-continue, and a
    # chunked upload all reach the app and come back.
    port = serve(impl, app_for(impl))
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", "5", *args, f"http://127.0.0.1:{port}/curl",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT * 2)
    assert process.returncode == 0, err
    seen = json.loads(out)
    assert seen["uri"] == "/curl"
    assert seen["version"] == ("HTTP/1.0" if "--http1.0" in args else "HTTP/1.1")
    assert seen["body"] == ("hello" if "-d" in args else "")


@pytest.mark.parametrize(
    ("method", "body", "path"),
    [
        ("GET", None, "/"),
        ("POST", b"x" * 100_000, "/"),
        ("GET", None, "/chunked"),
        ("HEAD", None, "/"),
    ],
)
async def test_tornado_async_http_client_on_the_same_loop(impl, serve, method, body, path):
    # Tornado's own AsyncHTTPClient, running on the same asyncio loop as the server.
    port = serve(impl, app_for(impl))
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(
            f"http://127.0.0.1:{port}{path}", method=method, body=body, request_timeout=TIMEOUT
        )
    finally:
        client.close()
    assert response.code == 200
    if path == "/chunked":
        assert response.body == b"abcd"
    elif method == "HEAD":
        assert response.body == b""
    else:
        assert json.loads(response.body)["body"] == (body or b"").decode()


# ---- Constructor arguments ------------------------------------------------------------------


async def test_max_body_size_defaults_to_max_buffer_size(serve):
    # Without max_body_size, max_buffer_size is the body limit: 100 is served, 101 refused
    # (413 here, the bare 400 in Tornado; see test_http1connection).
    for each, refused in ((MINI, b"HTTP/1.1 413 "), (TORNADO, b"HTTP/1.1 400 ")):
        port = serve(each, app_for(each), max_buffer_size=100)
        ok = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n"
        assert (await exchange(port, ok + b"a" * 100)).startswith(b"HTTP/1.1 200 OK")
        too_big = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n"
        assert (await exchange(port, too_big)).startswith(refused)


def test_unsupported_arguments_are_refused_at_construction():
    # Left out: gunzipping request bodies says so at once, not at the first request. (TLS
    # is served: tests/test_tls.py.)
    with pytest.raises(NotImplementedError):
        HTTPServer(lambda request: None, decompress_request=True)


def test_httprequest_is_the_old_name_of_httpserverrequest():
    # Old applications import HTTPRequest from httpserver, as they can from Tornado.
    assert minitornado.httpserver.HTTPRequest is minitornado.httputil.HTTPServerRequest
    import tornado.httpserver

    assert tornado.httpserver.HTTPRequest is tornado.httputil.HTTPServerRequest


async def test_request_connection_and_context_are_tornados_shape(impl, serve, clients):
    # start_request gets the server connection and a fresh HTTP1Connection per request;
    # the context's str() is the client's IP (what log lines print).
    log = AppLog()
    port = serve(impl, app_for(impl, log))
    client = await clients(port)
    for _ in range(2):
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.read_response()
    first, second = log.requests
    assert first.connection is not second.connection
    assert first.connection.context is second.connection.context
    assert str(first.connection.context) == "127.0.0.1"
    assert type(first.connection).__name__ == "HTTP1Connection"


async def test_connections_are_independent(impl, serve):
    # Many clients at once, each with a pipelined pair: every one gets its two answers.
    port = serve(impl, app_for(impl))

    async def one(i: int) -> list[Any]:
        client = await Client.connect(port)
        try:
            pair = f"GET /{i}a HTTP/1.1\r\nHost: x\r\n\r\nGET /{i}b HTTP/1.1\r\nHost: x\r\n\r\n"
            await client.send(pair.encode())
            return [(await client.read_response()).json()["uri"] for _ in range(2)]
        finally:
            client.close()

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert results == [[f"/{i}a", f"/{i}b"] for i in range(20)]
