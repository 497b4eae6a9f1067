"""Recognise a JSON log line, whoever wrote it, and pull out the fields the CLI needs.

Shapes read without configuration: tracelog's schemas (default, ecs, otel, gcp),
structlog's JSONRenderer, python-json-logger, ecs-logging, loguru ``serialize=True``,
OpenTelemetry's logging instrumentation, Go's slog and zap, pino and bunyan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tracelog._cli.times import parse_time

__all__ = [
    "LEVEL_RANK",
    "Record",
    "level_of",
    "lookup",
    "parse",
    "recognise",
    "trace_id_of",
]

LEVEL_RANK = {
    "trace": 5,
    "debug": 10,
    "info": 20,
    "notice": 25,
    "warning": 30,
    "error": 40,
    "critical": 50,
}
_LEVEL_ALIASES = {
    "warn": "warning",
    "err": "error",
    "exception": "error",
    "severe": "error",
    "fatal": "critical",
    "panic": "critical",
    "dpanic": "critical",
    "crit": "critical",
    "alert": "critical",
    "emerg": "critical",
    "emergency": "critical",
    "information": "info",
    "informational": "info",
    "success": "info",
    "verbose": "debug",
    "dbg": "debug",
    "trc": "trace",
}
# pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
_PINO_LEVELS = ((60, "critical"), (50, "error"), (40, "warning"), (30, "info"), (20, "debug"))
# Python's levelno: 10 debug, 20 info, 30 warning, 40 error, 50 critical.
_PYTHON_LEVELS = ((50, "critical"), (40, "error"), (30, "warning"), (20, "info"), (10, "debug"))
# OpenTelemetry severity_number: 1-4 trace, 5-8 debug, 9-12 info, 13-16 warn, 17-20 error,
# 21+ fatal.
_OTEL_LEVELS = ((21, "critical"), (17, "error"), (13, "warning"), (9, "info"), (5, "debug"))

_TIME_KEYS = (
    "timestamp",
    "@timestamp",
    "time",
    "ts",
    "asctime",
    "t",
    "datetime",
    "date",
    "created",
)
_MESSAGE_KEYS = ("message", "msg", "event", "@message")
_LOGGER_KEYS = ("logger", "log.logger", "logger_name", "loggerName", "name", "scope.name")
_TRACE_KEYS = (
    "trace_id",
    "trace.id",
    "otelTraceID",
    "traceId",
    "traceID",
    "logging.googleapis.com/trace",
    "dd.trace_id",
)
_SPAN_KEYS = (
    "span_id",
    "span.id",
    "otelSpanID",
    "spanId",
    "spanID",
    "logging.googleapis.com/spanId",
    "dd.span_id",
)
_PARENT_KEYS = ("parent_span_id", "parent.id", "parentSpanId", "parent_id")
_SPAN_NAME_KEYS = ("span_name", "span.name")
_SERVICE_KEYS = (
    "service",
    "service.name",
    "resource.service.name",
    "otelServiceName",
    "service_name",
    "serviceContext.service",
    "dd.service",
)
_GCP_LABELS = "logging.googleapis.com/labels"
# OpenTelemetry attributes that the columns (or the error block) already show.
_ATTRIBUTES_SHOWN = frozenset(
    (
        "parent_span_id",
        "span_name",
        "logger",
        "exception.type",
        "exception.message",
        "exception.stacktrace",
    )
)
_ERROR_KEYS = ("exception", "exc_info", "error", "err", "stack_trace", "stacktrace", "stack")
# Keys that only repeat what the columns show, or describe the log format itself.
_NOISE = frozenset(
    (
        "ecs.version",
        "severity_number",
        "trace_flags",
        "otelTraceSampled",
        "v",
        "levelno",
        "logging.googleapis.com/trace_sampled",
        "event.dataset",
        "@timestamp",  # what the Elasticsearch output adds to a line that has its own time
    )
)


def lookup(obj: Mapping[str, Any], key: str) -> Any:
    """``obj[key]``, else the nested path ``key`` spells with dots (``log.level``)."""
    value = obj.get(key)
    if value is not None or "." not in key:
        return value
    node: Any = obj
    for part in key.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _first(obj: Mapping[str, Any], keys: tuple[str, ...], used: set[str]) -> Any:
    for key in keys:
        value = lookup(obj, key)
        if value is not None and not isinstance(value, (Mapping, list)):
            used.add(key.split(".", 1)[0] if key not in obj else key)
            return value
    return None


def level_of(value: Any, numeric: tuple[tuple[int, str], ...] = _PINO_LEVELS) -> str | None:
    """A canonical level name (``warning``) for ``WARN``, ``INFO+2``, 50 (pino) and the like."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        for floor, name in numeric:
            if value >= floor:
                return name
        return "trace" if numeric is _PINO_LEVELS else "debug"
    if not isinstance(value, str) or not value:
        return None
    name = value.strip().lower()
    if name not in LEVEL_RANK:
        name = name.split("+", 1)[0].split("-", 1)[0]  # slog: INFO+2, WARN-4
        name = _LEVEL_ALIASES.get(name, name)
    return name if name in LEVEL_RANK else None


