"""The study-path trace: each numbered step, logged with this run's values as it happens.

Mirrors: nothing in Tornado (ours alone: Tornado has no trace).

Turn it on with ``trace.enable()``, with ``demo_app.py --trace``, or with ``MINITORNADO_TRACE=1``
in the environment (``minitornado/__init__.py`` reads it when minitornado is first imported,
so it traces any app). Each line goes to the ``minitornado.study.trace`` logger at INFO, which
``enable()`` gives a handler of its own writing to stderr. One line (shown on two here)::

    [minitornado] step 4   bind_sockets  (tornado/netutil.py::bind_sockets)
                  bound 127.0.0.1:8000 fd=6 backlog=128 (non-blocking, listening)

The number is the step's number in ``minitornado.study.tour.STUDY_PATH`` (and so in the
package docstring and the README); the title and the parenthesis, the Tornado definition the
step mirrors, come from that table too; the rest are the values of this run. The lines of a
connection or a request carry its socket's ``fd=N``.

How it watches, from outside: no serving module imports this one (tests/test_trace.py checks
their imports). ``enable()`` installs a profile hook, ``sys.setprofile`` for the calling thread
and ``threading.setprofile`` for threads started later; Python calls it on every call and
return of a function. ``LINES`` below says, for each step, which definitions to watch (by
reference, turned into code objects by ``minitornado.study._refs``), on call or on return, and
which function of ``minitornado.study._trace_lines`` makes the lines from their arguments,
locals or return value. What no single call shows (bytes fed to h11, Data events, bytes
written, elapsed time) that module counts per request, from the calls in ``COUNTERS``.
``disable()`` removes the hook, and forgets what was counted.

The cost: with the trace off, nothing is installed, so nothing is paid. With it on, every
Python call of the process goes through the hook, a Python function: fine for reading, not
for measuring speed. The hook replaces any other profile function (``cProfile``'s), and
does not reach a thread that was already running when ``enable()`` was called.

Kept / Left out: nothing to keep from Tornado.

Study path: all of it, as a log.
"""

from __future__ import annotations

import dis
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, NamedTuple, TextIO

from minitornado.study import _trace_lines as show
from minitornado.study._refs import code_of
from minitornado.study._trace_lines import step, trace_log
from minitornado.study.tour import STUDY_PATH

__all__ = ["COUNTERS", "LINES", "Watch", "disable", "enable", "enabled", "step", "trace_log"]

# True between enable() and disable(); demo_app.py reads it.
enabled = False

# The handler enable() installed, so that calling enable() twice does not print twice.
_handler: logging.Handler | None = None


class Watch(NamedTuple):
    """One definition to watch, and what to print when it is called or returns."""

    ref: str  # path::qualname, as in STUDY_PATH ("" for a handler's method, see step 16)
    # "call": on entry (a coroutine's first entry only); "return": on exit (a coroutine's
    # every suspension too, which is how S3 sees shutdown() stop to wait)
    event: str
    show: Callable[[FrameType, Any], list[str]]  # (frame, return value) -> the lines


# ---- Switching it on and off ---------------------------------------------------------------


def enable(stream: TextIO | None = None) -> None:
    """Start tracing: from now on every step is logged, and printed to ``stream`` (stderr).

    The ``minitornado.study.trace`` logger gets its own handler and stops propagating, so the
    lines look the same whatever logging the app configured, and are not printed twice.
    Calling it again replaces the handler, and looks again for the definitions of an app
    file (``demo_app.py``) that was not loaded yet the first time.
    """
    global enabled, _handler
    if _handler is not None:
        trace_log.removeHandler(_handler)
    _handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    _handler.setFormatter(logging.Formatter("[minitornado] %(message)s"))
    trace_log.addHandler(_handler)
    trace_log.setLevel(logging.INFO)
    trace_log.propagate = False
    _watch_the_study_path()
    sys.setprofile(_profile)
    threading.setprofile(_profile)
    enabled = True


def disable() -> None:
    """Stop tracing: remove the profile hook and the handler ``enable()`` installed."""
    global enabled, _handler
    enabled = False
    if sys.getprofile() is _profile:
        sys.setprofile(None)
    threading.setprofile(None)
    if _handler is not None:
        trace_log.removeHandler(_handler)
        _handler = None
    trace_log.propagate = True
    show.forget()


