"""Hand each event to the OpenTelemetry SDK as a log record: ``tracelog.outputs.OpenTelemetry``.

For services that already run the SDK with a ``LoggerProvider`` and its
exporters: the SDK then does batching, resources and export. The record is
the one the OTLP output sends (same severity, body, attributes, ``code.*``,
``exception.*``, ``event_name``; see :mod:`tracelog.outputs.shipping._logrecord`),
except that the resource is the provider's. Its trace context is the line's
(tracelog's trace, or the OpenTelemetry span current at the call); a line
outside any trace takes the OpenTelemetry context current where it is written.

Needs ``opentelemetry-sdk`` (or any ``LoggerProvider`` implementation).
"""

from __future__ import annotations

import threading
from typing import Any

from tracelog import _faults
from tracelog.outputs._stream import parse_level
from tracelog.outputs.shipping._logrecord import LogRecordData, record_from_line

__all__ = ["OpenTelemetry"]


class OpenTelemetry:
    """An output that emits each event through an OpenTelemetry ``LoggerProvider``.

    - ``logger_provider``: the provider; None: the global one
      (``opentelemetry._logs.get_logger_provider()``), looked up at each write so a
      provider set after ``configure()`` is used.
    - ``level``: minimum level for this output (None: the configured level).

    One OpenTelemetry logger per tracelog logger name (the instrumentation scope).
    """

    format = "json"
    schema = "default"  # laid out as otel by the shared mapping, nested values kept
    name = "opentelemetry"

    def __init__(self, logger_provider: Any = None, *, level: int | str | None = None) -> None:
        from opentelemetry import _logs, trace
        from opentelemetry._logs import LogRecord, SeverityNumber

        self.level = parse_level(level)
        self.logger_provider = logger_provider
        self._get_global = _logs.get_logger_provider
        self._trace = trace
        self._record_class = LogRecord
        self._severity = SeverityNumber
        self._lock = threading.Lock()
        self._loggers: dict[str, Any] = {}
        self._provider: Any = None
        self._counts = {"written": 0, "dropped": 0}

    def __repr__(self) -> str:
        return f"OpenTelemetry(logger_provider={self.logger_provider!r})"

    def _logger(self, scope: str) -> Any:
        provider = self.logger_provider or self._get_global()
        if provider is not self._provider:
            self._provider = provider
            self._loggers = {}
        logger = self._loggers.get(scope)
        if logger is None:
            logger = provider.get_logger(scope or "tracelog")
            self._loggers[scope] = logger
        return logger

    def _context(self, record: LogRecordData) -> Any:
        if record.trace_id is None or record.span_id is None:
            return None
        trace = self._trace
        span_context = trace.SpanContext(
            int(record.trace_id, 16),
            int(record.span_id, 16),
            is_remote=False,
            trace_flags=trace.TraceFlags(record.flags),
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(span_context))

    def write(self, line: bytes | str) -> None:
        """Emit one rendered line as a log record. Never raises."""
        try:
            record = record_from_line(line if isinstance(line, bytes) else line.encode())
            log_record = self._record_class(
                timestamp=record.time_unix_nano,
                observed_timestamp=record.time_unix_nano,
                context=self._context(record),
                severity_text=record.severity_text,
                severity_number=self._severity(record.severity_number),
                body=record.body,
                attributes=record.attributes or None,
                event_name=record.event_name,
            )
            with self._lock:
                logger = self._logger(record.scope)
            logger.emit(log_record)
            with self._lock:
                self._counts["written"] += 1
        except Exception as error:
            with self._lock:
                self._counts["dropped"] += 1
            _faults.report("opentelemetry", error)

    __call__ = write

    def flush(self, timeout: float | None = None) -> bool:
        """``force_flush`` the provider (when it has one); True when it says it is done."""
        provider = self.logger_provider or self._get_global()
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is None:
            return True
        try:
            millis = 30_000 if timeout is None else max(int(timeout * 1000), 1)
            return force_flush(millis) is not False
        except Exception as error:
            _faults.report("opentelemetry", error)
            return False

    def close(self, timeout: float | None = None) -> None:
        """Flush; the provider itself belongs to the application, which shuts it down."""
        self.flush(timeout)

    def stats(self) -> dict[str, int]:
        """``written`` (handed to the SDK) and ``dropped`` (the SDK refused them)."""
        with self._lock:
            return dict(self._counts)
