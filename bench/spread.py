"""How new connections spread over N server processes, and how throughput scales from 1 to N.

    python -m bench.spread                         2 processes, 5 s of load per run (~30 s)
    python -m bench.spread --duration 1 --connections 4 --loadgen builtin    a quick look

Two ways to run N processes on one port, each measured with 1 process and with N:

- ``fork``: one listening socket, bound once and inherited through ``fork_processes``
  (what ``bind()`` + ``start(N)`` does): the kernel queues every connection on that one
  socket, and whichever process calls ``accept()`` first gets it;
- ``reuseport``: N independent processes, each with its own socket and ``SO_REUSEPORT``
  (what ``listen(port, reuse_port=True)`` does): the kernel picks the socket, by a hash of
  the connection's addresses and ports, when the connection arrives.

The load is a new connection per request (``Connection: close``), from ``wrk -t1`` when it
is installed, else from ``bench/loadgen.py``. Nothing is pinned: the servers and the load
generator share the machine's cores, and the load generator's own CPU time is reported, as a
share of one core, since on 2 cores it takes from what the servers could have. Each server
process (``bench/spread_server.py``) reports, at the end, the connections it accepted and
what each wake-up of its accept handler found (see that file). The output is a Markdown
table (``--json FILE`` writes every figure too). No figure is a pass or a fail.

Ours alone: Tornado has no such measurement. It checks the comment in Tornado's
``add_accept_handler`` (and ours) on capping the accepts per wake-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.measure import BENCH_DIR, Config, _run_builtin, _run_wrk

MODES = {
    "fork": "one shared socket (fork)",
    "reuseport": "SO_REUSEPORT, a socket each",
}


@dataclass
class Run:
    """One measured run: a mode, a number of processes, what the load and the servers saw."""

    mode: str
    processes: int
    load: dict[str, float]
    loadgen_cpu: float  # seconds of CPU the load generator used
    servers: list[dict[str, Any]] = field(default_factory=list)  # one per serving process

    @property
    def requests_per_second(self) -> float:
        return self.load["requests"] / self.load["seconds"]


def start_servers(mode: str, processes: int) -> tuple[list[subprocess.Popen[str]], int]:
    """The server processes of one run, and their port, once every one of them listens."""
    server = [sys.executable, str(BENCH_DIR / "spread_server.py"), "--mode", mode]
    started: list[subprocess.Popen[str]] = []
    port = 0
    # fork: one command, which forks; reuseport: N commands, the first picking the port.
    for _ in range(1 if mode == "fork" else processes):
        command = [*server, "--port", str(port)]
        if mode == "fork":
            command += ["--processes", str(processes)]
        popen = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        started.append(popen)
        assert popen.stdout is not None
        line = popen.stdout.readline()  # "listening PORT"; "" if it died
        if not line.startswith("listening "):
            stop_servers(started)
            raise RuntimeError(f"{' '.join(command)} did not start: {line!r}")
        port = int(line.split()[1])
    time.sleep(0.3)  # (fork: the children are on their loops; the parent printed before)
    return started, port


def stop_servers(started: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    """SIGTERM to each (the fork parent passes it on); each serving process's counts."""
    for popen in started:
        popen.send_signal(signal.SIGTERM)
    reports = []
    for popen in started:
        out, _ = popen.communicate(timeout=30)
        reports += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return reports


def measure(mode: str, processes: int, config: Config) -> Run:
    started, port = start_servers(mode, processes)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run_load = _run_wrk if config.resolved_loadgen() == "wrk" else _run_builtin
        load = run_load(port, "newconn", config.duration, config)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load generator, reaped
    finally:
        servers = stop_servers(started)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Run(mode, processes, load, cpu, sorted(servers, key=lambda s: -s["accepted"]))


# ---- The report -----------------------------------------------------------------------------


def table(runs: list[Run]) -> str:
    rows = [
        "| mode | processes | requests/s | connections per process | empty wake-ups | "
        "largest batch | capped wake-ups | server CPU s | server CPU µs/request | "
        "load generator CPU |",
        "|---|--:|--:|---|--:|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        total = sum(s["accepted"] for s in run.servers) or 1
        shares = " / ".join(f"{100 * s['accepted'] / total:.0f}%" for s in run.servers)
        counts = " / ".join(str(s["accepted"]) for s in run.servers)
        wakeups = sum(s["wakeups"] for s in run.servers)
        empty = sum(s["empty"] for s in run.servers)
        cpu = " + ".join(f"{s['cpu']:.1f}" for s in run.servers)
        rows.append(
            f"| {MODES[run.mode]} | {run.processes} | {run.requests_per_second:.0f} | "
            f"{shares} ({counts}) | {empty} of {wakeups} | "
            f"{max(s['largest'] for s in run.servers)} | "
            f"{sum(s['capped'] for s in run.servers)} | "
            f"{cpu} | {1e6 * sum(s['cpu'] for s in run.servers) / total:.0f} | "
            f"{100 * run.loadgen_cpu / run.load['seconds']:.0f}% of a core |"
        )
    return "\n".join(rows)


def scaling(runs: list[Run], processes: int) -> list[str]:
    lines = []
    for mode, title in MODES.items():
        by_n = {run.processes: run.requests_per_second for run in runs if run.mode == mode}
        if 1 in by_n and processes in by_n and processes != 1:
            lines.append(f"- {title}: {by_n[1]:.0f} -> {by_n[processes]:.0f} requests/s with "
                         f"{processes} processes ({by_n[processes] / by_n[1]:.2f}x)")  # fmt: skip
    return lines


def machine(config: Config) -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    loadgen = "wrk -t1" if config.resolved_loadgen() == "wrk" else "bench/loadgen.py"
    return (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
            f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}; load from "
            f"{loadgen}, {config.connections} connections, a new connection per request, "
            f"{config.duration:g} s per run; nothing pinned; load average "
            f"{os.getloadavg()[0]:.2f} before.")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.spread", description=__doc__)
    parser.add_argument("--processes", type=int, default=2, help="N (default 2)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "builtin"), default="auto")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config(duration=args.duration, connections=args.connections,
                    loadgen=args.loadgen, pin=False)  # fmt: skip
    header = machine(config)
    runs = [measure(mode, n, config) for mode in MODES for n in sorted({1, args.processes})]
    print(header + "\n")
    print(table(runs) + "\n")
    print("\n".join(scaling(runs, args.processes)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": header, "runs": [vars(run) for run in runs]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
