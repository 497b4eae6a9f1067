"""Trace-aware buffering, sampling and rate limiting: debug lines only for the requests that fail.

``configure(buffer=..., sampling=..., rate_limit=...)`` turns these settings
into one chain step, :class:`Gate`, placed after redaction and before schema
projection and rendering. The state of each trace is kept by trace id under a
lock, not in a ContextVar, so the async tasks and ``wrap()``-ed threads of one
trace share it. See docs/buffering.md.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from structlog import DropEvent

from tracelog import _faults, _pipeline, context
from tracelog._ratelimit import Limiter
from tracelog.schema import TRACE_ID
from tracelog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "BUFFERED",
    "Gate",
    "RateLimit",
    "Sampling",
    "TraceBuffer",
    "begin_trace",
    "buffer_trace",
    "finish_trace",
    "flush",
    "mark_failed",
    "stats",
]

#: The key marking a line that was held back and written because its trace failed.
BUFFERED = "buffered"

_LEVELS = _pipeline.LEVELS
_ERROR = logging.ERROR
_NEVER = 1 << 30  # a level no line reaches
_MAX_TRACES = 100_000  # trace states kept at once (held lines are bounded by max_total)
_COUNTERS = ("flushed", "discarded", "dropped", "sampled_out", "rate_limited")


def _level(value: int | str, source: str) -> int:
    from tracelog import config  # config imports this module

    return config._level(value, source)


def _error(message: str) -> Exception:
    from tracelog.config import ConfigurationError

    return ConfigurationError(message)


def _count(value: object, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _error(f"{source}={value!r} is not a whole number of at least 1")
    return value


def _keep_level(value: int | str, source: str) -> int:
    levelno = _level(value, source)
    if levelno > _ERROR:
        raise _error(f"{source}={value!r} is above error: error lines are always kept")
    return levelno


class TraceBuffer:
    """Hold a trace's lines below the output level; write them only if the trace fails.

    - ``level``: the lowest level held (lower lines are dropped as usual).
    - ``flush_level``: a line at this level (or the output level, if higher)
      first writes the trace's held lines, each marked ``"buffered": true``.
    - ``max_per_trace``: lines held per trace; past it the oldest go first.
    - ``max_total``: lines held by all traces together; past it the trace
      that started holding earliest loses its held lines.
    - ``all_traces``: hold lines of every trace (the default), or only of
      traces that call :func:`buffer_trace`.
    """

    __slots__ = ("all_traces", "flush_level", "level", "max_per_trace", "max_total")

    def __init__(
        self,
        level: int | str = "DEBUG",
        flush_level: int | str = "ERROR",
        max_per_trace: int = 1_000,
        max_total: int = 100_000,
        *,
        all_traces: bool = True,
    ) -> None:
        self.level = _level(level, "TraceBuffer level")
        self.flush_level = _level(flush_level, "TraceBuffer flush_level")
        self.max_per_trace = _count(max_per_trace, "TraceBuffer max_per_trace")
        self.max_total = _count(max_total, "TraceBuffer max_total")
        self.all_traces = bool(all_traces)

    def __repr__(self) -> str:
        return (
            f"TraceBuffer(level={self.level}, flush_level={self.flush_level}, "
            f"max_per_trace={self.max_per_trace}, max_total={self.max_total}, "
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


class _Trace:
    """What the gate knows of one trace."""

    __slots__ = ("enabled", "failed", "flush_lock", "lines", "open", "sampled")

    def __init__(self, sampled: bool, enabled: bool) -> None:
        self.lines: deque[Any] | None = None  # rendered lines held, oldest first
        self.open = 0  # trace()/use() blocks of this trace not yet left
        self.sampled = sampled
        self.enabled = enabled
        self.failed = False  # its held lines were written; later ones go straight out
        self.flush_lock: threading.Lock | None = None  # held while the lines are written


class Gate:
    """The chain step that holds, samples and rate-limits lines (built by ``configure()``).

    A line it holds back or drops raises ``DropEvent``. Held lines go through
    the rest of the chain (projection, rendering) when held, so later changes
    to the values logged do not alter them and memory is counted in lines of
    output; they reach the output only when their trace fails.
    """

    def __init__(
        self,
        buffer: TraceBuffer | None = None,
        sampling: Sampling | None = None,
        rate_limit: RateLimit | None = None,
        level: int = logging.INFO,
    ) -> None:
        self.buffer = buffer
        self.sampling = sampling
        self.rate_limit = rate_limit
        self.set_level(level)
        self._keep_level = sampling.keep_level if sampling is not None else 0
        self._threshold = int(sampling.rate * (1 << 64)) if sampling is not None else 1 << 64
        self._limit_below = rate_limit.keep_level if rate_limit is not None else 0
        self._maxlen = min(buffer.max_per_trace, buffer.max_total) if buffer is not None else 0
        self._lock = threading.Lock()
        # Ordered, so the oldest is let go first in O(1) when a bound is reached.
        self._traces: OrderedDict[str, _Trace] = OrderedDict()
        self._holding: OrderedDict[str, _Trace] = OrderedDict()  # traces holding lines
        self._held = 0
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._limiter = None
        if rate_limit is not None:
            self._limiter = Limiter(rate_limit.limit, rate_limit.per_seconds, self._emit)
        self._pipeline: _pipeline.Pipeline | None = None
        self._rest: tuple[Processor, ...] = ()
        self._layouts: tuple[tuple[tuple[Processor, ...], tuple[Any, ...]], ...] | None = None

    def set_level(self, level: int) -> int:
        """Lines from ``level`` up are written; returns the pipeline's level (the lowest held)."""
        buffer = self.buffer
        self.level = level
        self.capture_level = min(level, buffer.level) if buffer is not None else level
        self._flush_level = max(level, buffer.flush_level) if buffer is not None else _NEVER
        return self.capture_level

    def attach(self, pipeline: _pipeline.Pipeline) -> None:
        """Hold lines rendered by the steps after this one, and write them with ``pipeline``."""
        chain = pipeline.processors
        self._rest = chain[chain.index(self) + 1 :]
        self._pipeline = pipeline
        # Several outputs: the write step (outputs.Fanout) renders once per layout and keeps
        # each output's level, which a held line is below. So held lines are rendered here,
        # per layout, and go to the outputs that take this gate's level.
        groups = getattr(pipeline.write, "groups", None)
        self._layouts = None
        if not self._rest and groups:
            self._layouts = tuple(
                (tuple(tail), tuple(write for out_level, write in pairs if out_level <= self.level))
                for _, tail, pairs in groups
            )

    # --- the chain step -------------------------------------------------------

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        levelno = _LEVELS.get(method_name)
        if levelno is None:  # a custom stdlib level
            levelno = getattr(logger, "levelno", logging.INFO)
        if levelno < self.level:
            self._hold(event_dict.get(TRACE_ID), logger, method_name, event_dict, None)
            raise DropEvent
        if levelno >= self._flush_level:
            trace_id = event_dict.get(TRACE_ID)
            if trace_id is not None:
                self._fail(trace_id)
            return event_dict
        if levelno < self._keep_level:
            trace_id = event_dict.get(TRACE_ID)
            if trace_id is not None and not self._is_sampled(trace_id):
                if self.buffer is None or levelno < self.buffer.level:
                    self._count("sampled_out")
                else:
                    self._hold(trace_id, logger, method_name, event_dict, "sampled_out")
                raise DropEvent
        limiter = self._limiter
        if (
            limiter is not None
            and levelno < self._limit_below
            and limiter.check(logger, levelno, event_dict)
        ):
            self._count("rate_limited")
            raise DropEvent
        return event_dict

    def _hold(
        self,
        trace_id: str | None,
        logger: WrappedLogger,
        method_name: str,
        event_dict: EventDict,
        counter: str | None,
    ) -> None:
        """Hold a line of its trace, or write it if the trace already failed.

        A line that is not held (no trace, no buffer, a trace opted out) is
        counted under ``counter`` and dropped.
        """
        buffer = self.buffer
        if buffer is None or trace_id is None:
            self._count(counter)
            return
        event_dict[BUFFERED] = True
        if self._layouts is None:
            data: Any = event_dict
            for processor in self._rest:
                data = processor(logger, method_name, data)
            if type(data) is bytes:
                data = bytes(memoryview(data))  # orjson's bytes keep 4 KiB whatever their size
        else:
            data = self._render_layouts(method_name, event_dict)
        with self._lock:
            state = self._traces.get(trace_id)
            if state is None and buffer.all_traces:
                state = self._new_trace(trace_id)
            if state is None or not state.enabled:
                if counter is not None:
                    self._counts[counter] += 1
                return
            if not state.failed:
                lines = state.lines
                if lines is None:
                    lines = state.lines = deque(maxlen=self._maxlen)
                    self._holding[trace_id] = state
                elif len(lines) == self._maxlen:
                    self._counts["dropped"] += 1
                    self._held -= 1
                lines.append(data)
                self._held += 1
                if self._held > buffer.max_total:
                    self._evict()
                return
            wait = state.flush_lock
        if wait is not None:  # let the trace's held lines out first
            with wait:
                pass
        try:
            self._line_writer()(data)
        except Exception as error:
            _faults.report("output", error)

    def _count(self, counter: str | None) -> None:
        if counter is not None:
            with self._lock:
                self._counts[counter] += 1

    def _new_trace(self, trace_id: str, root: context.TraceContext | None = None) -> _Trace:
        """Start tracking a trace (under the lock): decide its sampling once, for good.

        ``root`` is the context that starts the trace here, when known: its parent span,
        if any, is the upstream caller's. Otherwise the current context may be a local
        span, so only its ``sampled`` flag (which spans inherit) is followed.
        """
        traces = self._traces
        if len(traces) >= _MAX_TRACES:
            oldest, state = traces.popitem(last=False)
            self._let_go(oldest, state, "dropped")
        sampled = True
        sampling = self.sampling
        if sampling is not None:
            flag_from = root
            if flag_from is None:
                found = context._current.get()
                flag_from = found if found is not None and found.trace_id == trace_id else None
            if sampling.parent_based and flag_from is not None and not flag_from.sampled:
                sampled = False
            elif sampling.parent_based and root is not None and root.parent_span_id:
                sampled = True  # continued from upstream, which sampled it
            else:
                sampled = int(trace_id[16:], 16) < self._threshold
        state = _Trace(sampled, self.buffer is not None and self.buffer.all_traces)
        traces[trace_id] = state
        return state

    def _is_sampled(self, trace_id: str) -> bool:
        state = self._traces.get(trace_id)
        if state is None:
            with self._lock:
                state = self._traces.get(trace_id) or self._new_trace(trace_id)
        return state.sampled

    def _forget(self, trace_id: str, counter: str) -> None:
        """Stop tracking a trace (under the lock), counting its held lines under ``counter``."""
        state = self._traces.pop(trace_id, None)
        if state is not None:
            self._let_go(trace_id, state, counter)

    def _let_go(self, trace_id: str, state: _Trace, counter: str) -> None:
        """(Under the lock.) Drop a trace's held lines, counting them under ``counter``."""
        self._holding.pop(trace_id, None)
        if state.lines:
            self._held -= len(state.lines)
            self._counts[counter] += len(state.lines)
        state.lines = None

    def _evict(self) -> None:
        """Over ``max_total`` (under the lock): the earliest holding traces lose their lines."""
        assert self.buffer is not None
        holding = self._holding
        while self._held > self.buffer.max_total and holding:
            trace_id, state = holding.popitem(last=False)
            self._let_go(trace_id, state, "dropped")

    def _fail(self, trace_id: str) -> None:
        """The trace failed: write its held lines now, and its later ones as they come."""
        with self._lock:
            state = self._traces.get(trace_id)
            if state is None:
                state = self._new_trace(trace_id)
            wait = state.flush_lock
            lines = None
            if not state.failed:
                state.failed = True
                lines = state.lines
                if lines:
                    state.lines = None
                    self._holding.pop(trace_id, None)
                    self._held -= len(lines)
                    wait = state.flush_lock = threading.Lock()
                    wait.acquire()
        if lines and wait is not None:
            try:
                write = self._line_writer()
                for data in lines:
                    try:
                        write(data)
                    except Exception as error:
                        _faults.report("output", error)
            finally:
                wait.release()
            with self._lock:
                self._counts["flushed"] += len(lines)
        elif wait is not None:  # another thread is writing them: wait, to keep the order
            with wait:
                pass

    def _render_layouts(self, method_name: str, event_dict: EventDict) -> list[Any]:
        """A held line in each layout of several outputs, with the outputs it goes to."""
        rendered = []
        for tail, writes in self._layouts or ():
            if writes:
                line: Any = event_dict
                for step in tail:
                    line = step(None, method_name, line)
                rendered.append((_exact(line), writes))
        return rendered

    def _line_writer(self) -> Callable[[Any], None]:
        """What writes one held line: the pipeline's write, or each output layout's writes."""
        if self._layouts is not None:
            return _write_layouts
        pipeline = self._pipeline
        return pipeline.write if pipeline is not None else _pipeline._discard

    # --- trace ends (hooks run by trace()/span()/use() blocks) -----------------

    def _entering(self, ctx: context.TraceContext) -> bool:
        """Whether a block with ``ctx`` enters (or leaves) its trace, rather than a span in it."""
        if ctx.trace_id is None:
            return False
        outer = context._current.get()
        return outer is None or outer.trace_id != ctx.trace_id

    def on_enter(self, ctx: context.TraceContext) -> None:
        try:
            if not self._entering(ctx):
                return
            trace_id: Any = ctx.trace_id
            with self._lock:
                state = self._traces.get(trace_id) or self._new_trace(trace_id, ctx)
                state.open += 1
        except Exception as error:
            _faults.report("buffering", error)

    def on_exit(self, ctx: context.TraceContext, error: BaseException | None) -> None:
        try:
            if not self._entering(ctx):
                return
            trace_id: Any = ctx.trace_id
            if isinstance(error, Exception) and self.buffer is not None:
                self._fail(trace_id)
            with self._lock:
                state = self._traces.get(trace_id)
                if state is not None:
                    state.open -= 1
                    if state.open <= 0:
                        self._forget(trace_id, "discarded")
        except Exception as fault:
            _faults.report("buffering", fault)

    def _emit(self, logger: Any, method_name: str, event_dict: EventDict) -> None:
        """Log a line of tracelog's own (a rate-limit summary) through the whole chain."""
        pipeline = self._pipeline
        if pipeline is not None:
            with context.detached():  # it speaks of many traces, not the current one
                pipeline.run(logger, method_name, event_dict)

    # --- lifetime -------------------------------------------------------------

    def flush(self) -> None:
        """Write the summary lines of rate-limited messages now."""
        if self._limiter is not None:
            self._limiter.summarise()

    def close(self) -> None:
        """Write pending summaries, stop the timer, let go of held lines (replaced setup)."""
        if self._limiter is not None:
            self._limiter.close()
        with self._lock:
            for trace_id in list(self._traces):
                self._forget(trace_id, "discarded")

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, "held": self._held, "traces": len(self._traces)}


