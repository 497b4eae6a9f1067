"""Trace-aware buffering, sampling and rate limiting: debug lines only for the requests that fail.

``configure(buffer=..., sampling=..., rate_limit=...)`` turns these settings
into one chain step, :class:`Gate`, placed after redaction and before schema
projection and rendering. The state of each trace is kept by trace id under a
lock, not in a ContextVar, so the async tasks and ``wrap()``-ed threads of one
trace share it. See docs/buffering.md.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from tracelog import _faults, context
from tracelog import pipeline as _pipeline
from tracelog._buffer_options import RateLimit, Sampling, TraceBuffer
from tracelog._errors import ConfigurationError
from tracelog._gate import BUFFERED, COUNTERS, Gate

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
            raise ConfigurationError(f"{name}={value!r} is not a tracelog.{kind.__name__}(...)")
    if buffer is None and sampling is None and rate_limit is None:
        return None
    return Gate(buffer, sampling, rate_limit)


def install(gate: Gate | None, pipeline: _pipeline.Pipeline | None) -> None:
    """Make ``gate`` (writing through ``pipeline``) the active one; close the previous one."""
    global _active, _exit_registered
    previous, _active = _active, None
    context.set_hooks()
    if previous is not None:
        previous.close()
    if gate is None or pipeline is None:
        return
    gate.attach(pipeline)
    _active = gate
    if gate.buffer is not None or gate.sampling is not None:
        context.set_hooks(
            enter=gate.on_enter, exit=gate.on_exit, start=_request_started, finish=_request_finished
        )
    if not _exit_registered:
        _exit_registered = True
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            try:  # before the background writer closes its outputs (it registers later)
                register(flush)
            except RuntimeError:
                pass
        atexit.register(flush)


def active() -> Gate | None:
    """The gate configure() installed, or None without a buffer, sampling or rate limit."""
    return _active


def mark_failed() -> None:
    """The current request failed (say, it answers 5xx): write its held lines now.

    Its later lines below the output level are written as they come, also
    marked buffered. For middlewares and error handlers; does nothing
    without a trace or a configured TraceBuffer.
    """
    gate = _active
    try:
        if gate is not None:
            gate.fail_current()
    except Exception as error:
        _faults.report("buffering", error)


def begin_trace() -> None:
    """A middleware made the current context a request's trace without a ``trace()`` block.

    Lets sampling follow an upstream ``traceparent`` that said sampled (a
    ``trace()`` block tells this by itself). Pair with :func:`finish_trace`.
    Integrations do this through :meth:`tracelog.context.Activation.start`.
    """
    ctx = context.current()
    if ctx is not None:
        _request_started(ctx)


def _request_started(ctx: context.TraceContext) -> None:
    gate = _active
    if gate is None or (gate.buffer is None and gate.sampling is None):
        return
    try:
        gate.request_started(ctx)
    except Exception as error:
        _faults.report("buffering", error)


def finish_trace(status: int | None = None, *, failed: bool = False) -> None:
    """The current request is over: write its held lines if it failed, else let them go.

    It failed with ``failed=True`` or an HTTP ``status`` of 500 and up. For
    middlewares that set the trace context themselves rather than with a
    ``trace()`` block (whose end is seen without help); call it while the
    request's context is still current. Cheap, and a no-op, without a
    TraceBuffer or Sampling. Integrations do this through
    :meth:`tracelog.context.Activation.finish`.
    """
    ctx = context.current()
    if ctx is not None:
        _request_finished(ctx, status, failed)


def _request_finished(ctx: context.TraceContext, status: int | None, failed: bool) -> None:
    gate = _active
    if gate is None or (gate.buffer is None and gate.sampling is None):
        return
    try:
        gate.request_finished(ctx, status, failed)
    except Exception as error:
        _faults.report("buffering", error)


def buffer_trace(enabled: bool = True) -> None:
    """Hold the current trace's lines (or, with False, stop holding and drop them).

    With ``TraceBuffer(all_traces=False)`` only traces that call this hold
    lines; with the default every trace does, and this opts one out.
    """
    gate = _active
    if gate is not None:
        gate.buffer_current(enabled)


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
    ``held``: lines held now, ``held_bytes`` their size; ``traces``: requests and
    traces tracked now.
    """
    gate = _active
    if gate is None:
        return {**dict.fromkeys(COUNTERS, 0), "held": 0, "held_bytes": 0, "traces": 0}
    return gate.stats()
