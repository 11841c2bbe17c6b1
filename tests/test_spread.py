"""``python -m bench.spread`` runs, in a tiny mode, so that it cannot rot. No test asserts a speed.

It forks (``--mode fork`` servers), so it runs as a command, never inside pytest. The tiny
run takes a few seconds: four runs of one second, four connections.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def spread(tmp_path: Path, loadgen: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "spread.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.spread", "--rounds", "1", "--duration", "1",
         "--connections", "4", "--loadgen", loadgen, "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, start_new_session=True,
    )  # fmt: skip
    return done, json.loads(out.read_text()) if out.exists() else {}


@pytest.mark.parametrize("loadgen", ["builtin", "wrk"])
def test_tiny_spread_reports_every_process_of_both_modes(tmp_path: Path, loadgen: str) -> None:
    # Scenario: both modes, with 1 and 2 processes: every serving process reports its
    # counts (one for 1, two different pids for 2), the connections they accepted cover the
    # requests the load generator completed, and the table and the scaling lines are printed.
    if loadgen == "wrk" and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (the built-in load generator is tested above)")
    done, results = spread(tmp_path, loadgen)
    assert done.returncode == 0, done.stderr
    runs = results["runs"]
    assert [(r["mode"], r["processes"]) for r in runs] == [
        ("fork", 1), ("fork", 2), ("reuseport", 1), ("reuseport", 2)
    ]  # fmt: skip
    for run in runs:
        servers = run["servers"]
        assert len({s["pid"] for s in servers}) == run["processes"], run
        assert run["load"]["requests"] > 0 and run["load"]["non_200"] == 0
        assert sum(s["accepted"] for s in servers) >= run["load"]["requests"]
        assert all(s["wakeups"] >= s["empty"] and s["largest"] <= 128 for s in servers)
        assert run["loadgen_cpu"] > 0
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 4  # the header, then one row per run
    assert done.stdout.count(" -> 2 processes, ") == 2  # the scaling line of each mode
