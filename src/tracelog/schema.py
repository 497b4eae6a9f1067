"""Field layouts: the one table of field names.

Processors write *canonical* keys (the ``default`` schema's names). A schema
is the last step before rendering: it renames and nests those keys for a
consumer (Elastic Common Schema, the OpenTelemetry log data model, Google
Cloud Logging). No other module spells a field name of a schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracelog.typing import EventDict, WrappedLogger

__all__ = [
    "CANONICAL",
    "OWNED_KEYS",
    "SCHEMAS",
    "Projection",
    "projection_for",
]

# Canonical keys, written by the pipeline's processors.
TIMESTAMP = "timestamp"
LEVEL = "level"
LOGGER = "logger"
MESSAGE = "message"
TRACE_ID = "trace_id"
SPAN_ID = "span_id"
PARENT_SPAN_ID = "parent_span_id"
SPAN_NAME = "span_name"
TRACE_SAMPLED = "trace_sampled"
SERVICE = "service"
EXCEPTION = "exception"
STACK = "stack"

CANONICAL = (
    TIMESTAMP,
    LEVEL,
    LOGGER,
    MESSAGE,
    TRACE_ID,
    SPAN_ID,
    PARENT_SPAN_ID,
    SPAN_NAME,
    SERVICE,
    EXCEPTION,
    STACK,
)

#: Keys only the pipeline may write. A user field with one of these names is
#: kept under the name with a trailing underscore (``level_``), never lost.
OWNED_KEYS = frozenset(
    (TIMESTAMP, LEVEL, LOGGER, MESSAGE, TRACE_ID, SPAN_ID, PARENT_SPAN_ID, SPAN_NAME)
)

SCHEMAS = ("default", "ecs", "otel", "gcp")

ECS_VERSION = "8.11.0"

# Canonical key -> dotted path in each schema. A dotted path nests, except the
# keys listed as top-level in that schema (ecs-logging keeps "log.level" flat).
_TABLE: dict[str, dict[str, str]] = {
    "ecs": {
        TIMESTAMP: "@timestamp",
        LEVEL: "log.level",
        MESSAGE: "message",
        LOGGER: "log.logger",
        TRACE_ID: "trace.id",
        SPAN_ID: "span.id",
        PARENT_SPAN_ID: "parent.id",
        SPAN_NAME: "span.name",
        SERVICE: "service.name",
        # access-log fields
        "method": "http.request.method",
        "path": "url.path",
        "status": "http.response.status_code",
        "client": "client.address",
        "request_id": "http.request.id",
        "user_agent": "user_agent.original",
    },
    "otel": {
        TIMESTAMP: "timestamp",
        LEVEL: "severity_text",
        MESSAGE: "body",
        LOGGER: "scope.name",
        TRACE_ID: "trace_id",
        SPAN_ID: "span_id",
        SERVICE: "resource.service.name",
    },
    "gcp": {
        TIMESTAMP: "time",
        LEVEL: "severity",
        MESSAGE: "message",
        LOGGER: "logging.googleapis.com/labels.logger",
        SPAN_ID: "logging.googleapis.com/spanId",
    },
}

_ECS_TOP_LEVEL = frozenset(("@timestamp", "log.level", "message", "ecs.version"))

_OTEL_SEVERITY = {"debug": 5, "info": 9, "warning": 13, "error": 17, "critical": 21}
_GCP_SEVERITY = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
}


def _put(out: dict[str, Any], path: str, value: Any, flat: bool) -> None:
    if flat or "." not in path:
        out[path] = value
        return
    *parents, leaf = path.split(".")
    node = out
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


class Projection:
    """A chain processor that lays a canonical event out in one schema.

    ``rename`` maps canonical (or user) keys to other names; ``static`` adds
    fixed fields to every line.
    """

    __slots__ = ("name", "rename", "static")

    def __init__(
        self,
        name: str = "default",
        rename: Mapping[str, str] | None = None,
        static: Mapping[str, Any] | None = None,
    ) -> None:
        if name not in SCHEMAS:
            raise ValueError(f"schema={name!r} is not one of {', '.join(SCHEMAS)}")
        self.name = name
        self.rename = dict(rename or {})
        self.static = dict(static or {})

    @property
    def is_identity(self) -> bool:
        return self.name == "default" and not self.rename and not self.static

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if self.name == "default":
            out = dict(event_dict)
        elif self.name == "ecs":
            out = self._ecs(event_dict)
        elif self.name == "otel":
            out = self._otel(event_dict)
        else:
            out = self._gcp(event_dict)
        if self.static:
            for key, value in self.static.items():
                out.setdefault(key, value)
        if self.rename:
            out = {self.rename.get(k, k): v for k, v in out.items()}
        return out

    def _ecs(self, event: EventDict) -> dict[str, Any]:
        table = _TABLE["ecs"]
        out: dict[str, Any] = {
            "@timestamp": event.get(TIMESTAMP),
            "log.level": event.get(LEVEL),
            "message": event.get(MESSAGE),
            "ecs.version": ECS_VERSION,
        }
        for key, value in event.items():
            if key in (TIMESTAMP, LEVEL, MESSAGE):
                continue
            if key == EXCEPTION and isinstance(value, Mapping):
                _put(out, "error.type", value.get("type"), False)
                _put(out, "error.message", value.get("message"), False)
                _put(out, "error.stack_trace", format_exception_text(value), False)
                continue
            if key == "duration_ms" and isinstance(value, (int, float)):
                _put(out, "event.duration", int(value * 1_000_000), False)
                continue
            path = table.get(key, key)
            _put(out, path, value, path in _ECS_TOP_LEVEL)
            if key == SERVICE:
                _put(out, "event.dataset", f"{value}.log", False)
        return out

    def _otel(self, event: EventDict) -> dict[str, Any]:
        level = event.get(LEVEL)
        out: dict[str, Any] = {
            "timestamp": event.get(TIMESTAMP),
            "severity_text": str(level).upper() if level is not None else None,
            "severity_number": _OTEL_SEVERITY.get(str(level), 0),
            "body": event.get(MESSAGE),
        }
        if TRACE_ID in event:
            out["trace_id"] = event[TRACE_ID]
            out["span_id"] = event.get(SPAN_ID)
            out["trace_flags"] = "01" if event.get(TRACE_SAMPLED, True) else "00"
        attributes: dict[str, Any] = {}
        resource: dict[str, Any] = {}
        for key, value in event.items():
            if key in (TIMESTAMP, LEVEL, MESSAGE, TRACE_ID, SPAN_ID):
                continue
            if key == SERVICE:
                resource["service.name"] = value
            elif key == LOGGER:
                out["instrumentation_scope"] = {"name": value}
            elif key == EXCEPTION and isinstance(value, Mapping):
                attributes["exception.type"] = value.get("type")
                attributes["exception.message"] = value.get("message")
                attributes["exception.stacktrace"] = format_exception_text(value)
            else:
                attributes[key] = value
        if resource:
            out["resource"] = resource
        out["attributes"] = attributes
        return out

    def _gcp(self, event: EventDict) -> dict[str, Any]:
        level = str(event.get(LEVEL))
        out: dict[str, Any] = {
            "time": event.get(TIMESTAMP),
            "severity": _GCP_SEVERITY.get(level, "DEFAULT"),
            "message": event.get(MESSAGE),
        }
        labels: dict[str, Any] = {}
        for key, value in event.items():
            if key in (TIMESTAMP, LEVEL, MESSAGE):
                continue
            if key == TRACE_ID:
                out["logging.googleapis.com/trace"] = value
            elif key == SPAN_ID:
                out["logging.googleapis.com/spanId"] = value
            elif key == TRACE_SAMPLED:
                out["logging.googleapis.com/trace_sampled"] = bool(value)
            elif key == LOGGER:
                labels["logger"] = value
            elif key == EXCEPTION and isinstance(value, Mapping):
                out["stack_trace"] = format_exception_text(value)
            else:
                out[key] = value
        if labels:
            out["logging.googleapis.com/labels"] = labels
        return out


def projection_for(
    name: str,
    rename: Mapping[str, str] | None = None,
    static: Mapping[str, Any] | None = None,
) -> Projection:
    return Projection(name, rename, static)


def format_exception_text(exc: Mapping[str, Any]) -> str:
    """A structured exception (see processors.exception_to_structure) as Python's traceback text."""
    blocks: list[str] = []
    node: Mapping[str, Any] | None = exc
    seen = 0
    while node is not None and seen < 20:
        seen += 1
        lines = ["Traceback (most recent call last):"]
        for frame in node.get("frames") or ():
            lines.append(
                f'  File "{frame.get("file")}", line {frame.get("line")}, in {frame.get("function")}'
            )
        message = node.get("message")
        lines.append(f"{node.get('type')}: {message}" if message else f"{node.get('type')}")
        blocks.append("\n".join(lines))
        if isinstance(node.get("cause"), Mapping):
            blocks.append(
                "\nThe above exception was the direct cause of the following exception:\n"
            )
            node = node["cause"]
        elif isinstance(node.get("context"), Mapping):
            blocks.append("\nDuring handling of the above exception, another exception occurred:\n")
            node = node["context"]
        else:
            node = None
    # Python prints the root cause first.
    return "\n".join(reversed(blocks))
