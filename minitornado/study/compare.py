"""Send the same raw requests to an app under minitornado and under Tornado; show what differs.

    python -m minitornado.study.compare              # demo_app.py, every request
    python -m minitornado.study.compare --list       # the requests, the declared differences
    python -m minitornado.study.compare --only index --only garbage
    python -m minitornado.study.compare --request 'mine=GET /hi HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'
    python -m minitornado.study.compare --app myapp.py --requests myrequests.http

It starts two servers as subprocesses, ``demo_app.py --port 0 --impl minitornado`` and
``--impl tornado``, reads the port from the first line each prints, then sends every request
(``_compare_requests.CASES``: well-formed, edge cases, malformed) to both, each over a fresh
TCP connection, and prints one table row per request: its name, our outcome, Tornado's, and
the verdict. An outcome is the status codes and how the connection ended (``200 closed``,
``- closed`` when nothing came back). Under a row that is not ``same``, one line per
difference, ours on the left of ``|``: status line, each header (values, or only one side
has it, or the same headers in another order), body, connection. ``Date`` values never
count; ``Server`` values are declared (``EVERYWHERE``; the first lines show both).

A difference is *declared* when a ``DECLARED`` entry recognises it: the request has the
entry's shape (a chunk extension, a target with raw UTF-8, a header block over 64 KiB, ...,
judged from its bytes, whatever its name or route) and both answers are the entry's; "the
app's answer" there means any answer but the bare ``400`` both libraries give a request
they cannot parse. Each entry says why and which module's ``Compared with Tornado:`` block
documents it. Any other difference is *unexpected*, and the exit status is then 1 (2 when
a server could not start). The last line reads
``N requests: N same, N declared differences, N unexpected``.

Your own app (``--app module[:factory]``, a module name importable from the current
directory or a path to a ``.py`` file): write it against Tornado's API (``import
tornado.web``) and give it a factory, ``make_app()`` unless you name another, that takes no
arguments and returns a ``tornado.web.Application``. Do not start a server or a loop at
import time. The same file runs on both sides: ``_compare_runner`` serves it, and on the
minitornado side it first maps ``tornado`` and every ``tornado.X`` to ``minitornado`` and
``minitornado.X``, so a module minitornado lacks (``tornado.gen``) is an ImportError. If it
does not load, the app's error is printed (once when both sides fail alike) and nothing is
sent. With ``--app`` the built-in requests are the protocol ones (``PROTOCOL``: methods,
HTTP versions, keep-alive, framing, limits, malformed input), which test the server
whatever the app's routes (a path it lacks is a 404 on both sides); the ones written for
the demo's handlers (``ROUTES``) are left out. Add your own with ``--requests FILE`` (and
``--no-builtin`` to send only yours).

A requests file holds one request per entry, written as it goes on the wire, with real
line ends::

    # Lines before the first entry: empty, or comments starting with "#".
    ### home  the index page
    GET / HTTP/1.1
    Host: x
    Connection: close

    ### add-item  a form POST (Content-Length is added)
    POST /items HTTP/1.1
    Host: x
    Content-Type: application/x-www-form-urlencoded
    Connection: close

    name=box&size=2

A line ``### NAME`` starts an entry (any words after the name describe it in ``--list``).
The head, down to its first empty line, is sent with CRLF line ends and an empty line after
it. What follows is the body: sent as written (UTF-8, LF line ends kept), without the
entry's trailing empty lines and last line end; with ``Transfer-Encoding: chunked`` its
lines end in CRLF and the last chunk gets its empty line; with neither ``Content-Length``
nor ``Transfer-Encoding`` in the head, ``Content-Length`` is added. Without
``Connection: close`` the answer ends after half a second of silence (``200 open``). Write
a target as a client sends it, percent-encoded (``/items?q=caf%C3%A9``): raw UTF-8 there is
the declared ``raw-utf8-target`` difference. For bytes no text file shows (a bare
``\\x01``), use ``--request NAME=RAW`` with escapes.

Mirrors: nothing in Tornado (a tool of ours).
Kept: plain HTTP on 127.0.0.1. Left out: TLS, server options, timing comparisons.
Study path: none of its own; every request walks steps 10 to 17 on both servers.
"""

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from minitornado.study import _compare_requests as shapes
from minitornado.study._compare_requests import CASES, PROTOCOL, Case, custom, read_requests_file
from minitornado.study._compare_wire import Exchange, differences, exchange, is_bare_400

