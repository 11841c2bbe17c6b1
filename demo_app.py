"""The demo: one small web app that shows each point of the study, on minitornado or Tornado.

    python demo_app.py                   serves http://127.0.0.1:8000/ (GET / lists the routes)
    python demo_app.py --trace           the same, printing each numbered step as it happens
    python demo_app.py --impl tornado    the same file on real Tornado

Flags: ``--port`` (8000; 0 picks a free port), ``--address`` (127.0.0.1), ``--impl
minitornado|tornado``, ``--start run|ioloop|asyncio`` (how the loop is run, see the three
``start_*`` functions), ``--trace`` (also ``MINITORNADO_TRACE=1``), ``--grace SECONDS`` (5).

The first line on stdout is always ``Listening on http://ADDRESS:PORT/ (impl=..., start=...)``.
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
import importlib
import logging
import math
import signal
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
    server = app.listen(args.port, args.address)
    # Both implementations keep the listening sockets in server._sockets (fd -> socket).
    port = next(iter(server._sockets.values())).getsockname()[1]
    host = f"[{args.address}]" if ":" in args.address else args.address
    print(f"Listening on http://{host}:{port}/ (impl={args.impl}, start={args.start})", flush=True)
    return server


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
    return parser.parse_args(argv)


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
    STARTERS[args.start](make_app(args.impl), args)
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
