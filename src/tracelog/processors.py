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
    SERVICE,
    SPAN_ID,
    SPAN_NAME,
    STACK,
    TIMESTAMP,
    TRACE_ID,
    TRACE_SAMPLED,
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


def _special_fields(event_dict: EventDict) -> dict[str, Any]:
    """The slow path of TraceMerger: exceptions, stacks and user keys named like pipeline keys.

    A user field named like a pipeline key moves to ``<name>_`` so nothing is lost.
    """
    out: dict[str, Any] = {}
    exception: dict[str, Any] | None = None
    stack: str | None = None
    for key, value in event_dict.items():
        if key == "exc_info":
            info = _exc_info_tuple(value)
            if info is not None:
                exception = structure_exception(*info)
            continue
        if key == "stack_info":
            if isinstance(value, str):
                stack = value
            continue
        if key in OWNED_KEYS:
            while key in OWNED_KEYS or key in event_dict:
                key = key + "_"
        out[key] = value
    if exception is not None:
        out[EXCEPTION] = exception
    if stack is not None:
        out[STACK] = stack
    return out


_SPECIAL_KEYS = OWNED_KEYS | {"exc_info", "stack_info"}
_no_special = _SPECIAL_KEYS.isdisjoint


class TraceMerger:
    """The chain's first processor: DESIGN steps 1 to 5 in one pass.

    It merges the trace context, stamps the time, names the level and the
    logger, turns ``exc_info`` into a structured ``exception`` and redacts
    the fields it merges. These are one processor because together they build
    the event in its final key order (timestamp, level, logger, message,
    trace keys, service, bound fields, event fields) in a single dict, and
    because redacting the call's few fields (and a context's bound fields
    once, when its line is first built) costs far less than walking the
    finished event. When you add processors, configure() puts a
    :class:`Redactor` after them too, so fields they add are redacted.
    """

    __slots__ = ("_bare", "_plans", "redactor", "service")

    def __init__(self, service: str | None = None, redactor: Redactor | None = None) -> None:
        self.service = service
        self.redactor = redactor
        self._bare: dict[str, Any] = dict.fromkeys((TIMESTAMP, LEVEL, LOGGER, MESSAGE))
        if service is not None:
            self._bare[SERVICE] = service
        # Per set of event keys (a call site logs the same keys every time):
        # whether any key needs the slow path, and which keys are secrets.
        self._plans: dict[tuple[Any, ...], tuple[bool, tuple[str, ...]]] = {}

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        try:
            created = logger.created  # a LogRecord's time; None for native loggers
            name = logger.name
        except AttributeError:
            created = getattr(logger, "created", None)
            name = getattr(logger, "name", None)
        ctx = _get_context()
        if ctx is not None:
            template = ctx._line
            if template is None or ctx._line_owner is not self:
                template = _line_template(ctx, self)
        else:
            fallback = _otel_context()
            template = self._bare if fallback is None else _line_template(fallback, self)
        # Copying a template that already holds the keys in line order is
        # cheaper than building the dict key by key.
        out = template.copy()
        out[TIMESTAMP] = _now(UTC) if created is None else _fromtimestamp(created, UTC)
        out[LEVEL] = method_name
        out[LOGGER] = name
        out[MESSAGE] = event_dict.pop("event", None)
        if event_dict:
            keys = tuple(event_dict)
            plan = self._plans.get(keys)
            if plan is None:
                plan = self._plan(keys)
            redactor = self.redactor
            if plan[0]:
                event_dict = _special_fields(event_dict)
                if redactor is not None:
                    event_dict = redactor.redact(event_dict)
            elif redactor is not None:
                secret = plan[1]
                for key in secret:
                    event_dict[key] = REDACTED
                for value in event_dict.values():
                    if type(value) not in _LEAF_TYPES:
                        redactor._redact_nested(event_dict, secret)
                        break
            out.update(event_dict)
        return out

    def _plan(self, keys: tuple[Any, ...]) -> tuple[bool, tuple[str, ...]]:
        redactor = self.redactor
        plan = (
            not _no_special(keys),
            () if redactor is None else tuple(k for k in keys if redactor.is_secret(k)),
        )
        if len(self._plans) < _CACHE_LIMIT:
            self._plans[keys] = plan
        return plan


