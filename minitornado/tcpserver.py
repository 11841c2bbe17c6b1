"""A TCP server: listening sockets in, one ``IOStream`` per accepted connection out.

Mirrors: tornado/tcpserver.py (Tornado 6.6)

Kept: ``TCPServer`` with ``listen``, ``add_sockets``/``add_socket``, ``stop``, the
``handle_stream`` override point (plain or ``async def``) and ``_handle_connection``, which
wraps each accepted socket in an ``IOStream``. The legacy pair ``bind`` + ``start`` is kept,
with forking (``start(num_processes)`` calls ``process.fork_processes``), to show that
``listen`` never needed ``start``.

TLS: with ``ssl_options`` (an ``ssl.SSLContext``, or Tornado's dict form) the context is
checked and built in the constructor, and ``_handle_connection`` wraps each accepted socket
with ``netutil.ssl_wrap_socket`` (the handshake left for later) in an ``SSLIOStream``, which
runs the handshake on the loop.

Left out: nothing of Tornado's ``tcpserver.py``.

Study path (numbers from ``minitornado/__init__.py``): step 3 is ``TCPServer.listen``, step 5
is ``add_sockets`` and step 10 is ``_handle_connection``, which the accept handler calls;
shutdown step S2 is ``stop``. On the other way of starting, steps P1 and P2 are ``bind`` and
``start``, and step P4 is ``add_sockets`` again, in each forked child. Over TLS, step T1 is
the constructor, which builds the ``SSLContext``.

A complete echo server (``tests/test_tcpserver.py`` runs this very text)::

    class EchoServer(TCPServer):
        async def handle_stream(self, stream, address):
            try:
                while True:
                    line = await stream.read_until(b"\\n")
                    await stream.write(line)
            except StreamClosedError:
                pass  # the client hung up

Serve it with ``EchoServer().listen(8888)`` inside ``async def main()`` followed by
``await asyncio.Event().wait()``, and ``asyncio.run(main())``.
"""

import asyncio
import errno
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from minitornado import process
from minitornado.ioloop import IOLoop
from minitornado.iostream import IOStream, SSLIOStream
from minitornado.log import app_log
from minitornado.netutil import (
    _DEFAULT_BACKLOG,
    add_accept_handler,
    bind_sockets,
    ssl_options_to_context,
    ssl_wrap_socket,
)


