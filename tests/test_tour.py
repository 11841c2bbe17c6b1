"""Tests for ``python -m minitornado.study.tour`` and the study path it walks.

The study path is written once, as ``minitornado.study.tour.STUDY_PATH``. These tests keep every
other telling of it true: the package docstring and the README print it, the calls of a real
``app.listen(0)`` and one request follow it in order (recorded with ``sys.setprofile``), its
Tornado references have the lengths the installed Tornado says, and the HTML page shows
both columns of every step in a real browser (headless Chromium), its code wrapped rather
than clipped, no sentence twice, asyncio's code labelled as asyncio's, and a one-line nav.
"""

from __future__ import annotations

import asyncio
import html
import inspect
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import pytest
import tornado.platform.asyncio  # noqa: F401  (the study path's references point into it)

import minitornado
from minitornado import web
from minitornado.ioloop import IOLoop
from minitornado.study import tour
from minitornado.study._refs import code_of
from minitornado.study._tour_source import our_source, split_ref, tornado_source
from minitornado.study.tour import STUDY_PATH

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 10.0


# ---- The listings say what STUDY_PATH says ----------------------------------------------------


@pytest.mark.parametrize("phase", list(tour.PHASES))
def test_package_docstring_prints_the_study_path(phase: str) -> None:
    # Scenario: the numbered listing in minitornado/__init__.py is STUDY_PATH, printed; a step
    # added, renamed or moved in one place and not the other fails here.
    listing = tour.docstring_listing(phase)
    assert listing, f"no step in phase {phase!r}"
    assert listing in (minitornado.__doc__ or ""), (
        f"minitornado/__init__.py should list the {phase} steps exactly as:\n{listing}"
    )


def test_readme_table_is_the_study_path() -> None:
    # Scenario: README's "Read the source in this order" table is STUDY_PATH, printed.
    readme = (ROOT / "README.md").read_text()
    table = tour.readme_table()
    assert table in readme, f"README.md should carry this table:\n{table}"


def test_steps_are_numbered_without_gaps() -> None:
    # Scenario: numbers are what every module docstring cites: 1 to 17 for start-up and a
    # request, then S1 to S6 for the shutdown, then P1 to P5 for bind() + start(n), then T1
    # to T6 for the TLS handshake, in order.
    numbers = [step.number for step in STUDY_PATH]
    plain = [n for n in numbers if n.isdigit()]
    shutdown = [n for n in numbers if n.startswith("S")]
    processes = [n for n in numbers if n.startswith("P")]
    tls = [n for n in numbers if n.startswith("T")]
    assert numbers == plain + shutdown + processes + tls
    assert plain == [str(n) for n in range(1, len(plain) + 1)]
    assert shutdown == [f"S{n}" for n in range(1, len(shutdown) + 1)]
    assert processes == [f"P{n}" for n in range(1, len(processes) + 1)]
    assert tls == [f"T{n}" for n in range(1, len(tls) + 1)]
    assert {step.phase for step in STUDY_PATH} == set(tour.PHASES)
    assert all(s.phase == "shutdown" for s in STUDY_PATH if s.number in shutdown)
    assert all(s.phase == "processes" for s in STUDY_PATH if s.number in processes)
    assert all(s.phase == "tls" for s in STUDY_PATH if s.number in tls)


# ---- Every reference resolves, on both sides ----------------------------------------------------


@pytest.mark.parametrize("step", STUDY_PATH, ids=lambda s: f"step{s.number}")
def test_tornado_side_is_read_from_the_installed_tornado(step: tour.Step) -> None:
    # Scenario: Tornado's lines for each step, found by parsing its files, are the lines
    # inspect finds when Tornado is imported: same first line, same length.
    refs = [t for _, t in step.pairs() if t.startswith("tornado/")]
    refs += [step.caller] if step.caller else []
    assert refs or step.phase == "shutdown"
    for ref in refs:
        parsed = tornado_source(ref)
        assert parsed is not None
        path, qualname = split_ref(ref)
        target: Any = __import__(path.removesuffix(".py").replace("/", "."), fromlist=["_"])
        for part in qualname.split("."):
            target = getattr(target, part)
        lines, first = inspect.getsourcelines(target)
        assert (parsed.first_line, parsed.length) == (first, len(lines)), ref


