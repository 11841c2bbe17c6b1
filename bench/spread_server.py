"""The server ``python -m bench.spread`` measures: hello world, counting who accepts what.

    python bench/spread_server.py --mode fork --processes 2      bind() + start(2), one socket
    python bench/spread_server.py --mode reuseport               one of N, listen(reuse_port)

The first line on stdout is ``listening <port>`` (with ``--mode fork``, printed by the parent
before it forks; with ``--mode reuseport``, once this process listens). Each serving process
runs until SIGTERM or SIGINT, then writes one JSON line to stdout: its ``pid``, how many
connections it ``accepted``, its ``wakeups`` (calls of the accept handler), the ``empty``
ones (woken, and found nothing to accept: another process took the connection first), the
``capped`` ones (128 accepted, the most one wake-up takes), its ``largest`` batch, and the
``cpu`` seconds it used while serving.

How it counts without touching minitornado: the listening socket is wrapped in a subclass
of ``socket.socket`` whose ``accept()`` keeps the tally. The accept handler
(``netutil.add_accept_handler``) calls ``accept()`` until it raises ``BlockingIOError``, or
128 times: so every wake-up ends with that error or with the 128th connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
from typing import Any

from minitornado import process, web
from minitornado.httpserver import HTTPServer
from minitornado.netutil import _DEFAULT_BACKLOG, bind_sockets


class Hello(web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class CountingSocket(socket.socket):
    """A listening socket that counts, per process, what each wake-up of the accept handler
    got. The counts are per process: a forked child counts in its own copy."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self.accepted = self.wakeups = self.empty = self.capped = self.largest = 0
        self.batch = 0  # accepted so far in the current wake-up

    def accept(self) -> tuple[socket.socket, Any]:
        try:
            connection = super().accept()
        except BlockingIOError:
            self._end_wakeup()
            raise
        self.accepted += 1
        self.batch += 1
        if self.batch == _DEFAULT_BACKLOG:  # the handler stops here: this wake-up is over
            self.capped += 1
            self._end_wakeup()
        return connection

    def _end_wakeup(self) -> None:
        self.wakeups += 1
        self.empty += self.batch == 0
        self.largest = max(self.largest, self.batch)
        self.batch = 0

    def report(self, cpu: float) -> str:
        counts = {name: getattr(self, name) for name in
                  ("accepted", "wakeups", "empty", "capped", "largest")}  # fmt: skip
        return json.dumps({"pid": os.getpid(), **counts, "cpu": round(cpu, 3)})


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def serve_until_signal(server: HTTPServer, sock: CountingSocket) -> None:
    """Accept on ``sock`` (on the running loop) until SIGTERM or SIGINT; then stop, and write
    this process's counts."""
    server.add_sockets([sock])
    cpu_at_start = cpu_seconds()
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopped.set)
    await stopped.wait()
    server.stop()
    os.write(1, (sock.report(cpu_seconds() - cpu_at_start) + "\n").encode())  # one write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=("fork", "reuseport"), required=True)
    parser.add_argument("--processes", type=int, default=1, help="--mode fork: how many")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    reuse_port = args.mode == "reuseport"
    [bound] = bind_sockets(args.port, "127.0.0.1", reuse_port=reuse_port)
    sock = CountingSocket(bound)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    if args.mode == "fork" and args.processes != 1:
        # What bind() + start(n) do, with a socket of ours: the children share this one.
        process.fork_processes(args.processes, sockets=[sock])
    server = HTTPServer(web.Application([("/", Hello)]))
    asyncio.run(serve_until_signal(server, sock))


if __name__ == "__main__":
    main()
