"""Waiting on the background writer without ever waiting on a lock one's own thread holds.

A thread that waits (for room in the queue, for a flush) waits on a lock of
its own that the writer releases after every batch; a thread knows, by its
:class:`ThreadState`, whether it is inside a write already (a signal handler
that logs, an output that logs) and must not wait at all.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from tracelog import _faults

__all__ = ["ThreadState", "call", "left", "release_all", "waiting"]


class ThreadState(threading.local):
    inside = False  # this thread holds the writer's _io_lock, or is inside its output
    waiting = False  # this thread waits for room in the queue, or for a starved writer


@contextlib.contextmanager
def waiting(waiters: set[threading.Lock]) -> Iterator[threading.Lock]:
    """A lock of the caller's own that the writer releases after every batch, to wait on.

    Unlike a shared Condition, a waiter holds nothing the writer or another
    waiter needs, so a signal handler that interrupts the wait may log (and
    wait) too, and the writer never waits for a waiter.
    """
    waiter = threading.Lock()
    waiter.acquire()
    waiters.add(waiter)
    try:
        yield waiter
    finally:
        waiters.discard(waiter)


def release_all(waiters: set[threading.Lock]) -> None:
    """Wake every thread waiting in ``waiters``."""
    for waiter in tuple(waiters):  # a copy: waiters come and go meanwhile
        try:
            waiter.release()
        except RuntimeError:  # released after an earlier batch, not yet woken
            pass


def left(deadline: float, floor: float) -> float:
    """Seconds until ``deadline`` (a monotonic time), at least ``floor``."""
    return max(floor, deadline - time.monotonic())


def call(output: Any, name: str, *args: Any) -> Any:
    """``output.<name>(*args)``: None if it has no such method, False if it raised (reported)."""
    method = getattr(output, name, None)
    if method is None:
        return None
    try:
        return method(*args)
    except Exception as error:
        _faults.report("output", error)
        return False
