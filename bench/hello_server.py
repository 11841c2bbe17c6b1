"""The hello-world app the benchmark measures, served by minitornado or by Tornado.

    python bench/hello_server.py --impl minitornado --port 0 [--certfile F --keyfile F [--dict]]

The first line on stdout (flushed at once) is ``listening <port>``; then the server runs
until SIGTERM or SIGINT. A ``--port`` already in use ends it with one line naming the port.
With ``--certfile`` it serves HTTPS, with an ``ssl.SSLContext`` made once, so that both
servers run the same handshake. The context issues no TLS 1.3 session tickets, so a client
cannot resume a session: every new connection is a full handshake (wrk would otherwise
resume nearly all of them). ``--dict`` passes Tornado's dict form instead, which Tornado
turns into a new context (reading the files again) for every connection, and we do once.
The same code serves both implementations: only the imports differ, which is the promise
minitornado makes to an application.
"""

import argparse
import asyncio
import errno
import importlib
import resource
import signal
import socket
import ssl
import sys
from typing import Any

BODY = "Hello, world"


def make_app(impl: str) -> Any:
    """The application: one handler, ``GET /`` answers ``Hello, world``."""
    web = importlib.import_module(f"{impl}.web")

    class HelloHandler(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.write(BODY)

    return web.Application([(r"/", HelloHandler)])


def bind(impl: str, port: int) -> list[socket.socket]:
    """``impl``'s ``bind_sockets`` on 127.0.0.1; a port in use exits with one line naming it."""
    netutil = importlib.import_module(f"{impl}.netutil")
    try:
        sockets: list[socket.socket] = netutil.bind_sockets(port, "127.0.0.1")
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        sys.exit(f"port {port} on 127.0.0.1 is already in use: pick another with --port")
    return sockets


async def serve(impl: str, sockets: list[socket.socket], tls: Any) -> None:
    httpserver = importlib.import_module(f"{impl}.httpserver")
    server = httpserver.HTTPServer(make_app(impl), ssl_options=tls)
    server.add_sockets(sockets)
    print(f"listening {sockets[0].getsockname()[1]}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    server.stop()


def raise_fd_limit() -> None:
    # 1,000 idle connections plus the listening socket need more than a default of 1024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description="hello-world server for the benchmark")
    parser.add_argument("--impl", choices=("minitornado", "tornado"), default="minitornado")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--certfile", help="serve HTTPS with this certificate")
    parser.add_argument("--keyfile", help="its private key")
    parser.add_argument("--dict", action="store_true", help="ssl_options as Tornado's dict")
    args = parser.parse_args()
    raise_fd_limit()
    tls: Any = None
    if args.certfile and args.dict:
        tls = {"certfile": args.certfile, "keyfile": args.keyfile}
    elif args.certfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.certfile, args.keyfile)
        tls.num_tickets = 0  # no resumption: a full handshake per new connection
    asyncio.run(serve(args.impl, bind(args.impl, args.port), tls))


if __name__ == "__main__":
    main()
