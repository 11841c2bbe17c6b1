"""Tests for minitornado/process.py and ``TCPServer.start(num_processes)``: real processes.

Every scenario runs a small script in a Python process of its own, started in a new session
so that the script and every child it forks share one process group, which the test can
watch as a whole: "no process left behind" is "the group is empty", and the clean-up kills
the group whatever happened. Every wait is bounded.

Sections:
    Refusals             task_id() without a fork; no fork beside an event loop, nor for
                         start(n) with no socket bound.
    Supervision          task ids, restarts on failure up to max_restarts, none on exit 0.
    Signals              SIGTERM or SIGINT to the parent alone: ours pass it on, the children
                         drain every request in progress, new clients are refused, nothing
                         survives; Tornado's children outlive their parent.
    Tornado's own tests  ProcessTest and TestMultiprocess, with minitornado's names swapped in.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import h11
import pytest
import tornado
from support import swap_tornado_imports

import minitornado.process
from minitornado.process import task_id

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork() is Unix only")

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 10.0
LOG_FORMAT = "%(process)d %(name)s %(levelname)s %(message)s"


# ---- Running a script and its children -------------------------------------------------------


@dataclass
class Run:
    """A script's process (the parent-to-be, leader of its own process group)."""

    process: subprocess.Popen[str]
    stderr_path: Path

    @property
    def group(self) -> int:
        return self.process.pid

    def group_alive(self) -> bool:
        """Whether any process of the group is still there (zombies of the script excepted)."""
        try:
            os.killpg(self.group, 0)
        except ProcessLookupError:
            return False
        return True

    def line(self, timeout: float = TIMEOUT) -> str:
        """The next line the script (or a child) prints; "" at the end or after ``timeout``."""
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        return self.process.stdout.readline() if readable else ""

    def finish(self, timeout: float = TIMEOUT) -> tuple[int, str, str]:
        """Wait for the script to exit: (exit code, the rest of stdout, stderr)."""
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, self.stderr_path.read_text()


