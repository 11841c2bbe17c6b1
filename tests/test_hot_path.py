"""What the hot-path optimisations (bench/OPTIMISATIONS.md) must not change, and what they do.

Each optimisation of the request path that could change behaviour has a test here, run
against minitornado and Tornado where the behaviour should match:

- an idle stream keeps listening while a little unread data waits (iostream
  ``_listens_while_idle``), yet a client that pipelines and then half-closes still gets
  every answer (every shape of that: tests/test_half_close.py), and a client that keeps
  sending is still stopped at one chunk;
- between two requests the connection waits for the next one itself, holding nothing of
  the last one, and the idle wait and the headers still share one header timeout;
- an error escaping the request loop is still logged at once;
- a client pipelining requests to a plain callable still cannot starve another (each
  request gives the loop one turn);
- Nagle's algorithm stays off for the whole connection (Tornado toggles it per response);
- ``start_request`` is called only for requests that arrive.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
from typing import Any

import pytest
from support import MINI, TIMEOUT, Client, Impl, app_for

from minitornado import http1connection, iostream, web
from minitornado.ioloop import IOLoop


async def test_pipelined_requests_then_half_close_are_all_answered(impl: Impl, serve: Any) -> None:
    # A client sends a slow request, then (while it is being answered) a second one and
    # shuts down its sending side. The second request and the EOF arrive while nobody
    # reads: both requests are answered all the same, then the connection closes.
    port = serve(impl, app_for(impl))
    client = await Client.connect(port)
    try:
        await client.send(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.05)  # the server is now waiting for /later's answer
        await client.send(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        client.writer.transport.write_eof()
        first = await client.read_response()
        second = await client.read_response()
        assert (first.code, second.code) == (200, 200)
        assert second.json()["uri"] == "/second"
        assert await client.read_until_close() == b""
    finally:
        client.close()


async def test_an_idle_stream_keeps_listening_up_to_one_chunk_nobody_reads() -> None:
    # Nobody reads from the stream while its peer sends. A small message (the next
    # request, arriving early) is taken in and the stream stays registered for READ: no
    # re-registration with the loop. Then the peer sends 1 MiB: listening stops once a
    # chunk is buffered, and the rest waits in the kernel (backpressure).
    ours, theirs = socket.socketpair()
    stream = iostream.IOStream(ours, read_chunk_size=16384)
    stream.set_close_callback(lambda: None)  # (what makes an idle stream listen)
    theirs.setblocking(False)
    try:
        theirs.send(b"GET / HTTP/1.1\r\n\r\n")
        await asyncio.sleep(0.05)
        assert bytes(stream._read_buffer) == b"GET / HTTP/1.1\r\n\r\n"
        assert stream._state is not None and stream._state & IOLoop.READ
        sent = 0
        for _ in range(64):
            try:
                sent += theirs.send(b"x" * 16384)
            except BlockingIOError:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert sent > 2 * 16384
        assert 0 < len(stream._read_buffer) < 2 * 16384
        assert not stream._state & IOLoop.READ
        data = await asyncio.wait_for(stream.read_bytes(sent + 18), TIMEOUT)
        assert len(data) == sent + 18  # reading again resumes the flow
    finally:
        stream.close()
        theirs.close()


async def test_tornados_idle_stream_stops_listening_once_a_byte_is_buffered() -> None:
    # The test above on Tornado's IOStream (the "Differs on purpose" of IOStream): the same
    # small message is taken in, and the stream then stops listening for READ, so the next
    # read has to register it with the loop again.
    from tornado import iostream as tornado_iostream
    from tornado.ioloop import IOLoop as TornadoIOLoop

    ours, theirs = socket.socketpair()
    stream = tornado_iostream.IOStream(ours, read_chunk_size=16384)
    stream.set_close_callback(lambda: None)
    try:
        assert stream._state is not None and stream._state & TornadoIOLoop.READ
        theirs.send(b"GET / HTTP/1.1\r\n\r\n")
        await asyncio.sleep(0.05)
        assert bytes(stream._read_buffer[: stream._read_buffer_size]) == b"GET / HTTP/1.1\r\n\r\n"
        assert not stream._state & TornadoIOLoop.READ
    finally:
        stream.close()
        theirs.close()


async def test_an_idle_connection_holds_no_request_state(serve: Any) -> None:
    # After a response, while the client stays connected and silent, no HTTP1Connection
    # (nor its h11 parser) is alive: the loop waits for the next request's first bytes
    # itself. Ours alone: Tornado makes the next request's HTTP1Connection at once.
    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write(self.request.uri)

    port = serve(MINI, web.Application([(r"/.*", Hello)]))
    client = await Client.connect(port)
    try:
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.read_response()).code == 200
        await asyncio.sleep(0.05)
        gc.collect()
        alive = [o for o in gc.get_objects() if isinstance(o, http1connection.HTTP1Connection)]
        assert alive == []
        await client.send(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.read_response()).body == b"/again"
    finally:
        client.close()


async def test_idle_time_and_slow_headers_share_one_timeout(impl: Impl, serve: Any) -> None:
    # idle_connection_timeout=1: the client stays silent for 0.7 s, then sends part of a
    # request line and stops. The connection closes 1 s after the wait began, not 1 s
    # after the first bytes: the idle wait and the headers share one timeout.
    port = serve(impl, app_for(impl), idle_connection_timeout=1.0)
    client = await Client.connect(port)
    started = time.monotonic()
    try:
        await asyncio.sleep(0.7)
        await client.send(b"GET / HTTP/1.1\r\nHo")
        assert await client.read_until_close() == b""
        assert 0.8 < time.monotonic() - started < 1.55
    finally:
        client.close()


async def test_an_error_escaping_the_request_loop_is_logged(
    impl: Impl, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A server delegate whose start_request raises: the request loop ends with that error,
    # which is logged at once on the application logger as "Exception in callback ...".
    class Broken(impl.httputil.HTTPServerConnectionDelegate):  # type: ignore[name-defined,misc]
        def start_request(self, server_conn: object, request_conn: object) -> Any:
            raise RuntimeError("no delegate today")

    caplog.set_level(logging.ERROR)
    port = serve(impl, Broken())
    client = await Client.connect(port)
    try:
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            records = [r for r in caplog.records if r.name == impl.app_log]
            if records:
                break
            await asyncio.sleep(0.02)
        assert [r.getMessage().startswith("Exception in callback") for r in records] == [True]
        assert "no delegate today" in caplog.text
    finally:
        client.close()


async def test_start_request_is_called_only_for_requests_that_arrive(
    impl: Impl, serve: Any
) -> None:
    # A server delegate counts start_request calls. One connection sends two requests and
    # closes; another connects and closes without a request. minitornado calls
    # start_request twice (once per request that arrived); Tornado four times, since it
    # starts the next request as soon as a response is done, and at once on connecting.
    httputil = impl.httputil
    started: list[object] = []

    class Answer(httputil.HTTPMessageDelegate):  # type: ignore[name-defined,misc]
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def finish(self) -> None:
            start = httputil.ResponseStartLine("HTTP/1.1", 200, "OK")
            self.connection.write_headers(start, httputil.HTTPHeaders({"Content-Length": "2"}))
            self.connection.write(b"ok")
            self.connection.finish()

    class Counting(httputil.HTTPServerConnectionDelegate):  # type: ignore[name-defined,misc]
        def start_request(self, server_conn: object, request_conn: object) -> Any:
            started.append(request_conn)
            return Answer(request_conn)

    port = serve(impl, Counting())
    client = await Client.connect(port)
    await client.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [(await client.read_response()).body for _ in range(2)] == [b"ok", b"ok"]
    client.close()
    silent = await Client.connect(port)
    silent.close()
    await asyncio.sleep(0.2)
    assert len(started) == (2 if impl is MINI else 4)


async def test_a_pipelining_client_does_not_starve_another(impl: Impl, serve: Any) -> None:
    # One client pipelines 300 requests in a single send to a plain-callable app, which
    # answers each at once; right after, a second client sends one request. The loop gives
    # other connections a turn after each request, so the second client is answered long
    # before the first one's 300 responses are all written.
    port = serve(impl, app_for(impl))
    loop = asyncio.get_running_loop()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as greedy:
        greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        greedy.sendall(b"GET /g HTTP/1.1\r\nHost: x\r\n\r\n" * 300)
        other = await Client.connect(port)
        try:
            await other.send(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await other.read_response()).json()["uri"] == "/other"
        finally:
            other.close()
        greedy.setblocking(False)
        received = b""
        while True:
            try:
                received += greedy.recv(1 << 20)
            except BlockingIOError:
                break
        assert received.count(b"HTTP/1.1 200 OK") < 300
        while received.count(b"HTTP/1.1 200 OK") < 300:  # and all of them do come
            received += await asyncio.wait_for(loop.sock_recv(greedy, 1 << 20), TIMEOUT)


async def test_nagle_stays_off_for_the_whole_connection(impl: Impl, serve: Any) -> None:
    # A handler reports TCP_NODELAY on its connection's socket while it runs, on a second
    # request of a keep-alive connection. minitornado sets it once, when the connection
    # starts; Tornado only at the end of each response (then clears it), so it reads 0.
    web_module = impl.web

    class Nagle(web_module.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            sock = self.request.connection.stream.socket
            self.write(str(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))

    port = serve(impl, web_module.Application([(r"/", Nagle)]))
    client = await Client.connect(port)
    try:
        for _ in range(2):
            await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            nodelay = int((await client.read_response()).body)
        assert (nodelay != 0) == (impl is MINI)
    finally:
        client.close()
