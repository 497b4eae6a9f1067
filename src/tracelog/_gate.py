"""The chain step behind ``configure(buffer=..., sampling=..., rate_limit=...)``.

:class:`Gate` holds the lines of each trace until it fails or ends, samples
whole traces and rate-limits lines. The state of each trace is kept by trace
id under a lock, not in a ContextVar, so the async tasks and ``wrap()``-ed
threads of one trace share it. The settings and the functions that drive the
active gate are in :mod:`tracelog.buffering`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from structlog import DropEvent

from tracelog import _faults, context
from tracelog import pipeline as _pipeline
from tracelog._ratelimit import Limiter
from tracelog.render import compact
from tracelog.schema import TRACE_ID
from tracelog.typing import EventDict, Processor, WrappedLogger

if TYPE_CHECKING:
    from tracelog.buffering import RateLimit, Sampling, TraceBuffer

__all__ = ["BUFFERED", "Gate"]

#: The key marking a line that was held back and written because its trace failed.
BUFFERED = "buffered"

_LEVELS = _pipeline.LEVELS
_ERROR = logging.ERROR
_NEVER = 1 << 30  # a level no line reaches
_MAX_TRACES = 100_000  # trace states kept at once (held lines are bounded by max_total)
_COUNTERS = ("flushed", "discarded", "dropped", "sampled_out", "rate_limited")


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
            data = compact(data)
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
                found = context.current_var.get()
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
                rendered.append((compact(line), writes))
        return rendered

    def _line_writer(self) -> Callable[[Any], None]:
        """What writes one held line: the pipeline's write, or each output layout's writes."""
        if self._layouts is not None:
            return _write_layouts
        pipeline = self._pipeline
        return pipeline.write if pipeline is not None else _pipeline.discard

    # --- trace ends (hooks run by trace()/span()/use() blocks) -----------------

    def _entering(self, ctx: context.TraceContext) -> bool:
        """Whether a block with ``ctx`` enters (or leaves) its trace, rather than a span in it."""
        if ctx.trace_id is None:
            return False
        outer = context.current_var.get()
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