# ---- The hook ------------------------------------------------------------------------------

# id(code) -> (code, [(step number or "", watch)]). Keyed by id, which is cheap to hash (a
# code object hashes its whole bytecode); the code is kept alive here, so its id stays its own.
_watched: dict[int, tuple[CodeType, list[tuple[str, Watch]]]] = {}
_broken: set[str] = set()  # refs whose values could not be read, reported once


def _watch_the_study_path() -> None:
    _watched.clear()
    _broken.clear()
    for number, watches in [*LINES.items(), *(("", (w,)) for w in COUNTERS)]:
        for watch in watches:
            try:
                code = code_of(watch.ref)
            except (LookupError, ImportError) as e:
                trace_log.warning("trace: cannot watch %s (%s): lines missing", watch.ref, e)
                continue
            if code is not None:  # None: an app file that is not loaded
                _watch_code(code, number, watch)


def _watch_code(code: CodeType, number: str, watch: Watch) -> None:
    _watched.setdefault(id(code), (code, []))[1].append((number, watch))


def _profile(frame: FrameType, event: str, arg: Any) -> None:
    # Called by Python on every call and return ("c_call" and the like are C functions, none
    # of which is watched). This is the only place where watches run.
    if event == "call" or event == "return":
        found = _watched.get(id(frame.f_code))
        if found is not None:
            for number, watch in found[1]:
                if watch.event == event and (event == "return" or _first_entry(frame)):
                    _run(number, watch, frame, arg)


def _first_entry(frame: FrameType) -> bool:
    # Python reports a coroutine's every resumption as a "call"; only the first one counts.
    code = frame.f_code
    if not code.co_flags & (inspect.CO_COROUTINE | inspect.CO_GENERATOR):
        return True
    return frame.f_lasti <= _start_offset(code)


_start_offsets: dict[int, int] = {}


def _start_offset(code: CodeType) -> int:
    # 3.11+: the offset of the first RESUME, where a new coroutine's frame stands when it is
    # first entered. 3.10 has no RESUME, and the frame of a new coroutine has f_lasti -1.
    if id(code) not in _start_offsets:
        resumes = (i.offset for i in dis.get_instructions(code) if i.opname == "RESUME")
        _start_offsets[id(code)] = next(resumes, -1)
    return _start_offsets[id(code)]


def _run(number: str, watch: Watch, frame: FrameType, value: Any) -> None:
    # An exception must not escape into the code being traced: the hook would be removed
    # and the server would see an error of ours. A definition that changed shape (a renamed
    # local, say) is reported once and then skipped.
    if watch.ref in _broken:
        return
    try:
        lines = watch.show(frame, value)
    except Exception as e:
        _broken.add(watch.ref)
        trace_log.warning("trace: %s: cannot read its values (%r): lines missing", watch.ref, e)
        return
    for line in lines:
        step(number, line)


# ---- The table: for each step of STUDY_PATH, what to watch and print -----------------------


def _ours(number: str) -> str:
    """The step's own definition, as STUDY_PATH names it: the two cannot drift apart."""
    return next(step.ours for step in STUDY_PATH if step.number == number)


def _watch_the_handler_method(frame: FrameType, _: Any) -> list[str]:
    # Step 16's line is the call of the handler's method (get, post...), the app's own code,
    # known only now: watch it from here on, to log the path groups it receives, decoded.
    code = show.handler_method(frame)
    if code is not None and id(code) not in _watched:
        _watch_code(code, "16", Watch("", "call", show.method_called))
    return []


_H1 = "minitornado/http1connection.py::"
_ACCEPT = "minitornado/netutil.py::add_accept_handler.<locals>.accept_handler"
# The S1 of each process that demo_app.py --processes or --reuse-port runs.
_WORKER_SIGNAL = "demo_app.py::catch_worker_signals.<locals>.on_worker_signal"

