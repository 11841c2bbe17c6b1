"""What minitornado's trace hooks cost when tracing is off, counted rather than timed.

With tracing off, a hook costs the test of its guard (``if trace.enabled:``) and nothing
else. So: count how many guards one request runs through (a line tracer on the guards'
lines, while this process serves real requests on a socket), and multiply by what one such
test costs (``timeit``). Both numbers are deterministic, unlike a timing of two servers:
on a shared machine, two runs of the same server differ by several percent, more than the
2% to be checked. ``run.py`` also times minitornado against a copy without the hooks
(``strip_trace.py``) as a cross-check, and reports both.

    python -m bench.trace_cost          guards per request and nanoseconds per guard
"""

from __future__ import annotations

import asyncio
import socket
import sys
import timeit
import types
from collections import Counter
from pathlib import Path
from typing import Any

from bench import strip_trace

REQUESTS = 200


def guard_lines(package_dir: Path = strip_trace.PACKAGE_DIR) -> set[tuple[str, int]]:
    """(file, line) of every guard test in the package."""
    lines = set()
    for path in package_dir.glob("*.py"):
        for node in strip_trace._guards_in(path.read_text()):
            lines.add((str(path.resolve()), node.lineno))
    return lines


def guards_per_request(mode: str, requests: int = REQUESTS) -> float:
    """How many guard tests minitornado runs per request of the hello-world app.

    ``mode`` is ``keepalive`` (one connection, many requests) or ``newconn`` (a connection
    per request, which adds the accept path's hooks).
    """
    return asyncio.run(_count(mode, requests))


async def _count(mode: str, requests: int) -> float:
    # Imported here: only the process that counts needs a server.
    from bench.hello_server import make_app
    from minitornado.httpserver import HTTPServer
    from minitornado.netutil import bind_sockets

    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(make_app("minitornado"))
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    await _send(port, mode, 5)  # warm-up: first-time paths are not per-request costs
    counted: Counter[tuple[str, int]] = Counter()
    watched = guard_lines()
    files = {file for file, _ in watched}

    def local(frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "line" and (frame.f_code.co_filename, frame.f_lineno) in watched:
            counted[(frame.f_code.co_filename, frame.f_lineno)] += 1
        return local

    def tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename in files else None

    sys.settrace(tracer)
    try:
        await _send(port, mode, requests)
    finally:
        sys.settrace(None)
        server.stop()
    return sum(counted.values()) / requests


async def _send(port: int, mode: str, requests: int) -> None:
    # A plain asyncio client in this same process: its own code has no guards.
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    writer = None
    for _ in range(requests):
        if writer is None or mode == "newconn":
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
        if mode == "newconn":
            writer.write(request[:-2] + b"Connection: close\r\n\r\n")
        else:
            writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await asyncio.wait_for(reader.readexactly(length), 10)
        if mode == "newconn":
            writer.close()
    if writer is not None:
        writer.close()


def ns_per_guard() -> float:
    """What one ``if trace.enabled:`` costs when it is False (the best of several timings)."""
    from minitornado.study import trace

    assert not trace.enabled
    number = 1_000_000
    guarded = min(timeit.repeat("if trace.enabled: pass", globals={"trace": trace},
                                number=number, repeat=5))  # fmt: skip
    empty = min(timeit.repeat("pass", number=number, repeat=5))
    return max(0.0, (guarded - empty) / number * 1e9)


def estimate() -> dict[str, float]:
    """Guards per request (both modes) and the cost of one guard, in nanoseconds."""
    return {
        "guards_per_keepalive_request": guards_per_request("keepalive"),
        "guards_per_newconn_request": guards_per_request("newconn"),
        "ns_per_guard": ns_per_guard(),
    }


if __name__ == "__main__":
    print(estimate())