def trace_id_of(value: Any) -> str | None:
    """A trace id as lowercase text; Cloud Logging's ``projects/P/traces/ID`` gives ``ID``."""
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    text = text.lower()
    if not text or len(text) > 128 or not text.strip("0-"):
        return None  # all-zero ids (OpenTelemetry's "0") mean "no trace"
    return text


class Record:
    """One recognised line: the columns every command uses, plus the other fields."""

    __slots__ = (
        "exception",
        "level",
        "logger",
        "message",
        "obj",
        "parent_span_id",
        "rank",
        "service",
        "span_id",
        "span_name",
        "time",
        "trace_id",
        "used",
    )

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self.obj = obj
        self.used: set[str] = set()
        self.time: float | None = None
        self.level: str | None = None
        self.rank = LEVEL_RANK["info"]
        self.logger: str | None = None
        self.message: str | None = None
        self.trace_id: str | None = None
        self.span_id: str | None = None
        self.parent_span_id: str | None = None
        self.span_name: str | None = None
        self.service: str | None = None
        self.exception: Any = None

    def fields(self) -> dict[str, Any]:
        """The fields no column shows, in the line's order."""
        out: dict[str, Any] = {}
        for key, value in self.obj.items():
            if key in self.used or key in _NOISE or value == {} or _is_dataset(key, value):
                continue
            if key == "attributes" and isinstance(value, Mapping):  # OpenTelemetry's user fields
                out.update((k, v) for k, v in value.items() if k not in _ATTRIBUTES_SHOWN)
            else:
                out[key] = value
        return out

    def get(self, key: str) -> Any:
        """A field by name, dotted path or column name (``service``, ``trace_id``)."""
        value = lookup(self.obj, key)
        if value is None and key in Record.__slots__ and key not in ("obj", "used"):
            value = getattr(self, key)
        attributes = self.obj.get("attributes")
        if value is None and isinstance(attributes, Mapping):
            value = lookup(attributes, key)
        return value


def _is_dataset(key: str, value: Any) -> bool:
    # ECS's {"event": {"dataset": ...}} only names the log stream.
    return key == "event" and isinstance(value, Mapping) and value.keys() <= {"dataset"}


def recognise(obj: Mapping[str, Any]) -> Record:
    """The :class:`Record` for one decoded JSON object. Never raises on odd values."""
    record_obj = obj.get("record")
    if isinstance(record_obj, Mapping) and "text" in obj:
        return _loguru(obj, record_obj)
    rec = Record(obj)
    used = rec.used
    for key in _TIME_KEYS:
        value = obj.get(key)
        if value is not None:
            rec.time = parse_time(value)
            if rec.time is not None:
                used.add(key)
                break
    _level(rec, obj)
    message = _first(obj, _MESSAGE_KEYS, used)
    if message is None and "body" in obj:
        used.add("body")
        message = obj["body"]
    if message is not None:
        rec.message = message if isinstance(message, str) else _compact(message)
    attributes = obj.get("attributes")
    scopes: tuple[Mapping[str, Any], ...] = (obj,)
    if isinstance(attributes, Mapping):
        scopes = (obj, attributes)
    for scope in scopes:
        rec.logger = rec.logger or _str(_first(scope, _LOGGER_KEYS, used))
        rec.trace_id = rec.trace_id or trace_id_of(_first(scope, _TRACE_KEYS, used))
        rec.span_id = rec.span_id or trace_id_of(_first(scope, _SPAN_KEYS, used))
        rec.parent_span_id = rec.parent_span_id or trace_id_of(_first(scope, _PARENT_KEYS, used))
        rec.span_name = rec.span_name or _str(_first(scope, _SPAN_NAME_KEYS, used))
    if rec.logger is None:
        for key, inner in (("instrumentation_scope", "name"), (_GCP_LABELS, "logger")):
            holder = obj.get(key)
            if isinstance(holder, Mapping) and isinstance(holder.get(inner), str):
                rec.logger = holder[inner]
                if len(holder) == 1:
                    used.add(key)
                break
    service = _first(obj, _SERVICE_KEYS, used)
    resource = obj.get("resource")
    if service is None and isinstance(resource, Mapping):
        service = resource.get("service.name") or lookup(resource, "attributes.service.name")
        if service is not None and len(resource) == 1:
            used.add("resource")
    rec.service = _str(service)
    rec.exception = _exception(obj, used)
    if rec.exception is None and isinstance(attributes, Mapping):
        rec.exception = attributes.get("exception.stacktrace") or attributes.get("exception.type")
    if isinstance(attributes, Mapping) and attributes.keys() <= _ATTRIBUTES_SHOWN:
        used.add("attributes")
    return rec


