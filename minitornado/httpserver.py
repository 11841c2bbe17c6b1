"""An HTTP server: ``TCPServer`` plus HTTP/1.1, handing each request to the application.

Mirrors: tornado/httpserver.py (Tornado 6.6)

``HTTPServer`` is a ``TCPServer`` whose ``handle_stream`` starts an
``HTTP1ServerConnection`` on each accepted connection, and an
``HTTPServerConnectionDelegate`` whose ``start_request`` picks who receives each request:
the application's own delegate (``web.Application`` is one), or ``_CallableAdapter`` for a
plain function that takes an ``HTTPServerRequest``. ``_HTTPRequestContext`` tells the
request where it came from (``remote_ip``, ``protocol``), corrected by the
``X-Forwarded-*`` headers of a trusted proxy when ``xheaders=True`` (``_ProxyAdapter``).

A complete server with a plain callable (``tests/test_httpserver.py`` runs this very text)::

    def handle(request):
        body = b"Hello, " + request.remote_ip.encode()
        request.connection.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        request.connection.finish()

    server = HTTPServer(handle)
    server.listen(8888)

Kept: every constructor argument but one (below), ``ssl_options`` included (``TCPServer``
does the TLS; a request on a TLS connection says ``protocol == "https"``);
``close_all_connections``; ``stop`` (from ``TCPServer``); ``HTTPRequest``, the old name of
``httputil.HTTPServerRequest``. Ours alone: ``shutdown``, a graceful drain (Tornado has none).

Left out: ``decompress_request=True`` (Tornado's ``_GzipMessageDelegate``; it raises
``NotImplementedError`` here); ``Configurable`` (Tornado's ``HTTPServer`` can be swapped for
a subclass by ``HTTPServer.configure``; here the constructor is an ordinary one).

Study path: step 2 (``HTTPServer.__init__``, Tornado's ``initialize``) and step 12
(``handle_stream``); ``shutdown`` runs the shutdown steps S2 to S5, and S5 is
``close_all_connections``. Over TLS, step T4 is ``_HTTPRequestContext``, whose protocol
says ``https``.
"""

import asyncio
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from minitornado import httputil, iostream, netutil
from minitornado.http1connection import HTTP1ConnectionParameters, HTTP1ServerConnection
from minitornado.tcpserver import TCPServer


