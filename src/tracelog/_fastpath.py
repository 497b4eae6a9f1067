"""Fast paths generated from a pipeline's resolved chain, byte for byte equal to it.

:func:`compile_emit` looks at the chain ``configure()`` resolved (the merger,
what follows it, each output's layout and renderer) and, where a shorter way
writes the same bytes, returns an ``emit`` for the pipeline to use instead of
its plain one. It covers the chains that are nothing but the merger and JSON
outputs in the ``default`` layout (any number of them) or one ``ecs`` output;
every other chain keeps the plain ``emit``. At call time a fast path takes
the plain chain for anything it does not handle itself (a context whose line
is not cached yet, an unusual key, a value orjson needs help with): it never
writes a different line. :func:`record_handler` does the same for stdlib
records, reading the record's dict directly.

tests/test_fastpath.py draws configurations and calls and checks that each
fast path writes what the plain chain writes.

The tables of a record's standard attributes are here too: both paths read them.
"""

from __future__ import annotations

import logging
import math
import types
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from tracelog import context
from tracelog import pipeline as _pipeline
from tracelog._levels import LEVELS, STD_NAMES
from tracelog.fields import (
    DURATION_MS,
    LEVEL,
    LOGGER,
    MESSAGE,
    PARENT_SPAN_ID,
    SPAN_ID,
    TIMESTAMP,
    TRACE_ID,
)
from tracelog.outputs._writer import BackgroundWriter
from tracelog.processors import (
    LINE_OPTIONS,
    STRUCTLOG_VARS,
    TraceMerger,
    line_now,
    line_time,
    with_structlog_context,
)
from tracelog.redaction import CACHE_LIMIT, LEAF_TYPES
from tracelog.render import JsonRenderer, dumps, render_json, with_microseconds
from tracelog.schema import Projection
from tracelog.schema._ecs import ecs_value_fits

if TYPE_CHECKING:
    from tracelog.pipeline import Emit, Pipeline

__all__ = ["compile_emit", "default_line", "record_handler"]