@pytest.mark.parametrize("step", STUDY_PATH, ids=lambda s: f"step{s.number}")
def test_each_of_our_steps_carries_the_marker_the_step_names(step: tour.Step) -> None:
    # Scenario: the "# Tornado:" comment above our definition names the same Tornado
    # definition as the step (or, for ours alone, there is none), and the comments say the
    # step number, so grep finds the step in the code.
    for ours, theirs in step.pairs():
        if not ours.startswith("minitornado/"):
            continue
        source = our_source(ours)
        lines = source.file.read_text().splitlines()
        comments = []
        i = source.first_line - 2
        while i >= 0 and lines[i].strip().startswith("#"):
            comments.append(lines[i])
            i -= 1
        marker = next((c for c in comments if "# Tornado:" in c), "")
        if theirs:
            assert f"# Tornado: {theirs}" in marker + " ", f"{ours}: marker {marker!r}"
        else:
            assert marker == "", f"{ours} is ours alone, yet marked {marker!r}"
        said = "\n".join(comments)
        assert re.search(rf"\bstep {step.number}\b", said), f"{ours}: no step in {said!r}"


# ---- The calls of a real request follow the study path ----------------------------------------


def _expected_calls(phases: Iterable[str]) -> list[tuple[str, CodeType]]:
    """Each of our definitions of the steps of ``phases``, in call order, with its code.

    The app's own (demo_app.py, not run here) are left out. minitornado.study.trace finds
    the code it watches the same way (``_refs.code_of``).
    """
    expected = []
    for step in STUDY_PATH:
        if step.phase in phases:
            for ours, _ in step.pairs():
                if ours.startswith(("minitornado/", "asyncio/")):
                    code = code_of(ours)
                    assert code is not None, ours
                    expected.append((ours, code))
    return expected


def first_calls_in_order(recorded: Sequence[Any], expected: Sequence[Any]) -> str:
    """'' if each expected call was first made after the one before it; else what is wrong."""
    position = -1
    for call in expected:
        if call not in recorded:
            return f"{call} was never called"
        found = recorded.index(call)
        if found < position:
            return f"{call} was first called before {recorded[position]}"
        position = found
    return ""


def test_order_check_catches_a_missing_or_misplaced_call() -> None:
    # Scenario: the check below can fail: a reordered or renamed step is reported.
    recorded = [("m", "a"), ("m", "b"), ("m", "c")]
    assert first_calls_in_order(recorded, [("m", "a"), ("m", "c")]) == ""
    assert "before" in first_calls_in_order(recorded, [("m", "c"), ("m", "b")])
    assert "never" in first_calls_in_order(recorded, [("m", "a"), ("m", "renamed")])


class _Hello(web.RequestHandler):
    def get(self) -> None:
        self.write("Hello")


class _Slow(web.RequestHandler):
    """Tells the test it has started, then answers once the test releases it."""

    def initialize(self, started: asyncio.Event, release: asyncio.Event) -> None:
        self.started, self.release = started, release

    async def get(self) -> None:
        self.started.set()
        await self.release.wait()
        self.write("Slow")


def test_a_real_server_makes_the_study_path_calls_in_order() -> None:
    # Scenario: app.listen(0), IOLoop.start(), one request from a client thread; then a
    # second, slow request, during which HTTPServer.shutdown() runs, and once it is done the
    # loop stops. The first call of each definition the study path names is recorded, on
    # the loop's thread, by its code object: the study path must appear in that order. (The
    # steps of bind() + start(n) fork: the next test runs them in a process of its own.)
    expected = _expected_calls(["start-up", "request", "shutdown"])
    watched = {id(code): ref for ref, code in expected}  # (kept alive by expected)
    recorded: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        ref = watched.get(id(frame.f_code)) if event == "call" else None
        if ref is not None and ref not in recorded:
            recorded.append(ref)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    io_loop = IOLoop.current()
    started, release = asyncio.Event(), asyncio.Event()
    answers: list[bytes] = []
    cut: list[int] = []

    async def shut_down_during_the_slow_request() -> None:
        await started.wait()
        shutting_down = asyncio.ensure_future(server.shutdown(TIMEOUT))
        await asyncio.sleep(0.05)  # shutdown() has begun: listener closed, request marked last
        release.set()
        cut.append(await shutting_down)
        io_loop.stop()

    try:
        app = web.Application(
            [("/", _Hello), ("/slow", _Slow, {"started": started, "release": release})]
        )
        sys.setprofile(profile)
        try:
            server = app.listen(0, "127.0.0.1")
        finally:
            sys.setprofile(None)
        port = next(iter(server._sockets.values())).getsockname()[1]
        client = threading.Thread(target=_two_requests, args=(port, answers))
        client.start()
        driver = loop.create_task(shut_down_during_the_slow_request())
        io_loop.call_later(2 * TIMEOUT, io_loop.stop)  # the bound, should anything hang
        sys.setprofile(profile)
        try:
            io_loop.start()
        finally:
            sys.setprofile(None)
        client.join(TIMEOUT)
        assert driver.done()
    finally:
        io_loop.close(all_fds=True)
        asyncio.set_event_loop(None)
    assert len(answers) == 2, answers
    assert answers[0].startswith(b"HTTP/1.1 200 OK\r\n") and answers[0].endswith(b"Hello")
    assert b"\r\nConnection: close\r\n" in answers[1] and answers[1].endswith(b"Slow")
    assert cut == [0]
    problem = first_calls_in_order(recorded, [ref for ref, _ in expected])
    assert problem == "", f"{problem}; the calls made, in order: {recorded}"


