"""Faults inside the pipeline: counted, and reported on stderr at most once per kind a minute.

Never logs through logging (that could recurse); writes to the process's
original stderr.
"""

from __future__ import annotations

import sys
import threading
import time

__all__ = ["counts", "report"]

REPORT_INTERVAL = 60.0

_lock = threading.RLock()  # a signal handler may report while this thread holds it
_counts: dict[str, int] = {}
_last_report: dict[str, float] = {}


def report(kind: str, error: BaseException | str) -> None:
    """Count a fault of ``kind``; print it unless the same kind was printed within a minute."""
    try:
        now = time.monotonic()
        with _lock:
            _counts[kind] = _counts.get(kind, 0) + 1
            last = _last_report.get(kind)
            if last is not None and now - last < REPORT_INTERVAL:
                return
            _last_report[kind] = now
            total = _counts[kind]
        try:
            stream = sys.__stderr__ or sys.stderr
            detail = error if isinstance(error, str) else f"{type(error).__name__}: {_safe(error)}"
            stream.write(
                f"tracelog: {kind}: {detail} (seen {total} time(s); repeats hidden for 60 s)\n"
            )
            stream.flush()
        except Exception:
            # Not reported after all (no stderr, or the write failed too, as on a stack about
            # to overflow): the next fault of this kind tries again.
            with _lock:
                if _last_report.get(kind) == now:
                    if last is None:
                        del _last_report[kind]
                    else:
                        _last_report[kind] = last
    except Exception:  # the reporter itself must never fail the caller
        pass


def counts() -> dict[str, int]:
    """How many faults of each kind have happened in this process."""
    with _lock:
        return dict(_counts)


def reset() -> None:
    with _lock:
        _counts.clear()
        _last_report.clear()


def _safe(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return "<unprintable error>"
