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

import functools
import logging
import types
import weakref
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from tracelog import context
from tracelog import pipeline as _pipeline
from tracelog._fastpath_ecs import SHAPE, EcsLine
from tracelog._levels import LEVELS, STD_NAMES
from tracelog.fields import (
    LEVEL,
    LOGGER,
    MESSAGE,
    PARENT_SPAN_ID,
    SPAN_ID,
    TIMESTAMP,
    TRACE_ID,
)
from tracelog.outputs._stream import Stream
from tracelog.outputs._writer import BackgroundWriter
from tracelog.processors import (
    LINE_OPTIONS,
    STRUCTLOG_VARS,
    TraceMerger,
    line_now,
    line_time,
)
from tracelog.redaction import CACHE_LIMIT
from tracelog.render import JsonRenderer, dumps, render_json
from tracelog.schema import Projection

if TYPE_CHECKING:
    from tracelog.pipeline import Emit, Pipeline

__all__ = ["compile_emit", "default_line", "level_method", "record_handler"]

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
_NO_LINES: dict[Any, Any] = {}
Handle = Callable[[logging.LogRecord], bool]
Method = Callable[..., None]
_ECS_LINES: weakref.WeakKeyDictionary[Any, EcsLine] = weakref.WeakKeyDictionary()
_get_context = context.current_var.get
_otel_imported = context.otel_imported


def default_line(
    merger: TraceMerger, name: Any, created: float | None, method: str, message: Any, fields: Any
) -> bytes:
    """The line the plain chain (merger, JSON renderer) writes for one call, in one go.

    The values are searched for nested secrets only when the line shows an
    object past its first byte or an array: whatever has keys (a mapping, a
    dataclass) renders as an object when orjson renders it, key/value pairs
    (``scope["headers"]``) as an array of arrays, and anything else orjson
    cannot render (a NamedTuple, an object of yours) takes the full renderer
    after a search. A line with no ``{`` past its first byte and no ``[``
    holds no key to redact.
    """
    event = merger.merge(name, created, method, message, fields, False, True)
    redactor = merger.redactor
    try:
        line = dumps(event, option=LINE_OPTIONS)
    except Exception:  # a value orjson needs help with: redact, then the full renderer
        if redactor is not None:
            redactor.redact_nested(event, ())
        return render_json(event)
    if redactor is None or not (line.rfind(b"{") or line.rfind(b"[") > 0):
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


def _single_output(pipeline: Pipeline) -> tuple[str, tuple[Any, ...], Any] | None:
    """``(layout, tail, write)`` of a chain of nothing but the merger and one JSON output in
    the ``default`` or ``ecs`` layout; None for any other chain."""
    if pipeline.merger is None or pipeline.steps or len(pipeline.groups) != 1:
        return None
    _, tail, pairs = pipeline.groups[0]
    kind = _layout(tail)
    if kind is None or len(pairs) != 1:
        return None
    return kind, tail, pairs[0][1]


def compile_emit(pipeline: Pipeline) -> Emit | None:
    """A fast ``emit`` for ``pipeline``, or None when its chain is not one this module covers."""
    merger = pipeline.merger
    if merger is None or pipeline.steps:
        return None
    layouts = [(_layout(tail), tail, pairs) for _, tail, pairs in pipeline.groups]
    if any(kind is None for kind, _, _ in layouts):
        return None
    plain = pipeline.emit_plain
    single = _single_output(pipeline)
    if single is not None:
        kind, tail, write = single
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
                    and (line.rfind(b"{") or line.rfind(b"[") > 0)
                    and redactor.redact_nested(event, ())
                ):
                    line = render_json(event)
                write(line)

            return emit_default
        ecs_line = _ecs_lines(pipeline, merger, tail[0]).line

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


def _ecs_lines(pipeline: Pipeline, merger: TraceMerger, projection: Projection) -> EcsLine:
    """The pipeline's one EcsLine: its emit and its level methods share the lines it keeps."""
    ecs = _ECS_LINES.get(pipeline)
    if ecs is None:
        ecs = _ECS_LINES[pipeline] = EcsLine(merger, projection)
    return ecs


