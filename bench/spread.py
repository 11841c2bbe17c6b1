"""How new connections spread over N server processes, and how throughput scales from 1 to N.

    python -m bench.spread                       2 processes; 3 rounds of 4 runs of 5 s (~80 s)
    python -m bench.spread --connections 500     more connections than the backlog (128)
    python -m bench.spread --rounds 1 --duration 1 --connections 4 --loadgen builtin

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
what each wake-up of its accept handler found (see that file). The runs go round by round
(1 process, then N, in each mode, ``--rounds`` times), so that a busy moment of the machine
hits them alike; the output is a Markdown table, one row per mode and number of processes
(``--json FILE`` writes every run's figures too). No figure is a pass or a fail.

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
import statistics
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
    """One row per mode and number of processes, over every round of it."""
    rows = [
        "| mode | processes | requests/s: median (each round) | connections per process | "
        "empty wake-ups | largest batch | capped wake-ups | server CPU µs/request | "
        "load generator CPU |",
        "|---|--:|--:|---|--:|--:|--:|--:|--:|",
    ]
    for (mode, processes), same in _grouped(runs).items():
        servers = [s for run in same for s in run.servers]
        # The busiest process of each round first, then the next: summed over the rounds.
        by_rank = [sum(run.servers[i]["accepted"] for run in same) for i in range(processes)]
        total = sum(by_rank) or 1
        shares = " / ".join(f"{100 * n / total:.0f}%" for n in by_rank)
        each = ", ".join(f"{run.requests_per_second:.0f}" for run in same)
        median = statistics.median(run.requests_per_second for run in same)
        loadgen = statistics.mean(run.loadgen_cpu / run.load["seconds"] for run in same)
        rows.append(
            f"| {MODES[mode]} | {processes} | {median:.0f} ({each}) | "
            f"{shares} ({' / '.join(map(str, by_rank))}) | "
            f"{sum(s['empty'] for s in servers)} of {sum(s['wakeups'] for s in servers)} | "
            f"{max(s['largest'] for s in servers)} | {sum(s['capped'] for s in servers)} | "
            f"{1e6 * sum(s['cpu'] for s in servers) / total:.0f} | "
            f"{100 * loadgen:.0f}% of a core |"
        )
    return "\n".join(rows)


def _grouped(runs: list[Run]) -> dict[tuple[str, int], list[Run]]:
    grouped: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        grouped.setdefault((run.mode, run.processes), []).append(run)
    return dict(sorted(grouped.items(), key=lambda item: (list(MODES).index(item[0][0]),
                                                          item[0][1])))  # fmt: skip


def scaling(runs: list[Run], processes: int) -> list[str]:
    """For each mode: requests/s with N processes over requests/s with 1, round by round."""
    lines = []
    grouped = _grouped(runs)
    for mode, title in MODES.items():
        ones, ns = grouped.get((mode, 1), []), grouped.get((mode, processes), [])
        if processes == 1 or not ones or not ns:
            continue
        ratios = [n.requests_per_second / one.requests_per_second
                  for one, n in zip(ones, ns, strict=True)]  # fmt: skip
        lines.append(f"- {title}: 1 -> {processes} processes, {statistics.median(ratios):.2f}x "
                     f"(median; each round: {', '.join(f'{r:.2f}x' for r in ratios)})")  # fmt: skip
    return lines


def machine(config: Config, rounds: int) -> str:
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
            f"{config.duration:g} s per run, {rounds} rounds; nothing pinned; load average "
            f"{os.getloadavg()[0]:.2f} before.")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.spread", description=__doc__)
    parser.add_argument("--processes", type=int, default=2, help="N (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="each run this many times (3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "builtin"), default="auto")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config(duration=args.duration, connections=args.connections,
                    loadgen=args.loadgen, pin=False)  # fmt: skip
    header = machine(config, args.rounds)
    every = [(mode, n) for mode in MODES for n in sorted({1, args.processes})]
    # Round by round, every run once, so that a slow moment of the machine hits them alike.
    runs = [measure(mode, n, config) for _ in range(args.rounds) for mode, n in every]
    print(header + "\n")
    print(table(runs) + "\n")
    print("\n".join(scaling(runs, args.processes)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": header, "runs": [vars(run) for run in runs]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
