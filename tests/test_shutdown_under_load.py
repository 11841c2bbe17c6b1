"""SIGTERM under load: the demo server (``demo_app.py``) drains while clients keep asking.

A load generator runs 40 keep-alive connections against ``python demo_app.py --port 0``,
each sending requests back to back (a quarter of them pausing 20 ms between two, idle
meanwhile), a sixth of them to ``/async?seconds=...`` (a handler that awaits 0.05-0.3 s) and
a sixth to ``/stream`` (a chunked response in five flushes). After a second of this the test
sends SIGTERM, and the clients carry on. Then:

- every request the server accepted got its full response: no client ever saw a response
  cut short, every request in progress at the signal was answered in full, and the number
  of complete responses the clients got equals the number the server logged (so none that
  the server answered was lost);
- a request sent on a keep-alive connection the server was closing as idle may get no
  answer at all (no byte of the request had reached the server: it was not accepted); such
  connections are counted and printed;
- new connections are refused once the signal has been handled;
- the process exits with status 0 within the grace period.

The drain is minitornado's ``HTTPServer.shutdown`` (tests/test_shutdown.py tests it piece by
piece); demo_app.py calls it on the first SIGTERM.
"""

from __future__ import annotations

import asyncio
import re
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import h11

DEMO = Path(__file__).resolve().parent.parent / "demo_app.py"
CONNECTIONS = 40
GRACE = 5.0
LOAD_BEFORE_SIGNAL = 1.0
PATHS = ["/hello", "/json", "/async?seconds=", "/hello?name=x", "/stream?delay=0.02", "/hi"]


def path_for(client: int, i: int) -> str:
    """The ``i``-th request of a client: the clients are out of step, and their awaits vary."""
    path = PATHS[(client * 7 + i) % len(PATHS)]
    return path + f"{0.05 * (1 + client % 6):.2f}" if path.endswith("=") else path


@dataclass
class Tally:
    complete: int = 0  # full responses, status 200
    in_flight_at_signal: int = 0  # of which: requests sent before the signal, answered after
    unanswered: int = 0  # the server closed the connection before any byte of a response
    cut: list[str] = field(default_factory=list)  # responses that began but did not end
    refused_after: float | None = None  # when a new connection was first refused


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: h11.Connection, path: str
) -> str:
    """One request on the connection: "complete", "unanswered" (closed, no byte), or "cut"."""
    data = client.send(h11.Request(method="GET", target=path, headers=[("Host", "x")]))
    data += client.send(h11.EndOfMessage())
    try:
        writer.write(data)
        await asyncio.wait_for(writer.drain(), 10)
    except ConnectionError:
        return "unanswered"
    got_bytes = False
    while True:
        try:
            event = client.next_event()
        except h11.RemoteProtocolError:
            return "cut"  # closed in the middle of the response
        if event is h11.NEED_DATA:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 10)
            except ConnectionError:
                chunk = b""
            got_bytes = got_bytes or bool(chunk)
            client.receive_data(chunk)
            if not chunk and not got_bytes:
                return "unanswered"
            continue
        if isinstance(event, h11.Response):
            assert event.status_code == 200, event
        elif isinstance(event, h11.EndOfMessage):
            return "complete"
        elif isinstance(event, h11.ConnectionClosed):
            return "cut"


async def keep_alive_client(port: int, signalled: asyncio.Event, tally: Tally, n: int) -> None:
    """Requests back to back on one connection, reconnecting when the server closes it,
    until a new connection is refused."""
    start = time.monotonic()
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        except ConnectionRefusedError:
            assert signalled.is_set(), "refused before the signal"
            if tally.refused_after is None:
                tally.refused_after = time.monotonic() - start
            return
        client = h11.Connection(h11.CLIENT)
        try:
            for i in range(10_000):
                sent_before_signal = not signalled.is_set()
                path = path_for(n, i)
                outcome = await exchange(reader, writer, client, path)
                if outcome == "cut":
                    tally.cut.append(path)
                    break
                if outcome == "unanswered":
                    tally.unanswered += 1
                    break
                tally.complete += 1
                tally.in_flight_at_signal += sent_before_signal and signalled.is_set()
                if client.our_state is not h11.DONE or client.their_state is not h11.DONE:
                    break  # the response said Connection: close
                client.start_next_cycle()
                if n % 4 == 0:
                    await asyncio.sleep(0.02)  # a pause: the connection is idle meanwhile
        finally:
            writer.close()


