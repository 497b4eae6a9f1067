"""The chain's processors: plain structlog processors, shared by both entry points.

Each takes ``(logger, method_name, event_dict)`` and returns the next event
dict. ``logger`` is whatever the entry point logs through; the pipeline only
reads ``logger.name`` and, for records from the stdlib, ``logger.created``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from tracelog import context
from tracelog._callsite import CallSite
from tracelog._exceptions import (
    caller_stack,
    exc_info_tuple,
    exception_to_structure,
    structure_exception,
)
from tracelog.fields import (
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
from tracelog.redaction import (
    CACHE_LIMIT,
    LEAF_TYPES,
    Redactor,
)
from tracelog.render import OPTIONS, with_microseconds
from tracelog.typing import EventDict, WrappedLogger

__all__ = [
    "CallSite",
    "TraceMerger",
    "exception_to_structure",
    "require_event_dict",
    "structure_exception",
]

try:  # structlog's registry of the context variables bind_contextvars() made
    from structlog.contextvars import _CONTEXT_VARS as _structlog_registry
except ImportError:  # pragma: no cover - a structlog without it: use merge_contextvars
    _structlog_registry = {}
#: structlog's registry of contextvars: non-empty once bind_contextvars() was used here.
STRUCTLOG_VARS: dict[str, Any] = _structlog_registry
_STRUCTLOG_PREFIX = len("structlog_")
#: TraceMerger.structlog_last: (template, values, line, how many variables, their reader).
StructlogLast = tuple[Any, tuple[Any, ...], dict[str, Any], int, Callable[..., tuple[Any, ...]]]

UTC = timezone.utc
_fromtimestamp = datetime.fromtimestamp
_now = datetime.now
if sys.version_info < (3, 12):
    # For a line rendered at once (no processor of yours sees it): a naive UTC
    # datetime costs half an aware one to make, and renders the same (a naive
    # datetime is UTC on every route). Deprecated from 3.12, where the aware one is made.
    line_now: Callable[[], datetime] = datetime.utcnow
    line_time: Callable[[float], datetime] = datetime.utcfromtimestamp
else:
    line_now = functools.partial(datetime.now, UTC)
    line_time = functools.partial(datetime.fromtimestamp, tz=UTC)
#: orjson's options for a line rendered at once: the renderer's.
LINE_OPTIONS = OPTIONS

_get_context = context.current_var.get
_otel_context = context.otel_context


def _special_fields(event_dict: EventDict, owned: frozenset[str]) -> dict[str, Any]:
    """The slow path of TraceMerger: exceptions, stacks and user keys named like pipeline keys.

    A user field named like a pipeline key (one of ``owned``, or ``exception``
    and ``stack`` when the pipeline writes them) moves to ``<name>_`` so
    nothing is lost.
    """
    out: dict[str, Any] = {}
    exception: dict[str, Any] | None = None
    stack: str | None = None
    for key, value in event_dict.items():
        if key == "exc_info":
            info = exc_info_tuple(value)
            if info is not None:
                exception = structure_exception(*info)
            continue
        if key == "stack_info":
            # stdlib's stack_info=True arrives already formatted; a native call's is True.
            if isinstance(value, str):
                stack = value
            elif value:
                stack = caller_stack()
            continue
        out[key] = value
    if exception is not None:
        owned = owned | {EXCEPTION}
    if stack is not None:
        owned = owned | {STACK}
    for key in owned.intersection(out):
        free = key + "_"
        while free in owned or free in out:
            free = free + "_"
        out[free] = out.pop(key)
    if exception is not None:
        out[EXCEPTION] = exception
    if stack is not None:
        out[STACK] = stack
    return out


def owned_keys(service: str | None) -> frozenset[str]:
    """The keys a merger writes itself: a field of that name is moved to ``<name>_``."""
    owned = OWNED_KEYS | {TRACE_SAMPLED, "event"}  # "event": structlog's name for the message
    return owned | {SERVICE} if service is not None else owned


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

    __slots__ = (
        "_bare",
        "_no_special",
        "_plain",
        "_structlog_lines",
        "owned",
        "redactor",
        "service",
        "structlog_last",
    )

    def __init__(self, service: str | None = None, redactor: Redactor | None = None) -> None:
        self.service = service
        self.redactor = redactor
        self.owned = owned_keys(service)
        self._no_special = (self.owned | {"exc_info", "stack_info"}).isdisjoint
        self._bare: dict[str, Any] = dict.fromkeys((TIMESTAMP, LEVEL, LOGGER, MESSAGE))
        if service is not None:
            self._bare[SERVICE] = service
        # Keys seen that are neither secrets nor the pipeline's: fields with
        # only these need no work beyond a look for nested mappings.
        self._plain: set[Any] = set()
        # (template, structlog's values) -> the template with them, redacted
        self._structlog_lines: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
        # The last (template, values, line, how many variables, their reader): a request's
        # calls see the same objects bound. A caller may test it itself, as
        # with_structlog() does first, and take the line.
        self.structlog_last: StructlogLast | None = None

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        try:
            created = logger.created  # a LogRecord's time; None for native loggers
            name = logger.name
        except AttributeError:
            created = getattr(logger, "created", None)
            name = getattr(logger, "name", None)
        message = event_dict.pop("event", None)
        return self.merge(name, created, method_name, message, event_dict)

    def merge(
        self,
        name: Any,
        created: float | None,
        method_name: str,
        message: Any,
        fields: EventDict,
        nested: bool = True,
        line_clock: bool = False,
    ) -> EventDict:
        """The event for one call: what ``__call__`` makes, with the parts given apart.

        The entry points call this directly (it saves the ``event`` key's
        round trip). ``created`` is a record's time (``time.time()`` seconds),
        None for now; ``fields`` is the call's own dict, changed in place.
        With ``nested=False`` the values of ``fields`` are not searched for
        nested mappings (:meth:`json_line` does that when the line shows one);
        with ``line_clock=True`` the time is ``_line_time``'s, for ``_LINE_OPTIONS``.
        """
        ctx = _get_context()
        if ctx is not None:
            template = ctx._line
            if template is None or ctx._line_owner is not self:
                template = _line_template(ctx, self)
        else:
            fallback = _otel_context()
            template = self._bare if fallback is None else _line_template(fallback, self)
        if STRUCTLOG_VARS:  # structlog.contextvars.bind_contextvars() was used in this process
            combined = self.with_structlog(template)
            if combined is None:  # a bound container: merged (and searched) on every call
                fields = with_structlog_context(fields, template)
            else:
                template = combined
        if type(message) is not str and message is not None and self.redactor is not None:
            message = self.redactor.scrub(message)  # a dict event, say: searched as fields are
        if fields:
            if not self._plain.issuperset(fields):
                fields = self._unusual(fields)
            elif nested and self.redactor is not None:
                for value in fields.values():
                    if type(value) not in LEAF_TYPES:
                        self.redactor.redact_nested(fields, ())
                        break
            # The template holds the first keys in line order (values to fill
            # in): one merge of two dicts is cheaper than building key by key.
            out = {**template, **fields}
        else:
            out = template.copy()
        if line_clock:
            stamp = line_now() if created is None else line_time(created)
            if not stamp.microsecond:
                stamp = stamp.replace(tzinfo=UTC)
        else:
            stamp = _now(UTC) if created is None else _fromtimestamp(created, UTC)
        out[TIMESTAMP] = stamp if stamp.microsecond else with_microseconds(stamp)
        out[LEVEL] = method_name
        out[LOGGER] = name
        out[MESSAGE] = message
        return out

    def with_structlog(self, template: dict[str, Any]) -> dict[str, Any] | None:
        """``template`` with what ``bind_contextvars()`` bound in this context, redacted.

        Kept per (template, values): a call whose bound values are the same as
        an earlier one's reuses its line. None when a bound value is not a
        plain value (a container can change after it was bound): the caller
        merges those per call, with :func:`with_structlog_context`.
        """
        global _structlog_reader
        seen, keys, read = _structlog_reader  # _current_structlog_reader(), inlined: hot path
        if len(STRUCTLOG_VARS) != seen:
            _structlog_reader = seen, keys, read = _compile_structlog_reader()
        last = self.structlog_last
        if last is None or last[4] is not read:  # a variable was made since: more values
            values = read()
        else:
            values = read(last[1])  # the very tuple back when every value is the same object
            if values is last[1] and last[0] is template:
                return last[2]  # the last call's values: plain, already merged
        if not _STRUCTLOG_LEAVES.issuperset(map(type, values)):
            return None
        if values.count(Ellipsis) == len(values):
            self.structlog_last = (template, values, template, seen, read)
            return template
        lines = self._structlog_lines
        key = (id(template), *values)
        entry = lines.get(key)
        if entry is not None and entry[0] is template:
            self.structlog_last = (template, values, entry[1], seen, read)
            return entry[1]
        bound = _bound_fields(keys, values, template)
        if self.redactor is not None:
            bound = self.redactor.redact(bound)
        combined = {**template, **bound}
        if len(lines) >= 1000:
            lines.clear()
        lines[key] = (template, combined)
        self.structlog_last = (template, values, combined, seen, read)
        return combined

    def _unusual(self, fields: EventDict) -> EventDict:
        """Fields with a key not seen before, a secret, or one the pipeline owns.

        Keys found plain (neither) are remembered, so the next call with them
        takes the short way.
        """
        redactor = self.redactor
        if not self._no_special(fields):
            fields = _special_fields(fields, self.owned)
        elif len(self._plain) < CACHE_LIMIT:
            for key in fields:
                if redactor is None or not redactor.is_secret(key):
                    self._plain.add(key)
        return fields if redactor is None else redactor.redact(fields)


def _line_template(ctx: context.TraceContext, merger: TraceMerger) -> dict[str, Any]:
    """A line's first keys (values to fill in) and what the context adds, in line order.

    The context's part is redacted. The template is cached on the (immutable)
    context, unless a bound value is a container: its contents can change
    after this line (a dict bound and filled in later), so it is searched for
    secrets again on every line.
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
    owned = merger.owned
    fields: EventDict = {
        key + "_" if key in owned else key: value for key, value in ctx.fields.items()
    }
    if merger.redactor is not None:
        fields = merger.redactor.redact(fields)
    line.update(fields)
    settled = all(type(value) in LEAF_TYPES for value in fields.values())
    if settled and (ctx.trace_id is not None or not context.otel_imported()):
        ctx._cache_line(line, merger)
    return line


