"""How the benchmark measures one server: start it pinned, load it, read its CPU and memory.

Every figure comes from outside the server process, so both implementations are measured
the same way and neither runs any measuring code of its own:

- requests/s and latency: from the load generator (``wrk``, or ``bench/loadgen.py``);
- server CPU per request: the server's CPU time from ``/proc`` (the scheduler's
  nanosecond ``se.sum_exec_runtime`` of every thread where the kernel shows it, else
  ``utime + stime`` in clock ticks), read just before and just after the load, divided by
  the requests completed;
- memory per idle connection: the server's resident set (``VmRSS``) before and after
  opening the idle connections, divided by their number.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SERVER_CORE, LOAD_CORE = "0", "1"


@dataclass
class Config:
    """What one benchmark run does; the command line fills it in."""

    rounds: int = 5
    duration: float = 5.0  # seconds of load, per server and per mode
    warmup: float = 1.0  # seconds of keep-alive load before the measured runs
    connections: int = 50
    idle_connections: int = 1000
    loadgen: str = "auto"  # "wrk", "builtin" or "auto" (wrk when installed)
    path: str = "/"
    pin: bool = True  # taskset, when it exists and there are two cores
    # HTTPS: the server's certificate and key (made for the run by run.py), or "" for HTTP.
    certfile: str = ""
    keyfile: str = ""

    @property
    def tls(self) -> bool:
        return bool(self.certfile)

    def resolved_loadgen(self) -> str:
        if self.loadgen == "auto":
            return "wrk" if shutil.which("wrk") else "builtin"
        return self.loadgen

    def pinning(self) -> bool:
        return self.pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


class RunRejected(Exception):
    """A load run saw a response that was not a 200, or completed no request at all."""


class ServerDidNotStart(Exception):
    """The server process ended, or said nothing, instead of printing its port."""


# ---- the server process -------------------------------------------------------------------


class ServerProcess:
    """``bench/hello_server.py`` in a process of its own, pinned to the server core."""

    def __init__(self, impl: str, config: Config) -> None:
        self.impl = impl
        command = [sys.executable, str(BENCH_DIR / "hello_server.py"), "--impl", impl]
        if config.tls:
            command += ["--certfile", config.certfile, "--keyfile", config.keyfile]
        self.tls = config.tls
        if config.pinning():
            command = ["taskset", "-c", SERVER_CORE, *command]
        # A file, not a pipe: a server logging a line per request (a 404 is a WARNING)
        # would fill a pipe nobody reads, and block.
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 30)  # bounded, as every wait
        line = self.process.stdout.readline() if ready else ""  # "listening <port>", flushed
        if not line.startswith("listening "):
            self._end()
            self.stderr.seek(0)  # its last line says why (the error, after any traceback)
            said = (self.stderr.read() + line).strip().splitlines() or ["nothing within 30 s"]
            self.stop()
            raise ServerDidNotStart(f"the {self.impl} server did not start: {said[-1]}")
        return int(line.split()[1])

    def cpu_seconds(self) -> float:
        """CPU time used so far by all the server's threads."""
        total = 0.0
        task_dir = Path(f"/proc/{self.process.pid}/task")
        for task in task_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread may end meanwhile
                total += _task_cpu_seconds(task)
        return total

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc/<pid>/status")

    def stop(self) -> None:
        """End the process (if it runs) and close its files; calling it again does nothing."""
        self._end()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()

    def _end(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _task_cpu_seconds(task: Path) -> float:
    # se.sum_exec_runtime (milliseconds, to the nanosecond) needs CONFIG_SCHED_DEBUG; the
    # tick counts of /proc/<pid>/task/<tid>/stat are always there but only 10 ms precise.
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for line in (task / "sched").read_text().splitlines():
            if line.startswith("se.sum_exec_runtime"):
                return float(line.split(":")[1]) / 1000
    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


# ---- load: wrk or the built-in generator --------------------------------------------------


def run_load(server: ServerProcess, mode: str, duration: float, config: Config) -> dict[str, float]:
    """One load run; its figures plus the server CPU µs per completed request."""
    cpu_before = server.cpu_seconds()
    if config.resolved_loadgen() == "wrk":
        result = _run_wrk(server.port, mode, duration, config)
    else:
        result = _run_builtin(server.port, mode, duration, config)
    cpu = server.cpu_seconds() - cpu_before
    if result["non_200"]:
        raise RunRejected(f"{result['non_200']:.0f} responses were not 200 ({mode})")
    if not result["requests"]:
        raise RunRejected(f"no request completed ({mode})")
    result["requests_per_second"] = result["requests"] / result["seconds"]
    result["cpu_us_per_request"] = 1e6 * cpu / result["requests"]
    return result


def _load_command(command: list[str], config: Config) -> list[str]:
    return ["taskset", "-c", LOAD_CORE, *command] if config.pinning() else command


def _run_wrk(port: int, mode: str, duration: float, config: Config) -> dict[str, float]:
    # wrk takes whole seconds only.
    command = [
        "wrk", "-t1", f"-c{config.connections}", f"-d{max(1, round(duration))}s",
        "-s", str(BENCH_DIR / "wrk_report.lua"),
    ]  # fmt: skip
    if mode == "newconn":
        command += ["-H", "Connection: close"]  # the server closes after each response
    scheme = "https" if config.tls else "http"  # wrk's https checks no certificate
    command.append(f"{scheme}://127.0.0.1:{port}{config.path}")
    output = _check_output(_load_command(command, config), duration)
    report = json.loads(output.strip().splitlines()[-1])  # the lua script's last line
    return {
        "requests": report["requests"],
        "non_200": report["non_200"],
        "errors": report["errors"],
        "seconds": report["seconds"],
        "p50_ms": report["p50_us"] / 1000,
        "p99_ms": report["p99_us"] / 1000,
    }


def _run_builtin(port: int, mode: str, duration: float, config: Config) -> dict[str, float]:
    command = [
        sys.executable, str(BENCH_DIR / "loadgen.py"), "--port", str(port), "--mode", mode,
        "--connections", str(config.connections), "--duration", str(duration),
        "--path", config.path, *(["--tls"] if config.tls else []),
    ]  # fmt: skip
    output = _check_output(_load_command(command, config), duration)
    report: dict[str, float] = json.loads(output)
    return report


def _check_output(command: list[str], duration: float) -> str:
    return subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=duration + 90
    ).stdout


