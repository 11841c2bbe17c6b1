"""minitornado: Tornado 6.6's serving core, rebuilt on plain asyncio and h11.

Read it to learn how a Tornado server starts and serves a request. Each module names the
Tornado file it mirrors in its opening docstring (the tour's modules are ours alone), and
marks each mirrored definition with a ``# Tornado: path::qualname`` comment.
``python -m minitornado.study.tour`` walks the path below, our code beside Tornado's.

The study path, start-up (what ``app.listen(8888)`` and running the loop do)::

     1. minitornado/web.py::Application.listen
        tornado/web.py::Application.listen
     2. minitornado/httpserver.py::HTTPServer.__init__
        tornado/httpserver.py::HTTPServer.initialize
     3. minitornado/tcpserver.py::TCPServer.listen
        tornado/tcpserver.py::TCPServer.listen
     4. minitornado/netutil.py::bind_sockets
        tornado/netutil.py::bind_sockets
     5. minitornado/tcpserver.py::TCPServer.add_sockets
        tornado/tcpserver.py::TCPServer.add_sockets
     6. minitornado/netutil.py::add_accept_handler
        tornado/netutil.py::add_accept_handler
     7. minitornado/ioloop.py::IOLoop.add_handler
        tornado/platform/asyncio.py::BaseAsyncIOLoop.add_handler
     8. asyncio/selector_events.py::BaseSelectorEventLoop.add_reader
        (Tornado runs the same asyncio code)
     9. minitornado/ioloop.py::IOLoop.start
        tornado/platform/asyncio.py::BaseAsyncIOLoop.start

The study path, one request::

    10. minitornado/tcpserver.py::TCPServer._handle_connection
        tornado/tcpserver.py::TCPServer._handle_connection
    11. minitornado/iostream.py::IOStream.__init__
        tornado/iostream.py::IOStream.__init__
    12. minitornado/httpserver.py::HTTPServer.handle_stream
        tornado/httpserver.py::HTTPServer.handle_stream
    13. minitornado/http1connection.py::HTTP1ServerConnection.start_serving
        tornado/http1connection.py::HTTP1ServerConnection.start_serving
    14. minitornado/http1connection.py::HTTP1Connection.read_response
        tornado/http1connection.py::HTTP1Connection.read_response
    15. minitornado/web.py::Application.find_handler
        tornado/web.py::Application.find_handler
    16. minitornado/web.py::RequestHandler._execute
        tornado/web.py::RequestHandler._execute
    17. minitornado/web.py::RequestHandler.finish
        tornado/web.py::RequestHandler.finish

``TCPServer.start()`` is not on this path: ``listen()`` already registered the accept
handler (step 6), so whatever runs the asyncio loop (``IOLoop.start()``,
``loop.run_forever()`` or ``asyncio.run``) serves.

The graceful shutdown, ours alone (Tornado has none: its ``close_all_connections()`` cuts the
requests in progress). ``HTTPServer.shutdown()`` runs S2 to S5::

    S1. demo_app.py::on_first_signal
        (ours alone: a signal)
    S2. minitornado/tcpserver.py::TCPServer.stop
        tornado/tcpserver.py::TCPServer.stop
    S3. minitornado/http1connection.py::HTTP1ServerConnection.close_when_idle
        (ours alone: idle connections close now)
    S4. minitornado/http1connection.py::HTTP1Connection.serve_as_last
        (ours alone: requests in progress finish)
    S5. minitornado/httpserver.py::HTTPServer.close_all_connections
        tornado/httpserver.py::HTTPServer.close_all_connections
    S6. minitornado/ioloop.py::IOLoop.stop
        tornado/platform/asyncio.py::BaseAsyncIOLoop.stop

The other way of starting, ``bind()`` then ``start(n)``, which forks ``n`` children (Tornado
advises one ``listen(reuse_port=True)`` per process instead; ``demo_app.py --processes 2
--trace`` shows it live). ``HTTPServer(app)`` (step 2) comes first, ``bind_sockets``
(step 4) runs inside P1, and each child goes on with steps 6 to 9::

    P1. minitornado/tcpserver.py::TCPServer.bind
        tornado/tcpserver.py::TCPServer.bind
    P2. minitornado/tcpserver.py::TCPServer.start
        tornado/tcpserver.py::TCPServer.start
    P3. minitornado/process.py::fork_processes
        tornado/process.py::fork_processes
    P4. minitornado/tcpserver.py::TCPServer.add_sockets
        tornado/tcpserver.py::TCPServer.add_sockets
    P5. minitornado/process.py::task_id
        tornado/process.py::task_id

HTTPS (``app.listen(port, ssl_options=...)``): the TLS handshake runs on the loop before the
first request, a round per readiness event (``demo_app.py --certfile F --keyfile F --trace``
shows each round). T1 happens inside step 2, T2 inside step 10, T3 around step 11 (it
calls it), T4 inside step 12, and T6 leads back to step 14::

    T1. minitornado/tcpserver.py::TCPServer.__init__
        tornado/tcpserver.py::TCPServer.__init__
    T2. minitornado/netutil.py::ssl_wrap_socket
        tornado/netutil.py::ssl_wrap_socket
    T3. minitornado/iostream.py::SSLIOStream.__init__
        tornado/iostream.py::SSLIOStream.__init__
    T4. minitornado/httpserver.py::_HTTPRequestContext.__init__
        tornado/httpserver.py::_HTTPRequestContext.__init__
    T5. minitornado/iostream.py::SSLIOStream._do_ssl_handshake
        tornado/iostream.py::SSLIOStream._do_ssl_handshake
    T6. minitornado/iostream.py::IOStream._read_to_buffer
        tornado/iostream.py::BaseIOStream._read_to_buffer

Each step names our definition, then Tornado's. These lists are
``minitornado.study.tour.STUDY_PATH`` printed; tests/test_tour.py checks that they are, and
that a real server makes these calls in this order. ``minitornado.study.trace`` logs each
step as it happens, start-up, requests and shutdown (``demo_app.py --trace``, or
``MINITORNADO_TRACE=1`` for any app). It watches the serving modules from outside, with a
profile hook, and none of them imports it; this file, which serves nothing, is the one that
reads ``MINITORNADO_TRACE`` (at its end) and switches it on.

A complete application (tests/test_docs.py runs this very text)::

    import asyncio

    from minitornado import web


    class MainHandler(web.RequestHandler):
        def get(self):
            self.write("Hello, world")


    async def main():
        app = web.Application([(r"/", MainHandler)])
        app.listen(8888)
        await asyncio.Event().wait()


    asyncio.run(main())

Switch the import to ``from tornado import web`` and it runs on Tornado, unchanged.
"""

import os

# Tornado: tornado/__init__.py::version
version = "0.1.0"
# Tornado: tornado/__init__.py::version_info
version_info = (0, 1, 0, 0)

# MINITORNADO_TRACE=1 traces any app, with no change to its code. Without it the study package
# is not even imported.
if os.environ.get("MINITORNADO_TRACE", "") not in ("", "0"):
    from minitornado.study import trace

    trace.enable()
