"""OpenTelemetry: one set of ids for logs and spans when both run in a process.

- :func:`use_current_span` makes tracelog's context mirror the current
  OpenTelemetry span (its trace id, span id, sampled flag and tracestate),
  so tracelog lines logged inside carry the span's ids along with tracelog's
  bound fields. Outside any tracelog context tracelog already falls back to
  the current span's ids; this is for code that binds fields too.
- :func:`span_context` turns a tracelog context into an OpenTelemetry
  ``SpanContext``, and :func:`attach` makes it OpenTelemetry's current
  (remote) parent, so OpenTelemetry-instrumented clients continue tracelog's
  trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tracelog import context
from tracelog.context import Activation, TraceContext
from tracelog.propagation import parse_tracestate

__all__ = ["attach", "span_context", "use_current_span"]


def use_current_span(**fields: Any) -> Activation:
    """Run a block in a tracelog context with the current OpenTelemetry span's ids.

    With no valid current span it starts a new tracelog trace instead.
    """
    from opentelemetry import trace

    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return context.trace(**fields)
    outer = context.current()
    base = dict(outer.fields) if outer is not None else {}
    base.update(fields)
    tracestate = parse_tracestate(span.trace_state.to_header()) if span.trace_state else None
    return Activation(
        TraceContext(
            f"{span.trace_id:032x}",
            f"{span.span_id:016x}",
            None,
            bool(span.trace_flags & 1),
            tracestate,
            None,
            base,
            bool(span.trace_flags & 2),
        )
    )


def span_context(ctx: TraceContext | None = None) -> Any:
    """The current (or given) tracelog context as a remote OpenTelemetry ``SpanContext``."""
    from opentelemetry import trace

    ctx = ctx if ctx is not None else context.current()
    if ctx is None or ctx.trace_id is None or ctx.span_id is None:
        return trace.INVALID_SPAN_CONTEXT
    state = trace.TraceState.from_header([ctx.tracestate]) if ctx.tracestate else None
    return trace.SpanContext(
        int(ctx.trace_id, 16),
        int(ctx.span_id, 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(ctx.trace_flags),
        trace_state=state,
    )


@contextmanager
def attach(ctx: TraceContext | None = None) -> Iterator[None]:
    """Make tracelog's current span OpenTelemetry's current (remote) parent for a block."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    token = otel_context.attach(
        trace.set_span_in_context(trace.NonRecordingSpan(span_context(ctx)))
    )
    try:
        yield
    finally:
        otel_context.detach(token)