def _write_layouts(data: list[tuple[Any, tuple[Any, ...]]]) -> None:
    for line, writes in data:
        for write in writes:
            write(line)


def _exact(data: Any) -> Any:
    """orjson's bytes keep a 4 KiB allocation whatever their length: hold an exact copy."""
    return bytes(memoryview(data)) if type(data) is bytes else data


# --- the active gate ------------------------------------------------------------

_active: Gate | None = None
_exit_registered = False


def gate_for(buffer: Any = None, sampling: Any = None, rate_limit: Any = None) -> Gate | None:
    """The gate for configure()'s settings, or None when none is given (nothing added).

    Its level is set once the outputs' level is known (:meth:`Gate.set_level`).
    """
    for value, kind, name in (
        (buffer, TraceBuffer, "buffer"),
        (sampling, Sampling, "sampling"),
        (rate_limit, RateLimit, "rate_limit"),
    ):
        if value is not None and not isinstance(value, kind):
            raise _error(f"{name}={value!r} is not a tracelog.{kind.__name__}(...)")
    if buffer is None and sampling is None and rate_limit is None:
        return None
    return Gate(buffer, sampling, rate_limit)


def install(gate: Gate | None, pipeline: _pipeline.Pipeline | None) -> None:
    """Make ``gate`` (writing through ``pipeline``) the active one; close the previous one."""
    global _active, _exit_registered
    previous, _active = _active, None
    context._enter_hooks = ()
    context._exit_hooks = ()
    if previous is not None:
        previous.close()
    if gate is None or pipeline is None:
        return
    gate.attach(pipeline)
    _active = gate
    if gate.buffer is not None or gate.sampling is not None:
        context._enter_hooks = (gate.on_enter,)
        context._exit_hooks = (gate.on_exit,)
    if not _exit_registered:
        _exit_registered = True
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            try:  # before the background writer closes its outputs (it registers later)
                register(flush)
            except RuntimeError:
                pass
        atexit.register(flush)


