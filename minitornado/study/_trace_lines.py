"""What each step of the study path prints: the values, read from the frames the trace sees.

Ours alone: Tornado has no trace. ``minitornado.study.trace`` calls these functions from its
profile hook, as its table ``LINES`` says: each gets the frame of a watched call (its
arguments, or at a return its locals) and the return value, and gives the lines to log.
What no single call shows (bytes fed to h11, Data events, bytes written, elapsed time, what
a shutdown did to each connection) is kept here, in weak dictionaries keyed by the connection
or the server, so the trace never keeps one alive.

Study path: all of it; the functions come in its order.
"""

from __future__ import annotations

import inspect
import logging
import os
import signal
import threading
import time
import weakref
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

import h11

from minitornado import process
from minitornado.http1connection import HTTP1Connection
from minitornado.ioloop import IOLoop
from minitornado.iostream import SSLIOStream
from minitornado.study.tour import STUDY_PATH

# The logger every trace line goes to. Not a child of the three in minitornado/log.py: an app
# that configures those does not get the trace unless it asks for it.
trace_log = logging.getLogger("minitornado.study.trace")

_STEPS = {s.number: s for s in STUDY_PATH}


def step(number: str, line: str) -> None:
    """Log one line of step ``number``: its title, the Tornado definition, then ``line``.

    In a child forked by ``fork_processes`` the line starts with ``[child T pid P]``: the
    children's lines and the parent's go to one stderr, interleaved.
    """
    found = _STEPS[number]
    mirrors = found.tornado or "ours alone"
    task = process.task_id()
    child = "" if task is None else f"[child {task} pid {os.getpid()}] "
    trace_log.info("%sstep %-3s %s  (%s)  %s", child, number, found.title, mirrors, line)


# ---- Values, read from frames --------------------------------------------------------------


def _args(frame: FrameType) -> dict[str, Any]:
    return frame.f_locals


def _fd(obj: Any) -> int:
    """The fd of a socket, an IOStream or a connection (its stream), even once closed."""
    if isinstance(obj, int):
        return obj
    stream = getattr(obj, "stream", obj)
    if stream in _stream_fds:
        return _stream_fds[stream]
    sock = getattr(stream, "socket", stream)
    return sock.fileno() if hasattr(sock, "fileno") else -1


