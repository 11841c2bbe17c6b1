"""The benchmark (bench/) runs, in a tiny mode, so that it cannot rot. No test asserts a speed.

The tiny runs take a few seconds: one round, well under a second of load per server and
mode, a few connections, 20 idle connections. The built-in load generator is always
exercised (CI machines may lack wrk); wrk too when it is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.loadgen import percentile, response_end
from bench.measure import Config, RunRejected, ServerProcess, run_load

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--rounds", "1", "--connections", "4", "--idle-connections", "20", "--quiet"]
HAS_WRK = shutil.which("wrk") is not None


def run_bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", *TINY, "--json", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    return done, json.loads(out.read_text()) if out.exists() else None


def check_report(results: dict[str, Any], loadgen: str) -> None:
    assert results["config"]["loadgen"] == loadgen
    assert {"date", "cpus", "cpu_model", "python", "tornado", "loadgen"} <= set(results["machine"])
    (one_round,) = results["rounds"]
    for impl in report.IMPLS:
        for key, *_ in report.METRICS:
            assert one_round[impl][key] >= 0, (impl, key)
        assert one_round[impl]["ka_requests"] > 0 and one_round[impl]["nc_requests"] > 0
        assert one_round[impl]["ka_cpu_us"] > 0
    for section in (one_round, results["median"]):
        assert set(section["ratios"]) == {key for key, *_ in report.METRICS}
    first_words = [t["target"].split(" ")[0] for t in results["targets"]]
    assert first_words[:3] == ["keep-alive", "new", "memory"]


def test_tiny_run_with_the_builtin_load_generator_reports_every_figure(tmp_path: Path) -> None:
    # One round with the built-in asyncio load generator: the report has every figure of
    # both servers, the ratios per round and median, the targets and the machine; and the
    # text table is printed.
    done, results = run_bench(tmp_path, "--duration", "0.2", "--loadgen", "builtin")
    assert done.returncode == 0, done.stderr
    check_report(results, "builtin")
    assert "median  ratio" in done.stdout and "target keep-alive throughput" in done.stdout


@pytest.mark.skipif(not HAS_WRK, reason="wrk is not installed")
def test_tiny_run_with_wrk_reports_every_figure(tmp_path: Path) -> None:
    # The same with wrk (whole seconds only: one second per run, no warm-up), printing the
    # README table.
    done, results = run_bench(
        tmp_path, "--duration", "1", "--warmup", "0", "--loadgen", "wrk", "--markdown"
    )
    assert done.returncode == 0, done.stderr
    check_report(results, "wrk")
    assert "| keep-alive: requests/s |" in done.stdout


@pytest.mark.parametrize("loadgen", ["builtin", pytest.param("wrk", marks=pytest.mark.skipif(
    not HAS_WRK, reason="wrk is not installed"))])  # fmt: skip
def test_a_load_run_with_responses_other_than_200_is_rejected(loadgen: str) -> None:
    # A load run on a path the app does not serve (every answer a 404) is rejected.
    config = Config(duration=0.3, connections=2, loadgen=loadgen, path="/missing", pin=False)
    server = ServerProcess("minitornado", config)
    try:
        with pytest.raises(RunRejected, match="not 200"):
            run_load(server, "keepalive", config.duration, config)
    finally:
        server.stop()


def test_the_command_rejects_a_run_with_responses_other_than_200(tmp_path: Path) -> None:
    # The whole command exits 1 and says why; no results are written.
    done, results = run_bench(tmp_path, "--duration", "0.3", "--loadgen", "builtin",
                              "--path", "/missing")  # fmt: skip
    assert done.returncode == 1
    assert "run rejected" in done.stderr and "not 200" in done.stderr
    assert results is None


def test_the_load_generator_finds_where_a_response_ends() -> None:
    # The built-in generator frames responses by Content-Length, and reports nearest-rank
    # percentiles.
    response = bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + b"HTTP/1.1")
    assert response_end(response) == len(response) - len(b"HTTP/1.1")
    assert response_end(bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")) is None
    assert response_end(bytearray(b"HTTP/1.1 204 No Content\r\n\r\n")) == 27
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert percentile([], 50) == 0.0
