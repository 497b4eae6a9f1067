"""The rate limiter behind ``configure(rate_limit=...)``: N lines of one message per interval.

A message is its logger name and its template (``record.msg`` for stdlib
records, the event string for structlog). Past the limit, lines are counted,
not written; when the interval ends (seen on the message's next line or by a
timer), at ``flush()`` and when the setup is replaced, one summary line says
how many were suppressed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from tracelog import pipeline as _pipeline
from tracelog.fields import LOGGER, MESSAGE
from tracelog.render import safe_str
from tracelog.typing import EventDict, WrappedLogger

__all__ = ["Limiter"]

MAX_MESSAGES = 10_000  # messages tracked at once; past it the oldest is summarised and let go

#: Writes a summary line: ``emit(logger, method_name, event_dict)`` runs the whole chain.
Emit = Callable[[Any, str, EventDict], None]


class _Window:
    """One message's interval."""

    __slots__ = ("count", "level", "logger", "start", "suppressed", "template")

    def __init__(self, logger: Any, template: str, start: float) -> None:
        self.logger = logger
        self.template = template
        self.start = start
        self.count = 1
        self.suppressed = 0
        self.level = 0


class Summary:
    """What a summary line is logged through; the limiter never limits it."""

    __slots__ = ("name",)

    created = None

    def __init__(self, name: Any) -> None:
        self.name = name


class Limiter:
    __slots__ = ("_lock", "_timer", "_timer_at", "_windows", "emit", "limit", "per_seconds")

    def __init__(self, limit: int, per_seconds: float, emit: Emit) -> None:
        self.limit = limit
        self.per_seconds = per_seconds
        self.emit = emit
        self._lock = threading.Lock()
        self._windows: OrderedDict[tuple[Any, str], _Window] = OrderedDict()
        self._timer: threading.Timer | None = None
        self._timer_at = 0.0

    def check(self, logger: WrappedLogger, levelno: int, event_dict: EventDict) -> bool:
        """Count a line of its message; True when it is over the limit (not to be written)."""
        if type(logger) is Summary:
            return False
        name: Any
        template: Any
        if isinstance(logger, logging.LogRecord):
            name, template = logger.name, logger.msg
        else:
            name, template = event_dict.get(LOGGER), event_dict.get(MESSAGE)
        if type(template) is not str:
            template = safe_str(template)
        per_seconds = self.per_seconds
        now = time.monotonic()
        ended: _Window | None = None
        key = (name, template)
        with self._lock:
            windows = self._windows
            window = windows.get(key)
            if window is None or now - window.start >= per_seconds:
                if window is not None:
                    ended = window
                elif len(windows) >= MAX_MESSAGES:
                    ended = windows.popitem(last=False)[1]
                windows[key] = _Window(name, template, now)
                over = False
            elif window.count < self.limit:
                window.count += 1
                over = False
            else:
                window.suppressed += 1
                window.level = max(window.level, levelno)
                self._start_timer(window.start + per_seconds)
                over = True
        if ended is not None and ended.suppressed:
            self._write_summary(ended)
        return over

    def _start_timer(self, at: float) -> None:
        """(Under the lock.) Write summaries when the interval ending at ``at`` ends."""
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        timer = threading.Timer(max(at - time.monotonic(), 0.0) + 0.01, self._on_timer)
        timer.daemon = True
        timer.name = "tracelog-rate-limit"
        self._timer = timer
        self._timer_at = at
        timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
        self.summarise(ended_only=True)

    def summarise(self, *, ended_only: bool = False) -> None:
        """Write the summary of each message with suppressed lines (or only of ended intervals)."""
        per_seconds = self.per_seconds
        now = time.monotonic()
        due: list[_Window] = []
        with self._lock:
            next_end: float | None = None
            for key, window in list(self._windows.items()):
                ended = now - window.start >= per_seconds
                if ended:
                    del self._windows[key]
                if window.suppressed and (ended or not ended_only):
                    due.append(_taken(window))
                elif window.suppressed:
                    end = window.start + per_seconds
                    next_end = end if next_end is None else min(next_end, end)
            if next_end is not None:
                self._start_timer(next_end)
        for window in due:
            self._write_summary(window)

    def close(self) -> None:
        """Stop the timer and write every pending summary."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.summarise()

    def _write_summary(self, window: _Window) -> None:
        event: EventDict = {
            "event": (
                f"suppressed {window.suppressed} repeats of {window.template!r} "
                f"(limit {self.limit} per {self.per_seconds:g} s)"
            ),
            "suppressed": window.suppressed,
            "template": window.template,
        }
        self.emit(Summary(window.logger), _pipeline.level_name(window.level, "info"), event)


def _taken(window: _Window) -> _Window:
    """(Under the lock.) A copy of the window's suppressed count, which starts again at zero."""
    copy = _Window(window.logger, window.template, window.start)
    copy.suppressed, copy.level = window.suppressed, window.level
    window.suppressed = window.level = 0
    return copy
