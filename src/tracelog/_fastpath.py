"""The usual chain, inlined for stdlib records: merger, JSON renderer, one output.

:func:`record_handler` builds, for one :class:`~tracelog.stdlib.TracelogHandler`
and one pipeline, a ``handle(record)`` that writes the line the general path
(``TracelogHandler.handle``, then ``TraceMerger.json_line``) writes, in one
function: no Python call per step, no lookup of the active pipeline, the line
queued in place when a background writer takes it. It covers the common record
(a line template built for its context, ``extra=`` keys seen before and
neither secret nor the pipeline's, no exception or stack); any other record,
and any fault, takes the general path. tests/test_inline.py checks that both
paths write the same bytes.

The tables of a record's standard attributes are here too: both paths read them.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable
from itertools import islice
from typing import Any

import orjson

from tracelog import context
from tracelog import pipeline as _pipeline
from tracelog.outputs._writer import BackgroundWriter
from tracelog.processors import _LINE_OPTIONS, _STRUCTLOG_VARS, _aware_time, _line_time
from tracelog.redaction import _CACHE_LIMIT
from tracelog.render import _dumps, render_json
from tracelog.schema import (
    LEVEL,
    LOGGER,
    MESSAGE,
    PARENT_SPAN_ID,
    SPAN_ID,
    TIMESTAMP,
    TRACE_ID,
)

__all__ = ["record_handler"]

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
Handle = Callable[[logging.LogRecord], bool]


def record_handler(handler: logging.Handler, pipeline: _pipeline.Pipeline) -> Handle | None:
    """``handle(record)`` for ``handler`` under ``pipeline``; None when its chain is not the usual.

    ``handler``'s class ``handle`` is the general path the result falls back to.
    """
    merger = pipeline.json_merger
    if merger is None:
        return None
    general: Handle = types.MethodType(type(handler).handle, handler)
    write = pipeline.write
    writer: Any = getattr(write, "__self__", None)
    queue: Any = None
    capacity = 0
    if type(writer) is BackgroundWriter and write == writer.write:
        queue = writer._queue
        capacity = writer.capacity
    # The queue holds exact copies (orjson's bytes keep ~4 KiB): rendered
    # without the newline, the copy is ``line + b"\n"``.
    options = _LINE_OPTIONS & ~orjson.OPT_APPEND_NEWLINE if queue is not None else _LINE_OPTIONS
    plain = merger._plain
    redactor = merger.redactor
    bare = merger._bare
    get_context = context._current.get
    otel_imported = context.otel_imported
    level_names = _pipeline._STD_NAMES
    # extra= keys this handler has seen plain: the merger's plain keys that
    # record_fields() takes as they are.
    known: set[str] = set()

    def handle(record: logging.LogRecord) -> bool:
        if handler.filters or _STRUCTLOG_VARS:
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
            if len(attrs) != N_PLAIN:
                for key in islice(attrs, N_PLAIN, None):
                    if key not in known:
                        if key in NOT_EXTRA or key not in plain or len(known) >= _CACHE_LIMIT:
                            return general(record)
                        known.add(key)
                    event[key] = attrs[key]
            if attrs["exc_info"] or attrs["stack_info"]:
                return general(record)
            msg = attrs["msg"]
            message = msg if type(msg) is str and not attrs["args"] else record.getMessage()
            event[LEVEL] = level_names[attrs["levelno"]]
            stamp = _line_time(attrs["created"])
            if not stamp.microsecond:
                return general(record)  # a whole second: rendered with its .000000 there
            event[TIMESTAMP] = stamp
            event[LOGGER] = attrs["name"]
            event[MESSAGE] = message
            line = _dumps(event, option=options)
            full = None
            # A mapping anywhere renders as a JSON object: only then can a secret be nested.
            if (
                redactor is not None
                and line.find(b"{", 1) != -1
                and redactor._redact_nested(event, ())
            ):
                full = render_json(_aware_time(event))
        except Exception:  # a value orjson needs help with, a bad %-format, a custom level
            return general(record)
        if full is not None:
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
