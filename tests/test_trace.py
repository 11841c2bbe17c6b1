"""Tests for minitornado/trace.py: the study path, logged step by step as it happens.

A real server on 127.0.0.1 port 0 serves a real client over a socket, in this process, with
the trace on (lines captured from the ``minitornado.study.trace`` logger) or off (then nothing at
all may reach the trace module). ``demo_app.py --trace`` is tested in tests/test_demo_app.py.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import minitornado
from minitornado import web
from minitornado.study import trace

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 5.0
STEP = re.compile(r"^\[minitornado\] step (\S+)", re.M)


class Hello(web.RequestHandler):
    async def post(self, name: str) -> None:
        await asyncio.sleep(0)
        self.write(f"Hello, {name}: {len(self.request.body)} bytes")


@pytest.fixture
def traced() -> Iterator[io.StringIO]:
    """The trace on, its lines collected; off again afterwards."""
    lines = io.StringIO()
    trace.enable(lines)
    try:
        yield lines
    finally:
        trace.disable()


async def serve_one_request(body: bytes = b"x" * 1000) -> tuple[int, bytes]:
    """Start a server, POST ``body`` to it in two pieces, shut it down; (port, response)."""
    server = web.Application([(r"/hello/(\w+)", Hello)]).listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    head = f"POST /hello/bob HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body[:10])
    await writer.drain()
    await asyncio.sleep(0.05)  # so the body arrives in two reads: two h11 Data events
    writer.write(body[10:])
    response = await asyncio.wait_for(reader.readuntil(b"bytes"), TIMEOUT)
    await asyncio.wait_for(server.shutdown(TIMEOUT), TIMEOUT)
    writer.close()
    return port, response


def steps_in_order(text: str) -> list[str]:
    """Each step's number, in the order of its first line."""
    return list(dict.fromkeys(STEP.findall(text)))


# ---- With the trace on -------------------------------------------------------------------------


async def test_trace_logs_every_step_in_the_documented_order(traced: io.StringIO) -> None:
    # Scenario: listen, run the loop, serve one POST, shut down. The first line of each step
    # comes in the numbered order: start-up 1-9, the request 10-17, the shutdown S2-S5.
    await serve_one_request()
    assert steps_in_order(traced.getvalue()) == [
        *map(str, range(1, 18)), "S2", "S3", "S4", "S5",
    ]  # fmt: skip


async def test_trace_lines_carry_the_values_of_this_run(traced: io.StringIO) -> None:
    # Scenario: the lines say which address and fd were bound, what h11 saw, which handler
    # ran, and how many bytes went out: exactly what the client received.
    port, response = await serve_one_request(body=b"y" * 1000)
    text = traced.getvalue()
    assert re.search(rf"step 4 .* bound 127\.0\.0\.1:{port} fd=\d+ backlog=128", text)
    assert "handler=add_accept_handler.accept_handler" in text
    assert re.search(r"step 8 .* loop\.add_reader\(\d+, IOLoop\._handle_events\)", text)
    assert re.search(r"step 10 .* accepted from 127\.0\.0\.1:\d+ \(#1 of this wake-up\)", text)
    assert "h11 Request: POST /hello/bob HTTP/1.1" in text
    assert "h11 EndOfMessage: 1000 body bytes in 2 Data event(s)" in text
    assert "-> Hello, path groups [b'bob']" in text
    assert "Hello.post('bob') (async def: awaited)" in text
    written = re.search(r"step 17 .* finished: 200, (\d+) bytes written", text)
    assert written and int(written.group(1)) == len(response)
    assert "1 idle connection(s) closed" in text


async def test_step_9_says_asyncio_run_runs_the_loop(traced: io.StringIO) -> None:
    # Scenario: under pytest-asyncio the loop is run by run_until_complete; under
    # demo_app.py's three --start modes the line names each runner (test_demo_app.py).
    await serve_one_request()
    line = next(line for line in traced.getvalue().splitlines() if " step 9 " in line)
    assert "the loop is running, started by" in line
    assert "run_until_complete() -> run_forever()" in line


def test_each_step_names_what_the_package_docstring_and_the_tour_name() -> None:
    # Scenario: the trace's numbers are the study path's: step N mirrors the Tornado
    # definition the tour gives for step N, and the shutdown steps are in the docstring.
    from minitornado.study.tour import STUDY_PATH

    assert list(trace.STEPS) == [step.number for step in STUDY_PATH]
    for step in STUDY_PATH:
        mirrors = trace.STEPS[step.number][1]
        assert mirrors == step.tornado or (not step.tornado and mirrors.startswith("ours alone"))
        assert f"    {step.number}. " in (minitornado.__doc__ or ""), step.number


# ---- With the trace off ------------------------------------------------------------------------


async def test_trace_off_costs_no_call_and_no_formatting(monkeypatch: pytest.MonkeyPatch) -> None:
    # Scenario: with the trace off, serving a request must not call into the trace module
    # at all (so nothing is formatted), and its logger must receive nothing, even when
    # the logger itself would accept every level.
    assert not trace.enabled
    calls: list[str] = []

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return wrapper

    for name in ("step", "fd_of", "address", "announce_when_running", "RequestTrace"):
        monkeypatch.setattr(trace, name, counting(name, getattr(trace, name)))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    level = trace.trace_log.level
    trace.trace_log.addHandler(handler)
    trace.trace_log.setLevel(logging.DEBUG)
    try:
        await serve_one_request()
    finally:
        trace.trace_log.removeHandler(handler)
        trace.trace_log.setLevel(level)
    assert calls == []
    assert records == []


def test_enable_twice_prints_each_line_once() -> None:
    # Scenario: enable() replaces its own handler instead of adding a second one.
    lines = io.StringIO()
    trace.enable(io.StringIO())
    trace.enable(lines)
    try:
        trace.step(4, "bound %s", "somewhere")
    finally:
        trace.disable()
    assert lines.getvalue().count("step 4") == 1
    assert "(tornado/netutil.py::bind_sockets)  bound somewhere" in lines.getvalue()


def test_minitornado_trace_environment_variable_traces_any_app() -> None:
    # Scenario: an app that never mentions the trace, run with MINITORNADO_TRACE=1, prints
    # the start-up steps on stderr; with the variable unset it prints none.
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
    assert steps_in_order(traced.stderr) == list(map(str, range(1, 10)))
