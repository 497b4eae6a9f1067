"""The one pipeline both entry points run, and the slot holding the active one."""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from structlog import DropEvent

from tracelog import _faults, context
from tracelog._exceptions import exc_info_tuple, structure_exception
from tracelog.processors import REDACTED, Redactor, TraceMerger
from tracelog.render import (
    ConsoleRenderer,
    JsonRenderer,
    render_json,
    safe_repr,
    safe_str,
    with_microseconds,
)
from tracelog.schema import Projection
from tracelog.schema._placing import _free
from tracelog.typing import EventDict, Processor, WrappedLogger

__all__ = ["LEVELS", "Pipeline", "active", "install", "level_name"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_ALIASES = {"warn": "warning", "fatal": "critical"}
_STD_NAMES = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}


def parse_level(value: int | str, source: str) -> int:
    """A level as a number: ``"DEBUG"``, ``"warn"``, ``"10"`` or ``10``.

    A bad value raises ValueError naming ``source`` and the names accepted.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    text = _ALIASES.get(text, text)
    if text.isdigit():
        return int(text)
    if text not in LEVELS:
        raise ValueError(f"{source}={value!r} is not one of {', '.join(LEVELS)} (or a number)")
    return LEVELS[text]


def level_name(levelno: int, fallback: str) -> str:
    """Lowercase level name for a stdlib level number (custom levels keep their own name)."""
    return _STD_NAMES.get(levelno) or fallback.lower()


Write = Callable[[Any], None]


class Pipeline:
    """A processor chain and where its result goes.

    ``processors`` ends with a renderer; ``write`` takes what it returns
    (bytes for JSON, text for the console). When the chain starts with a
    :class:`TraceMerger` (configure() always puts one first), the entry
    points call its ``merge`` directly and then run ``after_merger``.
    """

    __slots__ = (
        "after_merger",
        "json_merger",
        "level",
        "merger",
        "processors",
        "settings",
        "write",
    )

    def __init__(
        self,
        processors: Sequence[Processor],
        write: Write,
        level: int = logging.INFO,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.processors: tuple[Processor, ...] = tuple(processors)
        first = self.processors[0] if self.processors else None
        self.merger = first if type(first) is TraceMerger else None
        self.after_merger = self.processors[1:] if self.merger is not None else self.processors
        # The merger when only tracelog's JSON renderer follows it: the entry
        # points then merge, render and write inline.
        tail = self.after_merger
        only_json = len(tail) == 1 and type(tail[0]) is JsonRenderer
        self.json_merger = self.merger if only_json else None
        self.write = write
        self.level = level
        self.settings = settings or {}

    def run(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> None:
        """Process and write one event. Never raises."""
        current: Any = event_dict
        step: Any = None
        try:
            for step in self.processors:
                current = step(logger, method_name, current)
            step = None
            self.write(current)
        except DropEvent:
            pass
        except Exception as error:
            # The last dict has the most fields; a processor may have returned something else.
            laid_out = isinstance(current, dict) and isinstance(step, _RENDERERS)
            self.fail(
                logger,
                method_name,
                current if isinstance(current, dict) else event_dict,
                error,
                laid_out=laid_out,
            )

    def finish(self, logger: WrappedLogger, method_name: str, event_dict: Any) -> None:
        """The chain after the merger, then the write: the entry points' way with your processors.

        A log call made on this thread while the chain runs (a processor of
        yours that logs) is written without running the chain again, which
        would call it again without end; the fault report says so.
        """
        inside = _inside
        if inside.chain:
            self.fail(logger, method_name, event_dict, NestedLogCall())
            return
        inside.chain = True
        try:
            for processor in self.after_merger:
                event_dict = processor(logger, method_name, event_dict)
        finally:
            inside.chain = False
        self.write(event_dict)

    def fail(
        self,
        logger: WrappedLogger,
        method_name: str,
        event_dict: Any,
        error: Exception,
        *,
        laid_out: bool = False,
    ) -> None:
        """A processor or the output failed: report it and still write a line with every field.

        The line is in each output's layout (schema and format), as the
        event's would have been. ``laid_out``: ``event_dict`` is already in
        the schema's layout (the renderer failed).
        """
        _faults.report("pipeline", error)
        try:
            merger = next((p for p in self.processors if isinstance(p, TraceMerger)), None)
            redactor = merger.redactor if merger is not None else None
            service = merger.service if merger is not None else None
            groups = getattr(self.write, "groups", None)
            if not groups:
                line = fallback_line(
                    logger,
                    method_name,
                    event_dict,
                    error,
                    redactor,
                    self.processors,
                    laid_out=laid_out,
                    service=service,
                )
                self.write(line)
                return
            # Several outputs (outputs.Fanout): the layout is per group of outputs.
            for _, tail, pairs in groups:
                line = fallback_line(
                    logger, method_name, event_dict, error, redactor, tail, service=service
                )
                for _, write in pairs:
                    write_one(write, line)
        except Exception as second:
            _faults.report("output", second)


def write_one(write: Write, line: Any) -> None:
    """One output's write among several: an output of yours that raises costs only its line."""
    try:
        write(line)
    except Exception as error:
        _faults.report("output", error)


_RENDERERS = (JsonRenderer, ConsoleRenderer)