_FORKING_SCRIPT = """
import json, os, sys
from minitornado import process, web
from minitornado.httpserver import HTTPServer
from minitornado.study._refs import code_of

refs = json.loads(sys.argv[1])
watched = {id(code_of(ref)): ref for ref in refs}
recorded = []

def profile(frame, event, arg):
    ref = watched.get(id(frame.f_code)) if event == "call" else None
    if ref is not None and ref not in recorded:
        recorded.append(ref)

server = HTTPServer(web.Application([]))
sys.setprofile(profile)
server.bind(0, "127.0.0.1")
server.start(2)  # the parent stays in here until both children have exited
process.task_id()
sys.setprofile(None)
os.write(1, (json.dumps([process.task_id(), os.getpid(), recorded]) + "\\n").encode())
server.stop()
"""


def test_bind_and_start_make_the_study_path_calls_in_order_in_each_child() -> None:
    # Scenario: a script, in a process of its own since it forks, records the first call of
    # each definition the study path names while it runs bind(0) and start(2), then asks
    # task_id(); each child prints what it recorded (the parent's calls before the fork
    # included) and exits 0. Both children, with task ids 0 and 1, followed steps P1 to P5 in
    # order, with bind_sockets (step 4) inside P1 and the accept handler (6 to 8) after P4.
    expected = [ref for ref, _ in _expected_calls(["processes"])]
    start_up = {s.number: s.ours for s in STUDY_PATH if s.phase == "start-up"}
    refs = list(dict.fromkeys([*expected, start_up["4"], start_up["6"], start_up["8"]]))
    done = subprocess.run(
        [sys.executable, "-c", _FORKING_SCRIPT, json.dumps(refs)],
        cwd=ROOT, capture_output=True, text=True, timeout=30, start_new_session=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    children = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(task for task, _, _ in children) == [0, 1], done.stdout
    assert len({pid for _, pid, _ in children}) == 2
    p1, _, _, p4, _ = expected
    for _, _, recorded in children:
        problem = first_calls_in_order(recorded, expected)
        assert problem == "", f"{problem}; the calls made, in order: {recorded}"
        for then in ([p1, start_up["4"], expected[1]], [p4, start_up["6"], start_up["8"]]):
            assert first_calls_in_order(recorded, then) == "", recorded


def calls_in_order(recorded: Sequence[Any], expected: Sequence[Any]) -> str:
    """'' if the expected calls were made in this order, others between them allowed; else
    the first one missing. A definition called at two steps is looked for after the first."""
    position = 0
    for call in expected:
        try:
            position = recorded.index(call, position) + 1
        except ValueError:
            return f"{call} was not called after the calls before it"
    return ""


def test_in_order_check_finds_a_definition_called_again_later() -> None:
    # Scenario: the HTTPS check below accepts a call repeated at a later step, and fails a
    # call that only came before the one it must follow.
    recorded = ["a", "u", "b", "u", "c"]
    assert calls_in_order(recorded, ["a", "u", "b", "u", "c"]) == ""
    assert "not called after" in calls_in_order(recorded, ["b", "a"])
    assert "not called after" in calls_in_order(recorded, ["c", "u"])


def test_an_https_request_makes_the_tls_steps_calls_in_order(tmp_path: Path) -> None:
    # Scenario: app.listen(0, ssl_options={certfile, keyfile}) with a certificate trustme
    # makes now, then http.client GETs / twice over one keep-alive TLS connection, from a
    # thread. Every call of a definition that steps T1 to T6 name is recorded on the
    # loop's thread, in order: T1 to T6 appear in that order, each step's calls in the
    # order it lists them (_update_io_state, at T3 and again at T5, is found twice).
    import ssl

    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("localhost")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    expected = [ref for ref, _ in _expected_calls(["tls"])]
    watched = {id(code): ref for ref, code in _expected_calls(["tls"])}
    codes = [code for _, code in _expected_calls(["tls"])]  # (keeps the ids valid)
    recorded: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        ref = watched.get(id(frame.f_code)) if event == "call" else None
        if ref is not None:
            recorded.append(ref)

    def two_gets(port: int) -> list[bytes]:
        import http.client

        conn = http.client.HTTPSConnection(
            "localhost", port, context=client_context, timeout=TIMEOUT
        )
        try:
            bodies = []
            for _ in range(2):
                conn.request("GET", "/")
                bodies.append(conn.getresponse().read())
            return bodies
        finally:
            conn.close()

    async def main() -> list[bytes]:
        app = web.Application([("/", _Hello)])
        sys.setprofile(profile)
        try:
            server = app.listen(
                0, "127.0.0.1", ssl_options={"certfile": str(cert), "keyfile": str(key)}
            )
            port = next(iter(server._sockets.values())).getsockname()[1]
            bodies = await asyncio.wait_for(asyncio.to_thread(two_gets, port), TIMEOUT)
        finally:
            sys.setprofile(None)
        await asyncio.wait_for(server.shutdown(TIMEOUT), TIMEOUT)
        return bodies

    assert asyncio.run(main()) == [b"Hello", b"Hello"]
    assert codes
    problem = calls_in_order(recorded, expected)
    assert problem == "", f"{problem}; the calls made, in order: {recorded}"


def _two_requests(port: int, answers: list[bytes]) -> None:
    """Client thread: GET / (Connection: close), then GET /slow (keep-alive), each to EOF."""
    for request in (
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            answers.append(received)


# ---- The terminal tour ------------------------------------------------------------------------


def _run_tour(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = (
        f"{prelude}\nfrom minitornado.study.tour import main\n"
        f"raise SystemExit(main({list(args)!r}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_tour_prints_every_step_with_our_live_source_and_tornados_place() -> None:
    # Scenario: `python -m minitornado.study.tour` prints, for every step, our source with the
    # line numbers inspect reports now, and Tornado's file::qualname with its length.
    result = subprocess.run(
        [sys.executable, "-m", "minitornado.study.tour"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for step in STUDY_PATH:
        assert f"Step {step.number} ({step.phase}): {step.title}" in out
        for ours, theirs in step.pairs():
            source = our_source(ours)
            first_code_line = source.text.splitlines()[0]
            assert f"{source.first_line:>5} | {first_code_line}".rstrip() in out, ours
            if theirs.startswith("tornado/"):
                tornado = tornado_source(theirs)
                assert tornado is not None
                assert f"Tornado 6.6.1: {tornado.where}" in out
    # Each phase's intro heads its phase, once: in one banner, not in every step's.
    banners = re.findall(r"^#+\n(.*?)\n#+$", out, re.M | re.S)
    banners = [" ".join(banner.split()).lower() for banner in banners]
    for intro in tour.PHASES.values():
        assert sum(intro.lower() in banner for banner in banners) == 1, intro


def repeated_sentences(texts: Iterable[str]) -> list[str]:
    """Sentences (four words or more, ending in . ! or ?) found more than once in ``texts``.

    A label such as "Tornado 6.6.1: none" is not a sentence, and may repeat.
    """
    seen: dict[str, int] = {}
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
            if len(sentence.split()) >= 4 and sentence[-1] in ".!?":
                seen[sentence] = seen.get(sentence, 0) + 1
    return [sentence for sentence, count in seen.items() if count > 1]


CODE_LINE = re.compile(r"^ *\d+ (\| |$)")  # a numbered source line, in either layout


@pytest.mark.parametrize("layout", [[], ["--tornado"]], ids=["ours", "tornado"])
def test_tour_prints_no_sentence_twice(layout: list[str]) -> None:
    # Scenario: outside the source listings, no sentence of the whole tour is printed twice:
    # each phase's intro once, a step's summary once, no note repeated from step to step.
    # (--width 1000 keeps every sentence on one line.)
    result = _run_tour("--width", "1000", *layout)
    assert result.returncode == 0, result.stderr
    prose = [line for line in result.stdout.splitlines() if not CODE_LINE.match(line)]
    assert repeated_sentences(prose) == []


def test_tornado_option_prints_tornados_source_after_ours() -> None:
    # Scenario: --tornado prints, for each definition, our numbered source and then
    # Tornado's, from its first line on; asyncio's code is labelled asyncio's, not ours.
    result = _run_tour("--tornado")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for step in STUDY_PATH:
        for ours, theirs in step.pairs():
            if theirs.startswith("tornado/"):
                mine, tornado = our_source(ours), tornado_source(theirs)
                assert tornado is not None
                first = f"{tornado.first_line:>5} | {tornado.text.splitlines()[0]}".rstrip()
                assert out.index(first) > out.index(f"{mine.first_line:>5} | "), theirs
        if step.ours.startswith("asyncio/"):
            assert f"asyncio (standard library, run by both): {our_source(step.ours).where}" in out
            assert f"ours (minitornado): {our_source(step.ours).where}" not in out


@pytest.mark.parametrize("width", [72, 140])
def test_side_by_side_fits_the_width_with_both_sources(width: int) -> None:
    # Scenario: --side-by-side prints our source and Tornado's in two columns, every line
    # within --width; a long source line wraps within its column, so line 1 of each
    # definition still sits beside Tornado's line 1.
    result = _run_tour("--side-by-side", "--width", str(width))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= width
    for step in STUDY_PATH:
        for ours, theirs in step.pairs():
            if theirs.startswith("tornado/"):
                mine, tornado = our_source(ours), tornado_source(theirs)
                assert tornado is not None
                left = f"{mine.first_line:>5}  {mine.text.splitlines()[0][:12]}"
                right = f"{tornado.first_line:>5}  {tornado.text.splitlines()[0][:12]}"
                assert any(line.startswith(left) and right in line for line in lines), theirs


def test_step_option_shows_that_step_only() -> None:
    # Scenario: --step 9 prints step 9 and nothing of the others; a step that does not
    # exist is a usage error.
    result = _run_tour("--step", "9")
    assert result.returncode == 0, result.stderr
    assert "Step 9 (start-up)" in result.stdout and "Step 8 " not in result.stdout
    assert "def start(self)" in result.stdout
    shutdown = _run_tour("--step", "s3")
    assert shutdown.returncode == 0, shutdown.stderr
    assert "Step S3 (shutdown)" in shutdown.stdout and "def close_when_idle" in shutdown.stdout
    assert "Tornado has no counterpart" in shutdown.stdout
    wrong = _run_tour("--step", "99")
    assert wrong.returncode == 2 and "there is no step 99" in wrong.stderr


def test_tour_without_tornado_says_how_to_get_its_side() -> None:
    # Scenario: with Tornado not importable, our side still shows and Tornado's says why not.
    result = _run_tour("--step", "1", prelude="import sys; sys.modules['tornado'] = None")
    assert result.returncode == 0, result.stderr
    assert "def listen(" in result.stdout
    assert "Tornado is not installed here: pip install tornado==6.6.1" in result.stdout


# ---- The HTML page, in a real browser -----------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=5000",
]  # fmt: skip
WIDTH, HEIGHT = 1400, 2400

# Appended to a copy of the page: measures each column as laid out, and leaves the result
# in the DOM for --dump-dom. The page itself has no script.
LAYOUT_PROBE = """<script>
const box = (c) => { const r = c.getBoundingClientRect(), pre = c.querySelector("pre");
  const shown = pre || c.querySelector("p.note");
  return {left: r.left, top: r.top, width: r.width, height: r.height,
          kind: c.classList.item(2), heading: c.querySelector("h4").innerText,
          text: shown ? shown.innerText.trim().length : 0,
          source: pre ? pre.innerText.trim().length : 0,
          overflow: pre ? pre.scrollWidth - pre.clientWidth : 0}; };
const steps = [...document.querySelectorAll("section.step")].map((s) => ({
  step: s.dataset.step,
  pairs: [...s.querySelectorAll(".pair")].map((p) => ({
    ours: [...p.querySelectorAll(".col.left")].map(box),
    tornado: [...p.querySelectorAll(".col.right")].map(box)}))}));
const nav = document.querySelector("nav"), line = document.querySelector("pre .l");
const report = {steps,
  page: {scroll: document.documentElement.scrollWidth,
         client: document.documentElement.clientWidth},
  wrapped: [...document.querySelectorAll("pre .l")].filter(
    (l) => l.getBoundingClientRect().height > 1.5 * line.getBoundingClientRect().height).length,
  prose: [...document.querySelectorAll("h1, h2, h3, h4, p, nav")].map((e) => e.innerText),
  headings: [...document.querySelectorAll("h2, h3")].map((e) => e.innerText),
  nav: nav && {height: nav.getBoundingClientRect().height, top: nav.getBoundingClientRect().top,
    lineHeight: nav.querySelector("a.n").getBoundingClientRect().height,
    links: [...nav.querySelectorAll("a.n")].map((a) => [a.innerText, a.getAttribute("href"),
      !!document.querySelector(a.getAttribute("href"))])}};
const out = document.createElement("pre");
out.id = "layout-report";
out.textContent = JSON.stringify(report);
document.body.appendChild(out);
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is required in CI: .ci/run installs Debian's chromium")
    pytest.skip("no chromium here (apt-get install chromium); CI installs it")


def _run_chromium(args: list[str], tmp_path: Path) -> str:
    """Run headless Chromium to completion (bounded), in its own process group."""
    command = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, err[-2000:]
    return out


@pytest.fixture(scope="module")
def tour_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    page = tmp_path_factory.mktemp("tour") / "tour.html"
    result = subprocess.run(
        [sys.executable, "-m", "minitornado.study.tour", "--html", str(page)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return page


@pytest.fixture(scope="module")
def laid_out(tour_page: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    """The probe's report on the page as Chromium lays it out, per window width (lazily)."""
    probe = tour_page.with_name("probe.html")
    probe.write_text(tour_page.read_text().replace("</body>", LAYOUT_PROBE + "</body>"))

    class Reports(dict[int, Any]):
        def __missing__(self, width: int) -> Any:
            tmp_path = tmp_path_factory.mktemp(f"chromium{width}")
            args = ["--dump-dom", f"--window-size={width},{HEIGHT}", probe.as_uri()]
            dom = _run_chromium(args, tmp_path)
            found = re.search(r'<pre id="layout-report">(.*?)</pre>', dom, re.S)
            assert found, dom[-2000:]
            self[width] = json.loads(html.unescape(found[1]))
            return self[width]

    return Reports()


def test_html_page_lays_out_both_columns_for_every_step(laid_out: dict[int, Any]) -> None:
    # Scenario: Chromium loads the page (plus a measuring script) and dumps the DOM; every
    # step has, for each of its definitions, a left column (the code that runs) and a
    # "tornado" column side by side, each wide, tall and holding source text or a note; the
    # left one holds source, unless an earlier step showed it (P4 is step 5's add_sockets).
    report = {entry["step"]: entry["pairs"] for entry in laid_out[WIDTH]["steps"]}
    assert list(report) == [step.number for step in STUDY_PATH]
    shown: set[str] = set()
    for step in STUDY_PATH:
        pairs = report[step.number]
        assert len(pairs) == len(step.pairs()), step.number
        for pair, (ref, _) in zip(pairs, step.pairs(), strict=True):
            [ours], [theirs] = pair["ours"], pair["tornado"]
            for column in (ours, theirs):
                assert column["width"] > WIDTH / 4 and column["height"] > 20, (step, column)
                assert column["text"] > 0, (step.number, column)
            assert theirs["left"] >= ours["left"] + ours["width"], (step.number, pair)
            assert theirs["top"] == ours["top"], (step.number, pair)
            assert (ours["source"] > 0) == (ref not in shown), (step.number, pair)
            assert theirs["kind"] == "tornado", (step.number, pair)
            shown.add(ref)


@pytest.mark.parametrize("width", [WIDTH, 760])
def test_html_code_wraps_instead_of_clipping(laid_out: dict[int, Any], width: int) -> None:
    # Scenario: at a wide and at a narrow window, no code block is wider than its box and
    # the page does not scroll sideways: long source lines wrap (some do, at either width).
    report = laid_out[width]
    clipped = [
        (entry["step"], column["heading"], column["overflow"])
        for entry in report["steps"]
        for pair in entry["pairs"]
        for column in pair["ours"] + pair["tornado"]
        if column["overflow"] > 0
    ]
    assert clipped == []
    assert report["page"]["scroll"] <= report["page"]["client"], report["page"]
    assert report["wrapped"] > 0


def test_html_page_says_no_sentence_twice(laid_out: dict[int, Any]) -> None:
    # Scenario: in the page's prose (headings, paragraphs, notes, the nav; not the source),
    # no sentence appears twice: each phase's intro is its heading, once; and no definition's
    # source is shown twice (a later step names it instead).
    report = laid_out[WIDTH]
    assert repeated_sentences(report["prose"]) == []
    shown = [
        column["heading"]
        for entry in report["steps"]
        for pair in entry["pairs"]
        for column in pair["ours"] + pair["tornado"]
        if column["source"]
    ]
    assert sorted(set(shown)) == sorted(shown), "a definition's code is shown twice"
    for intro in tour.PHASES.values():
        assert sum(intro.lower() in h.lower() for h in report["headings"]) == 1, intro


def test_html_labels_asyncios_code_as_asyncios(laid_out: dict[int, Any]) -> None:
    # Scenario: a definition of asyncio's (step 8) is labelled as the standard library's,
    # run by both servers, not as ours; minitornado's own code is labelled ours.
    report = {entry["step"]: entry["pairs"] for entry in laid_out[WIDTH]["steps"]}
    for step in STUDY_PATH:
        for (ours, _), pair in zip(step.pairs(), report[step.number], strict=True):
            [left] = pair["ours"]
            if ours.startswith("asyncio/"):
                assert left["kind"] == "asyncio", (step.number, left)
                assert left["heading"].startswith("asyncio (standard library, run by both)")
            elif ours.startswith("minitornado/"):
                assert (left["kind"], left["heading"][:4]) == ("ours", "ours"), left
            else:
                assert left["kind"] == "app" and "ours" not in left["heading"], left


def test_html_nav_is_one_line_of_step_numbers(laid_out: dict[int, Any]) -> None:
    # Scenario: the nav is one line at the top: each phase's name, then its step numbers,
    # every one a link to its step's section.
    nav = laid_out[WIDTH]["nav"]
    assert nav is not None
    assert nav["height"] < 2 * nav["lineHeight"], nav
    assert [text for text, _, _ in nav["links"]] == [step.number for step in STUDY_PATH]
    assert all(href == f"#step-{text}" and exists for text, href, exists in nav["links"])


def test_html_page_screenshot_shows_code_in_both_halves(tour_page: Path, tmp_path: Path) -> None:
    # Scenario: a screenshot of the page as Chromium paints it is not blank: its left half
    # (our code) and its right half (Tornado's) both hold many colours, as text does.
    shot = tmp_path / "tour.png"
    _run_chromium(
        [f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", tour_page.as_uri()], tmp_path
    )
    width, height, rows = read_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    assert shot.stat().st_size > 50_000
    left: set[bytes] = set()
    right: set[bytes] = set()
    for row in rows[HEIGHT // 10 : HEIGHT // 2]:
        pixels = [row[x : x + 3] for x in range(0, len(row), 3)]
        left.update(pixels[: width // 2 : 2])
        right.update(pixels[width // 2 :: 2])
    assert len(left) > 50 and len(right) > 50, (len(left), len(right))


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, RGB rows) of an 8-bit RGB or RGBA PNG (alpha dropped); no Pillow."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    bpp = 3 if color == 2 else 4
    rows = _unfilter(zlib.decompress(b"".join(chunks)), width * bpp, height, bpp)
    if bpp == 4:
        rows = [b"".join(row[x : x + 3] for x in range(0, len(row), 4)) for row in rows]
    return width, height, rows


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth: RFC 2083 §6)."""
    low = int.from_bytes(b"\x7f" * stride, "big")
    high = int.from_bytes(b"\x80" * stride, "big")
    prev, rows, pos = bytearray(stride), [], 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:  # bytewise add of the row above, all bytes at once
            x, y = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
            line = bytearray((((x & low) + (y & low)) ^ ((x ^ y) & high)).to_bytes(stride, "big"))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return rows
