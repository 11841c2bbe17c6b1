"""HTTPS: ``ssl_options``, ``SSLIOStream`` and the TLS handshake the loop drives.

Every server here is minitornado's or Tornado 6.6.1's ``HTTPServer`` (or ``TCPServer``) on
127.0.0.1, serving TLS with certificates made by trustme for this test run (nothing is
checked in). The clients are real ones: Python's ``ssl`` + ``http.client``, ``curl
--cacert``, Tornado's ``AsyncHTTPClient``, asyncio's TLS streams for raw bytes, and plain
TCP sockets for the hostile cases (plain HTTP, random bytes, a stalled or truncated
handshake, a reset before the server wraps the socket).

What is compared with Tornado: answers, which connections get closed, and what is logged
at which level. Where we differ on purpose, the test says so and asserts both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http.client
import json
import logging
import os
import random
import shutil
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from support import MINI, TIMEOUT, TORNADO, AppLog, Client, Impl, Served, app_for

# ---- Certificates ---------------------------------------------------------------------------


@dataclass
class Pki:
    """Files made by trustme: a CA, the server's certificate, a client's, a stranger's."""

    ca: Path  # the CA that signed the server's and the client's certificates
    server_cert: Path  # certificate chain for 127.0.0.1 and localhost
    server_key: Path
    client_cert: Path  # a client certificate from the same CA
    client_key: Path
    stranger_cert: Path  # a client certificate from another CA
    stranger_key: Path

    def server_options(self, **extra: Any) -> dict[str, Any]:
        """Tornado's dict form of ``ssl_options``."""
        return {"certfile": str(self.server_cert), "keyfile": str(self.server_key), **extra}

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context

    def client_context(self, cert: str | None = None) -> ssl.SSLContext:
        """A client that trusts our CA; with ``cert="client"`` or ``"stranger"``, it shows one."""
        context = ssl.create_default_context(cafile=str(self.ca))
        if cert == "client":
            context.load_cert_chain(self.client_cert, self.client_key)
        elif cert == "stranger":
            context.load_cert_chain(self.stranger_cert, self.stranger_key)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, other_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client.example")
    stranger = other_ca.issue_cert("client.example")
    pki = Pki(*(folder / name for name in (
        "ca.pem", "server.pem", "server.key", "client.pem", "client.key",
        "stranger.pem", "stranger.key",
    )))  # fmt: skip
    ca.cert_pem.write_to_path(str(pki.ca))
    for issued, cert, key in (
        (server, pki.server_cert, pki.server_key),
        (client, pki.client_cert, pki.client_key),
        (stranger, pki.stranger_cert, pki.stranger_key),
    ):
        for blob in issued.cert_chain_pems:
            blob.write_to_path(str(cert), append=True)
        issued.private_key_pem.write_to_path(str(key))
    return pki


# ---- Clients --------------------------------------------------------------------------------


async def tls_client(port: int, context: ssl.SSLContext) -> Client:
    """A raw client over TLS (asyncio's): the same ``Client`` the plain-HTTP tests use."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost"),
        TIMEOUT,
    )
    return Client(reader, writer)


def https_get(port: int, context: ssl.SSLContext, paths: list[str]) -> list[tuple[int, bytes]]:
    """GET each path on one http.client connection (blocking: run it in a thread)."""
    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=TIMEOUT)
    try:
        answers = []
        for path in paths:
            conn.request("GET", path)
            response = conn.getresponse()
            answers.append((response.status, response.read()))
        return answers
    finally:
        conn.close()


def client_hello() -> bytes:
    """The first flight of a real TLS client: its ClientHello record, as sent on the wire."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def bad_log_lines(caplog: pytest.LogCaptureFixture, level: int = logging.ERROR) -> list[str]:
    """Every record at ``level`` or above, from any logger (asyncio's included)."""
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= level]


def warnings_on(caplog: pytest.LogCaptureFixture, impl: Impl) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == impl.gen_log and r.levelno == logging.WARNING
    ]


# ---- ssl_options ------------------------------------------------------------------------------


