"""Send the same raw requests to an app under minitornado and under Tornado; show what differs.

    python -m minitornado.study.compare              # demo_app.py, every request
    python -m minitornado.study.compare --list       # the requests, the declared differences
    python -m minitornado.study.compare --only index --only garbage
    python -m minitornado.study.compare --request 'mine=GET /hi HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'
    python -m minitornado.study.compare --app myapp.py   # your own app (see below)

It starts two servers as subprocesses, ``demo_app.py --port 0 --impl minitornado`` and
``--impl tornado``, reads the port from the first line each prints, then sends every request
(``_compare_requests.CASES``: well-formed, edge cases, malformed) to both, each over a fresh
TCP connection, and prints one table row per request: its name, our outcome, Tornado's, and
the verdict. An outcome is the status codes and how the connection ended (``200 closed``,
``- closed`` when nothing came back). Under a row that is not ``same``, one line per
difference, ours on the left of ``|``: status line, each header (values, or only one side
has it, or the same headers in another order), body, connection. ``Date`` values never
count; ``Server`` values are declared (``EVERYWHERE``; the first lines show both).

A difference is *declared* when ``DECLARED`` names the request and both outcomes are the
ones it gives: each entry says why and which module's ``Compared with Tornado:`` block
documents it. Any other difference is *unexpected*, and the exit status is then 1 (2 when a
server could not start). The last line reads
``N requests: N same, N declared differences, N unexpected``.

Your own app (``--app module[:factory]``, a module name importable from the current
directory or a path to a ``.py`` file): write it against Tornado's API (``import
tornado.web``) and give it a factory, ``make_app()`` unless you name another, that takes no
arguments and returns a ``tornado.web.Application``. Do not start a server or a loop at
import time. The same file runs on both sides: ``_compare_runner`` serves it, and on the
minitornado side it first maps ``tornado`` and every ``tornado.X`` to ``minitornado`` and
``minitornado.X``, so a module minitornado lacks (``tornado.gen``) is an ImportError. The
built-in requests aim at the demo's routes, so with your app add requests of your own
(``--request``) and pick with ``--only``; ``DECLARED`` applies to built-in requests only.

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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from minitornado.study._compare_requests import CASES, Case, custom
from minitornado.study._compare_wire import Exchange, differences, exchange

START_TIMEOUT = 20.0  # seconds for a server to print its first line (a busy machine is slow)
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
TIMEOUT = 5.0  # seconds for the whole answer to one request
QUIET = 0.5  # seconds of silence after a complete answer: the connection was left open
IMPLS = ("minitornado", "tornado")


# ---- What differs on purpose ----------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """A difference we keep on purpose: both outcomes, why, and where it is documented."""

    ours: str  # our outcome, as Exchange.outcome() words it
    tornado: str  # Tornado's outcome
    why: str
    where: str  # the module whose "Compared with Tornado:" block says so


HTTP1 = "minitornado/http1connection.py"
DECLARED: dict[str, Declared] = {
    "oversized-headers": Declared(
        "431 closed", "- closed",
        "a header block over max_header_size is answered 431 before the close; "
        "Tornado closes without a word", HTTP1),
    "oversized-body": Declared(
        "413 closed", "400 closed",
        "a body over max_body_size is answered 413 Content Too Large; Tornado sends the "
        "bare 400", HTTP1),
    "chunk-extension": Declared(
        "200 closed", "400 closed",
        "chunk extensions are accepted, as RFC 9112 §7.1.1 allows; Tornado answers 400", HTTP1),
    "chunk-trailer": Declared(
        "200 closed", "400 closed",
        "trailer fields are accepted (and dropped), as RFC 9112 §7.1.2 allows; Tornado "
        "answers 400", HTTP1),
    "raw-utf8-target": Declared(
        "400 closed", "200 closed",
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
    except ValueError as error:
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
        "--request",
        action="append",
        default=[],
        metavar="NAME=RAW",
        help="add a request (RAW with \\r\\n escapes); repeatable",
    )
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
    """The built-in requests and ``--request`` ones (which replace a built-in of their name)."""
    given = [custom(spec) for spec in args.request]
    replaced = {case.name for case in given}
    cases = [case for case in CASES if case.name not in replaced] + given
    if args.only:
        unknown = set(args.only) - {case.name for case in cases}
        if unknown:
            raise ValueError(f"no request named {', '.join(sorted(unknown))} (see --list)")
        cases = [case for case in cases if case.name in args.only]
    return cases


def print_list(cases: list[Case]) -> None:
    width = max(len(case.name) for case in cases)
    for case in cases:
        declared = DECLARED.get(case.name) if not case.custom else None
        mark = "  [declared difference]" if declared else ""
        print(f"{case.name:<{width}}  {case.about}{mark}")


# ---- The two servers ------------------------------------------------------------------------


class ServerError(Exception):
    """A server did not start, or did not say where it listens."""


def server_command(impl: str, app: str | None) -> list[str]:
    """The command line that serves the demo app, or ``app``, with ``impl``."""
    if app is None:
        return [sys.executable, str(demo_path()), "--port", "0", "--impl", impl]
    runner = "minitornado.study._compare_runner"
    return [sys.executable, "-m", runner, "--app", app, "--port", "0", "--impl", impl]


def demo_path() -> Path:
    """``demo_app.py`` in the current directory, else next to the minitornado package."""
    for folder in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (folder / "demo_app.py").is_file():
            return folder / "demo_app.py"
    raise ServerError("demo_app.py not found: run from the repository root, or give --app")


@contextlib.asynccontextmanager
async def running(command: list[str]) -> AsyncIterator[int]:
    """Start ``command``, yield the port it announces, and stop it however the block ends."""
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
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
                log.seek(0)
                text = log.read().decode(errors="replace").strip()[-2000:]
                raise ServerError(f"{' '.join(command)}\ndid not start: {line!r}\n{text}")
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
    """SIGTERM, and SIGKILL if the process is still there ``STOP_TIMEOUT`` later."""
    if process.returncode is None:
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
    async with contextlib.AsyncExitStack() as stack:
        # Both start at once (each takes a moment to import its library), and both starts
        # end before anything is raised, so a server that did start is stopped too.
        started = await asyncio.gather(
            *(stack.enter_async_context(running(server_command(impl, args.app))) for impl in IMPLS),
            return_exceptions=True,
        )
        for result in started:
            if isinstance(result, BaseException):
                raise result
        ours_port, theirs_port = (port for port in started if isinstance(port, int))
        rows = []
        for case in cases:
            ours, theirs = await asyncio.gather(
                *(send(port, case, args.timeout) for port in (ours_port, theirs_port))
            )
            rows.append(judge(case, ours, theirs))
    print_table(rows, args.app or "demo_app.py", (ours_port, theirs_port))
    return 1 if any(row.verdict == "UNEXPECTED" for row in rows) else 0


async def send(port: int, case: Case, timeout: float) -> Exchange:
    return await exchange(
        port, case.raw, responses=case.responses, head=case.head, timeout=timeout, quiet=QUIET
    )


def judge(case: Case, ours: Exchange, theirs: Exchange) -> Row:
    """Same, declared (``DECLARED`` names it, with these very outcomes), or unexpected."""
    details = differences(ours, theirs)
    if not details:
        return Row(case, ours, theirs, "same", [])
    declared = None if case.custom else DECLARED.get(case.name)
    if declared and (ours.outcome(), theirs.outcome()) == (declared.ours, declared.tornado):
        source = f"see: {declared.where}, Compared with Tornado"
        return Row(case, ours, theirs, "declared", [f"why: {declared.why}", source, *details])
    return Row(case, ours, theirs, "UNEXPECTED", details)


# ---- The table ------------------------------------------------------------------------------


def print_table(rows: list[Row], app: str, ports: tuple[int, int]) -> None:
    """One fixed-width row per request, its differences under it, then the summary line."""
    print(
        f"{app}: minitornado {version('minitornado')} (port {ports[0]}) against "
        f"Tornado {version('tornado')} (port {ports[1]})"
    )
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
