"""The study-path trace: each numbered step, logged as it happens on a running server.

Mirrors: nothing in Tornado (ours alone: Tornado has no such hooks).

Turn it on with ``trace.enable()``, with ``MINITORNADO_TRACE=1`` in the environment (read
once, when minitornado is first imported, so it works for any app), or with
``demo_app.py --trace``. Each line goes to the ``minitornado.study.trace`` logger at INFO, which
``enable()`` gives a handler of its own writing to stderr. One line (shown on two here)::

    [minitornado] step 4   bind_sockets  (tornado/netutil.py::bind_sockets)
                  bound 127.0.0.1:8000 fd=6 backlog=128 (non-blocking, listening)

The number is the step's number in the package docstring (``minitornado/__init__.py``),
the README and ``minitornado.study.tour``; the parenthesis names the Tornado definition the step
mirrors; the rest are the values of this run. Per connection and request the lines carry
the connection's ``fd=N``.

How the hooks cost nothing when the trace is off: each hook in the other modules is written
``if trace.enabled: trace.step(...)``. With the trace off that is one attribute lookup and
one test of a bool; nothing is computed, formatted or passed to ``logging``. The hooks sit
where things happen once per start-up, per connection, per request or per h11 event, never
per byte. ``enabled`` is a plain module global so that this check stays that cheap: do not
set it by hand, call ``enable()`` / ``disable()``.

Kept / Left out: nothing to keep from Tornado. The steps, with where they are reported:

    1-3   web.py, httpserver.py, tcpserver.py        the constructors and listen() calls
    4, 6  netutil.py                                 each bound socket, each accept handler
    5     tcpserver.py                               each socket handed to add_accept_handler
    7, 8  ioloop.py                                  every add_handler (listeners, and each
                                                     connection's IOStream on its first read)
    9     ioloop.py, via announce_when_running()     once per loop: who runs it
    10    netutil.py (the accept handler)            each accepted connection, per wake-up
    11    tcpserver.py                               the IOStream made for it
    12    httpserver.py                              the HTTP1ServerConnection made for it
    13    http1connection.py                         its request loop starting
    14    http1connection.py                         h11's Request and EndOfMessage events
    15    web.py                                     the route matched
    16    web.py                                     the handler method called
    17    http1connection.py                         status line written; response finished
    S1, S6 demo_app.py (the app's own code)          the signal; the loop stopping
    S2-S5 tcpserver.py, httpserver.py                HTTPServer.shutdown()

Study path: all of it, as a log.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sys
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, TextIO

# The logger every trace line goes to. Not a child of the three in minitornado/log.py: an app
# that configures those does not get the trace unless it asks for it.
trace_log = logging.getLogger("minitornado.study.trace")

# Read by every hook: ``if trace.enabled:``. Only enable() and disable() change it.
enabled = False

# Each step: (its name, the Tornado definition it mirrors), as minitornado.study.tour.STUDY_PATH
# numbers them (tests/test_trace.py checks): 1-17 start-up and one request, S1-S6 shutdown.
STEPS: dict[str, tuple[str, str]] = {
    "1": ("Application.listen", "tornado/web.py::Application.listen"),
    "2": ("HTTPServer", "tornado/httpserver.py::HTTPServer.initialize"),
    "3": ("TCPServer.listen", "tornado/tcpserver.py::TCPServer.listen"),
    "4": ("bind_sockets", "tornado/netutil.py::bind_sockets"),
    "5": ("TCPServer.add_sockets", "tornado/tcpserver.py::TCPServer.add_sockets"),
    "6": ("add_accept_handler", "tornado/netutil.py::add_accept_handler"),
    "7": ("IOLoop.add_handler", "tornado/platform/asyncio.py::BaseAsyncIOLoop.add_handler"),
    "8": (
        "asyncio loop.add_reader",
        "asyncio/selector_events.py::BaseSelectorEventLoop.add_reader",
    ),
    "9": ("the loop runs", "tornado/platform/asyncio.py::BaseAsyncIOLoop.start"),
    "10": ("TCPServer._handle_connection", "tornado/tcpserver.py::TCPServer._handle_connection"),
    "11": ("IOStream", "tornado/iostream.py::IOStream.__init__"),
    "12": ("HTTPServer.handle_stream", "tornado/httpserver.py::HTTPServer.handle_stream"),
    "13": (
        "HTTP1ServerConnection.start_serving",
        "tornado/http1connection.py::HTTP1ServerConnection.start_serving",
    ),
    "14": (
        "HTTP1Connection.read_response",
        "tornado/http1connection.py::HTTP1Connection.read_response",
    ),
    "15": ("Application.find_handler", "tornado/web.py::Application.find_handler"),
    "16": ("RequestHandler._execute", "tornado/web.py::RequestHandler._execute"),
    "17": ("RequestHandler.finish", "tornado/web.py::RequestHandler.finish"),
    "S1": ("a signal", "ours alone: the app's loop.add_signal_handler callback"),
    "S2": ("TCPServer.stop", "tornado/tcpserver.py::TCPServer.stop"),
    "S3": ("idle connections close", "ours alone: HTTP1ServerConnection.close_when_idle"),
    "S4": ("in-flight requests finish", "ours alone: HTTP1Connection._serve_as_last"),
    "S5": (
        "the rest cut at the deadline",
        "tornado/httpserver.py::HTTPServer.close_all_connections",
    ),
    "S6": ("the loop stops", "tornado/platform/asyncio.py::BaseAsyncIOLoop.stop"),
}

# The handler enable() installed, so that calling enable() twice does not print twice.
_handler: logging.Handler | None = None


# ---- Switching it on and off ---------------------------------------------------------------


def enable(stream: TextIO | None = None) -> None:
    """Start tracing: every step from now on is logged, and printed to ``stream`` (stderr).

    The ``minitornado.study.trace`` logger gets its own handler and stops propagating, so the
    lines look the same whatever logging the app configured, and are not printed twice.
    """
    global enabled, _handler
    if _handler is not None:
        trace_log.removeHandler(_handler)
    _handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    _handler.setFormatter(logging.Formatter("[minitornado] %(message)s"))
    trace_log.addHandler(_handler)
    trace_log.setLevel(logging.INFO)
    trace_log.propagate = False
    enabled = True


def disable() -> None:
    """Stop tracing, and remove the handler ``enable()`` installed."""
    global enabled, _handler
    enabled = False
    if _handler is not None:
        trace_log.removeHandler(_handler)
        _handler = None
    trace_log.propagate = True


# ---- Writing a line ------------------------------------------------------------------------


def step(number: int | str, detail: str, *args: object) -> None:
    """Log one line of step ``number``; ``detail`` is a %-format of ``args``.

    Call it only under ``if trace.enabled:``: that test is what keeps the hooks free.
    """
    name, mirrors = STEPS[str(number)]
    trace_log.info("step %-3s %s  (%s)  " + detail, number, name, mirrors, *args)


def fd_of(connection: object) -> int:
    """The socket fd behind an HTTP connection object (``-1`` once closed, or unknown)."""
    stream = getattr(connection, "stream", None)
    sock = getattr(stream, "socket", None)
    return sock.fileno() if sock is not None else -1


def address(sockaddr: Any) -> str:
    """``127.0.0.1:8000``, ``[::1]:8000``, or a Unix socket's path."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        host = sockaddr[0]
        return f"[{host}]:{sockaddr[1]}" if ":" in host else f"{host}:{sockaddr[1]}"
    return os.fsdecode(sockaddr) if isinstance(sockaddr, bytes) else str(sockaddr)