def test_ssl_options_dict_becomes_a_context_as_in_tornado(impl: Impl, pki: Pki) -> None:
    # The dict form, turned into an SSLContext by netutil.ssl_options_to_context: each key
    # lands where Tornado puts it.
    options = pki.server_options(
        cert_reqs=ssl.CERT_REQUIRED, ca_certs=str(pki.ca), ciphers="ECDHE+AESGCM"
    )
    context = impl.netutil.ssl_options_to_context(options, server_side=True)
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.cert_store_stats()["x509_ca"] == 1
    assert impl.netutil.ssl_options_to_context(context) is context  # a context is kept as is


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"keyfile": "/nonexistent.key"}, KeyError),  # no certfile
        ({"certfile": "/nonexistent.pem"}, ValueError),
        ("existing cert, missing key", ValueError),
    ],
)
def test_bad_ssl_options_fail_at_construction(
    impl: Impl, pki: Pki, options: Any, error: type[Exception]
) -> None:
    # Tornado's own checks, made by both in the constructor, and so in Application.listen.
    if options == "existing cert, missing key":
        options = {"certfile": str(pki.server_cert), "keyfile": "/nonexistent.key"}
    with pytest.raises(error):
        impl.httpserver.HTTPServer(app_for(impl), ssl_options=options)
    with pytest.raises(error):
        impl.web.Application().listen(0, "127.0.0.1", ssl_options=options)


@pytest.mark.parametrize("problem", ["unknown key", "key of another certificate"])
def test_options_tornado_accepts_until_a_client_comes_fail_at_construction(
    pki: Pki, problem: str
) -> None:
    # Differs on purpose: minitornado builds the context once, in the constructor, so an
    # unknown key or a key that does not match the certificate fails there. Tornado
    # builds a context per connection and only fails when a client connects.
    if problem == "unknown key":
        options, error = pki.server_options(certfle="typo.pem"), ValueError
    else:
        options, error = pki.server_options(keyfile=str(pki.client_key)), ssl.SSLError
    with pytest.raises(error) as refused:
        MINI.httpserver.HTTPServer(app_for(MINI), ssl_options=options)
    if problem == "unknown key":
        assert "certfle" in str(refused.value)
    TORNADO.httpserver.HTTPServer(app_for(TORNADO), ssl_options=options)  # accepted, for now
    with pytest.raises((AssertionError, ssl.SSLError)):
        TORNADO.netutil.ssl_options_to_context(options, server_side=True)  # per connection


# ---- Serving HTTPS ----------------------------------------------------------------------------


async def test_http_client_over_https_sees_protocol_https(impl: Impl, serve: Any, pki: Pki) -> None:
    # Python's ssl + http.client, three requests on one keep-alive connection; the app sees
    # request.protocol == "https" because the stream is an SSLIOStream.
    port = serve(impl, app_for(impl), ssl_options=pki.server_options())
    answers = await asyncio.wait_for(
        asyncio.to_thread(https_get, port, pki.client_context(), ["/a", "/b", "/c"]), TIMEOUT
    )
    assert [code for code, _ in answers] == [200, 200, 200]
    assert [b'"protocol": "https"' in body for _, body in answers] == [True] * 3
    assert [json.loads(body)["uri"] for _, body in answers] == ["/a", "/b", "/c"]


