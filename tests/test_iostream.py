"""IOStream over real sockets: the reads, buffered writes, limits, closing, lazy registration.

Most tests run twice, once on minitornado's IOStream and once on Tornado's (the ``iostream``
fixture), so they pin down behaviour both share. The interop tests connect the two over TCP.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import select
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import pytest
import tornado.ioloop
import tornado.iostream

import minitornado.ioloop
import minitornado.iostream

TIMEOUT = 5.0


@pytest.fixture(
    params=[
        pytest.param(minitornado.iostream, id="minitornado"),
        pytest.param(tornado.iostream, id="tornado"),
    ]
)
def iostream(request: pytest.FixtureRequest) -> ModuleType:
    """The iostream module under test: ours or Tornado's."""
    module: ModuleType = request.param
    return module


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    # A connected TCP pair on 127.0.0.1: the connection is queued in the backlog before
    # accept(), so nothing here blocks beyond the timeout.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        client = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        server, _ = listener.accept()
    return server, client


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, for the IOStream; client side, a plain blocking socket with a timeout)."""
    server, client = _tcp_pair()
    try:
        yield server, client
    finally:
        _close(client)
        _close(server)


def _close(sock: socket.socket) -> None:
    # shutdown() first: it wakes a helper thread still blocked in recv() on this socket.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _wait_readable(sock: socket.socket) -> None:
    # Make sure sent bytes have reached the receiving socket before the test reads.
    readable, _, _ = select.select([sock], [], [], TIMEOUT)
    assert readable, "data did not arrive"


def _registered(iostream: ModuleType, sock: socket.socket) -> bool:
    # Is the socket registered with the implementation's IOLoop (and so with asyncio)?
    ioloop: Any = minitornado.ioloop if iostream is minitornado.iostream else tornado.ioloop
    return sock.fileno() in ioloop.IOLoop.current().handlers


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 65536))
        assert chunk, "peer closed early"
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


async def _wait(awaitable: Any) -> Any:
    return await asyncio.wait_for(awaitable, TIMEOUT)


# ------------------------------------------------------------------ reads


async def test_read_until_returns_each_line_with_its_delimiter(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # Two lines arrive in one segment; two read_until calls return one line each.
    server, client = pair
    stream = iostream.IOStream(server)
    client.sendall(b"hello\r\nworld\r\n")
    assert await _wait(stream.read_until(b"\r\n")) == b"hello\r\n"
    assert await _wait(stream.read_until(b"\r\n")) == b"world\r\n"
    stream.close()


async def test_read_until_regex_finds_a_match_split_across_segments(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # A header block whose blank line arrives in a second segment; the bytes after the
    # match stay buffered for the next read.
    server, client = pair
    stream = iostream.IOStream(server)
    future = stream.read_until_regex(b"\r?\n\r?\n")
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    await asyncio.sleep(0.05)
    assert not future.done()
    client.sendall(b"\r\nbody")
    assert await _wait(future) == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert await _wait(stream.read_bytes(4)) == b"body"
    stream.close()


async def test_read_bytes_waits_for_the_full_count(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # 3 of 10 bytes arrive: the read stays pending until the other 7 come.
    server, client = pair
    stream = iostream.IOStream(server)
    future = stream.read_bytes(10)
    client.sendall(b"abc")
    await asyncio.sleep(0.05)
    assert not future.done()
    client.sendall(b"defghijXYZ")
    assert await _wait(future) == b"abcdefghij"
    assert await _wait(stream.read_bytes(3)) == b"XYZ"
    stream.close()


async def test_read_bytes_partial_returns_whatever_has_arrived(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # partial=True: 5 bytes available, 100 asked for -> the 5 bytes; never more than asked.
    server, client = pair
    stream = iostream.IOStream(server)
    client.sendall(b"12345")
    assert await _wait(stream.read_bytes(100, partial=True)) == b"12345"
    client.sendall(b"6789")
    assert await _wait(stream.read_bytes(2, partial=True)) == b"67"
    stream.close()


async def test_read_until_close_returns_everything_sent_before_eof(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # The peer sends 1 MB and closes: read_until_close returns all of it, and the stream
    # is then closed.
    server, client = pair
    stream = iostream.IOStream(server)
    payload = os.urandom(1 << 20)
    future = stream.read_until_close()
    await asyncio.to_thread(client.sendall, payload)
    client.close()
    assert await _wait(future) == payload
    assert stream.closed()


async def test_read_satisfied_by_the_buffer_never_touches_the_loop(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # Data already in the kernel: the read is answered inline (buffer, then recv) and the
    # socket is not registered with the IOLoop. Only a read that must wait registers it.
    server, client = pair
    stream = iostream.IOStream(server)
    client.sendall(b"line\n")
    _wait_readable(server)
    future = stream.read_until(b"\n")
    assert future.done() and future.result() == b"line\n"
    assert not _registered(iostream, server)
    pending = stream.read_until(b"\n")
    assert _registered(iostream, server)
    selector_map = asyncio.get_running_loop()._selector.get_map()  # type: ignore[attr-defined]
    assert server.fileno() in selector_map  # it reached asyncio's add_reader
    client.sendall(b"two\n")
    assert await _wait(pending) == b"two\n"
    stream.close()
    assert not _registered(iostream, server)


async def test_a_second_read_while_one_is_pending_is_an_assertion_error(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # One read at a time: starting another before the first resolves is a programming error.
    server, _ = pair
    stream = iostream.IOStream(server)
    stream.read_until(b"\n")
    assert stream.reading()
    with pytest.raises(AssertionError, match="Already reading"):
        stream.read_bytes(1)
    stream.close()


# ------------------------------------------------------------------ limits


@pytest.mark.parametrize("arrives_first", [True, False], ids=["inline", "from-loop"])
async def test_max_bytes_exceeded_closes_the_stream(
    iostream: ModuleType,
    pair: tuple[socket.socket, socket.socket],
    arrives_first: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 100 bytes without the delimiter, max_bytes=10: the stream closes and the read fails
    # with StreamClosedError whose real_error is UnsatisfiableReadError, whether the data
    # was there before the read (inline) or came later (through the loop).
    caplog.set_level(logging.INFO)
    server, client = pair
    stream = iostream.IOStream(server)
    if arrives_first:
        client.sendall(b"x" * 100)
        _wait_readable(server)
    future = stream.read_until(b"\n", max_bytes=10)
    if not arrives_first:
        client.sendall(b"x" * 100)
    with pytest.raises(iostream.StreamClosedError) as info:
        await _wait(future)
    assert isinstance(info.value.real_error, iostream.UnsatisfiableReadError)
    assert stream.closed()
    expected = "Unsatisfiable read, closing connection: delimiter b'\\n' not found within 10 bytes"
    assert expected in caplog.messages


async def test_read_buffer_past_max_buffer_size_closes_the_stream(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # max_buffer_size=1024 and 5000 bytes arrive while a read waits for a newline: the
    # stream closes, and the read fails with real_error StreamBufferFullError.
    server, client = pair
    stream = iostream.IOStream(server, max_buffer_size=1024)
    assert stream.max_buffer_size == 1024 and stream.read_chunk_size == 512
    future = stream.read_until(b"\n")
    client.sendall(b"x" * 5000)
    with pytest.raises(iostream.StreamClosedError) as info:
        await _wait(future)
    assert isinstance(info.value.real_error, iostream.StreamBufferFullError)
    assert stream.closed()


async def test_buffer_overflow_during_an_inline_read_raises_at_once(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # The same overflow found by the inline read: read_until itself raises.
    server, client = pair
    stream = iostream.IOStream(server, max_buffer_size=1024)
    client.sendall(b"x" * 5000)
    _wait_readable(server)
    with pytest.raises(iostream.StreamBufferFullError):
        stream.read_until(b"\n")
    assert stream.closed()


async def test_write_past_max_write_buffer_size_raises(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # The peer does not read; once the kernel is full, queued data may not pass the limit.
    server, client = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stream = iostream.IOStream(server, max_write_buffer_size=1 << 20)
    with pytest.raises(iostream.StreamBufferFullError):
        for _ in range(1000):
            stream.write(b"x" * 65536)
    stream.close()


async def test_default_limits_are_tornados(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # 100 MiB read buffer, 64 KiB reads, no write limit.
    stream = iostream.IOStream(pair[0])
    assert stream.max_buffer_size == 104857600
    assert stream.read_chunk_size == 65536
    assert stream.max_write_buffer_size is None
    stream.close()


# ------------------------------------------------------------------ writes


async def test_small_write_is_sent_at_once_without_the_loop(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # A write that fits in the kernel's buffer goes out inside write(): its Future is
    # already resolved and the socket was never registered.
    server, client = pair
    stream = iostream.IOStream(server)
    future = stream.write(b"response")
    assert future.done() and future.result() is None
    assert not stream.writing()
    assert not _registered(iostream, server)
    assert _recv_exactly(client, 8) == b"response"
    stream.close()


async def test_write_accepts_memoryviews_of_any_format(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # A view of 32-bit integers is sent as its raw bytes: lengths count bytes, not items.
    server, client = pair
    stream = iostream.IOStream(server)
    numbers = array.array("I", [1, 2, 3])
    await _wait(stream.write(memoryview(numbers)))
    assert _recv_exactly(client, numbers.itemsize * 3) == numbers.tobytes()
    stream.close()


async def test_large_write_to_a_slow_reader_completes(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # 16 MB to a peer with a small receive buffer that reads in small steps: the write
    # waits in the buffer (WRITE registered), then drains, and every byte arrives in order.
    server, client = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    stream = iostream.IOStream(server)
    payload = os.urandom(16 << 20)
    future = stream.write(payload)
    assert not future.done() and stream.writing()
    assert _registered(iostream, server)

    def slow_reader() -> bytes:
        chunks = []
        for i in range(len(payload) // 65536):
            chunks.append(_recv_exactly(client, 65536))
            if i % 16 == 0:
                select.select([], [], [], 0.001)  # a short nap every 1 MB
        return b"".join(chunks)

    received = await _wait(asyncio.to_thread(slow_reader))
    assert await _wait(future) is None
    assert received == payload
    assert not stream.writing()
    stream.close()


async def test_many_small_writes_queued_behind_a_big_one_arrive_in_order(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # A big write fills the kernel, 2000 numbered small writes queue behind it; the peer
    # gets them all in order, and each write's Future resolves.
    server, client = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    stream = iostream.IOStream(server)
    big = os.urandom(4 << 20)
    futures = [stream.write(big)]
    futures += [stream.write(struct.pack("!I", i)) for i in range(2000)]
    total = len(big) + 4 * 2000
    received = await _wait(asyncio.to_thread(_recv_exactly, client, total))
    await _wait(asyncio.gather(*futures))
    assert received[: len(big)] == big
    numbers = struct.unpack("!2000I", received[len(big) :])
    assert list(numbers) == list(range(2000))
    stream.close()


async def test_write_on_a_closed_stream_raises(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # write() after close() raises StreamClosedError at once.
    server, _ = pair
    stream = iostream.IOStream(server)
    stream.close()
    with pytest.raises(iostream.StreamClosedError):
        stream.write(b"late")


async def test_close_fails_pending_write_futures(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # A write still queued when the stream closes fails with StreamClosedError.
    server, client = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stream = iostream.IOStream(server)
    future = stream.write(b"x" * (8 << 20))
    assert not future.done()
    stream.close()
    with pytest.raises(iostream.StreamClosedError):
        await _wait(future)


# ------------------------------------------------------------------ closing


async def test_peer_close_fails_a_pending_read(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # The peer sends 3 of 10 bytes and closes: EOF fails the read with StreamClosedError
    # (no real_error: a clean close is not an error).
    server, client = pair
    stream = iostream.IOStream(server)
    future = stream.read_bytes(10)
    client.sendall(b"abc")
    client.close()
    with pytest.raises(iostream.StreamClosedError) as info:
        await _wait(future)
    assert info.value.real_error is None
    assert stream.closed()


async def test_local_close_fails_a_pending_read_but_read_until_close_gets_the_buffer(
    iostream: ModuleType,
) -> None:
    # close() with a read pending fails it; a pending read_until_close instead resolves
    # with what was buffered.
    for read in ("read_bytes", "read_until_close"):
        server, client = _tcp_pair()
        with server, client:
            stream = iostream.IOStream(server)
            future = stream.read_bytes(10) if read == "read_bytes" else stream.read_until_close()
            client.sendall(b"abc")
            await asyncio.sleep(0.05)  # let the loop move "abc" into the read buffer
            stream.close()
            if read == "read_bytes":
                with pytest.raises(iostream.StreamClosedError):
                    await _wait(future)
            else:
                assert await _wait(future) == b"abc"


async def test_connection_reset_closes_quietly(
    iostream: ModuleType,
    pair: tuple[socket.socket, socket.socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The peer aborts (RST via SO_LINGER 0) during a read: the read fails with the reset as
    # real_error, and nothing is logged at WARNING or above.
    caplog.set_level(logging.DEBUG)
    server, client = pair
    stream = iostream.IOStream(server)
    future = stream.read_bytes(10)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    with pytest.raises(iostream.StreamClosedError) as info:
        await _wait(future)
    assert isinstance(info.value.real_error, ConnectionResetError)
    assert stream.error is info.value.real_error
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_close_callback_runs_once_on_the_next_loop_iteration(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # The callback is scheduled by close(), not run inside it, and never runs twice even
    # when close() is called again.
    server, _ = pair
    stream = iostream.IOStream(server)
    calls: list[str] = []
    stream.set_close_callback(lambda: calls.append("closed"))
    stream.close()
    assert calls == []
    stream.close()
    await asyncio.sleep(0.01)
    assert calls == ["closed"]


async def test_idle_stream_with_a_close_callback_notices_the_peer_leaving(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # No read pending, but a close callback set: the stream listens for the hang-up
    # (registers READ), so the callback runs when the peer closes.
    server, client = pair
    stream = iostream.IOStream(server)
    closed = asyncio.Event()
    stream.set_close_callback(closed.set)
    assert _registered(iostream, server)
    client.close()
    await _wait(closed.wait())
    assert stream.closed()


async def test_set_nodelay_toggles_tcp_nodelay(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # TCP_NODELAY follows set_nodelay; on a closed stream or a Unix socket it is a no-op.
    server, _ = pair
    stream = iostream.IOStream(server)
    stream.set_nodelay(True)
    assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    stream.set_nodelay(False)
    assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    stream.close()
    stream.set_nodelay(True)
    a, b = socket.socketpair()
    with b:
        unix_stream = iostream.IOStream(a)
        unix_stream.set_nodelay(True)
        unix_stream.close()


# ------------------------------------------------------------------ client side


async def test_connect_resolves_with_the_stream_and_flushes_early_writes(
    iostream: ModuleType,
) -> None:
    # write() before the connection is up: the data goes out once connect() completes.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        stream = iostream.IOStream(socket.socket())
        connecting = stream.connect(listener.getsockname())
        written = stream.write(b"early bird")
        assert await _wait(connecting) is stream
        await _wait(written)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            assert _recv_exactly(conn, 10) == b"early bird"
        stream.close()


async def test_connect_to_a_closed_port_fails_with_the_refusal(iostream: ModuleType) -> None:
    # Nobody listens: the Future fails with StreamClosedError, real_error ECONNREFUSED.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = listener.getsockname()
    stream = iostream.IOStream(socket.socket())
    with pytest.raises(iostream.StreamClosedError) as info:
        await _wait(stream.connect(address))
    assert isinstance(info.value.real_error, ConnectionRefusedError)
    assert stream.closed()


# ------------------------------------------------------------------ interop with Tornado


@pytest.fixture
async def tornado_and_ours() -> AsyncIterator[tuple[Any, Any]]:
    """A Tornado IOStream and one of ours, connected to each other over TCP."""
    server, client = _tcp_pair()
    theirs = tornado.iostream.IOStream(client)
    ours = minitornado.iostream.IOStream(server)
    yield theirs, ours
    theirs.close()
    ours.close()


@pytest.mark.parametrize("direction", ["tornado-to-ours", "ours-to-tornado"])
async def test_tornado_iostream_and_ours_exchange_messages(
    tornado_and_ours: tuple[Any, Any], direction: str
) -> None:
    # Both streams on one asyncio loop: a length-prefixed 3 MB message goes one way, a
    # line-terminated reply comes back.
    theirs, ours = tornado_and_ours
    sender, receiver = (theirs, ours) if direction == "tornado-to-ours" else (ours, theirs)
    payload = os.urandom(3 << 20)
    sent = sender.write(b"%d\r\n" % len(payload) + payload)
    size = int(await _wait(receiver.read_until(b"\r\n")))
    assert await _wait(receiver.read_bytes(size)) == payload
    await _wait(sent)
    await _wait(receiver.write(b"got it\r\n"))
    assert await _wait(sender.read_until_regex(rb"\r?\n")) == b"got it\r\n"


async def test_tornado_sees_our_close_as_eof(tornado_and_ours: tuple[Any, Any]) -> None:
    # Our close() ends Tornado's read_until_close with everything we wrote first.
    theirs, ours = tornado_and_ours
    reading = theirs.read_until_close()
    await _wait(ours.write(b"last words"))
    ours.close()
    assert await _wait(reading) == b"last words"


# ------------------------------------------------------------------ differs on purpose


async def test_a_bytearray_may_be_reused_as_soon_as_write_returns(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    # Differs on purpose: we copy a queued bytearray, so the caller may clear and refill it
    # at once and the peer still gets the original bytes. Tornado keeps a view of it, so
    # resizing it raises BufferError until the write is done.
    server, client = pair
    # (Not smaller: a 4 KB window makes loopback TCP crawl at one segment per delayed ACK.)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    stream = minitornado.iostream.IOStream(server)
    buffer = bytearray(b"a" * (4 << 20))
    future = stream.write(buffer)
    assert not future.done()
    buffer.clear()
    buffer += b"b" * 100
    received = await _wait(asyncio.to_thread(_recv_exactly, client, 4 << 20))
    assert received == b"a" * (4 << 20)
    await _wait(future)
    stream.close()

    server2, client2 = _tcp_pair()
    with server2, client2:
        client2.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        theirs = tornado.iostream.IOStream(server2)
        buffer = bytearray(b"a" * (4 << 20))
        theirs.write(buffer)
        with pytest.raises(BufferError):
            buffer.clear()
        theirs.close()


async def test_socket_attribute_survives_close(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    # Differs on purpose: after close(), our stream.socket is the closed socket object
    # (family still readable); Tornado's is None.
    server, _ = pair
    stream = minitornado.iostream.IOStream(server)
    stream.close()
    assert stream.socket is server and server.fileno() == -1
    assert stream.socket.family == socket.AF_INET

    server2, client2 = _tcp_pair()
    with server2, client2:
        theirs = tornado.iostream.IOStream(server2)
        theirs.close()
        assert theirs.socket is None


async def test_an_eof_nobody_waits_for_is_left_for_the_next_read(
    iostream: ModuleType, pair: tuple[socket.socket, socket.socket]
) -> None:
    # Differs on purpose (IOStream's "Compared with Tornado"): a stream the loop watches,
    # with no read pending and no close callback, receives the peer's FIN. Ours stays open
    # and leaves the loop, and the next read finds the EOF; Tornado's closes at once.
    server, client = pair
    stream = iostream.IOStream(server)
    future = stream.read_bytes(2)  # waits on the loop: the stream registers
    client.sendall(b"ab")
    assert await _wait(future) == b"ab"
    client.shutdown(socket.SHUT_WR)
    await asyncio.sleep(0.1)
    if iostream is tornado.iostream:
        assert stream.closed()
        return
    assert not stream.closed() and not _registered(iostream, server)
    with pytest.raises(iostream.StreamClosedError):
        await _wait(stream.read_bytes(1))
    assert stream.closed()
