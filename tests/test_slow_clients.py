"""Slow and idle clients: 500 of each, while a normal client keeps asking.

Slowloris holds a server's connections by sending a request's headers one byte at a time,
never finishing them; idle clients connect and send nothing. Against a server with
``idle_connection_timeout=2`` (which is also the header timeout: the whole header block must
arrive within it, however it trickles), all 1,000 must be closed by the server about two
seconds after they connected, while a normal client, asking all along on fresh connections,
keeps getting its 200 quickly, and the server's memory stays bounded.

The server runs in a process of its own (tests/hostile_server.py), so that its memory and
descriptors are its own; the clients run here, on one event loop. Both libraries are tested.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import statistics
import time

import pytest
from support import ServerProcess

SLOW, IDLE = 500, 500
IDLE_TIMEOUT = 2.0  # the server's idle_connection_timeout (and so its header timeout)
TRICKLE = 0.3  # seconds between two bytes of a slow client
SLACK = 4.0  # beyond IDLE_TIMEOUT, for a loaded machine
MAX_LATENCY = 2.0  # a normal request slower than this would mean the slow ones starve it


@pytest.fixture(autouse=True)
def enough_descriptors():
    """1,000 client sockets in this process: raise its soft descriptor limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SLOW + IDLE + 200
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= needed
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def connect(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 10)
    return sock


async def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Wait for the server to close ``sock`` (EOF or reset); False if it has not by then."""
    loop = asyncio.get_running_loop()
    try:
        while await asyncio.wait_for(loop.sock_recv(sock, 1024), timeout):
            pass  # a bare timeout closes without a byte; anything else is read and ignored
    except ConnectionError:
        pass
    except asyncio.TimeoutError:
        return False
    return True


async def idle_client(port: int, opened: asyncio.Event) -> float:
    """Connect, send nothing; seconds until the server closed the connection."""
    start = time.monotonic()  # before connecting: the server's timer cannot start earlier
    sock = await connect(port)
    opened.set()
    try:
        assert await closed_by_server(sock, IDLE_TIMEOUT + SLACK), "an idle client was kept"
        return time.monotonic() - start
    finally:
        sock.close()


async def slow_client(port: int) -> tuple[float, int]:
    """Send headers one byte every TRICKLE s, never ending them: (seconds kept, bytes sent)."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()  # before connecting: the server's timer cannot start earlier
    sock = await connect(port)
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    sent = 0
    try:
        closing = asyncio.ensure_future(closed_by_server(sock, IDLE_TIMEOUT + SLACK))
        while not closing.done() and sent < len(head):
            try:
                await asyncio.wait_for(loop.sock_sendall(sock, head[sent : sent + 1]), 10)
            except ConnectionError:
                break  # closed under us: the read below sees it too
            sent += 1
            await asyncio.wait([closing], timeout=TRICKLE)
        assert await closing, "a slow client was kept"
        return time.monotonic() - start, sent
    finally:
        sock.close()


async def normal_client(port: int, until: asyncio.Event, latencies: list[float]) -> None:
    """GET / on a fresh connection every 50 ms until ``until`` is set; record each latency."""
    loop = asyncio.get_running_loop()
    while not until.is_set():
        start = time.monotonic()
        sock = await connect(port)
        try:
            await asyncio.wait_for(
                loop.sock_sendall(sock, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                10,
            )
            response = b""
            while chunk := await asyncio.wait_for(loop.sock_recv(sock, 4096), 10):
                response += chunk
        finally:
            sock.close()
        assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b"ok")
        latencies.append(time.monotonic() - start)
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("impl", ["minitornado", "tornado"])
async def test_slow_and_idle_clients_are_closed_while_a_normal_one_is_served(impl, tmp_path):
    # 500 slowloris clients and 500 idle ones against a server with a 2 s idle timeout, and
    # a normal client asking every 50 ms throughout: every slow and idle connection is
    # closed by the server about 2 s after it opened; the normal client always gets its 200
    # within MAX_LATENCY; the server's memory grows by a bounded amount and comes back down.
    server = ServerProcess(impl, tmp_path / "server.log", "--idle-timeout", str(IDLE_TIMEOUT))
    try:
        server.stats()  # warm up: the first request imports and allocates what every one needs
        base_rss = server.rss_kib()
        done, latencies = asyncio.Event(), []
        normal = asyncio.ensure_future(normal_client(server.port, done, latencies))
        opened = [asyncio.Event() for _ in range(IDLE)]
        idle, slow = [], []
        for batch in range(10):  # in batches, so the listen backlog never overflows
            idle += [
                asyncio.ensure_future(idle_client(server.port, opened[i]))
                for i in range(batch * 50, batch * 50 + 50)
            ]
            slow += [asyncio.ensure_future(slow_client(server.port)) for _ in range(50)]
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), 10)
        await asyncio.sleep(0.5)
        peak_rss = server.rss_kib()
        peak_connections = server.stats()["connections"]
        idle_kept = await asyncio.gather(*idle)
        slow_kept = await asyncio.gather(*slow)
        done.set()
        await asyncio.wait_for(normal, 10)
        after = server.stats()
    finally:
        server.stop()

    kept = sorted(idle_kept + [seconds for seconds, _ in slow_kept])
    trickled = [sent for _, sent in slow_kept]
    latency_ms = sorted(x * 1000 for x in latencies)
    print(
        f"\nslow clients ({impl}): {SLOW} slowloris + {IDLE} idle; {peak_connections} open at "
        f"the peak; closed by the server after {kept[0]:.2f}-{kept[-1]:.2f} s (idle timeout "
        f"{IDLE_TIMEOUT} s), slow ones having sent {min(trickled)}-{max(trickled)} bytes; "
        f"normal client: {len(latency_ms)} requests, p50={statistics.median(latency_ms):.1f} ms "
        f"max={latency_ms[-1]:.1f} ms; server RSS {base_rss // 1024} MiB -> peak "
        f"{peak_rss // 1024} MiB -> {after['rss_kib'] // 1024} MiB after"
    )
    assert peak_connections >= SLOW + IDLE  # they really were all open at once
    assert kept[0] >= IDLE_TIMEOUT * 0.95  # closed by the timeout, not by something else
    assert len(latency_ms) >= 10 and latency_ms[-1] < MAX_LATENCY * 1000
    assert peak_rss - base_rss < 64 * 1024  # under 64 KiB per connection
    assert after["connections"] == 1  # the /stats request itself
    assert [line for line in server.log().splitlines() if line.startswith("ERROR")] == []
