"""tracelog.outputs.OpenTelemetry: events handed to the OpenTelemetry SDK, read back in memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk._logs")

from opentelemetry import trace as otel_trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

import tracelog
from _otlp_receiver import OTLPReceiver
from tracelog.outputs.otel_sdk import OpenTelemetry
from tracelog.outputs.shipping.otlp import OTLP
from tracelog.processors import CallSite

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()


@pytest.fixture
def provider(exporter: InMemoryLogRecordExporter) -> Iterator[LoggerProvider]:
    provider = LoggerProvider(resource=Resource.create({"service.name": "sdk-service"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield provider
    provider.shutdown()


def finished(exporter: InMemoryLogRecordExporter) -> list[Any]:
    return [data.log_record for data in exporter.get_finished_logs()]


class TestOpenTelemetry:
    def test_mapping(self, provider: LoggerProvider, exporter: InMemoryLogRecordExporter) -> None:
        tracelog.configure(
            outputs=[OpenTelemetry(provider)], service="shop", processors=[CallSite()]
        )
        log = tracelog.get_logger("shop.orders")
        with tracelog.trace(TRACE, sampled=True) as ctx:
            log.warning(
                "low stock", item={"sku": "a-1", "left": [1, 2]}, event_name="stock.low", n=3
            )
            try:
                1 / 0
            except ZeroDivisionError:
                log.exception("boom")
        [warning, error] = finished(exporter)
        assert (SeverityNumber.WARN, "WARNING") == (warning.severity_number, warning.severity_text)
        assert "low stock" == warning.body
        assert "stock.low" == warning.event_name
        assert int(TRACE, 16) == warning.trace_id
        assert int(ctx.span_id, 16) == warning.span_id
        assert 1 == int(warning.trace_flags)
        attributes = dict(warning.attributes)
        assert {"sku": "a-1", "left": (1, 2)} == {
            key: tuple(value) if isinstance(value, (list, tuple)) else value
            for key, value in dict(attributes["item"]).items()
        }
        assert 3 == attributes["n"]
        assert "test_mapping" == attributes["code.function"]
        assert "event_name" not in attributes
        assert warning.timestamp == warning.observed_timestamp
        assert SeverityNumber.ERROR == error.severity_number
        assert "ZeroDivisionError" == error.attributes["exception.type"]
        assert "Traceback" in error.attributes["exception.stacktrace"]
        scopes = {data.instrumentation_scope.name for data in exporter.get_finished_logs()}
        assert {"shop.orders"} == scopes
        assert "sdk-service" == exporter.get_finished_logs()[0].resource.attributes["service.name"]

    def test_trace_from_the_opentelemetry_span(
        self, provider: LoggerProvider, exporter: InMemoryLogRecordExporter
    ) -> None:
        tracelog.configure(outputs=[OpenTelemetry(provider)])
        span_context = otel_trace.SpanContext(
            int(TRACE, 16), int(SPAN, 16), False, otel_trace.TraceFlags(1)
        )
        with otel_trace.use_span(otel_trace.NonRecordingSpan(span_context)):
            logging.getLogger("lib").error("from a library")
        [record] = finished(exporter)
        assert (int(TRACE, 16), int(SPAN, 16)) == (record.trace_id, record.span_id)
        assert "lib" == exporter.get_finished_logs()[0].instrumentation_scope.name

    def test_outside_any_trace(
        self, provider: LoggerProvider, exporter: InMemoryLogRecordExporter
    ) -> None:
        tracelog.configure(outputs=[OpenTelemetry(provider)])
        tracelog.get_logger("x").info("plain")
        [record] = finished(exporter)
        assert 0 == record.trace_id
        assert "plain" == record.body

    def test_global_provider(
        self,
        provider: LoggerProvider,
        exporter: InMemoryLogRecordExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("opentelemetry._logs.get_logger_provider", lambda: provider)
        output = OpenTelemetry()
        tracelog.configure(outputs=[output])
        tracelog.get_logger("x").info("via the global provider")
        assert ["via the global provider"] == [r.body for r in finished(exporter)]
        assert output.flush(5)
        assert {"written": 1, "dropped": 0} == output.stats()

    def test_level(self, provider: LoggerProvider, exporter: InMemoryLogRecordExporter) -> None:
        tracelog.configure(outputs=[OpenTelemetry(provider, level="WARNING")], level="DEBUG")
        log = tracelog.get_logger("x")
        log.info("no")
        log.warning("yes")
        assert ["yes"] == [r.body for r in finished(exporter)]

    def test_a_failing_provider_is_counted_never_raised(self) -> None:
        class Broken:
            def get_logger(self, name: str) -> Any:
                raise RuntimeError("broken provider")

        output = OpenTelemetry(Broken())
        tracelog.configure(outputs=[output])
        tracelog.get_logger("x").info("lost")
        assert {"written": 0, "dropped": 1} == output.stats()


def test_same_mapping_as_the_otlp_output(
    provider: LoggerProvider, exporter: InMemoryLogRecordExporter
) -> None:
    """The bridge and the OTLP output give the same record for the same event."""
    with OTLPReceiver() as receiver:
        shipper = OTLP(receiver.url, protocol="http/json")
        try:
            tracelog.configure(outputs=[OpenTelemetry(provider), shipper], service="shop")
            with tracelog.trace():
                tracelog.get_logger("shop").info(
                    "same", event_name="e", nested={"a": [1, {"b": True}]}, x=1.5
                )
            assert shipper.flush(10)
        finally:
            shipper.close(2)
        [sent] = receiver.records
    [bridged] = finished(exporter)
    assert sent.trace_id == f"{bridged.trace_id:032x}"
    assert sent.span_id == f"{bridged.span_id:016x}"
    assert (sent.severity_number, sent.severity_text, sent.body, sent.event_name) == (
        bridged.severity_number.value,
        bridged.severity_text,
        bridged.body,
        bridged.event_name,
    )
    assert sent.time_unix_nano == bridged.timestamp

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if hasattr(value, "items"):
            return {key: plain(item) for key, item in value.items()}
        return value

    assert sent.attributes == plain(dict(bridged.attributes))
