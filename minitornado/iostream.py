"""IOStream: a buffered, non-blocking socket that hands out Futures for reads and writes.

Mirrors: tornado/iostream.py (Tornado 6.6)

An ``IOStream`` wraps one connected socket. Reads (``read_until``, ``read_until_regex``,
``read_bytes``, ``read_until_close``) and ``write`` return asyncio Futures. Underneath there
are no asyncio transports: the stream reaches the loop only through ``IOLoop.add_handler`` /
``update_handler`` / ``remove_handler`` (asyncio ``add_reader`` / ``add_writer``), and does
its own ``recv`` and ``send`` calls when the loop says the socket is ready.

The life of a read, in call order::

    read_until(b"\\r\\n")                     _start_read: one read at a time
      -> _try_inline_read                    1. the read buffer may already hold the answer
           -> _read_to_buffer_loop           2. else recv() now, while the kernel has data
           -> _update_io_state()             3. else ask the loop (add_handler, once)
      ... later: IOLoop -> _handle_events -> _handle_read -> _read_to_buffer_loop
      -> _read_from_buffer -> _finish_read   the Future gets its bytes

Kept: the four reads with ``max_bytes`` / ``partial``, buffered ``write`` whose Future
resolves once that data reached the kernel, ``close`` and its close callback, the buffer
limits and their errors, lazy registration with the loop, quiet handling of connection
resets, ``set_nodelay``, and client-side ``connect``. ``SSLIOStream``, at the end: the same
stream over an ``ssl.SSLSocket``, whose handshake the loop drives before any data flows.

Left out: ``BaseIOStream`` as a separate base class and its file hooks (``read_from_fd``,
``write_to_fd``, ``close_fd``, ``get_fd_error``): there is one socket class, so its methods
call ``recv`` / ``send`` / ``close`` directly. ``start_tls`` (TLS on a stream that began in
plain text) and ``SSLIOStream``'s client side (``connect`` with ``server_hostname``);
``PipeIOStream`` (pipes); ``read_into`` (reading into a caller's buffer); ``_StreamBuffer``
(a plain list of pieces here, see ``write``); the ``IOLoop.ERROR`` branch of ``_handle_events``
(asyncio never reports ERROR: a socket error shows up as readiness and the next ``recv`` or
``send`` raises it); Windows' 128 KB cap per ``send``.

Study path: step 11 (``TCPServer._handle_connection`` wraps each accepted socket in an
``IOStream``, or in an ``SSLIOStream`` for a server with ``ssl_options``); at steps 13 and
14 the request loop (``_wait_for_request``) and ``HTTP1Connection`` read the request from it
with ``read_bytes(chunk_size, partial=True)`` and feed what comes to h11. Over TLS,
steps T3 to T6: ``SSLIOStream`` registers for the ClientHello (T3), the first read waits
(T4), each readiness event runs one round of the handshake (T5), then ``_read_to_buffer``
returns decrypted bytes (T6).
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
import ssl
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeAlias

from minitornado.ioloop import IOLoop
from minitornado.log import gen_log

# Tornado: tornado/iostream.py::_ERRNO_CONNRESET
# The peer hung up abruptly: an ordinary end of a connection, not worth a warning.
_ERRNO_CONNRESET = (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT)

# At most this many buffers go into one sendmsg() call (Linux's IOV_MAX is 1024).
_MAX_IOV = 1024
_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")  # not on Windows: one send() per buffer

# "Not now" from a non-blocking socket: BlockingIOError (EAGAIN). A TLS socket says it with
# SSLWantReadError / SSLWantWriteError: its next record is not all here, or cannot go out yet.
_RECV_NOT_NOW = (BlockingIOError, ssl.SSLWantReadError)
_SEND_NOT_NOW = (BlockingIOError, ssl.SSLWantWriteError)

_ExcInfo: TypeAlias = (
    bool
    | BaseException
    | tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    | None
)


# Tornado: tornado/iostream.py::StreamClosedError
class StreamClosedError(IOError):
    """Raised (or set on a Future) when the stream is closed.

    ``real_error`` is what closed it, when something did: the OSError of a failed ``recv``,
    the ``UnsatisfiableReadError`` of a too-long line, ... None after a clean close or EOF.
    """

    def __init__(self, real_error: BaseException | None = None) -> None:
        super().__init__("Stream is closed")
        self.real_error = real_error


# Tornado: tornado/iostream.py::UnsatisfiableReadError
class UnsatisfiableReadError(Exception):
    """The delimiter or regex was not found within ``max_bytes``; the stream is closed."""


# Tornado: tornado/iostream.py::StreamBufferFullError
class StreamBufferFullError(Exception):
    """The read buffer passed ``max_buffer_size`` or the write buffer ``max_write_buffer_size``."""


# Tornado: tornado/iostream.py::IOStream                              (study path, step 11)
class IOStream:
    """A connected (or to-be-connected) socket with Future-returning reads and writes.

    ``max_buffer_size`` caps received-but-unread data (default 100 MiB),
    ``read_chunk_size`` is the most one ``recv`` asks for (64 KiB, at most half the
    buffer), ``max_write_buffer_size`` caps data waiting to be sent (default: no cap).

    At most one read may be pending at a time; writes queue up in order. Every pending
    Future fails with ``StreamClosedError`` when the stream closes, and the close callback
    (``set_close_callback``) runs once, on the next loop iteration.

    Compared with Tornado:
        Simplified: ``BaseIOStream`` and ``IOStream`` are one class.
        Differs on purpose: ``stream.socket`` stays the (closed) socket object after
        ``close()``; Tornado sets it to None. Code that only reads ``socket.family`` works
        either way, and the attribute never needs a None check (tests/test_iostream.py).
        And while no read is pending, a stream the loop already watches goes on taking in
        data up to one chunk; Tornado stops at the first byte (see ``_listens_while_idle``;
        tests/test_hot_path.py).
        And an EOF that nobody waits for (no read pending, and no close callback on a
        stream with nothing unread and nothing to send) is left for the next read to find
        instead of closing the stream at once, as Tornado's idle stream does:
        ``HTTP1Connection`` hands pipelined requests to h11, not to this buffer, and they
        must still be answered when the client half-closes after sending them
        (tests/test_iostream.py; tests/test_half_close.py).
        ``error`` keeps no traceback: its frames would hold the stream in a reference
        cycle, freed only by the garbage collector (tests/test_circlerefs.py).
    """

    # Whether _handle_write may hand several buffers to one sendmsg() (an SSLSocket has none).
    _use_sendmsg = _HAS_SENDMSG

    # Tornado: tornado/iostream.py::IOStream.__init__                    (study path, step 11)
    def __init__(
        self,
        socket: socket.socket,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
        max_write_buffer_size: int | None = None,
    ) -> None:
        self.socket = socket
        self.socket.setblocking(False)
        self.io_loop = IOLoop.current()
        self._loop = self.io_loop.asyncio_loop
        self.max_buffer_size = max_buffer_size or 104857600  # 100 MiB
        # A chunk close to the whole buffer would overflow it on a single recv().
        self.read_chunk_size = min(read_chunk_size or 65536, self.max_buffer_size // 2)
        self.max_write_buffer_size = max_write_buffer_size
        self.error: BaseException | None = None
        # Bytes received and not yet handed to a reader. Consumed from the front with
        # `del buf[:n]`, which CPython makes cheap: it moves the bytearray's start pointer
        # and only compacts once less than half the allocation is in use.
        self._read_buffer = bytearray()
        # What the pending read waits for: exactly one of bytes / delimiter / regex /
        # until-close is set while a read is pending.
        self._read_future: asyncio.Future[bytes] | None = None
        self._read_bytes: int | None = None
        self._read_partial = False
        self._read_delimiter: bytes | None = None
        self._read_regex: re.Pattern[bytes] | None = None
        self._read_max_bytes: int | None = None
        self._read_until_close = False
        # Data waiting for the kernel, oldest first. Between calls it holds only bytes and
        # views of bytes (write() copies anything mutable before returning). Lists, not
        # deques, here and below: an empty deque takes 760 bytes, an empty list 56, and a
        # server may hold thousands of idle streams; sent pieces go in one `del` per send.
        self._write_buffer: list[bytes | bytearray | memoryview] = []
        self._write_buffer_size = 0
        # Running byte counts: a write's Future resolves once the "done" count reaches the
        # total as it stood right after that write.
        self._total_write_index = 0
        self._total_write_done_index = 0
        self._write_futures: list[tuple[int, asyncio.Future[None]]] = []
        self._close_callback: Callable[[], object] | None = None
        self._connect_future: asyncio.Future[IOStream] | None = None
        self._connecting = False
        # What a TLS handshake in progress waits for (READ or WRITE); 0 when there is none,
        # always on a plain stream. Only SSLIOStream sets it.
        self._handshake_wants = 0
        # The events we are registered for with the IOLoop; None = not registered at all.
        # Only _update_io_state changes it, and close(), which leaves the loop.
        self._state: int | None = None
        self._closed = False
        # The peer has closed its side, and nobody was waiting for that yet (see
        # _read_to_buffer): the next read finds the end of the stream.
        self._eof_pending = False

    # ------------------------------------------------------------------ reads: the API

    # Tornado: tornado/iostream.py::BaseIOStream.read_until_regex
    def read_until_regex(
        self, regex: bytes | re.Pattern[bytes], max_bytes: int | None = None
    ) -> asyncio.Future[bytes]:
        """Resolve with everything up to and including the first match of ``regex``.

        With ``max_bytes``, give up once that many bytes arrived without a match: the
        stream closes and the Future fails with ``StreamClosedError`` whose ``real_error``
        is an ``UnsatisfiableReadError``. (This is how Tornado's HTTP1Connection caps
        header size; ours lets h11 count.)
        """
        future = self._start_read()
        self._read_regex = re.compile(regex)
        self._read_max_bytes = max_bytes
        return self._run_read(future)

    # Tornado: tornado/iostream.py::BaseIOStream.read_until
    def read_until(self, delimiter: bytes, max_bytes: int | None = None) -> asyncio.Future[bytes]:
        """Resolve with everything up to and including ``delimiter``; ``max_bytes`` as above."""
        future = self._start_read()
        self._read_delimiter = delimiter
        self._read_max_bytes = max_bytes
        return self._run_read(future)

    # Tornado: tornado/iostream.py::BaseIOStream.read_bytes
    def read_bytes(self, num_bytes: int, partial: bool = False) -> asyncio.Future[bytes]:
        """Resolve with exactly ``num_bytes`` bytes, or with 1..num_bytes if ``partial``."""
        future = self._start_read()
        self._read_bytes = num_bytes
        self._read_partial = partial
        return self._run_read(future)

    # Tornado: tornado/iostream.py::BaseIOStream.read_until_close
    def read_until_close(self) -> asyncio.Future[bytes]:
        """Resolve with everything the peer sends until it closes the connection.

        Everything is buffered, so ``max_buffer_size`` caps the total.
        """
        future = self._start_read()
        if self.closed():
            self._finish_read(len(self._read_buffer))
            return future
        self._read_until_close = True
        return self._run_read(future)

    # Tornado: tornado/iostream.py::BaseIOStream._start_read
    def _start_read(self) -> asyncio.Future[bytes]:
        if self._read_future is not None:
            # A read left pending by a close should say "closed", not "already reading".
            self._check_closed()
            raise AssertionError("Already reading")
        self._read_future = self._loop.create_future()
        return self._read_future

    def _run_read(self, future: asyncio.Future[bytes]) -> asyncio.Future[bytes]:
        # Tornado repeats this try/except in each read method.
        try:
            self._try_inline_read()
        except UnsatisfiableReadError as e:
            gen_log.info("Unsatisfiable read, closing connection: %s", e)
            self.close(exc_info=e)
        return future

    # ------------------------------------------------------------------ reads: the machinery

    # Tornado: tornado/iostream.py::BaseIOStream._try_inline_read
    def _try_inline_read(self) -> None:
        # 1. From the buffer. 2. From the socket, right now. 3. Only then from the loop.
        pos = self._find_read_pos()
        if pos is not None:
            self._read_from_buffer(pos)
            return
        self._check_closed()
        pos = self._read_to_buffer_loop()
        if pos is not None:
            self._read_from_buffer(pos)
            return
        self._update_io_state()

    # Tornado: tornado/iostream.py::BaseIOStream._read_to_buffer_loop
    def _read_to_buffer_loop(self) -> int | None:
        """recv() until the kernel is empty or the pending read can be answered.

        Returns the end position of the answer in the read buffer, or None.
        """
        if self._read_bytes is not None:
            target_bytes: int | None = self._read_bytes
        elif self._read_max_bytes is not None:
            target_bytes = self._read_max_bytes
        elif self.reading():
            target_bytes = None  # read everything there is, then search once
        else:
            target_bytes = 0  # nobody is reading: one recv, to notice EOF
        next_find_pos = 0
        while not self.closed():
            if self._read_to_buffer() == 0:
                break
            if target_bytes is not None and len(self._read_buffer) >= target_bytes:
                break
            # Searching after every recv would rescan the buffer each time (quadratic);
            # searching whenever the buffer has doubled keeps the total work linear.
            if len(self._read_buffer) >= next_find_pos:
                pos = self._find_read_pos()
                if pos is not None:
                    return pos
                next_find_pos = len(self._read_buffer) * 2
        return self._find_read_pos()

    # Tornado: tornado/iostream.py::BaseIOStream._read_to_buffer    (study path, step T6)
    def _read_to_buffer(self) -> int:
        """One recv() into the read buffer. Returns the byte count; 0 for "nothing now" or EOF.

        EOF and connection resets close the stream quietly; other errors close and raise.
        """
        try:
            chunk = self.socket.recv(self.read_chunk_size)
        except _RECV_NOT_NOW:
            return 0
        except OSError as e:
            self.close(exc_info=e)
            if self._is_connreset(e):
                return 0  # the error stays in self.error for whoever cares
            raise
        if not chunk:
            # EOF: the peer closed its side. Close only if someone waits for that: a
            # reader, or the close callback of a stream with nothing to hand out or send.
            # Otherwise the data received before the EOF (pipelined requests sent before a
            # half-close) is still to be read and answered; a later recv() sees the EOF again.
            if self.reading() or self._waiting_for_hang_up():
                self.close()
            else:
                self._eof_pending = True
            return 0
        self._read_buffer += chunk
        if len(self._read_buffer) > self.max_buffer_size:
            gen_log.error("Reached maximum read buffer size")
            error = StreamBufferFullError("Reached maximum read buffer size")
            self.close(exc_info=error)
            raise error
        return len(chunk)

    # Tornado: tornado/iostream.py::BaseIOStream._find_read_pos
    def _find_read_pos(self) -> int | None:
        """Where the pending read's answer ends in the read buffer, or None if not there yet.

        Raises UnsatisfiableReadError when ``max_bytes`` is exceeded.
        """
        buffer = self._read_buffer
        if self._read_bytes is not None:
            if len(buffer) >= self._read_bytes or (self._read_partial and buffer):
                return min(self._read_bytes, len(buffer))
        elif self._read_delimiter is not None and buffer:
            loc = buffer.find(self._read_delimiter)
            if loc != -1:
                end = loc + len(self._read_delimiter)
                self._check_max_bytes(self._read_delimiter, end)
                return end
            self._check_max_bytes(self._read_delimiter, len(buffer))
        elif self._read_regex is not None and buffer:
            match = self._read_regex.search(buffer)
            if match is not None:
                self._check_max_bytes(self._read_regex, match.end())
                return match.end()
            self._check_max_bytes(self._read_regex, len(buffer))
        return None

    # Tornado: tornado/iostream.py::BaseIOStream._check_max_bytes
    def _check_max_bytes(self, delimiter: bytes | re.Pattern[bytes], size: int) -> None:
        if self._read_max_bytes is not None and size > self._read_max_bytes:
            raise UnsatisfiableReadError(
                f"delimiter {delimiter!r} not found within {self._read_max_bytes} bytes"
            )

    # Tornado: tornado/iostream.py::BaseIOStream._read_from_buffer
    def _read_from_buffer(self, pos: int) -> None:
        self._read_bytes = self._read_delimiter = self._read_regex = None
        self._read_max_bytes = None
        self._read_partial = False
        self._finish_read(pos)

    # Tornado: tornado/iostream.py::BaseIOStream._finish_read
    def _finish_read(self, size: int) -> None:
        data = self._consume(size)
        future, self._read_future = self._read_future, None
        if future is not None and not future.cancelled():
            future.set_result(data)

    # Tornado: tornado/iostream.py::BaseIOStream._consume
    def _consume(self, size: int) -> bytes:
        buffer = self._read_buffer
        if size == len(buffer):
            data = bytes(buffer)  # the common case: the whole buffer, one copy
            buffer.clear()
            return data
        # Views must be released before the bytearray may shrink.
        with memoryview(buffer) as view, view[:size] as head:
            data = head.tobytes()
        del buffer[:size]
        return data

    # ------------------------------------------------------------------ writes

    # Tornado: tornado/iostream.py::BaseIOStream.write
    def write(self, data: bytes | bytearray | memoryview) -> asyncio.Future[None]:
        """Queue ``data`` and try to send it now; the Future resolves once it is all sent.

        "Sent" means handed to the kernel (and so is everything written before it). Raises
        ``StreamClosedError`` at once on a closed stream, ``StreamBufferFullError`` when the
        write buffer would pass ``max_write_buffer_size``.

        Compared with Tornado:
            Differs on purpose: data that has to wait in the buffer is copied if the caller
            could still change it (a bytearray, a view of one), so the caller may reuse or
            resize it as soon as ``write()`` returns. Tornado keeps a view of writes over
            2 KB, and resizing that bytearray raises ``BufferError`` until the write is done
            (tests/test_iostream.py). Bytes are never copied.
            Simplified: the buffer is a list of pieces sent with one ``sendmsg()`` call
            (writev), where Tornado coalesces small writes into bytearrays.
        """
        self._check_closed()
        if data:
            if isinstance(data, memoryview):
                data = data.cast("B")  # so that len() counts bytes
            if (
                self.max_write_buffer_size is not None
                and self._write_buffer_size + len(data) > self.max_write_buffer_size
            ):
                raise StreamBufferFullError("Reached maximum write buffer size")
            self._write_buffer.append(data)
            self._write_buffer_size += len(data)
            self._total_write_index += len(data)
        future: asyncio.Future[None] = self._loop.create_future()
        self._write_futures.append((self._total_write_index, future))
        if not self._connecting:
            self._handle_write()
            self._update_io_state()
        # Whatever is still queued of *this* write is the last piece; older pieces were
        # checked by their own write(). Freeze it if the caller could still mutate it.
        if self._write_buffer and not _is_immutable(self._write_buffer[-1]):
            self._write_buffer[-1] = bytes(self._write_buffer[-1])
        return future

    # Tornado: tornado/iostream.py::BaseIOStream._handle_write
    def _handle_write(self) -> None:
        """Send queued data until the kernel's buffer is full, then resolve finished writes."""
        buffer = self._write_buffer
        while buffer:
            try:
                if len(buffer) == 1 or not self._use_sendmsg:
                    sent = self.socket.send(buffer[0])
                else:
                    sent = self.socket.sendmsg(buffer[:_MAX_IOV])
            except _SEND_NOT_NOW:
                break
            except OSError as e:
                # EPIPE / ECONNRESET just mean the peer left; anything else is worth a line.
                if not self._is_connreset(e):
                    gen_log.warning("Write error on %s: %s", self.socket.fileno(), e)
                self.close(exc_info=e)
                return
            if sent == 0:
                break  # never seen on a stream socket, but it would loop for ever
            self._write_buffer_size -= sent
            self._total_write_done_index += sent
            whole = 0  # pieces sent in full
            while whole < len(buffer) and sent >= len(buffer[whole]):
                sent -= len(buffer[whole])
                whole += 1
            del buffer[:whole]
            if sent:
                # The kernel took only part of a piece: its buffer is full. Keep the rest
                # (a view, no copy) and wait for the loop to say the socket is writable.
                buffer[0] = memoryview(buffer[0])[sent:]
                break
        resolved = 0
        for index, future in self._write_futures:
            if index > self._total_write_done_index:
                break
            resolved += 1
            if not future.cancelled():
                future.set_result(None)  # (its callbacks run later, from the loop)
        del self._write_futures[:resolved]

    # ------------------------------------------------------------------ events from the loop

    # Tornado: tornado/iostream.py::BaseIOStream._handle_events     (study path, step T5)
    def _handle_events(self, fd: socket.socket, events: int) -> None:
        """Called by the IOLoop when the socket is readable (READ) or writable (WRITE)."""
        if self.closed():
            gen_log.warning("Got events for closed stream %s", fd)
            return
        try:
            if self._connecting:
                self._handle_connect()
            if self.closed():
                return
            if events & IOLoop.READ:
                self._handle_read()
            if self.closed():
                return
            if events & IOLoop.WRITE:
                self._handle_write()
            self._update_io_state()
        except UnsatisfiableReadError as e:
            gen_log.info("Unsatisfiable read, closing connection: %s", e)
            self.close(exc_info=e)
        except Exception as e:
            gen_log.error("Uncaught exception, closing connection.", exc_info=True)
            self.close(exc_info=e)
            raise

    # Tornado: tornado/iostream.py::BaseIOStream._handle_read
    def _handle_read(self) -> None:
        try:
            pos = self._read_to_buffer_loop()
        except UnsatisfiableReadError:
            raise  # _handle_events logs it at INFO
        except Exception as e:
            gen_log.warning("error on read: %s", e)
            self.close(exc_info=e)
            # Raised after close() dropped its traceback, the error gained frames on its
            # way here: drop them too, it may be self.error (see close).
            e.__traceback__ = None
            return
        if pos is not None:
            self._read_from_buffer(pos)

    # Tornado: tornado/iostream.py::BaseIOStream._add_io_state  (study path, step T3; step T5)
    def _update_io_state(self) -> None:
        """Register with the loop for exactly the events this stream wants now.

        The one place that decides it (Tornado spreads it over ``_add_io_state``,
        ``_maybe_add_error_listener`` and the end of ``_handle_events``). Called after
        every operation that may change the answer. While a TLS handshake runs, it alone
        decides: no data moves before it is done (Tornado's ``SSLIOStream`` has its
        ``reading()`` and ``writing()`` say what the handshake waits for).
        """
        if self.closed():
            return
        events = self._handshake_wants
        if not events:
            if self.reading():
                events |= IOLoop.READ
            if self.writing() or self._connecting:
                events |= IOLoop.WRITE
            if not events and self._listens_while_idle():
                events = IOLoop.READ
        if self._state is None:
            if events:  # registration is lazy: only once something has to wait
                self._state = events
                self.io_loop.add_handler(self.socket, self._handle_events, events | IOLoop.ERROR)
        elif not events and self._eof_pending:
            # The peer is gone and nothing is left to do: leave the loop, which would
            # otherwise keep this stream alive even once nobody else holds it.
            self._state = None
            self.io_loop.remove_handler(self.socket)
        elif events != self._state:
            self._state = events
            self.io_loop.update_handler(self.socket, events | IOLoop.ERROR)

    def _listens_while_idle(self) -> bool:
        # Whether a stream with no read pending and nothing to write watches for READ.
        # Three facts:
        #  - registering costs system calls (epoll_ctl) and a trip through the loop, and
        #    most reads and writes finish at once, so a stream registers only when
        #    something has to wait;
        #  - a peer that hangs up on an idle connection is seen only as "readable";
        #  - in keep-alive the next request usually arrives while the previous response is
        #    being finished: unregistering now and registering again for the next read
        #    costs two epoll_ctl calls and two trips through asyncio per request
        #    (bench/OPTIMISATIONS.md).
        # So: listen when a close callback waits for the hang-up and nothing is left to hand
        # out (as Tornado does), and a registered stream goes on listening while less than
        # one chunk is unread, which bounds what a client can make us hold. That second
        # rule ends once the peer's EOF is pending: the loop would report it for ever.
        if self._waiting_for_hang_up():
            return True
        return (
            self._state is not None
            and not self._eof_pending
            and len(self._read_buffer) < self.read_chunk_size
        )

    def _waiting_for_hang_up(self) -> bool:
        # Someone waits for nothing but the peer's hang-up (HTTP1Connection, while the
        # application works on a response): a close callback, no read, nothing to send, and
        # no unread data, which a later read would still want whatever follows it.
        return (
            self._close_callback is not None
            and not self.reading()
            and not self.writing()
            and not self._read_buffer
        )

    # ------------------------------------------------------------------ closing

    # Tornado: tornado/iostream.py::BaseIOStream.set_close_callback
    def set_close_callback(self, callback: Callable[[], object] | None) -> None:
        """Have the loop call ``callback()`` once after the stream closes (None to unset)."""
        self._close_callback = callback
        self._update_io_state()

    # Tornado: tornado/iostream.py::BaseIOStream.close
    def close(self, exc_info: _ExcInfo = False) -> None:
        """Close the socket and fail every pending Future with ``StreamClosedError``.

        ``exc_info`` records why in ``self.error``: an exception, an ``exc_info`` tuple, or
        True for the exception being handled. Two reads still succeed: a read the buffer
        can already answer, and ``read_until_close`` (with what was buffered) unless a real
        error, not a reset, closed the stream. Calling it again does nothing.
        """
        if not self.closed():
            if isinstance(exc_info, tuple):
                self.error = exc_info[1]
            elif isinstance(exc_info, BaseException):
                self.error = exc_info
            elif exc_info:
                self.error = sys.exc_info()[1]
            if self.error is not None:
                # Kept to tell why the stream closed, not where: the traceback's frames
                # hold this stream, a reference cycle that would keep it (and its buffers)
                # alive until the garbage collector runs.
                self.error.__traceback__ = None
            if self._read_until_close:
                self._read_until_close = False
                if self.error is None or self._is_connreset(self.error):
                    self._finish_read(len(self._read_buffer))
            elif self._read_future is not None:
                try:
                    pos = self._find_read_pos()
                except UnsatisfiableReadError:
                    pos = None
                if pos is not None:
                    self._read_from_buffer(pos)
            if self._state is not None:
                self.io_loop.remove_handler(self.socket)
                self._state = None
            self.socket.close()
            self._closed = True
        self._signal_closed()

    # Tornado: tornado/iostream.py::BaseIOStream._signal_closed
    def _signal_closed(self) -> None:
        futures: list[asyncio.Future[bytes] | asyncio.Future[None] | asyncio.Future[IOStream]]
        futures = [future for _, future in self._write_futures]
        self._write_futures.clear()
        if self._read_future is not None:
            futures.append(self._read_future)
            self._read_future = None
        if self._connect_future is not None:
            futures.append(self._connect_future)
            self._connect_future = None
        for future in futures:
            if not future.done():
                future.set_exception(StreamClosedError(real_error=self.error))
                # Mark it retrieved: nobody may be awaiting a write's Future, and asyncio
                # would log "Future exception was never retrieved" for it.
                future.exception()
        if self._close_callback is not None:
            callback, self._close_callback = self._close_callback, None
            self.io_loop.add_callback(callback)
        self._write_buffer.clear()
        self._write_buffer_size = 0

    # Tornado: tornado/iostream.py::BaseIOStream.closed
    def closed(self) -> bool:
        return self._closed

    # Tornado: tornado/iostream.py::BaseIOStream.reading
    def reading(self) -> bool:
        """True while a read is pending."""
        return self._read_future is not None

    # Tornado: tornado/iostream.py::BaseIOStream.writing
    def writing(self) -> bool:
        """True while written data is still waiting for the kernel."""
        return bool(self._write_buffer)

    # Tornado: tornado/iostream.py::IOStream.fileno
    def fileno(self) -> socket.socket:
        """The socket itself, as in Tornado: the IOLoop accepts any object with ``fileno()``."""
        return self.socket

    # Tornado: tornado/iostream.py::IOStream.set_nodelay
    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (True) or on: send small writes without delay.

        Only TCP sockets have it; on others, and on a closed stream, this does nothing.
        """
        if self._closed or self.socket.family not in (socket.AF_INET, socket.AF_INET6):
            return
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0)
        except OSError as e:
            # EINVAL: the peer closed the socket under us (HTTPServer sets the flag as a
            # connection starts, possibly just as the client leaves).
            if e.errno != errno.EINVAL and not self._is_connreset(e):
                raise

    # Tornado: tornado/iostream.py::BaseIOStream._is_connreset
    def _is_connreset(self, exc: BaseException) -> bool:
        return isinstance(exc, OSError) and exc.errno in _ERRNO_CONNRESET

    # Tornado: tornado/iostream.py::BaseIOStream._check_closed
    def _check_closed(self) -> None:
        if self.closed():
            raise StreamClosedError(real_error=self.error)

    # ------------------------------------------------------------------ client side

    # Tornado: tornado/iostream.py::IOStream.connect
    def connect(self, address: tuple[Any, ...] | str) -> asyncio.Future[IOStream]:
        """Connect the (unconnected) socket to ``address``; resolves with the stream.

        ``write()`` may be called before the connection is up: the data goes out once it
        is. A failed connection fails the Future with ``StreamClosedError`` whose
        ``real_error`` is the OSError (ECONNREFUSED, ...).

        Compared with Tornado:
            Left out: ``server_hostname`` (used only by SSLIOStream).
        """
        self._connecting = True
        future: asyncio.Future[IOStream] = self._loop.create_future()
        self._connect_future = future
        try:
            self.socket.connect(address)
        except BlockingIOError:
            pass  # EINPROGRESS: the loop reports "writable" once it is done
        except OSError as e:
            self.close(exc_info=e)  # refused at once (some systems do that on localhost)
            return future
        self._update_io_state()
        return future

    # Tornado: tornado/iostream.py::IOStream._handle_connect
    def _handle_connect(self) -> None:
        err = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            self.error = OSError(err, os.strerror(err))
            self.close()
            return
        future, self._connect_future = self._connect_future, None
        if future is not None and not future.cancelled():
            future.set_result(self)
        self._connecting = False


def _is_immutable(data: bytes | bytearray | memoryview) -> bool:
    # bytes, or a view of bytes: safe to keep without copying.
    return isinstance(data, bytes) or (isinstance(data, memoryview) and isinstance(data.obj, bytes))


# Tornado: tornado/iostream.py::SSLIOStream          (TLS: built instead of IOStream)
class SSLIOStream(IOStream):
    """An ``IOStream`` over TLS, on a socket that is already connected.

    ``socket`` is an ``ssl.SSLSocket`` wrapped with ``do_handshake_on_connect=False``
    (``TCPServer`` does it with ``netutil.ssl_wrap_socket``). The stream registers with the
    loop at once and advances the handshake at each readiness event (``_do_ssl_handshake``);
    no data moves before it is done. A write made meanwhile is queued, a read started
    meanwhile waits: both go on once the handshake is done.

    A client that leaves or resets mid-handshake closes the stream quietly. A handshake that
    fails (bytes that are not TLS, a certificate refused by either side) closes it with a
    WARNING on ``minitornado.general``: ``SSL Error on <fd> <peer>: <reason>``. Either way,
    pending Futures fail with ``StreamClosedError`` whose ``real_error`` says why.

    Compared with Tornado:
        Same: the handshake driven by the loop, what is logged and what stays quiet,
        ``wait_for_handshake`` (but for how its Future fails: see there).
        Simplified: what the handshake waits for is one attribute, which ``_update_io_state``
        reads (Tornado has ``reading()`` and ``writing()`` report it); the step that
        completes the handshake goes on to read what came with it (Tornado waits for the
        next event).
        Differs on purpose: a record that cannot be decrypted after the handshake closes
        the stream with the WARNING ``error on read: ...`` however the read started. When
        a new read meets it at once, Tornado's read call raises the ``ssl.SSLError``
        itself, which ``HTTP1ServerConnection`` would log as ``Uncaught exception`` at
        ERROR; ours returns a Future that fails with ``StreamClosedError``
        (tests/test_tls.py).
        Left out: the client side (``connect`` with ``server_hostname``; ``connect`` raises
        ``NotImplementedError``) and ``IOStream.start_tls``; Tornado's 1 GiB cap on one TLS
        ``send`` or ``recv``, a guard for OpenSSL's ``int`` lengths (CPython's ``_ssl``
        calls ``SSL_write_ex`` / ``SSL_read_ex``, which take a ``size_t``; checked on 3.11).
    """

    socket: ssl.SSLSocket

    # An SSLSocket has no sendmsg(): each send() becomes TLS records of its own.
    _use_sendmsg = False

    # Tornado: tornado/iostream.py::SSLIOStream.__init__            (study path, step T3)
    def __init__(
        self,
        socket: ssl.SSLSocket,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
        max_write_buffer_size: int | None = None,
    ) -> None:
        super().__init__(socket, max_buffer_size, read_chunk_size, max_write_buffer_size)
        self._ssl_connect_future: asyncio.Future[SSLIOStream] | None = None
        # The client speaks first (ClientHello): a server waits to read, a client writes.
        # Registering now, not at the first read, starts the handshake even for a
        # handle_stream that never reads. (Tornado registers for WRITE either way; the loop
        # reports it at once, and the first do_handshake() then asks for READ.)
        self._handshake_wants = IOLoop.READ if socket.server_side else IOLoop.WRITE
        self._update_io_state()

    # Tornado: tornado/iostream.py::SSLIOStream._do_ssl_handshake   (study path, step T5)
    def _do_ssl_handshake(self) -> None:
        """Take the handshake as far as the socket allows now; note what it waits for next.

        OpenSSL keeps the handshake's state between calls: each call picks up where the last
        one stopped. Called from ``_handle_read`` / ``_handle_write`` until it is done.
        """
        try:
            self.socket.do_handshake()
        except ssl.SSLWantReadError:
            self._handshake_wants = IOLoop.READ  # the peer's next message is not all here
            return
        except ssl.SSLWantWriteError:
            self._handshake_wants = IOLoop.WRITE  # our next message does not fit the kernel
            return
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:
            self.close(exc_info=e)  # the client left mid-handshake: nothing worth a line
            return
        except ssl.SSLError as e:
            try:
                peer: Any = self.socket.getpeername()
            except OSError:
                peer = "(not connected)"
            gen_log.warning("SSL Error on %s %s: %s", self.socket.fileno(), peer, e)
            self.close(exc_info=e)
            return
        except OSError as e:
            # A reset, or a port scanner's connect-and-close (ENOTCONN, EBADF, even errno 0).
            if self._is_connreset(e) or e.errno in (0, errno.EBADF, errno.ENOTCONN):
                self.close(exc_info=e)
                return
            raise
        self._handshake_wants = 0
        future, self._ssl_connect_future = self._ssl_connect_future, None
        if future is not None and not future.cancelled():
            future.set_result(self)

    # Tornado: tornado/iostream.py::SSLIOStream._handle_read        (study path, step T5)
    def _handle_read(self) -> None:
        if self._handshake_wants:
            self._do_ssl_handshake()
            if self._handshake_wants or self.closed():
                return
        super()._handle_read()

    # Tornado: tornado/iostream.py::SSLIOStream._handle_write
    def _handle_write(self) -> None:
        # Also reached from write(): a write during the handshake advances it, and waits.
        if self._handshake_wants:
            self._do_ssl_handshake()
            if self._handshake_wants or self.closed():
                return
        super()._handle_write()

    # Tornado: tornado/iostream.py::SSLIOStream.read_from_fd (here: around _read_to_buffer)
    # (study path, step T4)
    def _read_to_buffer(self) -> int:
        # Decrypted bytes can wait inside the SSL object: recv() takes one TLS record (up to
        # 16 KiB) from the kernel and keeps what did not fit the chunk (``socket.pending()``).
        # The loop will never report them, since the kernel no longer holds them. They are
        # not lost all the same: a read goes back to the loop only after a recv() answered
        # SSLWantReadError (_read_to_buffer_loop stops earlier only once the read is
        # answered), which means the SSL object holds no whole record; and every new read
        # that the read buffer cannot answer calls recv() before it waits
        # (_try_inline_read). So no code here looks at pending().
        if self._handshake_wants:
            return 0  # no data before the handshake: a recv() now would run it on its own
        try:
            return super()._read_to_buffer()
        except ssl.SSLError as e:
            # A record that does not decrypt, or an alert: the stream is closed already.
            gen_log.warning("error on read: %s", e)
            e.__traceback__ = None  # it is self.error: no cycle through our frames (close)
            return 0

    # Tornado: tornado/iostream.py::SSLIOStream._is_connreset
    def _is_connreset(self, exc: BaseException) -> bool:
        # A TLS peer that vanishes without its close_notify is just a hang-up.
        return isinstance(exc, ssl.SSLEOFError) or super()._is_connreset(exc)

    # Tornado: tornado/iostream.py::SSLIOStream.wait_for_handshake
    def wait_for_handshake(self) -> asyncio.Future[SSLIOStream]:
        """Resolve with the stream once the handshake is done (at once if it is already).

        From then on ``stream.socket`` knows the peer's certificate (``getpeercert()``) and
        the negotiated protocol. Fails with ``StreamClosedError`` if the stream closes
        before the handshake is done. Call it at most once per stream.

        Compared with Tornado:
            Differs on purpose: when the handshake fails, the Future fails as every pending
            Future of a closed stream does, with ``StreamClosedError`` whose ``real_error``
            is the ``ssl.SSLError`` (or ``OSError``); Tornado's fails with that error itself.
            And for a stream whose handshake was already cut short, our Future fails at
            once; Tornado's never resolves (tests/test_tls.py, both).
        """
        if self._ssl_connect_future is not None:
            raise RuntimeError("Already waiting")
        future: asyncio.Future[SSLIOStream] = self._loop.create_future()
        if not self._handshake_wants:
            future.set_result(self)
        elif self.closed():
            future.set_exception(StreamClosedError(real_error=self.error))
        else:
            self._ssl_connect_future = future
        return future

    # Tornado: tornado/iostream.py::SSLIOStream.connect
    def connect(self, address: tuple[Any, ...] | str) -> asyncio.Future[IOStream]:
        """Left out: minitornado's TLS is the server side only."""
        raise NotImplementedError(
            "minitornado's SSLIOStream is server-side only: use Tornado's for a TLS client"
        )

    # Tornado: tornado/iostream.py::BaseIOStream._signal_closed (its _ssl_connect_future part)
    def _signal_closed(self) -> None:
        future, self._ssl_connect_future = self._ssl_connect_future, None
        if future is not None and not future.done():
            future.set_exception(StreamClosedError(real_error=self.error))
            future.exception()  # retrieved: nobody may be awaiting it
        super()._signal_closed()