def mark_failed() -> None:
    """The current request failed (say, it answers 5xx): write its held lines now.

    Its later lines below the output level are written as they come, also
    marked buffered. For middlewares and error handlers; does nothing
    without a trace or a configured TraceBuffer.
    """
    gate = _active
    try:
        trace_id = context.current_trace_id()
        if gate is not None and gate.buffer is not None and trace_id is not None:
            gate._fail(trace_id)
    except Exception as error:
        _faults.report("buffering", error)


def begin_trace() -> None:
    """A middleware made the current context a request's trace without a ``trace()`` block.

    Lets sampling follow an upstream ``traceparent`` that said sampled (a
    ``trace()`` block tells this by itself). Pair with :func:`finish_trace`.
    """
    gate = _active
    if gate is None or gate.sampling is None:
        return
    try:
        ctx = context._current.get()
        if ctx is not None and ctx.trace_id is not None:
            with gate._lock:
                if ctx.trace_id not in gate._traces:
                    gate._new_trace(ctx.trace_id, ctx)
    except Exception as error:
        _faults.report("buffering", error)


def finish_trace(status: int | None = None, *, failed: bool = False) -> None:
    """The current request is over: write its held lines if it failed, else let them go.

    It failed with ``failed=True`` or an HTTP ``status`` of 500 and up. For
    middlewares that set the trace context themselves rather than with a
    ``trace()`` block (whose end is seen without help); call it while the
    request's context is still current. Cheap, and a no-op, without a
    TraceBuffer or Sampling.
    """
    gate = _active
    if gate is None or (gate.buffer is None and gate.sampling is None):
        return
    try:
        trace_id = context.current_trace_id()
        if trace_id is None:
            return
        if gate.buffer is not None and (failed or (status is not None and status >= 500)):
            gate._fail(trace_id)
        with gate._lock:
            gate._forget(trace_id, "discarded")
    except Exception as error:
        _faults.report("buffering", error)


