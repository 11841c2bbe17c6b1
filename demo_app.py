"""The demo: one small web app that shows each point of the study, on minitornado or Tornado.

    python demo_app.py                   serves http://127.0.0.1:8000/ (GET / lists the routes)
    python demo_app.py --trace           the same, printing each numbered step as it happens
    python demo_app.py --impl tornado    the same file on real Tornado
    python demo_app.py --processes 2     bind() + start(2): two forked children, one socket
    python demo_app.py --reuse-port 2    two independent processes, listen(reuse_port=True)
    python demo_app.py --certfile cert.pem --keyfile key.pem    HTTPS (see ``tls_options``)

Flags: ``--port`` (8000; 0 picks a free port), ``--address`` (127.0.0.1), ``--impl
minitornado|tornado``, ``--start run|ioloop|asyncio`` (how the loop is run, see the three
``start_*`` functions), ``--trace`` (also ``MINITORNADO_TRACE=1``), ``--grace SECONDS`` (5).

``--processes N`` (0: one per CPU) and ``--reuse-port N`` run several processes; see
``start_processes`` and ``start_reuse_port``.

The first line on stdout is always ``Listening on http://ADDRESS:PORT/ (impl=..., start=...)``
(with several processes: ``..., processes=N)`` or ``..., reuse_port=N)``), printed once;
``https://`` with ``--certfile F`` (``--keyfile F``, unless F holds the key too).
SIGINT (Ctrl-C) or SIGTERM shuts down gracefully: no new connections, requests in progress
finish within ``--grace`` seconds, idle connections close, the loop stops, exit status 0. A
second signal kills the process at once (the signal's default action). A handler that blocks
the loop (``/blocking``) holds the signal back until it returns, as it holds everything else.

Each handler is written once, as a plain class, and ``make_app`` joins it with the chosen
implementation's ``RequestHandler``: the very same code runs on both.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from minitornado.study import trace

IMPLS = ("minitornado", "tornado")
STARTS = ("run", "ioloop", "asyncio")
INSTALL = {
    "minitornado": "pip install -e .",
    "tornado": "pip install tornado==6.6.1  (here: .venv/bin/pip install -e '.[test]')",
}
MAX_SECONDS = 30.0  # the most ?seconds= may ask of /async and /blocking
SIGNALS = (signal.SIGINT, signal.SIGTERM)


# ---- The handlers (their methods run as methods of the implementation's RequestHandler) ----


class Index:
    """GET /: every route, with what it shows."""

    def get(self: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        for shown, _, _, what in ROUTES:
            self.write(f"{shown:<26} {what}\n")


class Hello:
    """One handler class mounted on two paths; ``?name=`` is a query argument."""

    def get(self: Any) -> None:
        self.write(f"Hello, {self.get_argument('name', 'world')}!\n")


class Json:
    """A dict given to ``write()`` goes out as JSON."""

    def get(self: Any) -> None:
        self.write({"hello": "world", "path": self.request.path, "steps": [1, 9, 17]})


class Args:
    """The route's groups reach the method, percent-decoded after matching."""

    def get(self: Any, word: str, number: str) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.write(f"word={word!r} number={number!r}\n")


