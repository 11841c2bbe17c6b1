"""HTTP/1.x on one connection: bytes from the IOStream through h11 to a delegate, and back.

Mirrors: tornado/http1connection.py (Tornado 6.6)

One ``HTTP1ServerConnection`` per accepted TCP connection runs the request loop. For each
request, once its first bytes have arrived, it makes a fresh ``HTTP1Connection``, asks the
server (an ``HTTPServerConnectionDelegate``) for a message delegate, and has the
connection read one request into it. Reading is one ladder over h11's events
(``_read_message_inner``): feed h11 what the stream gives, take the next event, act on it.
The application answers on the same ``HTTP1Connection`` (``write_headers``, ``write``,
``finish``).

Why h11 reads and this module writes: h11's ``send()`` will not keep an HTTP/1.0
connection alive (Tornado does when the client asks), and it adds and moves framing
headers its own way (``Connection: close`` to every HTTP/1.0 client, ``Transfer-Encoding``
on HEAD responses). Tornado's exact bytes are the spec, so responses are formatted here as
Tornado formats them. Since h11's state machine only moves on to the next request once it
has sent the response itself, each request gets a new ``h11.Connection``; the bytes the
old one had received past its request (pipelined requests) seed the new one.

Kept: ``HTTP1ConnectionParameters``; ``HTTP1ServerConnection`` (``start_serving``,
``close``, and ours alone, ``close_when_idle`` and ``wait_closed`` for
``HTTPServer.shutdown``);
``HTTP1Connection`` on the server side (``read_response``, ``write_headers``, ``write``,
``finish``, ``set_close_callback``, ``set_body_timeout``, ``set_max_body_size``): keep-alive
and the HTTP/1.0 rules, pipelining, chunked bodies both ways, ``Expect: 100-continue``,
header and body limits, header and body timeouts, and Tornado's answer to malformed input
(the bare ``HTTP/1.1 400 Bad Request``, then close, logged at INFO on ``gen_log``). The
checks h11 does not make live in ``_h11_checks``.

Left out: the client side (``is_client=True``, used by Tornado's ``simple_httpclient``);
``detach`` (websockets take the stream over); ``decompress`` (Tornado's
``_GzipMessageDelegate`` gunzips request bodies); ``parse_hex_int`` and
``is_transfer_encoding_chunked`` (h11 parses lengths and chunk sizes).

Compared with Tornado (each line has a test in tests/test_http1connection.py, or the file
it names):
    Same: requests a client pipelines and then follows with a FIN (``shutdown(SHUT_WR)``)
    are all answered, in order, before the connection closes. A FIN that arrives while the
    last request received is still being handled keeps Tornado's meaning, "the client has
    left": ``on_connection_close`` runs and that response is dropped. At the socket a
    half-close cannot be told from a client that is gone, and a handler that waits (a long
    poll) must learn that its client left (tests/test_half_close.py).
    Differs on purpose:
    - A header block over ``max_header_size`` is answered ``431 Request Header Fields Too
      Large`` before the close; Tornado closes without a word.
    - A body over ``max_body_size`` is answered ``413 Content Too Large``, with no
      ``100 (Continue)`` before it when its ``Content-Length`` says so; Tornado sends the
      100, then the bare 400.
    - Chunk extensions (``5;x=1``) and trailer fields after the last chunk are accepted, as
      RFC 9112 §7.1.1 and §7.1.2 allow (trailers are dropped); Tornado answers 400. So is
      whitespace after a chunk size (``5 ``, h11's leniency; the size read is the same;
      tests/test_hostile_corpus.py).
    - A chunk size longer than 20 hex digits gets the bare 400 (h11's cap), even if it is
      only leading zeros; Tornado reads it (tests/test_hostile_corpus.py). A chunk size
      over ``max_body_size`` is refused as soon as its line is read, as in Tornado, but
      with the 413 above.
    - A request target holding raw non-ASCII bytes (an unencoded ``é``) gets the bare 400:
      h11 follows RFC 9112 §3.2. Tornado accepts it.
    - The reason in the log line ``Malformed HTTP message from <ip>: <reason>`` is Tornado's
      whenever Tornado refuses the request too, though h11 is the one refusing most of them
      (``_h11_checks.tornado_reason``; tests/test_http_differential.py). Where h11 alone
      refuses (the raw non-ASCII target above), it is h11's; for a chunk size over 20
      digits, Tornado's words for a bad chunk size, ``invalid chunk size``.
    - The application sees the ``Transfer-Encoding`` value lower-cased (``CHUNKED`` arrives
      as ``chunked``): h11 normalises it, as transfer codings are case-insensitive.

Study path: step 13 (``HTTP1ServerConnection.start_serving``), step 14
(``HTTP1Connection.read_response``: the h11 events) and step 17 (``write_headers``,
``finish``); shutdown steps S3 and S4 (``HTTP1ServerConnection.close_when_idle``,
``HTTP1Connection.serve_as_last``), both ours alone.
"""