# Step number -> its watches, in STUDY_PATH's order (tests/test_trace.py checks that every step
# has some, and that there is no other). The lines of a step come from its own definition
# where that shows the values; else from a definition it calls, or that calls it.
LINES: dict[str, tuple[Watch, ...]] = {
    "1": (Watch(_ours("1"), "call", show.listen),),
    "2": (Watch(_ours("2"), "return", show.http_server),),
    "3": (Watch(_ours("3"), "call", show.tcp_listen),),
    "4": (Watch(_ours("4"), "return", show.bound),),
    "5": (Watch(_ours("5"), "call", show.add_sockets),),
    "6": (Watch(_ours("6"), "call", show.accept_handler_added),),
    "7": (Watch(_ours("7"), "call", show.add_handler),),
    "8": (Watch(_ours("8"), "call", show.add_reader),),
    # The first add_handler on a loop queues a callback, which logs 9 when the loop runs it.
    "9": (Watch(_ours("7"), "call", show.announce_when_running),),
    "10": (Watch(_ACCEPT, "call", show.wake_up_starts), Watch(_ours("10"), "call", show.accepted),
           Watch(_ACCEPT, "return", show.wake_up_ends)),
    "11": (Watch(_ours("11"), "return", show.stream_made),),
    "12": (Watch(_ours("12"), "call", show.handle_stream),),
    "13": (Watch(_ours("13"), "call", show.start_serving),),
    "14": (Watch(_H1 + "HTTP1Connection._on_request", "return", show.request_parsed),
           Watch(_H1 + "HTTP1Connection._on_end_of_message", "call", show.request_read)),
    "15": (Watch(_ours("15"), "return", show.routed),),
    "16": (Watch(_ours("16"), "call", _watch_the_handler_method),),
    "17": (Watch(_H1 + "HTTP1Connection.write_headers", "return", show.headers_written),
           Watch(_H1 + "HTTP1Connection._finish_request", "call", show.finished)),
    "S1": (Watch(_ours("S1"), "call", show.first_signal),
           Watch(_WORKER_SIGNAL, "call", show.worker_signal)),
    "S2": (Watch("minitornado/httpserver.py::HTTPServer.shutdown", "call", show.shutdown_starts),
           Watch(_ours("S2"), "call", show.stop)),
    "S3": (Watch(_ours("S3"), "return", show.closed_when_idle),
           Watch("minitornado/httpserver.py::HTTPServer.shutdown", "return", show.drain_told)),
    "S4": (Watch(_ours("S4"), "call", show.serve_as_last),),
    "S5": (Watch(_ours("S5"), "call", show.close_all),),
    # IOLoop.stop() calls this; under asyncio.run it is all that runs.
    "S6": (Watch("asyncio/base_events.py::BaseEventLoop.stop", "call", show.loop_stops),),
    "P1": (Watch(_ours("P1"), "call", show.bind),),
    "P2": (Watch(_ours("P2"), "call", show.start),),
    "P3": (Watch(_ours("P3"), "call", show.forking),
           Watch("minitornado/process.py::_Parent._fork", "return", show.forked)),
    # Step 5's own definition again: this watch logs only the call start() makes.
    "P4": (Watch(_ours("P4"), "call", show.child_add_sockets),),
    "P5": (Watch(_ours("P5"), "return", show.task_id_asked),),
    "T1": (Watch(_ours("T1"), "return", show.ssl_context_built),),
    "T2": (Watch(_ours("T2"), "return", show.socket_wrapped),),
    "T3": (Watch(_ours("T3"), "return", show.ssl_stream_made),),
    "T4": (Watch(_ours("T4"), "return", show.https_context),
           Watch("minitornado/iostream.py::SSLIOStream._read_to_buffer", "return",
                 show.first_read_waits)),
    "T5": (Watch(_ours("T5"), "return", show.handshake_round),),
    "T6": (Watch(_ours("T6"), "return", show.decrypted),),
}  # fmt: skip

# The calls the per-request counts come from; they print nothing themselves.
COUNTERS: tuple[Watch, ...] = (
    Watch("h11/_connection.py::Connection.receive_data", "call", show.fed_to_h11),
    Watch("h11/_connection.py::Connection.next_event", "return", show.h11_event),
    Watch("minitornado/iostream.py::IOStream.write", "call", show.written),
)