class Form:
    """GET: a form. POST: its fields, parsed from the urlencoded body (and the query)."""

    def get(self: Any) -> None:
        self.write('<form method="post"><input name="q"> <button>Send</button></form>\n')

    def post(self: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        for name in sorted(self.request.body_arguments):
            self.write(f"body  {name} = {self.get_body_arguments(name)}\n")
        for name in sorted(self.request.query_arguments):
            self.write(f"query {name} = {self.get_query_arguments(name)}\n")


class Stream:
    """Five pieces, each sent by ``flush()`` as soon as it is written (chunked)."""

    async def get(self: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        delay = _number(self, "delay", 0.1)
        for piece in range(1, 6):
            self.write(f"piece {piece} of 5\n")
            await self.flush()
            await asyncio.sleep(delay)


class Async:
    """An ``async def`` handler that awaits: the loop serves others meanwhile."""

    async def get(self: Any) -> None:
        seconds = _number(self, "seconds", 1.0)
        await asyncio.sleep(seconds)
        self.write(f"Awaited asyncio.sleep({seconds}): other requests were served meanwhile.\n")


class Blocking:
    """``time.sleep`` in a handler: the whole loop waits, other clients and stop() too."""

    def get(self: Any) -> None:
        seconds = _number(self, "seconds", 2.0)
        time.sleep(seconds)  # blocks the loop on purpose: this is what the route shows
        self.write(f"Blocked the loop for {seconds} s: nothing else ran meanwhile.\n")


class Error:
    """An exception in a handler: the 500 page, and the traceback in the log."""

    def get(self: Any) -> None:
        raise RuntimeError("this handler fails on purpose")


def _number(handler: Any, name: str, default: float) -> float:
    """A query argument in seconds, kept between 0 and ``MAX_SECONDS``."""
    try:
        value = float(handler.get_argument(name, str(default)))
    except ValueError:
        value = default
    return default if math.isnan(value) else min(max(value, 0.0), MAX_SECONDS)


# (shown on the index, the route's pattern, the handler, what it shows)
ROUTES = [
    ("/", r"/", Index, "this page"),
    ("/hello?name=you", r"/hello", Hello, "a hello handler, with a query argument"),
    ("/hi", r"/hi", Hello, "the same handler class on a second path"),
    ("/json", r"/json", Json, "write(dict): a JSON body"),
    ("/args/WORD/NUMBER", r"/args/([^/]+)/([0-9]+)", Args, "path arguments from the groups"),
    ("/form", r"/form", Form, "GET a form; POST it (urlencoded): the fields parsed"),
    ("/stream?delay=0.1", r"/stream", Stream, "a streamed response: write() + flush(), x5"),
    ("/async?seconds=1", r"/async", Async, "an async def handler awaiting a sleep"),
    ("/blocking?seconds=2", r"/blocking", Blocking, "time.sleep in a handler blocks the loop"),
    ("/error", r"/error", Error, "an exception in a handler: 500"),
]


class _Counted:
    """Counts the requests in progress. Tornado has no drain, so on Tornado the shutdown
    waits for this count to reach 0 (see ``shut_down``)."""

    def prepare(self: Any) -> None:
        self.application.in_flight += 1
        self._counted = True

    def on_finish(self: Any) -> None:
        if getattr(self, "_counted", False):
            self.application.in_flight -= 1


def make_app(impl: str = "minitornado") -> Any:
    """The demo ``Application``, built from ``impl``'s ``web`` module."""
    web = importlib.import_module(f"{impl}.web")
    classes: dict[type, type] = {}
    for _, _, handler, _ in ROUTES:
        if handler not in classes:  # one class per handler, even when mounted twice
            bases = (handler, _Counted, web.RequestHandler)
            classes[handler] = type(handler.__name__, bases, {"__doc__": handler.__doc__})
    app = web.Application([(pattern, classes[handler]) for _, pattern, handler, _ in ROUTES])
    app.in_flight = 0
    return app


# ---- Serving: listen, and three ways to run the loop ----------------------------------------


def listen(app: Any, args: argparse.Namespace) -> Any:
    """``app.listen`` (steps 1-8), then the first line on stdout, with the port bound."""
    ssl_options = tls_options(args)
    server = app.listen(args.port, args.address, ssl_options=ssl_options)
    # Both implementations keep the listening sockets in server._sockets (fd -> socket).
    port = next(iter(server._sockets.values())).getsockname()[1]
    host = f"[{args.address}]" if ":" in args.address else args.address
    scheme = "http" if ssl_options is None else "https"
    print(f"Listening on {scheme}://{host}:{port}/ (impl={args.impl}, start={args.start})",
          flush=True)  # fmt: skip
    return server


def tls_options(args: argparse.Namespace) -> dict[str, str] | None:
    """``--certfile`` and ``--keyfile`` as Tornado's dict form of ``ssl_options`` (steps T1
    to T6), or None: plain HTTP. A test certificate: see README.md, "HTTPS"."""
    if args.certfile is None:
        return None
    options = {"certfile": args.certfile}
    if args.keyfile is not None:
        options["keyfile"] = args.keyfile  # else the certificate file holds the key too
    return options


def start_run(app: Any, args: argparse.Namespace) -> None:
    """``asyncio.run(main())``: Tornado 6.3+'s recommended form."""

    async def main() -> None:
        stop = asyncio.Event()
        catch_signals(asyncio.get_running_loop(), stop.set)  # before "Listening on"
        server = listen(app, args)
        await stop.wait()
        await shut_down(server, app, args)

    asyncio.run(main())


def start_ioloop(app: Any, args: argparse.Namespace) -> None:
    """``IOLoop.current().start()``: the classic form, which is asyncio's ``run_forever()``."""
    io_loop = importlib.import_module(f"{args.impl}.ioloop").IOLoop.current()

    async def drain_then_stop() -> None:
        await shut_down(server, app, args)
        io_loop.stop()

    catch_signals(io_loop.asyncio_loop, lambda: io_loop.add_callback(drain_then_stop))
    server = listen(app, args)
    io_loop.start()
    io_loop.close()


def start_asyncio(app: Any, args: argparse.Namespace) -> None:
    """A plain asyncio loop's ``run_forever()``: it serves, because that is all
    ``IOLoop.start()`` does (the origin study's finding)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # app.listen() puts the server on the loop set here
    tasks: set[asyncio.Task[None]] = set()  # a task nothing references may be collected

    async def drain_then_stop() -> None:
        await shut_down(server, app, args)
        loop.stop()

    catch_signals(loop, lambda: tasks.add(loop.create_task(drain_then_stop())))
    server = listen(app, args)
    try:
        loop.run_forever()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


STARTERS: dict[str, Callable[[Any, argparse.Namespace], None]] = {
    "run": start_run,
    "ioloop": start_ioloop,
    "asyncio": start_asyncio,
}


# ---- Several processes: bind() + start(N), or one listen(reuse_port=True) each ---------------

# A repeat of the signal sooner than this is the same Ctrl-C, not a second one: in a terminal
# Ctrl-C reaches every process of the group, and the parent passes its own copy on too.
SAME_SIGNAL_WITHIN = 0.5


def first_line(port: int, args: argparse.Namespace, start: str, several: str) -> None:
    """Print the "Listening on" line: once, in the parent, before any child serves."""
    host = f"[{args.address}]" if ":" in args.address else args.address
    print(f"Listening on http://{host}:{port}/ (impl={args.impl}, start={start}, {several})",
          flush=True)  # fmt: skip


def start_processes(app: Any, args: argparse.Namespace) -> None:
    """``bind()`` then ``start(N)``: the other way of starting (steps P1 to P5), which forks.

    The parent binds before any loop exists, prints the first line, and stays inside
    ``start()`` supervising the children until they have all ended. minitornado's parent
    passes SIGTERM and SIGINT on to them; Tornado's does not (with ``--impl tornado``, signal
    the whole process group, as Ctrl-C in a terminal does). Each child returns from
    ``start()`` with the inherited socket on its own ``IOLoop.current()``, and runs that loop
    as ``start_ioloop`` does: ``asyncio.run`` would make a new loop, without the socket.
    """
    httpserver = importlib.import_module(f"{args.impl}.httpserver")
    process = importlib.import_module(f"{args.impl}.process")
    server = httpserver.HTTPServer(app)
    server.bind(args.port, args.address)  # steps P1 and 4: bound, not yet on any loop
    # Both implementations keep what bind() made in server._pending_sockets until start().
    port = server._pending_sockets[0].getsockname()[1]
    first_line(port, args, "ioloop", f"processes={args.processes}")
    try:
        server.start(args.processes)  # P2, P3: the parent never returns from here
    except SystemExit:
        print("Stopped.", flush=True)  # the parent, once every child has ended
        raise
    who = f"child {process.task_id()} (pid {os.getpid()})"  # step P5
    io_loop = importlib.import_module(f"{args.impl}.ioloop").IOLoop.current()

    async def drain_then_stop() -> None:
        await shut_down(server, app, args)
        ignore_signals_from_now_on(io_loop.asyncio_loop)
        io_loop.stop()

    catch_worker_signals(io_loop.asyncio_loop, lambda: io_loop.add_callback(drain_then_stop), who)
    io_loop.start()
    io_loop.close()


def start_reuse_port(app: Any, args: argparse.Namespace) -> None:
    """N independent processes, each ``app.listen(port, reuse_port=True)`` in ``asyncio.run``.

    Tornado's advice since 6.2 (issue #2801). Each process has its own listening socket on
    the same port, and the kernel hashes each new connection to one of them. The processes
    are started afresh (``subprocess``), never forked from a process with a loop. This one
    only picks the port, waits until every worker listens, passes SIGTERM and SIGINT on, and
    waits for them all.
    """
    if args.worker is not None:
        serve_one_reuse_port_worker(app, args)
        return
    # Port 0: bind one SO_REUSEPORT socket to learn a port all the workers can share. It is
    # never listening, so no connection is ever given to it; it holds the port meanwhile.
    holder = socket.socket(socket.AF_INET6 if ":" in args.address else socket.AF_INET)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((args.address, args.port))
    port = holder.getsockname()[1]
    workers: list[subprocess.Popen[bytes]] = []
    passed_on: set[int] = set()

    def pass_on(signum: int, frame: object) -> None:
        passed_on.add(signum)
        for worker in workers:
            worker.send_signal(signum)

    for sig in SIGNALS:
        signal.signal(sig, pass_on)
    ready_r, ready_w = os.pipe()
    for index in range(args.reuse_port):
        workers.append(subprocess.Popen(
            [sys.executable, *(f"-W{w}" for w in sys.warnoptions), __file__, "--worker",
             str(index), "--ready-fd", str(ready_w), *_worker_flags(args, port)],
            pass_fds=[ready_w],
        ))  # fmt: skip
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as ready:
        listening = ready.read(args.reuse_port)  # one byte per worker listening; b"" if all died
    holder.close()
    if len(listening) == args.reuse_port:
        first_line(port, args, "run", f"reuse_port={args.reuse_port}")
    else:  # a worker failed to start (its error is on stderr): stop the others
        pass_on(signal.SIGTERM, None)
    codes = [worker.wait() for worker in workers]
    if any(code != 0 and -code not in passed_on for code in codes):
        raise SystemExit(1)


def _worker_flags(args: argparse.Namespace, port: int) -> list[str]:
    flags = ["--port", str(port), "--address", args.address, "--impl", args.impl,
             "--grace", str(args.grace), "--reuse-port", str(args.reuse_port)]  # fmt: skip
    return [*flags, "--trace"] if args.trace else flags


def serve_one_reuse_port_worker(app: Any, args: argparse.Namespace) -> None:
    """One worker of ``--reuse-port``: ``asyncio.run(main())``, as ``start_run`` serves."""
    who = f"worker {args.worker} (pid {os.getpid()})"

    async def main() -> None:
        stop = asyncio.Event()
        catch_worker_signals(asyncio.get_running_loop(), stop.set, who)
        server = app.listen(args.port, args.address, reuse_port=True)
        os.write(args.ready_fd, b"!")  # listening: the parent may print the first line
        os.close(args.ready_fd)
        await stop.wait()
        await shut_down(server, app, args)
        ignore_signals_from_now_on(asyncio.get_running_loop())

    asyncio.run(main())


def catch_worker_signals(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], object], who: str
) -> None:
    """A worker's ``catch_signals``: the first SIGINT or SIGTERM calls ``callback()``.

    A repeat within ``SAME_SIGNAL_WITHIN`` seconds is ignored (one Ctrl-C, received twice:
    from the terminal and from the parent); a later one kills the worker at once.
    """
    first: float | None = None  # when the first signal was handled

    def on_worker_signal(sig: signal.Signals) -> None:
        nonlocal first
        if first is None:
            first = time.monotonic()
            # One write for the whole line: the other processes write to this stdout too.
            print(f"{who}: {sig.name}: shutting down (a second signal exits at once)\n",
                  end="", flush=True)  # fmt: skip
            callback()
        elif time.monotonic() - first >= SAME_SIGNAL_WITHIN:
            for each in SIGNALS:
                loop.remove_signal_handler(each)
                signal.signal(each, signal.SIG_DFL)  # (asyncio would put KeyboardInterrupt back)
            signal.raise_signal(sig)  # its default action: the worker dies by it

    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_worker_signal, sig)


def ignore_signals_from_now_on(loop: asyncio.AbstractEventLoop) -> None:
    """Called once a worker has drained: from here on it only exits.

    The second copy of a Ctrl-C may arrive now. Closing the loop would put back Python's
    SIGINT handler, and that copy would raise ``KeyboardInterrupt`` in the middle of the exit.
    """
    for sig in SIGNALS:
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)


# ---- Stopping -------------------------------------------------------------------------------


def catch_signals(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Have the first SIGINT or SIGTERM call ``callback()``; a second one kills at once.

    Installed before the "Listening on" line, so a client that reads that line may signal
    right away.
    """
    for sig in SIGNALS:
        # Tornado's recommended way (add_callback_from_signal is deprecated since 6.4).
        loop.add_signal_handler(sig, on_first_signal, sig, loop, callback)


def on_first_signal(
    sig: signal.Signals, loop: asyncio.AbstractEventLoop, callback: Callable[[], object]
) -> None:
    """Called by the loop on a SIGINT or SIGTERM: the first starts the graceful shutdown.

    From then on both signals have their default action back, so a second one kills the
    process at once.
    """
    if signal.getsignal(sig) == signal.SIG_DFL:
        # Two signals that arrived while a callback blocked the loop reach us back to
        # back, after the first restored the default: the second must still exit at once.
        signal.raise_signal(sig)
        return
    for each in SIGNALS:
        loop.remove_signal_handler(each)
        signal.signal(each, signal.SIG_DFL)  # a second signal: its default action, now
    print(f"{sig.name}: shutting down (a second signal exits at once)", flush=True)
    callback()


async def shut_down(server: Any, app: Any, args: argparse.Namespace) -> None:
    """Stop accepting, let requests in progress finish within ``--grace``, close the rest."""
    if args.impl == "minitornado":
        await server.shutdown(args.grace)  # steps S2-S5 (ours alone)
        return
    # Tornado has no drain: stop(), wait for the handlers in progress (counted by _Counted),
    # then close_all_connections(), which also drops the idle keep-alive connections.
    server.stop()
    deadline = time.monotonic() + args.grace
    while app.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.02)  # on_finish runs before the last bytes are handed to the kernel
    await server.close_all_connections()


