"""The IOLoop: a thin wrapper that gives an asyncio event loop Tornado's interface.

Mirrors: tornado/ioloop.py and tornado/platform/asyncio.py (Tornado 6.6)

Since Tornado 5 there is no event loop of Tornado's own: ``IOLoop`` is a facade over an
asyncio loop, one facade per asyncio loop. Everything that reaches the network goes through
``add_handler``, which is asyncio's ``add_reader`` / ``add_writer`` with Tornado's
``(fd, events)`` calling convention on top. ``start()`` is ``run_forever()`` and ``stop()`` is
``loop.stop()``: nothing more, which is why any code that runs the asyncio loop serves a
Tornado app.

Kept: ``IOLoop.current``, ``start``, ``stop``, ``close``, the handler trio with the ``READ`` /
``WRITE`` / ``ERROR`` bitmask, callbacks and timers, ``add_future``, the executor pair,
``run_sync`` and ``PeriodicCallback``.

Left out: ``Configurable`` (Tornado picks the loop class through ``IOLoop.configure``; here
there is one class), ``AsyncIOMainLoop`` / ``AsyncIOLoop`` as separate classes (``IOLoop()``
plays ``AsyncIOLoop``'s part, ``IOLoop.current()`` ``AsyncIOMainLoop``'s),
``make_current`` / ``clear_current`` / ``instance`` / ``install`` (deprecated in Tornado),
``add_callback_from_signal`` (deprecated in 6.4; use ``loop.add_signal_handler``), and the
selector thread Tornado runs for Windows' proactor loop.

Study path: step 7 (``add_handler``), step 8 (asyncio ``add_reader``), step 9 (``start``);
shutdown step S6 (``stop``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import functools
import inspect
import math
import os
import random
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, TypeVar

from minitornado.log import app_log

_T = TypeVar("_T")


class _Selectable(Protocol):
    def fileno(self) -> int: ...

    def close(self) -> None: ...


_FileDescriptor = int | _Selectable


# Tornado: tornado/ioloop.py::IOLoop
class IOLoop:
    """Tornado's event-loop interface on top of one asyncio event loop.

    ``IOLoop()`` makes a new asyncio loop (for a loop of its own in another thread),
    ``IOLoop(asyncio_loop=loop)`` wraps one you made; ``IOLoop.current()`` wraps the loop that
    is running, which is what servers use.

    Compared with Tornado:
        Simplified: one class instead of ``IOLoop`` + ``BaseAsyncIOLoop`` +
        ``AsyncIOMainLoop`` / ``AsyncIOLoop`` chosen through ``Configurable``.
    """

    # Tornado: tornado/ioloop.py::IOLoop.READ
    READ = 0x001
    # Tornado: tornado/ioloop.py::IOLoop.WRITE
    WRITE = 0x004
    # Tornado: tornado/ioloop.py::IOLoop.ERROR
    ERROR = 0x018  # accepted for compatibility; asyncio reports errors as readiness

    # The one place that links an asyncio loop to its IOLoop: at most one wrapper per loop.
    _ioloop_for_asyncio: ClassVar[dict[asyncio.AbstractEventLoop, IOLoop]] = {}

    # Tornado: tornado/platform/asyncio.py::AsyncIOLoop.initialize
    def __init__(
        self, *, asyncio_loop: asyncio.AbstractEventLoop | None = None, make_current: bool = True
    ) -> None:
        """Wrap ``asyncio_loop``, or a new asyncio loop when none is given.

        A loop that already has an IOLoop is refused (``RuntimeError``). ``make_current``
        sets the loop for this thread (``asyncio.set_event_loop``). ``close()`` closes the
        asyncio loop too, given or not.

        Compared with Tornado:
            Same: ``IOLoop(asyncio_loop=loop)`` is Tornado's ``AsyncIOLoop(asyncio_loop=loop)``
            (6.2+), which ``IOLoop(...)`` builds through ``Configurable``.
        """
        self._setup(asyncio.new_event_loop() if asyncio_loop is None else asyncio_loop)
        if make_current:
            asyncio.set_event_loop(self.asyncio_loop)

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.initialize
    def _setup(self, asyncio_loop: asyncio.AbstractEventLoop) -> None:
        self.asyncio_loop = asyncio_loop
        # fd -> (the object the caller registered, its handler); the handler gets the object back.
        self.handlers: dict[int, tuple[_FileDescriptor, Callable[..., None]]] = {}
        self.readers: set[int] = set()
        self.writers: set[int] = set()
        self.closing = False
        # Forget wrappers of loops that were closed without IOLoop.close(): a new loop may
        # reuse their memory, and a dict keyed by a dead loop would leak it.
        for loop in [loop for loop in IOLoop._ioloop_for_asyncio if loop.is_closed()]:
            del IOLoop._ioloop_for_asyncio[loop]
        if IOLoop._ioloop_for_asyncio.setdefault(asyncio_loop, self) is not self:
            raise RuntimeError("IOLoop is already attached to this asyncio loop")

    # Tornado: tornado/ioloop.py::IOLoop.current
    @staticmethod
    def current(instance: bool = True) -> IOLoop:
        """Return the IOLoop of the running asyncio loop.

        With no loop running, use the loop set for this thread with
        ``asyncio.set_event_loop``; with none set, create one and set it (what Tornado does
        since 6.3), unless ``instance`` is false, which raises ``RuntimeError`` instead.

        Compared with Tornado:
            Differs on purpose: Tornado asks ``asyncio.get_event_loop()``, which, with no loop
            running and none set, warns on Python 3.12 and 3.13 and raises on 3.14; ours stops
            that call before it warns (``_loop_set_for_this_thread``), so ``IOLoop.current()``
            is silent on every Python from 3.10 on. With ``instance=False`` Tornado returns
            None when there is no loop, and also when the loop has no IOLoop yet; we raise
            ``RuntimeError`` in the first case and make the IOLoop in the second, so the
            return type stays ``IOLoop``.
        """
        loop = _running_loop() or _loop_set_for_this_thread()
        if loop is None:
            if not instance:
                raise RuntimeError("no current event loop")
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        try:
            return IOLoop._ioloop_for_asyncio[loop]
        except KeyError:
            wrapper = IOLoop.__new__(IOLoop)
            wrapper._setup(loop)
            return wrapper

    # ---------------------------------------------------------------- running and stopping

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.start     (study path, step 9)
    def start(self) -> None:
        """Run the loop until ``stop()`` is called.

        This is all of it: asyncio's ``run_forever()``. So a plain ``loop.run_forever()`` or
        ``asyncio.run(main())`` serves exactly as well, and inside ``asyncio.run`` this raises
        ``RuntimeError: This event loop is already running``.
        """
        self.asyncio_loop.run_forever()

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.stop      (shutdown, step S6)
    def stop(self) -> None:
        """Ask the loop to stop after the callbacks of the current iteration.

        This only sets asyncio's ``_stopping`` flag, which ``run_forever`` reads when
        ``_run_once()`` returns. A callback that never returns therefore keeps the loop
        running for ever, and ``stop()`` from another thread does not wake a loop sleeping in
        ``select``: call ``io_loop.add_callback(io_loop.stop)`` there (``add_callback`` is
        the one thread-safe method).
        """
        self.asyncio_loop.stop()

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.close
    def close(self, all_fds: bool = False) -> None:
        """Unregister every handler (closing their files if ``all_fds``) and close the loop."""
        self.closing = True
        for fd in list(self.handlers):
            fileobj, _ = self.handlers[fd]
            self.remove_handler(fd)
            if all_fds:
                _close_fd(fileobj)
        IOLoop._ioloop_for_asyncio.pop(self.asyncio_loop, None)
        self.asyncio_loop.close()

    # ---------------------------------------------------------------- file descriptors

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.add_handler   (study path, step 7)
    def add_handler(self, fd: _FileDescriptor, handler: Callable[..., None], events: int) -> None:
        """Call ``handler(fd, events)`` whenever ``fd`` is ready for ``events``.

        ``fd`` is an int or an object with ``fileno()``; the handler receives it back as given.
        ``READ`` becomes asyncio's ``add_reader`` (study path, step 8), ``WRITE`` ``add_writer``.

        Compared with Tornado:
            Same: ``ValueError`` when the fd is registered twice; ``ERROR`` is accepted and
            ignored, since epoll reports errors as readability anyway.
        """
        fileno, fileobj = _split_fd(fd)
        if fileno in self.handlers:
            raise ValueError(f"fd {fileno} added twice")
        self.handlers[fileno] = (fileobj, handler)
        if events & IOLoop.READ:
            self.asyncio_loop.add_reader(fileno, self._handle_events, fileno, IOLoop.READ)
            self.readers.add(fileno)
        if events & IOLoop.WRITE:
            self.asyncio_loop.add_writer(fileno, self._handle_events, fileno, IOLoop.WRITE)
            self.writers.add(fileno)

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.update_handler
    def update_handler(self, fd: _FileDescriptor, events: int) -> None:
        """Change which of ``READ`` / ``WRITE`` a registered fd is watched for."""
        fileno, _ = _split_fd(fd)
        want_read = bool(events & IOLoop.READ)
        if want_read and fileno not in self.readers:
            self.asyncio_loop.add_reader(fileno, self._handle_events, fileno, IOLoop.READ)
            self.readers.add(fileno)
        elif not want_read and fileno in self.readers:
            self.asyncio_loop.remove_reader(fileno)
            self.readers.remove(fileno)
        want_write = bool(events & IOLoop.WRITE)
        if want_write and fileno not in self.writers:
            self.asyncio_loop.add_writer(fileno, self._handle_events, fileno, IOLoop.WRITE)
            self.writers.add(fileno)
        elif not want_write and fileno in self.writers:
            self.asyncio_loop.remove_writer(fileno)
            self.writers.remove(fileno)

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.remove_handler
    def remove_handler(self, fd: _FileDescriptor) -> None:
        """Stop watching ``fd``; a no-op when it is not registered."""
        fileno, _ = _split_fd(fd)
        if fileno not in self.handlers:
            return
        if fileno in self.readers:
            self.asyncio_loop.remove_reader(fileno)
            self.readers.remove(fileno)
        if fileno in self.writers:
            self.asyncio_loop.remove_writer(fileno)
            self.writers.remove(fileno)
        del self.handlers[fileno]

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop._handle_events
    def _handle_events(self, fd: int, events: int) -> None:
        # Called by asyncio when fd is ready: the bridge from asyncio's world to Tornado's.
        fileobj, handler = self.handlers[fd]
        handler(fileobj, events)

    # ---------------------------------------------------------------- callbacks and timers

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.add_callback
    def add_callback(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``callback(*args, **kwargs)`` on the next loop iteration.

        The only thread-safe method: from another thread it goes through
        ``call_soon_threadsafe``, which also wakes a loop sleeping in ``select``. After the
        loop was closed the call is dropped silently, as in Tornado.
        """
        try:
            on_this_loop = asyncio.get_running_loop() is self.asyncio_loop
        except RuntimeError:
            on_this_loop = False
        call_soon = (
            self.asyncio_loop.call_soon if on_this_loop else self.asyncio_loop.call_soon_threadsafe
        )
        # After close() asyncio raises "Event loop is closed": nothing would ever run it.
        with contextlib.suppress(RuntimeError):
            call_soon(self._run_callback, functools.partial(callback, *args, **kwargs))

    # Tornado: tornado/ioloop.py::IOLoop.spawn_callback
    def spawn_callback(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Same as ``add_callback``; kept because Tornado apps call it."""
        self.add_callback(callback, *args, **kwargs)

    # Tornado: tornado/ioloop.py::IOLoop._run_callback
    def _run_callback(self, callback: Callable[[], Any]) -> None:
        # Every callback, timer and future callback runs here, so this is the one place that
        # logs their errors and keeps an awaitable they return from being dropped unseen.
        try:
            result = callback()
            if inspect.isawaitable(result):
                self.add_future(asyncio.ensure_future(result), _raise_if_failed)
        except asyncio.CancelledError:
            pass
        except Exception:
            app_log.error("Exception in callback %r", callback, exc_info=True)

    # Tornado: tornado/ioloop.py::IOLoop.time
    def time(self) -> float:
        """The loop's clock: ``time.time()``, as in Tornado (asyncio's own is monotonic)."""
        return time.time()

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.call_at
    def call_at(
        self, when: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        """Run the callback at ``when`` on ``self.time()``'s clock; returns a handle."""
        # The two clocks are not synchronised, so convert to a delay on asyncio's.
        return self.asyncio_loop.call_later(
            max(0.0, when - self.time()),
            self._run_callback,
            functools.partial(callback, *args, **kwargs),
        )

    # Tornado: tornado/ioloop.py::IOLoop.call_later
    def call_later(
        self, delay: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        """Run the callback ``delay`` seconds from now; returns a handle."""
        return self.call_at(self.time() + delay, callback, *args, **kwargs)

    # Tornado: tornado/ioloop.py::IOLoop.add_timeout
    def add_timeout(
        self,
        deadline: float | datetime.timedelta,
        callback: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> asyncio.TimerHandle:
        """Run the callback at an absolute ``deadline`` or after a ``timedelta``."""
        if isinstance(deadline, datetime.timedelta):
            return self.call_at(self.time() + deadline.total_seconds(), callback, *args, **kwargs)
        if isinstance(deadline, (int, float)):
            return self.call_at(deadline, callback, *args, **kwargs)
        raise TypeError(f"Unsupported deadline {deadline!r}")

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.remove_timeout
    def remove_timeout(self, timeout: asyncio.TimerHandle) -> None:
        """Cancel a timer from ``call_at`` / ``call_later`` / ``add_timeout``."""
        timeout.cancel()

    # ---------------------------------------------------------------- futures and threads

    # Tornado: tornado/ioloop.py::IOLoop.add_future
    def add_future(
        self,
        future: asyncio.Future[_T] | concurrent.futures.Future[_T],
        callback: Callable[[Any], Any],
    ) -> None:
        """Call ``callback(future)`` on this loop once ``future`` is done.

        A ``concurrent.futures.Future`` may finish on another thread; its callback is handed
        back to the loop through the thread-safe ``add_callback``.
        """
        if isinstance(future, asyncio.Future):
            future.add_done_callback(lambda f: self._run_callback(functools.partial(callback, f)))
        else:
            future.add_done_callback(lambda f: self.add_callback(callback, f))

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.run_in_executor
    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[..., _T],
        *args: Any,
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in ``executor`` (the default thread pool if None)."""
        return self.asyncio_loop.run_in_executor(executor, func, *args)

    # Tornado: tornado/platform/asyncio.py::BaseAsyncIOLoop.set_default_executor
    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        """Make ``executor`` the one ``run_in_executor(None, ...)`` uses."""
        self.asyncio_loop.set_default_executor(executor)

    # Tornado: tornado/ioloop.py::IOLoop.run_sync
    def run_sync(self, func: Callable[[], Any], timeout: float | None = None) -> Any:
        """Start the loop, run ``func`` (plain or async) to completion, stop, return its result.

        The legacy way to write a ``main()``; ``asyncio.run`` replaces it. With ``timeout``
        the call is cancelled after that many seconds and ``TimeoutError`` is raised.
        """

        async def run() -> Any:
            result = func()
            if inspect.isawaitable(result):
                result = await result
            return result

        task = self.asyncio_loop.create_task(run())
        timed_out = False

        def on_timeout() -> None:
            nonlocal timed_out
            timed_out = True
            task.cancel()

        timer = self.call_later(timeout, on_timeout) if timeout is not None else None
        task.add_done_callback(lambda _: self.stop())
        try:
            self.start()
        finally:
            if timer is not None:
                timer.cancel()
        if not task.done():
            task.cancel()
            raise RuntimeError("Event loop stopped before Future completed.")
        if timed_out and task.cancelled():
            raise TimeoutError(f"Operation timed out after {timeout} seconds")
        return task.result()


# Tornado: tornado/ioloop.py::PeriodicCallback
class PeriodicCallback:
    """Call ``callback`` every ``callback_time`` milliseconds (or a ``timedelta``).

    The schedule is fixed to the start time: a call that overruns skips the ticks it
    missed instead of firing them in a burst. A coroutine callback is awaited before the
    next tick is scheduled. ``jitter`` spreads each interval by up to ``jitter / 2`` of it
    either way, so that many processes started together drift apart.
    """

    def __init__(
        self,
        callback: Callable[[], Awaitable[None] | None],
        callback_time: float | datetime.timedelta,
        jitter: float = 0,
    ) -> None:
        if isinstance(callback_time, datetime.timedelta):
            callback_time = callback_time / datetime.timedelta(milliseconds=1)
        if callback_time <= 0:
            raise ValueError("Periodic callback must have a positive callback_time")
        self.callback = callback
        self.callback_time = callback_time
        self.jitter = jitter
        self._running = False
        self._timeout: asyncio.TimerHandle | None = None
        self._next_timeout = 0.0

    # Tornado: tornado/ioloop.py::PeriodicCallback.start
    def start(self) -> None:
        """Start calling; the first call comes one interval from now."""
        self.io_loop = IOLoop.current()
        self._running = True
        self._next_timeout = self.io_loop.time()
        self._schedule_next()

    # Tornado: tornado/ioloop.py::PeriodicCallback.stop
    def stop(self) -> None:
        """Stop calling; a call in progress finishes."""
        self._running = False
        if self._timeout is not None:
            self.io_loop.remove_timeout(self._timeout)
            self._timeout = None

    # Tornado: tornado/ioloop.py::PeriodicCallback.is_running
    def is_running(self) -> bool:
        return self._running

    # Tornado: tornado/ioloop.py::PeriodicCallback._run
    async def _run(self) -> None:
        if not self._running:
            return
        try:
            result = self.callback()
            if result is not None and inspect.isawaitable(result):
                await result
        except Exception:
            app_log.error("Exception in callback %r", self.callback, exc_info=True)
        finally:
            self._schedule_next()

    # Tornado: tornado/ioloop.py::PeriodicCallback._schedule_next
    def _schedule_next(self) -> None:
        if self._running:
            self._update_next(self.io_loop.time())
            self._timeout = self.io_loop.add_timeout(self._next_timeout, self._run)

    # Tornado: tornado/ioloop.py::PeriodicCallback._update_next
    def _update_next(self, now: float) -> None:
        period = self.callback_time / 1000.0
        if self.jitter:
            period *= 1 + self.jitter * (random.random() - 0.5)
        if self._next_timeout <= now:
            # Late (or right on time): jump to the first tick of the original grid that is
            # still in the future, skipping the ones a slow call made us miss.
            missed = math.floor((now - self._next_timeout) / period)
            self._next_timeout += (missed + 1) * period
        else:
            # The clock went backwards: still move forward, or we would fire the same tick twice.
            self._next_timeout += period


# ------------------------------------------------------------------- helpers (ours alone)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _loop_set_for_this_thread() -> asyncio.AbstractEventLoop | None:
    """The loop given to ``asyncio.set_event_loop`` in this thread, or None.

    ``asyncio.get_event_loop()`` answers exactly this while a loop is set. With none set it
    takes its deprecated branch: it warns and creates one (3.12, 3.13) or raises (3.14). The
    warning is raised as an exception for this one call, so that branch stops before it
    creates anything and nothing is printed; the caller then creates the loop itself. (On
    3.10 and 3.11 the main thread silently gets a new loop instead: the same result.)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return asyncio.get_event_loop()
        except (RuntimeError, DeprecationWarning):
            return None


def _split_fd(fd: _FileDescriptor) -> tuple[int, _FileDescriptor]:
    # Tornado: tornado/ioloop.py::IOLoop.split_fd (private here)
    if isinstance(fd, int):
        return fd, fd
    return fd.fileno(), fd


def _close_fd(fd: _FileDescriptor) -> None:
    # Tornado: tornado/ioloop.py::IOLoop.close_fd (private here)
    try:
        if isinstance(fd, int):
            os.close(fd)
        else:
            fd.close()
    except OSError:
        pass


def _raise_if_failed(future: asyncio.Future[Any]) -> None:
    # Re-raise inside _run_callback so a failed coroutine callback is logged, not lost.
    future.result()
