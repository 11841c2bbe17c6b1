"""Tests for ``python -m minitornado.study.tour`` and the study path it walks (minitornado/tour.py).

The study path is written once, as ``minitornado.study.tour.STUDY_PATH``. These tests keep every
other telling of it true: the package docstring and the README print it, the calls of a real
``app.listen(0)`` and one request follow it in order (recorded with ``sys.setprofile``), its
Tornado references have the lengths the installed Tornado says, and the HTML page shows
both columns of every step in a real browser (headless Chromium).
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
    # request, then S1 to S6 for the shutdown, in order.
    numbers = [step.number for step in STUDY_PATH]
    plain = [n for n in numbers if n.isdigit()]
    shutdown = [n for n in numbers if n.startswith("S")]
    assert numbers == plain + shutdown
    assert plain == [str(n) for n in range(1, len(plain) + 1)]
    assert shutdown == [f"S{n}" for n in range(1, len(shutdown) + 1)]
    assert {step.phase for step in STUDY_PATH} == set(tour.PHASES)
    assert all(s.phase == "shutdown" for s in STUDY_PATH if s.number in shutdown)


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


def _qualname(code: CodeType) -> str:
    # co_qualname arrived in Python 3.11; on 3.10 the last part of the name is compared.
    return getattr(code, "co_qualname", code.co_name)


def _key(module: str, qualname: str) -> tuple[str, str]:
    return module, qualname if sys.version_info >= (3, 11) else qualname.rsplit(".", 1)[-1]


def _expected_calls(phases: Iterable[str]) -> list[tuple[str, str]]:
    expected = []
    for step in STUDY_PATH:
        if step.phase in phases:
            for ours, _ in step.pairs():
                if not ours.startswith(("minitornado/", "asyncio/")):
                    continue  # the app's own code (demo_app.py), not run here
                path, qualname = split_ref(ours)
                expected.append(_key(path.removesuffix(".py").replace("/", "."), qualname))
    return expected


def first_calls_in_order(recorded: Sequence[tuple[str, str]], expected: Sequence[Any]) -> str:
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
    # loop stops. Every Python call in minitornado (and in asyncio's selector loop) on the
    # loop's thread is recorded, first calls only: the study path must appear in that order.
    recorded: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if module.startswith("minitornado") or module == "asyncio.selector_events":
            key = _key(module, _qualname(frame.f_code))
            if key not in seen:
                seen.add(key)
                recorded.append(key)

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
    problem = first_calls_in_order(recorded, _expected_calls(tour.PHASES))
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
                assert f"{theirs}, line {tornado.first_line}, {tornado.length} lines" in out


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
  return {left: r.left, top: r.top, width: r.width, height: r.height,
          text: pre ? pre.innerText.trim().length : 0}; };
const report = [...document.querySelectorAll("section.step")].map((s) => ({
  step: s.dataset.step,
  pairs: [...s.querySelectorAll(".pair")].map((p) => ({
    ours: [...p.querySelectorAll(".col.ours")].map(box),
    tornado: [...p.querySelectorAll(".col.tornado")].map(box)}))}));
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


def test_html_page_lays_out_both_columns_for_every_step(tour_page: Path, tmp_path: Path) -> None:
    # Scenario: Chromium loads the page (plus a measuring script) and dumps the DOM; every
    # step has, for each of its definitions, an "ours" and a "tornado" column side by side,
    # each wide, tall and holding source text.
    probe = tmp_path / "probe.html"
    probe.write_text(tour_page.read_text().replace("</body>", LAYOUT_PROBE + "</body>"))
    dom = _run_chromium(["--dump-dom", f"--window-size={WIDTH},{HEIGHT}", probe.as_uri()], tmp_path)
    found = re.search(r'<pre id="layout-report">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    report = {entry["step"]: entry["pairs"] for entry in json.loads(html.unescape(found[1]))}
    assert list(report) == [step.number for step in STUDY_PATH]
    for step in STUDY_PATH:
        pairs = report[step.number]
        assert len(pairs) == len(step.pairs()), step.number
        for pair in pairs:
            [ours], [theirs] = pair["ours"], pair["tornado"]
            for column in (ours, theirs):
                assert column["width"] > WIDTH / 4 and column["height"] > 20, (step, column)
                assert column["text"] > 0, (step.number, column)
            assert theirs["left"] >= ours["left"] + ours["width"], (step.number, pair)
            assert theirs["top"] == ours["top"], (step.number, pair)


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
