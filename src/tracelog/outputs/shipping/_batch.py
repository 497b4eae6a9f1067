"""The machinery every shipper shares: a bounded buffer, one sender thread, batches, retries.

The caller's side (:meth:`Shipper.write`) only appends bytes to a deque under
a lock. One background thread takes batches (by size, or when the oldest
line has waited ``batch_interval``), hands them to the subclass's ``_ship``,
and retries what the subclass says is retryable with exponential backoff and
jitter, or as long as the server's ``Retry-After`` asks.

Lines are shipped in the order they were written. When the buffer is full,
new lines go to the spill file (if there is one) and keep going there until
the sender has caught up with it, so order holds across the spill too.
Anything still unsent when the shipper is closed (or the process exits) goes
to the spill file and is sent by the next process that opens it; without a
spill file it is counted as dropped and reported. One process owns a spill
file at a time; others given the same path use ``<spill_path>.<pid>``.

Every line is accounted for: ``stats()`` always adds up, ``accepted == written
+ dropped + failed + spill_pending + queued``. A spill file the disk refuses
(full, I/O error, permissions) loses only the lines it could not keep, counted
as dropped, and shipping goes on from memory. A sender thread that fails is
started again (counted under ``restarts``), so shipping never stops silently.

Fork safety: a forked child starts with an empty buffer, no thread, zeroed
counters and its own spill file (``<spill_path>.<pid>``), so nothing the
parent had buffered is shipped twice.
"""

from __future__ import annotations

import collections
import dataclasses
import http.client
import os
import random
import threading
import time
import warnings
from typing import Any

from tracelog import _faults
from tracelog.outputs._stream import parse_level
from tracelog.outputs.shipping import _live
from tracelog.outputs.shipping._outcome import (
    AT_CLOSE,
    LOST,
    SENDER,
    Outcome,
    RetryableError,
    split,
)
from tracelog.outputs.shipping._spill import Spill
from tracelog.render import compact

__all__ = [
    "Batching",
    "Outcome",
    "RetryableError",
    "Shipper",
    "parse_level",
    "split",
    "take_renamed",
    "take_renamed_value",
]


def _as_bytes(line: object) -> bytes:
    if isinstance(line, (bytearray, memoryview)):
        return bytes(line)
    return str(line).encode("utf-8", "replace")


@dataclasses.dataclass(frozen=True)
class Batching:
    """What every shipper shares: how lines are batched, held, spilled, retried and closed.

    - ``batch_size`` lines or ``batch_interval`` seconds, whichever comes first;
    - ``queue_size`` lines held in memory (the same name as ``configure(queue_size=)``);
    - ``spill_path``: a file taking the lines the queue cannot hold;
    - ``backoff``/``max_backoff``: retries, exponential with jitter (or ``Retry-After``);
    - ``close_timeout``: how long closing (at exit, or a new configure()) may ship.

    Give it as ``batching=Batching(...)``, or any of its fields as a keyword of the
    shipper (``Loki(url, batch_size=100)``); a keyword wins over ``batching=``.
    """

    batch_size: int = 500
    batch_interval: float = 1.0
    queue_size: int = 10_000
    spill_path: str | os.PathLike[str] | None = None
    backoff: float = 0.5
    max_backoff: float = 30.0
    close_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.queue_size < 1:
            raise ValueError("batch_size and queue_size must be at least 1")
        if min(self.batch_interval, self.backoff, self.max_backoff, self.close_timeout) < 0:
            raise ValueError("batch_interval, backoff, max_backoff and close_timeout must be >= 0")

    @classmethod
    def of(cls, batching: Batching | None, options: dict[str, Any], owner: str) -> Batching:
        """``batching`` with the fields given as keywords; refuses any other keyword."""
        take_renamed(options, "max_buffer", "queue_size", owner)
        unknown = sorted(set(options) - _BATCHING_FIELDS)
        if unknown:
            raise TypeError(f"{owner}() got unexpected keyword argument(s): {', '.join(unknown)}")
        base = batching if batching is not None else cls()
        return dataclasses.replace(base, **options) if options else base


_BATCHING_FIELDS = frozenset(field.name for field in dataclasses.fields(Batching))


def take_renamed(options: dict[str, Any], old: str, new: str, owner: str) -> None:
    """An option given by its old name moves to its new one, with a DeprecationWarning."""
    if old not in options:
        return
    warnings.warn(
        f"{owner}({old}=...) is now {owner}({new}=...); {old} goes in a later release",
        DeprecationWarning,
        stacklevel=4,
    )
    value = options.pop(old)
    if new in options:
        raise TypeError(f"{owner}() got both {old}= and its new name {new}=")
    options[new] = value