START_TIMEOUT = 20.0  # seconds for a server to print its first line (a busy machine is slow)
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
TIMEOUT = 5.0  # seconds for the whole answer to one request
QUIET = 0.5  # seconds of silence after a complete answer: the connection was left open
SHOWN = 3000  # characters of a failed server's stderr shown (its end)
IMPLS = ("minitornado", "tornado")
# The folder that holds the minitornado package: the repository, in a checkout.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


# ---- What differs on purpose ----------------------------------------------------------------

APP = "the app's answer"  # any answer but the bare 400: the request reached the app


@dataclass(frozen=True)
class Declared:
    """A difference we keep on purpose: the requests it shows on, both answers, why, where."""

    shape: Callable[[bytes], bool]  # does a request (its bytes) have this shape?
    ours: str  # our outcome, as Exchange.outcome() words it, or APP
    tornado: str  # Tornado's outcome, or APP
    why: str
    where: str  # the module whose "Compared with Tornado:" block says so

    def recognises(self, raw: bytes, ours: Exchange, theirs: Exchange) -> bool:
        return self.shape(raw) and _is(ours, self.ours) and _is(theirs, self.tornado)


def _is(answer: Exchange, expected: str) -> bool:
    if expected == APP:
        return bool(answer.responses) and not answer.error and not is_bare_400(answer)
    return answer.outcome() == expected


HTTP1 = "minitornado/http1connection.py"
# Each is named after the built-in request that shows it on the demo app.
DECLARED: dict[str, Declared] = {
    "oversized-headers": Declared(
        shapes.header_block_too_large, "431 closed", "- closed",
        "a header block over max_header_size is answered 431 before the close; "
        "Tornado closes without a word", HTTP1),
    "oversized-body": Declared(
        shapes.body_too_large, "413 closed", "400 closed",
        "a body over max_body_size is answered 413 Content Too Large; Tornado sends the "
        "bare 400", HTTP1),
    "chunk-extension": Declared(
        shapes.has_chunk_extension, APP, "400 closed",
        "chunk extensions are accepted, as RFC 9112 §7.1.1 allows; Tornado answers 400", HTTP1),
    "chunk-trailer": Declared(
        shapes.has_chunk_trailer, APP, "400 closed",
        "trailer fields are accepted (and dropped), as RFC 9112 §7.1.2 allows; Tornado "
        "answers 400", HTTP1),
    "raw-utf8-target": Declared(
        shapes.target_has_raw_utf8, "400 closed", APP,
        "raw non-ASCII bytes in the target get the bare 400 (h11 follows RFC 9112 §3.2); "
        "Tornado accepts them", HTTP1),
}  # fmt: skip

# Header values compared as placeholders in every response (see _compare_wire.MASKED).
EVERYWHERE = {
    "Date": "never compared: the time of the answer",
    "Server": "declared (minitornado/web.py, RequestHandler, Compared with Tornado)",
}


# ---- Command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        cases = select_cases(args)
    except (ValueError, OSError) as error:
        print(f"compare: {error}", file=sys.stderr)
        return 2
    if args.list:
        print_list(cases)
        return 0
    try:
        return asyncio.run(compare(args, cases))
    except ServerError as error:
        print(f"compare: {error}", file=sys.stderr)
        return 2


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m minitornado.study.compare",
        description="Compare minitornado with Tornado on the same raw requests.",
    )
    parser.add_argument("--app", help="your app: module[:factory] or path.py[:factory]")
    parser.add_argument(
        "--requests",
        action="append",
        default=[],
        metavar="FILE",
        help="add the requests of FILE ('### NAME' then the request; see the module's doc)",
    )
    parser.add_argument(
        "--request",
        action="append",
        default=[],
        metavar="NAME=RAW",
        help="add a request (RAW with \\r\\n escapes); repeatable",
    )
    parser.add_argument("--no-builtin", action="store_true", help="send only the requests you give")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="send only the requests named (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list the requests, send nothing")
    parser.add_argument(
        "--timeout", type=float, default=TIMEOUT, help=f"seconds for one answer (default {TIMEOUT})"
    )
    return parser.parse_args(argv)


def select_cases(args: argparse.Namespace) -> list[Case]:
    """The built-in requests (``PROTOCOL`` with ``--app``), then the ones given.

    A given request replaces a built-in of its name; two given ones may not share a name.
    """
    given = [custom(spec) for spec in args.request]
    for path in args.requests:
        given += read_requests_file(Path(path).read_text(encoding="utf-8"), path)
    names = [case.name for case in given]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"two requests given with the name {', '.join(twice)}")
    builtin = [] if args.no_builtin else PROTOCOL if args.app else CASES
    cases = [case for case in builtin if case.name not in names] + given
    if args.only:
        unknown = set(args.only) - {case.name for case in cases}
        if unknown:
            raise ValueError(f"no request named {', '.join(sorted(unknown))} (see --list)")
        cases = [case for case in cases if case.name in args.only]
    if not cases:
        raise ValueError("no request to send (--no-builtin wants --requests or --request)")
    return cases