# Tornado: tornado/httpserver.py::HTTPServer
class HTTPServer(TCPServer, httputil.HTTPServerConnectionDelegate):
    """Serve HTTP/1.x; each request goes to ``request_callback``.

    ``request_callback`` is an ``HTTPServerConnectionDelegate`` (a ``web.Application``) or
    a plain callable ``f(request)`` that answers through ``request.connection``.

    Arguments: ``no_keep_alive`` closes every connection after one response;
    ``xheaders`` trusts ``X-Real-Ip`` / ``X-Forwarded-For`` and ``X-Scheme`` /
    ``X-Forwarded-Proto`` for ``remote_ip`` and ``protocol`` (set it only behind a proxy
    that sets them), skipping the proxies listed in ``trusted_downstream``; ``protocol``
    forces ``request.protocol``; ``chunk_size`` (64 KiB), ``max_header_size`` (64 KiB),
    ``max_body_size`` (``max_buffer_size``, 100 MiB), ``max_buffer_size``;
    ``idle_connection_timeout`` (3600 s) bounds both an idle keep-alive connection and the
    wait for a request's headers (on TLS, the handshake too: the wait for the first
    request starts at accept); ``body_timeout`` (none) bounds the wait for its body;
    ``ssl_options`` serves HTTPS (see ``TCPServer``).

    Compared with Tornado:
        Simplified: a plain class with an ``__init__``; Tornado's is ``Configurable`` and
        its constructor is ``initialize``.
        Left out: ``decompress_request=True`` raises ``NotImplementedError``.
    """

    # Tornado: tornado/httpserver.py::HTTPServer.initialize             (study path, step 2)
    def __init__(
        self,
        request_callback: (
            httputil.HTTPServerConnectionDelegate | Callable[[httputil.HTTPServerRequest], None]
        ),
        no_keep_alive: bool = False,
        xheaders: bool = False,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        protocol: str | None = None,
        decompress_request: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        idle_connection_timeout: float | None = None,
        body_timeout: float | None = None,
        max_body_size: int | None = None,
        max_buffer_size: int | None = None,
        trusted_downstream: list[str] | None = None,
    ) -> None:
        if decompress_request:
            raise NotImplementedError(
                "minitornado does not gunzip request bodies: decompress_request is not supported"
            )
        self.request_callback = request_callback
        self.xheaders = xheaders
        self.protocol = protocol
        self.conn_params = HTTP1ConnectionParameters(
            decompress=decompress_request,
            chunk_size=chunk_size,
            max_header_size=max_header_size,
            header_timeout=idle_connection_timeout or 3600,
            max_body_size=max_body_size,
            body_timeout=body_timeout,
            no_keep_alive=no_keep_alive,
        )
        TCPServer.__init__(
            self,
            ssl_options=ssl_options,
            max_buffer_size=max_buffer_size,
            read_chunk_size=chunk_size,
        )
        self._connections: set[HTTP1ServerConnection] = set()
        self.trusted_downstream = trusted_downstream

    # Tornado: tornado/httpserver.py::HTTPServer.close_all_connections   (shutdown, step S5)
    async def close_all_connections(self) -> None:
        """Close every open connection now, and return once their request loops ended.

        Call ``stop()`` first, so that no new connection comes in meanwhile. Requests in
        progress are cut off, not drained: their clients see the connection close.
        """
        while self._connections:
            # Each loop's on_close removes its connection from the set (hence the copy);
            # the discard means a loop that somehow ended without it cannot keep this
            # spinning.
            for conn in list(self._connections):
                await conn.close()
                self._connections.discard(conn)

    # Ours alone: Tornado has no drain.    (shutdown: step S2 begins here; it runs S2 to S5)
    async def shutdown(self, timeout: float = 5.0) -> int:
        """Stop the server gracefully: no request already accepted is lost. Returns how
        many connections were still busy at the deadline and had to be cut (0: none).

        In order (the shutdown steps S2-S5 of ``minitornado/__init__.py``):

        - ``stop()``: the listening sockets close, so new clients are refused.
        - Every connection waiting for a request of which no byte has arrived is closed.
        - Every other one serves the request it is on to the end, then closes. The response
          says ``Connection: close`` if its headers have not gone out yet; requests
          pipelined behind it are not served (``HTTP1ServerConnection.close_when_idle``).
        - ``timeout`` seconds after the call, whatever is still open is closed as
          ``close_all_connections`` does, cutting the requests still in progress.

        Returns once every connection is closed: within ``timeout``, plus the moment the
        cut takes. The IOLoop is not stopped: that is the caller's (see ``demo_app.py``).

        Compared with Tornado:
            Ours alone: Tornado has no equivalent. Its recipe, ``stop()`` then
            ``close_all_connections()``, closes connections with requests in progress at
            once, and their clients get no response (tests/test_shutdown.py shows both).
        """
        self.stop()
        connections = list(self._connections)
        for conn in connections:
            conn.close_when_idle()
        if connections:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in connections],
                               timeout=timeout)  # fmt: skip
        cut = len(self._connections)
        await self.close_all_connections()
        return cut

    # Tornado: tornado/httpserver.py::HTTPServer.handle_stream           (study path, step 12)
    def handle_stream(self, stream: iostream.IOStream, address: Any) -> None:
        """Called by ``TCPServer`` for each accepted connection: serve HTTP on it."""
        context = _HTTPRequestContext(stream, address, self.protocol, self.trusted_downstream)
        conn = HTTP1ServerConnection(stream, self.conn_params, context)
        self._connections.add(conn)
        conn.start_serving(self)

    # Tornado: tornado/httpserver.py::HTTPServer.start_request
    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        """Called by the connection for each request: who receives it."""
        delegate: httputil.HTTPMessageDelegate
        if isinstance(self.request_callback, httputil.HTTPServerConnectionDelegate):
            delegate = self.request_callback.start_request(server_conn, request_conn)
        else:
            delegate = _CallableAdapter(self.request_callback, request_conn)
        if self.xheaders:
            delegate = _ProxyAdapter(delegate, request_conn)
        return delegate

    # Tornado: tornado/httpserver.py::HTTPServer.on_close
    def on_close(self, server_conn: object) -> None:
        """Called by the connection once it is closed."""
        assert isinstance(server_conn, HTTP1ServerConnection)
        self._connections.remove(server_conn)


# Tornado: tornado/httpserver.py::_CallableAdapter
class _CallableAdapter(httputil.HTTPMessageDelegate):
    """Collect a whole request, then call the plain function with it."""

    def __init__(
        self,
        request_callback: Callable[[httputil.HTTPServerRequest], None],
        request_conn: httputil.HTTPConnection,
    ) -> None:
        self.connection = request_conn
        self.request_callback = request_callback
        self.request: httputil.HTTPServerRequest | None = None
        self._chunks = bytearray()

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        # The request object checks Host and the query; a bad one raises HTTPInputError: 400.
        assert isinstance(start_line, httputil.RequestStartLine)
        self.request = httputil.HTTPServerRequest(
            connection=self.connection, start_line=start_line, headers=headers
        )
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self._chunks += chunk
        return None

    def finish(self) -> None:
        assert self.request is not None
        self.request.body = bytes(self._chunks)
        self._chunks.clear()  # copied: free it now, not once the response is done
        self.request._parse_body()
        self.request_callback(self.request)

    def on_connection_close(self) -> None:
        self._chunks.clear()


