"""The one pipeline both entry points run, and the slot holding the active one."""

from __future__ import annotations

import datetime as _dt
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from structlog import DropEvent

from tracelog import _faults, context
from tracelog._exceptions import exc_info_tuple, structure_exception
from tracelog._levels import LEVELS, STD_NAMES, level_name, parse_level
from tracelog._settings import Settings
from tracelog.console import ConsoleRenderer
from tracelog.processors import TraceMerger, require_event_dict
from tracelog.redaction import REDACTED, Redactor
from tracelog.render import (
    JsonRenderer,
    render_json,
    safe_repr,
    safe_str,
    with_microseconds,
)
from tracelog.schema import Projection
from tracelog.schema._placing import free as free_name
from tracelog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "LEVELS",
    "STD_NAMES",
    "Emit",
    "Pipeline",
    "active",
    "build_chain",
    "install",
    "level_name",
    "parse_level",
]


Write = Callable[[Any], None]
#: ``emit(name, created, method_name, message, fields, logger)``: one call, into bytes for
#: every output. ``created`` is a record's time (None: now); ``fields`` the call's own dict.
Emit = Callable[..., None]


class Pipeline:
    """The funnel: the chain configure() resolved, and where its lines go.

    Every entry point (the structlog logger, the stdlib handler, the
    buffering gate) calls :meth:`emit` with the call's parts. The chain is
    ``processors``: the :class:`TraceMerger` first (configure() always puts
    one there; it merges the context, stamps the call and redacts), then
    ``steps`` (your processors, redaction of what they add, the buffering
    gate), then, per group of outputs sharing a layout, the group's tail (a
    schema projection and a renderer) and its writes. ``emit`` is
    :meth:`emit_plain` unless :mod:`tracelog._fastpath` built a shorter way
    to the same bytes when the pipeline was installed.
    """

    __slots__ = (
        "__weakref__",
        "after_merger",
        "compiled",
        "emit",
        "groups",
        "level",
        "merger",
        "processors",
        "settings",
        "steps",
        "write",
    )

    def __init__(
        self,
        processors: Sequence[Processor],
        write: Write,
        level: int = logging.INFO,
        settings: Settings | None = None,
    ) -> None:
        self.processors: tuple[Processor, ...] = tuple(processors)
        first = self.processors[0] if self.processors else None
        self.merger = first if type(first) is TraceMerger else None
        self.after_merger = self.processors[1:] if self.merger is not None else self.processors
        self.write = write
        self.level = level
        self.settings = settings
        groups = getattr(write, "groups", None)
        if groups is not None:  # several outputs (outputs.Fanout): a tail per layout
            self.steps = self.after_merger
            self.groups: tuple[tuple[int, tuple[Any, ...], tuple[tuple[int, Any], ...]], ...] = (
                tuple(groups)
            )
        else:
            start = len(self.after_merger)
            while start and isinstance(self.after_merger[start - 1], _LAYOUT_STEPS):
                start -= 1
            self.steps = self.after_merger[:start]
            self.groups = ((level, self.after_merger[start:], ((level, write),)),)
        self.emit: Emit = self.emit_plain
        self.compiled: Emit | None = None  # the generated emit, once made (tracelog._fastpath)

    def emit_plain(
        self,
        name: Any,
        created: float | None,
        method_name: str,
        message: Any,
        fields: EventDict,
        logger: WrappedLogger = None,
    ) -> None:
        """One call through the whole chain: merge, steps, each output's layout, the writes.

        Raises what the chain raises (DropEvent included): the entry points
        catch it and call :meth:`fail`.
        """
        merger = self.merger
        if merger is not None:
            event = merger.merge(name, created, method_name, message, fields)
        else:
            fields["event"] = message
            event = fields
        self.finish(logger, method_name, event)

    def output_failed(self, error: Exception) -> None:
        """One output of several raised on a write: it costs only its line."""
        _faults.report("output", error)

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


def build_chain(
    settings: Settings,
    *,
    gate: Processor | None = None,
    render: bool = True,
) -> tuple[Processor, ...]:
    """The chain in DESIGN order: trace, time, level, exception, redact; yours; gate; layout.

    With ``render=False`` it stops before the layout: :func:`tracelog.outputs.route`
    adds each output's schema and renderer.
    """
    redactor = Redactor(settings.redact_keys) if settings.redact_keys is not None else None
    chain: list[Processor] = [TraceMerger(settings.service, redactor)]
    if settings.processors:
        chain.extend(settings.processors)
        chain.append(require_event_dict)
        if redactor is not None:  # fields your processors add are redacted too
            chain.append(redactor)
    if gate is not None:  # after redaction: held lines are already safe to keep
        chain.append(gate)
    if not render:
        return tuple(chain)
    # A schema is a layout for machines: the console keeps its columns whatever it is.
    console = settings.format == "console"
    projection = Projection(
        "default" if console else settings.schema, settings.rename, settings.static
    )
    if not projection.is_identity:
        chain.append(projection)
    if console:
        stream = settings.stream if settings.stream is not None else sys.stdout
        chain.append(ConsoleRenderer.for_stream(stream))
    else:
        chain.append(JsonRenderer())
    return tuple(chain)


_RENDERERS = (JsonRenderer, ConsoleRenderer)
_LAYOUT_STEPS = (Projection, JsonRenderer, ConsoleRenderer)


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
        line[free_name(line, error_key)] = line.pop(error_key)
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
            key = free_name(line, key)  # a field named like a pipeline key: kept, as <name>_
        line[key] = value
    return line


def _redacted(redactor: Redactor, key: Any, value: Any) -> Any:
    """One field, redacted on its own: a value that cannot be searched is not shown."""
    try:
        if redactor.is_secret(key):
            return REDACTED
        return redactor.scrub(value)
    except Exception:
        return f"<not shown: {type(value).__name__} could not be searched for secrets>"


def discard(_: Any) -> None:
    return None


installed = Pipeline((), discard, level=logging.INFO)


def active() -> Pipeline:
    return installed


#: Installs the default pipeline (JSON to stdout, the environment applied) when none is:
#: set by tracelog.config, which tracelog.get_logger's import brings in.
default_setup: Callable[[], None] | None = None


def ensure_default() -> None:
    """Give native loggers the default pipeline if nothing is installed yet."""
    if not installed.processors and default_setup is not None:
        default_setup()


#: Called with each newly installed pipeline (the native logger sets its level methods).
on_install: list[Callable[[Pipeline], None]] = []


def install(pipeline: Pipeline) -> Pipeline:
    """Make ``pipeline`` the active one; returns the previous one."""
    global installed
    previous = installed
    installed = pipeline
    for listener in on_install:
        listener(pipeline)
    return previous