def print_list(cases: list[Case]) -> None:
    """The requests, then the declared differences and the shapes they are recognised by."""
    width = max(len(case.name) for case in cases)
    for case in cases:
        shaped = any(declared.shape(case.raw) for declared in DECLARED.values())
        mark = "  [declared difference]" if shaped else ""
        print(f"{case.name:<{width}}  {case.about}{mark}")
    print('\nDeclared differences, recognised on any request of their shape ("the app\'s answer":')
    print("any answer but the bare 400 both libraries give a request they cannot parse):")
    for name, declared in DECLARED.items():
        print(f"  {name}  (ours: {declared.ours} | Tornado: {declared.tornado})")
        print(f"    on: {(declared.shape.__doc__ or '').strip()}")
        print(f"    why: {declared.why} ({declared.where})")


# ---- The two servers ------------------------------------------------------------------------


class ServerError(Exception):
    """A server did not start, or did not say where it listens."""


@contextlib.asynccontextmanager
async def both_running(app: str | None) -> AsyncIterator[tuple[int, int]]:
    """Serve ``app`` (None: the demo) with minitornado and with Tornado; yield both ports."""
    async with contextlib.AsyncExitStack() as stack:
        # Both start at once (each takes a moment to import its library), and both starts
        # end before anything is raised, so a server that did start is stopped too.
        started = await asyncio.gather(
            *(stack.enter_async_context(running(server_command(impl, app))) for impl in IMPLS),
            return_exceptions=True,
        )
        for result in started:
            if isinstance(result, BaseException) and not isinstance(result, ServerError):
                raise result
        failed = {impl: str(r) for impl, r in zip(IMPLS, started, strict=True) if
                  isinstance(r, ServerError)}  # fmt: skip
        if failed:
            raise ServerError(explain(app or "demo_app.py", failed))
        ours, theirs = (port for port in started if isinstance(port, int))
        yield ours, theirs


def explain(app: str, failed: dict[str, str]) -> str:
    """What to print when servers did not start: each error once, under whom it happened."""
    names = {"minitornado": "minitornado", "tornado": "Tornado"}
    errors = list(failed.values())
    if len(failed) == 2 and errors[0] == errors[1]:
        return f"{app} did not start under either minitornado or Tornado:\n{errors[0]}"
    return "\n".join(f"{app} did not start under {names[impl]}:\n{error}"
                     for impl, error in failed.items())  # fmt: skip


def server_command(impl: str, app: str | None) -> list[str]:
    """The command line that serves the demo app, or ``app``, with ``impl``."""
    if app is None:
        return [sys.executable, str(demo_path()), "--port", "0", "--impl", impl]
    runner = "minitornado.study._compare_runner"
    return [sys.executable, "-m", runner, "--app", app, "--port", "0", "--impl", impl]


def demo_path() -> Path:
    """``demo_app.py`` in the current directory, else next to the minitornado package."""
    for folder in (Path.cwd(), PACKAGE_PARENT):
        if (folder / "demo_app.py").is_file():
            return folder / "demo_app.py"
    raise ServerError("demo_app.py not found: run from the repository root, or give --app")


@contextlib.asynccontextmanager
async def running(command: list[str]) -> AsyncIterator[int]:
    """Start ``command``, yield the port it announces, and stop it however the block ends."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as log:  # the server's stderr, shown if it fails to start
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=log, env=env
        )
        assert process.stdout is not None
        drain: asyncio.Task[bytes] | None = None
        try:
            line = await read_first_line(process.stdout)
            match = re.match(rb"Listening on http://[^ ]*:(\d+)/", line)
            if match is None:
                await stop(process)  # it has ended, or is made to: its stderr is complete
                log.seek(0)
                text = log.read().decode(errors="replace").rstrip()[-SHOWN:].lstrip("\n")
                said = line.decode(errors="replace").strip()
                raise ServerError(text or said or f"no first line within {START_TIMEOUT:g} s")
            drain = asyncio.ensure_future(process.stdout.read())  # keep the pipe flowing
            yield int(match.group(1))
        finally:
            await stop(process)
            if drain is not None:
                await drain


async def read_first_line(stdout: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(stdout.readline(), START_TIMEOUT)
    except asyncio.TimeoutError:
        return b""


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, unless it is ending already; SIGKILL if it is still there ``STOP_TIMEOUT`` later."""
    assert process.stdout is not None
    # A process whose stdout is closed has most likely exited: it is awaited, not
    # signalled. Signalling it goes through subprocess.Popen.send_signal, which polls
    # first and so may reap it before asyncio's child watcher does; the watcher then
    # logs "Unknown child process pid ..." (seen with CPython 3.11).
    if process.returncode is None and not process.stdout.at_eof():
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()


