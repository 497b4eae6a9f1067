"""The background writer: a bounded queue in front of an output, drained by one thread.

The caller's side of :meth:`BackgroundWriter.write` is a length check, a
``deque.append`` and, only when the thread sleeps, a lock release to wake it.
The thread takes whole batches and hands them to the output in one call.

- **fork**: the forking thread waits for a write in progress to finish, so no
  lock is copied held. The child starts with an empty queue (the parent
  writes what it had queued, once) and starts its own thread on first use.
- **exit and SIGTERM**: see :mod:`tracelog.outputs._lifecycle`, which closes every
  active output. Lines logged after a writer is closed are written by the
  caller directly.
- **re-entry**: a signal handler (or the output itself) may log while its
  thread is inside this writer. No thread ever waits for a lock it holds, or
  for the writer while it holds the lock the writer needs: while a thread
  writes to the output (or holds it back for fork) its nested lines stay
  queued, and a full queue drops them, counted, instead of blocking.
"""

from __future__ import annotations

import collections
import os
import threading
import time
import weakref
from collections.abc import Callable
from itertools import islice
from typing import Any

from tracelog import _faults
from tracelog.outputs._waits import ThreadState, call, left, release_all, waiting
from tracelog.render import compact

__all__ = ["BackgroundWriter"]

BATCH_LINES = 512
EXIT_TIMEOUT = 5.0
NOTICE_INTERVAL = 1.0
LINGER = 0.002  # after a wake-up, let a batch gather: one wake-up per batch, not per line
# overflow="drop" with the writer not held up by its output: how long a caller with a full
# queue lets the writer (waiting for the GIL the caller holds) take a batch (two of CPython's
# switch intervals), and how long no caller waits after such a wait saw no batch written.
STARVED_WAIT = 0.01
STARVED_BACKOFF = 1.0
_IDLE_WAIT = 1.0