def level_method(pipeline: Pipeline, method_name: str, general: Method) -> Method:
    """The native logger's level method ``method_name`` under ``pipeline``.

    ``general`` is the logger's own method, which hands the call to
    ``pipeline.emit``. Where that emit is the one this module generated for a
    chain with one output, the method returned does the emit's common case in
    the call itself (the context's line, the call's fields, the render and,
    for a Stream to a regular file, the write, with no call in between: Python
    calls cost more than the work inside them here) and hands every other
    call to ``general``, before anything is written. So its bytes are the emit's.
    """
    single = _single_output(pipeline)
    if single is None or pipeline.emit is not pipeline.compiled:
        return general
    kind, tail, write = single
    merger: TraceMerger = pipeline.merger  # type: ignore[assignment]
    fail = pipeline.fail
    get_context = _get_context
    structlog_vars = STRUCTLOG_VARS
    with_structlog = merger.with_structlog
    # A Stream to a regular file: its write's common case is done in the method too, once
    # the Stream's first write has bound it (asked after a write, until it is known).
    output: Any = getattr(write, "__self__", None)
    ask = type(output) is Stream and write == output.write
    target: Any = None
    flush_stream: Any = None
    raw: Any = None

    def ask_stream() -> None:
        """After the method's first write through the Stream: its direct parts, if any."""
        nonlocal ask, target, flush_stream, raw
        ask = False
        parts = output.direct()
        if parts is not None:
            target, flush_stream, raw = parts

    ecs = kind == "ecs"
    plain_keys = merger._plain
    redactor = merger.redactor
    now = line_now
    lines_of: Any = _ecs_lines(pipeline, merger, tail[0]).local if ecs else None
    bare = merger._bare
    otel_imported = _otel_imported

    # ``self`` and ``event`` positional-only: a call's keywords are then not compared with
    # their names (two string compares per keyword). ``event=`` stays in ``kw``, for general.
    def method(self: Any, event: Any = None, /, *args: Any, **kw: Any) -> None:
        ctx = get_context()
        line = None
        if type(event) is str and not args:
            bound = self._context
            fields = {**bound, **kw} if bound else kw
            if ecs:  # emit_ecs()'s line for this context, logger and keys, if it has one
                # No owner test: a fill is only made for a context line this merger built,
                # and it checks that line by identity.
                template = ctx._line if ctx is not None else (None if otel_imported() else bare)
                if structlog_vars and template is not None:
                    template = with_structlog(template)  # None: a bound container
                try:
                    name = self._logger.name
                    # The thread's last line first: it checks the line, name and keys.
                    line = lines_of.last(template, name, fields, now(), method_name, event)
                    if line is SHAPE:
                        line = None
                        fill = getattr(lines_of, "lines", _NO_LINES).get(
                            (id(template), name, *fields)
                        )
                        if fill is not None:
                            line = fill(template, name, fields, now(), method_name, event)
                            if line is SHAPE:
                                line = None
                            else:
                                lines_of.last = fill
                except Exception:  # nothing written yet: the general method decides
                    line = None
            elif ctx is not None:  # emit_default() with merge() inlined: a cached context line
                template = ctx._line
                if template is not None and ctx._line_owner is merger:
                    if structlog_vars:
                        template = with_structlog(template)
                    stamp = now()  # on a whole second merge() writes .000000: not here
                    if template is not None and stamp.microsecond and plain_keys.issuperset(fields):
                        try:
                            out = {**template, **fields}
                            out[TIMESTAMP] = stamp
                            out[LEVEL] = method_name
                            out[LOGGER] = self._logger.name
                            out[MESSAGE] = event
                            line = dumps(out, option=LINE_OPTIONS)
                            if (
                                redactor is not None
                                and (line.rfind(b"{") or line.rfind(b"[") > 0)
                                and redactor.redact_nested(out, ())
                            ):
                                line = render_json(out)
                        except Exception:
                            line = None
        if line is None:
            if event is None and not args:  # maybe log.info(event=...): general binds it
                return general(self, **kw)
            return general(self, event, *args, **kw)
        if raw is not None and output.stream is target:  # Stream.write's common case
            try:
                flush_stream()
                done = raw(line)
            except Exception:  # the output's write counts and reports it
                done = 0
            if done == len(line):
                output.written += 1
                return None
            if done:
                line = line[done:]  # a short write: the rest the usual way
        try:
            write(line)
        except Exception as error:
            fail(self._logger, method_name, {**bound, **kw, "event": event}, error)
        if ask:
            ask_stream()
        return None

    return functools.update_wrapper(method, general)


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
    with_structlog = merger.with_structlog
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
            if STRUCTLOG_VARS:
                # with_structlog()'s first test, here: a request's calls see the same values.
                last = merger.structlog_last
                if (
                    last is not None
                    and last[0] is template
                    and last[3] == len(STRUCTLOG_VARS)
                    and last[4](last[1]) is last[1]
                ):
                    template = last[2]
                else:
                    template = with_structlog(template)
                    if template is None:
                        return general(record)
            event = template.copy()
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
            if type(msg) is not str:  # a mapping is the message, searched for secrets
                return general(record)
            message = record.getMessage() if attrs["args"] else msg
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
            # Only an object or an array (key/value pairs) past the first byte can nest a secret.
            if (
                redactor is not None
                and (line.rfind(b"{") or line.rfind(b"[") > 0)
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
    """Give a newly installed pipeline its fast ``emit``, where one is generated for its chain.

    Made once per pipeline: installed again, it keeps what its fast path learned.
    """
    if pipeline.compiled is None:
        pipeline.compiled = compile_emit(pipeline) or pipeline.emit_plain
    pipeline.emit = pipeline.compiled


# First: the native logger's listener makes its level methods from the emit set here.
_pipeline.on_install.insert(0, _install)
_install(_pipeline.installed)
