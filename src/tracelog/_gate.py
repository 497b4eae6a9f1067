"""The chain step behind ``configure(buffer=..., sampling=..., rate_limit=...)``.

:class:`Gate` holds the lines of each request until it fails or ends, samples
whole traces and rate-limits lines. A request is the span a ``trace()`` block
or an integration's :meth:`~tracelog.context.Activation.start` began, with the
spans inside it: two requests that continue one upstream trace id (a client
that reuses its ``traceparent``, a retry, a fan-out) are held, flushed and let
go apart. The state is kept under a lock by that key, not in a ContextVar, so
the async tasks and ``wrap()``-ed threads of one request share it; a line
whose span is not known here (an OpenTelemetry span, say) is held by its trace
id. Held lines are bounded in count and in bytes. The settings and the
functions that drive the active gate are in :mod:`tracelog.buffering`.
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
from tracelog.fields import SPAN_ID, TRACE_ID
from tracelog.render import compact
from tracelog.typing import EventDict, Processor, WrappedLogger

if TYPE_CHECKING:
    from tracelog._buffer_options import RateLimit, Sampling, TraceBuffer

__all__ = ["BUFFERED", "COUNTERS", "ERROR", "Gate"]

#: The key marking a line that was held back and written because its trace failed.
BUFFERED = "buffered"

_LEVELS = _pipeline.LEVELS
_ERROR = logging.ERROR
ERROR = _ERROR
_NEVER = 1 << 30  # a level no line reaches
_MAX_TRACES = 100_000  # trace states kept at once (held lines are bounded by max_total)
_MAX_SPANS = 4 * _MAX_TRACES  # open spans known at once (one never left is let go in time)
_COUNTERS = ("flushed", "discarded", "dropped", "sampled_out", "rate_limited")
COUNTERS = _COUNTERS
MEMORY = "buffering: out of memory"


def _size(data: Any) -> int:
    """Bytes of a held line (one rendering, or one per output layout)."""
    if isinstance(data, (bytes, str)):
        return len(data)
    try:
        return sum(len(line) for line, _ in data)
    except Exception:
        return 0


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
        # Span id -> the key of the request it belongs to: see the module docstring.
        self._requests: dict[str, str] = {}
        self._held = 0
        self._held_bytes = 0
        self._max_bytes = buffer.max_bytes if buffer is not None else 0
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
            self._hold_safely(self._key(event_dict), logger, method_name, event_dict, None)
            raise DropEvent
        if levelno >= self._flush_level:
            key = self._key(event_dict)
            if key is not None:
                self._fail(key)
            return event_dict
        if levelno < self._keep_level:
            key = self._key(event_dict)
            if key is not None and not self._is_sampled(key):
                if self.buffer is None or levelno < self.buffer.level:
                    self._count("sampled_out")
                else:
                    self._hold_safely(key, logger, method_name, event_dict, "sampled_out")
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

    def _key(self, event_dict: EventDict) -> str | None:
        """The key a line is held under: its request's, else its trace id."""
        trace_id = event_dict.get(TRACE_ID)
        if trace_id is None:
            return None
        span_id = event_dict.get(SPAN_ID)
        key = self._requests.get(span_id) if span_id is not None else None
        return key if key is not None and key.startswith(trace_id) else trace_id

    def key_of(self, ctx: context.TraceContext | None) -> str | None:
        """The key of the request ``ctx`` belongs to (its trace id if not known here)."""
        if ctx is None or ctx.trace_id is None:
            return None
        return self._key({TRACE_ID: ctx.trace_id, SPAN_ID: ctx.span_id})

    def _hold_safely(
        self,
        key: str | None,
        logger: WrappedLogger,
        method_name: str,
        event_dict: EventDict,
        counter: str | None,
    ) -> None:
        """:meth:`_hold`, and if memory runs out: drop this line and every held one, counted."""
        try:
            self._hold(key, logger, method_name, event_dict, counter)
        except MemoryError:
            with self._lock:
                self._counts["dropped"] += 1
                self._shed()
            _faults.report(MEMORY, "out of memory while holding a line: held lines dropped")

    def _shed(self) -> None:
        """(Under the lock.) Let go of every held line, counted as dropped."""
        holding = self._holding
        while holding:
            key, state = holding.popitem(last=False)
            self._let_go(key, state, "dropped")

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
        size = _size(data)
        with self._lock:
            state = self._traces.get(trace_id)
            if state is None and buffer.all_traces:
                state = self._new_trace(trace_id)
            if state is None or not state.enabled:
                if counter is not None:
                    self._counts[counter] += 1
                return
            if not state.failed:
                if size > self._max_bytes:  # alone over the bound: never held
                    self._counts["dropped"] += 1
                    return
                lines = state.lines
                if lines is None:
                    lines = state.lines = deque()
                    self._holding[trace_id] = state
                elif len(lines) == self._maxlen:
                    self._counts["dropped"] += 1
                    self._held -= 1
                    self._held_bytes -= _size(lines.popleft())
                lines.append(data)
                self._held += 1
                self._held_bytes += size
                if self._held > buffer.max_total or self._held_bytes > self._max_bytes:
                    self._evict(trace_id)
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
        ids = trace_id[:32]  # a request's key starts with its trace id
        sampled = True
        sampling = self.sampling
        if sampling is not None:
            flag_from = root
            if flag_from is None:
                found = context.current_var.get()
                flag_from = found if found is not None and found.trace_id == ids else None
            if sampling.parent_based and flag_from is not None and not flag_from.sampled:
                sampled = False
            elif sampling.parent_based and root is not None and root.parent_span_id:
                sampled = True  # continued from upstream, which sampled it
            else:
                sampled = int(ids[16:], 16) < self._threshold
        state = _Trace(sampled, self.buffer is not None and self.buffer.all_traces)
        traces[trace_id] = state
        return state

    def _is_sampled(self, trace_id: str) -> bool:
        state = self._traces.get(trace_id)
        if state is None:
            with self._lock:
                state = self._traces.get(trace_id) or self._new_trace(trace_id)
        return state.sampled

    def _request_key(self, ctx: context.TraceContext) -> str:
        """(Under the lock.) Remember ``ctx`` as a request's first span; return its key."""
        requests = self._requests
        if len(requests) >= _MAX_SPANS:
            del requests[next(iter(requests))]
        key = f"{ctx.trace_id}/{ctx.span_id}"
        if ctx.span_id is not None:
            requests[ctx.span_id] = key
        return key

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
            self._held_bytes -= sum(map(_size, state.lines))
            self._counts[counter] += len(state.lines)
        state.lines = None

    def _evict(self, adding: str) -> None:
        """Over ``max_total`` or ``max_bytes`` (under the lock): the earliest holding traces
        lose their lines; the one just added to, last, and then its oldest lines."""
        assert self.buffer is not None
        holding = self._holding
        limit, max_bytes = self.buffer.max_total, self._max_bytes
        while (self._held > limit or self._held_bytes > max_bytes) and len(holding) > 1:
            key = next(iter(holding))
            if key == adding:
                holding.move_to_end(key)
                continue
            self._let_go(key, holding[key], "dropped")
        adding_state = holding.get(adding)
        lines = adding_state.lines if adding_state is not None else None
        while lines and (self._held > limit or self._held_bytes > max_bytes):
            self._held -= 1
            self._held_bytes -= _size(lines.popleft())
            self._counts["dropped"] += 1

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
            if ctx.trace_id is None:
                return
            if not self._entering(ctx):  # a span inside: it belongs to the enclosing request
                outer = self.key_of(context.current_var.get())
                if ctx.span_id is not None and outer is not None and outer != ctx.trace_id:
                    with self._lock:
                        self._requests[ctx.span_id] = outer
                return
            with self._lock:
                key = self._request_key(ctx)
                state = self._traces.get(key) or self._new_trace(key, ctx)
                state.open += 1
        except Exception as error:
            _faults.report("buffering", error)

    def on_exit(self, ctx: context.TraceContext, error: BaseException | None) -> None:
        try:
            if ctx.trace_id is None:
                return
            key = self.key_of(ctx)
            if not self._entering(ctx):
                if ctx.span_id is not None:
                    with self._lock:
                        self._requests.pop(ctx.span_id, None)
                return
            if key is None:
                return
            if isinstance(error, Exception) and self.buffer is not None:
                self._fail(key)
            with self._lock:
                state = self._traces.get(key)
                if state is not None:
                    state.open -= 1
                    if state.open <= 0:
                        self._forget(key, "discarded")
                        if ctx.span_id is not None:
                            self._requests.pop(ctx.span_id, None)
        except Exception as fault:
            _faults.report("buffering", fault)

    # --- requests run by integrations (Activation.start/finish) ----------------

    def request_started(self, ctx: context.TraceContext) -> None:
        """An integration made ``ctx`` a request's context: hold its lines apart."""
        if ctx.trace_id is None:
            return
        with self._lock:
            key = self._request_key(ctx)
            if key not in self._traces:
                self._new_trace(key, ctx)

    def request_finished(self, ctx: context.TraceContext, status: int | None, failed: bool) -> None:
        """The request of ``ctx`` ended: write its held lines if it failed, else let them go."""
        key = self.key_of(ctx)
        if key is None:
            return
        if self.buffer is not None and (failed or (status is not None and status >= 500)):
            self._fail(key)
        with self._lock:
            self._forget(key, "discarded")
            if ctx.span_id is not None and self._requests.get(ctx.span_id) == key:
                del self._requests[ctx.span_id]

    def fail_current(self) -> None:
        """The current request failed: write its held lines now, and later ones as they come."""
        key = self.key_of(context.current())
        if key is not None and self.buffer is not None:
            self._fail(key)

    def buffer_current(self, enabled: bool) -> None:
        """Hold the current request's lines (or stop holding them and let them go)."""
        key = self.key_of(context.current())
        if key is None or self.buffer is None:
            return
        with self._lock:
            state = self._traces.get(key) or self._new_trace(key)
            state.enabled = bool(enabled)
            if not enabled:
                self._let_go(key, state, "discarded")

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
            return {
                **self._counts,
                "held": self._held,
                "held_bytes": self._held_bytes,
                "traces": len(self._traces),
            }


def _write_layouts(data: list[tuple[Any, tuple[Any, ...]]]) -> None:
    for line, writes in data:
        for write in writes:
            write(line)