def _line_template(ctx: context.TraceContext, merger: TraceMerger) -> dict[str, Any]:
    """A line's first keys (values to fill in) and what the context adds, in line order.

    The context's part is redacted; the template is cached on the (immutable) context.
    """
    service = merger.service
    line: dict[str, Any] = dict.fromkeys((TIMESTAMP, LEVEL, LOGGER, MESSAGE))
    ids: context.TraceContext | None = ctx
    if ctx.trace_id is None:
        # Bound fields without a tracelog trace: the ids may come from an
        # OpenTelemetry span, which can change while this context stays.
        ids = _otel_context()
    if ids is not None:
        line[TRACE_ID] = ids.trace_id
        line[SPAN_ID] = ids.span_id
        if ids.parent_span_id is not None:
            line[PARENT_SPAN_ID] = ids.parent_span_id
        if ids.name is not None:
            line[SPAN_NAME] = ids.name
        if not ids.sampled:
            line[TRACE_SAMPLED] = False  # the W3C flag, for schemas that carry it
    if service is not None:
        line[SERVICE] = service
    fields: EventDict = {
        key + "_" if key in OWNED_KEYS else key: value for key, value in ctx.fields.items()
    }
    if merger.redactor is not None:
        fields = merger.redactor.redact(fields)
    line.update(fields)
    if ctx.trace_id is not None or not context.otel_imported():
        ctx._cache_line(line, merger)
    return line


def require_event_dict(logger: WrappedLogger, method_name: str, event_dict: Any) -> EventDict:
    """After your processors: one that returned something else than an event is a fault."""
    if not isinstance(event_dict, dict):
        raise TypeError(f"a processor returned {type(event_dict).__name__}, not an event dict")
    return event_dict


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
        node["frames"] = [
            {"file": f.filename, "line": f.lineno, "function": f.name} for f in frames
        ]
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
    """``exc_info`` (True, an exception or an exc_info tuple) to a structured ``exception``.

    TraceMerger does this itself; this processor is for chains of your own.
    """
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
# Values of these exact types cannot hold a nested secret; an event whose
# values are all of them skips the walk through nested mappings and lists.
_LEAF_TYPES = frozenset((str, int, float, bool, type(None), datetime))


class Redactor:
    """Chain step 5: replace the values of secret-looking keys, at any depth.

    A key matches when, split into words (``db_password``, ``X-Api-Key``,
    ``accessToken``), its whole name or its trailing words equal a listed
    name. The key stays; its value becomes ``[REDACTED]``.

    The verdict for a whole set of top-level keys is cached (a call site logs
    the same keys every time), so the common case costs one lookup plus a
    scan of the value types for nested mappings and lists.
    """

    __slots__ = ("_by_keys", "_safe", "_secret", "names")

    def __init__(self, names: Iterable[str] = DEFAULT_REDACT_KEYS) -> None:
        self.names = frozenset(_normalise(n) for n in names)
        self._safe: set[str] = set()
        self._secret: set[str] = set()
        self._by_keys: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def is_secret(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._safe:
            return False
        if key in self._secret:
            return True
        words = [w for w in _SPLIT.split(_CAMEL.sub("_", key).lower()) if w]
        verdict = any("_".join(words[i:]) in self.names for i in range(len(words)))
        if len(self._safe) + len(self._secret) < _CACHE_LIMIT:
            (self._secret if verdict else self._safe).add(key)
        return verdict

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return self.redact(event_dict)

    def redact(self, fields: EventDict, secret: tuple[str, ...] | None = None) -> EventDict:
        """Redact ``fields`` in place (nested mappings are copied, never changed) and return it.

        ``secret``, when the caller already knows them, are the top-level keys to redact.
        """
        if not fields:
            return fields
        if secret is None:
            keys = tuple(fields)
            secret = self._by_keys.get(keys)
            if secret is None:
                secret = tuple(k for k in keys if self.is_secret(k))
                if len(self._by_keys) < _CACHE_LIMIT:
                    self._by_keys[keys] = secret
        for key in secret:
            fields[key] = REDACTED
        for value in fields.values():
            if type(value) not in _LEAF_TYPES:
                self._redact_nested(fields, secret)
                break
        return fields

    def _redact_nested(self, fields: EventDict, secret: tuple[str, ...]) -> None:
        for key, value in fields.items():
            if key not in secret and isinstance(value, (Mapping, list, tuple)):
                fields[key] = self._scrub(value, 0)

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
            try:
                items = list(value)
            except Exception:
                return value
            new_items = [self._scrub(item, depth + 1) for item in items]
            if any(a is not b for a, b in zip(new_items, items, strict=True)):
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
