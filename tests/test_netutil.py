"""Tests for minitornado/netutil.py: listening sockets and the accept handler.

Most tests run against both minitornado and Tornado (the ``impl`` parameter), because the two
should behave the same; the out-of-file-descriptors test shows where they differ on purpose.
"""

import asyncio
import errno
import gc
import importlib
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import IMPLS

REPO_ROOT = Path(__file__).resolve().parent.parent


def _modules(impl: str) -> tuple[ModuleType, ModuleType]:
    """(netutil, ioloop) of one implementation."""
    return importlib.import_module(f"{impl}.netutil"), importlib.import_module(f"{impl}.ioloop")


def _ipv6_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


# --- bind_sockets ---------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("address", [None, "", "localhost"])
def test_port_zero_gives_every_family_the_same_port(impl: str, address: str | None) -> None:
    # Port 0 on a name with several addresses: the kernel picks a port once, every socket
    # (IPv4 and IPv6 alike) listens on it.
    netutil, _ = _modules(impl)
    sockets = netutil.bind_sockets(0, address)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1 and ports != {0}
        if address in (None, "") and _ipv6_works():
            assert {sock.family for sock in sockets} == {socket.AF_INET, socket.AF_INET6}
    finally:
        _close_all(sockets)


@pytest.mark.parametrize("impl", IMPLS)
def test_sockets_come_back_listening_nonblocking_with_reuseaddr(impl: str) -> None:
    # A restarted server must be able to rebind at once, and the loop must never block.
    netutil, _ = _modules(impl)
    sockets = netutil.bind_sockets(0, "127.0.0.1")
    try:
        [sock] = sockets
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
    finally:
        _close_all(sockets)


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
@pytest.mark.parametrize("impl", IMPLS)
def test_reuse_port_lets_two_listeners_share_a_port(impl: str) -> None:
    # reuse_port=True sets SO_REUSEPORT, so a second server can listen on the same port
    # (how independent processes share one port).
    netutil, _ = _modules(impl)
    first = netutil.bind_sockets(0, "127.0.0.1", reuse_port=True)
    port = first[0].getsockname()[1]
    second: list[socket.socket] = []
    try:
        second = netutil.bind_sockets(port, "127.0.0.1", reuse_port=True)
        assert [s.getsockname()[1] for s in second] == [port]
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in first + second)
    finally:
        _close_all(first + second)


def _sockets_left_open(call: Callable[[], object], error: type[Exception]) -> tuple[str, int]:
    """Run ``call``, which must raise ``error``; return its message and how many sockets it
    left for the garbage collector (each one warns ResourceWarning when collected)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        try:
            call()
        except error as e:
            message = f"{e} (errno {getattr(e, 'errno', None)})"
        else:
            raise AssertionError(f"{call} did not raise {error}")
        # The exception's traceback, which kept the failed call's locals alive, is gone now.
        gc.collect()
    return message, sum(issubclass(w.category, ResourceWarning) for w in caught)


@pytest.mark.parametrize(("impl", "left_open"), [("minitornado", 0), ("tornado", 1)])
def test_port_in_use_fails_and_closes_what_it_made(impl: str, left_open: int) -> None:
    # Without reuse_port a second listener on a busy port fails with EADDRINUSE. minitornado
    # closes the socket it made first; Tornado leaves it open (Differs on purpose).
    netutil, _ = _modules(impl)
    first = netutil.bind_sockets(0, "127.0.0.1")
    port = first[0].getsockname()[1]
    try:
        message, leaked = _sockets_left_open(
            lambda: netutil.bind_sockets(port, "127.0.0.1"), OSError
        )
        assert f"(errno {errno.EADDRINUSE})" in message
        assert leaked == left_open
    finally:
        _close_all(first)


@pytest.mark.skipif(not _ipv6_works(), reason="no IPv6 on this host")
@pytest.mark.parametrize("impl", IMPLS)
def test_ipv6_sockets_are_v6_only(impl: str) -> None:
    # "::" on Linux would also take IPv4 clients and collide with the 0.0.0.0 socket.
    netutil, _ = _modules(impl)
    sockets = netutil.bind_sockets(0, None)
    try:
        v6 = [s for s in sockets if s.family == socket.AF_INET6]
        assert v6
        assert all(s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1 for s in v6)
    finally:
        _close_all(sockets)


# --- bind_unix_socket -----------------------------------------------------------------------


def _unix_round_trip(listener: socket.socket, path: str) -> bytes:
    """Connect a raw AF_UNIX client, accept it, send one message across, return it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(path)
        listener.settimeout(5)
        conn, _ = listener.accept()
        with conn:
            client.sendall(b"ping")
            conn.settimeout(5)
            return conn.recv(16)


