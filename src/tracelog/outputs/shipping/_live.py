"""Every live shipper in the process: flushed at exit, reset in a forked child."""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import Protocol

from tracelog import _faults

__all__ = ["Live", "register", "unregister"]


class Live(Protocol):
    """What this registry needs of a shipper (``Live`` is one)."""

    close_timeout: float

    def flush(self, timeout: float | None = None) -> bool: ...

    def close(self, timeout: float | None = None) -> None: ...

    def after_fork_in_child(self) -> None: ...


_registry_lock = threading.Lock()
_live: weakref.WeakSet[Live] = weakref.WeakSet()
_hooks_installed = False


def register(shipper: Live) -> None:
    global _hooks_installed
    with _registry_lock:
        _live.add(shipper)
        if not _hooks_installed:
            atexit.register(_flush_at_exit)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_reset_in_child)
            _hooks_installed = True


def unregister(shipper: Live) -> None:
    with _registry_lock:
        _live.discard(shipper)


def _flush_at_exit() -> None:
    """Ship what is buffered before the interpreter goes; keep on disk what cannot be shipped.

    Only a flush when it succeeds, so lines an exit-time flush of a queue
    hands over afterwards are still accepted (and shipped by its close()).
    """
    with _registry_lock:
        shippers = list(_live)
    for shipper in shippers:
        try:
            if not shipper.flush(shipper.close_timeout):
                shipper.close(0)
        except Exception as error:
            _faults.report("shipping", error)


def _reset_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for shipper in list(_live):
        try:
            shipper.after_fork_in_child()
        except Exception as error:
            _faults.report("shipping", error)
