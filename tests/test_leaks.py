"""No leaks: after 10,000 connections of every kind, the server is back where it started.

The connections come from 100 concurrent clients, 100 connections each, in five kinds:
keep-alive (three requests on one connection), one request with ``Connection: close``, and
three that are cut off by a reset (mid-headers, mid-body, and while an async handler is
still working on the response). Then, once the server has closed them all, its open file
descriptors and its live HTTP1ServerConnection, HTTP1Connection, IOStream and
RequestHandler objects (counted with the garbage collector, tests/hostile_server.py's
``/stats``) and its asyncio tasks must be exactly what they were before the first one.

The server runs in a process of its own, so that what is counted is the server's alone.
Both libraries are tested.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest
from support import ServerProcess, wait_until

CLIENTS, PER_CLIENT = 100, 100  # 10,000 connections
KEEP_ALIVE = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
OK_RESPONSE_END = b"\r\n\r\nok"


async def connect(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 10)
    return sock


def reset(sock: socket.socket) -> None:
    """Close with a RST (SO_LINGER 0) rather than a FIN: an abrupt client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def send(sock: socket.socket, data: bytes) -> None:
    await asyncio.wait_for(asyncio.get_running_loop().sock_sendall(sock, data), 10)


async def read_ok_responses(sock: socket.socket, count: int) -> None:
    loop, received = asyncio.get_running_loop(), b""
    while received.count(OK_RESPONSE_END) < count:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 10)
        assert chunk, f"closed after {received!r}"
        received += chunk


async def one_connection(port: int, kind: int) -> None:
    sock = await connect(port)
    try:
        if kind == 0:  # keep-alive: three requests, then the client closes
            for _ in range(3):
                await send(sock, KEEP_ALIVE)
                await read_ok_responses(sock, 1)
        elif kind == 1:  # one request, the server closes
            await send(sock, CLOSE)
            await read_ok_responses(sock, 1)
        elif kind == 2:  # reset mid-headers
            await send(sock, b"GET / HTTP/1.1\r\nHost: x\r\nX-Cut: ")
        elif kind == 3:  # reset mid-body
            await send(sock, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\nab")
        else:  # reset while the async handler is working on the answer
            await send(sock, b"GET /slow?seconds=0.02 HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        if kind >= 2:
            await asyncio.sleep(0.001)  # let the bytes go out before the reset
            reset(sock)
        else:
            sock.close()


async def client(port: int, index: int) -> None:
    for i in range(PER_CLIENT):
        await one_connection(port, (index + i) % 5)


@pytest.mark.parametrize("impl", ["minitornado", "tornado"])
async def test_ten_thousand_connections_leave_nothing_behind(impl, tmp_path):
    # 10,000 connections (keep-alive, closing, and reset mid-headers, mid-body and
    # mid-handler): afterwards the server's descriptors and live connection objects are
    # exactly the baseline, and nothing was logged at ERROR.
    server = ServerProcess(impl, tmp_path / "server.log")
    try:
        server.stats()  # warm up: first-use imports and caches are not leaks
        before = server.stats()
        start = time.monotonic()
        await asyncio.gather(*(client(server.port, i) for i in range(CLIENTS)))
        seconds = time.monotonic() - start
        # The server closes its side of the reset connections on its own time, and a /slow
        # handler whose client left still finishes its sleep: wait (bounded) for both.
        settled = wait_until(
            lambda: (
                (stats := server.stats())["connections"] == 1 and stats["live"] == before["live"]
            ),
            timeout=10,
        )
        after = server.stats()
        log = server.log()
    finally:
        server.stop()
    print(
        f"\nleaks ({impl}): {CLIENTS * PER_CLIENT} connections in {seconds:.1f} s "
        f"({CLIENTS * PER_CLIENT // 5 * 4} requests answered; {CLIENTS * PER_CLIENT // 5 * 3} "
        f"connections reset mid-headers, mid-body or mid-handler); open fds "
        f"{before['fds']} -> {after['fds']}; live objects {before['live']} -> {after['live']}; "
        f"RSS {before['rss_kib'] // 1024} -> {after['rss_kib'] // 1024} MiB"
    )
    assert settled
    assert after["fds"] == before["fds"]
    assert after["live"] == before["live"]
    assert after["tasks"] == before["tasks"]
    assert [line for line in log.splitlines() if line.startswith("ERROR")] == []