# ---- memory: idle keep-alive connections --------------------------------------------------


def idle_memory(server: ServerProcess, count: int, path: str) -> dict[str, float]:
    """The server's memory while it holds ``count`` idle keep-alive connections.

    "Idle" means: connected, one request answered, the connection kept open and silent,
    as a browser leaves it between page loads. (A connection that never sent a request
    would measure less than the server holds in ordinary use.) A few requests on one
    connection first, so that code paths that allocate once are warm before the baseline.
    """
    with contextlib.closing(_connect(server.port, server.tls)) as warm:
        for _ in range(20):
            _request(warm, path)
    time.sleep(0.2)
    before = server.rss_kib()
    idle: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = _connect(server.port, server.tls)
            idle.append(sock)
            _request(sock, path)
        time.sleep(0.3)  # let the server settle back on its loop
        after = server.rss_kib()
    finally:
        for sock in idle:
            sock.close()
    return {
        "idle_connections": count,
        "rss_mib_idle": after / 1024,
        "idle_kib_per_connection": (after - before) / count,
    }


def _connect(port: int, tls: bool = False) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:  # the handshake happens here; the benchmark's certificate is not checked
        return _NO_CHECKS.wrap_socket(sock)
    return sock


_NO_CHECKS = ssl.create_default_context()
_NO_CHECKS.check_hostname = False
_NO_CHECKS.verify_mode = ssl.CERT_NONE


def _request(sock: socket.socket, path: str) -> None:
    """One keep-alive request on ``sock``, its whole response read; non-200 is rejected."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RunRejected(f"idle connection's response was not 200: {head[:40]!r}")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            while len(body) < int(value):
                body += _recv(sock)


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise RunRejected("the server closed an idle keep-alive connection")
    return chunk


@contextlib.contextmanager
def raised_fd_limit() -> Iterator[None]:
    """Room for the idle connections in this process too (the default soft limit is 1024)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
