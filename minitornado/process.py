"""Several worker processes on one port: fork them, restart the ones that fail, stop them all.

Mirrors: tornado/process.py (Tornado 6.6)

Kept: ``cpu_count``, ``fork_processes`` (the parent forks N children, each of which returns
from the call with its task id and serves; the parent stays inside the call, restarts a child
that fails, and exits once every child is done) and ``task_id``. The log lines say what
Tornado's say, on ``gen_log``. Ours alone: the parent passes SIGTERM and SIGINT on to its
children and waits for them, closing its copies of the listening sockets (``sockets=``), so
that a process manager can stop the whole tree by signalling the parent.

Left out: ``Subprocess`` (Tornado's ``subprocess.Popen`` with ``PipeIOStream`` pipes and an
exit callback; serving does not need it: use ``asyncio.create_subprocess_exec``), and
``_reseed_random`` (Python's ``random`` has reseeded itself in every forked child since 3.7).

The one way to get here from a server is ``TCPServer.start(num_processes)`` after ``bind()``;
``listen()`` never forks. Tornado has advised against this mode since 6.2 (issue #2801): run
independent processes with ``listen(port, reuse_port=True)`` under a process manager instead.

Study path: the other way of starting, P1 to P5. ``start(N)`` (P2) calls ``fork_processes``
(P3); each child then runs ``add_sockets`` (P4) on the sockets ``bind()`` (P1) made before the
fork, and serves from step 6 on; ``task_id`` is P5.

A server that forks two children, each of which drains its connections when the parent
passes it SIGTERM or SIGINT (tests/test_process.py runs this very text)::

    server = HTTPServer(app)
    server.bind(8888, "127.0.0.1")
    server.start(2)  # the parent never returns from here; each child does, and serves

    async def serve_until_signal():
        stopped = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stopped.set)
        await stopped.wait()
        await server.shutdown()

    IOLoop.current().run_sync(serve_until_signal)

``run_sync`` and not ``asyncio.run``: ``start()`` registered the sockets on
``IOLoop.current()``, which ``asyncio.run`` would replace with a new loop.
"""

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from minitornado.ioloop import IOLoop
from minitornado.log import gen_log

# The parent passes SIGTERM and SIGINT on to its children; SIGCHLD tells it a child ended.
_WATCHED = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}

_task_id: int | None = None


# Tornado: tornado/process.py::cpu_count
def cpu_count() -> int:
    """How many CPUs this machine has (1, with an error logged, if the system cannot say).

    Compared with Tornado:
        Simplified: one question, ``os.cpu_count()`` (what ``multiprocessing.cpu_count``
        asks too), instead of ``multiprocessing`` with ``sysconf`` as the fallback.
    """
    count = os.cpu_count()
    if count is None:
        gen_log.error("Could not detect number of processors; assuming 1")
        return 1
    return count