def take_renamed_value(options: dict[str, Any], old: str, new: str, value: Any, owner: str) -> Any:
    """``value`` (option ``new``), unless given by its old name ``old``: warned, then taken."""
    if old not in options:
        return value
    warnings.warn(
        f"{owner}({old}=...) is now {owner}({new}=...); {old} goes in a later release",
        DeprecationWarning,
        stacklevel=3,
    )
    return options.pop(old)


class Shipper:
    """Base of the network outputs: see :mod:`tracelog.outputs.shipping`."""

    format = "json"
    name = "shipper"

    _lock: threading.Lock
    _cond: threading.Condition
    _buffer: collections.deque[bytes]
    _first_at: float | None
    _accepted: int
    _done: int
    _in_flight: int
    _kept: int
    _flushing: int
    _closing: bool
    _closed: bool
    _deadline: float
    _thread: threading.Thread | None
    _spill: Spill | None
    _spilling: bool
    _counts: dict[str, int]

    def __init__(
        self,
        *,
        level: int | str | None = None,
        schema: str | None = None,
        batching: Batching | None = None,
        **options: Any,
    ) -> None:
        settings = Batching.of(batching, options, type(self).__name__)
        self.batching = settings
        self.level = parse_level(level)
        self.schema = schema
        self.batch_size = settings.batch_size
        self.batch_interval = settings.batch_interval
        self.queue_size = settings.queue_size
        self.backoff = settings.backoff
        self.max_backoff = settings.max_backoff
        self.close_timeout = settings.close_timeout
        spill_path = settings.spill_path
        self.spill_path = os.fspath(spill_path) if spill_path is not None else None
        self._fresh_state()
        _live.register(self)
        if self._spill is not None and self._spill.adopt_leftovers():
            self._spilling = True
            self._accepted = self._spill.pending
            self._first_at = time.monotonic()
            self._start()
        elif self._spill is not None and self._spill.last_error is not None:
            error = self._spill.last_error
            _faults.report("shipping", f"{self.name}: spill file unreadable: {error}")

    @property
    def max_buffer(self) -> int:
        """``queue_size``'s old name."""
        return self.queue_size

    def _fresh_state(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._buffer = collections.deque()
        self._first_at = None
        self._accepted = 0  # every line given to write()
        self._done = 0  # written, failed, dropped, or kept on disk at close
        self._in_flight = 0  # taken by the sender, not yet settled
        self._kept = 0  # kept in the spill file at close, for the next process
        self._flushing = 0
        self._closing = False
        self._closed = False
        self._deadline = 0.0
        self._thread: threading.Thread | None = None
        self._spill = Spill(self.spill_path) if self.spill_path is not None else None
        self._spilling = False
        self._counts = dict.fromkeys(
            ("written", "dropped", "retried", "failed", "batches", "spilled", "restarts"), 0
        )

    # -- the caller's side -------------------------------------------------------------------

    def write(self, line: bytes | str) -> None:
        """Accept one rendered line. Cheap, thread-safe, never raises, never touches the network."""
        try:
            line = compact(line) if type(line) is bytes else _as_bytes(line)
            with self._lock:
                if not self._spilling and len(self._buffer) < self.queue_size:
                    self._buffer.append(line)
                    self._accepted += 1
                    if (
                        self._first_at is None
                        or self._accepted - self._done == self.batch_size
                        or self._thread is None
                    ):
                        self._wake()
                    return
                self._accepted += 1
                lost = self._overflow(line)
            if lost is not None:
                self._report_lost(lost)
        except Exception as error:
            _faults.report("shipping", error)

    __call__ = write

    def _overflow(self, line: bytes) -> str | None:
        """The buffer is full or spilling (lock held): spill, or count the loss."""
        if self._spill is None:
            self._counts["dropped"] += 1
            self._done += 1
            return "full"
        self._spill.append(line)
        self._spilling = True
        self._counts["spilled"] += 1
        self._count_spill_losses()
        self._wake()
        return None

    def _count_spill_losses(self) -> None:
        """Lock held: lines the spill file could not keep are dropped; memory carries on."""
        spill = self._spill
        if spill is None or not spill.lost:
            return
        lost = spill.take_lost()
        self._counts["dropped"] += lost
        self._done += lost
        self._cond.notify_all()
        _faults.report(
            LOST,
            f"{self.name}: spill file {spill.path} could not keep {lost} line(s), dropped: "
            f"{spill.last_error}",
        )

    def _wake(self) -> None:
        """Lock held: start the sender if needed; tell it a batch may be due."""
        if self._first_at is None:
            self._first_at = time.monotonic()
        self._cond.notify()
        if self._thread is None or not (self._closing or self._thread.is_alive()):
            self._start()

    def _report_lost(self, why: str) -> None:
        _faults.report(
            LOST,
            f"{self.name}: buffer full ({self.queue_size} lines), dropping lines "
            "(set spill_path= to keep them on disk instead)",
        )

    def flush(self, timeout: float | None = None) -> bool:
        """Ship everything accepted so far now; True when it has all been dealt with in time."""
        with self._cond:
            target = self._accepted
            if self._done >= target:
                return True
            if self._thread is None or not (self._closing or self._thread.is_alive()):
                self._start()
            self._flushing += 1
            self._cond.notify_all()
            try:
                return bool(self._cond.wait_for(lambda: self._done >= target, timeout))
            finally:
                self._flushing -= 1

    def close(self, timeout: float | None = None) -> None:
        """Ship what is buffered (for up to ``timeout``, default ``close_timeout`` seconds), stop.

        What cannot be shipped in time goes to the spill file, or is counted as dropped.
        """
        if timeout is None:
            timeout = self.close_timeout
        with self._cond:
            if self._closing:
                thread = self._thread
            else:
                self._closing = True
                self._deadline = time.monotonic() + timeout
                self._cond.notify_all()
                thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout + 1.0)
        with self._cond:
            if thread is not None and thread.is_alive():
                return  # stuck in a request: it keeps its lines and closes them when it ends
            self._abandon([])  # lines written while closing, after the sender stopped
            if self._spill is not None:
                self._spill.close()
                self._count_spill_losses()
                self._kept = self._spill.pending  # for the next process, or this one reopened
                self._spill = None
            self._thread = None
            self._closing = False
            self._closed = True
        self._release()
        _live.unregister(self)

    def stats(self) -> dict[str, int]:
        """Counters; ``accepted == written + dropped + failed + spill_pending + queued``.

        ``spilled`` counts lines sent the spill file's way, ``spill_pending``
        those of them still waiting there (or kept there at close), ``queued``
        the lines in memory, ``restarts`` how often the sender thread was
        started again after a failure.
        """
        with self._cond:
            counts = dict(self._counts)
            counts["accepted"] = self._accepted
            counts["spill_pending"] = self._kept + (
                self._spill.pending if self._spill is not None else 0
            )
            counts["queued"] = len(self._buffer) + self._in_flight
        return counts

    # -- the sender thread -------------------------------------------------------------------

    def _start(self) -> None:
        if self._closed:  # written to after close(): open again
            self._closed = False
            _live.register(self)
            if self.spill_path is not None:
                self._spill = Spill(self.spill_path)
                leftovers = self._spill.adopt_leftovers()
                # The lines kept at close are pending again; any others are new to this shipper.
                self._done -= self._kept
                self._accepted += max(0, leftovers - self._kept)
                self._kept = 0
                if leftovers:
                    self._spilling = True
        thread = threading.Thread(target=self._run, name=f"tracelog-{self.name}", daemon=True)
        self._thread = thread
        thread.start()

    def _run(self) -> None:
        failures = 0
        try:
            while True:
                try:
                    while True:
                        batch = self._next_batch()
                        if batch is None:
                            return
                        self._deliver(batch)
                        failures = 0
                except Exception as error:  # a bug here must not stop shipping: start over
                    failures += 1
                    if not self._recover(error, failures):
                        return
        finally:
            with self._cond:
                self._abandon([])

    def _recover(self, error: Exception, failures: int) -> bool:
        """The sender failed: settle what it held, wait a little; False if closing is over."""
        with self._cond:
            held, self._in_flight = self._in_flight, 0
            self._counts["failed"] += held
            self._counts["restarts"] += 1
            self._done += held
            self._count_spill_losses()
            self._cond.notify_all()
            detail = f"{type(error).__name__}: {error}"
            lost = f", {held} line(s) in hand failed" if held else ""
            _faults.report(SENDER, f"{self.name}: sender failed ({detail}){lost}; starting over")
            delay = min(self.max_backoff, self.backoff * 2 ** min(failures - 1, 16))
            end = time.monotonic() + delay
            while True:
                now = time.monotonic()
                if self._closing and now >= self._deadline:
                    return False
                if now >= end:
                    return True
                limit = end - now
                if self._closing:
                    limit = min(limit, self._deadline - now)
                self._cond.wait(limit)

    def _next_batch(self) -> list[bytes] | None:
        with self._cond:
            while True:
                if self._closing and time.monotonic() >= self._deadline:
                    return None
                spilled = self._spill.pending if self._spill is not None else 0
                queued = len(self._buffer) + spilled
                if queued:
                    now = time.monotonic()
                    due = (self._first_at or now) + self.batch_interval
                    if queued >= self.batch_size or self._closing or self._flushing or now >= due:
                        return self._take()
                    self._cond.wait(due - now)
                elif self._spill is not None and (self._spilling or self._spill.read_offset):
                    self._spill.reset()
                    self._spilling = False
                elif self._closing:
                    return None
                else:
                    self._cond.wait()

    def _take(self) -> list[bytes]:
        if self._buffer:
            size = min(len(self._buffer), self.batch_size)
            batch = [self._buffer.popleft() for _ in range(size)]
        else:
            assert self._spill is not None
            try:
                batch = self._spill.read(self.batch_size)
            except OSError as error:
                lost = self._spill.skip_unreadable()
                _faults.report(
                    LOST, f"{self.name}: spill file unreadable, {lost} line(s) dropped: {error}"
                )
                self._counts["dropped"] += lost
                self._done += lost
                batch = []
        if not self._buffer and (self._spill is None or self._spill.pending == 0):
            self._first_at = None
        self._in_flight = len(batch)
        return batch

    def _deliver(self, batch: list[bytes]) -> None:
        pending = batch
        attempt = 0
        while pending:
            try:
                outcome = self._ship(pending)
            except RetryableError as error:
                _faults.report("shipping", f"{self.name}: {error}; retrying")
                outcome = Outcome(retry=pending, retry_after=error.retry_after)
            except (OSError, http.client.HTTPException) as error:
                detail = f"{type(error).__name__}: {error}"
                _faults.report("shipping", f"{self.name}: {detail}; retrying")
                outcome = Outcome(retry=pending)
            except Exception as error:  # a bug, not the network: retrying would not help
                _faults.report("shipping", error)
                outcome = Outcome(failed=len(pending))
            with self._cond:
                self._counts["written"] += outcome.shipped
                self._counts["failed"] += outcome.failed
                if outcome.shipped:
                    self._counts["batches"] += 1
                self._done += outcome.shipped + outcome.failed
                self._in_flight = len(outcome.retry)
                self._cond.notify_all()
                pending = outcome.retry
                if not pending:
                    return
                if outcome.shipped and outcome.retry_after is None:
                    # The server is answering and took part of it: what it refused (items
                    # refused one by one) goes first into the next request, at once.
                    self._buffer.extendleft(reversed(pending))
                    self._in_flight = 0
                    self._counts["retried"] += 1
                    self._first_at = time.monotonic() - self.batch_interval
                    return
                attempt += 1
                if outcome.retry_after is not None:
                    delay = outcome.retry_after
                else:
                    delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                    delay *= random.uniform(0.5, 1.0)
                    if self._closing:  # spend the time left trying, not asleep
                        delay = min(
                            delay, max(self.backoff, (self._deadline - time.monotonic()) / 4)
                        )
                end = time.monotonic() + delay
                while True:
                    now = time.monotonic()
                    if self._closing and now >= self._deadline:
                        self._abandon(pending)
                        return
                    if now >= end:
                        break
                    limit = end - now
                    if self._closing:
                        limit = min(limit, self._deadline - now)
                    self._cond.wait(limit)
                self._counts["retried"] += 1

    def _abandon(self, in_flight: list[bytes]) -> None:
        """Closing ran out of time (lock held): keep the rest on disk, or count it as dropped."""
        rest = [*in_flight, *self._buffer]
        self._buffer.clear()
        self._in_flight = 0
        spill = self._spill
        left = len(rest) + (spill.pending if spill is not None else 0)
        if not left:
            self._count_spill_losses()
            return
        if spill is not None:
            kept = spill.rewrite(rest)
            self._counts["spilled"] += len(rest)
            lost = spill.take_lost()
            self._counts["dropped"] += lost
            if lost:
                _faults.report(
                    AT_CLOSE,
                    f"{self.name}: {kept} line(s) not shipped at close kept in {spill.path}, "
                    f"{lost} dropped: {spill.last_error}",
                )
            else:
                _faults.report(
                    AT_CLOSE,
                    f"{self.name}: {kept} line(s) not shipped at close kept in {spill.path}",
                )
        else:
            self._counts["dropped"] += left
            _faults.report(AT_CLOSE, f"{self.name}: {left} line(s) not shipped at close, dropped")
        self._done = self._accepted
        self._first_at = None
        self._cond.notify_all()

    # -- for subclasses ----------------------------------------------------------------------

    def _ship(self, lines: list[bytes]) -> Outcome:
        """Send one batch (each line ends with a newline). Raise RetryableError/OSError to retry."""
        raise NotImplementedError

    def _release(self) -> None:
        """Close connections and sockets."""

    def _forked(self) -> None:
        """In a forked child: forget the parent's connections (never close them)."""

    def after_fork_in_child(self) -> None:
        if self.spill_path is not None:
            self.spill_path = f"{self.spill_path}.{os.getpid()}"
        self._fresh_state()
        self._forked()
