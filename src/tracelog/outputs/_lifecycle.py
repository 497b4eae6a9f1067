"""The active outputs: installed by configure(), flushed, and closed at exit and on SIGTERM.

- **exit**: everything queued is written and the outputs closed, from
  ``threading``'s shutdown hook (which also runs when a ``multiprocessing``
  child ends) and from ``atexit``.
- **SIGTERM**: the same, then the previous handler runs (or the default
  action, so the process still ends by the signal).
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from collections.abc import Iterable
from typing import Any

from tracelog.outputs._waits import call, left
from tracelog.outputs._writer import EXIT_TIMEOUT, BackgroundWriter

__all__ = ["close_all", "flush_all", "install", "installed", "stats_all"]

_lock = threading.RLock()
_active: tuple[Any, ...] = ()
_names: tuple[str, ...] = ()
_hooks_installed = False
_previous_sigterm: Any = None
_sigterm_installed = False


def install(outputs: Iterable[Any], names: Iterable[str], *, handle_sigterm: bool) -> None:
    """Make ``outputs`` the active ones, closing those they replace (unless reused)."""
    global _active, _names
    outputs = tuple(outputs)
    with _lock:
        previous = _active
        _active, _names = outputs, tuple(names)
        kept = {id(o) for o in outputs} | {id(getattr(o, "output", None)) for o in outputs}
        for old in previous:
            if id(old) in kept:
                continue
            if isinstance(old, BackgroundWriter):
                old.close(EXIT_TIMEOUT, close_output=id(old.output) not in kept)
            elif id(old) not in kept:
                call(old, "close", EXIT_TIMEOUT)
        if outputs:
            _install_exit_hooks()
        _install_sigterm(handle_sigterm)


def installed() -> tuple[Any, ...]:
    return _active


def flush_all(timeout: float | None = None) -> bool:
    """Write or ship everything accepted so far by every active output; True if all done."""
    deadline = None if timeout is None else time.monotonic() + timeout
    done = True
    for output in _active:
        result = call(output, "flush", None if deadline is None else left(deadline, 0))
        done = done and result is not False
    return done


def stats_all() -> dict[str, dict[str, int]]:
    """Counters of every active output, by its name."""
    return {name: dict(call(o, "stats") or {}) for name, o in zip(_names, _active, strict=False)}


def close_all(timeout: float | None = EXIT_TIMEOUT) -> None:
    """Flush and close every active output (they stay installed and reopen if written to)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for output in _active:
        call(output, "close", None if deadline is None else left(deadline, 0))


def _at_exit() -> None:
    # Each output for its own time: a shipper's close_timeout (its documented promise),
    # anything else EXIT_TIMEOUT, so one slow output cannot use up the others' time.
    for output in _active:
        inner = output.output if isinstance(output, BackgroundWriter) else output
        budget = getattr(inner, "close_timeout", None)
        call(output, "close", budget if isinstance(budget, (int, float)) else EXIT_TIMEOUT)


def _install_exit_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        try:  # runs before non-daemon threads are joined, and in multiprocessing children
            register(_at_exit)
        except RuntimeError:
            pass
    atexit.register(_at_exit)


def _on_sigterm(signum: int, frame: Any) -> None:
    if not flush_all(EXIT_TIMEOUT):
        for output in _active:  # out of time: what a writer still holds is counted and said
            if isinstance(output, BackgroundWriter) and output.pending():
                output.give_up(EXIT_TIMEOUT)
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm(wanted: bool) -> None:
    """Put our SIGTERM handler in front of the current one (main thread only), or take it out."""
    global _previous_sigterm, _sigterm_installed
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        current = signal.getsignal(signal.SIGTERM)
        if not wanted:
            if _sigterm_installed and current is _on_sigterm:
                signal.signal(signal.SIGTERM, _previous_sigterm or signal.SIG_DFL)
            _sigterm_installed = False
            return
        if current is _on_sigterm or current in (signal.SIG_IGN, None):
            return  # already ours, or the application chose to ignore SIGTERM
        _previous_sigterm = current
        signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm_installed = True
    except (ValueError, OSError, AttributeError):  # no signals here (embedded, wasm)
        pass