def _level(rec: Record, obj: Mapping[str, Any]) -> None:
    candidates: tuple[tuple[str, tuple[tuple[int, str], ...]], ...] = (
        ("level", _PINO_LEVELS),
        ("log.level", _PINO_LEVELS),
        ("levelname", _PYTHON_LEVELS),
        ("severity", _PYTHON_LEVELS),
        ("severity_text", _OTEL_LEVELS),
        ("severity_number", _OTEL_LEVELS),
        ("lvl", _PINO_LEVELS),
        ("loglevel", _PINO_LEVELS),
        ("levelno", _PYTHON_LEVELS),
    )
    for key, numeric in candidates:
        value = lookup(obj, key)
        if value is None or isinstance(value, Mapping):
            continue
        name = level_of(value, numeric)
        if name is not None:
            rec.level = name
            rec.rank = LEVEL_RANK[name]
            rec.used.add(key if key in obj else key.split(".", 1)[0])
            return


def _exception(obj: Mapping[str, Any], used: set[str]) -> Any:
    for key in _ERROR_KEYS:
        value = obj.get(key)
        if value is None or value is False or value == "":
            continue
        used.add(key)
        return value
    flat = obj.get("error.stack_trace") or obj.get("error.message") or obj.get("error.type")
    if flat is not None:
        used.update(k for k in ("error.stack_trace", "error.message", "error.type") if k in obj)
    return flat


def _loguru(obj: Mapping[str, Any], record: Mapping[str, Any]) -> Record:
    rec = Record(obj)
    rec.used.update(("text", "record"))
    when = record.get("time")
    if isinstance(when, Mapping):
        rec.time = parse_time(when.get("timestamp")) or parse_time(when.get("repr"))
    level = record.get("level")
    name = level_of(level.get("name") if isinstance(level, Mapping) else level)
    if name is not None:
        rec.level, rec.rank = name, LEVEL_RANK[name]
    rec.message = _str(record.get("message"))
    rec.logger = _str(record.get("name"))
    extra = record.get("extra")
    if isinstance(extra, Mapping):
        inner = recognise(extra)
        rec.trace_id, rec.span_id = inner.trace_id, inner.span_id
        rec.parent_span_id, rec.span_name = inner.parent_span_id, inner.span_name
        rec.service = inner.service
        rec.obj = {"record": record, **inner.fields()}
    exception = record.get("exception")
    if isinstance(exception, Mapping):
        rec.exception = f"{exception.get('type')}: {exception.get('value')}"
    return rec


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _compact(value: Any) -> str:
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except Exception:
        return repr(value)


_NOT_JSON = object()
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lenient(text: str) -> Any:
    """The standard library's reading of ``text``, lone surrogates shown as their escapes."""
    import json

    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return _NOT_JSON
    try:
        return _unsurrogate(obj)
    except RecursionError:
        return _NOT_JSON


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _unsurrogate(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub(_escape_surrogate, value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {_unsurrogate(k): _unsurrogate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsurrogate(item) for item in value]
    return value


def parse(
    line: bytes, skipped: Any, loads: Callable[[bytes | str], Any] | None = None
) -> Record | None:
    """The record for one line, or None (counted on ``skipped``) when it is not a JSON object.

    ``loads`` defaults to orjson's; a command that parses only a few lines passes the standard
    library's, which starts faster.
    """
    if loads is None:
        import orjson

        loads = orjson.loads
    try:
        obj = loads(line)
    except ValueError:  # orjson's and json's decode errors, and invalid UTF-8, are ValueErrors
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("utf-8", "replace")
            obj = _lenient(text)
            if obj is _NOT_JSON:
                skipped.not_json += 1
                return None
            skipped.bad_utf8 += 1
        else:
            obj = _lenient(text)  # orjson refuses a lone surrogate escape; JSON allows it
            if obj is _NOT_JSON:
                skipped.not_json += 1
                return None
    except RecursionError:  # deeply nested arrays
        skipped.not_json += 1
        return None
    else:
        if b"\\ud" in line or b"\\uD" in line:  # the standard library keeps lone surrogates
            try:
                obj = _unsurrogate(obj)
            except RecursionError:
                skipped.not_json += 1
                return None
    if not isinstance(obj, dict):
        skipped.not_object += 1
        return None
    return recognise(obj)