@contextmanager
def running(code: str, tmp_path: Path, *args: str) -> Iterator[Run]:
    """Run ``code`` with minitornado importable; afterwards kill its whole group, if need be."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
    run = Run(process, stderr_path)
    try:
        yield run
    finally:
        if run.group_alive():
            os.killpg(run.group, signal.SIGKILL)
        process.communicate(timeout=TIMEOUT)


def wait_until(predicate: Callable[[], object], timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate()`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


# ---- Refusals ------------------------------------------------------------------------


def test_task_id_is_none_in_a_process_that_did_not_fork() -> None:
    # Scenario: no fork_processes() call here, so no task id.
    assert task_id() is None


def test_fork_is_refused_inside_a_running_loop(tmp_path: Path) -> None:
    # Scenario: called from a coroutine, fork_processes raises before forking anything:
    # the children would share the loop's selector. (In a process of its own, as every
    # test that could fork: a fork here would fork the test run.)
    code = """
        import asyncio
        from minitornado.process import fork_processes, task_id

        async def main():
            try:
                fork_processes(2)
            except RuntimeError as e:
                print(task_id(), e)

        asyncio.run(main())
    """
    with running(code, tmp_path) as run:
        status, out, err = run.finish()
    assert (status, err) == (0, "")
    assert out.startswith("None Cannot run in multiple processes: an event loop already exists")


def test_fork_is_refused_once_an_ioloop_exists(tmp_path: Path) -> None:
    # Scenario: IOLoop.current() outside a loop made one and set it for the thread; forking
    # now would give every child that same loop, so it is refused (Tornado 6.6 forks).
    code = """
        from minitornado.ioloop import IOLoop
        from minitornado.process import fork_processes
        IOLoop.current()
        try:
            fork_processes(2)
        except RuntimeError as e:
            print(e)
    """
    with running(code, tmp_path) as run:
        status, out, err = run.finish()
    assert (status, err) == (0, "")
    assert out.startswith("Cannot run in multiple processes: an event loop already exists")


def test_start_with_several_processes_and_no_socket_bound_is_refused(tmp_path: Path) -> None:
    # Scenario: start(2) before any bind() raises at once, where Tornado would fork children
    # that serve nothing. (In a process of its own: if it forked, it would fork the test run.)
    code = """
        from minitornado.tcpserver import TCPServer
        try:
            TCPServer().start(2)
        except RuntimeError as e:
            print(e)
    """
    with running(code, tmp_path) as run:
        status, out, err = run.finish()
    assert (status, out, err) == (0, "start(2): no socket to serve; call bind() first\n", "")


def test_tornado_start_with_several_processes_and_no_socket_bound_forks_all_the_same(
    tmp_path: Path,
) -> None:
    # The other side of the test above: Tornado's start(2) forks two children, each of
    # which returns from start() with nothing to accept on and runs the caller's code.
    code = """
        import os
        from tornado.process import task_id
        from tornado.tcpserver import TCPServer
        TCPServer().start(2)
        # One write() of a short line: the two children's lines cannot interleave.
        os.write(1, f"child {task_id()} has no socket\\n".encode())
    """
    with running(code, tmp_path) as run:
        status, out, err = run.finish()
    assert status == 0, err
    assert sorted(out.splitlines()) == ["child 0 has no socket", "child 1 has no socket"]


# ---- Supervision ----------------------------------------------------------------------------


def test_each_child_gets_its_task_id_and_a_child_that_exits_0_is_not_restarted(
    tmp_path: Path,
) -> None:
    # Scenario: three children print their task ids and exit 0; none is restarted, and the
    # parent exits 0 with task_id() None, as Tornado's does.
    code = f"""
        import logging, os
        from minitornado.process import fork_processes, task_id
        logging.basicConfig(level=logging.INFO, format={LOG_FORMAT!r})
        try:
            task = fork_processes(3)
        except SystemExit:
            os.write(1, f"parent {{task_id()}}\\n".encode())
            raise
        try:
            fork_processes(2)  # a second call, in a child
        except RuntimeError as e:
            os.write(1, f"{{task}} {{task_id()}} {{e}}\\n".encode())
    """
    with running(code, tmp_path) as run:
        status, out, err = run.finish()
    assert status == 0
    assert sorted(out.splitlines()) == [
        f"{n} {n} fork_processes() was already called: this is child {n}" for n in range(3)
    ] + ["parent None"]
    assert "Starting 3 processes" in err
    assert len(re.findall(r"child \d \(pid \d+\) exited normally", err)) == 3
    assert ", restarting" not in err


def test_a_child_that_fails_is_restarted_with_its_task_id(tmp_path: Path) -> None:
    # Scenario: the first time round, child 0 exits with status 2 and child 1 is killed by
    # SIGKILL; both are restarted with the same task ids, and then exit 0.
    code = f"""
        import logging, os, signal, sys
        from pathlib import Path
        from minitornado.process import fork_processes
        logging.basicConfig(level=logging.INFO, format={LOG_FORMAT!r})
        task = fork_processes(2)
        mark = Path(sys.argv[1]) / f"ran-{{task}}"
        if not mark.exists():
            mark.touch()
            if task == 0:
                os._exit(2)
            os.kill(os.getpid(), signal.SIGKILL)
        os.write(1, f"second run of {{task}}\\n".encode())
    """
    with running(code, tmp_path, str(tmp_path)) as run:
        status, out, err = run.finish()
    assert status == 0, err
    assert sorted(out.splitlines()) == ["second run of 0", "second run of 1"]
    assert re.search(r"child 0 \(pid \d+\) exited with status 2, restarting", err), err
    assert re.search(r"child 1 \(pid \d+\) killed by signal 9, restarting", err), err
    assert len(re.findall(r"exited normally", err)) == 2


def test_restarts_stop_at_max_restarts_and_the_other_children_are_stopped(
    tmp_path: Path,
) -> None:
    # Scenario: child 0 always exits with status 3; child 1 waits for a signal. With
    # max_restarts=2, the third failure makes the parent give up: it sends SIGTERM to
    # child 1 and waits for it, then raises RuntimeError. No process is left behind
    # (Tornado raises at once, and child 1 would keep running).
    code = f"""
        import logging, os, signal
        from minitornado.process import fork_processes
        logging.basicConfig(level=logging.INFO, format={LOG_FORMAT!r})
        task = fork_processes(2, max_restarts=2)
        if task == 0:
            os._exit(3)
        signal.pause()
    """
    with running(code, tmp_path) as run:
        status, _, err = run.finish()
        assert not run.group_alive()
    assert status == 1  # the RuntimeError's traceback
    assert err.count("child 0 (pid") == 3
    assert len(re.findall(r"exited with status 3, restarting", err)) == 3
    assert re.search(r"child 1 \(pid \d+\) stopped by signal 15", err), err
    assert err.rstrip().endswith("RuntimeError: Too many child restarts, giving up")


# ---- Signals --------------------------------------------------------------------------------


def test_sigint_is_passed_on_too_and_a_child_failing_meanwhile_makes_the_exit_status_1(
    tmp_path: Path,
) -> None:
    # Scenario: SIGINT to the parent alone. Child 0 dies by it (Python's default), which is
    # a clean end; child 1 catches it and exits with status 3, which is not: neither is
    # restarted, the parent exits 1, and no process is left.
    code = f"""
        import logging, os, signal
        from minitornado.process import fork_processes
        logging.basicConfig(level=logging.INFO, format={LOG_FORMAT!r})
        task = fork_processes(2)
        if task == 1:
            signal.signal(signal.SIGINT, lambda signum, frame: os._exit(3))
        os.write(1, b"ready\\n")
        signal.pause()
    """
    with running(code, tmp_path) as run:
        assert [run.line(), run.line()] == ["ready\n", "ready\n"]
        run.process.send_signal(signal.SIGINT)
        status, _, err = run.finish()
        assert not run.group_alive()
    assert status == 1, err
    assert "Got signal 2: sending it to 2 children" in err
    assert re.search(r"child 0 \(pid \d+\) stopped by signal 2", err), err
    assert re.search(r"child 1 \(pid \d+\) ended with exit code 3 while stopping", err), err
    assert ", restarting" not in err


# The app the example in minitornado/process.py's docstring serves: GET /?seconds=S answers
# after S seconds with "task_id pid"; ?block=S first blocks the child's loop for S seconds.
APP = textwrap.dedent("""
    import asyncio, logging, os, signal, time
    from minitornado import web
    from minitornado.httpserver import HTTPServer
    from minitornado.ioloop import IOLoop
    from minitornado.process import task_id

    class Slow(web.RequestHandler):
        async def get(self):
            time.sleep(float(self.get_argument("block", "0")))
            await asyncio.sleep(float(self.get_argument("seconds", "0")))
            self.write(f"{task_id()} {os.getpid()}")

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    app = web.Application([("/", Slow)])
""").replace("LOG_FORMAT", repr(LOG_FORMAT))


def docstring_example(port: int) -> str:
    """The example in process.py's docstring, serving on ``port``."""
    doc = minitornado.process.__doc__ or ""
    text = doc.split("(tests/test_process.py runs this very text)::\n\n", 1)[1]
    example = textwrap.dedent(text.split("\n\n``run_sync``", 1)[0])
    assert 'server.bind(8888, "127.0.0.1")' in example
    return example.replace("8888", str(port))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Tally:
    complete: int = 0
    in_flight_at_signal: int = 0  # sent before the signal, answered in full after it
    # No byte of a response, the connection closed: on a connection closed as idle before
    # any byte of the request reached the child, or on a new connection that no child
    # accepted (still queued when the last child closed the shared listening socket).
    unanswered_idle: int = 0
    unanswered_new: int = 0
    cut: list[str] = field(default_factory=list)  # a response that began and did not end
    pids: set[int] = field(default_factory=set)  # the children that answered


