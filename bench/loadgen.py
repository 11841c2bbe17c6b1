"""The built-in load generator: what the benchmark uses when ``wrk`` is not installed.

    python bench/loadgen.py --port 8888 --mode keepalive --connections 50 --duration 5 [--tls]

Prints one JSON object: ``requests``, ``non_200`` (responses whose status was not 200),
``errors`` (connections that failed), ``seconds``, ``requests_per_second``, ``p50_ms``,
``p99_ms``.

Two modes, as wrk is used:
- ``keepalive``: ``--connections`` connections, each sending its next request as soon as
  the previous response is complete. Latency runs from writing a request to the last
  byte of its response.
- ``newconn``: ``--connections`` workers, each opening a connection, sending one request
  with ``Connection: close`` and reading until the server closes. Latency runs from the
  ``connect()`` to the close, so it includes the TCP handshake (wrk's does not).

``--tls`` speaks HTTPS (no certificate check): in ``newconn`` mode, a full TLS handshake per
request. It is plain asyncio with ``asyncio.Protocol`` (no streams: their extra layers would make
this process, not the server, the bottleneck). It reads only what it needs of a response:
the status code, and ``Content-Length`` to know where the response ends. Run it pinned to a
core of its own (``taskset``): it competes with the server for CPU otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import resource
import ssl
import time

_HEADER_END = b"\r\n\r\n"


class Stats:
    """What all connections of one run measured."""

    def __init__(self) -> None:
        self.latencies: list[float] = []  # seconds, one per complete response
        self.non_200 = 0
        self.errors = 0

    def record(self, status_line: bytes, started: float) -> None:
        self.latencies.append(time.perf_counter() - started)
        if not status_line.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 ")):
            self.non_200 += 1

    def summary(self, seconds: float) -> dict[str, float | int]:
        ordered = sorted(self.latencies)
        return {
            "requests": len(ordered),
            "non_200": self.non_200,
            "errors": self.errors,
            "seconds": seconds,
            "requests_per_second": len(ordered) / seconds if seconds else 0.0,
            "p50_ms": 1000 * percentile(ordered, 50),
            "p99_ms": 1000 * percentile(ordered, 99),
        }


def percentile(ordered: list[float], pct: float) -> float:
    """The nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


def response_end(buffer: bytearray) -> int | None:
    """Where the first complete response in ``buffer`` ends, or None if it has not yet.

    Only ``Content-Length`` framing: the hello-world app answers nothing else.
    """
    head_end = buffer.find(_HEADER_END)
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    start = head.find(b"\r\ncontent-length:")
    if start < 0:
        return head_end + 4  # no body
    value_end = head.find(b"\r\n", start + 2)
    length = int(head[start + 17 : value_end if value_end >= 0 else None])
    end = head_end + 4 + length
    return end if len(buffer) >= end else None


# ---- keep-alive: one request after the other on each connection -------------------------


class KeepAliveClient(asyncio.Protocol):
    def __init__(self, request: bytes, stats: Stats, deadline: float, done: asyncio.Future[None]):
        self.request = request
        self.stats = stats
        self.deadline = deadline
        self.done = done
        self.buffer = bytearray()
        self.started = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        self.started = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = response_end(self.buffer)
        if end is None:
            return
        self.stats.record(bytes(self.buffer[: self.buffer.find(b"\r\n")]), self.started)
        del self.buffer[:end]
        assert self.transport is not None
        if time.perf_counter() < self.deadline:
            self.send()
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.perf_counter() < self.deadline:
            self.stats.errors += 1  # the server closed a keep-alive connection early
        if not self.done.done():
            self.done.set_result(None)


async def run_keepalive(
    host: str, port: int, connections: int, duration: float, path: str, tls: ssl.SSLContext | None
) -> dict[str, float | int]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    stats = Stats()
    started = time.perf_counter()
    deadline = started + duration
    finished = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        try:
            await loop.create_connection(
                functools.partial(KeepAliveClient, request, stats, deadline, done),
                host,
                port,
                ssl=tls,
            )
        except OSError:
            stats.errors += 1
            continue
        finished.append(done)
    await asyncio.wait_for(asyncio.gather(*finished), duration + 30)
    return stats.summary(time.perf_counter() - started)


# ---- a new connection per request ---------------------------------------------------------


class OneShotClient(asyncio.Protocol):
    def __init__(self, request: bytes, done: asyncio.Future[bytes]) -> None:
        self.request = request
        self.done = done
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(bytes(self.buffer))


async def newconn_worker(host: str, port: int, request: bytes, stats: Stats,
                         deadline: float, tls: ssl.SSLContext | None) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        done: asyncio.Future[bytes] = loop.create_future()
        try:
            client = functools.partial(OneShotClient, request, done)
            await loop.create_connection(client, host, port, ssl=tls)
            response = await asyncio.wait_for(done, 30)
        except (OSError, asyncio.TimeoutError):
            stats.errors += 1
            continue
        if response_end(bytearray(response)) is None:
            stats.errors += 1  # closed before the response was complete
            continue
        stats.record(response[: response.find(b"\r\n")], started)


async def run_newconn(
    host: str, port: int, connections: int, duration: float, path: str, tls: ssl.SSLContext | None
) -> dict[str, float | int]:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    stats = Stats()
    started = time.perf_counter()
    deadline = started + duration
    workers = [
        newconn_worker(host, port, request, stats, deadline, tls) for _ in range(connections)
    ]
    await asyncio.wait_for(asyncio.gather(*workers), duration + 60)
    return stats.summary(time.perf_counter() - started)


# ---- the command line ---------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="the benchmark's built-in load generator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("keepalive", "newconn"), default="keepalive")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--path", default="/")
    parser.add_argument("--tls", action="store_true", help="HTTPS, the certificate unchecked")
    args = parser.parse_args()
    tls = None
    if args.tls:
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # room for many connections
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    run = run_keepalive if args.mode == "keepalive" else run_newconn
    result = asyncio.run(run(args.host, args.port, args.connections, args.duration, args.path, tls))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