#: A reader generated for the variables the registry holds: (how many, keys, read()).
_structlog_reader: tuple[int, tuple[str, ...], Callable[..., tuple[Any, ...]]] = (
    0,
    (),
    lambda last=None: (),
)
_STRUCTLOG_LEAVES = LEAF_TYPES | {type(Ellipsis)}


def structlog_values() -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The keys ``bind_contextvars()`` has made in this process, and their values here
    (Ellipsis for a key not bound in this context)."""
    keys, read = _current_structlog_reader()
    return keys, read()


def _current_structlog_reader() -> tuple[tuple[str, ...], Callable[..., tuple[Any, ...]]]:
    """The reader for the variables the registry holds now (made again when it grew)."""
    global _structlog_reader
    seen, keys, read = _structlog_reader
    if len(STRUCTLOG_VARS) != seen:
        _structlog_reader = seen, keys, read = _compile_structlog_reader()
    return keys, read


def _bound_fields(
    keys: tuple[str, ...], values: tuple[Any, ...], line: dict[str, Any]
) -> EventDict:
    """The bound values as fields; a key the line has already is kept beside it as ``<name>_``."""
    bound: EventDict = {}
    for name, value in zip(keys, values, strict=True):
        if value is not Ellipsis:
            while name in line or name in bound:
                name += "_"
            bound[name] = value
    return bound


def _compile_structlog_reader() -> tuple[int, tuple[str, ...], Callable[..., tuple[Any, ...]]]:
    """A function reading every structlog variable in one go: one ``get`` each, no loop.

    ``read(last)`` returns ``last`` itself when every value is the very object
    it holds (a request's calls see the same objects bound), else a new tuple.
    """
    items = tuple(STRUCTLOG_VARS.items())
    names = [f"get{i}" for i in range(len(items))]
    # The gets are the function's globals: defaults would be copied on every call.
    namespace: dict[str, Any] = {name: var.get for name, (_, var) in zip(names, items, strict=True)}
    reads = "".join(f"    v{i} = {name}(...)\n" for i, name in enumerate(names))
    same = "".join(f" and last[{i}] is v{i}" for i in range(len(names)))
    values = "".join(f"v{i}, " for i in range(len(names)))
    source = (
        f"def read(last=None):\n{reads}"
        f"    if last is not None{same}:\n        return last\n"
        f"    return ({values})\n"
    )
    exec(source, namespace)
    keys = tuple(name[_STRUCTLOG_PREFIX:] for name, _ in items)
    return len(items), keys, namespace["read"]


def with_structlog_context(fields: EventDict, line: dict[str, Any]) -> EventDict:
    """``fields`` after what ``structlog.contextvars.bind_contextvars()`` bound here.

    What structlog's ``merge_contextvars`` adds, so code that binds request
    fields the structlog way keeps them; the call's own fields win. A key
    the line has already (bound with ``tracelog.bind()``, or the
    pipeline's) is kept beside it as ``<name>_``.
    """
    bound = _bound_fields(*structlog_values(), line)
    if not bound:
        return fields
    bound.update(fields)
    return bound


def require_event_dict(logger: WrappedLogger, method_name: str, event_dict: Any) -> EventDict:
    """After your processors: one that returned something else than an event is a fault."""
    if not isinstance(event_dict, dict):
        raise TypeError(f"a processor returned {type(event_dict).__name__}, not an event dict")
    return event_dict
