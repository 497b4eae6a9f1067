"""Field layouts: the one table of field names.

Processors write *canonical* keys (the ``default`` schema's names). A schema
is the last step before rendering: it renames and nests those keys for a
consumer (Elastic Common Schema, the OpenTelemetry log data model, Google
Cloud Logging). No other module spells a field name of a schema.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tracelog import context
from tracelog._values import client_parts, format_exception_text
from tracelog.fields import (
    CANONICAL,
    CLIENT,
    DURATION_MS,
    EXCEPTION,
    FUNC_NAME,
    LEVEL,
    LINENO,
    LOGGER,
    MESSAGE,
    METHOD,
    OWNED_KEYS,
    PARENT_SPAN_ID,
    PATH,
    PATHNAME,
    REQUEST_ID,
    SERVICE,
    SPAN_ID,
    SPAN_NAME,
    STACK,
    STATUS,
    TIMESTAMP,
    TRACE_ID,
    TRACE_SAMPLED,
    USER_AGENT,
)
from tracelog.schema._attributes import as_attributes
from tracelog.schema._ecs import (
    CUSTOM,
    FIELD,
    SET,
    ecs_coerce,
    ecs_field_types,
    ecs_kind,
    ecs_value_fits,
)
from tracelog.schema._ecs_document import as_text, make_indexable
from tracelog.schema._placing import MISSING, claim, free, give, move_aside, put, renamed
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
        FUNC_NAME: "log.origin.function",
        LINENO: "log.origin.file.line",
        PATHNAME: "log.origin.file.name",
    },
    "otel": {
        PARENT_SPAN_ID: "parent_span_id",
        METHOD: "http.request.method",
        PATH: "url.path",
        STATUS: "http.response.status_code",
        CLIENT: "client.address",
        USER_AGENT: "user_agent.original",
        FUNC_NAME: "code.function",
        LINENO: "code.lineno",
        PATHNAME: "code.filepath",
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
_GCP_TRACE = _GCP + "trace"
_GCP_SAMPLED = _GCP + "trace_sampled"
_GCP_SPAN = _GCP + "spanId"
_GCP_LABELS = _GCP + "labels"
_GCP_OWNED = frozenset(
    (
        "time",
        "severity",
        "message",
        _GCP_TRACE,
        _GCP_SAMPLED,
        _GCP_SPAN,
        _GCP_LABELS,
        "serviceContext",
        "stack_trace",
        "httpRequest",
    )
)
#: Canonical keys whose values the pipeline wrote (a field of yours so named is at ``<name>_``).
_PIPELINE_KEYS = OWNED_KEYS | {TRACE_SAMPLED, SERVICE, EXCEPTION, STACK}
#: Names whose field of yours the merger moved to ``<name>_`` ("event": structlog's message).
_MOVED_ASIDE = _PIPELINE_KEYS | {"event"}
# The ecs layout places these before your fields; then the rest (event.dataset last).
_ECS_PIPELINE = (LOGGER, TRACE_ID, SPAN_ID, PARENT_SPAN_ID, SPAN_NAME, TRACE_SAMPLED, SERVICE)
_ECS_SKIP = frozenset((TIMESTAMP, LEVEL, MESSAGE, STACK, *_ECS_PIPELINE))


# --- the projection ------------------------------------------------------------


class Projection:
    """A chain processor that lays a canonical event out in one schema.

    ``rename`` maps names *as the schema writes them* (``message``,
    ``log.level``, an attribute name in ``otel``) to your own; ``static``
    adds fixed fields to every line, placed like event fields (an event
    field of the same name wins).

    The values the pipeline writes (time, level, logger, message, trace
    keys, service, exception...) keep their places in every schema: a field
    of yours that would land on one moves to ``<name>_`` (``default``,
    ``otel`` attributes, ``gcp``) or under ``tracelog.`` (``ecs``), as a
    user field named like a pipeline key does in the default line.
    """

    __slots__ = ("any_values", "gcp_project", "name", "rename", "static")

    def __init__(
        self,
        name: str = "default",
        rename: Mapping[str, str] | None = None,
        static: Mapping[str, Any] | None = None,
        *,
        any_values: bool = False,
    ) -> None:
        if name not in SCHEMAS:
            raise ValueError(f"schema={name!r} is not one of {', '.join(SCHEMAS)}")
        self.name = name
        self.rename = dict(rename or {})
        for old, new in self.rename.items():
            if not isinstance(old, str) or not isinstance(new, str) or not new.strip():
                raise ValueError(f"rename={{{old!r}: {new!r}}}: rename a key name to a key name")
        given = dict(static or {})
        self.static: dict[str, Any] = {}
        for key, value in given.items():
            if key in OWNED_KEYS:  # as the merger does for an event field of that name
                key += "_"
                while key in given or key in self.static:
                    key += "_"
            self.static[key] = value
        self.gcp_project = os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        # otel: keep nested values as they are, for OTLP's AnyValue (kvlist, mixed arrays).
        self.any_values = any_values

    @property
    def is_identity(self) -> bool:
        return self.name == "default" and not self.rename and not self.static

    def ecs_place(self, key: str) -> tuple[tuple[str, ...], str | None] | None:
        """Where this layout puts a field of yours named ``key`` with a plain value: the
        names of its path, and the ECS type the value must fit (None: any).

        None when the layout does more than place it (the ``ecs`` layout only,
        without rename/static; dotted names, the pipeline's names and the
        client are laid out otherwise). ``duration_ms`` is placed at
        ``event.duration`` in nanoseconds. The generated fast path
        (:mod:`tracelog._fastpath`) relies on this: keep it true to :meth:`__call__`.
        """
        if self.name != "ecs" or self.rename or self.static:
            return None
        if "." in key or key.startswith("@") or key in _ECS_SKIP:
            return None
        if key in (CLIENT, EXCEPTION, ECS_CUSTOM_NAMESPACE) or _moved_aside(key) is not None:
            return None
        if not key.strip():
            return None
        if key == DURATION_MS:
            return ("event", "duration"), None
        path = _TABLE["ecs"].get(key, key)
        where, kind = ecs_kind(path)
        if where == CUSTOM and "." not in path:
            return (path,), None
        if where == FIELD and path not in _ECS_FLAT:
            return tuple(path.split(".")), kind
        return None

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if self.static:
            event_dict = {
                **event_dict,
                **{k: v for k, v in self.static.items() if k not in event_dict},
            }
        if self.name == "default":
            if not self.rename:
                return dict(event_dict)
            return renamed(event_dict, self.rename, _PIPELINE_KEYS)
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
            if not put(out, rename.get(path, path), value, path in _ECS_FLAT):
                _ecs_custom(out, path, value)  # two of these renamed to one name
        table = _TABLE["ecs"]
        # The pipeline's values first: a field of yours that lands on one then finds it taken.
        for key in _ECS_PIPELINE:
            value = event.get(key, MISSING)
            if value is not MISSING:
                self._ecs_place(out, table.get(key, key), value, key)
        stack = event.get(STACK, MISSING)
        if stack is not MISSING:
            self._ecs_place(out, STACK, stack, STACK)
        exception = event.get(EXCEPTION)
        if isinstance(exception, Mapping):
            self._ecs_place(out, "error.type", exception.get("type"), EXCEPTION)
            self._ecs_place(out, "error.message", exception.get("message"), EXCEPTION)
            text = format_exception_text(exception)
            self._ecs_place(out, "error.stack_trace", text, EXCEPTION)
        for key, value in event.items():
            if key in _ECS_SKIP:
                continue
            if key == DURATION_MS and (nanoseconds := duration_ns(value)) is not None:
                self._ecs_place(out, "event.duration", nanoseconds, key)
            elif key == CLIENT and (client := client_parts(value)) is not None:
                host, port, ip = client
                self._ecs_place(out, "client.address", host, key)
                if ip:
                    self._ecs_place(out, "client.ip", host, key)
                if port is not None:
                    self._ecs_place(out, "client.port", port, key)
            elif (name := _moved_aside(key)) is not None:
                _ecs_custom(out, name, value)  # yours, named like the pipeline's: tracelog.<name>
            elif key != EXCEPTION or not isinstance(value, Mapping):  # (laid out above)
                self._ecs_place(out, table.get(key, key), value, key)
        dataset = ecs_coerce("keyword", event.get(SERVICE))
        if dataset is not None and ecs_value_fits("keyword", dataset):
            path = rename.get("event.dataset", "event.dataset")
            put(out, path, dataset, path in _ECS_FLAT)  # unless you set event.dataset yourself
        return make_indexable(out, ECS_CUSTOM_NAMESPACE)

    def _ecs_place(self, out: dict[str, Any], path: str, value: Any, key: str) -> None:
        """Put one value at its ECS name, or under the custom namespace if the types clash
        or the name is taken."""
        target = self.rename.get(path)
        if target is not None:
            if not put(out, target, value, target in _ECS_FLAT):
                _ecs_custom(out, key, value)
            return
        where, kind = ecs_kind(path)
        if where == CUSTOM:
            if not put(out, path, value):
                _ecs_custom(out, key, value)
            return
        if where == FIELD:
            if not ecs_value_fits(kind, value):
                value = ecs_coerce(kind, value)
            if ecs_value_fits(kind, value) and put(out, path, value, path in _ECS_FLAT):
                return
        elif where == SET and isinstance(value, Mapping):
            for child, item in value.items():
                self._ecs_place(out, f"{path}.{child}", item, f"{key}.{child}")
            return
        _ecs_custom(out, key, value)

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
        # Your fields are attributes: only the exception's attributes are the pipeline's there.
        attributes: dict[str, Any] = {}
        resource: dict[str, Any] = {}
        table = _TABLE["otel"]
        for key, value in event.items():
            if key in (TIMESTAMP, LEVEL, MESSAGE, TRACE_ID, SPAN_ID, TRACE_SAMPLED):
                continue
            if key == SERVICE:
                resource["service.name"] = value if value is None else as_text(value)
            elif key == LOGGER:
                out["instrumentation_scope"] = {"name": value}
            elif key == EXCEPTION and isinstance(value, Mapping):
                claim(attributes, "exception.type", value.get("type"))
                claim(attributes, "exception.message", value.get("message"))
                claim(attributes, "exception.stacktrace", format_exception_text(value))
            elif key == CLIENT and (client := client_parts(value)) is not None:
                give(attributes, "client.address", client[0])
                if client[1] is not None:
                    give(attributes, "client.port", client[1])
            else:
                name = table.get(key, key)
                if rename:
                    name = rename.get(name, name)
                attributes[free(attributes, name) if name in attributes else name] = value
        if resource:
            out["resource"] = resource
        out["attributes"] = attributes if self.any_values else as_attributes(attributes)
        return renamed(out, rename, out) if rename else out

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
                if _GCP_TRACE in out or _GCP_SAMPLED in out:  # a field of yours came first
                    move_aside(out, _GCP_TRACE)
                    move_aside(out, _GCP_SAMPLED)
                out[_GCP_TRACE] = f"projects/{project}/traces/{value}" if project else value
                out[_GCP_SAMPLED] = _sampled(event)
            elif key == SPAN_ID:
                if _GCP_SPAN in out:
                    move_aside(out, _GCP_SPAN)
                out[_GCP_SPAN] = value
            elif key == LOGGER:
                labels["logger"] = str(value)
            elif key == SERVICE:
                claim(out, "serviceContext", {"service": value})
            elif key == EXCEPTION and isinstance(value, Mapping):
                claim(out, "stack_trace", format_exception_text(value))
            elif key == DURATION_MS and isinstance(value, (int, float)):
                request["latency"] = f"{value / 1000:.6f}s"
            elif key in table:
                if key == CLIENT and isinstance(value, (list, tuple)) and value:
                    value = value[0]
                request[table[key]] = value
            else:
                out[free(out, key) if key in out else key] = value
        if request:
            claim(out, "httpRequest", request)
        if labels:
            claim(out, _GCP_LABELS, labels)
        return renamed(out, self.rename, _GCP_OWNED) if self.rename else out


def duration_ns(value: Any) -> int | None:
    """``duration_ms`` in nanoseconds, as the ``ecs`` layout's ``event.duration``; None for a
    value that is not a finite number (whether it fits a long is the placing's to check)."""
    if type(value) not in (int, float):
        return None
    try:
        return int(value * 1_000_000)
    except (OverflowError, ValueError):  # inf, nan
        return None


def _ecs_custom(out: dict[str, Any], key: str, value: Any) -> None:
    """Put a value that cannot take its ECS place under the custom namespace, by its own name."""
    path = f"{ECS_CUSTOM_NAMESPACE}.{key}"
    while not put(out, path, value):
        path += "_"


def _moved_aside(key: str) -> str | None:
    """For ``level_`` (your ``level``, moved aside by the merger): ``level``; else None."""
    if not key.endswith("_"):
        return None
    return key[:-1] if key.rstrip("_") in _MOVED_ASIDE else None


def _sampled(event: EventDict) -> bool:
    """The sampled flag: from the event if a processor wrote it, else from the live context."""
    value = event.get(TRACE_SAMPLED)
    if value is not None:
        return bool(value)
    ctx = context.current_var.get()
    if ctx is not None and ctx.trace_id == event.get(TRACE_ID):
        return bool(ctx.sampled)
    return True