_NONE: frozenset[str] = frozenset()


# Tornado: tornado/httpserver.py::_HTTPRequestContext
class _HTTPRequestContext:
    """Where a connection's requests come from: ``remote_ip`` and ``protocol``.

    Every ``HTTP1Connection`` of the connection carries it as ``connection.context``, and
    ``HTTPServerRequest`` copies both attributes from it. ``str(context)`` is what log
    lines say the request came from.

    Compared with Tornado:
        Same: ``protocol`` is the server's ``protocol`` argument if given, else ``"https"``
        on an ``SSLIOStream`` and ``"http"`` on any other stream.
    """

    # Tornado: tornado/httpserver.py::_HTTPRequestContext.__init__   (study path, step T4)
    def __init__(
        self,
        stream: iostream.IOStream,
        address: Any,
        protocol: str | None,
        trusted_downstream: list[str] | None = None,
    ) -> None:
        self.address = address
        # Kept now: the address alone does not say whether it is an IP or a socket path.
        self.address_family = stream.socket.family
        if self.address_family in (socket.AF_INET, socket.AF_INET6) and address is not None:
            self.remote_ip: str = address[0]
        else:
            self.remote_ip = "0.0.0.0"  # a Unix socket has no IP to tell
        if protocol:
            self.protocol = protocol
        elif isinstance(stream, iostream.SSLIOStream):
            self.protocol = "https"
        else:
            self.protocol = "http"
        self._orig_remote_ip = self.remote_ip
        self._orig_protocol = self.protocol
        # Shared when empty, the usual case: an empty set per connection is 216 bytes.
        self.trusted_downstream = frozenset(trusted_downstream) if trusted_downstream else _NONE

    def __str__(self) -> str:
        if self.address_family in (socket.AF_INET, socket.AF_INET6):
            return self.remote_ip
        if isinstance(self.address, bytes):
            return os.fsdecode(self.address)  # Linux gives a Unix socket's path as bytes
        return str(self.address)

    # Tornado: tornado/httpserver.py::_HTTPRequestContext._apply_xheaders
    def _apply_xheaders(self, headers: httputil.HTTPHeaders) -> None:
        """Take ``remote_ip`` and ``protocol`` from a proxy's headers, for one request.

        ``X-Real-Ip`` wins over ``X-Forwarded-For``, whose last entry not in
        ``trusted_downstream`` is the client (each proxy appends the address it saw). A
        value that is not an IP address is ignored. ``X-Scheme`` wins over
        ``X-Forwarded-Proto``; of a list, the last entry counts; only ``http`` and
        ``https`` are taken.
        """
        forwarded_for = headers.get("X-Forwarded-For", self.remote_ip)
        for candidate in reversed(forwarded_for.split(",")):
            ip = candidate.strip()
            if ip not in self.trusted_downstream:
                break  # (if all are trusted, the first entry, the farthest hop, is kept)
        ip = headers.get("X-Real-Ip", ip)
        if netutil.is_valid_ip(ip):
            self.remote_ip = ip
        proto = headers.get("X-Scheme", headers.get("X-Forwarded-Proto", self.protocol))
        if proto:
            proto = proto.split(",")[-1].strip()
        if proto in ("http", "https"):
            self.protocol = proto

    # Tornado: tornado/httpserver.py::_HTTPRequestContext._unapply_xheaders
    def _unapply_xheaders(self) -> None:
        """Back to the socket's own values, so the next request on the connection starts clean."""
        self.remote_ip = self._orig_remote_ip
        self.protocol = self._orig_protocol


# Tornado: tornado/httpserver.py::_ProxyAdapter
class _ProxyAdapter(httputil.HTTPMessageDelegate):
    """Wrap a delegate: apply the X-headers before it sees a request, undo them after."""

    def __init__(
        self, delegate: httputil.HTTPMessageDelegate, request_conn: httputil.HTTPConnection
    ) -> None:
        self.connection = request_conn
        self.delegate = delegate

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self._context()._apply_xheaders(headers)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()
        self._context()._unapply_xheaders()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()
        self._context()._unapply_xheaders()

    def _context(self) -> _HTTPRequestContext:
        # HTTPServer gives every connection it makes one of these as its context.
        context = getattr(self.connection, "context", None)
        assert isinstance(context, _HTTPRequestContext)
        return context


# Tornado: tornado/httpserver.py::HTTPRequest
HTTPRequest = httputil.HTTPServerRequest  # the name Tornado 3 used; old apps still import it