# ---- The command line -----------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--impl", choices=IMPLS, default="minitornado")
    parser.add_argument("--start", choices=STARTS, default="run", help="how the loop is run")
    parser.add_argument("--trace", action="store_true", help="print each study-path step")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to finish requests")
    several = parser.add_mutually_exclusive_group()
    several.add_argument("--processes", type=int, metavar="N",
                         help="bind() + start(N): N forked children (0: one per CPU)")  # fmt: skip
    several.add_argument("--reuse-port", type=int, metavar="N",
                         help="N independent processes, each listen(reuse_port=True)")  # fmt: skip
    # How a --reuse-port parent starts each worker (not for the command line).
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    # HTTPS: Tornado's ssl_options dict, {"certfile": ..., "keyfile": ...}.
    parser.add_argument("--certfile", metavar="FILE", help="serve HTTPS with this certificate")
    parser.add_argument("--keyfile", metavar="FILE", help="its private key (with --certfile)")
    args = parser.parse_args(argv)
    if args.keyfile is not None and args.certfile is None:
        parser.error("--keyfile needs --certfile")
    if args.certfile is not None and (args.processes is not None or args.reuse_port is not None):
        parser.error("--certfile serves one process: not with --processes or --reuse-port")
    if args.reuse_port is not None and args.reuse_port < 1:
        parser.error("--reuse-port needs at least 1 process")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        importlib.import_module(f"{args.impl}.web")
    except ModuleNotFoundError as e:
        if e.name is None or e.name.partition(".")[0] != args.impl:
            raise
        print(f"--impl {args.impl}: {args.impl} is not installed; install it with: "
              f"{INSTALL[args.impl]}", file=sys.stderr)  # fmt: skip
        return 1
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    if args.impl == "minitornado" and (args.trace or trace.enabled):
        # (Again, with MINITORNADO_TRACE=1: this file's on_first_signal, step S1, exists now.)
        trace.enable()
    elif args.impl == "tornado" and (args.trace or trace.enabled):
        trace.disable()
        print("--trace: the trace is minitornado's own (it watches minitornado's code, not "
              "Tornado's); "
              "serving without it", file=sys.stderr)  # fmt: skip
    try:
        if args.processes is not None:
            start_processes(make_app(args.impl), args)
        elif args.reuse_port is not None:
            start_reuse_port(make_app(args.impl), args)
        else:
            STARTERS[args.start](make_app(args.impl), args)
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        print(f"port {args.port} on {args.address} is already in use (an earlier demo still "
              "running?): pick another with --port N, or --port 0 for a free one",
              file=sys.stderr)  # fmt: skip
        return 1
    print("Stopped.\n", end="", flush=True)  # one write: with --processes, N+1 processes print
    return 0


if __name__ == "__main__":
    sys.exit(main())
