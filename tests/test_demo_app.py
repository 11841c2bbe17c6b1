"""demo_app.py, run as a subprocess: every route, each --start mode, both --impl, the trace,
and the signals (a graceful SIGTERM or Ctrl-C, a second signal, the grace deadline).

Each test starts ``python demo_app.py --port 0 ...`` and reads the port from the first line
it prints. Every wait is bounded: the first line, every socket, the exit.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import IMPLS

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0  # a busy machine takes its time to start Python and import Tornado
TIMEOUT = 5.0
FIRST_LINE = re.compile(r"^Listening on http://127\.0\.0\.1:(\d+)/ \(impl=(\w+), start=(\w+)\)$")
STARTS = ["run", "ioloop", "asyncio"]


@dataclass
class Demo:
    process: subprocess.Popen[str]
    port: int
    first_line: str

    def get(self, path: str, body: bytes | None = None) -> tuple[int, str, bytes]:
        """One request on a new connection: (status, Content-Type, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            conn.request("POST" if body else "GET", path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            conn.close()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> tuple[str, str]:
        """Send ``sig`` and wait for the exit: (rest of stdout, stderr)."""
        self.process.send_signal(sig)
        return self.process.communicate(timeout=TIMEOUT)


@pytest.fixture
def demo() -> Iterator[object]:
    """``demo(*flags, env=None) -> Demo``; every process is killed at the end if still up."""
    processes: list[subprocess.Popen[str]] = []

    def start(*flags: str, env: dict[str, str] | None = None) -> Demo:
        # DeprecationWarnings are errors here, as in the suite: --start ioloop must be silent.
        command = [sys.executable, "-W", "error::DeprecationWarning", "demo_app.py"]
        process = subprocess.Popen(
            [*command, "--port", "0", *flags], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(process)
        line = read_line(process, START_TIMEOUT)
        match = FIRST_LINE.match(line)
        assert match, f"first line: {line!r}; stderr: {stderr_now(process)}"
        return Demo(process, int(match.group(1)), line)

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    assert readable, "demo_app.py printed nothing"
    return process.stdout.readline().rstrip("\n")


def stderr_now(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.kill()
    return process.communicate(timeout=TIMEOUT)[1]


def start_slow_stream(port: int, delay: float = 0.1) -> tuple[socket.socket, bytes]:
    """A request to /stream whose first piece has arrived: the handler is mid-response,
    and needs ``4 * delay`` seconds more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.sendall(b"GET /stream?delay=%g HTTP/1.1\r\nHost: x\r\n\r\n" % delay)
    received = b""
    while b"piece 1 of 5" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed early: {received!r}"
        received += chunk
    return sock, received


def read_to_close(sock: socket.socket, data: bytes = b"") -> bytes:
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data


# ---- Every route, every way of starting, on both implementations -----------------------------


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("impl", IMPLS)
def test_demo_serves_every_route_then_drains_on_sigterm(demo, impl: str, start: str) -> None:
    # The first line says where it listens; each route answers; a SIGTERM that arrives while
    # /stream is mid-response lets that response finish, and the process exits 0.
    app = demo("--impl", impl, "--start", start)
    assert app.first_line.endswith(f"(impl={impl}, start={start})")
    status, kind, index = app.get("/")
    assert (status, kind) == (200, "text/plain; charset=UTF-8")
    lines = index.decode().splitlines()  # one route a line: its path, what it shows
    paths = [line.split()[0].partition("?")[0] for line in lines]
    assert paths == ["/", "/hello", "/hi", "/json", "/args/WORD/NUMBER", "/form", "/stream",
                     "/async", "/blocking", "/error"]  # fmt: skip
    assert all(len(line.split()) > 2 for line in lines)
    assert app.get("/hello?name=you")[2] == b"Hello, you!\n"
    assert app.get("/hi")[2] == b"Hello, world!\n"
    status, kind, body = app.get("/json")
    assert (status, kind) == (200, "application/json; charset=UTF-8")
    assert b'"path": "/json"' in body
    assert app.get("/args/a%2Fb/7")[2] == b"word='a/b' number='7'\n"
    assert b'<form method="post">' in app.get("/form")[2]
    form = app.get("/form?q=x", body=b"q=caf%C3%A9&q=2")[2]
    assert form == "body  q = ['café', '2']\nquery q = ['x']\n".encode()
    assert app.get("/stream?delay=0")[2] == b"".join(b"piece %d of 5\n" % i for i in range(1, 6))
    assert app.get("/async?seconds=0")[2].startswith(b"Awaited asyncio.sleep(0.0)")
    assert app.get("/blocking?seconds=0")[2].startswith(b"Blocked the loop for 0.0 s")
    assert app.get("/error")[0] == 500
    assert app.get("/nowhere")[0] == 404

    in_flight, received = start_slow_stream(app.port)
    out, err = app.stop(signal.SIGTERM)
    assert read_to_close(in_flight, received).endswith(b"piece 5 of 5\n\r\n0\r\n\r\n")
    assert app.process.returncode == 0, err
    assert out.splitlines() == [
        "SIGTERM: shutting down (a second signal exits at once)",
        "Stopped.",
    ]


# ---- The trace -------------------------------------------------------------------------------

RUNNERS = {
    "run": "asyncio.run() -> run_until_complete() -> run_forever()",
    "ioloop": "IOLoop.start() -> run_forever()",
    "asyncio": "loop.run_forever(), called from demo_app.py::start_asyncio",
}


@pytest.mark.parametrize("start", STARTS)
def test_trace_prints_the_numbered_steps_in_order(demo, start: str) -> None:
    # --trace: start-up steps 1-9 (step 9 naming what runs the loop), then one request's
    # steps 10-17, then the shutdown S1-S6, each first seen in that order, on stderr.
    app = demo("--trace", "--start", start)
    assert app.get("/hello")[0] == 200
    _, err = app.stop()
    assert app.process.returncode == 0, err
    numbers = list(dict.fromkeys(re.findall(r"^\[minitornado\] step (\S+)", err, re.M)))
    assert numbers == [*map(str, range(1, 18)), "S1", "S2", "S3", "S4", "S5", "S6"], err
    assert re.search(rf"step 4 .* bound 127\.0\.0\.1:{app.port} fd=\d+ backlog=128", err)
    step_9 = next(line for line in err.splitlines() if " step 9 " in line)
    assert f"started by {RUNNERS[start]}" in step_9
    assert "Hello.get() (plain def)" in err
    assert re.search(r"step 17 .* finished: 200, \d+ bytes written", err)


def test_trace_with_tornado_says_the_trace_is_minitornados_own(demo) -> None:
    # Tornado has no hooks: one line says so, and the app serves on.
    app = demo("--impl", "tornado", "--trace")
    assert app.get("/hello")[0] == 200
    _, err = app.stop()
    assert "--trace: the trace is minitornado's own (it watches minitornado's code" in err
    assert "step" not in err
    assert app.process.returncode == 0


# ---- Signals and the grace period -------------------------------------------------------------


def test_ctrl_c_exits_0_without_a_traceback(demo) -> None:
    # SIGINT (Ctrl-C) is the same graceful shutdown as SIGTERM, not a KeyboardInterrupt.
    app = demo()
    assert app.get("/")[0] == 200
    out, err = app.stop(signal.SIGINT)
    assert app.process.returncode == 0
    assert "Traceback" not in err
    assert out.splitlines()[-1] == "Stopped."


def test_second_signal_exits_at_once(demo) -> None:
    # A first SIGTERM starts a shutdown that would wait 30 s for a slow /stream; a second
    # one kills the process at once, by the signal's default action.
    app = demo("--grace", "30")
    sock, _ = start_slow_stream(app.port, delay=10)
    app.process.send_signal(signal.SIGTERM)
    assert read_line(app.process, TIMEOUT).startswith("SIGTERM: shutting down")
    began = time.monotonic()
    app.process.send_signal(signal.SIGTERM)
    app.process.communicate(timeout=TIMEOUT)
    assert app.process.returncode == -signal.SIGTERM
    assert time.monotonic() - began < 2
    sock.close()


def test_grace_deadline_cuts_a_request_that_does_not_finish(demo) -> None:
    # --grace 0.3 with a response that needs 40 s more: the process exits 0 soon after the
    # deadline, and that client sees the connection close before the response's end.
    app = demo("--grace", "0.3")
    sock, received = start_slow_stream(app.port, delay=10)
    began = time.monotonic()
    app.stop()
    assert app.process.returncode == 0
    assert time.monotonic() - began < 3
    assert b"piece 2" not in read_to_close(sock, received)


def test_missing_tornado_is_one_line_naming_the_install_command(tmp_path: Path) -> None:
    # Without Tornado installed (a stand-in package that fails to import shadows it),
    # --impl tornado prints one line with the install command and exits 1.
    (tmp_path / "tornado").mkdir()
    (tmp_path / "tornado" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'tornado'\", name='tornado')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "demo_app.py", "--impl", "tornado", "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=START_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "tornado is not installed" in line
    assert "pip install tornado" in line


# ---- Several processes: --processes N (bind + start(N), forks) and --reuse-port N ------------

SEVERAL_LINE = re.compile(
    r"^Listening on http://127\.0\.0\.1:(\d+)/ \(impl=minitornado, start=(\w+), (\w+)=(\d+)\)$"
)
TRACED = re.compile(r"^\[minitornado\] (?:\[child (\d+) pid (\d+)\] )?step (\S+)", re.M)


@dataclass
class Group:
    """demo_app.py leading a process group of its own: the parent and every process it made."""

    process: subprocess.Popen[str]
    port: int
    stderr_path: Path

    def alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def finish(self) -> tuple[int, str, str]:
        out, _ = self.process.communicate(timeout=TIMEOUT)
        return self.process.returncode, out, self.stderr_path.read_text()


@pytest.fixture
def several(tmp_path: Path) -> Iterator[object]:
    """``several(*flags) -> Group``; the whole group is killed at the end if anything is left."""
    groups: list[Group] = []

    def start(*flags: str) -> Group:
        stderr_path = tmp_path / f"stderr{len(groups)}.txt"
        with stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-W", "error::DeprecationWarning", "demo_app.py", "--port", "0",
                 *flags],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
                start_new_session=True,
            )  # fmt: skip
        group = Group(process, 0, stderr_path)
        groups.append(group)
        line = read_line(process, START_TIMEOUT)
        match = SEVERAL_LINE.match(line)
        assert match, f"first line: {line!r}; stderr: {stderr_path.read_text()}"
        group.port = int(match.group(1))
        return group

    yield start
    for group in groups:
        if group.alive():
            os.killpg(group.process.pid, signal.SIGKILL)
        group.process.communicate(timeout=TIMEOUT)


def wait_until_gone(group: Group, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while group.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not group.alive()


def test_processes_trace_shows_start_forking_and_each_childs_steps(several) -> None:
    # --processes 2 --trace: the parent's lines show HTTPServer (2), bind (P1, with
    # bind_sockets 4 inside), start (P2) and fork_processes (P3); each child's lines carry its
    # task id and pid and go on P3 (forked), add_sockets (5, P4), the accept handler (6-8),
    # task_id (P5) and the loop (9). Both children serve; one SIGTERM to the parent alone
    # stops them all: exit 0, no process left.
    app = several("--processes", "2", "--trace")
    for _ in range(10):
        assert Demo(app.process, app.port, "").get("/hello")[0] == 200
    os.kill(app.process.pid, signal.SIGTERM)
    code, out, err = app.finish()
    assert code == 0, err
    assert wait_until_gone(app), "a process outlived the parent"
    parent = [n for task, _, n in TRACED.findall(err) if not task]
    assert list(dict.fromkeys(parent))[:5] == ["2", "P1", "4", "P2", "P3"], err
    pids: dict[str, set[str]] = {}
    for task, pid, _ in TRACED.findall(err):
        if task:
            pids.setdefault(task, set()).add(pid)
    assert sorted(pids) == ["0", "1"] and all(len(p) == 1 for p in pids.values()), pids
    for task in pids:
        mine = [n for t, _, n in TRACED.findall(err) if t == task]
        firsts = list(dict.fromkeys(mine))
        assert firsts[:8] == ["P3", "5", "P4", "6", "7", "8", "P5", "9"], (task, firsts)
        assert firsts[-6:] == ["S1", "S2", "S3", "S4", "S5", "S6"], (task, firsts)
    assert re.search(r"step P3 .* parent pid \d+: forking 2 children", err)
    assert re.search(r"\[child 1 pid \d+\] step P5 .* task_id\(\) is 1 in pid \d+", err)
    said = sorted(line.split(" (pid")[0] for line in out.splitlines() if "shutting down" in line)
    assert said == ["child 0", "child 1"], out
    assert out.splitlines()[-1] == "Stopped."


@pytest.mark.parametrize("flag", ["--processes", "--reuse-port"])
def test_one_ctrl_c_drains_every_process_and_exits_0(several, flag: str) -> None:
    # Ctrl-C in a terminal sends SIGINT to the whole group: each worker gets it from the
    # terminal and again from its parent, yet drains once, so a response in progress
    # (/stream, 0.5 s more) arrives whole; then every process has exited, the parent with 0.
    app = several(flag, "2")
    in_flight, received = start_slow_stream(app.port, delay=0.125)
    os.killpg(app.process.pid, signal.SIGINT)
    assert read_to_close(in_flight, received).endswith(b"piece 5 of 5\n\r\n0\r\n\r\n")
    code, out, err = app.finish()
    assert code == 0, err
    assert wait_until_gone(app)
    assert out.count("SIGINT: shutting down") == 2, out
    assert "Traceback" not in err, err


def test_processes_a_second_sigterm_half_a_second_later_stops_now(several) -> None:
    # A SIGTERM to the parent starts the drain of a 5 s request (grace 10 s); a second one
    # 0.8 s later, passed on too, is a real second signal: the child serving it dies at once,
    # the request is cut, and the parent, whose children ended by the signal it passed on or
    # by exiting 0, exits 0.
    app = several("--processes", "2", "--grace", "10")
    sock = socket.create_connection(("127.0.0.1", app.port), timeout=TIMEOUT)
    sock.sendall(b"GET /async?seconds=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)  # the request is in its handler
    os.kill(app.process.pid, signal.SIGTERM)
    time.sleep(0.8)
    os.kill(app.process.pid, signal.SIGTERM)
    started = time.monotonic()
    code, _, err = app.finish()
    assert time.monotonic() - started < 3.0
    assert code == 0, err
    assert read_to_close(sock) == b""
    assert wait_until_gone(app)
    # The child with the request dies by the second SIGTERM; the other one, idle, may have
    # drained and exited before it.
    assert "stopped by signal 15" in err, err


def test_reuse_port_runs_independent_processes_and_stops_on_sigterm(several) -> None:
    # --reuse-port 2: two processes that are not forks of a loop-owning parent (each runs
    # "demo_app.py --worker N"), each with its own socket on the one port; the parent prints
    # the first line once both listen. One SIGTERM to the parent: both drain, exit 0.
    app = several("--reuse-port", "2")
    workers = subprocess.run(
        ["ps", "-ww", "-o", "args=", "--ppid", str(app.process.pid)], capture_output=True, text=True
    ).stdout.splitlines()
    assert len(workers) == 2 and all("--worker" in w for w in workers), workers
    for _ in range(10):
        assert Demo(app.process, app.port, "").get("/hello")[0] == 200
    os.kill(app.process.pid, signal.SIGTERM)
    code, out, err = app.finish()
    assert code == 0, err
    assert wait_until_gone(app)
    said = sorted(line.split(" (pid")[0] for line in out.splitlines() if "shutting down" in line)
    assert said == ["worker 0", "worker 1"], out
    assert out.splitlines()[-1] == "Stopped."


# ---- HTTPS: --certfile and --keyfile ----------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_certfile_and_keyfile_serve_https_with_the_trace(impl: str, tmp_path: Path) -> None:
    # --certfile F --keyfile F, with a certificate trustme makes now: the first line says
    # https://; a client that trusts the CA gets 200s (http.client, and curl --cacert when
    # curl is installed); plain HTTP to the port gets no answer; SIGTERM exits 0. On
    # minitornado, --trace logs T1 to T6 in order, the handshake's rounds among them.
    import ssl

    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    flags = ["--impl", impl, "--certfile", str(cert), "--keyfile", str(key)]
    flags += ["--trace"] if impl == "minitornado" else []
    process = subprocess.Popen(
        [sys.executable, "-W", "error::DeprecationWarning", "demo_app.py", "--port", "0", *flags],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = read_line(process, START_TIMEOUT)
        found = re.match(rf"^Listening on https://127\.0\.0\.1:(\d+)/ \(impl={impl}, start=run\)$",
                         line)  # fmt: skip
        assert found, f"first line: {line!r}; stderr: {stderr_now(process)}"
        port = int(found[1])
        context = ssl.create_default_context(cafile=str(ca_file))
        conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=TIMEOUT)
        for _ in range(2):  # keep-alive: the second request reuses the TLS connection
            conn.request("GET", "/hello?name=tls")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"Hello, tls!\n")
        conn.close()
        if shutil.which("curl"):
            curl = subprocess.run(
                ["curl", "-sS", "--max-time", str(TIMEOUT), "--cacert", str(ca_file),
                 f"https://localhost:{port}/hello?name=curl"],
                capture_output=True, text=True, timeout=2 * TIMEOUT,
            )  # fmt: skip
            assert (curl.returncode, curl.stdout) == (0, "Hello, curl!\n"), curl.stderr
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            # A TLS alert and a close, or a reset (the request was left unread).
            with contextlib.suppress(ConnectionResetError):
                assert b"HTTP/1.1 200" not in read_to_close(plain)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    if impl == "minitornado":
        numbers = list(dict.fromkeys(re.findall(r"^\[minitornado\] step (T\d)", err, re.M)))
        assert numbers == ["T1", "T2", "T3", "T4", "T5", "T6"], err
        assert re.search(r"step T5 .* round 1 \(woken by READ\): do_handshake\(\) raised "
                         r"SSLWantReadError", err)  # fmt: skip
        assert "handshake done, TLSv1." in err


def test_keyfile_without_certfile_is_a_usage_error() -> None:
    # --keyfile alone means nothing: argparse refuses it, exit status 2, nothing served.
    done = subprocess.run(
        [sys.executable, "demo_app.py", "--port", "0", "--keyfile", "key.pem"],
        cwd=ROOT, capture_output=True, text=True, timeout=START_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 2 and "--keyfile needs --certfile" in done.stderr
