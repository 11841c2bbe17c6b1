"""The benchmark (bench/) runs, in a tiny mode, so that it cannot rot. No test asserts a speed.

The tiny runs take a few seconds: one round, well under a second of load per server and
mode, a few connections, 20 idle connections. The built-in load generator is always
exercised (CI machines may lack wrk); wrk too when it is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.loadgen import percentile, response_end
from bench.measure import Config, RunRejected, ServerDidNotStart, ServerProcess, run_load

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--rounds", "1", "--connections", "4", "--idle-connections", "20", "--quiet"]
HAS_WRK = shutil.which("wrk") is not None


def run_bench(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", *TINY, "--json", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=90, env=env,
    )  # fmt: skip
    return done, json.loads(out.read_text()) if out.exists() else None


PLAIN_TARGETS = ("keep-alive", "new", "memory")  # each target's first word


def check_report(
    results: dict[str, Any], loadgen: str, targets: tuple[str, ...] = PLAIN_TARGETS
) -> None:
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
    assert set(results["median"]["ratio_of_medians"]) == {key for key, *_ in report.METRICS}
    first_words = [t["target"].split(" ")[0] for t in results["targets"]]
    assert first_words[:3] == list(targets)


def test_tiny_run_with_the_builtin_load_generator_reports_every_figure(tmp_path: Path) -> None:
    # One round with the built-in asyncio load generator: the report has every figure of
    # both servers, the ratios per round and median, the targets and the machine; and the
    # text table is printed.
    done, results = run_bench(tmp_path, "--duration", "0.2", "--loadgen", "builtin")
    assert done.returncode == 0, done.stderr
    check_report(results, "builtin")
    assert "median  ratio of medians " in done.stdout
    assert "median  median of per-round ratios " in done.stdout
    assert "target keep-alive throughput" in done.stdout


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
def test_tiny_run_over_tls_reports_every_figure(tmp_path: Path, loadgen: str) -> None:
    # --tls: both servers get ssl_options with a certificate trustme makes for the run, and
    # every connection is TLS (the load's, wrk's https:// or the built-in generator's, and
    # the idle ones): a plain-HTTP client would get no 200, and the run would be rejected.
    # Every figure is reported, with the TLS targets, and the table says "over TLS".
    timing = ["--duration", "1", "--warmup", "0"] if loadgen == "wrk" else ["--duration", "0.2"]
    done, results = run_bench(tmp_path, *timing, "--loadgen", loadgen, "--tls", "--markdown")
    assert done.returncode == 0, done.stderr
    assert results["config"]["tls"] is True
    check_report(results, loadgen, targets=("TLS", "TLS", "memory"))
    assert results["targets"][0]["target"] == "TLS keep-alive throughput >= 1.5x Tornado"
    assert " over TLS (HTTPS), " in done.stdout


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


# ---- A newcomer's first runs --------------------------------------------------------------------

HIDE_TORNADO = """
import sys

class HideTornado:
    def find_spec(self, name, path=None, target=None):
        if name == "tornado" or name.startswith("tornado."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, HideTornado())
"""


def without_tornado(tmp_path: Path) -> dict[str, str]:
    """An environment whose Pythons cannot import tornado (a sitecustomize hides it)."""
    (tmp_path / "sitecustomize.py").write_text(HIDE_TORNADO)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def test_without_tornado_the_command_ends_with_one_line_saying_so(tmp_path: Path) -> None:
    # Tornado cannot be imported: one line on stderr naming it and how to install it, no
    # traceback, exit status 1, no results, before any server is started.
    done, results = run_bench(tmp_path, "--duration", "0.2", env=without_tornado(tmp_path))
    assert done.returncode == 1 and results is None and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "cannot import Tornado (No module named 'tornado')" in done.stderr
    assert "pip install" in done.stderr


def test_a_server_that_does_not_start_says_why_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server process fails (here: no tornado): the last line of its stderr, named.
    monkeypatch.setenv("PYTHONPATH", without_tornado(tmp_path)["PYTHONPATH"])
    with pytest.raises(ServerDidNotStart) as raised:
        ServerProcess("tornado", Config(pin=False))
    assert str(raised.value) == (
        "the tornado server did not start: ModuleNotFoundError: No module named 'tornado'"
    )


def test_a_port_in_use_ends_the_hello_server_with_one_line() -> None:
    # bench/hello_server.py --port N on a port someone listens on: one line naming it.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "hello_server.py"), "--port", port],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"port {port} on 127.0.0.1 is already in use: pick another with --port\n"


def _round(mini_rps: float, tornado_rps: float) -> dict[str, Any]:
    figures = {key: 1.0 for key, *_ in report.METRICS}
    result = {
        "minitornado": {**figures, "ka_rps": mini_rps},
        "tornado": {**figures, "ka_rps": tornado_rps},
    }
    result["ratios"] = report.ratios(result["minitornado"], result["tornado"])
    return result


def test_the_report_shows_both_ratios_labelled_and_judges_the_one_it_shows() -> None:
    # Three rounds whose ratio of medians (1.75x) differs from their median of per-round
    # ratios (1.49x): both are printed, labelled; the target is judged on the median of
    # per-round ratios as printed, to two decimals.
    rounds = [_round(149, 100), _round(350, 200), _round(100, 40)]
    median = report.summarise(rounds)
    assert median["ratio_of_medians"]["ka_rps"] == 149 / 100
    assert median["ratios"]["ka_rps"] == 1.75
    text = report.format_text({"rounds": rounds, "median": median,
                               "targets": report.targets(median)})  # fmt: skip
    assert re.search(r"^median  ratio of medians +1\.49x", text, re.M), text
    assert re.search(r"^median  median of per-round ratios +1\.75x", text, re.M), text
    assert ("target keep-alive throughput >= 1.5x Tornado: 1.75x, the median of per-round "
            "ratios (met; the ratio of medians is 1.49x)") in text  # fmt: skip
    # 1.496 prints as 1.50x: met, as printed; 1.494 prints as 1.49x: NOT met.
    for value, mark in ((1.496, "1.50x, the median of per-round ratios (met;"),
                        (1.494, "1.49x, the median of per-round ratios (NOT met;")):  # fmt: skip
        median["ratios"]["ka_rps"] = value
        assert mark in report.format_text({"rounds": rounds, "median": median,
                                           "targets": report.targets(median)})  # fmt: skip
