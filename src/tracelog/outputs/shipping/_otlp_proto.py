"""OTLP/protobuf with the official ``opentelemetry-proto`` classes (``pip install tracelog[otlp]``).

Imported only by an OTLP output using ``http/protobuf``, in its sender thread's
first batch or at construction, never by ``import tracelog``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from tracelog.outputs.shipping._logrecord import Groups, LogRecordData

__all__ = ["any_value", "key_values", "partial_success", "records_protobuf"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def any_value(value: Any) -> AnyValue:
    kind = type(value)
    if kind is str:
        return AnyValue(string_value=value)
    if kind is bool:
        return AnyValue(bool_value=value)
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return AnyValue(int_value=value)
        return AnyValue(string_value=str(value))
    if kind is float:
        return AnyValue(double_value=value)
    if value is None:
        return AnyValue()
    if isinstance(value, Mapping):
        return AnyValue(kvlist_value=KeyValueList(values=key_values(value)))
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(item) for item in value]))
    return AnyValue(string_value=str(value))


def key_values(values: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=str(key), value=any_value(value)) for key, value in values.items()]


def _record(record: LogRecordData) -> LogRecord:
    out = LogRecord(
        time_unix_nano=record.time_unix_nano,
        observed_time_unix_nano=record.time_unix_nano,
        severity_number=record.severity_number,  # type: ignore[arg-type]
        attributes=key_values(record.attributes),
    )
    if record.severity_text is not None:
        out.severity_text = record.severity_text
    if record.body is not None:
        out.body.CopyFrom(any_value(record.body))
    if record.trace_id is not None:
        out.trace_id = bytes.fromhex(record.trace_id)
        out.flags = record.flags
        if record.span_id is not None:
            out.span_id = bytes.fromhex(record.span_id)
    if record.event_name is not None:
        out.event_name = record.event_name
    return out


def records_protobuf(groups: Groups) -> bytes:
    """An ``ExportLogsServiceRequest``, serialised."""
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=key_values(resource)),
                scope_logs=[
                    ScopeLogs(
                        scope=InstrumentationScope(name=scope),
                        log_records=[_record(record) for record in records],
                    )
                    for scope, records in scopes
                ],
            )
            for resource, scopes in groups
        ]
    )
    return bytes(request.SerializeToString())


def partial_success(body: bytes) -> tuple[int, str]:
    """(rejected_log_records, error_message) of an ``ExportLogsServiceResponse``."""
    response = ExportLogsServiceResponse.FromString(body)
    if not response.HasField("partial_success"):
        return 0, ""
    return response.partial_success.rejected_log_records, response.partial_success.error_message