def address(sockaddr: Any) -> str:
    """``127.0.0.1:8000``, ``[::1]:8000``, or a Unix socket's path."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        host = sockaddr[0]
        return f"[{host}]:{sockaddr[1]}" if ":" in host else f"{host}:{sockaddr[1]}"
    return os.fsdecode(sockaddr) if isinstance(sockaddr, bytes) else str(sockaddr)


def _name(function: Any) -> str:
    return str(getattr(function, "__qualname__", repr(function))).replace(".<locals>", "")


# What the tracer keeps, all of it weakly keyed: it never keeps a connection alive.
_stream_fds: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_announced: weakref.WeakSet[Any] = weakref.WeakSet()  # asyncio loops step 9 was logged for
_wake_up = threading.local()  # .accepted: connections accepted by the running accept_handler


@dataclass
class _Request:
    """What one request did, for the lines of steps 14 and 17."""

    fd: int
    line: str = ""  # "GET /path", once h11 has parsed it
    headers_at: float = field(default_factory=time.perf_counter)
    fed: int = 0  # bytes given to h11
    data_events: int = 0
    written: int = 0  # bytes given to the stream
    status: int = 0


_requests: weakref.WeakKeyDictionary[Any, _Request] = weakref.WeakKeyDictionary()
_by_parser: weakref.WeakKeyDictionary[Any, _Request] = weakref.WeakKeyDictionary()
_by_stream: weakref.WeakKeyDictionary[Any, _Request] = weakref.WeakKeyDictionary()


@dataclass
class _Drain:
    """One ``HTTPServer.shutdown()``: what steps S3 and S4 did, logged once they are done."""

    timeout: float
    idle: list[int] = field(default_factory=list)  # fds closed at once
    busy: list[int] = field(default_factory=list)  # fds serving their last request
    reported: bool = False


_drains: weakref.WeakKeyDictionary[Any, _Drain] = weakref.WeakKeyDictionary()
_server_of: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


# ---- Start-up: steps 1-9 -------------------------------------------------------------------


def listen(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    return [f"port={a['port']} address={a['address']!r}: an HTTPServer (step 2), then its "
            "listen() (3)"]  # fmt: skip


def http_server(frame: FrameType, _: Any) -> list[str]:
    server = _args(frame)["self"]
    params = server.conn_params
    return [f"request_callback={type(server.request_callback).__name__} "
            f"no_keep_alive={params.no_keep_alive} xheaders={server.xheaders} "
            f"idle timeout {params.header_timeout}s; no socket yet"]  # fmt: skip


def tcp_listen(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    return [f"port={a['port']} address={a['address']!r} backlog={a['backlog']}: "
            "bind_sockets (4), then add_sockets (5)"]  # fmt: skip


def bound(frame: FrameType, sockets: Any) -> list[str]:
    backlog = _args(frame)["backlog"]
    return [f"bound {address(sock.getsockname())} fd={sock.fileno()} backlog={backlog} "
            "(non-blocking, listening)" for sock in sockets or ()]  # fmt: skip


def add_sockets(frame: FrameType, _: Any) -> list[str]:
    sockets = _args(frame)["sockets"]
    if not isinstance(sockets, (list, tuple)):  # an iterator: reading it would consume it
        return [f"sockets from a {type(sockets).__name__}: each to add_accept_handler (6)"]
    return [f"fd={sock.fileno()}: add_accept_handler(sock, self._handle_connection) (6)"
            for sock in sockets]  # fmt: skip


def accept_handler_added(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    batch = frame.f_globals.get("_DEFAULT_BACKLOG", "?")
    return [f"fd={_fd(a['sock'])}: accept_handler on the IOLoop current now, calling "
            f"{_name(a['callback'])}; up to {batch} accepts per wake-up"]  # fmt: skip


def add_handler(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    events = a["events"]
    kinds = [name for name, bit in (("READ", 0x001), ("WRITE", 0x004)) if events & bit]
    return [f"fd={_fd(a['fd'])} events={'|'.join(kinds)} handler={_name(a['handler'])}"]


def add_reader(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    if _name(a["callback"]) != "IOLoop._handle_events":
        return []  # asyncio's own readers (its self-pipe, its streams): not the path
    selector = type(getattr(a["self"], "_selector", None)).__name__
    fd = _fd(a["fd"])
    return [f"loop.add_reader({fd}, IOLoop._handle_events): the {selector} now watches fd {fd}"]


def announce_when_running(frame: FrameType, _: Any) -> list[str]:
    # Step 9 cannot be seen in IOLoop.start(): under asyncio.run or a plain run_forever()
    # that is never called, yet the loop serves. So the first add_handler on a loop queues
    # a callback, which logs the line once the loop runs it, with who runs the loop.
    loop = _args(frame)["self"].asyncio_loop
    if loop not in _announced:
        _announced.add(loop)
        loop.call_soon_threadsafe(_loop_is_running, loop)
    return []


def _loop_is_running(loop: Any) -> None:
    if loop in _announced:  # (else the trace was turned off meanwhile: forget() emptied it)
        step("9", "the loop is running, started by "
             f"{_who_runs_the_loop()}: the registered fds are served from now on")  # fmt: skip


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


# ---- One request: steps 10-17 --------------------------------------------------------------


def wake_up_starts(frame: FrameType, _: Any) -> list[str]:
    _wake_up.accepted = 0
    return []


def accepted(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    _wake_up.accepted = getattr(_wake_up, "accepted", 0) + 1
    return [f"fd={a['connection'].fileno()} accepted from {address(a['address'])} "
            f"(#{_wake_up.accepted} of this wake-up)"]  # fmt: skip


def wake_up_ends(frame: FrameType, _: Any) -> list[str]:
    count, _wake_up.accepted = getattr(_wake_up, "accepted", 0), 0
    return [f"this wake-up of fd={_fd(_args(frame)['fd'])} accepted {count} connection(s)"]


def stream_made(frame: FrameType, _: Any) -> list[str]:
    stream = _args(frame)["self"]
    _stream_fds[stream] = fd = stream.socket.fileno()
    joins = (
        "on the loop at once, for the handshake (T3)"
        if isinstance(stream, SSLIOStream)
        else "not on the loop until its first read waits"
    )
    return [f"fd={fd}: {type(stream).__name__}(read_chunk_size={stream.read_chunk_size}, "
            f"max_buffer_size={stream.max_buffer_size}), {joins}"]  # fmt: skip


def handle_stream(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    others = len(getattr(a["self"], "_connections", ()))
    return [f"fd={_fd(a['stream'])}: an HTTP1ServerConnection for {address(a['address'])} "
            f"({others} other connection(s) open)"]  # fmt: skip


def start_serving(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    _server_of[a["self"]] = a["delegate"]  # for the shutdown's lines (S3, S4)
    return [f"fd={_fd(a['self'])}: its request loop starts as a Task of its own"]


def _request_of(conn: HTTP1Connection) -> _Request:
    """The record of ``conn``'s request (one HTTP1Connection per request), made at first sight.

    Its h11 parser and its stream lead back to it, from the calls COUNTERS watch.
    """
    request = _requests.get(conn)
    if request is None:
        _requests[conn] = request = _Request(_fd(conn))
        _by_stream[conn.stream] = request
        for value in vars(conn).values():
            if isinstance(value, h11.Connection):
                _by_parser[value] = request
    return request


def fed_to_h11(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    request = _by_parser.get(a["self"])
    # h11 is fed by an HTTP1Connection method, maybe from its constructor, before anything
    # else of the request was seen: then the caller's "self" is the connection.
    caller = frame.f_back.f_locals.get("self") if frame.f_back is not None else None
    if request is None and isinstance(caller, HTTP1Connection):
        request = _request_of(caller)
    if request is not None:
        request.fed += len(a["data"])
    return []


def h11_event(frame: FrameType, event: Any) -> list[str]:
    request = _by_parser.get(_args(frame)["self"])
    if request is not None and isinstance(event, h11.Data):
        request.data_events += 1
    return []


def written(frame: FrameType, _: Any) -> list[str]:
    request = _by_stream.get(_args(frame)["self"])
    if request is not None:
        request.written += len(_args(frame)["data"])
    return []


def request_parsed(frame: FrameType, value: Any) -> list[str]:
    a = _args(frame)
    if value is None:  # it raised: a malformed request
        return []
    request = _request_of(a["self"])
    start_line = value[0]
    request.line = f"{start_line.method} {start_line.path}"
    request.headers_at = time.perf_counter()  # the clock starts here, as request_time()'s
    received = a.get("received")
    size = f", {len(received)} header bytes" if isinstance(received, bytes) else ""
    return [f"fd={request.fd} h11 Request: {request.line} {start_line.version}{size}"]


def request_read(frame: FrameType, _: Any) -> list[str]:
    conn = _args(frame)["self"]
    request = _requests.get(conn)
    if request is None:
        return []
    return [f"fd={request.fd} request read: {conn._body_size} body bytes in "
            f"{request.data_events} h11 Data event(s); {request.fed} bytes fed to h11"]  # fmt: skip


def routed(frame: FrameType, delegate: Any) -> list[str]:
    request = _args(frame)["request"]
    # A rule's target may be something other than a handler class (a router, a delegate).
    target = getattr(delegate, "handler_class", type(delegate))
    return [f"fd={_fd(request.connection)} {request.method} {request.path} -> "
            f"{target.__name__}, path groups {getattr(delegate, 'path_args', [])!r} "
            f"{getattr(delegate, 'path_kwargs', {})!r}"]  # fmt: skip


_executing: weakref.WeakSet[Any] = weakref.WeakSet()  # handlers whose method is not called yet


def handler_method(frame: FrameType) -> CodeType | None:
    """At ``RequestHandler._execute``'s start: the code of the method it will call (get,
    post...), for the trace to watch; ``method_called`` then logs the call."""
    handler = _args(frame)["self"]
    method = getattr(type(handler), handler.request.method.lower(), None)
    code = getattr(inspect.unwrap(method), "__code__", None) if method is not None else None
    if not isinstance(code, CodeType):
        return None
    _executing.add(handler)
    return code


def method_called(frame: FrameType, _: Any) -> list[str]:
    handler = frame.f_locals.get(frame.f_code.co_varnames[0])
    if handler is None or handler not in _executing:
        return []  # called otherwise than by _execute
    _executing.discard(handler)
    args = ", ".join(repr(a) for a in [*handler.path_args, *handler.path_kwargs.values()])
    kind = "async def: awaited" if frame.f_code.co_flags & inspect.CO_COROUTINE else "plain def"
    return [f"fd={_fd(handler.request.connection)} {type(handler).__name__}."
            f"{frame.f_code.co_name}({args}) ({kind})"]  # fmt: skip


def headers_written(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    request = _requests.get(a["self"])
    if request is None:
        return []
    start_line, headers = a["start_line"], a["headers"]
    request.status = start_line.code
    if a["self"]._chunking_output:
        framing = "chunked"
    elif "Content-Length" in headers:
        framing = f"Content-Length: {headers['Content-Length']}"
    else:
        framing = "no body length: ends with the connection, or none"
    return [f"fd={request.fd} write_headers: HTTP/1.1 {start_line.code} {start_line.reason}, "
            f"{framing}"]  # fmt: skip


def finished(frame: FrameType, _: Any) -> list[str]:
    conn = _args(frame)["self"]
    request = _requests.get(conn)
    if request is None:
        return []
    then = "closes" if conn._disconnect_on_finish else "waits for the next request"
    ms = (time.perf_counter() - request.headers_at) * 1000.0
    return [f"fd={request.fd} finished: {request.status}, {request.written} bytes written, "
            f"{ms:.2f} ms after the headers arrived; the connection {then}"]  # fmt: skip


# ---- The graceful shutdown: S1-S6 ----------------------------------------------------------


def first_signal(frame: FrameType, _: Any) -> list[str]:
    sig = _args(frame)["sig"]
    if signal.getsignal(sig) == signal.SIG_DFL:  # the first one put the default action back
        return [f"{sig.name} again: on_first_signal lets it kill the process"]
    return [f"{sig.name}: on_first_signal starts the graceful shutdown"]


def worker_signal(frame: FrameType, _: Any) -> list[str]:
    # demo_app.py's handler in each worker process: its "first" is the time of the first one.
    a = _args(frame)
    sig, first = a["sig"], a.get("first")
    if first is None:
        return [f"{sig.name}: this worker starts the graceful shutdown"]
    after = time.monotonic() - first
    if after < frame.f_globals.get("SAME_SIGNAL_WITHIN", 0.5):
        return [f"{sig.name} again after {after:.2f}s: the same Ctrl-C (from the terminal and "
                "from the parent), ignored"]  # fmt: skip
    return [f"{sig.name} again after {after:.2f}s: it kills this worker at once"]


def shutdown_starts(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    server, timeout = a["self"], a["timeout"]
    _drains[server] = _Drain(timeout)
    open_now = len(getattr(server, "_connections", ()))
    return [f"HTTPServer.shutdown(timeout={timeout}): {open_now} connection(s) open; "
            "stop() first"]  # fmt: skip


def stop(frame: FrameType, _: Any) -> list[str]:
    server = _args(frame)["self"]
    if server._stopped:
        return []  # stop() is idempotent: a second call does nothing
    return [f"listening fds {sorted(server._sockets)} unregistered and closed: new clients "
            "are refused"]  # fmt: skip


def closed_when_idle(frame: FrameType, idle: Any) -> list[str]:
    conn = _args(frame)["self"]
    drain = _drains.get(_server_of.get(conn))
    if drain is None or drain.reported:  # called by someone other than shutdown()
        return [f"fd={_fd(conn)} " + ("idle: closed" if idle else "busy: its request is its last")]
    (drain.idle if idle else drain.busy).append(_fd(conn))
    return []


def drain_told(frame: FrameType, _: Any) -> list[str]:
    # shutdown() stops for the first time (to wait, or at its end): every connection has
    # been told by then.
    _log_drain(_args(frame)["self"])
    return []


def _log_drain(server: Any) -> None:
    """Log S3 and S4 for ``server``'s shutdown, once all its connections have been told."""
    drain = _drains.get(server)
    if drain is None or drain.reported:
        return
    drain.reported = True
    idle = ": " + ", ".join(f"fd={fd}" for fd in drain.idle) if drain.idle else ""
    busy = ": " + ", ".join(f"fd={fd}" for fd in drain.busy) if drain.busy else ""
    step("S3", f"{len(drain.idle)} idle connection(s) closed at once{idle}")
    step("S4", f"{len(drain.busy)} busy connection(s) serve their request in progress, then "
         f"close; shutdown() waits up to {drain.timeout}s for them{busy}")  # fmt: skip


