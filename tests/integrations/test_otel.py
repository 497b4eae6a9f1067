"""OpenTelemetry bridge: tracelog lines with a span's ids, and tracelog's trace as OTel's parent."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import tracelog
from tracelog.integrations import otel


@pytest.fixture(scope="module")
def tracer() -> Any:
    return TracerProvider().get_tracer("tests")


def test_use_current_span(tracer: Any, tracelog_events: Any) -> None:
    with tracer.start_as_current_span("work") as span:
        with otel.use_current_span(user=7):
            tracelog.get_logger("t").info("inside")
        ids = span.get_span_context()
    (event,) = [e for e in tracelog_events if e["logger"] == "t"]
    assert f"{ids.trace_id:032x}" == event["trace_id"]
    assert f"{ids.span_id:016x}" == event["span_id"]
    assert 7 == event["user"]


def test_use_current_span_without_a_span_starts_a_trace() -> None:
    with otel.use_current_span() as ctx:
        assert ctx.trace_id is not None


def test_tracelog_trace_as_otel_parent(tracer: Any) -> None:
    with tracelog.trace(tracestate="congo=t61rcWkgMzE") as ctx, otel.attach():
        with tracer.start_as_current_span("child") as span:
            child = span.get_span_context()
            carrier: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(carrier)
    assert ctx.trace_id == f"{child.trace_id:032x}"
    assert ctx.span_id == f"{span.parent.span_id:016x}"
    assert carrier["tracestate"] == "congo=t61rcWkgMzE"


def test_span_context_outside_a_trace_is_invalid() -> None:
    assert not otel.span_context().is_valid