async def one_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: h11.Connection
) -> str | int:
    """GET /?seconds=0.2 on a keep-alive connection: the answering pid, or what went wrong."""
    writer.write(client.send(h11.Request(method="GET", target="/?seconds=0.2",
                                         headers=[("Host", "x")])))  # fmt: skip
    writer.write(client.send(h11.EndOfMessage()))
    body, got_bytes = b"", False
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
            except ConnectionError:
                chunk = b""
            if not chunk and not got_bytes:
                return "unanswered"
            got_bytes = True
            try:
                client.receive_data(chunk)
            except h11.RemoteProtocolError:
                return "cut"
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return int(body.split()[1])
        elif isinstance(event, h11.ConnectionClosed):
            return "cut"


async def keep_alive_client(port: int, signalled: asyncio.Event, tally: Tally) -> None:
    """200 ms requests back to back on one connection, reconnecting when the server closes
    it, until a new connection is refused."""
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port),
                                                    TIMEOUT)  # fmt: skip
        except ConnectionRefusedError:
            assert signalled.is_set(), "refused before the signal"
            return
        client, first = h11.Connection(h11.CLIENT), True
        try:
            while True:
                sent_before_signal = not signalled.is_set()
                outcome = await one_request(reader, writer, client)
                if outcome == "cut":
                    tally.cut.append("cut")
                    break
                if outcome == "unanswered":
                    if first:
                        tally.unanswered_new += 1
                    else:
                        tally.unanswered_idle += 1
                    break
                first = False
                assert isinstance(outcome, int)
                tally.complete += 1
                tally.pids.add(outcome)
                tally.in_flight_at_signal += sent_before_signal and signalled.is_set()
                if client.our_state is not h11.DONE or client.their_state is not h11.DONE:
                    break  # Connection: close
                client.start_next_cycle()
        finally:
            writer.close()


