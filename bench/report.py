"""The benchmark's results: per-round figures, medians, ratios, targets, as text or Markdown.

Two ratios summarise the rounds, and both are printed, labelled: the *ratio of medians*
(minitornado's median over Tornado's, the two figures printed beside it) and the *median
of per-round ratios* (each round's ratio, then their median: a round disturbed by another
job moves both servers' figures of that round, so it is the steadier of the two). The
targets are judged on the median of per-round ratios, as printed (to two decimals).
"""

from __future__ import annotations

import statistics
from typing import Any

IMPLS = ("minitornado", "tornado")

# (key, column title, format, higher is better)
METRICS: tuple[tuple[str, str, str, bool], ...] = (
    ("ka_rps", "keep-alive req/s", "{:.0f}", True),
    ("ka_p50_ms", "p50 ms", "{:.2f}", False),
    ("ka_p99_ms", "p99 ms", "{:.2f}", False),
    ("ka_cpu_us", "CPU µs/req", "{:.1f}", False),
    ("nc_rps", "new-conn req/s", "{:.0f}", True),
    ("nc_p50_ms", "p50 ms", "{:.2f}", False),
    ("nc_p99_ms", "p99 ms", "{:.2f}", False),
    ("nc_cpu_us", "CPU µs/req", "{:.1f}", False),
    ("idle_kib_per_conn", "KiB/idle conn", "{:.1f}", False),
    ("rss_mib_idle", "RSS MiB (idle)", "{:.1f}", False),
)

# The targets, on the medians of per-round ratios minitornado/Tornado.
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("ka_rps", "keep-alive throughput", ">=", 1.5),
    ("nc_rps", "new connection per request throughput", ">=", 1.25),
    ("idle_kib_per_conn", "memory per idle connection", "<=", 0.5),
)

# Over TLS (python -m bench --tls; issue 15): keep-alive as over TCP, since after the
# handshake only the record layer (OpenSSL's, the same for both) is added. A new connection
# per request is mostly the handshake, OpenSSL's work in both servers, and an idle
# connection mostly OpenSSL's buffers: there the target is only not to be worse.
TLS_TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("ka_rps", "TLS keep-alive throughput", ">=", 1.5),
    ("nc_rps", "TLS new connection (full handshake) throughput", ">=", 1.0),
    ("idle_kib_per_conn", "memory per idle TLS connection", "<=", 1.0),
)


def ratios(mini: dict[str, float], tornado: dict[str, float]) -> dict[str, float]:
    """minitornado / Tornado for every metric."""
    return {key: mini[key] / tornado[key] if tornado[key] else float("nan")
            for key, *_ in METRICS}  # fmt: skip


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds: of each server's figures, and of the per-round ratios."""
    median: dict[str, Any] = {
        impl: {key: statistics.median(r[impl][key] for r in rounds) for key, *_ in METRICS}
        for impl in IMPLS
    }
    median["ratios"] = {
        key: statistics.median(r["ratios"][key] for r in rounds) for key, *_ in METRICS
    }
    median["ratio_of_medians"] = ratios(median["minitornado"], median["tornado"])
    return median


def targets(median: dict[str, Any], tls: bool = False) -> list[dict[str, Any]]:
    """Each target, met or not by the median of per-round ratios as printed (two decimals)."""
    results = []
    for key, label, op, bound in TLS_TARGETS if tls else TARGETS:
        value = median["ratios"][key]
        shown = round(value, 2)  # "met" must agree with the figure a reader sees
        met = shown >= bound if op == ">=" else shown <= bound
        results.append({
            "target": f"{label} {op} {bound}x Tornado", "value": value, "met": met,
            "ratio_of_medians": median["ratio_of_medians"][key],
        })  # fmt: skip
    return results


# ---- text ---------------------------------------------------------------------------------


def format_text(report: dict[str, Any]) -> str:
    """The table printed at the end of a run: every round, then the medians and targets."""
    headers = ["round", "server", *(title for _, title, _, _ in METRICS)]
    rows = []
    for number, result in enumerate(report["rounds"], 1):
        rows += _round_rows(str(number), result)
    rows += _round_rows("median", report["median"])
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [_text_line(headers, widths), _text_line(["-" * w for w in widths], widths)]
    lines += [_text_line(row, widths) for row in rows]
    lines.append("")
    lines += [_target_line(t) for t in report["targets"]]
    return "\n".join(lines)


def _round_rows(label: str, result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for impl in IMPLS:
        rows.append([label, impl, *(fmt.format(result[impl][key]) for key, _, fmt, _ in METRICS)])
    if "ratio_of_medians" in result:  # the medians' rows: both summaries, each labelled
        ratio_rows = [("ratio of medians", "ratio_of_medians"),
                      ("median of per-round ratios", "ratios")]  # fmt: skip
    else:
        ratio_rows = [("ratio", "ratios")]
    for name, field in ratio_rows:
        rows.append([label, name, *(f"{result[field][key]:.2f}x" for key, *_ in METRICS)])
    return rows


def _text_line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        cell.ljust(width) if i < 2 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )


def _target_line(target: dict[str, Any]) -> str:
    mark = "met" if target["met"] else "NOT met"
    return (
        f"target {target['target']}: {target['value']:.2f}x, the median of per-round ratios "
        f"({mark}; the ratio of medians is {target['ratio_of_medians']:.2f}x)"
    )


# ---- Markdown (the README's table) --------------------------------------------------------


def format_markdown(report: dict[str, Any]) -> str:
    """The medians as the README shows them, with the machine and the command."""
    median, machine, config = report["median"], report["machine"], report["config"]
    pinning = "server pinned to core 0, load to core 1" if config["pinned"] else "no pinning"
    lines = [
        f"Measured {machine['date']} on {machine['cpus']} CPUs ({machine['cpu_model']}), "
        f"Python {machine['python']}, Tornado {machine['tornado']}, h11 {machine['h11']}; "
        f"load from {machine['loadgen']}, {config['connections']} connections"
        f"{' over TLS (HTTPS)' if config.get('tls') else ''}, {pinning}; "
        f"{config['rounds']} rounds of {config['duration']:g} s; load average "
        f"{machine['loadavg_before'][0]:.2f} before, {machine['loadavg_after'][0]:.2f} after.",
        "",
        "| metric (median of rounds) | minitornado | Tornado | ratio of medians "
        "| median of per-round ratios |",
        "|---|---:|---:|---:|---:|",
    ]
    names = {
        "ka_rps": "keep-alive: requests/s",
        "ka_p50_ms": "keep-alive: p50 latency (ms)",
        "ka_p99_ms": "keep-alive: p99 latency (ms)",
        "ka_cpu_us": "keep-alive: server CPU µs/request",
        "nc_rps": "new connection per request: requests/s",
        "nc_p50_ms": "new connection: p50 latency (ms)",
        "nc_p99_ms": "new connection: p99 latency (ms)",
        "nc_cpu_us": "new connection: server CPU µs/request",
        "idle_kib_per_conn": "memory per idle keep-alive connection (KiB)",
        "rss_mib_idle": f"resident memory with {config['idle_connections']:,} "
        "idle connections (MiB)",
    }
    for key, _, fmt, _ in METRICS:
        mini, tornado = fmt.format(median["minitornado"][key]), fmt.format(median["tornado"][key])
        of_medians, per_round = median["ratio_of_medians"][key], median["ratios"][key]
        lines.append(
            f"| {names[key]} | {mini} | {tornado} | {of_medians:.2f}x | {per_round:.2f}x |"
        )
    lines.append("")
    lines += [f"- {_target_line(t)}" for t in report["targets"]]
    return "\n".join(lines)
