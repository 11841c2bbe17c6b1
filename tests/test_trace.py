"""Tests for minitornado/study/trace.py: the study path, logged step by step as it happens.

A real server on 127.0.0.1 port 0 serves real clients over sockets, in this process, with the
trace on (lines captured from the ``minitornado.study.trace`` logger) or off (then no profile
hook may be installed, and nothing may reach the logger). The trace watches from outside:
no serving module may import it. ``demo_app.py --trace`` is tested in tests/test_demo_app.py.
"""

from __future__ import annotations

import ast
import asyncio
import io
import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import minitornado
from minitornado import web
from minitornado.study import trace
from minitornado.study._refs import code_of
from minitornado.study.tour import STUDY_PATH

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 5.0
STEP = re.compile(r"^\[minitornado\] step (\S+)", re.M)


class Hello(web.RequestHandler):
    async def post(self, name: str) -> None:
        await asyncio.sleep(0)
        self.write(f"Hello, {name}: {len(self.request.body)} bytes")


class Slow(web.RequestHandler):
    """Tells the test it has started, then answers once the test releases it."""

    def initialize(self, started: asyncio.Event, release: asyncio.Event) -> None:
        self.started, self.release = started, release

    async def get(self) -> None:
        self.started.set()
        await self.release.wait()
        self.write("Slow")


@pytest.fixture
def traced() -> Iterator[io.StringIO]:
    """The trace on, its lines collected; off again afterwards."""
    lines = io.StringIO()
    trace.enable(lines)
    try:
        yield lines
    finally:
        trace.disable()


@dataclass
class Run:
    port: int
    hello: bytes  # the POST's response, up to the end of its body
    slow: bytes  # the slow GET's whole response, to the connection's close
    cut: int  # what shutdown() returned


async def serve_and_shut_down(body: bytes = b"x" * 1000) -> Run:
    """Listen; POST ``body`` in two pieces on one connection, which stays open (keep-alive);
    start a slow GET on a second one, and shut down while it is in progress."""
    started, release = asyncio.Event(), asyncio.Event()
    server = web.Application(
        [(r"/hello/(\w+)", Hello), (r"/slow", Slow, {"started": started, "release": release})]
    ).listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    head = f"POST /hello/bob HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body[:10])
    await writer.drain()
    await asyncio.sleep(0.05)  # so the body arrives in two reads: two h11 Data events
    writer.write(body[10:])
    hello = await asyncio.wait_for(reader.readuntil(b"bytes"), TIMEOUT)
    slow_reader, slow_writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port), TIMEOUT
    )
    slow_writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(started.wait(), TIMEOUT)
    shutting_down = asyncio.ensure_future(server.shutdown(TIMEOUT))
    await asyncio.sleep(0.05)  # shutdown() has begun: the idle connection closed, /slow is last
    release.set()
    cut = await asyncio.wait_for(shutting_down, TIMEOUT)
    slow = await asyncio.wait_for(slow_reader.read(), TIMEOUT)
    writer.close()
    slow_writer.close()
    return Run(port, hello, slow, cut)


def steps_in_order(text: str) -> list[str]:
    """Each step's number, in the order of its first line."""
    return list(dict.fromkeys(STEP.findall(text)))


# ---- With the trace on -------------------------------------------------------------------------


def test_trace_logs_every_step_in_the_documented_order(traced: io.StringIO) -> None:
    # Scenario: asyncio.run() of: listen, two requests, a graceful shutdown during the second.
    # The first line of each step comes in STUDY_PATH's order: start-up 1-9, a request
    # 10-17, the shutdown S2-S6 (S1 is a signal, which only demo_app.py catches).
    run = asyncio.run(serve_and_shut_down())
    assert run.cut == 0 and run.slow.endswith(b"Slow")
    # (bind() + start(n), P1-P5, forks: tests/test_demo_app.py traces it in its own process.)
    # (HTTPS, T1-T6, is the next test's.)
    expected = [
        s.number for s in STUDY_PATH if s.number != "S1" and s.phase not in ("processes", "tls")
    ]
    assert steps_in_order(traced.getvalue()) == expected, traced.getvalue()


