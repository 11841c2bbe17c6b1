"""Run the benchmark: minitornado against Tornado, interleaved, on the same machine.

    .venv/bin/python -m bench [--rounds 5] [--duration 5] [--connections 50]
                              [--idle-connections 1000] [--loadgen auto|wrk|builtin]
                              [--tls] [--json results.json] [--markdown]

Each round measures minitornado, then Tornado (A B A B ...), each in a fresh server
process serving ``bench/hello_server.py``'s hello world, pinned to core 0 while the load
generator runs on core 1 (when ``taskset`` exists and there are two cores). Per server:

1. memory: the resident set before and after opening ``--idle-connections`` keep-alive
   connections that each had one request answered and then stay silent;
2. a warm-up of keep-alive load (not measured);
3. keep-alive: ``--connections`` connections for ``--duration`` seconds;
4. a new connection per request, as many at a time, for as long.

The study trace is not measured: turned off, it installs nothing.

``--tls`` measures the same over HTTPS: both servers get ``ssl_options`` with a certificate
trustme makes for the run (the test extra installs it), and every connection is TLS, the
idle ones too; in the new-connection mode each request pays a full handshake. Its targets
are in ``bench/report.py``.

A run where any response is not a 200 is rejected: the command prints why and exits 1, as
it does, in one line, when Tornado is not installed (there would be nothing to compare
with) or a server does not start. The table ends with the medians over the rounds, both
ratios (``bench/report.py`` says which is which) and the issue's targets, met or not.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import report
from bench.measure import (
    Config,
    RunRejected,
    ServerDidNotStart,
    ServerProcess,
    idle_memory,
    raised_fd_limit,
    run_load,
)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    missing = missing_tornado() or (missing_trustme() if config.tls else None)
    if missing:
        print(missing, file=sys.stderr)
        return 1
    try:
        with raised_fd_limit(), tempfile.TemporaryDirectory() as folder:
            if config.tls:
                config.config.certfile, config.config.keyfile = make_certificate(Path(folder))
            results = run(config.config, progress=config.progress)
    except RunRejected as e:
        print(f"run rejected: {e}", file=sys.stderr)
        return 1
    except ServerDidNotStart as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    print(report.format_text(results))
    if config.markdown:
        print()
        print(report.format_markdown(results))
    if config.json:
        Path(config.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def missing_tornado() -> str | None:
    """One line saying Tornado cannot be imported here, or None when it can."""
    try:
        importlib.import_module("tornado.web")
    except ImportError as error:
        return (
            f"bench: this Python cannot import Tornado ({error}), which the benchmark measures "
            "minitornado against: install it with .venv/bin/pip install -e '.[test]' (or pip "
            "install tornado==6.6.1)"
        )
    return None


def missing_trustme() -> str | None:
    """One line saying trustme (which makes --tls's certificate) is missing, or None."""
    try:
        importlib.import_module("trustme")
    except ImportError as error:
        return (
            f"bench --tls: this Python cannot import trustme ({error}), which makes the "
            "servers' certificate: install it with .venv/bin/pip install -e '.[test]'"
        )
    return None


def make_certificate(folder: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, made by trustme into ``folder``."""
    import trustme

    issued = trustme.CA().issue_cert("127.0.0.1", "localhost")
    cert, key = folder / "cert.pem", folder / "key.pem"
    for blob in issued.cert_chain_pems:
        blob.write_to_path(str(cert), append=True)
    issued.private_key_pem.write_to_path(str(key))
    return str(cert), str(key)


class _Args:
    config: Config
    tls: bool
    json: str | None
    markdown: bool
    progress: bool


def parse_args(argv: list[str] | None) -> _Args:
    defaults = Config()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--duration", type=float, default=defaults.duration,
                        help="seconds of load per server and mode")  # fmt: skip
    parser.add_argument("--warmup", type=float, default=None,
                        help="unmeasured load first (default: duration/5, max 1)")  # fmt: skip
    parser.add_argument("--connections", type=int, default=defaults.connections)
    parser.add_argument("--idle-connections", type=int, default=defaults.idle_connections)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "builtin"), default="auto")
    parser.add_argument("--path", default="/", help="the URL path to load (the app serves /)")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--markdown", action="store_true", help="also print the README table")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--tls", action="store_true", help="HTTPS: every connection over TLS")
    args = parser.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else min(1.0, args.duration / 5)
    parsed = _Args()
    parsed.config = Config(
        rounds=args.rounds, duration=args.duration, warmup=warmup,
        connections=args.connections, idle_connections=args.idle_connections,
        loadgen=args.loadgen, path=args.path, pin=not args.no_pin,
    )  # fmt: skip
    parsed.json, parsed.markdown, parsed.progress = args.json, args.markdown, not args.quiet
    parsed.tls = args.tls
    return parsed


def run(config: Config, progress: bool = True) -> dict[str, Any]:
    """Every round, then the medians and targets: the whole report as a dict."""
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
    rounds = []
    for number in range(1, config.rounds + 1):
        result: dict[str, Any] = {}
        for impl in report.IMPLS:
            _say(progress, f"round {number}/{config.rounds}: {impl}")
            result[impl] = measure_server(impl, config)
        result["ratios"] = report.ratios(result["minitornado"], result["tornado"])
        rounds.append(result)
    median = report.summarise(rounds)
    return {
        "machine": machine(config, load_before, started),
        "config": vars(config)
        | {"loadgen": config.resolved_loadgen(), "pinned": config.pinning(), "tls": config.tls},
        "rounds": rounds,
        "median": median,
        "targets": report.targets(median, tls=config.tls),
    }


def measure_server(impl: str, config: Config) -> dict[str, float]:
    """One server process: memory with idle connections, then keep-alive, then new connections."""
    server = ServerProcess(impl, config)
    try:
        memory = idle_memory(server, config.idle_connections, config.path)
        if config.warmup > 0:
            run_load(server, "keepalive", config.warmup, config)
        keepalive = run_load(server, "keepalive", config.duration, config)
        newconn = run_load(server, "newconn", config.duration, config)
    finally:
        server.stop()
    return {
        "ka_rps": keepalive["requests_per_second"],
        "ka_p50_ms": keepalive["p50_ms"],
        "ka_p99_ms": keepalive["p99_ms"],
        "ka_cpu_us": keepalive["cpu_us_per_request"],
        "ka_requests": keepalive["requests"],
        "ka_errors": keepalive["errors"],
        "nc_rps": newconn["requests_per_second"],
        "nc_p50_ms": newconn["p50_ms"],
        "nc_p99_ms": newconn["p99_ms"],
        "nc_cpu_us": newconn["cpu_us_per_request"],
        "nc_requests": newconn["requests"],
        "nc_errors": newconn["errors"],
        "idle_kib_per_conn": memory["idle_kib_per_connection"],
        "rss_mib_idle": memory["rss_mib_idle"],
    }


def machine(config: Config, load_before: tuple[float, float, float],
            started: datetime.datetime) -> dict[str, Any]:  # fmt: skip
    """What the numbers were measured on, for the README."""
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "tornado": metadata.version("tornado"),
        "h11": metadata.version("h11"),
        "loadgen": config.resolved_loadgen(),
        "pinned": config.pinning(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)