# Attributes every LogRecord has, in the order LogRecord.__init__ sets them;
# makeRecord adds ``extra=`` after them, so anything past them came from ``extra=``.
PLAIN_RECORD_ATTRS = tuple(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
N_PLAIN = len(PLAIN_RECORD_ATTRS)
STANDARD_ATTRS = frozenset({*PLAIN_RECORD_ATTRS, "message", "asctime", "taskName"})
# Set on a record by a formatter that ran before ours (after ``extra=`` fields).
SET_LATE = frozenset(("message", "asctime"))
# Stamped by TraceFilter; the pipeline writes its own.
STAMPED = frozenset((TRACE_ID, SPAN_ID, PARENT_SPAN_ID))
# uvicorn's copy of the message with terminal colour codes: noise in a JSON line.
LEFT_OUT = frozenset(("color_message",))
# A key past the standard ones that is one of these: the record needs a closer look.
NOT_EXTRA = STANDARD_ATTRS | STAMPED | LEFT_OUT
_NEWLINE = b"\n"
_MISSING = object()
Handle = Callable[[logging.LogRecord], bool]
_get_context = context.current_var.get
_otel_imported = context.otel_imported


def default_line(
    merger: TraceMerger, name: Any, created: float | None, method: str, message: Any, fields: Any
) -> bytes:
    """The line the plain chain (merger, JSON renderer) writes for one call, in one go.

    The values are searched for nested secrets only when the line shows a
    container: a mapping, a sequence or an object with fields anywhere in an
    event renders as a JSON object or array, so a line with neither past its
    first byte holds nothing nested to redact.
    """
    event = merger.merge(name, created, method, message, fields, False, True)
    redactor = merger.redactor
    try:
        line = dumps(event, option=LINE_OPTIONS)
    except Exception:  # a value orjson needs help with: redact, then the full renderer
        if redactor is not None:
            redactor.redact_nested(event, ())
        return render_json(event)
    if redactor is None or (line.find(b"{", 1) == -1 and line.find(b"[") == -1):
        return line
    if redactor.redact_nested(event, ()):  # rendered again only when a secret was found
        return render_json(event)
    return line


def _layout(tail: tuple[Any, ...]) -> str | None:
    """What a group's steps after the shared chain are: ``default``, ``ecs``, or None (other)."""
    if not tail or type(tail[-1]) is not JsonRenderer:
        return None
    if len(tail) == 1:
        return "default"
    if len(tail) == 2 and type(tail[0]) is Projection:
        projection = tail[0]
        if projection.is_identity:
            return "default"
        if projection.name == "ecs" and not projection.rename and not projection.static:
            return "ecs"
    return None


def compile_emit(pipeline: Pipeline) -> Emit | None:
    """A fast ``emit`` for ``pipeline``, or None when its chain is not one this module covers."""
    merger = pipeline.merger
    if merger is None or pipeline.steps:
        return None
    layouts = [(_layout(tail), tail, pairs) for _, tail, pairs in pipeline.groups]
    if any(kind is None for kind, _, _ in layouts):
        return None
    plain = pipeline.emit_plain
    if len(layouts) == 1 and len(layouts[0][2]) == 1:
        kind, tail, ((_, write),) = layouts[0]
        if kind == "default":
            merge = merger.merge
            redactor = merger.redactor

            def emit_default(
                name: Any, created: Any, method: str, message: Any, fields: Any, logger: Any = None
            ) -> None:
                # default_line(), inlined: this is the call most lines take.
                event = merge(name, created, method, message, fields, False, True)
                try:
                    line = dumps(event, option=LINE_OPTIONS)
                except Exception:  # a value orjson needs help with: redact, then the full renderer
                    if redactor is not None:
                        redactor.redact_nested(event, ())
                    write(render_json(event))
                    return
                if (
                    redactor is not None
                    and (line.find(b"{", 1) != -1 or line.find(b"[") != -1)
                    and redactor.redact_nested(event, ())
                ):
                    line = render_json(event)
                write(line)

            return emit_default
        ecs = EcsLine(merger, tail[0], plain)
        ecs_line = ecs.line

        def emit_ecs(
            name: Any, created: Any, method: str, message: Any, fields: Any, logger: Any = None
        ) -> None:
            line = ecs_line(name, created, method, message, fields)
            if line is not None:
                write(line)
            else:
                plain(name, created, method, message, fields, logger)

        return emit_ecs
    if len(layouts) != 1:
        return None  # several layouts: each output's projection runs on the plain chain
    pairs = layouts[0][2]
    levels = LEVELS

    def emit_fanout(
        name: Any, created: Any, method: str, message: Any, fields: Any, logger: Any = None
    ) -> None:
        levelno = levels.get(method)
        if levelno is None:  # a level of your own: the plain chain names it
            plain(name, created, method, message, fields, logger)
            return
        line = default_line(merger, name, created, method, message, fields)
        for min_level, write in pairs:
            if levelno >= min_level:
                try:
                    write(line)
                except Exception as error:
                    pipeline.output_failed(error)

    return emit_fanout


class EcsLine:
    """The ``ecs`` line for one call, from a layout of the context's part made once.

    The projection of a line's fixed part (the pipeline's keys and the bound
    fields, for one context and logger name) is kept; a call whose own
    fields are keys the layout only places (see :meth:`Projection.ecs_place`)
    with plain values that fit their ECS types is that layout with the
    call's time, level, message and fields put in. Anything else is None:
    the caller runs the plain chain.
    """

    __slots__ = ("_layouts", "_places", "merger", "projection")

    def __init__(self, merger: TraceMerger, projection: Projection, plain: Emit) -> None:
        self.merger = merger
        self.projection = projection
        # (template, logger name) -> the laid-out fixed part, or None where it has no fast form
        self._layouts: dict[tuple[int, Any], tuple[dict[str, Any], Any, Any] | None] = {}
        # a key of yours -> where the layout puts it (names, ECS type), or None: not placed
        self._places: dict[str, tuple[tuple[str, ...], str | None] | None] = {}

    def line(
        self, name: Any, created: float | None, method: str, message: Any, fields: Any
    ) -> bytes | None:
        merger = self.merger
        if type(message) is not str:
            return None
        ctx = _get_context()
        if ctx is not None:
            template = ctx._line
            if template is None or ctx._line_owner is not merger:
                return None
        elif _otel_imported():
            return None
        else:
            template = merger._bare
        if STRUCTLOG_VARS and with_structlog_context({}, template):
            return None
        key = (id(template), name)
        layouts = self._layouts
        if key in layouts:
            layout = layouts[key]
            if layout is not None and layout[1] is not template:  # a template gone, its id reused
                layout = self._lay_out(key, template, name)
        else:
            layout = self._lay_out(key, template, name)
        if layout is None:
            return None
        shell, _, dataset = layout
        out = shell.copy()
        stamp = line_now() if created is None else line_time(created)
        out["@timestamp"] = stamp if stamp.microsecond else with_microseconds(stamp)
        out["log.level"] = method
        out["message"] = message
        if fields:
            if dataset is not _MISSING:
                del out["event"]
            if not self._place_all(out, fields):
                return None
            if dataset is not _MISSING:
                event = out.get("event", _MISSING)
                if event is _MISSING:
                    out["event"] = dataset
                elif type(event) is dict and "dataset" not in event:  # one this call made
                    event["dataset"] = dataset["dataset"]
                else:
                    return None
        try:
            return dumps(out, option=LINE_OPTIONS)
        except Exception:
            return None

    def _place_all(self, out: dict[str, Any], fields: Any) -> bool:
        """Put the call's fields where the layout puts them; False for anything else."""
        places = self._places
        plain = self.merger._plain
        made: list[dict[str, Any]] = []  # the dicts this call made (the layout's are shared)
        for key, value in fields.items():
            if type(value) not in LEAF_TYPES or key not in plain:
                return False
            place: Any = places.get(key, _MISSING)
            if place is _MISSING:
                place = self.projection.ecs_place(key)
                if len(places) < CACHE_LIMIT:
                    places[key] = place
            if place is None:
                return False
            path, kind = place
            if key == DURATION_MS:
                if type(value) not in (int, float) or not math.isfinite(value):
                    return False
                value = int(value * 1_000_000)
            elif kind is not None and not ecs_value_fits(kind, value):
                return False
            node = out
            for part in path[:-1]:
                child = node.get(part, _MISSING)
                if child is _MISSING:
                    child = node[part] = {}
                    made.append(child)
                elif not any(child is mine for mine in made):
                    return False
                node = child
            if path[-1] in node:
                return False
            node[path[-1]] = value
        return True

    def _lay_out(
        self, key: tuple[int, Any], template: dict[str, Any], name: Any
    ) -> tuple[dict[str, Any], Any, Any] | None:
        event = template.copy()
        event[LOGGER] = name
        event[LEVEL] = "info"
        event[MESSAGE] = ""
        shell: dict[str, Any] | None = dict(self.projection(None, "info", event))
        dataset: Any = _MISSING
        if shell is not None:
            names = list(shell)
            if names[:3] != ["@timestamp", "log.level", "message"]:
                shell = None
            elif "event" in shell:
                value = shell["event"]
                last = names[-1] == "event" and isinstance(value, dict)
                if not last or list(value) != ["dataset"]:
                    shell = None
                else:
                    dataset = value
        layout = None if shell is None else (shell, template, dataset)
        if len(self._layouts) >= 1000:
            self._layouts.clear()
        self._layouts[key] = layout
        return layout


def record_handler(handler: logging.Handler, pipeline: Pipeline) -> Handle | None:
    """``handle(record)`` for ``handler`` under ``pipeline``; None when its chain is not covered.

    Covered: the merger and JSON outputs in the default layout (one or
    several). ``handler``'s class ``handle`` is the general path the result
    falls back to, for every record it does not handle itself.
    """
    merger = pipeline.merger
    if merger is None or pipeline.steps or len(pipeline.groups) != 1:
        return None
    _, tail, pairs = pipeline.groups[0]
    if _layout(tail) != "default":
        return None
    general: Handle = types.MethodType(type(handler).handle, handler)
    single = len(pairs) == 1
    write = pairs[0][1]
    writer: Any = getattr(write, "__self__", None)
    queue: Any = None
    capacity = 0
    if single and type(writer) is BackgroundWriter and write == writer.write:
        queue = writer._queue
        capacity = writer.queue_size
    # The queue holds exact copies (orjson's bytes keep ~4 KiB): rendered
    # without the newline, the copy is ``line + b"\n"``.
    options = LINE_OPTIONS & ~orjson.OPT_APPEND_NEWLINE if queue is not None else LINE_OPTIONS
    plain = merger._plain
    redactor = merger.redactor
    bare = merger._bare
    get_context = _get_context
    otel_imported = _otel_imported
    level_names = STD_NAMES
    # extra= keys this handler has seen plain: the merger's plain keys that
    # record_fields() takes as they are.
    known: set[str] = set()

    def handle(record: logging.LogRecord) -> bool:
        if handler.filters:
            return general(record)
        ctx = get_context()
        if ctx is not None:
            template = ctx._line
            if template is None or ctx._line_owner is not merger:
                return general(record)  # it builds the context's template for the next call
        elif otel_imported():
            return general(record)
        else:
            template = bare
        try:
            # The record's attributes read from its dict: cheaper than attribute lookups.
            attrs = record.__dict__
            event = template.copy()
            if STRUCTLOG_VARS:
                bound = with_structlog_context({}, template)
                if bound:
                    if not plain.issuperset(bound):
                        return general(record)
                    event.update(bound)
            if len(attrs) != N_PLAIN:
                for key in islice(attrs, N_PLAIN, None):
                    if key not in known:
                        if key in SET_LATE:  # a formatter ran before ours (pytest's caplog)
                            continue
                        if key in NOT_EXTRA or key not in plain or len(known) >= CACHE_LIMIT:
                            return general(record)
                        known.add(key)
                    event[key] = attrs[key]
            if attrs["exc_info"] or attrs["stack_info"]:
                return general(record)
            msg = attrs["msg"]
            message = msg if type(msg) is str and not attrs["args"] else record.getMessage()
            if type(message) is not str:
                return general(record)
            levelno = attrs["levelno"]
            event[LEVEL] = level_names[levelno]
            stamp = line_time(attrs["created"])
            if not stamp.microsecond:
                return general(record)  # a whole second: rendered with its .000000 there
            event[TIMESTAMP] = stamp
            event[LOGGER] = attrs["name"]
            event[MESSAGE] = message
            line = dumps(event, option=options)
            full = None
            # A container anywhere renders as a JSON object or array: only then can a
            # secret be nested.
            if (
                redactor is not None
                and (line.find(b"{", 1) != -1 or line.find(b"[") != -1)
                and redactor.redact_nested(event, ())
            ):
                full = render_json(event)
        except Exception:  # a value orjson needs help with, a bad %-format, a custom level
            return general(record)
        if not single:
            if full is None:
                full = line
            for min_level, out in pairs:
                if levelno >= min_level:
                    try:
                        out(full)
                    except Exception as error:
                        pipeline.output_failed(error)
        elif full is not None:
            write(full)
        elif queue is None:
            write(line)
        elif len(queue) < capacity:
            queue.append(line + _NEWLINE)
            if writer._idle:
                writer._wake()
        else:
            write(line + _NEWLINE)
        return True

    return handle


def _install(pipeline: Pipeline) -> None:
    """Give a newly installed pipeline its fast ``emit``, where one is generated for its chain."""
    pipeline.emit = compile_emit(pipeline) or pipeline.emit_plain


_pipeline.on_install.append(_install)
_install(_pipeline.installed)
