"""Tests for minitornado/tcpserver.py (demo_app.py has tests/test_demo_app.py).

The server under test is the echo server printed in ``minitornado/tcpserver.py``'s docstring,
executed from that text, so the example cannot rot. Most tests run it on both minitornado and
Tornado (the ``impl`` fixture): the two must serve the same way.
"""

import asyncio
import logging
import queue
import socket
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
import tornado.ioloop
import tornado.iostream
import tornado.tcpclient
import tornado.tcpserver
from support import MINI, TORNADO, Impl

import minitornado.iostream
import minitornado.tcpserver
from minitornado.ioloop import IOLoop
from minitornado.netutil import bind_sockets

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 5.0


def _docstring_echo_server(impl: Impl) -> type[Any]:
    """Execute the echo server from tcpserver.py's docstring against ``impl``."""
    doc = minitornado.tcpserver.__doc__
    assert doc is not None
    example = doc.split("runs this very text)::\n\n", 1)[1].split("\n\n", 1)[0]
    namespace: dict[str, Any] = {
        "TCPServer": impl.tcpserver.TCPServer,
        "StreamClosedError": impl.iostream.StreamClosedError,
    }
    exec(textwrap.dedent(example), namespace)
    echo_server: type[Any] = namespace["EchoServer"]
    return echo_server


def _port(server: Any) -> int:
    # Both implementations keep their listening sockets in ``_sockets`` (fd -> socket).
    listener: socket.socket = next(iter(server._sockets.values()))
    port: int = listener.getsockname()[1]
    return port