@dataclass
class RequestTrace:
    """What one request did, collected for the lines of steps 14 and 17.

    ``HTTP1Connection`` makes one per request when the trace is on, and None otherwise.
    """

    fd: int
    started: float = field(default_factory=time.perf_counter)
    bytes_read: int = 0
    data_events: int = 0
    body_bytes: int = 0
    bytes_written: int = 0
    status: int = 0

    def headers_arrived(self) -> None:
        # The clock starts here, as request.request_time()'s does: not at the end of the
        # previous request, which would count the time a keep-alive connection sat idle.
        self.started = time.perf_counter()

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


# ---- Step 9: the loop is running -----------------------------------------------------------

_announced: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def announce_when_running(loop: asyncio.AbstractEventLoop) -> None:
    """Log step 9 once ``loop`` runs a callback, naming what runs it. Once per loop.

    ``IOLoop.add_handler`` calls this. The line cannot come from ``IOLoop.start()``: under
    ``asyncio.run`` or a plain ``run_forever()`` that is never called, yet the loop serves.
    """
    if loop in _announced:
        return
    _announced.add(loop)
    loop.call_soon(_loop_is_running)


def _loop_is_running() -> None:
    if enabled:
        step(
            9,
            "the loop is running, started by %s: the registered fds are served from now on",
            _who_runs_the_loop(),
        )


def _who_runs_the_loop() -> str:
    """Name the caller of asyncio's ``run_forever``, read from the stack of this callback.

    The stack of a loop callback always runs through ``run_forever``; what called it tells
    ``IOLoop.start()`` from ``asyncio.run()`` from a plain ``loop.run_forever()``.
    """
    frame = inspect.currentframe()
    while frame is not None and frame.f_code.co_name != "run_forever":
        frame = frame.f_back
    if frame is None:
        return "a loop without run_forever (not asyncio's selector loop)"
    callers = []
    caller = frame.f_back
    while caller is not None:
        callers.append((os.path.basename(caller.f_code.co_filename), caller.f_code.co_name))
        caller = caller.f_back
    if ("runners.py", "run") in callers:
        return "asyncio.run() -> run_until_complete() -> run_forever()"
    if callers and callers[0] == ("ioloop.py", "start"):
        return "IOLoop.start() -> run_forever()"
    if callers and callers[0][1] == "run_until_complete":
        return "loop.run_until_complete() -> run_forever()"
    where = f"{callers[0][0]}::{callers[0][1]}" if callers else "the top level"
    return f"loop.run_forever(), called from {where}"


# MINITORNADO_TRACE=1 traces any app, with no change to its code.
if os.environ.get("MINITORNADO_TRACE", "") not in ("", "0"):
    enable()
