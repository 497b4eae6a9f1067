"""An event as an OpenTelemetry LogRecord: the one mapping, two encodings and the SDK bridge.

The OTLP output and the SDK bridge take the ``default`` line (the canonical
event) and lay it out with the ``otel`` schema itself (:class:`Projection`,
keeping nested values as they are), so the names are the ``otel`` schema's
(``severity_number``, ``body``, ``attributes`` with ``exception.*`` and
``code.*``, ``resource``, ``instrumentation_scope``) and come from its one
table. This module reads that layout into a :class:`LogRecordData`, which the
OTLP output encodes as OTLP/JSON or protobuf and the SDK bridge hands to a
``LoggerProvider``. Values are OTLP ``AnyValue``: nested mappings become
``kvlist_value``, lists ``array_value``.
"""

from __future__ import annotations

import datetime
import os
import re
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import orjson

from tracelog.fields import LEVEL
from tracelog.outputs.shipping._line import rfc3339_to_ns
from tracelog.schema import Projection

__all__ = [
    "EVENT_NAME",
    "Groups",
    "LogRecordData",
    "any_value_json",
    "parse_key_values",
    "record_from_line",
    "record_from_otel",
    "records_json",
    "resource_from_env",
]

#: A call's field naming the event (``log.info("paid", event_name="order.paid")``).
EVENT_NAME = "event_name"
UNKNOWN_SERVICE = "unknown_service:python"

_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
_HEX16 = re.compile(r"[0-9a-f]{16}\Z")
_HEX2 = re.compile(r"[0-9a-f]{2}\Z")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_LAID_OUT = frozenset(
    (
        "timestamp",
        "severity_text",
        "severity_number",
        "body",
        "trace_id",
        "span_id",
        "trace_flags",
        "instrumentation_scope",
        "resource",
        "attributes",
    )
)


class LogRecordData:
    """One event as the OpenTelemetry log data model sees it (ids as hex, values plain)."""

    __slots__ = (
        "attributes",
        "body",
        "event_name",
        "flags",
        "resource",
        "scope",
        "severity_number",
        "severity_text",
        "span_id",
        "time_unix_nano",
        "trace_id",
    )

    def __init__(
        self,
        time_unix_nano: int,
        severity_number: int = 0,
        severity_text: str | None = None,
        body: Any = None,
        attributes: dict[str, Any] | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        flags: int = 0,
        event_name: str | None = None,
        scope: str = "",
        resource: dict[str, Any] | None = None,
    ) -> None:
        self.time_unix_nano = time_unix_nano
        self.severity_number = severity_number
        self.severity_text = severity_text
        self.body = body
        self.attributes = attributes if attributes is not None else {}
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.event_name = event_name
        self.scope = scope
        self.resource = resource if resource is not None else {}

    def __repr__(self) -> str:
        return f"LogRecordData({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"


#: Records per resource, then per scope (the logger name), in the order they came.
Groups = list[tuple[dict[str, Any], list[tuple[str, list[LogRecordData]]]]]


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)


def _time_ns(stamp: str) -> int | None:
    """Nanoseconds of an RFC 3339 time; the pipeline's own form (``...T...123456Z``) in C."""
    if len(stamp) == 27 and stamp[-1] == "Z" and stamp[10] == "T":
        try:
            moment = datetime.datetime.fromisoformat(stamp[:-1] + "+00:00")
        except ValueError:
            pass
        else:
            return (moment - _EPOCH) // _MICROSECOND * 1000
    return rfc3339_to_ns(stamp)


_OTEL = Projection("otel", any_values=True)