# Tornado: tornado/tcpserver.py::TCPServer
class TCPServer:
    """Accept TCP connections and hand each one, as an ``IOStream``, to ``handle_stream``.

    Subclass it and override ``handle_stream``. ``max_buffer_size`` and ``read_chunk_size``
    are passed to every ``IOStream`` (``None`` keeps IOStream's defaults).

    ``ssl_options`` serves TLS: an ``ssl.SSLContext``, or a dict of the keys
    ``netutil.ssl_options_to_context`` takes (``certfile`` is required; ``keyfile``,
    ``cert_reqs``, ``ca_certs``, ``ciphers``, ``ssl_version``). Each connection is then an
    ``SSLIOStream``. A bad dict fails here, not at the first client: ``KeyError`` without
    ``certfile``, ``ValueError`` for a file that does not exist or an unknown key,
    ``ssl.SSLError`` for a certificate or key OpenSSL cannot load.

    Compared with Tornado:
        Same: the ``KeyError`` and ``ValueError`` checks of the dict, and their messages.
        Differs on purpose: the dict becomes an ``SSLContext`` once, here, so a key that
        does not match its certificate or an unknown dict key fails at construction.
        Tornado builds a new context from the dict for every connection (reading the
        files again), and only then finds these errors (tests/test_tls.py).
    """

    # Tornado: tornado/tcpserver.py::TCPServer.__init__        (study path, step T1)
    def __init__(
        self,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
    ) -> None:
        self.ssl_options = ssl_options
        self._ssl_context = _server_ssl_context(ssl_options) if ssl_options is not None else None
        self.max_buffer_size = max_buffer_size
        self.read_chunk_size = read_chunk_size
        # Both keyed by file descriptor: the listening sockets, and the function that
        # stops accepting on each (returned by add_accept_handler).
        self._sockets: dict[int, socket.socket] = {}
        self._handlers: dict[int, Callable[[], None]] = {}
        self._pending_sockets: list[socket.socket] = []  # bound by bind(), waiting for start()
        self._started = False
        self._stopped = False

    # Tornado: tornado/tcpserver.py::TCPServer.listen          (study path, step 3)
    def listen(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Start accepting connections on ``port`` now; may be called again for more ports.

        The arguments are those of ``netutil.bind_sockets``. No ``start()`` is needed: the
        sockets go on the current IOLoop at once, served as soon as anything runs its loop.

        Compared with Tornado:
            Same.
        """
        sockets = bind_sockets(
            port, address, family=family, backlog=backlog, flags=flags, reuse_port=reuse_port
        )
        self.add_sockets(sockets)

    # Tornado: tornado/tcpserver.py::TCPServer.add_sockets     (study path, step 5; step P4)
    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        """Start accepting connections on listening sockets the caller already made.

        Use it with ``bind_sockets`` or ``bind_unix_socket`` when the sockets must exist before
        the server does (for example, bound before forking worker processes).

        Compared with Tornado:
            Same.
        """
        for sock in sockets:
            fd = sock.fileno()
            self._sockets[fd] = sock
            self._handlers[fd] = add_accept_handler(sock, self._handle_connection)

    # Tornado: tornado/tcpserver.py::TCPServer.add_socket
    def add_socket(self, socket: socket.socket) -> None:
        """``add_sockets`` for a single socket.

        Compared with Tornado:
            Same.
        """
        self.add_sockets([socket])

    # Tornado: tornado/tcpserver.py::TCPServer.bind            (study path, step P1)
    def bind(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Legacy: bind the sockets now, but accept on them only once ``start()`` is called.

        After ``start()`` it behaves like ``listen()``. Prefer ``listen()``.

        Compared with Tornado:
            Same (Tornado deprecated ``bind``/``start`` in 6.2, in the documentation only).
        """
        sockets = bind_sockets(
            port, address, family=family, backlog=backlog, flags=flags, reuse_port=reuse_port
        )
        if self._started:
            self.add_sockets(sockets)
        else:
            self._pending_sockets.extend(sockets)

    # Tornado: tornado/tcpserver.py::TCPServer.start           (study path, step P2)
    def start(self, num_processes: int | None = 1, max_restarts: int | None = None) -> None:
        """Legacy: start accepting on the sockets ``bind()`` made, in one process or several.

        With ``num_processes`` other than 1 (None or <= 0: one per CPU) it first calls
        ``process.fork_processes(num_processes, max_restarts)``, giving it the sockets too:
        each child returns from ``start()`` accepting on the sockets it inherited, all of them
        on the same port, and the parent never returns. Call it once, before any event loop
        exists, then run the loop of ``IOLoop.current()`` (``start()`` or ``run_sync``), the
        one the sockets are on.

        Compared with Tornado:
            Same, but for two things done on purpose: the parent's handling of SIGTERM and
            SIGINT, and of the sockets it holds (see ``process.fork_processes``); and
            ``start(n)`` with no socket bound, which raises ``RuntimeError`` where Tornado
            forks children that serve nothing (tests/test_process.py, both).
        """
        assert not self._started, "start() may be called only once"
        if num_processes != 1 and not self._pending_sockets:
            # Children with nothing to accept on would only run the caller's code N times.
            raise RuntimeError(f"start({num_processes}): no socket to serve; call bind() first")
        self._started = True
        if num_processes != 1:
            process.fork_processes(num_processes, max_restarts, sockets=self._pending_sockets)
        sockets, self._pending_sockets = self._pending_sockets, []
        self.add_sockets(sockets)

    # Tornado: tornado/tcpserver.py::TCPServer.stop            (shutdown, step S2)
    def stop(self) -> None:
        """Stop accepting new connections and close the listening sockets. Idempotent.

        Connections already accepted are not touched: they keep being served until they end.
        New clients are refused by the kernel (ECONNREFUSED), since nothing listens any more.

        Compared with Tornado:
            Same.
        """
        if self._stopped:
            return
        self._stopped = True
        for fd, sock in self._sockets.items():
            # Unregister first: a batch of accepts in progress checks this before accept().
            self._handlers.pop(fd)()
            sock.close()

    # Tornado: tornado/tcpserver.py::TCPServer.handle_stream
    def handle_stream(self, stream: IOStream, address: Any) -> Awaitable[None] | None:
        """Override this: serve one accepted connection.

        Called by ``_handle_connection`` for each new client, with its ``IOStream`` and its
        address (``(host, port, ...)``, or the peer's path for a Unix socket). It may be an
        ``async def``: the server does not wait for it, and an exception it raises later is
        logged on ``minitornado.application`` as ``Exception in callback ...``.

        Compared with Tornado:
            Same.
        """
        raise NotImplementedError()

    # Tornado: tornado/tcpserver.py::TCPServer._handle_connection   (study path, step 10)
    def _handle_connection(self, connection: socket.socket, address: Any) -> None:
        """Called by the accept handler for each new connection: wrap it and hand it over.

        No exception escapes: one failing connection must not disturb the accept loop, so a
        synchronous error is logged as ``Error in connection callback``; an ``async``
        ``handle_stream`` is run as a Task whose error the IOLoop logs when it finishes.

        With ``ssl_options`` the socket is wrapped first, without a handshake (that happens
        on the loop, in ``SSLIOStream``), and a client that has already left by then (a
        port scanner's connect-and-reset) is closed without a word.

        Compared with Tornado:
            Same: the wrapping, with ``do_handshake_on_connect=False``.
            Differs on purpose: a client that reset the connection before the wrapping is
            closed quietly. Tornado lets that ``ConnectionResetError`` escape the accept
            handler, and asyncio logs it at ERROR (tests/test_tls.py).
            Differs on purpose: when ``IOStream()`` or a synchronous ``handle_stream``
            raises, we close the connection. Tornado only logs: the socket is closed when the
            garbage collector frees it (with a ``ResourceWarning``), so not for as long as a
            log handler keeps the error's traceback (tests/test_tcpserver.py).
        """
        stream: IOStream | None = None
        try:
            if self._ssl_context is None:
                stream = IOStream(
                    connection,
                    max_buffer_size=self.max_buffer_size,
                    read_chunk_size=self.read_chunk_size,
                )
            else:
                try:
                    connection = ssl_wrap_socket(
                        connection, self._ssl_context, server_side=True,
                        do_handshake_on_connect=False,
                    )  # fmt: skip
                except OSError as e:
                    if not _client_left(e):
                        raise
                    connection.close()
                    return
                stream = SSLIOStream(
                    connection,
                    max_buffer_size=self.max_buffer_size,
                    read_chunk_size=self.read_chunk_size,
                )
            result = self.handle_stream(stream, address)
            if result is not None:
                # add_future calls the callback through the IOLoop, which logs what
                # f.result() raises; without it an error would wait for garbage collection.
                IOLoop.current().add_future(asyncio.ensure_future(result), lambda f: f.result())
        except Exception:
            app_log.error("Error in connection callback", exc_info=True)
            # Close it, or the socket would stay open until garbage collection. Through the
            # stream if there is one, so that it also leaves the loop.
            (stream or connection).close()


def _server_ssl_context(ssl_options: dict[str, Any] | ssl.SSLContext) -> ssl.SSLContext:
    """The context every connection will be wrapped with, checked and built now."""
    if isinstance(ssl_options, dict):
        # Tornado's checks and messages. Only certfile is required: it may hold the key too.
        if "certfile" not in ssl_options:
            raise KeyError('missing key "certfile" in ssl_options')
        for key in ("certfile", "keyfile"):
            if key in ssl_options and not os.path.exists(ssl_options[key]):
                raise ValueError(f'{key} "{ssl_options[key]}" does not exist')
    return ssl_options_to_context(ssl_options, server_side=True)


def _client_left(error: OSError) -> bool:
    # What wrapping a socket raises when its client is already gone. CPython's ssl first
    # asks for the peer's address: macOS answers EINVAL. Linux answers ENOTCONN, which ssl
    # takes for "not connected yet" before it tries recv(1): that raises the reset itself,
    # or finds bytes the client sent before leaving and raises an SSLError with ENOTCONN.
    return isinstance(error, (ConnectionError, ssl.SSLEOFError)) or error.errno in (
        errno.EINVAL,
        errno.ENOTCONN,
    )
