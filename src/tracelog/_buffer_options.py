"""What ``configure(buffer=..., sampling=..., rate_limit=...)`` takes: the options, checked.

Public as :mod:`tracelog.buffering`'s ``TraceBuffer``, ``Sampling`` and ``RateLimit``
(and ``tracelog.TraceBuffer``...); here, below the gate that reads them.
"""

from __future__ import annotations

from tracelog._errors import ConfigurationError
from tracelog._levels import LEVELS
from tracelog._settings import level_number

__all__ = ["RateLimit", "Sampling", "TraceBuffer"]

ERROR = LEVELS["error"]


def _level(value: int | str, source: str) -> int:
    return level_number(value, source)


def _error(message: str) -> Exception:
    return ConfigurationError(message)


def _count(value: object, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _error(f"{source}={value!r} is not a whole number of at least 1")
    return value


def _keep_level(value: int | str, source: str) -> int:
    levelno = _level(value, source)
    if levelno > ERROR:
        raise _error(f"{source}={value!r} is above error: error lines are always kept")
    return levelno


class TraceBuffer:
    """Hold a request's lines below the output level; write them only if it fails.

    A request is what a ``trace()`` block or an integration's middleware
    started: two requests that continue the same upstream trace id are held,
    flushed and let go apart.

    - ``level``: the lowest level held (lower lines are dropped as usual).
    - ``flush_level``: a line at this level (or the output level, if higher)
      first writes the trace's held lines, each marked ``"buffered": true``.
    - ``max_per_trace``: lines held per trace; past it the oldest go first.
    - ``max_total``: lines held by all traces together; past it the trace
      that started holding earliest loses its held lines.
    - ``max_bytes``: bytes held by all traces together (64 MiB by default),
      let go the same way; a line larger than this alone is never held.
    - ``all_traces``: hold lines of every trace (the default), or only of
      traces that call :func:`buffer_trace`.
    """

    __slots__ = ("all_traces", "flush_level", "level", "max_bytes", "max_per_trace", "max_total")

    def __init__(
        self,
        level: int | str = "DEBUG",
        flush_level: int | str = "ERROR",
        max_per_trace: int = 1_000,
        max_total: int = 100_000,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        all_traces: bool = True,
    ) -> None:
        self.level = _level(level, "TraceBuffer level")
        self.flush_level = _level(flush_level, "TraceBuffer flush_level")
        self.max_per_trace = _count(max_per_trace, "TraceBuffer max_per_trace")
        self.max_total = _count(max_total, "TraceBuffer max_total")
        self.max_bytes = _count(max_bytes, "TraceBuffer max_bytes")
        self.all_traces = bool(all_traces)

    def __repr__(self) -> str:
        return (
            f"TraceBuffer(level={self.level}, flush_level={self.flush_level}, "
            f"max_per_trace={self.max_per_trace}, max_total={self.max_total}, "
            f"max_bytes={self.max_bytes}, "
            f"all_traces={self.all_traces})"
        )


class Sampling:
    """Write every line of a fraction of traces; of the others only warnings and errors.

    The choice is made once per trace from its id (the low 64 bits against
    ``rate``, as OpenTelemetry's ratio sampler does). With ``parent_based``,
    a trace continued from upstream keeps the upstream ``sampled`` flag, and a
    trace started with ``sampled=False`` is never sampled. Lines without a
    trace are always written.
    """

    __slots__ = ("keep_level", "parent_based", "rate")

    def __init__(
        self, rate: float = 0.1, keep_level: int | str = "WARNING", *, parent_based: bool = True
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise _error(f"Sampling rate={rate!r} is not a number from 0 to 1")
        self.rate = float(rate)
        self.keep_level = _keep_level(keep_level, "Sampling keep_level")
        self.parent_based = bool(parent_based)

    def __repr__(self) -> str:
        return (
            f"Sampling(rate={self.rate}, keep_level={self.keep_level}, "
            f"parent_based={self.parent_based})"
        )


class RateLimit:
    """Write at most ``limit`` lines of one message per ``per_seconds``, then a summary line.

    A message is the logger name and the message template (``record.msg``
    for the stdlib, the event string for structlog). Lines at ``keep_level``
    and above are never limited.
    """

    __slots__ = ("keep_level", "limit", "per_seconds")

    def __init__(
        self, limit: int = 10, per_seconds: float = 60.0, *, keep_level: int | str = "ERROR"
    ) -> None:
        self.limit = _count(limit, "RateLimit limit")
        if isinstance(per_seconds, bool) or not isinstance(per_seconds, (int, float)):
            raise _error(f"RateLimit per_seconds={per_seconds!r} is not a number of seconds")
        if not per_seconds > 0:
            raise _error(f"RateLimit per_seconds={per_seconds!r} is not above 0")
        self.per_seconds = float(per_seconds)
        self.keep_level = _keep_level(keep_level, "RateLimit keep_level")

    def __repr__(self) -> str:
        return (
            f"RateLimit(limit={self.limit}, per_seconds={self.per_seconds}, "
            f"keep_level={self.keep_level})"
        )