async def test_sigterm_to_the_parent_drains_every_child_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    # Scenario: the docstring example (bind + start(2), children drain on SIGTERM) under 8
    # keep-alive clients doing 200 ms requests. SIGTERM goes to the parent alone. Every
    # request in progress is answered in full (0 lost), every response the children logged
    # reached its client, the parent exits 0, and the process group is empty.
    port = free_port()
    with running(APP + docstring_example(port), tmp_path) as run:
        connects = partial(_connects, port)
        assert await asyncio.to_thread(wait_until, connects), run.stderr_path.read_text()
        # Both children serve: while one is blocked, the other accepts the next connection.
        blocked = asyncio.ensure_future(asyncio.to_thread(get_pid, port, "block=0.5"))
        await asyncio.sleep(0.2)
        other = await asyncio.to_thread(get_pid, port, "")
        assert other != await asyncio.wait_for(blocked, TIMEOUT)
        signalled, tally = asyncio.Event(), Tally()
        clients = [asyncio.ensure_future(keep_alive_client(port, signalled, tally))
                   for _ in range(8)]  # fmt: skip
        await asyncio.sleep(0.7)
        run.process.send_signal(signal.SIGTERM)
        signalled.set()
        await asyncio.wait_for(asyncio.gather(*clients), TIMEOUT)
        status, _, err = await asyncio.to_thread(run.finish)
        left_behind = run.group_alive()
    served = len(re.findall(r"minitornado.access INFO 200 GET /\?seconds=0\.2 ", err))
    print(f"\nSIGTERM to the parent of 2 children: {tally.complete} responses, "
          f"{tally.in_flight_at_signal} in flight at the signal, all answered; "
          f"{len(tally.cut)} cut; unanswered: {tally.unanswered_idle} on connections closed "
          f"as idle, {tally.unanswered_new} on new connections no child accepted; children "
          f"logged {served}; answered by {len(tally.pids)} children; exit {status}; "
          f"left behind: {left_behind}")  # fmt: skip
    assert tally.in_flight_at_signal > 0
    assert tally.cut == []
    assert tally.unanswered_new == 0  # the parent closed its copy of the listening socket
    assert tally.complete == served
    assert status == 0, err
    assert len(re.findall(r"child \d \(pid \d+\) exited normally", err)) == 2, err
    assert not left_behind