def serve_as_last(frame: FrameType, _: Any) -> list[str]:
    # Called by close_when_idle (its line comes with the shutdown's S4), or by the request
    # loop, for a request that began after close_when_idle.
    if frame.f_back is not None and frame.f_back.f_code.co_name == "close_when_idle":
        return []
    request = _requests.get(_args(frame)["self"])
    fd = request.fd if request is not None else _fd(_args(frame)["self"])
    return [f"fd={fd} a request that began during the shutdown: the connection's last"]


def close_all(frame: FrameType, _: Any) -> list[str]:
    server = _args(frame)["self"]
    _log_drain(server)  # (if shutdown() did not stop before calling this)
    left = len(server._connections)
    return [f"{left} connection(s) still open: closed now{', their requests cut' if left else ''}"]


def loop_stops(frame: FrameType, _: Any) -> list[str]:
    loop = _args(frame)["self"]
    if loop not in _announced:
        return []  # a loop the trace did not see serve, or saw stop already
    _announced.discard(loop)  # asyncio.run stops it again for its clean-up: that is not S6
    caller = frame.f_back
    name = caller.f_code.co_name if caller is not None else ""
    if name == "stop" and caller is not None and "ioloop" in caller.f_globals.get("__name__", ""):
        return ["IOLoop.stop(): IOLoop.start() returns after this turn of the loop"]
    if name == "_run_until_complete_cb":
        return ["run_until_complete()'s future is done (under asyncio.run: main() returned): "
                "run_forever() returns after this turn of the loop"]  # fmt: skip
    where = f"{os.path.basename(caller.f_code.co_filename)}::{name}" if caller else "?"
    return [f"loop.stop(), called from {where}: run_forever() returns after this turn of the loop"]