# Tornado: tornado/process.py::fork_processes                    (study path, step P3)
def fork_processes(
    num_processes: int | None,
    max_restarts: int | None = None,
    *,
    sockets: Iterable[socket.socket] = (),
) -> int:
    """Fork ``num_processes`` children (None or <= 0: one per CPU) and supervise them.

    In each child this returns the child's task id, 0 to ``num_processes - 1``, and the child
    goes on to serve. The parent never returns. It waits, and:

    - a child that exits with status 0 is done; one that exits with another status or is
      killed by a signal is restarted under the same task id, at most ``max_restarts`` times
      in all (100 by default); one more failure and the parent gives up: it stops the other
      children as below, then raises ``RuntimeError("Too many child restarts, giving up")``;
    - SIGTERM or SIGINT sent to the parent is sent on to every child, every time it arrives.
      From then on no child is restarted, and the parent closes its copies of ``sockets``
      (the listening sockets the children share), so that a port is refused as soon as the
      children have closed theirs. A child ends as its app decides: one that handles the
      signal can drain (``HTTPServer.shutdown()``), one that does not dies by it;
    - once no child is left, the parent calls ``sys.exit(0)``; or ``sys.exit(1)`` if, after a
      signal was sent on, a child ended otherwise than with status 0 or by a signal sent on.

    Call it from the main thread, with no other thread running (a forked child gets only the
    calling thread), and before any event loop exists: the children would share its selector.
    In a terminal, Ctrl-C sends SIGINT to the parent and its children alike, so a child may
    get it twice, from the terminal and from the parent (or once, when the two arrive close
    enough to merge): a handler that only sets an event, as in the example above, drains
    once either way, where one that takes a second signal as "stop now" would not drain.

    Log lines, on ``gen_log``: Tornado's ("Starting %d processes", "child %d (pid %d) exited
    normally", "... exited with status %d, restarting", "... killed by signal %d,
    restarting"), and ours for the signals ("Got signal %d: sending it to %d children",
    "... stopped by signal %d", "... ended with exit code %d while stopping, not
    restarting").

    Compared with Tornado:
        Same: the children, task ids, restart rule, ``max_restarts`` and log lines.
        Differs on purpose: signals. Tornado's parent sits in ``os.wait()`` with the default
        SIGTERM action, so a SIGTERM sent to the parent alone (as a process manager does)
        kills only the parent: its 2 children of 2 keep serving, orphans adopted by pid 1
        (seen with Tornado 6.6.1; SIGINT is the same, plus a ``KeyboardInterrupt``
        traceback). Ours passes the signal on and exits only after the last child, so no
        process is left behind (tests/test_process.py shows both). For the same reason,
        giving up on restarts stops the remaining children first; Tornado raises at once
        and leaves them running.
        Differs on purpose: the ``sockets`` keyword, ours alone (``TCPServer.start`` passes
        the sockets of ``bind()``). Tornado's parent keeps the listening sockets open until
        it exits, so while its children drain, the kernel goes on queueing new connections
        that no process will accept, and resets them when the parent exits.
        Differs on purpose: refusing to fork beside an event loop. Tornado 6.6 does not
        check (Tornado 4 refused once an ``IOLoop`` existed); ours raises ``RuntimeError``.
        Simplified: a second call raises ``RuntimeError`` instead of failing an ``assert``.
    """
    if sys.platform == "win32":  # mypy reads this form; Windows has no fork()
        raise RuntimeError("fork_processes() needs fork(), which Windows does not have")
    if _task_id is not None:
        raise RuntimeError(f"fork_processes() was already called: this is child {_task_id}")
    _refuse_beside_an_event_loop()
    if num_processes is None or num_processes <= 0:
        num_processes = cpu_count()
    gen_log.info("Starting %d processes", num_processes)
    parent = _Parent(100 if max_restarts is None else max_restarts, list(sockets))
    with _signals_taken_one_at_a_time():
        task = parent.supervise(num_processes)
    if task is not None:
        return task  # a child, whose signal mask and handlers are the caller's again
    if parent.gave_up:
        raise RuntimeError("Too many child restarts, giving up")
    sys.exit(0 if parent.every_child_ended_well else 1)


# Tornado: tornado/process.py::task_id                           (study path, step P5)
def task_id() -> int | None:
    """This child's task id (see ``fork_processes``); None in the parent or without a fork.

    Compared with Tornado:
        Same.
    """
    return _task_id


# ---- The parent ----------------------------------------------------------------------------


def _refuse_beside_an_event_loop() -> None:
    try:
        asyncio.get_running_loop()
        exists = True
    except RuntimeError:
        # An IOLoop made before the fork (IOLoop.current() outside a loop makes one): read
        # from IOLoop's own registry, since asking asyncio for the thread's loop would
        # create one on Python 3.10 and 3.11.
        exists = any(not loop.is_closed() for loop in IOLoop._ioloop_for_asyncio)
    if exists:
        # A loop's selector (an epoll or kqueue file) would be shared by every child, and
        # each would steal the others' events from it.
        raise RuntimeError(
            "Cannot run in multiple processes: an event loop already exists in this "
            "process. Call fork_processes() (or start(n)) before creating the IOLoop."
        )


@contextmanager
def _signals_taken_one_at_a_time() -> Iterator[None]:
    """Block the watched signals, so that the parent takes them with ``sigwait``; undo it after.

    Why not signal handlers: a handler runs between any two lines of the parent's
    bookkeeping, so it could miss a child being forked at that moment, and a signal that
    lands just before ``os.wait()`` blocks would wait with it until some child exits. A
    blocked signal stays pending until ``sigwait`` takes it, at a point the parent chooses.

    SIGCHLD gets a handler that never runs (it stays blocked): BSD and macOS discard a
    signal whose action is to ignore it, even a blocked one, and SIGCHLD's default action is
    to ignore it. A child leaves this block too, on its way out of ``fork_processes``, and
    so gets the caller's mask and handler back; a signal sent to it before then stays
    pending, and is delivered as soon as it is unblocked.
    """
    previous_chld = signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, previous_chld)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)