async def test_sigterm_under_load_loses_no_accepted_request(tmp_path):
    # 40 keep-alive clients hammer the demo; SIGTERM after 1 s: every accepted request gets
    # its whole response, new connections are refused, the process exits 0 within --grace.
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            [sys.executable, str(DEMO), "--port", "0", "--grace", str(GRACE)],
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        assert demo.stdout is not None
        readable, _, _ = select.select([demo.stdout], [], [], 10)  # bounded, unlike readline
        first = demo.stdout.readline().decode() if readable else ""
        match = re.match(r"Listening on http://127\.0\.0\.1:(\d+)/ ", first)
        assert match, first
        port = int(match[1])
        signalled, tally = asyncio.Event(), Tally()
        clients = [
            asyncio.ensure_future(keep_alive_client(port, signalled, tally, n))
            for n in range(CONNECTIONS)
        ]
        await asyncio.sleep(LOAD_BEFORE_SIGNAL)
        complete_before = tally.complete
        demo.send_signal(signal.SIGTERM)
        signal_sent = time.monotonic()
        signalled.set()
        await asyncio.wait_for(asyncio.gather(*clients), GRACE + 5)
        exit_code = await asyncio.wait_for(asyncio.to_thread(demo.wait), GRACE + 5)
        exited_after = time.monotonic() - signal_sent
        with socket.socket() as late:
            refused = late.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(5)
        assert demo.stdout is not None
        demo.stdout.close()
    served = len(re.findall(r"\] 200 GET ", log_path.read_text()))
    print(
        f"\nshutdown under load: {CONNECTIONS} keep-alive clients, {complete_before} responses "
        f"before SIGTERM, {tally.complete} in all; {tally.in_flight_at_signal} requests in "
        f"flight at the signal, all answered in full; {len(tally.cut)} cut; "
        f"{tally.unanswered} unanswered on connections closed as idle; server logged "
        f"{served}; new connections refused; exit {exit_code} after {exited_after:.2f} s "
        f"(grace {GRACE} s)"
    )
    assert complete_before > 100  # it really was under load
    assert tally.in_flight_at_signal > 0  # and some requests were in progress at the signal
    assert tally.cut == []
    assert tally.complete == served  # every response the server logged reached its client
    assert tally.refused_after is not None and refused
    assert exit_code == 0 and exited_after < GRACE


async def test_request_already_delivered_at_shutdown_is_served_not_dropped():
    # A keep-alive connection between two requests; the client's next request has reached
    # the server's kernel, but the loop has not read it yet, when shutdown() begins. The
    # connection is not idle (a request was delivered): the request is served, with
    # "Connection: close", instead of the connection being closed under it.
    from minitornado import httpserver, netutil, web

    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write("ok")

    server = httpserver.HTTPServer(web.Application([("/", Hello)]))
    [listener] = netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets([listener])
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setblocking(False)
        await asyncio.wait_for(loop.sock_connect(sock, listener.getsockname()), 5)
        request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        await asyncio.wait_for(loop.sock_sendall(sock, request), 5)
        first = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
        assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b"ok")
        await asyncio.sleep(0.05)  # the server waits for the next request
        assert sock.send(request) == len(request)  # in the server's kernel buffer at once
        shutdown = asyncio.ensure_future(server.shutdown(5))  # runs before the loop reads it
        second = b""
        while chunk := await asyncio.wait_for(loop.sock_recv(sock, 4096), 5):
            second += chunk
    assert await asyncio.wait_for(shutdown, 5) == 0
    assert second.startswith(b"HTTP/1.1 200 OK\r\n") and second.endswith(b"ok")
    assert b"\r\nConnection: close\r\n" in second