class BackgroundWriter:
    """Runs an output's writes on a background thread behind a bounded queue.

    ``overflow="drop"`` counts and drops a line when the queue is full (the
    caller never waits); ``"block"`` makes the caller wait for room. Drops
    are never silent: they are counted in :meth:`stats`, noted on stderr (at
    most once a minute) and, when ``notice`` is given, reported by a line in
    the output itself carrying the count.
    """

    def __init__(
        self,
        output: Any,
        queue_size: int = 10_000,
        overflow: str = "drop",
        notice: Callable[[int], bytes | str] | None = None,
    ) -> None:
        if overflow not in ("drop", "block"):
            raise ValueError(f"overflow={overflow!r} is not one of drop, block")
        if not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size={queue_size!r} must be a positive integer")
        self.output = output
        self.queue_size = queue_size
        self.block = overflow == "block"
        self.notice = notice
        self._write_lines = getattr(output, "write_lines", None)
        self._queue: collections.deque[Any] = collections.deque()
        self._sync = False  # after exit or close: the caller writes directly
        self._stopping = False
        self._stuck = False  # a close ran out of time with its output still in a write
        self._batch_start: Any = None  # the output's "written" count as the last batch began
        self._fresh_state()
        _registry.add(self)

    def _fresh_state(self) -> None:
        """Locks, thread and counters as a new writer (also what a forked child starts from)."""
        self._idle = True
        self._urgent = False
        self._thread: threading.Thread | None = None
        self._running = False  # from the writer thread's start until its _run returns
        self._local = ThreadState()
        self._wakeup = threading.Lock()
        self._wakeup.acquire()
        self._start_lock = threading.Lock()
        self._io_lock = threading.Lock()
        # A lock per waiting caller, released after every batch: see waiting().
        self._blocked: set[threading.Lock] = set()
        self._flushers: set[threading.Lock] = set()
        self._count_lock = threading.RLock()  # a signal handler may drop a line while we count one
        # Lines taken off the queue and lines written, for flush(): only the writer adds to them.
        self._taken = 0
        self._done = 0
        self._no_wait_until = 0.0  # monotonic time: see _starved()
        self._dropped = 0
        self._noticed = 0
        self._last_notice = 0.0

    # -- the Output protocol (level, format and schema are the wrapped output's) --

    @property
    def level(self) -> int | None:
        return getattr(self.output, "level", None)

    @property
    def format(self) -> str | None:
        return getattr(self.output, "format", None)

    @property
    def schema(self) -> str | None:
        return getattr(self.output, "schema", None)

    def write(self, line: bytes | str) -> None:
        queue = self._queue
        if len(queue) < self.queue_size:
            # render.compact(), inline: orjson's bytes keep ~4 KiB each.
            queue.append(bytes(memoryview(line)) if type(line) is bytes else line)
            if self._idle:
                self._wake()
            return
        self._overflow(line)

    __call__ = write

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every line queued before this call is written; True if that happened."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._local.inside:
            return False  # called inside this thread's own write (by the output, a signal handler)
        if self._stuck:
            return not self._queue  # its output took longer than a close allowed: no wait again
        queued = len(self._queue)  # read before _taken: the writer counts a line before taking it
        target = self._taken + queued
        if self._done < target:
            self._urgent = True
            self._wake()
            with waiting(self._flushers) as progress:
                while self._done < target:
                    if deadline is not None and time.monotonic() >= deadline:
                        return False
                    thread = self._thread
                    if thread is None or not self._running:
                        self._drain()  # no thread (it died, or we are shutting down): write here
                    if self._done < target:
                        wait = 0.05 if deadline is None else min(0.05, left(deadline, 0))
                        progress.acquire(timeout=wait)
        return self._call_output("flush", None if deadline is None else left(deadline, 0))

    def close(self, timeout: float | None = None, *, close_output: bool = True) -> None:
        """Write what is queued, stop the thread, close the output; later lines go direct."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._stuck and self._running:
            self.give_up(timeout)
            return
        self.flush(timeout)
        self._stopping = True
        self._urgent = True
        try:
            self._wakeup.release()
        except RuntimeError:
            pass
        thread = self._thread
        if thread is not None and not self._local.inside:  # inside: it may wait for this thread
            thread.join(None if deadline is None else left(deadline, 0))
        if deadline is not None and (self._running or self._stuck) and thread is not None:
            self.give_up(timeout)  # still in a write, and out of time: never wait past it
            return
        self._sync = True
        self._idle = True
        self._drain()
        if close_output:
            self._call_output("close", None if deadline is None else left(deadline, 0))

    def pending(self) -> int:
        """Lines queued or in a write, not yet written."""
        return len(self._queue) + self._taken - self._done

    def give_up(self, timeout: float | None) -> None:
        """Out of time with the output still busy: count what is queued as dropped, once said.

        Later lines queue for the thread (if its write ever ends) or are
        dropped and counted; nothing here waits for the output again.
        """
        with self._count_lock:
            lost = len(self._queue)
            if not self._stuck:  # and the lines of the batch its write is stuck in
                in_flight = self._taken - self._done
                start, now = self._batch_start, getattr(self.output, "written", None)
                if type(start) is int and type(now) is int:
                    in_flight -= min(in_flight, max(0, now - start))
                lost += in_flight
            self._queue.clear()
            self._dropped += lost
            self._noticed = self._dropped
        if not self._stuck:
            self._stuck = True
            timeout = timeout or 0.0
            _faults.report(
                "writer: out of time",
                f"{lost} line(s) not written by {self.output!r} within {timeout:g} s "
                "(its reader is not reading), dropped; see tracelog.stats()",
            )

    def stats(self) -> dict[str, int]:
        inner = call(self.output, "stats") or {}
        counts: dict[str, int] = {"written": 0, "dropped": 0, "retried": 0, "failed": 0}
        counts.update(inner)
        counts["dropped"] = counts.get("dropped", 0) + self._dropped
        counts["queued"] = len(self._queue)
        counts["queue_size"] = self.queue_size
        return counts

    def __repr__(self) -> str:
        return f"<BackgroundWriter {self.output!r} queue_size={self.queue_size}>"

    # -- caller side ---------------------------------------------------------

    def _wake(self) -> None:
        if self._sync:
            self._drain()
            return
        self._idle = False
        if self._thread is None:
            self._start()
        try:
            self._wakeup.release()
        except RuntimeError:  # already released by another caller
            pass

    def _start(self) -> None:
        # Not waiting: the one starting it (maybe this thread, under a signal handler) wakes it.
        if not self._start_lock.acquire(blocking=False):
            return
        try:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._run, name="tracelog-writer", daemon=True)
            self._running = True  # from now: a caller may wait for it (its _run clears it)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: no new threads
                self._running = False
                self._sync = True
                return
            self._thread = thread
        finally:
            self._start_lock.release()

    def _overflow(self, line: bytes | str) -> None:
        if self._sync:
            self._queue.append(line)
            self._drain()
            return
        thread = self._thread
        local = self._local
        # Inside a write (the writer thread, or a signal handler interrupting one) waiting for
        # room would wait for this very thread, and a signal handler interrupting a wait for
        # room would stack waits without end: the line is dropped and counted instead.
        # Liveness is the writer's own flag: Thread.is_alive() interrupted by a signal handler
        # that raises marks a live thread as stopped (a CPython bug), which would drop every
        # later line.
        waits = not (local.inside or self._stuck)
        if self.block and thread is not None and self._running and waits:
            if local.waiting:
                self._count_drop()
                return
            local.waiting = True
            try:
                with waiting(self._blocked) as room:
                    while len(self._queue) >= self.queue_size and not self._sync:
                        self._wake()
                        room.acquire(timeout=0.05)
                        if thread is not self._thread or not self._running:
                            break
            finally:
                local.waiting = False
            self._enqueue(line)
            return
        if self._starved(thread, local) and len(self._queue) < self.queue_size:
            self._enqueue(line)
            return
        self._count_drop()

    def _enqueue(self, line: bytes | str) -> None:
        """What write() does with room in the queue (write() has it inline, for its cost)."""
        self._queue.append(compact(line))
        if self._idle:
            self._wake()

    def _starved(self, thread: threading.Thread | None, local: ThreadState) -> bool:
        """With overflow="drop", give a writer that only waits for the GIL its chance; whether it
        took a batch.

        A caller that logs without pause holds the GIL and fills the queue
        while the writer waits for it (between the writes of a batch, a pipe
        takes one per 4 KiB): a short wait here hands it over. The caller
        never waits for the output itself: only when the output says it has
        room (a file, a pipe its reader keeps up with), and, after a wait that
        saw no batch written, not again for STARVED_BACKOFF seconds.
        """
        if (
            self.block
            or thread is None
            or not self._running
            or local.inside
            or local.waiting
            or time.monotonic() < self._no_wait_until
            or call(self.output, "has_room") is not True
        ):
            return False
        done = self._done
        local.waiting = True
        try:
            with waiting(self._blocked) as room:
                self._wake()
                room.acquire(timeout=STARVED_WAIT)
        finally:
            local.waiting = False
        if self._done == done:
            self._no_wait_until = time.monotonic() + STARVED_BACKOFF
            return False
        return True

    def _count_drop(self) -> None:
        with self._count_lock:
            self._dropped += 1
        if self._idle:
            self._wake()

    # -- writer side -----------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        try:
            while True:
                if not queue:
                    if self._stopping:
                        return
                    self._idle = True
                    if not queue:  # re-check after saying so: a caller may have missed it
                        self._wakeup.acquire(timeout=_IDLE_WAIT)
                    self._idle = False
                    if not self._urgent and len(queue) < BATCH_LINES:
                        time.sleep(LINGER)
                    self._urgent = False
                    continue
                try:
                    self._write_batch()
                except Exception as error:  # the thread must outlive any one bad batch
                    _faults.report("writer", error)
        finally:
            self._running = False
            self._idle = True

    def _drain(self) -> None:
        """Write everything queued, in the calling thread (unless it is inside a write already)."""
        while self._queue and self._write_batch():
            pass

    def _write_batch(self) -> bool:
        """Write one batch; False, writing nothing, when re-entered from this thread's own write."""
        local = self._local
        if local.inside:
            return False  # a signal handler, or the output logging: the write under way goes on
        local.inside = True
        try:
            queue = self._queue
            with self._io_lock:
                count = min(len(queue), BATCH_LINES)
                self._taken += count  # before taking them: see flush()
                # The only consumer, so they are there; taken in C (a line is never None).
                batch = list(islice(iter(queue.popleft, None), count))
                if batch:
                    self._batch_start = getattr(self.output, "written", None)
                    self._emit(batch)
                self._done += count
                if self._dropped != self._noticed:
                    self._report_drops(bool(self._flushers))
        finally:
            local.inside = False
        for waiters in (self._flushers, self._blocked):
            if waiters:
                release_all(waiters)
        return True

    def _emit(self, batch: list[Any]) -> None:
        try:
            if self._write_lines is not None:
                self._write_lines(batch)
            else:
                write = self.output.write
                for line in batch:
                    write(line)
        except Exception as error:  # outputs should not raise; keep going if one does
            _faults.report("output", error)

    def _report_drops(self, now: bool) -> None:
        moment = time.monotonic()
        if not now and moment - self._last_notice < NOTICE_INTERVAL:
            return
        total = self._dropped  # read once, without the lock: callers may be adding to it
        dropped = total - self._noticed
        self._noticed = total
        self._last_notice = moment
        _faults.report(
            "dropped",
            f"{dropped} line(s) dropped by {self.output!r}: its queue of {self.queue_size} "
            "was full; see tracelog.stats()",
        )
        if self.notice is not None:
            try:
                self._emit([self.notice(dropped)])
            except Exception as error:
                _faults.report("output", error)

    def _call_output(self, name: str, *args: Any) -> bool:
        """Flush or close the output, marked inside it (see _write_batch).

        False if it failed, or if this thread is inside the output already (a
        signal handler): the call under way finishes first, and exit closes it.
        """
        local = self._local
        if local.inside:
            return False
        local.inside = True
        try:
            return call(self.output, name, *args) is not False
        finally:
            local.inside = False

    # -- fork ------------------------------------------------------------------

    def _before_fork(self) -> bool:
        local = self._local
        if local.inside:
            return False  # forking from a signal handler that interrupted this thread's write
        local.inside = True  # a signal handler in the fork window must not wait for the writer
        if self._io_lock.acquire(timeout=1.0):
            return True
        local.inside = False
        return False

    def _after_fork_parent(self, held: bool) -> None:
        if held:
            self._io_lock.release()
            self._local.inside = False

    def _after_fork_child(self) -> None:
        self._queue.clear()  # the parent writes these; the child must not write them again
        self._fresh_state()


# --- every writer in the process, for fork -----------------------------------

_registry: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()
_held: list[tuple[BackgroundWriter, bool]] = []


def _before_fork() -> None:
    _held[:] = [(writer, writer._before_fork()) for writer in list(_registry)]


def _after_fork_parent() -> None:
    for writer, held in _held:
        writer._after_fork_parent(held)
    _held.clear()


def _after_fork_child() -> None:
    _held.clear()
    for writer in list(_registry):
        writer._after_fork_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_parent,
        after_in_child=_after_fork_child,
    )