@pytest.mark.parametrize("impl", IMPLS)
def test_unix_socket_accepts_a_client_and_is_private(impl: str, tmp_path: Path) -> None:
    # bind_unix_socket gives a listening socket whose file only its owner may use (0o600).
    netutil, _ = _modules(impl)
    path = str(tmp_path / "s.sock")
    listener = netutil.bind_unix_socket(path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert _unix_round_trip(listener, path) == b"ping"
    finally:
        listener.close()


@pytest.mark.parametrize("impl", IMPLS)
def test_unix_socket_replaces_a_stale_socket_file(impl: str, tmp_path: Path) -> None:
    # A crashed server leaves its socket file behind; the next one must not fail on it.
    netutil, _ = _modules(impl)
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    listener = netutil.bind_unix_socket(path, mode=0o660)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert _unix_round_trip(listener, path) == b"ping"
    finally:
        listener.close()


@pytest.mark.parametrize(("impl", "left_open"), [("minitornado", 0), ("tornado", 1)])
def test_unix_socket_refuses_to_replace_a_regular_file(
    impl: str, left_open: int, tmp_path: Path
) -> None:
    # A typo in the socket path must not delete someone's file. minitornado checks the path
    # before making a socket; Tornado's socket is left open (Differs on purpose).
    netutil, _ = _modules(impl)
    path = tmp_path / "precious.txt"
    path.write_text("keep me")
    message, leaked = _sockets_left_open(lambda: netutil.bind_unix_socket(str(path)), ValueError)
    assert "exists and is not a socket" in message
    assert path.read_text() == "keep me"
    assert leaked == left_open


# --- add_accept_handler ---------------------------------------------------------------------


class _AcceptRecorder:
    """Collects accepted connections and cuts them into wake-ups.

    The first connection of a wake-up schedules ``end_of_wakeup`` with ``add_callback``.
    asyncio runs callbacks scheduled during one loop turn on the next turn, before the
    handlers of that turn's ready file descriptors, so the marker always lands between
    two wake-ups of the accept handler.
    """

    def __init__(self, io_loop: Any, expected: int) -> None:
        self.io_loop = io_loop
        self.expected = expected
        self.connections: list[socket.socket] = []
        self.batches: list[int] = []
        self.all_arrived = asyncio.Event()
        self._marker_pending = False

    def on_connection(self, connection: socket.socket, address: Any) -> None:
        self.connections.append(connection)
        if not self._marker_pending:
            self._marker_pending = True
            self.io_loop.add_callback(self.end_of_wakeup)

    def end_of_wakeup(self) -> None:
        self._marker_pending = False
        self.batches.append(len(self.connections) - sum(self.batches))
        if len(self.connections) >= self.expected:
            self.all_arrived.set()

    def close(self) -> None:
        _close_all(self.connections)


def _queue_clients(port: int, count: int) -> list[socket.socket]:
    # Blocking connects return once the kernel completed the handshake and queued the
    # connection on the listener, so all of them are waiting before the loop looks.
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


@pytest.mark.parametrize("impl", IMPLS)
async def test_one_wakeup_accepts_at_most_one_batch(impl: str) -> None:
    # 128 + 10 clients are queued before the handler exists. The first wake-up accepts
    # exactly 128 (_DEFAULT_BACKLOG), leaving the loop free for other work; the next one
    # accepts the remaining 10.
    netutil, ioloop = _modules(impl)
    [listener] = netutil.bind_sockets(0, "127.0.0.1", backlog=1024)
    clients = _queue_clients(listener.getsockname()[1], 128 + 10)
    recorder = _AcceptRecorder(ioloop.IOLoop.current(), expected=138)
    remove = netutil.add_accept_handler(listener, recorder.on_connection)
    try:
        await asyncio.wait_for(recorder.all_arrived.wait(), timeout=10)
        assert recorder.batches == [128, 10]
    finally:
        remove()
        listener.close()
        recorder.close()
        _close_all(clients)


@pytest.mark.parametrize("impl", IMPLS)
async def test_remover_called_mid_batch_stops_accepting_at_once(impl: str) -> None:
    # 20 clients are queued; the 5th callback calls the remover, as TCPServer.stop() would.
    # The handler checks the flag before every accept, so 15 clients stay in the queue.
    netutil, _ = _modules(impl)
    [listener] = netutil.bind_sockets(0, "127.0.0.1")
    clients = _queue_clients(listener.getsockname()[1], 20)
    accepted: list[socket.socket] = []

    def on_connection(connection: socket.socket, address: Any) -> None:
        accepted.append(connection)
        if len(accepted) == 5:
            remove()

    remove = netutil.add_accept_handler(listener, on_connection)
    try:
        await asyncio.sleep(0.3)
        assert len(accepted) == 5
        listener.setblocking(True)
        listener.settimeout(5)
        leftover, _ = listener.accept()  # the 6th client is still queued, never accepted
        leftover.close()
        remove()  # a second call does nothing
    finally:
        listener.close()
        _close_all(accepted + clients)


@pytest.mark.parametrize("impl", IMPLS)
async def test_remover_stops_accepting_new_clients(impl: str) -> None:
    # One client is accepted; after the remover runs, a new client is only queued by the
    # kernel and never reaches the callback.
    netutil, _ = _modules(impl)
    [listener] = netutil.bind_sockets(0, "127.0.0.1")
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    remove = netutil.add_accept_handler(listener, lambda conn, addr: accepted.append(conn))
    clients = _queue_clients(port, 1)
    try:
        for _ in range(50):
            if accepted:
                break
            await asyncio.sleep(0.02)
        assert len(accepted) == 1
        remove()
        clients += _queue_clients(port, 1)
        await asyncio.sleep(0.3)
        assert len(accepted) == 1
    finally:
        listener.close()
        _close_all(accepted + clients)


class _ExhaustedSocket(socket.socket):
    """A listening socket whose accept() fails as if the process had no descriptors left."""

    accept_calls = 0

    def accept(self) -> tuple[socket.socket, Any]:
        self.accept_calls += 1
        raise OSError(errno.EMFILE, "Too many open files")


async def test_remover_called_while_paused_keeps_the_handler_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # accept() fails with EMFILE, so the handler pauses for _ACCEPT_RETRY_DELAY (0.05 s
    # here). The server stops during the pause: the retry must not put the handler back.
    netutil, ioloop = _modules("minitornado")
    monkeypatch.setattr(netutil, "_ACCEPT_RETRY_DELAY", 0.05)
    listener = _ExhaustedSocket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    client = socket.create_connection(listener.getsockname(), timeout=5)
    io_loop = ioloop.IOLoop.current()
    remove = netutil.add_accept_handler(listener, lambda conn, addr: None)
    try:
        for _ in range(100):
            if listener.accept_calls:
                break
            await asyncio.sleep(0.01)
        assert listener.accept_calls == 1
        assert listener.fileno() not in io_loop.handlers  # paused
        remove()
        await asyncio.sleep(0.25)  # five retry delays
        assert listener.accept_calls == 1
        assert listener.fileno() not in io_loop.handlers
    finally:
        client.close()
        listener.close()


# The scenario runs in a child process because it lowers RLIMIT_NOFILE and uses up every
# file descriptor. It prints one JSON line.
_OUT_OF_FDS_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, logging, os, resource, socket, sys
    impl = sys.argv[1]
    if impl == "minitornado":
        from minitornado import netutil
        netutil._ACCEPT_RETRY_DELAY = 0.1  # keep the test short
    else:
        from tornado import netutil

    class Counter(logging.Handler):
        def __init__(self):
            super().__init__()
            self.records = {}
        def emit(self, record):
            self.records[record.name] = self.records.get(record.name, 0) + 1

    counter = Counter()
    logging.basicConfig(handlers=[counter], level=logging.INFO)

    class CountingSocket(socket.socket):
        # A real listening socket that counts the accept() attempts made on it.
        accept_calls = 0
        def accept(self):
            CountingSocket.accept_calls += 1
            return super().accept()

    async def main():
        listener = CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        client = socket.create_connection(listener.getsockname(), timeout=5)
        accepted = []
        # Registered first (it imports lazily), but it runs only once main() awaits.
        netutil.add_accept_handler(listener, lambda conn, addr: accepted.append(conn))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
        hog = []
        try:
            while True:
                hog.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        await asyncio.sleep(0.5)  # the client waits in the queue; no descriptor for it
        calls_while_exhausted = CountingSocket.accept_calls
        for fd in hog:
            os.close(fd)
        for _ in range(100):
            if accepted:
                break
            await asyncio.sleep(0.02)
        print(json.dumps({"calls": calls_while_exhausted, "accepted": len(accepted),
                          "logs": counter.records}))

    asyncio.run(main())
    """
)


def _run_out_of_fds_scenario(impl: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _OUT_OF_FDS_SCRIPT, impl],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_out_of_file_descriptors_pauses_accepting_instead_of_spinning() -> None:
    # With every descriptor in use, accept() fails with EMFILE and the client stays queued.
    # minitornado logs once on minitornado.general, retries every _ACCEPT_RETRY_DELAY
    # (0.1 s here, so about 5 attempts in 0.5 s), and accepts the client once descriptors
    # are free again. (Differs on purpose from Tornado: see the next test.)
    result = _run_out_of_fds_scenario("minitornado")
    assert 2 <= result["calls"] <= 10
    assert result["logs"] == {"minitornado.general": 1}
    assert result["accepted"] == 1


def test_tornado_spins_when_out_of_file_descriptors() -> None:
    # The same scenario under Tornado: the EMFILE error escapes the accept handler, asyncio
    # logs it, and the still-readable socket wakes the loop again at once, over and over.
    result = _run_out_of_fds_scenario("tornado")
    assert result["calls"] > 50
    assert result["logs"].get("asyncio", 0) > 50
    assert result["accepted"] == 1


# --- is_valid_ip ----------------------------------------------------------------------------

_IP_CASES = {
    "127.0.0.1": True,
    "4.4.4.4": True,
    "::1": True,
    "2620:0:1cfe:face:b00c::3": True,
    "::ffff:10.0.0.1": True,
    "www.google.com": False,
    "localhost": False,
    "4.4.4.4<": False,
    " 127.0.0.1": False,
    "": False,
    " ": False,
    "\n": False,
    "\x00": False,
    "127.0.0.1\x00junk": False,
    "a" * 100: False,
    "1.2.3.4.5": False,
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("ip", "valid"), _IP_CASES.items(), ids=repr)
def test_is_valid_ip_accepts_only_numeric_addresses(impl: str, ip: str, valid: bool) -> None:
    # X-Real-Ip / X-Forwarded-For values are trusted only when they are IP addresses.
    netutil, _ = _modules(impl)
    assert netutil.is_valid_ip(ip) is valid
