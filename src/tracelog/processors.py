"""The chain's processors: plain structlog processors, shared by both entry points.

Each takes ``(logger, method_name, event_dict)`` and returns the next event
dict. ``logger`` is whatever the entry point logs through; the pipeline only
reads ``logger.name`` and, for records from the stdlib, ``logger.created``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from structlog.tracebacks import Trace, extract

from tracelog import context
from tracelog.schema import (
    EXCEPTION,
    LEVEL,
    LOGGER,
    MESSAGE,
    OWNED_KEYS,
    PARENT_SPAN_ID,
    SPAN_ID,
    SPAN_NAME,
    STACK,
    TIMESTAMP,
    TRACE_ID,
)
from tracelog.typing import EventDict, WrappedLogger

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "REDACTED",
    "Redactor",
    "TraceMerger",
    "exception_to_structure",
    "structure_exception",
]

UTC = timezone.utc
_fromtimestamp = datetime.fromtimestamp
_now = datetime.now
_get_context = context._current.get
_otel_context = context.otel_context
_OWNED_isdisjoint = OWNED_KEYS.isdisjoint


def _protect_owned(event_dict: EventDict) -> dict[str, Any]:
    """Move user fields named like a pipeline key to ``<name>_`` so nothing is lost."""
    out: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key in OWNED_KEYS:
            while key in OWNED_KEYS or key in event_dict:
                key = key + "_"
        out[key] = value
    return out


class TraceMerger:
    """Chain steps 1 to 3: trace context, timestamp, level and logger name.

    They are one processor because together they build the event in its
    final key order (timestamp, level, logger, message, trace keys, the rest)
    in a single dict, which is the most expensive part of the hot path.
    """

    __slots__ = ("service",)

    def __init__(self, service: str | None = None) -> None:
        self.service = service

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        created = getattr(logger, "created", None)
        out: dict[str, Any] = {
            TIMESTAMP: _now(UTC) if created is None else _fromtimestamp(created, UTC),
            LEVEL: method_name,
            LOGGER: getattr(logger, "name", None),
            MESSAGE: event_dict.pop("event", None),
        }
        ctx = _get_context()
        if ctx is None or ctx.trace_id is None:
            fallback = _otel_context()
            if fallback is not None:
                out[TRACE_ID] = fallback.trace_id
                out[SPAN_ID] = fallback.span_id
        if ctx is not None:
            if ctx.trace_id is not None:
                out[TRACE_ID] = ctx.trace_id
                out[SPAN_ID] = ctx.span_id
                if ctx.parent_span_id is not None:
                    out[PARENT_SPAN_ID] = ctx.parent_span_id
                if ctx.name is not None:
                    out[SPAN_NAME] = ctx.name
            if self.service is not None:
                out["service"] = self.service
            if ctx.fields:
                out.update(ctx.fields)
        elif self.service is not None:
            out["service"] = self.service
        if _OWNED_isdisjoint(event_dict):
            out.update(event_dict)
        else:
            out.update(_protect_owned(event_dict))
        return out


# --- exceptions ------------------------------------------------------------

MAX_FRAMES = 50


def structure_exception(
    exc_type: type[BaseException], exc_value: BaseException, tb: TracebackType | None
) -> dict[str, Any]:
    """One JSON-ready value for an exception: type, message, frames, cause/context chain."""
    trace = extract(exc_type, exc_value, tb, show_locals=False, use_rich=False)
    return _trace_to_value(trace, exc_value)


def _trace_to_value(trace: Trace, exc_value: BaseException | None) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    chain = _chain_links(exc_value)
    for index, stack in enumerate(trace.stacks):
        if index:
            child: dict[str, Any] = {}
            link = chain[index - 1] if index - 1 < len(chain) else "context"
            node[link] = child
            node = child
        node["type"] = stack.exc_type
        node["message"] = stack.exc_value
        frames = stack.frames
        if len(frames) > MAX_FRAMES:
            node["frames_omitted"] = len(frames) - MAX_FRAMES
            frames = frames[-MAX_FRAMES:]
        node["frames"] = [{"file": f.filename, "line": f.lineno, "function": f.name} for f in frames]
        if stack.exc_notes:
            node["notes"] = list(stack.exc_notes)
        if stack.syntax_error is not None:
            se = stack.syntax_error
            node["syntax_error"] = {
                "file": se.filename,
                "line": se.lineno,
                "offset": se.offset,
                "text": se.line,
            }
        if stack.is_group:
            node["exceptions"] = [_trace_to_value(t, None) for t in stack.exceptions]
    return root


def _chain_links(exc: BaseException | None) -> list[str]:
    """'cause' or 'context' for each link of the chain extract() follows."""
    links: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(links) < 100:
        seen.add(id(exc))
        cause = exc.__cause__
        if cause is not None and cause.__traceback__ is not None:
            links.append("cause")
            exc = cause
            continue
        ctx = exc.__context__
        if ctx is not None and ctx.__traceback__ is not None and not exc.__suppress_context__:
            links.append("context")
            exc = ctx
            continue
        break
    return links


def _exc_info_tuple(value: Any) -> tuple[Any, Any, Any] | None:
    if value is True:
        info = sys.exc_info()
        return info if info[0] is not None else None
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    return None


def exception_to_structure(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """Chain step 4: ``exc_info`` (True, an exception or a sys.exc_info() tuple) to ``exception``."""
    if "exc_info" in event_dict:
        info = _exc_info_tuple(event_dict.pop("exc_info"))
        if info is not None:
            event_dict[EXCEPTION] = structure_exception(*info)
    if "stack_info" in event_dict:
        # stdlib's stack_info=True arrives already formatted on the record.
        value = event_dict.pop("stack_info")
        if isinstance(value, str):
            event_dict[STACK] = value
    return event_dict


# --- redaction -------------------------------------------------------------

REDACTED = "[REDACTED]"

DEFAULT_REDACT_KEYS = frozenset(
    (
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "access_key",
        "secret_key",
        "private_key",
        "authorization",
        "auth",
        "cookie",
        "set_cookie",
        "session",
        "sessionid",
        "credentials",
        "credit_card",
        "card_number",
        "cvv",
        "ssn",
        "x_api_key",
        "proxy_authorization",
    )
)

_SPLIT = re.compile(r"[^0-9a-z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CACHE_LIMIT = 10_000
_CONTAINERS = (dict, list, tuple)


class Redactor:
    """Chain step 5: replace the values of secret-looking keys, at any depth.

    A key matches when, split into words (``db_password``, ``X-Api-Key``,
    ``accessToken``), its whole name or its trailing words equal a listed
    name. The key stays; its value becomes ``[REDACTED]``.
    """

    __slots__ = ("_safe", "_secret", "names")

    def __init__(self, names: Iterable[str] = DEFAULT_REDACT_KEYS) -> None:
        self.names = frozenset(_normalise(n) for n in names)
        self._safe: set[str] = set()
        self._secret: set[str] = set()

    def is_secret(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._safe:
            return False
        if key in self._secret:
            return True
        words = _SPLIT.split(_CAMEL.sub("_", key).lower())
        words = [w for w in words if w]
        verdict = any("_".join(words[i:]) in self.names for i in range(len(words)))
        if len(self._safe) + len(self._secret) < _CACHE_LIMIT:
            (self._secret if verdict else self._safe).add(key)
        return verdict

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if not self.names:
            return event_dict
        safe = self._safe
        for key, value in event_dict.items():
            if key in safe:
                if type(value) in _CONTAINERS:
                    event_dict[key] = self._scrub(value, 0)
            elif self.is_secret(key):
                event_dict[key] = REDACTED
            elif isinstance(value, (Mapping, list, tuple)):
                event_dict[key] = self._scrub(value, 0)
        return event_dict

    def _scrub(self, value: Any, depth: int) -> Any:
        if depth > 32:
            return value
        if isinstance(value, Mapping):
            try:
                items = list(value.items())
            except Exception:
                return value
            changed = False
            out: dict[Any, Any] = {}
            for key, item in items:
                if self.is_secret(key):
                    out[key] = REDACTED
                    changed = True
                else:
                    new = self._scrub(item, depth + 1)
                    changed = changed or new is not item
                    out[key] = new
            return out if changed else value
        if isinstance(value, (list, tuple)):
            new_items = [self._scrub(item, depth + 1) for item in value]
            if any(a is not b for a, b in zip(new_items, value)):
                return new_items
            return value
        return value


def _normalise(name: str) -> str:
    return "_".join(w for w in _SPLIT.split(_CAMEL.sub("_", name).lower()) if w)


def merge_fields(event_dict: EventDict, fields: Mapping[str, Any]) -> EventDict:
    """Add fields that do not override what the event already has."""
    for key, value in fields.items():
        event_dict.setdefault(key, value)
    return event_dict