# ---- Sending every request to both ----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One request's line in the table."""

    case: Case
    ours: Exchange
    theirs: Exchange
    verdict: str  # "same", "declared" or "UNEXPECTED"
    details: list[str]


async def compare(args: argparse.Namespace, cases: list[Case]) -> int:
    """Start both servers, send every case to both, print the table; the exit status."""
    async with both_running(args.app) as ports:
        rows = []
        for case in cases:
            ours, theirs = await asyncio.gather(*(send(port, case, args.timeout) for port in ports))
            rows.append(judge(case, ours, theirs))
    print_table(rows, args.app, ports)
    return 1 if any(row.verdict == "UNEXPECTED" for row in rows) else 0


async def send(port: int, case: Case, timeout: float) -> Exchange:
    return await exchange(
        port, case.raw, responses=case.responses, head=case.head, timeout=timeout, quiet=QUIET
    )


def judge(case: Case, ours: Exchange, theirs: Exchange) -> Row:
    """Same, declared (a ``DECLARED`` entry recognises the request and both answers), or not."""
    details = differences(ours, theirs)
    if not details:
        return Row(case, ours, theirs, "same", [])
    for name, declared in DECLARED.items():
        if declared.recognises(case.raw, ours, theirs):
            why = f"why ({name}): {declared.why}"
            source = f"see: {declared.where}, Compared with Tornado"
            return Row(case, ours, theirs, "declared", [why, source, *details])
    return Row(case, ours, theirs, "UNEXPECTED", details)


# ---- The table ------------------------------------------------------------------------------


def print_table(rows: list[Row], app: str | None, ports: tuple[int, int]) -> None:
    """One fixed-width row per request, its differences under it, then the summary line."""
    print(
        f"{app or 'demo_app.py'}: minitornado {version('minitornado')} (port {ports[0]}) "
        f"against Tornado {version('tornado')} (port {ports[1]})"
    )
    yours = sum(row.case.custom for row in rows)
    kind = "protocol requests (those for the demo's handlers left out)" if app else "requests"
    builtin = f"{len(rows) - yours} built-in {kind}, " if len(rows) > yours else ""
    print(f"  sent: {builtin}{yours} of yours")
    for name, note in EVERYWHERE.items():
        ours, theirs = (seen(name, [getattr(row, side) for row in rows]) for side in SIDES)
        print(f"  everywhere, {name}: {ours!r} | {theirs!r}, {note}")
    name_width = max([len("request"), *(len(row.case.name) for row in rows)])
    widths = (name_width, 18, 18)
    print()
    print(_line(("request", "minitornado", "tornado", "verdict"), widths))
    print(_line((*("-" * width for width in widths), "-" * 10), widths))
    for row in rows:
        print(_line((row.case.name, row.ours.outcome(), row.theirs.outcome(), row.verdict), widths))
        for detail in row.details:
            print(f"    {detail}")
    counts = {verdict: sum(row.verdict == verdict for row in rows) for verdict in
              ("same", "declared", "UNEXPECTED")}  # fmt: skip
    print()
    print(
        f"{len(rows)} requests: {counts['same']} same, {counts['declared']} declared "
        f"differences, {counts['UNEXPECTED']} unexpected"
    )


SIDES = ("ours", "theirs")


def seen(header: str, exchanges: list[Exchange]) -> str:
    """The first value of ``header`` in these exchanges' responses."""
    for exchange_ in exchanges:
        for response in exchange_.responses:
            for name, value in response.headers:
                if name.lower() == header.lower():
                    return value
    return "(none)"


def _line(cells: tuple[str, ...], widths: tuple[int, ...]) -> str:
    padded = [f"{cell:<{width}}" for cell, width in zip(cells, widths, strict=False)]
    return "  ".join([*padded, *cells[len(widths) :]]).rstrip()


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


if __name__ == "__main__":
    sys.exit(main())
