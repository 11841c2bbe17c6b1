"""IOLoop over asyncio: current(), the handler trio, callbacks, timers, run_sync, stop semantics."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.ioloop

from minitornado.ioloop import IOLoop, PeriodicCallback

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A new asyncio loop set for this thread and not running, closed afterwards."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        IOLoop._ioloop_for_asyncio.pop(loop, None)
        asyncio.set_event_loop(None)
        loop.close()


# ------------------------------------------------------------------- IOLoop.current()


async def test_current_wraps_the_running_loop_once() -> None:
    # Inside a running loop, current() returns one wrapper, always the same, for that loop.
    io_loop = IOLoop.current()
    assert io_loop.asyncio_loop is asyncio.get_running_loop()
    assert IOLoop.current() is io_loop


async def test_a_second_ioloop_for_the_same_asyncio_loop_is_refused() -> None:
    # One IOLoop per asyncio loop: attaching a second wrapper raises.
    io_loop = IOLoop.current()
    with pytest.raises(RuntimeError):
        IOLoop.__new__(IOLoop)._setup(io_loop.asyncio_loop)


@pytest.mark.parametrize("impl", ["minitornado", "tornado"])
def test_ioloop_wraps_an_asyncio_loop_it_is_given(impl: str) -> None:
    # IOLoop(asyncio_loop=loop): the wrapper is on that loop, current() inside it finds the
    # same wrapper, a second wrapper is refused, make_current=True sets the loop for this
    # thread, and close() closes the given loop. The same on both.
    cls: Any = IOLoop if impl == "minitornado" else tornado.ioloop.IOLoop
    loop = asyncio.new_event_loop()
    try:
        io_loop = cls(asyncio_loop=loop, make_current=False)
        assert io_loop.asyncio_loop is loop
        assert loop.run_until_complete(_current_of(cls)) is io_loop
        with pytest.raises(RuntimeError):
            cls(asyncio_loop=loop, make_current=False)
        io_loop.close()
        assert loop.is_closed()
        other = asyncio.new_event_loop()
        made_current = cls(asyncio_loop=other)
        assert cls.current() is made_current  # found through the loop set for this thread
        made_current.close()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def _current_of(cls: Any) -> Any:
    return cls.current()


def test_current_without_a_running_loop_uses_the_set_loop(
    fresh_loop: asyncio.AbstractEventLoop,
) -> None:
    # The asyncio start mode: set a loop, call current() before running it.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert IOLoop.current().asyncio_loop is fresh_loop


def test_current_in_a_thread_without_a_loop_creates_and_sets_one() -> None:
    # Tornado 6.3+: no running loop and none set -> create one and set it, silently.
    found: list[object] = []

    def in_thread() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            io_loop = IOLoop.current()
            found.append(io_loop.asyncio_loop)
            found.append(asyncio.get_event_loop())  # not deprecated: a loop is set now
            io_loop.close()

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(5)
    assert len(found) == 2 and found[0] is found[1]


@pytest.mark.parametrize("running", [False, True], ids=["no loop", "running loop"])
def test_current_instance_false_never_returns_none_unlike_tornado(running: bool) -> None:
    # Scenario: "Differs on purpose" in IOLoop.current. In a new thread, with no loop at all,
    # or inside a running loop that has no IOLoop yet, Tornado's current(instance=False)
    # returns None. Ours raises RuntimeError with no loop, and wraps the running loop.
    def ask(ioloop_class: Any) -> object:
        try:
            answer = ioloop_class.current(instance=False)
        except RuntimeError as e:
            return e
        if running and answer is not None:
            assert answer.asyncio_loop is asyncio.get_running_loop()
        return answer

    async def ask_in_a_running_loop(ioloop_class: Any) -> object:
        return ask(ioloop_class)

    answers: dict[str, object] = {}

    def in_thread() -> None:
        for name, ioloop_class in [("tornado", tornado.ioloop.IOLoop), ("ours", IOLoop)]:
            if running:
                answers[name] = asyncio.run(ask_in_a_running_loop(ioloop_class))
            else:
                answers[name] = ask(ioloop_class)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(5)
    assert answers["tornado"] is None
    if running:
        assert isinstance(answers["ours"], IOLoop)
    else:
        assert isinstance(answers["ours"], RuntimeError)


def _interpreters() -> list[str]:
    """Every CPython 3.10+ found on this machine, to check current() on each."""
    found = {sys.executable}
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for version in ("3.10", "3.11", "3.12", "3.13", "3.14"):
        exe = shutil.which(f"python{version}")
        if exe and "/shims/" not in exe:  # a pyenv shim may name a version it cannot run
            found.add(exe)
        found.update(glob.glob(f"{pyenv}/versions/{version}*/bin/python{version}"))
    return sorted(found)


@pytest.mark.parametrize("python", _interpreters())
def test_current_is_silent_on_every_python(python: str) -> None:
    # Tornado's IOLoop.current() warns on 3.12/3.13 and the legacy pattern breaks on 3.14;
    # ours must neither warn nor fail, with and without a loop set, on each interpreter here.
    script = textwrap.dedent(
        """
        import asyncio
        from minitornado.ioloop import IOLoop
        a = IOLoop.current()                      # nothing set: creates and sets one
        assert IOLoop.current() is a
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        assert IOLoop.current().asyncio_loop is loop   # a set loop is used as is
        a.close()
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [python, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert result.stderr == ""


_TORNADO_PACKAGE = Path(tornado.ioloop.__file__).parent


@pytest.mark.parametrize(
    "python", [p for p in _interpreters() if re.search(r"python3\.1[23]$", p)] or ["none"]
)
def test_tornado_current_warns_where_ours_is_silent(python: str, tmp_path: Path) -> None:
    # Scenario: "Differs on purpose" in IOLoop.current. On Python 3.12 and 3.13, with no loop
    # running and none set, Tornado's IOLoop.current() warns (asyncio.get_event_loop()'s
    # DeprecationWarning, an error here with -W error); ours, in the same state, does not.
    if python == "none":
        pytest.skip("no Python 3.12 or 3.13 on this machine")
    (tmp_path / "tornado").symlink_to(_TORNADO_PACKAGE)  # Tornado is pure Python
    script = "from {}.ioloop import IOLoop; IOLoop.current(); print('silent')"
    results = {}
    for name, path in [("tornado", str(tmp_path)), ("minitornado", str(ROOT))]:
        results[name] = subprocess.run(
            [python, "-W", "error::DeprecationWarning", "-c", script.format(name)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": path},
        )
    assert results["minitornado"].stdout.strip() == "silent", results["minitornado"].stderr
    assert results["tornado"].returncode != 0
    assert "There is no current event loop" in results["tornado"].stderr


async def test_tornado_and_minitornado_wrap_the_same_asyncio_loop() -> None:
    # Both facades can sit on one asyncio loop, and callbacks from each run on it.
    ours = IOLoop.current()
    theirs = tornado.ioloop.IOLoop.current()
    assert ours.asyncio_loop is theirs.asyncio_loop  # type: ignore[attr-defined]
    done = asyncio.get_running_loop().create_future()
    seen: list[str] = []
    ours.add_callback(seen.append, "ours")
    theirs.add_callback(lambda: (seen.append("theirs"), done.set_result(None)))
    await asyncio.wait_for(done, 5)
    assert seen == ["ours", "theirs"]


# ------------------------------------------------------------------- add_handler


async def test_add_handler_calls_back_with_the_object_and_read_event() -> None:
    # READ maps to add_reader; the handler gets the registered object back, not the fd.
    io_loop = IOLoop.current()
    a, b = socket.socketpair()
    got = asyncio.get_running_loop().create_future()
    try:
        io_loop.add_handler(a, lambda obj, ev: got.done() or got.set_result((obj, ev)), IOLoop.READ)
        with pytest.raises(ValueError, match="added twice"):
            io_loop.add_handler(a.fileno(), lambda *_: None, IOLoop.READ)
        b.send(b"x")
        obj, events = await asyncio.wait_for(got, 5)
        assert obj is a and events == IOLoop.READ
    finally:
        io_loop.remove_handler(a)
        io_loop.remove_handler(a)  # a second remove is a no-op
        a.close()
        b.close()
    assert a.fileno() == -1 and not io_loop.handlers


async def test_update_handler_switches_between_read_and_write() -> None:
    # A connected socket is writable at once: WRITE fires after update_handler asks for it.
    io_loop = IOLoop.current()
    a, b = socket.socketpair()
    events: list[int] = []
    writable = asyncio.Event()

    def handler(obj: socket.socket, ev: int) -> None:
        events.append(ev)
        if ev == IOLoop.WRITE:
            io_loop.update_handler(obj, IOLoop.READ)
            writable.set()

    try:
        io_loop.add_handler(a, handler, IOLoop.READ)
        await asyncio.sleep(0.05)
        assert events == []  # nothing to read, and WRITE was not asked for
        io_loop.update_handler(a, IOLoop.READ | IOLoop.WRITE)
        await asyncio.wait_for(writable.wait(), 5)
        await asyncio.sleep(0.05)
        assert events == [IOLoop.WRITE]  # switched back to READ only: no more WRITE events
        assert a.fileno() in io_loop.readers and a.fileno() not in io_loop.writers
    finally:
        io_loop.remove_handler(a)
        a.close()
        b.close()


# ------------------------------------------------------------------- callbacks and timers


async def test_callbacks_run_in_order_and_errors_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A failing callback is logged on minitornado.application and the loop goes on.
    io_loop = IOLoop.current()
    seen: list[int] = []
    done = asyncio.Event()

    def boom() -> None:
        raise ValueError("boom")

    async def failing_coroutine() -> None:
        raise KeyError("async boom")

    io_loop.add_callback(seen.append, 1)
    io_loop.add_callback(boom)
    io_loop.spawn_callback(failing_coroutine)
    io_loop.add_callback(seen.append, 2)
    io_loop.call_later(0.05, done.set)
    await asyncio.wait_for(done.wait(), 5)
    assert seen == [1, 2]
    errors = [r for r in caplog.records if r.name == "minitornado.application"]
    assert [r.getMessage().startswith("Exception in callback") for r in errors] == [True, True]
    assert {type(r.exc_info[1]) for r in errors if r.exc_info} == {ValueError, KeyError}


async def test_timers_fire_in_deadline_order_and_can_be_removed() -> None:
    io_loop = IOLoop.current()
    seen: list[str] = []
    done = asyncio.Event()
    io_loop.call_later(0.06, seen.append, "later")
    io_loop.add_timeout(datetime.timedelta(seconds=0.02), seen.append, "timedelta")
    io_loop.call_at(io_loop.time() + 0.04, seen.append, "call_at")
    cancelled = io_loop.add_timeout(io_loop.time() + 0.01, seen.append, "removed")
    io_loop.remove_timeout(cancelled)
    io_loop.call_later(0.1, done.set)
    await asyncio.wait_for(done.wait(), 5)
    assert seen == ["timedelta", "call_at", "later"]
    assert abs(io_loop.time() - time.time()) < 1  # Tornado's clock is time.time()


async def test_add_future_runs_for_asyncio_and_thread_futures() -> None:
    io_loop = IOLoop.current()
    results: list[object] = []
    both = asyncio.Event()

    def record(f: asyncio.Future[int] | concurrent.futures.Future[int]) -> None:
        results.append((threading.current_thread() is threading.main_thread(), f.result()))
        if len(results) == 2:
            both.set()

    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    io_loop.add_future(fut, record)
    fut.set_result(1)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        io_loop.add_future(pool.submit(lambda: 2), record)
        await asyncio.wait_for(both.wait(), 5)
    assert sorted(results, key=str) == [(True, 1), (True, 2)]  # callbacks run on the loop


async def test_run_in_executor_and_set_default_executor() -> None:
    io_loop = IOLoop.current()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ours") as pool:
        io_loop.set_default_executor(pool)
        name = await asyncio.wait_for(
            io_loop.run_in_executor(None, lambda: threading.current_thread().name), 5
        )
    assert name.startswith("ours")


# ------------------------------------------------------------------- run_sync


def test_run_sync_returns_results_and_raises_errors(fresh_loop: asyncio.AbstractEventLoop) -> None:
    io_loop = IOLoop.current()

    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    async def fail() -> None:
        raise ZeroDivisionError

    assert io_loop.run_sync(lambda: add(1, 2)) == 3
    assert io_loop.run_sync(lambda: "plain") == "plain"
    with pytest.raises(ZeroDivisionError):
        io_loop.run_sync(fail)


def test_run_sync_timeout_raises_timeout_error(fresh_loop: asyncio.AbstractEventLoop) -> None:
    io_loop = IOLoop.current()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        io_loop.run_sync(lambda: asyncio.sleep(10), timeout=0.1)
    assert time.monotonic() - started < 5


# ------------------------------------------------------------------- stop()


def _run_loop_in_thread(io_ready: list[IOLoop], ended: list[float]) -> threading.Thread:
    def run() -> None:
        io_loop = IOLoop(make_current=True)
        io_ready.append(io_loop)
        io_loop.start()
        ended.append(time.monotonic())
        io_loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_stop_waits_for_a_blocking_callback_to_return() -> None:
    # "If an event never returns, does stop ever finish?" A callback blocks the loop for
    # 0.6 s; stop is requested from another thread at 0.1 s through add_callback; the loop
    # only notices after the callback returns.
    io_loops: list[IOLoop] = []
    ended: list[float] = []
    thread = _run_loop_in_thread(io_loops, ended)
    deadline = time.monotonic() + 5
    while not io_loops and time.monotonic() < deadline:
        time.sleep(0.01)
    io_loop = io_loops[0]
    started = time.monotonic()
    io_loop.add_callback(time.sleep, 0.6)  # a callback that blocks the loop
    time.sleep(0.1)
    io_loop.add_callback(io_loop.stop)
    thread.join(5)
    took = ended[0] - started
    print(f"stop requested at 0.10 s, loop stopped at {took:.2f} s (blocking callback 0.60 s)")
    assert took >= 0.6


def test_add_callback_stop_from_another_thread_wakes_a_sleeping_loop() -> None:
    # A loop asleep in select with nothing to do: add_callback(stop) wakes it at once
    # (call_soon_threadsafe writes to the self-pipe), so start() returns within milliseconds.
    io_loops: list[IOLoop] = []
    ended: list[float] = []
    thread = _run_loop_in_thread(io_loops, ended)
    deadline = time.monotonic() + 5
    while not io_loops and time.monotonic() < deadline:
        time.sleep(0.01)
    io_loop = io_loops[0]
    io_loop.add_callback(io_loop.call_later, 30, lambda: None)  # would sleep 30 s in select
    time.sleep(0.2)
    requested = time.monotonic()
    io_loop.add_callback(io_loop.stop)
    thread.join(5)
    took = ended[0] - requested
    print(f"add_callback(stop) from another thread: loop stopped after {took * 1000:.1f} ms")
    assert took < 1.0


def test_stop_before_start_makes_start_return_after_one_iteration(
    fresh_loop: asyncio.AbstractEventLoop,
) -> None:
    io_loop = IOLoop.current()
    io_loop.call_later(5, lambda: None)
    io_loop.stop()
    started = time.monotonic()
    io_loop.start()
    assert time.monotonic() - started < 1


def test_close_all_fds_closes_registered_files(fresh_loop: asyncio.AbstractEventLoop) -> None:
    io_loop = IOLoop.current()
    a, b = socket.socketpair()
    io_loop.add_handler(a, lambda *_: None, IOLoop.READ)
    io_loop.close(all_fds=True)
    assert a.fileno() == -1 and fresh_loop.is_closed()
    assert fresh_loop not in IOLoop._ioloop_for_asyncio
    b.close()


# ------------------------------------------------------------------- PeriodicCallback


def test_periodic_callback_rejects_non_positive_interval() -> None:
    with pytest.raises(ValueError):
        PeriodicCallback(lambda: None, 0)


@pytest.mark.parametrize(
    ("start", "now", "expected"),
    [
        (1000.0, 1000.0, 1010.0),  # on time: the next tick
        (1000.0, 1005.0, 1010.0),  # a little late: still the next grid tick
        (1000.0, 1025.0, 1030.0),  # two ticks missed: skipped, not fired in a burst
        (1000.0, 990.0, 1010.0),  # the clock went backwards: still move forward
    ],
)
def test_periodic_callback_schedule_math_matches_tornado(
    start: float, now: float, expected: float
) -> None:
    # The same inputs through our _update_next and Tornado's give the same next deadline.
    ours = PeriodicCallback(lambda: None, 10_000)
    theirs = tornado.ioloop.PeriodicCallback(lambda: None, 10_000)
    ours._next_timeout = theirs._next_timeout = start
    ours._update_next(now)
    theirs._update_next(now)
    assert ours._next_timeout == theirs._next_timeout == expected


def test_periodic_callback_jitter_stays_within_half_the_jitter() -> None:
    pc = PeriodicCallback(lambda: None, datetime.timedelta(seconds=10), jitter=0.2)
    for _ in range(200):
        pc._next_timeout = 0.0
        pc._update_next(0.0)
        assert 9.0 <= pc._next_timeout <= 11.0


async def test_periodic_callback_awaits_coroutines_and_stops() -> None:
    # A coroutine callback that takes longer than the period is awaited: calls never overlap.
    running = 0
    overlaps = 0
    calls = 0

    async def tick() -> None:
        nonlocal running, overlaps, calls
        running += 1
        overlaps += running > 1
        calls += 1
        await asyncio.sleep(0.03)
        running -= 1

    pc = PeriodicCallback(tick, 10)
    pc.start()
    assert pc.is_running()
    await asyncio.sleep(0.25)
    pc.stop()
    assert not pc.is_running()
    seen = calls
    await asyncio.sleep(0.1)
    assert 2 <= seen <= 10 and overlaps == 0
    assert calls == seen  # nothing after stop


def test_stop_called_inside_a_blocking_callback_waits_for_it(
    fresh_loop: asyncio.AbstractEventLoop,
) -> None:
    # stop() only sets a flag: the callback that calls it still runs to its end, and so do
    # the callbacks already queued for this iteration.
    io_loop = IOLoop.current()
    seen: list[str] = []

    def stop_then_block() -> None:
        io_loop.stop()
        time.sleep(0.3)
        seen.append("callback returned")

    io_loop.add_callback(stop_then_block)
    io_loop.add_callback(seen.append, "same iteration")
    started = time.monotonic()
    io_loop.start()
    assert time.monotonic() - started >= 0.3
    assert seen == ["callback returned", "same iteration"]