import asyncio
import logging
import socket
import ssl
import types
from collections.abc import Awaitable, Callable
from typing import Any

import h11

from minitornado import _h11_checks, httputil, iostream
from minitornado.log import app_log, gen_log

# What Tornado sends for any malformed request before it closes: no headers, no body.
BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"


# Tornado: tornado/http1connection.py::_QuietException
class _QuietException(Exception):
    """A delegate failed; it is logged already, so only the connection must close."""


# Tornado: tornado/http1connection.py::_ExceptionLoggingContext
class _ExceptionLoggingContext:
    """The ``with`` block around each call into a delegate (the application's code).

    An ``HTTPInputError`` passes through: the client's fault, it gets a 400. A cancellation
    passes through too (``HTTP1ServerConnection.close`` makes one; Tornado's context would
    log it). Anything else is logged with its traceback as ``Uncaught exception`` and
    becomes a ``_QuietException``, which closes the connection without a response.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def __enter__(self) -> None:
        pass

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if value is not None and not isinstance(
            value, (httputil.HTTPInputError, asyncio.CancelledError)
        ):
            # A cancellation is no error of the delegate's: it passes through to the loop.
            self.logger.error("Uncaught exception", exc_info=value)
            raise _QuietException


# Tornado: tornado/http1connection.py::_YIELD_THRESHOLD
# A fast client can keep the stream's reads completing at once, and awaiting a finished
# Future does not give the loop a turn: yield once per this many bytes received (Tornado
# counts body bytes, and a fixed cost per chunk, _CHUNK_YIELD_COST).
_YIELD_THRESHOLD = 256 * 1024


# Tornado: tornado/http1connection.py::HTTP1ConnectionParameters
class HTTP1ConnectionParameters:
    """The limits and switches every ``HTTP1Connection`` of a server shares.

    ``chunk_size`` (64 KiB) is the most read from the socket at once and the most body
    handed to ``data_received`` at once; ``max_header_size`` (64 KiB) bounds the request
    line and headers; ``header_timeout`` and ``body_timeout`` are in seconds (None: no
    limit); ``max_body_size`` None means the stream's ``max_buffer_size`` (100 MiB).

    Compared with Tornado:
        Same; ``decompress`` is stored, but ``HTTPServer`` refuses to turn it on.
    """

    def __init__(
        self,
        no_keep_alive: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        header_timeout: float | None = None,
        max_body_size: int | None = None,
        body_timeout: float | None = None,
        decompress: bool = False,
    ) -> None:
        self.no_keep_alive = no_keep_alive
        self.chunk_size = chunk_size or 65536
        self.max_header_size = max_header_size or 65536
        self.header_timeout = header_timeout
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        self.decompress = decompress


# Tornado: tornado/http1connection.py::HTTP1ServerConnection
class HTTP1ServerConnection:
    """One accepted TCP connection, serving its requests one after the other.

    ``context`` is handed to every ``HTTP1Connection`` (``HTTPServer`` passes its
    ``_HTTPRequestContext``: the peer's address, the protocol).

    Compared with Tornado:
        Differs on purpose: when the request loop ends, however it ends, the stream is
        closed. Tornado leaves the socket of a cancelled loop open, still watched by the
        loop, until the client hangs up (tests/test_http1connection.py). And the loop
        waits for a request's first bytes before it makes its ``HTTP1Connection`` and
        calls ``delegate.start_request``, so that an idle connection holds no request
        state (see ``_wait_for_request``). Tornado makes both as soon as the previous
        response is done: it calls ``start_request`` once more per connection, for a
        request that never comes (tests/test_hot_path.py).
    """

    def __init__(
        self,
        stream: iostream.IOStream,
        params: HTTP1ConnectionParameters | None = None,
        context: object | None = None,
    ) -> None:
        self.stream = stream
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self.context = context
        self._serving_future: asyncio.Task[None] | None = None
        # For close_when_idle: the request being read or answered, and whether to stop.
        self._current: HTTP1Connection | None = None
        self._closing = False

    # Tornado: tornado/http1connection.py::HTTP1ServerConnection.start_serving  (step 13)
    def start_serving(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        """Start the request loop as a Task of its own, and return at once.

        ``delegate.start_request`` is called for each request, ``delegate.on_close`` once
        when the connection is done. An error escaping the loop is logged at once.

        Compared with Tornado:
            Same: the log line, ``Exception in callback ...`` on ``app_log``, which Tornado's
            IOLoop writes.
            Differs on purpose: ``TCP_NODELAY`` is set here, once, for the connection's
            life (as Go's and Node's HTTP servers do). Tornado sets it at the end of each
            response, to push the last segment out, and clears it after, so that Nagle's
            algorithm may merge a streamed response's small writes; that costs two system
            calls per request (bench/OPTIMISATIONS.md; tests/test_hot_path.py).
        """
        assert isinstance(delegate, httputil.HTTPServerConnectionDelegate)
        # Nagle's algorithm off for good: a response's bytes leave as soon as they are
        # written, instead of waiting for the client to acknowledge the previous segment.
        # RequestHandler buffers until flush(), so every write here means "send now".
        self.stream.set_nodelay(True)
        loop = self.stream.io_loop
        self._serving_future = loop.asyncio_loop.create_task(self._server_request_loop(delegate))
        # A plain function, not IOLoop.add_future(): its lambda and partial, kept by every
        # open connection, would take 650 bytes each (bench/OPTIMISATIONS.md).
        self._serving_future.add_done_callback(_log_if_failed)

    # Tornado: tornado/http1connection.py::HTTP1ServerConnection._server_request_loop (step 13)
    async def _server_request_loop(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        # The only place where requests follow each other; each gets a new HTTP1Connection,
        # given what the previous one had received past its own request (pipelined
        # requests), or else the first bytes the connection receives after being idle.
        received = b""
        try:
            while True:
                if self._closing and not received:
                    return  # close_when_idle() was called, and no request has begun
                header_deadline = None
                if not received:
                    self._current = None  # idle: close_when_idle() closes at once
                    try:
                        received, header_deadline = await self._wait_for_request()
                    except (iostream.StreamClosedError, asyncio.CancelledError):
                        return  # the client left, or the idle timeout or close() closed it
                conn = HTTP1Connection(
                    self.stream, False, self.params, self.context,
                    received=received, header_deadline=header_deadline,
                )  # fmt: skip
                self._current = conn
                if self._closing:
                    conn.serve_as_last()
                request_delegate = delegate.start_request(self, conn)
                try:
                    ret = await conn.read_response(request_delegate)
                except (
                    iostream.StreamClosedError,
                    iostream.UnsatisfiableReadError,
                    asyncio.CancelledError,
                ):
                    return  # the client left, or close() was called: nothing to report
                except Exception:
                    gen_log.error("Uncaught exception", exc_info=True)
                    conn.close()
                    return
                if not ret:
                    return
                received = conn.pipelined
                del conn, request_delegate  # while idle, hold nothing of the last request
                # No asyncio.sleep(0) here, unlike Tornado: this request already gave the
                # loop a turn (HTTP1Connection._wait_for_response), so other connections ran.
        finally:
            # Already closed on every path but two: a loop cancelled at shutdown, and a
            # close_when_idle() that came after a response was finished but before this
            # loop went on. (Tornado leaves a cancelled loop's socket open, still watched
            # by the loop, until the client hangs up; websockets' detach(), left out here,
            # is the only reason to leave the stream open.)
            self.stream.close()
            delegate.on_close(self)

    async def _wait_for_request(self) -> tuple[bytes, float | None]:
        """Idle between two requests: wait for the first bytes of the next one.

        Only once they are here does the loop make the request's ``HTTP1Connection``: an
        idle keep-alive connection holds no parser and no request state, and a server may
        hold thousands (bench/OPTIMISATIONS.md). The header timeout runs while we wait
        (``idle_connection_timeout``). Returns the bytes and, if the wait had to start that
        timeout, its deadline (in ``IOLoop.time()``): the ``HTTP1Connection`` holds the
        rest of the headers to the same deadline, so the wait and the headers share one
        timeout, as in Tornado.
        """
        read = self.stream.read_bytes(self.params.chunk_size, partial=True)
        io_loop, deadline, timer = self.stream.io_loop, None, None
        if not read.done() and self.params.header_timeout is not None:
            # The bytes are not there yet: the header timeout starts now.
            deadline = io_loop.time() + self.params.header_timeout
            timer = io_loop.call_at(deadline, self.stream.close)
        try:
            return await read, deadline
        finally:
            if timer is not None:
                io_loop.remove_timeout(timer)
            # A failed read's Future holds the exception, whose traceback holds this frame:
            # the Future left in a local would make a cycle, freed only by the collector.
            del read

    # Tornado: tornado/http1connection.py::HTTP1ServerConnection.close
    async def close(self) -> None:
        """Close the connection now, even mid-request, and wait for its loop to end.

        Compared with Tornado:
            Differs on purpose: the request loop is also cancelled, so that a loop parked
            in the application's own code (an awaited ``headers_received`` or
            ``data_received``, a ``prepare()`` that never returns), which closing the
            socket does not wake, ends too. Tornado's ``close()`` waits for it for ever
            (tests/test_shutdown.py).
        """
        self.stream.close()
        assert self._serving_future is not None
        self._serving_future.cancel()  # the loop catches it: it ends as a client leaving does
        await self.wait_closed()

    # Ours alone.
    async def wait_closed(self) -> None:
        """Return once the request loop has ended: the connection is closed."""
        assert self._serving_future is not None
        await asyncio.wait([self._serving_future])  # never raises: start_serving logs errors

    # Ours alone: the per-connection half of HTTPServer.shutdown.     (shutdown, step S3)
    def close_when_idle(self) -> bool:
        """Serve no further request: close now if idle, else once the current one is answered.

        Idle means waiting for a request of which no byte has arrived (not even in the
        kernel's receive buffer): the connection is closed at once, and True is returned.
        Otherwise (a request being read, handled or answered, or pipelined bytes waiting)
        that one request is served to its end, with ``Connection: close`` if its headers
        have not been sent yet, and then the connection closes; False is returned. Requests
        pipelined behind it are not read: RFC 9112 §9.6 forbids processing more after a
        ``close``, and the client, told so, retries them elsewhere. ``HTTPServer.shutdown``
        calls this on every connection.

        Compared with Tornado:
            Ours alone: Tornado cannot close a connection once its current request is done.
        """
        self._closing = True
        conn = self._current
        # Between two requests (conn is None) the read for the next one is pending, unless
        # it has just completed: then its bytes are on their way to the loop, which sees
        # _closing and serves that request as the last one.
        idle = conn.serve_as_last() if conn is not None else self.stream.reading()
        if idle and not _bytes_waiting(self.stream):
            self.stream.close()  # the pending read fails, and the request loop ends quietly
            return True
        return False


def _bytes_waiting(stream: iostream.IOStream) -> bool:
    """Whether the client's next bytes have reached the kernel, though no read took them yet.

    Closing the connection then would drop a request the client has already delivered (and
    send it a reset): the request is served instead, as the last one. On TLS the bytes may
    also wait decrypted inside the SSL object (``pending()``); the kernel is asked through
    the plain socket's ``recv``, since ``SSLSocket.recv`` takes no flags.
    """
    sock = stream.socket
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        return bool(socket.socket.recv(sock, 1, socket.MSG_PEEK))
    except OSError:  # nothing there (BlockingIOError), or the connection is gone already
        return False


def _log_if_failed(task: asyncio.Task[None]) -> None:
    # Called when a request loop ends. The loop catches what a request may raise, so an
    # error here comes from the delegate's start_request / on_close, or is a bug of ours.
    if not task.cancelled() and task.exception() is not None:
        app_log.error("Exception in callback %r", task, exc_info=task.exception())


# Tornado: tornado/http1connection.py::HTTP1Connection
class HTTP1Connection(httputil.HTTPConnection):
    """One request read from the stream, and the response to it written back.

    ``read_response(delegate)`` reads the request into the delegate and resolves once the
    response is finished: True if the connection may serve another request. The
    application answers with ``write_headers``, ``write`` and ``finish``.

    Ours alone: ``received``, bytes of this request already read from the stream (the
    first bytes after an idle wait, or what the previous request's connection received
    past its end); ``header_deadline``, the ``IOLoop.time()`` by which the headers must
    be in, when the wait for them began before this object was made.

    Compared with Tornado:
        Left out: the client side (``is_client`` must be False) and ``detach``.
    """

    def __init__(
        self,
        stream: iostream.IOStream,
        is_client: bool,
        params: HTTP1ConnectionParameters | None = None,
        context: object | None = None,
        *,
        received: bytes = b"",
        header_deadline: float | None = None,
    ) -> None:
        if is_client:
            raise NotImplementedError("minitornado's HTTP1Connection has no client side")
        self.is_client = is_client
        self.stream = stream
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self.context = context
        self.no_keep_alive = self.params.no_keep_alive
        # Per request: a delegate may change both (set_max_body_size, set_body_timeout).
        self._max_body_size: int = (
            self.params.max_body_size
            if self.params.max_body_size is not None
            else stream.max_buffer_size
        )
        self._body_timeout = self.params.body_timeout
        # -- reading
        self._h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self.params.max_header_size
        )
        # What was fed to h11 until it parsed the request (for _h11_checks); None after.
        self._header_data: list[bytes] | None = []
        # Received past the end of this request: the start of the next (pipelined) one.
        # HTTP1ServerConnection hands it to the next request's HTTP1Connection.
        self.pipelined = b""
        self._body_size = 0
        self._bytes_since_yield = 0
        # The header timeout, then the body timeout: one runs at a time.
        self._header_deadline = header_deadline
        self._timer: asyncio.TimerHandle | None = None
        self._read_finished = False
        self._request_start_line: httputil.RequestStartLine | None = None
        self._request_headers: httputil.HTTPHeaders | None = None
        self._disconnect_on_finish = False
        self._last_request = False  # set by serve_as_last: answer with Connection: close
        # -- writing
        self._write_finished = False
        self._finish_future: asyncio.Future[None] = stream.io_loop.asyncio_loop.create_future()
        self._close_callback: Callable[[], None] | None = None
        self._chunking_output = False
        self._expected_content_remaining: int | None = None
        self._pending_write: asyncio.Future[None] | None = None
        self._feed(received)

    # ---- Reading the request (step 14) -------------------------------------------------

    # Tornado: tornado/http1connection.py::HTTP1Connection.read_response      (step 14)
    def read_response(self, delegate: httputil.HTTPMessageDelegate) -> Awaitable[bool]:
        """Read one request into ``delegate``; resolve when its response is finished.

        The result is True if the connection stays open for another request. A client
        that leaves makes it raise ``StreamClosedError``.

        Compared with Tornado:
            Same (the name is Tornado's, from its client side: it reads a "message").
        """
        return self._read_message(delegate)

    # Tornado: tornado/http1connection.py::HTTP1Connection._read_message
    async def _read_message(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        try:
            return await self._read_message_inner(delegate)
        except _QuietException:
            self.close()
            return False

    # Tornado: tornado/http1connection.py::HTTP1Connection._read_message_inner (step 14)
    async def _read_message_inner(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        need_delegate_close = False  # True once the delegate has seen the headers
        body = bytearray()  # body bytes h11 gave us, not yet handed to the delegate
        try:
            while True:
                event = self._h11.next_event()
                if event is h11.NEED_DATA:
                    self._check_chunk_size()
                    if body:  # hand over what we have before waiting on the network
                        await self._deliver_body(delegate, body)
                    await self._receive()
                elif isinstance(event, h11.Request):
                    start_line, headers = self._on_request(event)
                    need_delegate_close = True
                    await self._on_headers(delegate, start_line, headers)
                    if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
                        # RFC 9112 §6.3: a request with neither has no body, so h11's next
                        # event can only be EndOfMessage. Asking for it costs 4% of a
                        # request (bench/OPTIMISATIONS.md); this h11.Connection is dropped
                        # after the request, so it need not see its end.
                        break
                elif isinstance(event, h11.Data):
                    await self._on_data(delegate, body, event.data)
                elif isinstance(event, h11.EndOfMessage):
                    if body:
                        await self._deliver_body(delegate, body)
                    break
                # Nothing else can come. h11.PAUSED only follows EndOfMessage. And
                # h11.ConnectionClosed needs receive_data(b""), which we never call: a
                # client that leaves makes the stream raise StreamClosedError instead, which
                # ends the request quietly, as in Tornado.
            self._on_end_of_message()
            if not self._write_finished:
                with _ExceptionLoggingContext(app_log):
                    delegate.finish()
            need_delegate_close = False  # only now: if finish() raised, it is told "closed"
            await self._wait_for_response()
        except (httputil.HTTPInputError, h11.RemoteProtocolError) as e:
            # h11 re-raises its errors from a method of the error itself, so the traceback
            # holds a frame that holds the error: a cycle. The traceback is never used.
            e.__traceback__ = None
            await self._refuse(e)
            return False
        finally:
            self._cancel_timer()
            if need_delegate_close:
                with _ExceptionLoggingContext(app_log):
                    delegate.on_connection_close()
            self._clear_callbacks()
        return not self.stream.closed()

    async def _receive(self) -> None:
        """Wait for the next bytes from the client and give them to h11."""
        if self._header_data is not None and self._timer is None:
            self._start_header_timer()
        data = await self.stream.read_bytes(self.params.chunk_size, partial=True)
        self._feed(data)
        self._bytes_since_yield += len(data)
        if self._bytes_since_yield >= _YIELD_THRESHOLD:
            self._bytes_since_yield = 0
            await asyncio.sleep(0)

    def _feed(self, data: bytes) -> None:
        # Called by _receive, and by the constructor with the bytes already received.
        if not data:
            return  # (h11 would take b"" to mean "the client closed")
        if self._header_data is not None:
            if not self._header_data:
                data = _h11_checks.skip_empty_line(data)
            self._header_data.append(data)
        if data:  # skip_empty_line may have left nothing
            self._h11.receive_data(data)

    def _on_request(
        self, event: h11.Request
    ) -> tuple[httputil.RequestStartLine, httputil.HTTPHeaders]:
        """Called by the ladder on h11's Request event: the checks h11 does not make, then
        Tornado's start line and headers; and will the connection stay open afterwards?"""
        self._cancel_timer()  # the header timeout ends here
        assert self._header_data is not None
        received = b"".join(self._header_data)  # nearly always one piece: no copy
        self._header_data = None
        start_line, headers = _h11_checks.request_from_h11(
            event, received, self.params.max_header_size
        )
        self._request_start_line, self._request_headers = start_line, headers
        self._disconnect_on_finish = self._last_request or not self._can_keep_alive(
            start_line, headers
        )
        return start_line, headers

    async def _on_headers(
        self,
        delegate: httputil.HTTPMessageDelegate,
        start_line: httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        """Hand the headers to the delegate, then get ready for the body."""
        with _ExceptionLoggingContext(app_log):
            ret = delegate.headers_received(start_line, headers)
            if ret is not None:
                await ret
        # After headers_received, which may raise the limit (set_max_body_size).
        _h11_checks.check_content_length(headers, self._max_body_size)
        # RFC 9110 §10.1.1. Tornado matches the value exactly, and answers HTTP/1.0 too.
        if headers.get("Expect") == "100-continue" and not self._write_finished:
            self.stream.write(b"HTTP/1.1 100 (Continue)\r\n\r\n")
        if "Content-Length" in headers or "Transfer-Encoding" in headers:
            self._start_body_timer()

    async def _on_data(
        self, delegate: httputil.HTTPMessageDelegate, body: bytearray, data: bytes | bytearray
    ) -> None:
        """Called by the ladder on h11's Data event: collect it, hand it over in big pieces.

        A chunked body may come in many tiny chunks; collecting them bounds the number of
        ``data_received`` calls (Tornado 6.6 does the same).
        """
        self._body_size += len(data)
        self._check_chunk_size()
        body += data
        if len(body) >= self.params.chunk_size:
            await self._deliver_body(delegate, body)

    def _check_chunk_size(self) -> None:
        # Called by the ladder before it waits for more of the body, and on each Data
        # event. What the current chunk still announces counts as received: a chunk size
        # line over the limit is refused as soon as it is read, as Tornado does, rather
        # than after bytes that would only be refused later. (A Content-Length body was
        # checked in _on_headers; outside a chunked body nothing is announced.)
        if self._body_size + _h11_checks.chunk_bytes_announced(self._h11) > self._max_body_size:
            raise _h11_checks.ContentTooLarge("chunked body too large")

    # Tornado: tornado/http1connection.py::HTTP1Connection._deliver_body
    async def _deliver_body(self, delegate: httputil.HTTPMessageDelegate, body: bytearray) -> None:
        data = bytes(body)
        body.clear()
        if not self._write_finished:  # once the response is out, the rest is dropped
            with _ExceptionLoggingContext(app_log):
                ret = delegate.data_received(data)
                if ret is not None:
                    await ret

    def _on_end_of_message(self) -> None:
        """Called by the ladder once the request is fully read (EndOfMessage, or no body)."""
        self._cancel_timer()  # the body timeout ends here
        self._read_finished = True
        self.pipelined = self._h11.trailing_data[0]

    async def _wait_for_response(self) -> None:
        if self._finish_future.done():
            # Answered at once (a plain callable's response): give the loop the one turn
            # Tornado's request loop gives other connections between two requests. A
            # response still being made gives it by the wait below.
            await asyncio.sleep(0)
            return
        if self.stream.closed():
            return
        # While the application works nothing is read, so only the close callback can
        # notice a client that leaves (its FIN or reset). Not when it has pipelined more
        # requests behind this one: a FIN then only ends what it sends, and the requests
        # it already sent are answered first. (In Tornado they wait in the stream's
        # buffer, which keeps the stream from noticing the FIN; here h11 holds them.)
        if not self.pipelined:
            self.stream.set_close_callback(self._on_connection_close)
        await self._finish_future

    async def _refuse(self, error: Exception) -> None:
        """Answer a malformed request (a bare 400, or 431/413 for the limits) and close."""
        answer = _h11_checks.answer_to_refused(error, self._header_data is not None)
        if isinstance(error, h11.RemoteProtocolError):  # in Tornado's words, where it has any
            received = b"".join(self._header_data or [])
            reason = _h11_checks.tornado_reason(error, received, self._max_body_size)
            error = httputil.HTTPInputError(reason)
        gen_log.info("Malformed HTTP message from %s: %s", self.context, error)
        await self.stream.write(answer or BARE_400)
        self.close()

    def _start_header_timer(self) -> None:
        # Called by _receive while the headers are not all in. Headers that come whole, as
        # nearly all do, never need a timer (bench/OPTIMISATIONS.md). The deadline is the
        # one the idle wait began (HTTP1ServerConnection._wait_for_request), if it did.
        io_loop = self.stream.io_loop
        if self._header_deadline is not None:
            self._timer = io_loop.call_at(self._header_deadline, self.stream.close)
        elif self.params.header_timeout is not None:
            # A silent close, as in Tornado: the pending read fails, the request ends.
            self._timer = io_loop.call_later(self.params.header_timeout, self.stream.close)

    def _start_body_timer(self) -> None:
        # Called by _on_headers when a body follows; _on_end_of_message stops it.
        if self._body_timeout is not None:
            self._timer = self.stream.io_loop.call_later(self._body_timeout, self._on_body_timeout)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self.stream.io_loop.remove_timeout(self._timer)
            self._timer = None

    def _on_body_timeout(self) -> None:
        gen_log.info("Timeout reading body from %s", self.context)
        self.stream.close()  # the pending read fails, which ends the request quietly

    # Tornado: tornado/http1connection.py::HTTP1Connection._can_keep_alive
    def _can_keep_alive(
        self, start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders
    ) -> bool:
        if self.params.no_keep_alive:
            return False
        connection_header = headers.get("Connection")
        if connection_header is not None:
            connection_header = connection_header.lower()
        if start_line.version == "HTTP/1.1":
            return connection_header != "close"  # exact: "keep-alive, close" keeps it open
        # HTTP/1.0 (and 1.2...): only on request, and only if the body's end is known.
        if (
            "Content-Length" in headers
            or "Transfer-Encoding" in headers
            or start_line.method in ("HEAD", "GET")
        ):
            return connection_header == "keep-alive"
        return False

    # ---- Closing -----------------------------------------------------------------------

    # Tornado: tornado/http1connection.py::HTTP1Connection.set_close_callback
    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Have ``callback()`` run if the client leaves after its request was read.

        ``web.RequestHandler`` uses it for ``on_connection_close``. While the request is
        still being read, the delegate's ``on_connection_close`` is called instead.
        """
        self._close_callback = callback

    # Tornado: tornado/http1connection.py::HTTP1Connection._on_connection_close
    def _on_connection_close(self) -> None:
        # Called by the stream (registered only while we wait for the response), or by a
        # write that finds the stream closed (_closed_future).
        if self._close_callback is not None:
            callback, self._close_callback = self._close_callback, None
            callback()
        if not self._finish_future.done():
            self._finish_future.set_result(None)
        self._clear_callbacks()

    # Tornado: tornado/http1connection.py::HTTP1Connection.close
    def close(self) -> None:
        """Close the connection now; the request loop ends."""
        self.stream.close()
        self._clear_callbacks()
        if not self._finish_future.done():
            self._finish_future.set_result(None)

    # Tornado: tornado/http1connection.py::HTTP1Connection._clear_callbacks
    def _clear_callbacks(self) -> None:
        # Breaks the cycle connection -> handler -> connection, so both go sooner.
        self._close_callback = None
        self.stream.set_close_callback(None)

    # Ours alone.                                                    (shutdown, step S4)
    def serve_as_last(self) -> bool:
        """Finish this request, with ``Connection: close`` if its headers are not out yet,
        then close the connection.

        Returns True if nothing of the request has arrived yet (at most the one empty line
        that is skipped, and the read for more is pending): the caller may close the
        connection now instead.
        ``HTTP1ServerConnection.close_when_idle`` calls it.
        """
        self._last_request = True
        if self._request_start_line is not None:  # (else _on_request reads the flag)
            self._disconnect_on_finish = True
        return (
            self._header_data is not None
            and not any(self._header_data)
            and self.stream.reading()
        )

    # Tornado: tornado/http1connection.py::HTTP1Connection.set_body_timeout
    def set_body_timeout(self, timeout: float) -> None:
        """Change the body timeout for this request only (call it in headers_received)."""
        self._body_timeout = timeout

    # Tornado: tornado/http1connection.py::HTTP1Connection.set_max_body_size
    def set_max_body_size(self, max_body_size: int) -> None:
        """Change the body size limit for this request only (call it in headers_received)."""
        self._max_body_size = max_body_size

    # ---- Writing the response (step 17) ------------------------------------------------

    # Tornado: tornado/http1connection.py::HTTP1Connection.write_headers      (step 17)
    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        """Send the status line, ``headers`` and, in the same write, ``chunk``.

        The status line always says ``HTTP/1.1``, whatever ``start_line.version`` says.
        ``headers`` is completed in place: ``Transfer-Encoding: chunked`` when the body's
        length is unknown (an HTTP/1.1 request, not HEAD, not 1xx/204/304, no
        ``Content-Length``); ``Connection: close`` when an HTTP/1.1 connection will close;
        ``Connection: Keep-Alive`` when an HTTP/1.0 client asked for it. A CR or LF in any
        line raises ``ValueError``. The Future resolves once the bytes are written (or the
        connection closed meanwhile); it fails only if it was closed already, and then the
        close callback (the handler's ``on_connection_close``) has run first.

        Compared with Tornado:
            Differs on purpose: a write that finds the client gone runs the close callback
            before it fails, if the loop has not run it yet. In Tornado the handler's error
            handling then cancels that pending callback, so ``on_connection_close`` never
            runs (tests/test_disconnects.py).
        """
        assert isinstance(start_line, httputil.ResponseStartLine)
        request, request_headers = self._request_start_line, self._request_headers
        assert request is not None and request_headers is not None
        code = start_line.code
        self._chunking_output = (
            request.version == "HTTP/1.1"
            and request.method != "HEAD"
            and code not in (204, 304)
            and not 100 <= code < 200  # RFC 9110 §6.4.1: these never carry a body
            and "Content-Length" not in headers
        )
        if request.version == "HTTP/1.1" and self._disconnect_on_finish:
            headers["Connection"] = "close"
        if (
            request.version == "HTTP/1.0"
            and request_headers.get("Connection", "").lower() == "keep-alive"
            and not self._last_request  # (Tornado would promise it even when closing)
        ):
            headers["Connection"] = "Keep-Alive"
        if self._chunking_output:
            headers["Transfer-Encoding"] = "chunked"
        if request.method == "HEAD" or code == 304:
            self._expected_content_remaining = 0
        elif "Content-Length" in headers:
            self._expected_content_remaining = parse_int(headers["Content-Length"])
        else:
            self._expected_content_remaining = None
        data = _format_header_block(start_line, headers)
        if self.stream.closed():
            return self._closed_future()
        if chunk:
            data += self._format_chunk(chunk)
        return self._write_to_stream(data)

    # Tornado: tornado/http1connection.py::HTTP1Connection.write
    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Send a piece of the body (chunk-framed if the response is chunked).

        Writing past the ``Content-Length`` closes the connection and raises
        ``HTTPOutputError``. The Future behaves as ``write_headers``'.
        """
        if self.stream.closed():
            return self._closed_future()
        return self._write_to_stream(self._format_chunk(chunk))

    # Tornado: tornado/http1connection.py::HTTP1Connection.finish             (step 17)
    def finish(self) -> None:
        """The response is complete: end the chunked body, then close or await the next request.

        A body shorter than its ``Content-Length`` closes the connection and raises
        ``HTTPOutputError``. If the request body was not read to its end (the application
        answered early), the connection closes after the response: reading the rest would
        be the only other way to find where the next request starts.
        """
        remaining = self._expected_content_remaining
        if remaining is not None and remaining != 0 and not self.stream.closed():
            self.stream.close()
            raise httputil.HTTPOutputError(
                f"Tried to write {remaining} bytes less than Content-Length"
            )
        if self._chunking_output and not self.stream.closed():
            self._pending_write = self.stream.write(b"0\r\n\r\n")  # RFC 9112 §7.1: last-chunk
        self._write_finished = True
        if not self._read_finished:
            self._disconnect_on_finish = True
        if self._pending_write is None:
            self._finish_request()
        else:
            _future_add_done_callback(self._pending_write, self._finish_request)

    # Tornado: tornado/http1connection.py::HTTP1Connection._finish_request
    def _finish_request(self, future: object = None) -> None:
        self._clear_callbacks()
        if self._disconnect_on_finish:
            self.close()
            return
        if not self._finish_future.done():
            self._finish_future.set_result(None)

    # Tornado: tornado/http1connection.py::HTTP1Connection._format_chunk
    def _format_chunk(self, chunk: bytes) -> bytes:
        if self._expected_content_remaining is not None:
            self._expected_content_remaining -= len(chunk)
            if self._expected_content_remaining < 0:
                self.stream.close()  # the framing is broken: stop before the client is misled
                raise httputil.HTTPOutputError("Tried to write more data than Content-Length")
        if self._chunking_output and chunk:
            # RFC 9112 §7.1: hex size, CRLF, data, CRLF. An empty chunk would mean "the end".
            return b"%x\r\n%b\r\n" % (len(chunk), chunk)
        return chunk

    def _write_to_stream(self, data: bytes) -> asyncio.Future[None]:
        """Write ``data``; the Future resolves once it is written or the connection closed."""
        self._pending_write = self.stream.write(data)
        if self._pending_write.done() and self._pending_write.exception() is None:
            return self._pending_write  # sent at once, as most responses are: no wrapper
        done = self.stream.io_loop.asyncio_loop.create_future()

        def on_written(_: object) -> None:
            # A client that left while we wrote is not the application's error (Tornado).
            if not done.done():
                done.set_result(None)

        _future_add_done_callback(self._pending_write, on_written)
        return done

    def _closed_future(self) -> asyncio.Future[None]:
        # The client is gone. The stream runs its close callback on the next loop turn, but
        # a handler whose flush() just resolved may write again before that turn and fail
        # first, and its finish then cancels the callback: so run it now (it runs once).
        self._on_connection_close()
        failed = self.stream.io_loop.asyncio_loop.create_future()
        failed.set_exception(iostream.StreamClosedError())
        failed.exception()  # nobody has to look at it: no "exception never retrieved" log
        return failed


def _format_header_block(
    start_line: httputil.ResponseStartLine, headers: httputil.HTTPHeaders
) -> bytes:
    """The status line (always ``HTTP/1.1``) and header lines, each ended by CRLF, then CRLF.

    A CR or LF inside any line raises ``ValueError``: it would let a value start a header
    (or a whole response) of its own.
    """
    # As in Tornado, the status line is UTF-8 (a reason "café" goes out as UTF-8) and
    # header lines are latin-1: one byte per character, as HTTP/1.1 defines them.
    status_line = f"HTTP/1.1 {start_line.code} {start_line.reason}"
    lines = [f"{name}: {value}" for name, value in headers.get_all()]
    for line in (status_line, *lines):
        if "\r" in line or "\n" in line:
            raise ValueError(f"Illegal characters (CR or LF) in header: {line!r}")
    header_text = "".join([line + "\r\n" for line in lines])
    return status_line.encode("utf-8") + b"\r\n" + header_text.encode("latin-1") + b"\r\n"


# Tornado: tornado/http1connection.py::parse_int
def parse_int(value: str) -> int:
    """A non-negative decimal integer, ASCII digits only (``int()`` also takes ``" +5"``)."""
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


# Tornado: tornado/concurrent.py::future_add_done_callback
def _future_add_done_callback(
    future: asyncio.Future[Any], callback: Callable[[asyncio.Future[Any]], None]
) -> None:
    """Call ``callback(future)`` now if ``future`` is done, else once it is."""
    # asyncio's add_done_callback waits for a loop turn even when the Future is done
    # already; most writes finish at once, and what follows them should too.
    if future.done():
        callback(future)
    else:
        future.add_done_callback(callback)