async def _echo(port: int, line: bytes = b"hello\n") -> bytes:
    """Connect, send one line, return what comes back (one line)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        writer.write(line)
        return await asyncio.wait_for(reader.readline(), TIMEOUT)
    finally:
        writer.close()


def _blocking_echo(port: int, line: bytes = b"hello\n") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        client.sendall(line)
        return client.makefile("rb").readline()


async def _wait_for_log(caplog: pytest.LogCaptureFixture, logger: str, text: str) -> None:
    for _ in range(int(TIMEOUT / 0.02)):
        if any(r.name == logger and text in r.getMessage() for r in caplog.records):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {text!r} on {logger}: {caplog.records}")


# --- listen() serves on its own ------------------------------------------------------------


async def test_docstring_echo_server_echoes_lines(impl: Impl) -> None:
    # The docstring's EchoServer, listening on 127.0.0.1, sends every line straight back.
    server = _docstring_echo_server(impl)()
    server.listen(0, "127.0.0.1")
    try:
        assert await _echo(_port(server), b"one\n") == b"one\n"
        assert await _echo(_port(server), b"two\n") == b"two\n"
    finally:
        server.stop()


async def test_listen_serves_without_start(impl: Impl) -> None:
    # A subclass whose start() raises still serves after listen() + running the loop:
    # listen() already registered the accept handler (study path, step 6); start() is not
    # on the path at all.
    class NoStart(_docstring_echo_server(impl)):  # type: ignore[name-defined,misc]
        def start(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("start() must not be needed")

    server = NoStart()
    server.listen(0, "127.0.0.1")
    try:
        assert await _echo(_port(server)) == b"hello\n"
    finally:
        server.stop()


# The three ways a program may run the asyncio loop. Each runs in a thread with its own
# fresh loop; the test thread is the client and stops the loop with add_callback (the one
# thread-safe IOLoop method).
RUNNERS = ["IOLoop.current().start()", "loop.run_forever()", "asyncio.run(main())"]


def _serve_until_stopped(impl: Impl, runner: str, ready: "queue.Queue[Any]") -> None:
    """Thread body: listen, report (io_loop, port, stop), run the loop until stopped."""
    if runner == "asyncio.run(main())":

        async def main() -> None:
            server = _docstring_echo_server(impl)()
            server.listen(0, "127.0.0.1")
            stopped = asyncio.Event()
            ready.put((impl.ioloop.IOLoop.current(), _port(server), stopped.set))
            await stopped.wait()
            server.stop()

        asyncio.run(main())
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    io_loop = impl.ioloop.IOLoop.current()
    server = _docstring_echo_server(impl)()
    server.listen(0, "127.0.0.1")
    ready.put((io_loop, _port(server), io_loop.stop))
    if runner == "IOLoop.current().start()":
        io_loop.start()
    else:
        loop.run_forever()
    server.stop()
    # Cancel the echo Tasks still waiting for a line, then close every registered socket.
    leftovers = asyncio.all_tasks(loop)
    for task in leftovers:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
    io_loop.close(all_fds=True)
    asyncio.set_event_loop(None)


@pytest.mark.parametrize("runner", RUNNERS)
def test_server_serves_under_any_runner_of_the_loop(impl: Impl, runner: str) -> None:
    # IOLoop.start() is only run_forever(), so all three runners serve the same server.
    ready: queue.Queue[Any] = queue.Queue()
    failures: list[BaseException] = []

    def thread_body() -> None:
        try:
            _serve_until_stopped(impl, runner, ready)
        except BaseException as e:
            failures.append(e)
            ready.put(e)

    thread = threading.Thread(target=thread_body, daemon=True)
    thread.start()
    started = ready.get(timeout=TIMEOUT)
    assert not isinstance(started, BaseException), started
    io_loop, port, stop = started
    try:
        assert _blocking_echo(port, b"ping\n") == b"ping\n"
    finally:
        io_loop.add_callback(stop)
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert failures == []


async def test_streams_get_the_server_buffer_limits(impl: Impl) -> None:
    # max_buffer_size and read_chunk_size given to the server reach every IOStream it makes.
    limits: list[tuple[int, int]] = []

    class Inspecting(impl.tcpserver.TCPServer):  # type: ignore[name-defined,misc]
        def handle_stream(self, stream: Any, address: Any) -> None:
            limits.append((stream.max_buffer_size, stream.read_chunk_size))
            stream.close()

    server = Inspecting(max_buffer_size=4096, read_chunk_size=512)
    server.listen(0, "127.0.0.1")
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", _port(server)), TIMEOUT
        )
        # EOF means the server closed the connection, so handle_stream has run.
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
        assert limits == [(4096, 512)]
    finally:
        server.stop()


# --- stop() ---------------------------------------------------------------------------------


async def test_stop_refuses_new_clients_and_keeps_existing_ones(impl: Impl) -> None:
    # A connected client keeps being served after stop(); a new client is refused by the
    # kernel because the listening socket is closed. A second stop() does nothing.
    server = _docstring_echo_server(impl)()
    server.listen(0, "127.0.0.1")
    port = _port(server)
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        writer.write(b"before\n")
        assert await asyncio.wait_for(reader.readline(), TIMEOUT) == b"before\n"
        server.stop()
        server.stop()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        writer.write(b"after\n")
        assert await asyncio.wait_for(reader.readline(), TIMEOUT) == b"after\n"
    finally:
        writer.close()


async def test_stop_inside_handle_stream_ends_the_accept_batch(
    impl: Impl, caplog: pytest.LogCaptureFixture
) -> None:
    # Ten clients are queued; the first handle_stream stops the server, which closes the
    # listening socket in the middle of the accept batch. The handler must notice and not
    # call accept() on the closed socket (Tornado issue #2069): no error, one stream.
    streams: list[Any] = []

    class StopsAtOnce(impl.tcpserver.TCPServer):  # type: ignore[name-defined,misc]
        def handle_stream(self, stream: Any, address: Any) -> None:
            streams.append(stream)
            self.stop()

    server = StopsAtOnce()
    server.listen(0, "127.0.0.1", backlog=64)
    clients = [socket.create_connection(("127.0.0.1", _port(server)), TIMEOUT) for _ in range(10)]
    try:
        await asyncio.sleep(0.2)
        assert len(streams) == 1
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        for stream in streams:
            stream.close()
        for client in clients:
            client.close()


# --- handle_stream errors -------------------------------------------------------------------


async def test_sync_handle_stream_error_is_logged_and_serving_goes_on(
    impl: Impl, caplog: pytest.LogCaptureFixture
) -> None:
    # handle_stream raises before returning for the first client: the error is logged as
    # "Error in connection callback" and the next client is served normally.
    class FailsOnce(_docstring_echo_server(impl)):  # type: ignore[name-defined,misc]
        calls = 0

        def handle_stream(self, stream: Any, address: Any) -> Any:
            FailsOnce.calls += 1
            if FailsOnce.calls == 1:
                stream.close()
                raise ValueError("first client")
            return super().handle_stream(stream, address)

    server = FailsOnce()
    server.listen(0, "127.0.0.1")
    try:
        first = socket.create_connection(("127.0.0.1", _port(server)), TIMEOUT)
        await _wait_for_log(caplog, impl.app_log, "Error in connection callback")
        first.close()
        assert await _echo(_port(server)) == b"hello\n"
    finally:
        server.stop()
    [record] = [r for r in caplog.records if r.name == impl.app_log]
    assert record.exc_info is not None and record.exc_info[0] is ValueError


async def test_async_handle_stream_error_is_logged_and_serving_goes_on(
    impl: Impl, caplog: pytest.LogCaptureFixture
) -> None:
    # An async handle_stream fails after reading "boom": the IOLoop logs the Task's error as
    # "Exception in callback ..." and the server goes on echoing for other clients.
    class Boom(impl.tcpserver.TCPServer):  # type: ignore[name-defined,misc]
        async def handle_stream(self, stream: Any, address: Any) -> None:
            line = await stream.read_until(b"\n")
            if line == b"boom\n":
                stream.close()
                raise ValueError("boom")
            await stream.write(line)

    server = Boom()
    server.listen(0, "127.0.0.1")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", _port(server)), TIMEOUT
        )
        writer.write(b"boom\n")
        await _wait_for_log(caplog, impl.app_log, "Exception in callback")
        writer.close()
        assert await _echo(_port(server)) == b"hello\n"
    finally:
        server.stop()
    [record] = [r for r in caplog.records if r.name == impl.app_log]
    assert record.exc_info is not None and record.exc_info[0] is ValueError


# --- other ways in: add_socket, bind/start ---------------------------------------------------


async def test_add_socket_serves_a_unix_socket(impl: Impl, tmp_path: Path) -> None:
    # add_socket takes any listening socket, here one from bind_unix_socket.
    path = str(tmp_path / "echo.sock")
    server = _docstring_echo_server(impl)()
    server.add_socket(impl.netutil.bind_unix_socket(path))
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), TIMEOUT)
        writer.write(b"over unix\n")
        assert await asyncio.wait_for(reader.readline(), TIMEOUT) == b"over unix\n"
        writer.close()
    finally:
        server.stop()


async def test_bind_waits_for_start(impl: Impl) -> None:
    # The legacy pair: bind() makes the sockets but nothing accepts until start().
    server = _docstring_echo_server(impl)()
    server.bind(0, "127.0.0.1")
    port = server._pending_sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        writer.write(b"queued\n")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.readline(), 0.2)
        server.start()
        assert await asyncio.wait_for(reader.readline(), TIMEOUT) == b"queued\n"
        writer.close()
    finally:
        server.stop()


def test_bad_ssl_options_fail_at_construction() -> None:
    # TLS is served (tests/test_tls.py); a certificate file that does not exist fails at
    # once, not at the first client.
    with pytest.raises(ValueError, match=r"server\.crt"):
        minitornado.tcpserver.TCPServer(ssl_options={"certfile": "server.crt"})


# --- interop with Tornado on one asyncio loop -------------------------------------------------


async def test_tornado_clients_talk_to_a_minitornado_server() -> None:
    # Tornado's TCPClient and IOStream, on the same asyncio loop as a minitornado server:
    # both IOLoop wrappers sit on that one loop and the bytes cross between them.
    server = _docstring_echo_server(MINI)()
    server.listen(0, "127.0.0.1")
    port = _port(server)
    try:
        running = asyncio.get_running_loop()
        assert IOLoop.current().asyncio_loop is running
        assert tornado.ioloop.IOLoop.current().asyncio_loop is running
        stream = await asyncio.wait_for(
            tornado.tcpclient.TCPClient().connect("127.0.0.1", port), TIMEOUT
        )
        await stream.write(b"from TCPClient\n")
        assert await asyncio.wait_for(stream.read_until(b"\n"), TIMEOUT) == b"from TCPClient\n"
        stream.close()
        raw = tornado.iostream.IOStream(socket.socket())
        await asyncio.wait_for(raw.connect(("127.0.0.1", port)), TIMEOUT)
        await raw.write(b"from IOStream\n")
        assert await asyncio.wait_for(raw.read_until(b"\n"), TIMEOUT) == b"from IOStream\n"
        raw.close()
    finally:
        server.stop()


async def test_minitornado_client_talks_to_a_tornado_server() -> None:
    # The other direction: minitornado's IOStream.connect against Tornado's TCPServer.
    server = _docstring_echo_server(TORNADO)()
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        stream = minitornado.iostream.IOStream(socket.socket())
        await asyncio.wait_for(stream.connect(("127.0.0.1", sockets[0].getsockname()[1])), TIMEOUT)
        await stream.write(b"mini to tornado\n")
        assert await asyncio.wait_for(stream.read_until(b"\n"), TIMEOUT) == b"mini to tornado\n"
        stream.close()
    finally:
        server.stop()


async def test_handle_stream_error_closes_the_client_socket_unlike_tornado(
    impl: Impl, caplog: pytest.LogCaptureFixture
) -> None:
    # Scenario: "Differs on purpose" in TCPServer._handle_connection. handle_stream raises
    # without closing its stream, and a log handler (caplog here) keeps the record, whose
    # traceback keeps the stream alive. Ours closed the connection: the client reads EOF.
    # Tornado only logged: its socket stays open until the garbage collector frees it.
    class Fails(impl.tcpserver.TCPServer):  # type: ignore[name-defined,misc]
        def handle_stream(self, stream: Any, address: Any) -> Any:
            raise ValueError("no stream handling today")

    server = Fails()
    server.listen(0, "127.0.0.1")
    client = socket.create_connection(("127.0.0.1", _port(server)), TIMEOUT)
    try:
        client.setblocking(False)
        loop = asyncio.get_running_loop()
        await _wait_for_log(caplog, impl.app_log, "Error in connection callback")
        if impl == "minitornado":
            data = await asyncio.wait_for(loop.sock_recv(client, 10), TIMEOUT)
            assert data == b""  # EOF, not a hang
        else:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(loop.sock_recv(client, 10), 0.3)
    finally:
        client.close()
        server.stop()
        caplog.clear()  # lets Tornado's stream, and its socket, be collected