class NestedLogCall(RuntimeError):
    """A log call made while this thread ran the chain (by one of its processors, say)."""

    def __init__(self) -> None:
        super().__init__(
            "a line logged from inside the chain (a processor that logs?) is written"
            " without running the chain again"
        )


class _Inside(threading.local):
    chain = False  # this thread is running the chain's processors


_inside = _Inside()


def fallback_line(
    logger: Any,
    method_name: str,
    event_dict: Any,
    error: BaseException,
    redactor: Redactor | None = None,
    layout: Sequence[Any] = (),
    *,
    laid_out: bool = False,
    service: str | None = None,
) -> Any:
    """A line that keeps every field (by repr) when the chain itself failed.

    It still carries the caller's trace keys and bound fields, and is redacted
    by ``redactor`` (the pipeline's); ``service`` is the configured one.
    ``layout`` is the chain (or its tail) the line should have gone through:
    its schema projection and console renderer, if it has them, lay this line
    out too, so it reads like the others (an ECS ingest pipeline takes it).
    JSON bytes, or console text.
    """
    fields: dict[str, Any] = {}
    try:
        if isinstance(event_dict, dict):
            fields = {safe_repr(k) if type(k) is not str else k: v for k, v in event_dict.items()}
        else:
            fields = {"event": event_dict}
    except Exception:
        fields = {}
    projection: Projection | None = None
    console: ConsoleRenderer | None = None
    for step in layout:
        if isinstance(step, Projection):
            projection = step
        elif isinstance(step, ConsoleRenderer):
            console = step
    level = safe_str(method_name)
    if not laid_out and fields.get("exc_info") is True:
        # The exception the caller was handling: here, the chain's error is being handled.
        fields["exc_info"] = error.__context__ or False
    # Laid out already: redacted and projected, only the error to add.
    line = fields if laid_out else _default_fallback(logger, level, fields, redactor, service)
    error_key = "logging_error"
    if error_key in line:  # a field of yours of that name keeps its value, as logging_error_
        line[_free(line, error_key)] = line.pop(error_key)
    line[error_key] = safe_repr(error)
    out: Any = line
    if projection is not None and not laid_out and not projection.is_identity:
        try:
            out = projection(None, level, line)
        except Exception:
            pass  # the projection is what failed: the default layout still keeps every field
    if console is not None:
        try:
            return console(None, level, out)
        except Exception:
            pass
    return render_json(out)


def _default_fallback(
    logger: Any,
    level: str,
    fields: dict[str, Any],
    redactor: Redactor | None,
    service: str | None,
) -> dict[str, Any]:
    """The fallback line's fields in the default layout: the pipeline's keys, then the rest."""
    # "event" is the message in a call's own fields, "message" once the chain has merged them.
    message = fields.pop("event") if "event" in fields else fields.pop("message", None)
    if message is None and isinstance(logger, logging.LogRecord):
        message = safe_str(logger.msg)
    name = getattr(logger, "name", None)
    if logger is None and "logger" in fields:  # no logger at hand: the event names it
        name = fields.pop("logger")
    stamp = fields.get("timestamp")
    if isinstance(stamp, _dt.datetime):  # the merged event's own time
        del fields["timestamp"]
    else:
        stamp = with_microseconds(_dt.datetime.now(_dt.timezone.utc))
    line: dict[str, Any] = {
        "timestamp": stamp,
        "level": level,
        "logger": safe_str(name),
        "message": message,
    }
    try:
        ctx = context.current()
        if ctx is not None:
            if ctx.trace_id is not None:
                line["trace_id"] = ctx.trace_id
                line["span_id"] = ctx.span_id
                if ctx.parent_span_id is not None:
                    line["parent_span_id"] = ctx.parent_span_id
            fields = {**ctx.fields, **fields}
    except Exception:
        pass
    if service is not None:
        line["service"] = service
    if "exc_info" in fields:  # the exception the call named, as the chain would have shown it
        try:
            info = exc_info_tuple(fields["exc_info"])
            if info is not None:
                fields["exception"] = structure_exception(*info)
                del fields["exc_info"]
        except Exception:
            pass
    if redactor is not None:
        try:
            fields = dict(redactor.redact(fields))
        except Exception:
            fields = {k: _redacted(redactor, k, v) for k, v in fields.items()}
    for key, value in fields.items():
        if key in line:
            try:
                if line[key] == value:  # the pipeline's own value, from before the fault
                    continue
            except Exception:
                pass
            key = _free(line, key)  # a field named like a pipeline key: kept, as <name>_
        line[key] = value
    return line


def _redacted(redactor: Redactor, key: Any, value: Any) -> Any:
    """One field, redacted on its own: a value that cannot be searched is not shown."""
    try:
        if redactor.is_secret(key):
            return REDACTED
        return redactor._scrub(value, 0)
    except Exception:
        return f"<not shown: {type(value).__name__} could not be searched for secrets>"


def _discard(_: Any) -> None:
    return None


_active = Pipeline((), _discard, level=logging.INFO)


def active() -> Pipeline:
    return _active


#: Called with each newly installed pipeline (the native logger sets its level methods).
on_install: list[Callable[[Pipeline], None]] = []


def install(pipeline: Pipeline) -> Pipeline:
    """Make ``pipeline`` the active one; returns the previous one."""
    global _active
    previous = _active
    _active = pipeline
    for listener in on_install:
        listener(pipeline)
    return previous
