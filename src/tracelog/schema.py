"""Field layouts: the one table of field names.

Processors write *canonical* keys (the ``default`` schema's names). A schema
is the last step before rendering: it renames and nests those keys for a
consumer (Elastic Common Schema, the OpenTelemetry log data model, Google
Cloud Logging). No other module spells a field name of a schema.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from typing import Any

from tracelog import context
from tracelog._ecs import (
    _CUSTOM,
    _FIELD,
    _SET,
    _ecs_coerce,
    _ecs_kind,
    ecs_field_types,
    ecs_value_fits,
)
from tracelog.typing import EventDict, WrappedLogger

__all__ = [
    "CANONICAL",
    "ECS_CUSTOM_NAMESPACE",
    "ECS_VERSION",
    "OWNED_KEYS",
    "SCHEMAS",
    "Projection",
    "ecs_field_types",
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
# Canonical access-log keys, written by the web integrations.
METHOD = "method"
PATH = "path"
STATUS = "status"
DURATION_MS = "duration_ms"
CLIENT = "client"
REQUEST_ID = "request_id"
USER_AGENT = "user_agent"

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

#: Where the ``ecs`` schema puts a field that would clash with an ECS field of
#: another type. A proper name, as ECS advises: ECS never defines one.
ECS_CUSTOM_NAMESPACE = "tracelog"

# Canonical key -> field name in each schema (dotted names nest, except in otel
# attributes, which are flat by that model's rules).
_TABLE: dict[str, dict[str, str]] = {
    "ecs": {
        LOGGER: "log.logger",
        TRACE_ID: "trace.id",
        SPAN_ID: "span.id",
        PARENT_SPAN_ID: "parent.id",  # Elastic APM's name; ECS has none
        SPAN_NAME: "span.name",
        SERVICE: "service.name",
        METHOD: "http.request.method",
        PATH: "url.path",
        STATUS: "http.response.status_code",
        CLIENT: "client.address",
        REQUEST_ID: "http.request.id",
        USER_AGENT: "user_agent.original",
    },
    "otel": {
        PARENT_SPAN_ID: "parent_span_id",
        METHOD: "http.request.method",
        PATH: "url.path",
        STATUS: "http.response.status_code",
        CLIENT: "client.address",
        USER_AGENT: "user_agent.original",
    },
    "gcp": {
        METHOD: "requestMethod",
        PATH: "requestUrl",
        STATUS: "status",
        CLIENT: "remoteIp",
        USER_AGENT: "userAgent",
    },
}

_ECS_FLAT = frozenset(("log.level", "ecs.version"))  # ecs-logging: top level, dotted name
_OTEL_SEVERITY = {"debug": 5, "info": 9, "warning": 13, "error": 17, "critical": 21}
_GCP_SEVERITY = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
}
_GCP = "logging.googleapis.com/"


def _put(out: dict[str, Any], path: str, value: Any, flat: bool = False) -> None:
    if flat or "." not in path:
        out[path] = value
        return
    *parents, leaf = path.split(".")
    node = out
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            out[path] = value  # a scalar already holds the parent name: keep both, dotted
            return
        node = child
    node[leaf] = value


# --- the projection ------------------------------------------------------------


class Projection:
    """A chain processor that lays a canonical event out in one schema.

    ``rename`` maps names *as the schema writes them* (``message``,
    ``log.level``, an attribute name in ``otel``) to your own; ``static``
    adds fixed fields to every line, placed like event fields (an event
    field of the same name wins).
    """

    __slots__ = ("gcp_project", "name", "rename", "static")

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
        self.gcp_project = os.environ.get("GOOGLE_CLOUD_PROJECT") or None

    @property
    def is_identity(self) -> bool:
        return self.name == "default" and not self.rename and not self.static

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if self.static:
            event_dict = {
                **event_dict,
                **{k: v for k, v in self.static.items() if k not in event_dict},
            }
        if self.name == "default":
            if not self.rename:
                return dict(event_dict)
            return {self.rename.get(k, k): v for k, v in event_dict.items()}
        if self.name == "ecs":
            return self._ecs(event_dict)
        if self.name == "otel":
            return self._otel(event_dict)
        return self._gcp(event_dict)

    # ECS ---------------------------------------------------------------------

    def _ecs(self, event: EventDict) -> dict[str, Any]:
        rename = self.rename
        out: dict[str, Any] = {}
        for path, value in (
            ("@timestamp", event.get(TIMESTAMP)),
            ("log.level", event.get(LEVEL)),
            ("message", event.get(MESSAGE)),
            ("ecs.version", ECS_VERSION),
        ):
            _put(out, rename.get(path, path), value, path in _ECS_FLAT)
        table = _TABLE["ecs"]
        for key, value in event.items():
            if key in (TIMESTAMP, LEVEL, MESSAGE):
                continue
            if key == EXCEPTION and isinstance(value, Mapping):
                self._ecs_place(out, "error.type", value.get("type"), key)
                self._ecs_place(out, "error.message", value.get("message"), key)
                self._ecs_place(out, "error.stack_trace", format_exception_text(value), key)
            elif key == DURATION_MS and type(value) in (int, float) and math.isfinite(value):
                self._ecs_place(out, "event.duration", int(value * 1_000_000), key)
            elif key == CLIENT and (client := client_parts(value)) is not None:
                host, port, ip = client
                self._ecs_place(out, "client.address", host, key)
                if ip:
                    self._ecs_place(out, "client.ip", host, key)
                if port is not None:
                    self._ecs_place(out, "client.port", port, key)
            else:
                self._ecs_place(out, table.get(key, key), value, key)
                if key == SERVICE and "event.dataset" not in event:
                    self._ecs_place(out, "event.dataset", value, key)
        return out

    def _ecs_place(self, out: dict[str, Any], path: str, value: Any, key: str) -> None:
        """Put one value at its ECS name, or under the custom namespace if the types clash."""
        renamed = self.rename.get(path)
        if renamed is not None:
            _put(out, renamed, value, renamed in _ECS_FLAT)
            return
        where, kind = _ecs_kind(path)
        if where == _CUSTOM:
            _put(out, path, value)
            return
        if where == _FIELD:
            if not ecs_value_fits(kind, value):
                value = _ecs_coerce(kind, value)
            if ecs_value_fits(kind, value):
                _put(out, path, value, path in _ECS_FLAT)
                return
        elif where == _SET and isinstance(value, Mapping):
            for child, item in value.items():
                self._ecs_place(out, f"{path}.{child}", item, f"{key}.{child}")
            return
        _put(out, f"{ECS_CUSTOM_NAMESPACE}.{key}", value)

    # OpenTelemetry -----------------------------------------------------------

    def _otel(self, event: EventDict) -> dict[str, Any]:
        level = event.get(LEVEL)
        rename = self.rename
        out: dict[str, Any] = {
            "timestamp": event.get(TIMESTAMP),
            "severity_text": str(level).upper() if level is not None else None,
            "severity_number": _OTEL_SEVERITY.get(str(level), 0),
            "body": event.get(MESSAGE),
        }
        if TRACE_ID in event:
            out["trace_id"] = event[TRACE_ID]
            out["span_id"] = event.get(SPAN_ID)
            out["trace_flags"] = "01" if _sampled(event) else "00"
        attributes: dict[str, Any] = {}
        resource: dict[str, Any] = {}
        table = _TABLE["otel"]
        for key, value in event.items():
            if key in (TIMESTAMP, LEVEL, MESSAGE, TRACE_ID, SPAN_ID, TRACE_SAMPLED):
                continue
            if key == SERVICE:
                resource["service.name"] = value
            elif key == LOGGER:
                out["instrumentation_scope"] = {"name": value}
            elif key == EXCEPTION and isinstance(value, Mapping):
                attributes["exception.type"] = value.get("type")
                attributes["exception.message"] = value.get("message")
                attributes["exception.stacktrace"] = format_exception_text(value)
            elif key == CLIENT and (client := client_parts(value)) is not None:
                attributes["client.address"] = client[0]
                if client[1] is not None:
                    attributes["client.port"] = client[1]
            else:
                name = table.get(key, key)
                attributes[rename.get(name, name)] = value
        if resource:
            out["resource"] = resource
        out["attributes"] = attributes
        return {rename.get(k, k): v for k, v in out.items()} if rename else out

    # Google Cloud Logging ----------------------------------------------------

    def _gcp(self, event: EventDict) -> dict[str, Any]:
        level = str(event.get(LEVEL))
        out: dict[str, Any] = {
            "time": event.get(TIMESTAMP),
            "severity": _GCP_SEVERITY.get(level, "DEFAULT"),
            "message": event.get(MESSAGE),
        }
        labels: dict[str, Any] = {}
        request: dict[str, Any] = {}
        table = _TABLE["gcp"]
        for key, value in event.items():
            if key in (TIMESTAMP, LEVEL, MESSAGE, TRACE_SAMPLED):
                continue
            if key == TRACE_ID:
                project = self.gcp_project
                out[_GCP + "trace"] = f"projects/{project}/traces/{value}" if project else value
                out[_GCP + "trace_sampled"] = _sampled(event)
            elif key == SPAN_ID:
                out[_GCP + "spanId"] = value
            elif key == LOGGER:
                labels["logger"] = str(value)
            elif key == SERVICE:
                out["serviceContext"] = {"service": value}
            elif key == EXCEPTION and isinstance(value, Mapping):
                out["stack_trace"] = format_exception_text(value)
            elif key == DURATION_MS and isinstance(value, (int, float)):
                request["latency"] = f"{value / 1000:.6f}s"
            elif key in table:
                if key == CLIENT and isinstance(value, (list, tuple)) and value:
                    value = value[0]
                request[table[key]] = value
            else:
                out[key] = value
        if request:
            out["httpRequest"] = request
        if labels:
            out[_GCP + "labels"] = labels
        return {self.rename.get(k, k): v for k, v in out.items()} if self.rename else out


def client_parts(value: Any) -> tuple[Any, int | None, bool] | None:
    """Host, port and whether the host is an IP address, from an access line's ``client``.

    ``client`` is ``"host:port"`` (``"[::1]:8080"`` for IPv6, as the web
    integrations write it), a bare host, or a ``(host, port)`` pair. None
    for anything else: the value then keeps its place as any other field.
    """
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            return None
        host, port = value
        return host, port if type(port) is int else None, _is_ip(host)
    if not isinstance(value, str) or not value:
        return None
    host, port_text = value, ""
    if value.startswith("["):
        inside, bracket, rest = value[1:].partition("]")
        if bracket and (not rest or rest.startswith(":")):
            host, port_text = inside, rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    port = int(port_text) if port_text.isascii() and port_text.isdigit() else None
    if port_text and (port is None or port > 65535):
        return value, None, False  # not a host and port: the whole value is the address
    return host, port, _is_ip(host)


def _is_ip(host: Any) -> bool:
    if type(host) is not str:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _sampled(event: EventDict) -> bool:
    """The sampled flag: from the event if a processor wrote it, else from the live context."""
    value = event.get(TRACE_SAMPLED)
    if value is not None:
        return bool(value)
    ctx = context._current.get()
    if ctx is not None and ctx.trace_id == event.get(TRACE_ID):
        return bool(ctx.sampled)
    return True


def format_exception_text(exc: Mapping[str, Any]) -> str:
    """A structured exception (see processors.exception_to_structure) as Python's traceback text."""
    blocks: list[str] = []
    node: Mapping[str, Any] | None = exc
    seen = 0
    while node is not None and seen < 20:
        seen += 1
        lines = ["Traceback (most recent call last):"]
        for frame in node.get("frames") or ():
            where = f'"{frame.get("file")}", line {frame.get("line")}'
            lines.append(f"  File {where}, in {frame.get('function')}")
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