def test_trace_lines_carry_the_values_of_this_run(traced: io.StringIO) -> None:
    # Scenario: the lines say which address and fd were bound, what h11 saw, which handler
    # ran, how many bytes went out (exactly what the client received), and which connection
    # the shutdown closed at once and which one it let finish.
    run = asyncio.run(serve_and_shut_down(body=b"y" * 1000))
    text = traced.getvalue()
    assert re.search(rf"step 4 .* bound 127\.0\.0\.1:{run.port} fd=\d+ backlog=128", text)
    assert "handler=add_accept_handler.accept_handler" in text
    assert re.search(r"step 8 .* loop\.add_reader\((\d+), IOLoop\._handle_events\).* fd \1$",
                     text, re.M)  # fmt: skip
    assert re.search(r"step 10 .* accepted from 127\.0\.0\.1:\d+ \(#1 of this wake-up\)", text)
    assert re.search(r"step 14 .* fd=\d+ h11 Request: POST /hello/bob HTTP/1.1, \d+ header", text)
    fed = re.search(r"1000 body bytes in 2 h11 Data event\(s\); (\d+) bytes fed to h11", text)
    assert fed and int(fed.group(1)) > 1000
    assert "-> Hello, path groups [b'bob']" in text
    assert "Hello.post('bob') (async def: awaited)" in text
    assert "Slow.get() (async def: awaited)" in text
    written = re.search(r"step 17 .* finished: 200, (\d+) bytes written", text)
    assert written and int(written.group(1)) == len(run.hello)
    idle = re.search(r"step S3 .* 1 idle connection\(s\) closed at once: fd=(\d+)$", text, re.M)
    busy = re.search(r"step S4 .* 1 busy connection\(s\) .* fd=(\d+)$", text, re.M)
    assert idle and busy and idle.group(1) != busy.group(1)
    assert re.search(r"step S6 .* \(under asyncio\.run: main\(\) returned\)", text)
    assert text.count(" step S6 ") == 1  # asyncio.run's clean-up stops the loop again: not S6