@pytest.mark.parametrize("sockets_given", [True, False], ids=["sockets=", "tornado-call"])
def test_the_parent_closes_the_listening_sockets_it_was_given_when_stopping(
    sockets_given: bool, tmp_path: Path
) -> None:
    # Scenario: a request of 1 s is in progress when SIGTERM reaches the parent, so the
    # children drain for about a second. A client connecting meanwhile is refused at once
    # when fork_processes got the sockets (as TCPServer.start gives them). Called as in
    # Tornado, the parent still holds a copy: the kernel queues the connection, no process
    # accepts it, and it is reset when the parent exits, without a response.
    port = free_port()
    serve = f"""
        from minitornado.netutil import bind_sockets
        from minitornado.process import fork_processes
        sockets = bind_sockets({port}, "127.0.0.1")
        fork_processes(2{", sockets=sockets" if sockets_given else ""})

        async def serve_until_sigterm():
            server = HTTPServer(app)
            server.add_sockets(sockets)
            stopped = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
            await stopped.wait()
            await server.shutdown()

        asyncio.run(serve_until_sigterm())
    """
    with running(APP + textwrap.dedent(serve), tmp_path) as run:
        assert wait_until(lambda: _connects(port)), run.stderr_path.read_text()
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(get_pid, port, "seconds=1")
            time.sleep(0.3)
            run.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            late = late_client(port)
            status, _, err = run.finish()
            slow_answer = slow.result(TIMEOUT)
        assert not run.group_alive()
    assert status == 0, err
    assert isinstance(slow_answer, int)  # the request in progress was answered
    if sockets_given:
        assert late == "refused"
    else:
        assert late in ("reset", "closed without a response")


