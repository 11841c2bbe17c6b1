"""The study path, step by step: our code, and where Tornado does the same.

    python -m minitornado.study.tour                  every step, in the terminal
    python -m minitornado.study.tour --step 9         one step (1 to 17, S1-S6, P1-P5, T1-T6)
    python -m minitornado.study.tour --tornado        Tornado's source after ours, each time
    python -m minitornado.study.tour --side-by-side   ours and Tornado's in two columns
    python -m minitornado.study.tour --html tour.html     one page, ours and Tornado's side by side

``--side-by-side`` fits the terminal's width (``--width N`` sets another, 60 at the least)
and wraps long lines within each column. ``--step`` combines with the others. Code that is
the counterpart of two steps is shown at the first and named at the second.

Ours alone: Tornado has no tour. ``STUDY_PATH`` below is the one place the study path is
written down. The package docstring and the README print it (tests/test_tour.py checks that
they say the same), and tests/test_tour.py records the calls of a real ``app.listen(0)``,
requests and a graceful shutdown, of a ``bind()`` + ``start(2)`` in a process of its own
(it forks), and of HTTPS requests, to check that they happen in this order, so neither can
drift from the code.
``minitornado.study.trace`` logs the same steps as they happen.

Each step names our definition and Tornado's as ``path::qualname`` references, the form of
the ``# Tornado:`` markers. Our source is read live with ``inspect`` (it is the code that
runs); Tornado's is parsed from the installed Tornado, when there is one.

>>> STUDY_PATH[0].ours
'minitornado/web.py::Application.listen'
>>> [step.number for step in STUDY_PATH if step.phase == "start-up"]
['1', '2', '3', '4', '5', '6', '7', '8', '9']
>>> [step.number for step in STUDY_PATH if step.phase == "shutdown"]
['S1', 'S2', 'S3', 'S4', 'S5', 'S6']
>>> [step.number for step in STUDY_PATH if step.phase == "processes"]
['P1', 'P2', 'P3', 'P4', 'P5']
>>> [step.number for step in STUDY_PATH if step.phase == "tls"]
['T1', 'T2', 'T3', 'T4', 'T5', 'T6']

Study path: all of it.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

from minitornado.study._tour_html import render_html
from minitornado.study._tour_source import (
    NOT_INSTALLED,
    Column,
    our_source,
    split_ref,
    tornado_source,
    tornado_version,
)
from minitornado.study._tour_text import MIN_WIDTH, phase_banner, render_step


@dataclass(frozen=True)
class Step:
    """One step of the study path: what happens, in which of our definitions and Tornado's.

    ``ours`` and ``tornado`` are the step's own definitions, the ones the listings name.
    ``before`` and ``then`` are (ours, Tornado's) pairs the step also goes through, in call
    order, before and after its own; the tour shows them all. A ``tornado`` reference into
    ``asyncio/`` means Tornado runs that same standard-library code; ``caller`` then names
    Tornado's definition that calls it. An empty ``tornado`` means Tornado has no
    counterpart: the step is ours alone.
    """

    number: str  # "1" to "17"; "S1" to "S6" for the shutdown; "P1" to "P5" for bind + start;
    # "T1" to "T6" for the TLS handshake
    phase: str  # a key of PHASES
    title: str
    ours: str
    tornado: str
    what: str
    before: tuple[tuple[str, str], ...] = ()
    then: tuple[tuple[str, str], ...] = ()
    caller: str = ""

    def pairs(self) -> list[tuple[str, str]]:
        """Every (ours, Tornado's) pair of the step, in call order."""
        return [*self.before, (self.ours, self.tornado), *self.then]


_H1 = "minitornado/http1connection.py::"
_T_H1 = "tornado/http1connection.py::"

STUDY_PATH: tuple[Step, ...] = (
    # ---- start-up: what app.listen(8888) and running the loop do
    Step("1", "start-up", "Application.listen",
         "minitornado/web.py::Application.listen", "tornado/web.py::Application.listen",
         "Builds an HTTPServer around the application and calls its listen(). Nothing is "
         "served yet: that waits for the loop to run."),
    Step("2", "start-up", "HTTPServer(app)",
         "minitornado/httpserver.py::HTTPServer.__init__",
         "tornado/httpserver.py::HTTPServer.initialize",
         "Keeps the application as the request callback and the HTTP/1 connection "
         "parameters. Tornado's HTTPServer is Configurable, so its constructor is "
         "initialize()."),
    Step("3", "start-up", "TCPServer.listen",
         "minitornado/tcpserver.py::TCPServer.listen", "tornado/tcpserver.py::TCPServer.listen",
         "bind_sockets, then add_sockets: the whole of listen()."),
    Step("4", "start-up", "bind_sockets",
         "minitornado/netutil.py::bind_sockets", "tornado/netutil.py::bind_sockets",
         "One non-blocking listening socket per address of the host, all on one port."),
    Step("5", "start-up", "TCPServer.add_sockets",
         "minitornado/tcpserver.py::TCPServer.add_sockets",
         "tornado/tcpserver.py::TCPServer.add_sockets",
         "For each socket: remember it, and put an accept handler on the current IOLoop."),
    Step("6", "start-up", "add_accept_handler",
         "minitornado/netutil.py::add_accept_handler", "tornado/netutil.py::add_accept_handler",
         "Registers accept_handler for READ: on each wake-up it accepts up to 128 "
         "connections. From here on the server is live; TCPServer.start() is never needed."),
    Step("7", "start-up", "IOLoop.add_handler",
         "minitornado/ioloop.py::IOLoop.add_handler",
         "tornado/platform/asyncio.py::BaseAsyncIOLoop.add_handler",
         "Tornado's (fd, events) convention over asyncio: READ becomes add_reader, with "
         "_handle_events as asyncio's callback."),
    Step("8", "start-up", "asyncio loop.add_reader",
         "asyncio/selector_events.py::BaseSelectorEventLoop.add_reader",
         "asyncio/selector_events.py::BaseSelectorEventLoop.add_reader",
         "asyncio's code, not ours: the selector loop registers the fd with epoll (kqueue, "
         "select). Tornado calls this same method from BaseAsyncIOLoop.add_handler.",
         then=(("asyncio/selector_events.py::BaseSelectorEventLoop._add_reader",
                "asyncio/selector_events.py::BaseSelectorEventLoop._add_reader"),),
         caller="tornado/platform/asyncio.py::BaseAsyncIOLoop.add_handler"),
    Step("9", "start-up", "IOLoop.start",
         "minitornado/ioloop.py::IOLoop.start",
         "tornado/platform/asyncio.py::BaseAsyncIOLoop.start",
         "run_forever() and nothing else, so whatever runs the asyncio loop (asyncio.run, "
         "run_forever) serves the app just as well."),
    # ---- one request
    Step("10", "request", "TCPServer._handle_connection",
         "minitornado/tcpserver.py::TCPServer._handle_connection",
         "tornado/tcpserver.py::TCPServer._handle_connection",
         "The listening socket was readable: accept_handler accepted a connection and calls "
         "this, which wraps it in an IOStream and calls handle_stream."),
    Step("11", "request", "IOStream",
         "minitornado/iostream.py::IOStream.__init__", "tornado/iostream.py::IOStream.__init__",
         "A buffered, non-blocking stream on the socket. It joins the IOLoop lazily, on the "
         "first read that has to wait."),
    Step("12", "request", "HTTPServer.handle_stream",
         "minitornado/httpserver.py::HTTPServer.handle_stream",
         "tornado/httpserver.py::HTTPServer.handle_stream",
         "An HTTP1ServerConnection for the stream, told where the client is, starts serving."),
    Step("13", "request", "HTTP1ServerConnection.start_serving",
         _H1 + "HTTP1ServerConnection.start_serving", _T_H1 + "HTTP1ServerConnection.start_serving",
         "The connection's request loop becomes a task of its own: one HTTP1Connection per "
         "request, for as long as keep-alive lasts.",
         then=((_H1 + "HTTP1ServerConnection._server_request_loop",
                _T_H1 + "HTTP1ServerConnection._server_request_loop"),)),
    Step("14", "request", "HTTP1Connection.read_response",
         _H1 + "HTTP1Connection.read_response", _T_H1 + "HTTP1Connection.read_response",
         "Reads one request: bytes from the stream go into h11, and its events (Request, "
         "Data, EndOfMessage) become the delegate's headers_received, data_received, finish.",
         then=((_H1 + "HTTP1Connection._read_message_inner",
                _T_H1 + "HTTP1Connection._read_message_inner"),)),
    Step("15", "request", "Application.find_handler",
         "minitornado/web.py::Application.find_handler", "tornado/web.py::Application.find_handler",
         "With the headers in, the routing delegate builds the HTTPServerRequest and asks "
         "the application for a handler: the first rule whose pattern matches, else a 404.",
         before=(("minitornado/routing.py::_RoutingDelegate.headers_received",
                  "tornado/routing.py::_RoutingDelegate.headers_received"),),
         then=(("minitornado/routing.py::RuleRouter.find_handler",
                "tornado/routing.py::RuleRouter.find_handler"),
               ("minitornado/routing.py::PathMatches.match",
                "tornado/routing.py::PathMatches.match"))),
    Step("16", "request", "RequestHandler._execute",
         "minitornado/web.py::RequestHandler._execute", "tornado/web.py::RequestHandler._execute",
         "Once the body is in, the handler runs as a task of its own: checks, prepare(), "
         "get()/post()/..., then finish(). An exception becomes an error page.",
         before=(("minitornado/web.py::_HandlerDelegate.execute",
                  "tornado/web.py::_HandlerDelegate.execute"),)),
    Step("17", "request", "RequestHandler.finish",
         "minitornado/web.py::RequestHandler.finish", "tornado/web.py::RequestHandler.finish",
         "Etag and Content-Length, then flush() hands the status line, headers and body to "
         "the connection, and HTTP1Connection.finish() lets the request loop go on.",
         then=(("minitornado/web.py::RequestHandler.flush", "tornado/web.py::RequestHandler.flush"),
               (_H1 + "HTTP1Connection.write_headers", _T_H1 + "HTTP1Connection.write_headers"),
               (_H1 + "HTTP1Connection.finish", _T_H1 + "HTTP1Connection.finish"))),
    # ---- the graceful shutdown (ours alone; the steps minitornado.study.trace logs as S1-S6)
    Step("S1", "shutdown", "a signal",
         "demo_app.py::on_first_signal", "",
         "The app's own code (demo_app.py): the first SIGINT or SIGTERM starts the shutdown, "
         "through loop.add_signal_handler, as Tornado's documentation recommends since 6.4; "
         "a second one kills the process."),
    Step("S2", "shutdown", "TCPServer.stop",
         "minitornado/tcpserver.py::TCPServer.stop", "tornado/tcpserver.py::TCPServer.stop",
         "HTTPServer.shutdown() runs S2 to S5. First the listening sockets leave the loop and "
         "close: new clients are refused.",
         before=(("minitornado/httpserver.py::HTTPServer.shutdown", ""),)),
    Step("S3", "shutdown", "idle connections close now",
         _H1 + "HTTP1ServerConnection.close_when_idle", "",
         "A connection waiting for a request of which no byte has arrived closes at once; "
         "any other one is told to serve its request and then close."),
    Step("S4", "shutdown", "requests in progress finish",
         _H1 + "HTTP1Connection.serve_as_last", "",
         "The request in progress is the connection's last: its response says Connection: "
         "close if its headers have not gone out, and shutdown() waits for it."),
    Step("S5", "shutdown", "the rest is cut at the deadline",
         "minitornado/httpserver.py::HTTPServer.close_all_connections",
         "tornado/httpserver.py::HTTPServer.close_all_connections",
         "Whatever is still open when the grace period ends is closed, as Tornado's "
         "close_all_connections() closes everything at once."),
    Step("S6", "shutdown", "the loop stops",
         "minitornado/ioloop.py::IOLoop.stop", "tornado/platform/asyncio.py::BaseAsyncIOLoop.stop",
         "asyncio's loop.stop(): a flag that run_forever() reads once the current turn of the "
         "loop has run. Under asyncio.run nobody calls IOLoop.stop(): once main() returns, "
         "the done callback run_until_complete() put on it calls that same loop.stop().",
         then=(("asyncio/base_events.py::BaseEventLoop.stop",
                "asyncio/base_events.py::BaseEventLoop.stop"),)),
    # ---- the other way of starting: bind() + start(n), which forks (demo_app.py --processes)
    Step("P1", "processes", "TCPServer.bind",
         "minitornado/tcpserver.py::TCPServer.bind", "tornado/tcpserver.py::TCPServer.bind",
         "bind_sockets (step 4) and nothing more: the sockets wait in _pending_sockets, on no "
         "loop, so that the process can still fork. HTTPServer(app) (step 2) came first."),
    Step("P2", "processes", "TCPServer.start",
         "minitornado/tcpserver.py::TCPServer.start", "tornado/tcpserver.py::TCPServer.start",
         "start(n): with n other than 1 (0 or None: one per CPU) it forks first; then, in "
         "each child, add_sockets. The one place start() matters: listen() never needs it."),
    Step("P3", "processes", "fork_processes",
         "minitornado/process.py::fork_processes", "tornado/process.py::fork_processes",
         "The parent forks n children and never returns: it waits for them, restarts one "
         "that fails and, ours alone, passes SIGTERM and SIGINT on. In each child it returns "
         "the child's task id, and start() goes on."),
    Step("P4", "processes", "add_sockets, in each child",
         "minitornado/tcpserver.py::TCPServer.add_sockets",
         "tornado/tcpserver.py::TCPServer.add_sockets",
         "The sockets bound before the fork go on the child's own IOLoop (steps 6 to 8): "
         "every child accepts on the same listening socket, and the kernel picks which one "
         "wakes for each connection."),
    Step("P5", "processes", "task_id",
         "minitornado/process.py::task_id", "tornado/process.py::task_id",
         "Which child this is, 0 to n-1 (None in a process that did not fork): the app asks "
         "it to tell its children apart. Then the child runs its loop (step 9)."),
    # ---- HTTPS: the TLS handshake, driven by the loop (app.listen(port, ssl_options=...))
    Step("T1", "tls", "ssl_options become a context",
         "minitornado/tcpserver.py::TCPServer.__init__", "tornado/tcpserver.py::TCPServer.__init__",
         "Inside step 2: the ssl_options dict is checked and turned into one ssl.SSLContext, "
         "here, once for the server's life. Tornado only checks the dict here, and builds a "
         "context from it for every connection, in ssl_wrap_socket (T2).",
         then=(("minitornado/netutil.py::ssl_options_to_context",
                "tornado/netutil.py::ssl_options_to_context"),)),
    Step("T2", "tls", "ssl_wrap_socket",
         "minitornado/netutil.py::ssl_wrap_socket", "tornado/netutil.py::ssl_wrap_socket",
         "Inside step 10: the accepted socket becomes an ssl.SSLSocket with "
         "do_handshake_on_connect=False. Not one byte of TLS has moved: a blocking handshake "
         "here would stall the loop for every other client."),
    Step("T3", "tls", "SSLIOStream",
         "minitornado/iostream.py::SSLIOStream.__init__",
         "tornado/iostream.py::SSLIOStream.__init__",
         "Built instead of IOStream (step 11, which it calls). It registers for READ at once: "
         "the client speaks first, with its ClientHello, and the handshake must start even "
         "if handle_stream never reads.",
         then=(("minitornado/iostream.py::IOStream._update_io_state",
                "tornado/iostream.py::BaseIOStream._add_io_state"),)),
    Step("T4", "tls", "protocol https; the first read waits",
         "minitornado/httpserver.py::_HTTPRequestContext.__init__",
         "tornado/httpserver.py::_HTTPRequestContext.__init__",
         "Inside step 12, the connection's context says https (the stream is an SSLIOStream). "
         "The request loop (13, 14) asks for bytes at once; SSLIOStream._read_to_buffer "
         "answers 0 while the handshake runs, so the read waits on the loop like any other.",
         then=(("minitornado/iostream.py::SSLIOStream._read_to_buffer",
                "tornado/iostream.py::SSLIOStream.read_from_fd"),)),
    Step("T5", "tls", "one handshake round per readiness event",
         "minitornado/iostream.py::SSLIOStream._do_ssl_handshake",
         "tornado/iostream.py::SSLIOStream._do_ssl_handshake",
         "Each time the loop reports the socket ready (_handle_events, then _handle_read, or "
         "_handle_write for WRITE), do_handshake() goes as far as it can. SSLWantReadError: "
         "the peer's next flight is not all here, wait for READ; SSLWantWriteError: ours "
         "does not fit the kernel's buffer, wait for WRITE. _update_io_state tells the loop.",
         before=(("minitornado/iostream.py::IOStream._handle_events",
                  "tornado/iostream.py::BaseIOStream._handle_events"),
                 ("minitornado/iostream.py::SSLIOStream._handle_read",
                  "tornado/iostream.py::SSLIOStream._handle_read")),
         then=(("minitornado/iostream.py::IOStream._update_io_state",
                "tornado/iostream.py::BaseIOStream._add_io_state"),)),
    Step("T6", "tls", "decrypted bytes",
         "minitornado/iostream.py::IOStream._read_to_buffer",
         "tornado/iostream.py::BaseIOStream._read_to_buffer",
         "The handshake is done: SSLIOStream._read_to_buffer (T4) passes through to this "
         "one, whose recv() now returns the request's bytes, decrypted by OpenSSL. From here "
         "on, step 14 and the rest go as over TCP."),
)  # fmt: skip

PHASES = {
    "start-up": "start-up (what app.listen(8888) and running the loop do)",
    "request": "one request",
    "shutdown": "the graceful shutdown, ours alone (Tornado's close_all_connections() cuts "
    "the requests in progress)",
    "processes": "the other way of starting: bind() then start(n), which forks n children "
    "(Tornado advises one listen(reuse_port=True) per process instead)",
    "tls": "HTTPS: the TLS handshake, driven by the loop before the first request "
    "(app.listen(port, ssl_options=...))",
}


# ---- The listings the package docstring and the README carry -------------------------------


def docstring_listing(phase: str) -> str:
    """The numbered steps of ``phase`` as the package docstring prints them."""
    lines = []
    for step in STUDY_PATH:
        if step.phase == phase:
            lines.append(f"{step.number + '.':>7} {step.ours}")
            lines.append(f"        {_tornado_side(step)}")
    return "\n".join(lines)


def readme_table() -> str:
    """The study path as the README's Markdown table."""
    rows = ["| # | ours | Tornado 6.6 |", "|--:|------|-------------|"]
    for step in STUDY_PATH:
        tornado = (
            f"`{step.tornado}`"
            if step.tornado.startswith("tornado/")
            else (_tornado_side(step).strip("()"))
        )
        rows.append(f"| {step.number} | `{step.ours}` | {tornado} |")
    return "\n".join(rows)


def _tornado_side(step: Step) -> str:
    if step.tornado.startswith("asyncio/"):
        return "(Tornado runs the same asyncio code)"
    return step.tornado or f"(ours alone: {step.title})"


# ---- Each definition beside Tornado's ---------------------------------------------------------


def columns(step: Step) -> list[tuple[Column, Column]]:
    """For each of the step's definitions: the code that runs (ours, asyncio's or the
    application's) and Tornado's."""
    rows = []
    for ours, tornado in step.pairs():
        # asyncio's code is the same for both: Tornado's side shows its call, once.
        caller = step.caller if ours == step.ours else ""
        rows.append((code_column(ours), tornado_column(tornado, caller, ours)))
    return rows


def code_column(ref: str) -> Column:
    """The code that runs in minitornado: ours, asyncio's (run by both), or the app's own."""
    if ref.startswith("minitornado/"):
        kind, who = "ours", "ours (minitornado)"
    elif ref.startswith("asyncio/"):
        kind, who = "asyncio", "asyncio (standard library, run by both)"
    else:
        kind, who = "app", "the app"
    try:
        source = our_source(ref)
    except ImportError:  # demo_app.py is importable from the repository's root only
        return Column(kind, who, ref, None, f"Run the tour from the repository to read {ref}.")
    return Column(kind, who, source.where, source)


def tornado_column(ref: str, caller: str = "", ours: str = "") -> Column:
    """Where Tornado does what ``ours`` does: its source, or a note saying why there is none.

    Without Tornado installed the heading names the reference only; the tour says once, not
    in every column, how to install it (``NOT_INSTALLED``).
    """
    version = tornado_version()
    who = f"Tornado {version}" if version else "Tornado"
    name, theirs = ours.partition("::")[2], ref.partition("::")[2]
    if not ref and ours.startswith("minitornado/"):
        note = f"Tornado has no counterpart to {name}: this is ours alone."
        return Column("tornado", who, "none", None, note)
    if not ref:
        note = f"{name} is the application's own code, the same whichever server runs it."
        return Column("tornado", who, "none", None, note)
    if ref.startswith("asyncio/") and not caller:
        note = f"Under Tornado too, asyncio's {theirs} is what runs."
        return Column("tornado", who, "the same asyncio code", None, note)
    shown = caller if ref.startswith("asyncio/") else ref
    source = tornado_source(shown)
    if source is None:
        return Column("tornado", who, f"{shown} (not installed)", None)
    note = f"Where Tornado calls asyncio's {theirs}." if shown != ref else ""
    return Column("tornado", who, source.where, source, note)


def shown_once(steps: Sequence[Step]) -> list[tuple[Step, list[tuple[Column, Column]]]]:
    """Each step with its columns, where code an earlier step shows is named, not repeated.

    A definition can be the counterpart of two steps: Tornado's method that calls asyncio's
    code for one step may be the previous step's own. Its source is shown at the first.
    """
    first_shown: dict[str, str] = {}
    tour = []
    for step in steps:
        rows = [
            (_once(left, step, first_shown), _once(right, step, first_shown))
            for left, right in columns(step)
        ]
        tour.append((step, rows))
    return tour


def _once(column: Column, step: Step, first_shown: dict[str, str]) -> Column:
    if column.source is None:
        return column
    earlier = first_shown.setdefault(column.source.ref, step.number)
    if earlier == step.number:
        return column
    name = split_ref(column.source.ref)[1]
    whose = "Tornado's " if column.kind == "tornado" else ""  # (both sides may be named)
    note = column.note or f"{whose}{name} is shown at step {earlier}, above."
    return replace(column, where=f"{name} (shown at step {earlier})", source=None, note=note)


# ---- The terminal tour ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minitornado.study.tour",
        description="Walk the study path: our code for each step, and where Tornado does the same.",
    )
    parser.add_argument(
        "--step", metavar="N", help="show step N only (1 to 17, S1-S6, P1-P5, T1-T6)"
    )
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument(
        "--tornado",
        action="store_true",
        help="print Tornado's source after ours, for every definition",
    )
    shown.add_argument(
        "--side-by-side",
        action="store_true",
        help="print ours and Tornado's in two columns that fit the terminal",
    )
    shown.add_argument("--html", metavar="FILE", help="write the tour as one HTML page")
    parser.add_argument(
        "--width",
        metavar="COLUMNS",
        type=int,
        help=f"the width to fit (default: the terminal's; {MIN_WIDTH} at the least)",
    )
    args = parser.parse_args(argv)
    steps = list(STUDY_PATH)
    if args.step is not None:
        steps = [step for step in STUDY_PATH if step.number == args.step.upper()]
        if not steps:
            numbers = ", ".join(step.number for step in STUDY_PATH)
            parser.error(f"there is no step {args.step}: the steps are {numbers}")
    if args.html:
        page = render_html(shown_once(steps), tornado_version(), PHASES)
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(page)
        print(f"Wrote {len(steps)} steps to {args.html}")
        return 0
    layout = "beside" if args.side_by_side else "after" if args.tornado else "ours"
    width = args.width or shutil.get_terminal_size((100, 24)).columns
    print_tour(steps, layout, max(width, MIN_WIDTH))
    return 0


def print_tour(steps: Sequence[Step], layout: str, width: int) -> None:
    """Print ``steps`` in ``layout`` (see ``_tour_text``), each phase's intro once."""
    if tornado_version() is None:
        sys.stdout.write(NOT_INSTALLED + "\n\n")
    for phase, group in itertools.groupby(shown_once(steps), lambda item: item[0].phase):
        sys.stdout.write(phase_banner(PHASES[phase], width) + "\n")
        for step, rows in group:
            sys.stdout.write(render_step(step, rows, layout, width) + "\n")


if __name__ == "__main__":
    sys.exit(main())