async def https_request(tmp_path: Path) -> bytes:
    """Listen with ssl_options (trustme's certificate for 127.0.0.1), GET / over TLS."""
    import ssl

    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    server = web.Application([(r"/hello/(\w+)", Hello)]).listen(
        0, "127.0.0.1", ssl_options={"certfile": str(cert), "keyfile": str(key)}
    )
    port = next(iter(server._sockets.values())).getsockname()[1]
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context), TIMEOUT
    )
    writer.write(b"POST /hello/tls HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    answer = await asyncio.wait_for(reader.readuntil(b"bytes"), TIMEOUT)
    writer.close()
    await asyncio.wait_for(server.shutdown(TIMEOUT), TIMEOUT)
    return answer


def test_trace_shows_each_round_of_the_tls_handshake(traced: io.StringIO, tmp_path: Path) -> None:
    # Scenario: an HTTPS request (asyncio's TLS client). T1 comes inside step 2, T2 inside
    # step 10, T3 after step 11, T4 after step 12, then one T5 line per handshake round,
    # each saying what woke it and what the loop waits for next and why (the
    # SSLWantReadError, with the fd), the last saying the handshake is done; then T6, the
    # first decrypted bytes, and step 14 as over TCP.
    answer = asyncio.run(https_request(tmp_path))
    assert answer.endswith(b"Hello, tls: 0 bytes")
    text = traced.getvalue()
    order = steps_in_order(text)
    tls = [s.number for s in STUDY_PATH if s.phase == "tls"]
    assert [n for n in order if n in tls] == tls, text
    assert order.index("T1") < order.index("2") < order.index("10") < order.index("T2")
    assert order.index("T2") < order.index("11") < order.index("T3") < order.index("12")
    assert order.index("12") < order.index("T4") and order.index("T6") < order.index("14")
    assert re.search(r"step T1 .* ssl_options \{certfile, keyfile\} -> SSLContext\("
                     r"PROTOCOL_TLS_SERVER", text)  # fmt: skip
    assert re.search(r"step T2 .* fd=(\d+) wrapped: .*do_handshake_on_connect=False", text)
    fd = re.search(r"step T3 .* fd=(\d+): SSLIOStream, on the loop at once for READ", text)
    assert fd, text
    rounds = re.findall(rf"step T5 .* fd={fd[1]} round (\d+) \(woken by (READ|WRITE)\): "
                        r"do_handshake\(\) (.*)$", text, re.M)  # fmt: skip
    assert len(rounds) >= 2, text
    assert [int(n) for n, _, _ in rounds] == list(range(1, len(rounds) + 1))
    for _, _, outcome in rounds[:-1]:
        assert re.match(r"raised SSLWant(Read|Write)Error: .* the loop waits for (READ|WRITE)$",
                        outcome), outcome  # fmt: skip
    assert rounds[-1][2].startswith("returned: handshake done, TLSv1.")
    assert re.search(rf"step T4 .* fd={fd[1]} protocol=https", text)
    assert re.search(rf"step T6 .* fd={fd[1]} recv\(\) returned \d+ bytes, decrypted", text)
    assert re.search(rf"step 14 .* fd={fd[1]} h11 Request: POST /hello/tls", text)


def test_step_9_names_what_runs_the_loop(traced: io.StringIO) -> None:
    # Scenario: asyncio.run() runs the loop; demo_app.py's three --start modes show the
    # other runners (tests/test_demo_app.py).
    asyncio.run(serve_and_shut_down())
    line = next(line for line in traced.getvalue().splitlines() if " step 9 " in line)
    assert "the loop is running, started by asyncio.run() -> run_until_complete()" in line


def test_a_failing_watch_is_reported_once_and_the_server_serves_on(
    traced: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scenario: a watch whose values cannot be read (a definition that changed shape) must
    # not let its exception into the server: one warning, and every other step still logs.
    def broken(frame: FrameType, value: Any) -> list[str]:
        raise KeyError("no such local")

    ref = STUDY_PATH[0].ours
    monkeypatch.setitem(trace.LINES, "1", (trace.Watch(ref, "call", broken),))
    trace.enable(traced)
    asyncio.run(serve_and_shut_down())
    text = traced.getvalue()
    assert text.count("cannot read its values") == 1
    assert steps_in_order(text)[:2] == ["2", "3"]


# ---- The trace and the study path are one table -----------------------------------------------


def test_every_step_of_the_study_path_has_lines_and_there_is_no_other() -> None:
    # Scenario: LINES is keyed by STUDY_PATH's numbers, in its order; each watch names a
    # definition that exists, and each step watches its own definition unless its values
    # show elsewhere (listed here, with where).
    assert list(trace.LINES) == [step.number for step in STUDY_PATH]
    elsewhere = {
        "9": "a callback queued by the first add_handler: IOLoop.start() may never run",
        "14": "h11's Request and the end of the message, not read_response's arguments",
        "17": "write_headers and _finish_request, where the status and byte counts are",
        "S6": "asyncio's loop.stop(), which IOLoop.stop() calls, and asyncio.run too",
    }
    for step in STUDY_PATH:
        watches = trace.LINES[step.number]
        assert watches and all(w.event in ("call", "return") for w in watches)
        refs = {w.ref for w in watches}
        assert (step.ours in refs) != (step.number in elsewhere), step.number
    for watch in [w for ws in trace.LINES.values() for w in ws] + list(trace.COUNTERS):
        if not watch.ref.startswith("demo_app.py"):  # an app file: looked for, not imported
            assert code_of(watch.ref) is not None, watch.ref


def test_a_reference_that_names_nothing_is_refused() -> None:
    # Scenario: a renamed definition makes its reference fail loudly, nested ones too; only
    # an app file that is not loaded gives None (the trace looks again when re-enabled).
    with pytest.raises(LookupError, match="renamed"):
        code_of("minitornado/web.py::Application.renamed")
    with pytest.raises(LookupError, match="no function 'gone'"):
        code_of("minitornado/netutil.py::add_accept_handler.<locals>.gone")
    assert code_of("no_such_app.py::main") is None


def test_each_line_names_the_step_as_the_study_path_does() -> None:
    # Scenario: a line of step N carries STUDY_PATH's title for N and its Tornado definition.
    lines = io.StringIO()
    trace.enable(lines)
    try:
        trace.step("4", "bound somewhere")
        trace.step("S3", "nothing")
    finally:
        trace.disable()
    assert "step 4   bind_sockets  (tornado/netutil.py::bind_sockets)  bound somewhere" in (
        lines.getvalue()
    )
    assert "step S3  idle connections close now  (ours alone)  nothing" in lines.getvalue()
    for step in STUDY_PATH:
        assert f"    {step.number}. " in (minitornado.__doc__ or ""), step.number


def test_enable_twice_prints_each_line_once() -> None:
    # Scenario: enable() replaces its own handler instead of adding a second one.
    lines = io.StringIO()
    trace.enable(io.StringIO())
    trace.enable(lines)
    try:
        trace.step("4", "bound somewhere")
    finally:
        trace.disable()
    assert lines.getvalue().count("step 4") == 1


# ---- With the trace off: nothing installed, nothing imported -----------------------------------


def _imports_of(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "minitornado" if node.level else (node.module or "")
            module = f"{base}.{node.module}" if node.level and node.module else base
            names += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_no_serving_module_imports_the_study_package() -> None:
    # Scenario: every module of minitornado outside minitornado/study is read (ast): none
    # imports minitornado.study. The package's __init__ may, and only under the
    # MINITORNADO_TRACE test (test_minitornado_trace_environment_variable_traces_any_app).
    package = ROOT / "minitornado"
    modules = [p for p in package.rglob("*.py") if "study" not in p.relative_to(package).parts]
    assert len(modules) > 10
    for path in modules:
        if path == package / "__init__.py":
            continue
        study = [n for n in _imports_of(path) if n.startswith("minitornado.study")]
        assert study == [], f"{path.relative_to(ROOT)} imports {study}"
    assert any(n.startswith("minitornado.study") for n in _imports_of(package / "__init__.py"))
    # And the check can fail:
    assert _imports_of(package / "study" / "trace.py").count("minitornado.study._refs") == 1


def test_serving_without_the_trace_loads_no_study_module() -> None:
    # Scenario: a whole app serves a request with MINITORNADO_TRACE unset: not one module of
    # minitornado.study is loaded, and no profile hook is installed.
    app = textwrap.dedent("""
        import asyncio, sys
        from minitornado import web

        class Hello(web.RequestHandler):
            def get(self):
                self.write("Hello")

        async def main():
            server = web.Application([("/", Hello)]).listen(0, "127.0.0.1")
            port = next(iter(server._sockets.values())).getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            assert (await asyncio.wait_for(reader.read(), 5)).endswith(b"Hello")
            assert sys.getprofile() is None
            await server.shutdown(5)

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.startswith("minitornado")))
    """)
    env = {k: v for k, v in os.environ.items() if k != "MINITORNADO_TRACE"}
    done = subprocess.run(
        [sys.executable, "-c", app], capture_output=True, text=True, env=env, timeout=20
    )
    assert done.returncode == 0, done.stderr
    loaded = ast.literal_eval(done.stdout.strip())
    assert "minitornado.web" in loaded
    assert [m for m in loaded if m.startswith("minitornado.study")] == []


async def test_trace_off_installs_nothing_and_logs_nothing() -> None:
    # Scenario: after enable() and disable(), serving a request finds no profile hook, and
    # the trace's logger receives nothing, even when it would accept every level.
    trace.enable(io.StringIO())
    trace.disable()
    assert not trace.enabled and sys.getprofile() is None
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    level = trace.trace_log.level
    trace.trace_log.addHandler(handler)
    trace.trace_log.setLevel(logging.DEBUG)
    try:
        server = web.Application([(r"/hello/(\w+)", Hello)]).listen(0, "127.0.0.1")
        port = next(iter(server._sockets.values())).getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /hello/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"bytes"), TIMEOUT)
        assert sys.getprofile() is None
        await asyncio.wait_for(server.shutdown(TIMEOUT), TIMEOUT)
        writer.close()
    finally:
        trace.trace_log.removeHandler(handler)
        trace.trace_log.setLevel(level)
    assert records == []


def test_minitornado_trace_environment_variable_traces_any_app() -> None:
    # Scenario: an app that never mentions the trace, run with MINITORNADO_TRACE=1, prints
    # the start-up steps on stderr, and S6 when asyncio.run stops the loop; with the
    # variable unset it prints none.
    app = textwrap.dedent("""
        import asyncio
        from minitornado import web

        async def main():
            web.Application([]).listen(0, "127.0.0.1")
            await asyncio.sleep(0.05)

        asyncio.run(main())
    """)
    env = {k: v for k, v in os.environ.items() if k != "MINITORNADO_TRACE"}

    def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", app]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=20)

    quiet, traced = run(env), run({**env, "MINITORNADO_TRACE": "1"})
    assert quiet.returncode == traced.returncode == 0, traced.stderr
    assert "step" not in quiet.stderr
    assert steps_in_order(traced.stderr) == [*map(str, range(1, 10)), "S6"], traced.stderr