async def test_curl_with_the_ca_file(impl: Impl, serve: Any, pki: Pki) -> None:
    # curl, trusting only our CA, against a server configured with an SSLContext.
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    port = serve(impl, app_for(impl), ssl_options=pki.server_context())
    process = await asyncio.create_subprocess_exec(
        curl, "-sS", "--max-time", "5", "--cacert", str(pki.ca),
        f"https://localhost:{port}/curl", "-d", "posted",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 0, err
    assert b'"body": "posted"' in out and b'"protocol": "https"' in out


async def test_tornados_async_http_client_with_a_ca(impl: Impl, serve: Any, pki: Pki) -> None:
    # Tornado's own client (SimpleAsyncHTTPClient) on the same loop, verifying with our CA.
    from tornado.simple_httpclient import SimpleAsyncHTTPClient

    port = serve(impl, app_for(impl), ssl_options=pki.server_options())
    client = SimpleAsyncHTTPClient(force_instance=True)
    try:
        response = await asyncio.wait_for(
            client.fetch(f"https://localhost:{port}/tornado", ca_certs=str(pki.ca)), TIMEOUT
        )
    finally:
        client.close()
    assert response.code == 200
    assert response.body.count(b'"protocol": "https"') == 1


async def test_pipelined_requests_over_tls_are_answered_in_order(
    impl: Impl, serve: Any, pki: Pki
) -> None:
    # Three requests in one TLS write (so in one record): three answers, in order, on the
    # same connection, which stays open.
    port = serve(impl, app_for(impl), ssl_options=pki.server_options())
    client = await tls_client(port, pki.client_context())
    try:
        await client.send(b"".join(f"GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for n in "123"))
        uris = [(await client.read_response()).json()["uri"] for _ in range(3)]
        assert uris == ["/1", "/2", "/3"]
        assert await client.is_open()
    finally:
        client.close()


async def test_chunked_post_and_chunked_answer_over_tls(impl: Impl, serve: Any, pki: Pki) -> None:
    # A chunked request body, sent in pieces, then a response without a length.
    port = serve(impl, app_for(impl), ssl_options=pki.server_options())
    client = await tls_client(port, pki.client_context())
    try:
        await client.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        await client.send(b"5\r\nhello\r\n")
        await asyncio.sleep(0.05)
        await client.send(b"6\r\n world\r\n0\r\n\r\n")
        assert (await client.read_response()).json()["body"] == "hello world"
        await client.send(b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await client.read_response()
        assert (answer.header("Transfer-Encoding"), answer.body) == ("chunked", b"abcd")
    finally:
        client.close()


async def test_bytes_left_inside_the_ssl_object_are_not_lost(
    impl: Impl, serve: Any, pki: Pki
) -> None:
    # chunk_size=100: each recv() takes 100 bytes of a 16 KiB TLS record, and the rest
    # waits decrypted inside the SSL object, where the loop cannot see it (the kernel is
    # empty). A 256 KiB body must still arrive whole, and its 256 KiB echo go out whole
    # (the server's sends meet SSLWantWriteError on the way).
    port = serve(impl, app_for(impl), ssl_options=pki.server_options(), chunk_size=100)
    client = await tls_client(port, pki.client_context())
    body = bytes(random.Random(7).choice(b"abcdefgh") for _ in range(256 * 1024))
    try:
        head = f"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        await client.send(head.encode() + body)
        answer = await client.read_response()
        assert answer.json()["body"].encode() == body
    finally:
        client.close()


async def test_a_client_certificate_is_required_and_checked(
    impl: Impl, serve: Any, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    # cert_reqs=CERT_REQUIRED with our CA: a client with no certificate, or with one from
    # another CA, is refused (the server logs Tornado's WARNING "SSL Error on ..."); a
    # client with a certificate from our CA is served.
    options = pki.server_options(cert_reqs=ssl.CERT_REQUIRED, ca_certs=str(pki.ca))
    port = serve(impl, app_for(impl), ssl_options=options)

    async def get(cert: str | None) -> list[tuple[int, bytes]]:
        return await asyncio.wait_for(
            asyncio.to_thread(https_get, port, pki.client_context(cert), ["/"]), TIMEOUT
        )

    assert (await get("client"))[0][0] == 200
    for cert in (None, "stranger"):
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            await get(cert)
    reasons = warnings_on(caplog, impl)
    print(f"\nCERT_REQUIRED ({impl}): our CA's client served; no certificate and another "
          f"CA's refused, with the WARNINGs {reasons!r}")  # fmt: skip
    assert len(reasons) == 2 and all(r.startswith("SSL Error on ") for r in reasons)
    assert "certificate" in reasons[0] and "certificate" in reasons[1]
    assert bad_log_lines(caplog) == []


async def test_wait_for_handshake_then_the_peer_certificate(impl: Impl, pki: Pki) -> None:
    # A TCPServer whose handle_stream waits for the handshake, then reads the client's
    # certificate off stream.socket: SSLIOStream.wait_for_handshake, on both.
    seen: list[Any] = []

    class Server(impl.tcpserver.TCPServer):  # type: ignore[name-defined,misc]
        async def handle_stream(self, stream: Any, address: Any) -> None:
            seen.append(await stream.wait_for_handshake() is stream)
            names = stream.socket.getpeercert()["subjectAltName"]  # trustme sets no CN
            await stream.write(repr(names).encode() + b"\n")
            stream.close()

    options = pki.server_options(cert_reqs=ssl.CERT_REQUIRED, ca_certs=str(pki.ca))
    server = Server(ssl_options=options)
    sockets = impl.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        client = await tls_client(sockets[0].getsockname()[1], pki.client_context("client"))
        line = await asyncio.wait_for(client.reader.readline(), TIMEOUT)
        client.close()
    finally:
        server.stop()
    assert seen == [True]
    assert line == b"(('DNS', 'client.example'),)\n"


async def test_a_write_and_a_read_started_before_the_handshake_wait_for_it(
    impl: Impl, pki: Pki
) -> None:
    # handle_stream writes and starts a read at once, while the handshake has not even
    # begun: the write goes out and the read is answered once it is done. Then a large
    # bytearray (8 MiB) goes to a client that starts reading only 0.3 s later, so the
    # server's send() meets SSLWantWriteError and resumes, again and again (and the
    # bytearray, mutable, is copied while it waits; OpenSSL accepts the moved buffer).
    payload = bytearray(random.Random(5).randbytes(8 * 1024 * 1024))

    class Server(impl.tcpserver.TCPServer):  # type: ignore[name-defined,misc]
        async def handle_stream(self, stream: Any, address: Any) -> None:
            greeting = stream.write(b"hello\n")
            line = await stream.read_until(b"\n")
            await greeting
            await stream.write(payload)
            await stream.write(line)
            stream.close()

    server = Server(ssl_options=pki.server_options())
    sockets = impl.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        client = await tls_client(sockets[0].getsockname()[1], pki.client_context())
        assert await asyncio.wait_for(client.reader.readline(), TIMEOUT) == b"hello\n"
        await client.send(b"echo me\n")
        await asyncio.sleep(0.3)
        received = await asyncio.wait_for(client.reader.readexactly(len(payload)), TIMEOUT)
        assert received == payload
        assert await asyncio.wait_for(client.reader.readline(), TIMEOUT) == b"echo me\n"
        client.close()
    finally:
        server.stop()


async def test_wait_for_handshake_after_the_client_left_mid_handshake(
    impl: Impl, pki: Pki
) -> None:
    # The client connects and leaves before any ClientHello; handle_stream asks for the
    # handshake only afterwards. Differs on purpose: minitornado's Future fails at once
    # with StreamClosedError; Tornado's stays pending for ever.
    outcome: list[str] = []

    class Server(impl.tcpserver.TCPServer):  # type: ignore[name-defined,misc]
        async def handle_stream(self, stream: Any, address: Any) -> None:
            await asyncio.sleep(0.2)  # the stream has seen the EOF and closed by now
            waiting = stream.wait_for_handshake()
            try:
                await asyncio.wait_for(asyncio.shield(waiting), 0.3)
            except impl.iostream.StreamClosedError:
                outcome.append("failed")
            except asyncio.TimeoutError:
                outcome.append("still pending")

    server = Server(ssl_options=pki.server_options())
    sockets = impl.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        socket.create_connection(sockets[0].getsockname(), timeout=TIMEOUT).close()
        for _ in range(40):
            if outcome:
                break
            await asyncio.sleep(0.05)
    finally:
        server.stop()
    assert outcome == (["failed"] if impl == MINI else ["still pending"])


async def test_wait_for_handshake_fails_with_stream_closed_when_the_handshake_fails(
    impl: Impl, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    # handle_stream waits for the handshake, and the client sends plain HTTP instead of a
    # ClientHello. Differs: minitornado's Future fails with StreamClosedError, whose
    # real_error is the ssl.SSLError, as every pending Future of a closed stream does;
    # Tornado's fails with the ssl.SSLError itself.
    outcome: list[BaseException] = []

    class Server(impl.tcpserver.TCPServer):  # type: ignore[name-defined,misc]
        async def handle_stream(self, stream: Any, address: Any) -> None:
            try:
                await stream.wait_for_handshake()
            except Exception as e:
                outcome.append(e)

    server = Server(ssl_options=pki.server_options())
    sockets = impl.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        client = await Client.connect(sockets[0].getsockname()[1])
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(40):
            if outcome:
                break
            await asyncio.sleep(0.05)
        client.close()
    finally:
        server.stop()
    [error] = outcome
    if impl == MINI:
        assert isinstance(error, impl.iostream.StreamClosedError)
        assert isinstance(error.real_error, ssl.SSLError)
    else:
        assert isinstance(error, ssl.SSLError)


# ---- Hostile clients -----------------------------------------------------------------------


async def closed_quietly(client: Client, wait: float = 3.0) -> bytes:
    """What the server sent before closing; fails if it keeps the connection ``wait`` s."""
    received, closed = await client.read_until_quiet(first_byte=wait, quiet=wait)
    client.close()
    assert closed, "the server kept the connection open"
    return received


async def test_plain_http_to_the_tls_port_is_closed_with_a_warning(
    impl: Impl, serve: Any, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    # A plain-text request on the TLS port: no HTTP answer, the connection closes at once,
    # and both log one WARNING, "SSL Error on <fd> <peer>: [SSL: HTTP_REQUEST] http request".
    port = serve(impl, app_for(impl), ssl_options=pki.server_options())
    client = await Client.connect(port)
    started = time.monotonic()
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"HTTP/" not in await closed_quietly(client)
    [warning] = warnings_on(caplog, impl)
    print(f"\nplain HTTP to the TLS port ({impl}): closed after "
          f"{(time.monotonic() - started) * 1000:.1f} ms; WARNING {warning!r}")  # fmt: skip
    assert warning.startswith("SSL Error on ") and "http request" in warning
    assert bad_log_lines(caplog) == []


async def test_random_bytes_are_refused_with_a_warning(
    impl: Impl, serve: Any, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    # 300 random bytes (a fixed seed: the first is not 0x16, a handshake record, which
    # would make the server wait for the rest of a huge record).
    noise = random.Random(3).randbytes(300)
    assert noise[0] != 0x16
    port = serve(impl, app_for(impl), ssl_options=pki.server_options())
    client = await Client.connect(port)
    started = time.monotonic()
    await client.send(noise)
    await closed_quietly(client)
    [warning] = warnings_on(caplog, impl)
    print(f"\n300 random bytes ({impl}): closed after "
          f"{(time.monotonic() - started) * 1000:.1f} ms; WARNING {warning!r}")  # fmt: skip
    assert warning.startswith("SSL Error on ")
    assert bad_log_lines(caplog) == []


@pytest.mark.parametrize("leaves", ["at once", "after half a ClientHello", "with a reset"])
async def test_a_client_leaving_mid_handshake_is_forgotten_silently(
    impl: Impl, serve: Any, pki: Pki, caplog: pytest.LogCaptureFixture, leaves: str
) -> None:
    # The client connects, maybe sends a truncated ClientHello, then closes or resets.
    # The server closes its side, and neither logs anything at all (SSLEOFError and resets
    # are a client's ordinary way of leaving).
    caplog.set_level(logging.DEBUG)
    log = AppLog()
    port = serve(impl, app_for(impl, log), ssl_options=pki.server_options())
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    if leaves != "at once":
        sock.sendall(client_hello()[:40])
    await asyncio.sleep(0.1)  # the server has accepted, and is mid-handshake
    if leaves == "with a reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    await asyncio.sleep(0.3)
    assert [r for r in caplog.records if r.name.startswith(str(impl))] == []
    assert bad_log_lines(caplog, logging.WARNING) == []
    assert log.requests == []


@pytest.mark.parametrize("sends", ["nothing", "half a ClientHello"])
async def test_a_stalled_handshake_is_closed_by_the_idle_connection_timeout(
    impl: Impl, serve: Any, pki: Pki, caplog: pytest.LogCaptureFixture, sends: str
) -> None:
    # Neither library has a timeout of its own for the handshake. HTTPServer starts waiting
    # for the first request's headers as soon as it accepts, so the header timeout
    # (idle_connection_timeout, 3600 s by default) covers the handshake: here 0.5 s.
    port = serve(impl, app_for(impl), ssl_options=pki.server_options(), idle_connection_timeout=0.5)
    hello = client_hello()[:40]
    started = time.monotonic()
    client = await Client.connect(port)
    if sends != "nothing":
        await client.send(hello)
    await closed_quietly(client, wait=3.0)
    print(f"\nstalled handshake, {sends} sent ({impl}): closed by the 0.5 s header timeout "
          f"after {time.monotonic() - started:.2f} s")  # fmt: skip
    assert 0.4 < time.monotonic() - started < 2.5
    assert bad_log_lines(caplog, logging.WARNING) == []


async def test_a_reset_before_the_server_wraps_the_socket(
    impl: Impl, serve: Any, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    # A port scanner's connect-and-reset, complete before the server accepts: wrapping the
    # accepted socket raises ConnectionResetError. Differs on purpose: minitornado closes
    # it quietly; Tornado lets the error escape its accept handler, and asyncio logs it at
    # ERROR. Both go on serving.
    port = serve(impl, app_for(impl), ssl_options=pki.server_options())
    # No await between connect and close: the server's loop cannot accept in between.
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    await asyncio.sleep(0.2)
    errors = bad_log_lines(caplog)
    if impl == MINI:
        assert errors == []
    else:
        assert len(errors) == 1 and "Exception in callback" in errors[0], errors
    answers = await asyncio.wait_for(
        asyncio.to_thread(https_get, port, pki.client_context(), ["/after"]), TIMEOUT
    )
    assert answers[0][0] == 200


async def test_garbage_after_the_handshake_is_a_warning_not_an_error(
    impl: Impl, serve: Any, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    # After a request and its answer, the client sends a forged TLS record that the server
    # cannot decrypt. minitornado closes the connection with a WARNING ("error on read: ...
    # bad record mac"), never an ERROR. Tornado does the same if its loop sees the record
    # while the connection idles; if the next request's read starts first, the read raises
    # and Tornado logs "Uncaught exception" at ERROR, with a traceback. Both happen here,
    # depending on timing (test_a_read_that_meets_a_bad_record_at_once_fails_quietly pins
    # the second case down).
    port = serve(impl, app_for(impl), ssl_options=pki.server_options())

    def talk() -> tuple[bytes, bytes]:
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        with pki.client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = tls.recv(65536)
            socket.socket.sendall(tls, FORGED_RECORD)  # under TLS: straight to the kernel
            try:
                rest = tls.recv(65536)
            except (ssl.SSLError, ConnectionError):
                rest = b""
            return answer, rest

    answer, rest = await asyncio.wait_for(asyncio.to_thread(talk), TIMEOUT)
    assert answer.startswith(b"HTTP/1.1 200 OK") and rest == b""
    await asyncio.sleep(0.1)
    warned = any("error on read" in w for w in warnings_on(caplog, impl))
    if impl == MINI:
        assert warned and bad_log_lines(caplog) == []
    else:
        assert warned or bad_log_lines(caplog) == ["tornado.general: Uncaught exception"]


# An application-data record of 32 zero bytes: no key decrypts it.
FORGED_RECORD = b"\x17\x03\x03\x00\x20" + bytes(32)


async def test_a_read_that_meets_a_bad_record_at_once_fails_quietly(
    impl: Impl, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    # A forged record is already in the kernel when a read starts, so the read's first
    # recv() meets it. Differs on purpose: minitornado's read_bytes returns a Future that
    # fails with StreamClosedError (and logs the WARNING "error on read"); Tornado's
    # read_bytes raises the ssl.SSLError itself, which in HTTP1ServerConnection would
    # become an "Uncaught exception" logged at ERROR.
    outcome: list[str] = []

    class Server(impl.tcpserver.TCPServer):  # type: ignore[name-defined,misc]
        async def handle_stream(self, stream: Any, address: Any) -> None:
            await stream.wait_for_handshake()
            await stream.write(b"go\n")
            time.sleep(0.3)  # the loop is blocked: the record arrives before any event
            try:
                future = stream.read_bytes(10)
            except ssl.SSLError:
                outcome.append("read_bytes raised SSLError")
                stream.close()
                return
            try:
                await future
            except impl.iostream.StreamClosedError:
                outcome.append("the Future failed with StreamClosedError")

    server = Server(ssl_options=pki.server_options())
    sockets = impl.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)

    def talk() -> None:
        raw = socket.create_connection(("127.0.0.1", sockets[0].getsockname()[1]), timeout=TIMEOUT)
        with pki.client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.recv(3) == b"go\n"
            socket.socket.sendall(tls, FORGED_RECORD)
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                tls.recv(10)

    try:
        await asyncio.wait_for(asyncio.to_thread(talk), TIMEOUT)
        await asyncio.sleep(0.1)
    finally:
        server.stop()
    if impl == MINI:
        assert outcome == ["the Future failed with StreamClosedError"]
        assert any("error on read" in w for w in warnings_on(caplog, impl))
    else:
        assert outcome == ["read_bytes raised SSLError"]
    assert bad_log_lines(caplog) == []


# ---- Shutdown and resources -------------------------------------------------------------------


async def test_graceful_shutdown_over_tls(pki: Pki) -> None:
    # HTTPServer.shutdown (ours alone) over TLS: an idle keep-alive connection and one
    # whose handshake has not begun are closed at once; a request in progress is answered,
    # with Connection: close, and then its connection closes. Nothing is cut.
    served = Served.start(MINI, app_for(MINI), ssl_options=pki.server_options())
    try:
        idle = await tls_client(served.port, pki.client_context())
        await idle.send(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await idle.read_response()).code == 200
        silent = await Client.connect(served.port)  # TCP only: no ClientHello yet
        busy = await tls_client(served.port, pki.client_context())
        await busy.send(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n")  # answered after 0.2 s
        await asyncio.sleep(0.05)
        shutdown = asyncio.ensure_future(served.server.shutdown(timeout=3.0))
        answer = await busy.read_response()
        assert (answer.code, answer.header("Connection")) == (200, "close")
        assert await asyncio.wait_for(shutdown, TIMEOUT) == 0
        for client in (idle, silent, busy):
            assert not await client.is_open(wait=1.0)
            client.close()
    finally:
        await served.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_1000_tls_connections_leave_no_descriptor_behind(
    impl: Impl, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    # 1,000 connections, 40 at a time, in three shapes: a full HTTPS request; a TCP connect
    # closed before any ClientHello; half a ClientHello, then a close. Afterwards the
    # server holds no connection and the process is back to its descriptor count.
    served = Served.start(impl, app_for(impl), ssl_options=pki.server_options())
    context, hello = pki.client_context(), client_hello()[:40]
    gc.collect()
    baseline = open_fds()

    async def one(n: int) -> None:
        if n % 3 == 0:
            client = await tls_client(served.port, context)
            await client.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await client.read_response()).code == 200
        else:
            client = await Client.connect(served.port)
            if n % 3 == 2:
                await client.send(hello)
        client.close()
        await client.writer.wait_closed()

    opened = time.monotonic()
    try:
        for batch in range(25):
            shapes = (one(batch * 40 + n) for n in range(40))
            await asyncio.wait_for(asyncio.gather(*shapes), TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while (served.server._connections or open_fds() > baseline) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            gc.collect()
        assert not served.server._connections
        assert open_fds() <= baseline
        print(f"\n1,000 TLS connections ({impl}): open descriptors {baseline} before, "
              f"{open_fds()} after; {time.monotonic() - opened:.2f} s")  # fmt: skip
    finally:
        await served.close()
    assert bad_log_lines(caplog) == []

