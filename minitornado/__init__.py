"""minitornado: Tornado 6.6's serving core, rebuilt on plain asyncio and h11.

Read it to learn how a Tornado server starts and serves a request. Every module mirrors one
Tornado file, names it in its opening docstring, and marks each mirrored definition with a
``# Tornado: path::qualname`` comment.

The study path, start-up (what ``app.listen(8888)`` and running the loop do)::

    1. web.Application.listen            tornado/web.py::Application.listen
    2. httpserver.HTTPServer             tornado/httpserver.py::HTTPServer.initialize
    3. tcpserver.TCPServer.listen        tornado/tcpserver.py::TCPServer.listen
    4. netutil.bind_sockets              tornado/netutil.py::bind_sockets
    5. tcpserver.TCPServer.add_sockets   tornado/tcpserver.py::TCPServer.add_sockets
    6. netutil.add_accept_handler        tornado/netutil.py::add_accept_handler
    7. ioloop.IOLoop.add_handler         tornado/platform/asyncio.py::BaseAsyncIOLoop.add_handler
    8. asyncio loop.add_reader           (the selector loop registers the fd with epoll)
    9. ioloop.IOLoop.start               tornado/platform/asyncio.py::BaseAsyncIOLoop.start
                                         (only ``run_forever()``: any runner of the loop serves)

The study path, one request::

    10. TCPServer._handle_connection        tornado/tcpserver.py::TCPServer._handle_connection
    11. iostream.IOStream                   tornado/iostream.py::IOStream
    12. HTTPServer.handle_stream            tornado/httpserver.py::HTTPServer.handle_stream
    13. HTTP1ServerConnection.start_serving
                      tornado/http1connection.py::HTTP1ServerConnection.start_serving
    14. HTTP1Connection.read_response       (h11 events: Request, Data, EndOfMessage)
                      tornado/http1connection.py::HTTP1Connection.read_response
    15. web.Application.find_handler        tornado/web.py::Application.find_handler
    16. web.RequestHandler._execute         tornado/web.py::RequestHandler._execute
    17. RequestHandler.finish -> HTTP1Connection.write_headers / finish
                      tornado/http1connection.py::HTTP1Connection.write_headers

``TCPServer.start()`` is not on this path: ``listen()`` already registered the accept
handler (step 6), so whatever runs the asyncio loop (``IOLoop.start()``,
``loop.run_forever()`` or ``asyncio.run``) serves.
"""

version = "0.1.0"
version_info = (0, 1, 0, 0)