def record_from_line(line: bytes) -> LogRecordData:
    """The LogRecord of one ``default``-schema line; anything else becomes a record of that body."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        event = None
    if not isinstance(event, dict):
        return LogRecordData(time.time_ns(), body=line.decode("utf-8", "replace").rstrip("\r\n"))
    level = event.get(LEVEL)
    return record_from_otel(_OTEL(None, level if isinstance(level, str) else "info", event))


def record_from_otel(document: Mapping[str, Any]) -> LogRecordData:
    """The LogRecord of an event laid out in the ``otel`` schema."""
    stamp = document.get("timestamp")
    time_ns = _time_ns(stamp) if isinstance(stamp, str) else None
    severity = document.get("severity_number")
    text = document.get("severity_text")
    given = document.get("attributes")
    attributes: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    for key, value in document.items():  # a field laid out elsewhere (a rename) is kept too
        if key not in _LAID_OUT:
            attributes.setdefault(key, value)
    named = attributes.get(EVENT_NAME)
    event_name = named if isinstance(named, str) and named else None
    if event_name is not None:
        del attributes[EVENT_NAME]
    trace_id = document.get("trace_id")
    span_id = document.get("span_id")
    flags = document.get("trace_flags")
    record = LogRecordData(
        time_ns if time_ns is not None else time.time_ns(),
        severity if type(severity) is int and 0 <= severity <= 24 else 0,
        text if isinstance(text, str) else None,
        document.get("body"),
        attributes,
        event_name=event_name,
    )
    if isinstance(trace_id, str) and _HEX32.match(trace_id) and trace_id != "0" * 32:
        record.trace_id = trace_id
        if isinstance(span_id, str) and _HEX16.match(span_id) and span_id != "0" * 16:
            record.span_id = span_id
        if isinstance(flags, str) and _HEX2.match(flags):
            record.flags = int(flags, 16)
    scope = document.get("instrumentation_scope")
    if isinstance(scope, dict) and isinstance(scope.get("name"), str):
        record.scope = scope["name"]
    resource = document.get("resource")
    if isinstance(resource, dict):
        record.resource = resource
    return record


def parse_key_values(text: str | None) -> dict[str, str]:
    """``key1=value1,key2=value2`` (W3C Baggage style, percent-encoded), as OTel's env vars are."""
    result: dict[str, str] = {}
    for item in (text or "").split(","):
        key, sep, value = item.partition("=")
        key = urllib.parse.unquote(key.strip())
        if sep and key:
            result[key] = urllib.parse.unquote(value.strip())
    return result


def resource_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``OTEL_RESOURCE_ATTRIBUTES``, with ``OTEL_SERVICE_NAME`` winning for ``service.name``."""
    if env is None:
        env = os.environ
    resource: dict[str, Any] = dict(parse_key_values(env.get("OTEL_RESOURCE_ATTRIBUTES")))
    service = env.get("OTEL_SERVICE_NAME")
    if service:
        resource["service.name"] = service
    return resource


# -- OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) ----------


def any_value_json(value: Any) -> dict[str, Any]:
    """An AnyValue in OTLP/JSON: 64-bit integers as decimal strings, as proto3 JSON has them."""
    kind = type(value)
    if kind is str:
        return {"stringValue": value}
    if kind is bool:
        return {"boolValue": value}
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return {"intValue": str(value)}
        return {"stringValue": str(value)}
    if kind is float:
        return {"doubleValue": value}
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": key_values_json(value)}}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [any_value_json(item) for item in value]}}
    return {"stringValue": str(value)}


def key_values_json(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": str(key), "value": any_value_json(value)} for key, value in values.items()]


def _record_json(record: LogRecordData) -> dict[str, Any]:
    stamp = str(record.time_unix_nano)
    out: dict[str, Any] = {
        "timeUnixNano": stamp,
        "observedTimeUnixNano": stamp,
        "severityNumber": record.severity_number,
    }
    if record.severity_text is not None:
        out["severityText"] = record.severity_text
    if record.body is not None:
        out["body"] = any_value_json(record.body)
    if record.attributes:
        out["attributes"] = key_values_json(record.attributes)
    if record.trace_id is not None:
        out["flags"] = record.flags
        out["traceId"] = record.trace_id
        if record.span_id is not None:
            out["spanId"] = record.span_id
    if record.event_name is not None:
        out["eventName"] = record.event_name
    return out


def records_json(
    groups: list[tuple[dict[str, Any], list[tuple[str, list[LogRecordData]]]]],
) -> bytes:
    """An ``ExportLogsServiceRequest`` in OTLP/JSON: per resource, per scope, the records."""
    return orjson.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": key_values_json(resource)},
                    "scopeLogs": [
                        {
                            "scope": {"name": scope},
                            "logRecords": [_record_json(record) for record in records],
                        }
                        for scope, records in scopes
                    ],
                }
                for resource, scopes in groups
            ]
        }
    )