def buffer_trace(enabled: bool = True) -> None:
    """Hold the current trace's lines (or, with False, stop holding and drop them).

    With ``TraceBuffer(all_traces=False)`` only traces that call this hold
    lines; with the default every trace does, and this opts one out.
    """
    gate = _active
    trace_id = context.current_trace_id()
    if gate is None or gate.buffer is None or trace_id is None:
        return
    with gate._lock:
        state = gate._traces.get(trace_id) or gate._new_trace(trace_id)
        state.enabled = bool(enabled)
        if not enabled:
            gate._let_go(trace_id, state, "discarded")


def flush() -> None:
    """Write pending rate-limit summary lines now (also done at exit and by reconfiguring)."""
    gate = _active
    if gate is not None:
        try:
            gate.flush()
        except Exception as error:
            _faults.report("buffering", error)


def stats() -> dict[str, int]:
    """Counters of the active setup since configure().

    ``flushed``: held lines written because their trace failed;
    ``discarded``: held lines let go because their trace ended cleanly;
    ``dropped``: held lines let go to stay within max_per_trace/max_total;
    ``sampled_out``: lines not written because their trace was not sampled
    (and not held); ``rate_limited``: lines suppressed by the rate limit;
    ``held``: lines held now; ``traces``: traces tracked now.
    """
    gate = _active
    if gate is None:
        return {**dict.fromkeys(_COUNTERS, 0), "held": 0, "traces": 0}
    return gate.stats()