# ---- The other way of starting, bind() + start(n): P1-P5 -----------------------------------


def bind(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    return [f"port={a['port']} address={a['address']!r} reuse_port={a['reuse_port']}: "
            "bind_sockets (4), and no add_sockets: the sockets wait for start()"]  # fmt: skip


def start(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    n = a["num_processes"]
    fds = ", ".join(f"fd={sock.fileno()}" for sock in a["self"]._pending_sockets)
    if n == 1:
        return [f"num_processes=1: no fork; add_sockets (P4) in this process for {fds}"]
    return [f"num_processes={n} max_restarts={a['max_restarts']}: fork_processes (P3), then "
            f"add_sockets (P4) in each child for {fds}"]  # fmt: skip


def forking(frame: FrameType, _: Any) -> list[str]:
    n = _args(frame)["num_processes"]
    count = n if n is not None and n > 0 else f"{process.cpu_count()} (one per CPU)"
    return [f"parent pid {os.getpid()}: forking {count} children; it waits in here for them "
            "from now on, and never returns"]  # fmt: skip


def forked(frame: FrameType, pid: Any) -> list[str]:
    task = _args(frame)["task"]
    if pid == 0:
        return [f"forked: this is child {task}, pid {os.getpid()}; fork_processes returns "
                f"{task} here"]  # fmt: skip
    return [f"parent pid {os.getpid()}: child {task} is pid {pid}"]


def child_add_sockets(frame: FrameType, _: Any) -> list[str]:
    caller = frame.f_back
    if caller is None or caller.f_code.co_name != "start":
        return []  # from listen() or the app: that is step 5 alone
    fds = ", ".join(f"fd={sock.fileno()}" for sock in _args(frame)["sockets"])
    task = process.task_id()
    where = "this process (no fork)" if task is None else f"child {task}"
    return [f"{fds}, bound by the parent before the fork, on the IOLoop of {where} (6-8)"]


def task_id_asked(frame: FrameType, task: Any) -> list[str]:
    caller = frame.f_back
    if caller is not None and caller.f_globals.get("__name__") == __name__:
        return []  # step() asking, for a line it logs from outside the hook (step 9's)
    return [f"task_id() is {task} in pid {os.getpid()}"]


# ---- HTTPS: the TLS handshake, T1-T6 ------------------------------------------------------


@dataclass
class _Handshake:
    """One TLS connection's handshake, for the lines of T3 to T6."""

    started: float = field(default_factory=time.perf_counter)
    rounds: int = 0
    first_read: bool = False  # T4's line logged
    decrypted: bool = False  # T6's line logged


_handshakes: weakref.WeakKeyDictionary[Any, _Handshake] = weakref.WeakKeyDictionary()


def _handshake_of(stream: Any) -> _Handshake:
    found = _handshakes.get(stream)
    if found is None:  # (the trace was turned on after this stream was made)
        _handshakes[stream] = found = _Handshake()
    return found


def _events(events: int) -> str:
    pairs = (("READ", IOLoop.READ), ("WRITE", IOLoop.WRITE))
    names = [name for name, bit in pairs if events & bit]
    return " and ".join(names) or "nothing"


def ssl_context_built(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    context = a["self"]._ssl_context
    if context is None:
        return []  # a server without ssl_options: plain TCP
    options = a["ssl_options"]
    given = (
        f"ssl_options {{{', '.join(sorted(options))}}}"
        if isinstance(options, dict)
        else "an ssl.SSLContext, taken as it is"
    )
    return [f"{given} -> SSLContext({context.protocol.name}, verify_mode="
            f"{context.verify_mode.name}), built once for every connection (Tornado builds "
            "one per connection, from the dict)"]  # fmt: skip


def socket_wrapped(frame: FrameType, wrapped: Any) -> list[str]:
    kwargs = _args(frame).get("kwargs", {})
    on_connect = kwargs.get("do_handshake_on_connect", True)
    return [f"fd={wrapped.fileno()} wrapped: SSLSocket(server_side={wrapped.server_side}, "
            f"do_handshake_on_connect={on_connect}): no TLS byte has moved yet"]  # fmt: skip


def ssl_stream_made(frame: FrameType, _: Any) -> list[str]:
    stream = _args(frame)["self"]
    _handshakes[stream] = _Handshake()
    wants = _events(stream._handshake_wants)
    return [f"fd={_fd(stream)}: SSLIOStream, on the loop at once for {wants} "
            "(add_handler): the client speaks first, with its ClientHello"]  # fmt: skip


def https_context(frame: FrameType, _: Any) -> list[str]:
    a = _args(frame)
    if not isinstance(a["stream"], SSLIOStream):
        return []
    return [f"fd={_fd(a['stream'])} protocol={a['self'].protocol}: every request of this "
            "connection says so"]  # fmt: skip


def first_read_waits(frame: FrameType, count: Any) -> list[str]:
    stream = _args(frame)["self"]
    handshake = _handshake_of(stream)
    if count or not stream._handshake_wants or handshake.first_read:
        return []
    handshake.first_read = True
    return [f"fd={_fd(stream)} the first read finds the handshake running: 0 bytes, no "
            "recv(); the read waits for the loop"]  # fmt: skip


def handshake_round(frame: FrameType, _: Any) -> list[str]:
    stream = _args(frame)["self"]
    handshake = _handshake_of(stream)
    handshake.rounds += 1
    fd, n = _fd(stream), handshake.rounds
    caller = frame.f_back
    woken = "?"
    if caller is not None and caller.f_back is not None:
        events = caller.f_back.f_locals.get("events")
        woken = (f"woken by {_events(events)}" if isinstance(events, int)
                 else f"from {caller.f_back.f_code.co_name}()")  # fmt: skip
    head = f"fd={fd} round {n} ({woken}): do_handshake()"
    if stream.closed():
        return [f"{head} failed: {stream.error!r}; the stream is closed"]
    if stream._handshake_wants == IOLoop.READ:
        return [f"{head} raised SSLWantReadError: the client's next flight is not all here; "
                "the loop waits for READ"]  # fmt: skip
    if stream._handshake_wants == IOLoop.WRITE:
        return [f"{head} raised SSLWantWriteError: our next flight does not fit the kernel's "
                "send buffer; the loop waits for WRITE"]  # fmt: skip
    ms = (time.perf_counter() - handshake.started) * 1000.0
    sock = stream.socket
    return [f"{head} returned: handshake done, {sock.version()} {sock.cipher()[0]}, {n} "
            f"round(s), {ms:.2f} ms after the stream was made"]  # fmt: skip


def decrypted(frame: FrameType, count: Any) -> list[str]:
    stream = _args(frame)["self"]
    if not isinstance(stream, SSLIOStream) or not count:
        return []
    handshake = _handshake_of(stream)
    if handshake.decrypted:
        return []
    handshake.decrypted = True
    return [f"fd={_fd(stream)} recv() returned {count} bytes, decrypted by OpenSSL: the "
            "request's first bytes; from here on, step 14 as over TCP"]  # fmt: skip


def forget() -> None:
    """Drop everything kept about loops, connections and requests (the trace is off)."""
    for kept in (_stream_fds, _announced, _requests, _by_parser, _by_stream, _drains,
                 _server_of, _executing, _handshakes):  # fmt: skip
        kept.clear()