def late_client(port: int) -> str:
    """Connect and send a request: "refused", "reset", "closed without a response" or
    "answered"."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), TIMEOUT)
    except ConnectionRefusedError:
        return "refused"
    with sock:
        sock.settimeout(TIMEOUT)
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return "answered" if sock.recv(100) else "closed without a response"
        except ConnectionResetError:
            return "reset"


def _connects(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_in_a_terminal_may_reach_a_child_twice_and_it_drains_once(
    tmp_path: Path,
) -> None:
    # Scenario: the server runs in a terminal (a pty) and Ctrl-C is typed. The terminal
    # sends SIGINT to the parent and to the children, and the parent sends it on: a child
    # counts 2 signals, or 1 when the two merged on the way. Its handler only sets an
    # event, so it drains once, and the parent exits 0 (as fork_processes' docstring says;
    # a handler that took a second signal as "stop now" would not drain).
    script = tmp_path / "script.py"
    script.write_text(
        APP
        + textwrap.dedent("""
        server = HTTPServer(app)
        server.bind(0, "127.0.0.1")
        server.start(2)

        async def serve_until_signal():
            stopped, signals = asyncio.Event(), []

            def on_signal(signum):
                signals.append(signum)
                stopped.set()

            for signum in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(signum, on_signal, signum)
            os.write(1, b"ready\\n")
            await stopped.wait()
            await asyncio.sleep(0.3)  # time for the second copy to arrive
            os.write(1, f"child got {len(signals)}\\n".encode())
            await server.shutdown()

        IOLoop.current().run_sync(serve_until_signal)
    """)
    )
    pid, terminal = pty.fork()
    if pid == 0:  # the forked test process: become the server at once
        try:
            os.chdir(ROOT)
            os.execv(sys.executable, [sys.executable, str(script)])
        finally:
            os._exit(127)
    output = b""

    def read_until(wanted: bytes) -> bool:
        nonlocal output
        deadline = time.monotonic() + TIMEOUT
        while output.count(wanted) < 2 and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.1)[0]:
                try:
                    output += os.read(terminal, 4096)
                except OSError:  # EIO: every process closed the terminal
                    break
        return output.count(wanted) >= 2

    try:
        assert read_until(b"ready"), output
        os.write(terminal, b"\x03")  # Ctrl-C
        assert read_until(b"child got"), output
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # the server is its session's process group
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(terminal)
    assert output.count(b"child got 1") + output.count(b"child got 2") == 2, output
    assert os.waitstatus_to_exitcode(status) == 0


def test_tornado_children_outlive_a_sigterm_to_their_parent(tmp_path: Path) -> None:
    # Scenario: the same layout on Tornado 6.6.1 (bind_sockets, fork_processes(2), serve).
    # SIGTERM to the parent alone kills the parent; both children keep serving, orphans.
    # (The difference fork_processes documents; ours is the test_sigterm_... test above.)
    port = free_port()
    code = f"""
        import asyncio, os
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets
        from tornado.process import fork_processes
        from tornado.web import Application, RequestHandler

        class Pid(RequestHandler):
            def get(self):
                self.write(str(os.getpid()))

        sockets = bind_sockets({port}, "127.0.0.1")
        fork_processes(2)

        async def main():
            HTTPServer(Application([("/", Pid)])).add_sockets(sockets)
            os.write(1, f"{{os.getpid()}}\\n".encode())
            await asyncio.Event().wait()

        asyncio.run(main())
    """
    with running(code, tmp_path) as run:
        children = {int(run.line()), int(run.line())}
        run.process.send_signal(signal.SIGTERM)
        status = run.process.wait(TIMEOUT)
        time.sleep(0.2)
        alive = {pid for pid in children if _alive(pid)}
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=TIMEOUT) as response:
            answered_by = int(response.read())
    assert status == -signal.SIGTERM
    assert alive == children  # 2 of 2 children survive their parent
    assert answered_by in children  # and still serve


def get_pid(port: int, query: str) -> int:
    """GET /?query on a connection of its own: the pid of the child that answered."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/?{query}", timeout=TIMEOUT) as r:
        return int(r.read().split()[-1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- Tornado's own tests, with minitornado's names swapped in --------------------------------

# minitornado's modules, by the name of the Tornado module each mirrors.
SWAPPED = {p.stem for p in (ROOT / "minitornado").glob("*.py") if not p.stem.startswith("_")}


@pytest.mark.parametrize(
    ("test_file", "test_names"),
    [
        ("process_test.py", ["ProcessTest.test_multi_process"]),
        ("tcpserver_test.py", ["TestMultiprocess"]),
    ],
)
def test_tornados_own_multiprocess_tests_pass_on_minitornado(
    test_file: str, test_names: list[str], tmp_path: Path
) -> None:
    # Scenario: Tornado 6.6.1's tests of fork_processes and start(n), loaded from the
    # installed package, their imports swapped, run with unittest in a fresh interpreter.
    source = (Path(tornado.__file__).parent / "test" / test_file).read_text()
    swapped = swap_tornado_imports(source, SWAPPED)
    assert swapped.count("from minitornado.") >= 3, "the swap must really happen"
    ast.parse(swapped)
    module = "swapped_" + test_file.removesuffix(".py")
    (tmp_path / f"{module}.py").write_text(swapped)
    names = [f"{module}.{name}" for name in test_names]
    code = f"import unittest; unittest.main(module=None, argv=['unittest', '-v', *{names!r}])"
    with running(code, tmp_path) as run:  # the whole group is killed if it hangs
        status, _, err = run.finish(timeout=60)
    ran = re.search(r"Ran (\d+) tests?", err)
    print(f"\n{test_file}: {err.strip().splitlines()[-1]} ({ran and ran[0]})")
    assert status == 0, err
    assert ran and int(ran[1]) >= 1