class _Parent:
    """What the parent knows: its living children, its restarts, and whether it is stopping.

    Invariant: only ``_reap`` waits for children, so a pid in ``children`` is a child that
    is alive or not yet reaped, never a pid the system has given to another process: that
    is what makes ``os.kill`` on it safe.
    """

    def __init__(self, max_restarts: int, sockets: list[socket.socket]) -> None:
        self.max_restarts = max_restarts
        self.sockets = sockets  # closed here once stopping: only restarts needed them
        self.children: dict[int, int] = {}  # pid -> task id
        self.restarts = 0
        self.passed_on: set[int] = set()  # the signals sent on to the children
        self.gave_up = False
        self.every_child_ended_well = True

    def supervise(self, num_processes: int) -> int | None:
        """Fork the children, then take one signal at a time until none is left.

        Returns a task id in a child (forked here, or in ``_reap`` when restarting), None in
        the parent once every child has ended.
        """
        for task in range(num_processes):
            if self._fork(task) == 0:
                return task
        while self.children:
            signum = signal.sigwait(_WATCHED)
            if signum == signal.SIGCHLD:
                restarted = self._reap()
                if restarted is not None:
                    return restarted
            else:
                self._pass_on(signum)
        return None

    def _fork(self, task: int) -> int:
        pid = os.fork()
        if pid == 0:
            global _task_id
            _task_id = task
        else:
            self.children[pid] = task
        return pid

    def _pass_on(self, signum: int) -> None:
        gen_log.info("Got signal %d: sending it to %d children", signum, len(self.children))
        self.passed_on.add(signum)
        for pid in self.children:
            os.kill(pid, signum)
        for sock in self.sockets:
            sock.close()

    def _reap(self) -> int | None:
        """Called on SIGCHLD: collect each child that ended; restart it if it failed.

        One SIGCHLD may stand for several children (a pending signal is not counted), so
        this collects until none is left to collect.
        """
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return None
            if pid not in self.children:
                continue  # a child the program forked itself before calling us
            task = self.children.pop(pid)
            if self.passed_on:
                self._log_stopped(task, pid, status)
                continue
            restart = self._log_ended(task, pid, status) and self._may_restart()
            if restart and self._fork(task) == 0:
                return task  # the restarted child
        return None

    def _log_ended(self, task: int, pid: int, status: int) -> bool:
        """Log how a child ended, in Tornado's words; True if it must be restarted."""
        if os.WIFSIGNALED(status):
            gen_log.warning(
                "child %d (pid %d) killed by signal %d, restarting",
                task, pid, os.WTERMSIG(status),
            )  # fmt: skip
            return True
        if os.WEXITSTATUS(status) != 0:
            gen_log.warning(
                "child %d (pid %d) exited with status %d, restarting",
                task, pid, os.WEXITSTATUS(status),
            )  # fmt: skip
            return True
        gen_log.info("child %d (pid %d) exited normally", task, pid)
        return False

    def _log_stopped(self, task: int, pid: int, status: int) -> None:
        """Log how a child ended after a signal was passed on (it is never restarted)."""
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in self.passed_on:
            gen_log.info("child %d (pid %d) stopped by signal %d", task, pid, os.WTERMSIG(status))
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            gen_log.info("child %d (pid %d) exited normally", task, pid)
        else:
            self.every_child_ended_well = False
            gen_log.warning(
                "child %d (pid %d) ended with exit code %d while stopping, not restarting",
                task, pid, os.waitstatus_to_exitcode(status),
            )  # fmt: skip

    def _may_restart(self) -> bool:
        self.restarts += 1
        if self.restarts <= self.max_restarts:
            return True
        # Too many: stop the others the way a SIGTERM to the parent would, then give up.
        gen_log.error("Too many child restarts, giving up: stopping the other children")
        self.gave_up = True
        if self.children:
            self._pass_on(signal.SIGTERM)
        return False
