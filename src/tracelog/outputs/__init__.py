"""Where lines go: streams, files, the background writer, and the network shippers.

Every output follows one small protocol, :class:`Output`. ``configure()``
runs the shared chain (trace context, timestamp, level, exception, your
processors, redaction) once per event in the caller's thread, then, for each
distinct (schema, format) among the outputs, the projection and the renderer
once, and hands the line to every output of that layout whose level it
meets::

    tracelog.configure(outputs=[
        tracelog.outputs.Stream(sys.stderr, format="console", level="DEBUG"),
        tracelog.outputs.File("/var/log/shop.jsonl", schema="ecs", max_bytes=100_000_000),
    ], nonblocking=True)

With ``nonblocking=True``, :class:`Stream` and :class:`File` outputs are
written by a background thread behind a bounded queue (see
:mod:`tracelog.outputs._writer`); the network shippers (:class:`Loki`,
:class:`Elasticsearch`, :class:`Syslog`) always buffer and send on their own
thread.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tracelog import _faults
from tracelog import pipeline as _pipeline
from tracelog.console import ConsoleRenderer
from tracelog.fields import LEVEL
from tracelog.outputs import _lifecycle, _writer
from tracelog.outputs._files import File
from tracelog.outputs._stream import Stream, StreamOutput, parse_level
from tracelog.pipeline import fallback_line, write_one
from tracelog.render import JsonRenderer, with_microseconds
from tracelog.schema import Projection
from tracelog.typing import EventDict, Processor

if TYPE_CHECKING:
    from tracelog.outputs.otel_sdk import OpenTelemetry
    from tracelog.outputs.shipping._batch import Batching, Shipper
    from tracelog.outputs.shipping.elasticsearch import Elasticsearch
    from tracelog.outputs.shipping.loki import Loki
    from tracelog.outputs.shipping.otlp import OTLP
    from tracelog.outputs.shipping.syslog import Syslog

__all__ = [
    "OTLP",
    "Batching",
    "Elasticsearch",
    "File",
    "Loki",
    "OpenTelemetry",
    "Output",
    "Shipper",
    "Stream",
    "StreamOutput",
    "Syslog",
    "flush",
    "stats",
]

_SHIPPERS = {
    "Loki": "tracelog.outputs.shipping.loki",
    "Elasticsearch": "tracelog.outputs.shipping.elasticsearch",
    "Syslog": "tracelog.outputs.shipping.syslog",
    "OTLP": "tracelog.outputs.shipping.otlp",
    "OpenTelemetry": "tracelog.outputs.otel_sdk",
    "Batching": "tracelog.outputs.shipping._batch",
    "Shipper": "tracelog.outputs.shipping._batch",
}


def __getattr__(name: str) -> Any:
    """Import the network shippers only when asked for (``tracelog.outputs.Loki``)."""
    module = _SHIPPERS.get(name)
    if module is None:
        raise AttributeError(f"module 'tracelog.outputs' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


@runtime_checkable
class Output(Protocol):
    """What an output is. Stream, File and the shippers implement it; so can you.

    - ``level``: minimum level number for this output (None: the configured level).
    - ``format``: ``"json"`` or ``"console"`` (None: the configured format).
    - ``schema``: this output's schema (None: the configured one).
    - ``write(line)``: one rendered line, newline included (bytes for JSON,
      str for the console). Never raises; thread-safe; cheap (an output that
      does I/O either does it quickly or buffers and sends on its own thread).
    - ``flush(timeout)``: block until everything accepted so far is written
      or shipped, or the timeout passes; True if all of it was.
    - ``close(timeout)``: flush, then release resources. Called when
      ``configure()`` replaces the output and at interpreter exit.
    - ``stats()``: counters: ``written``, ``dropped``, ``retried``,
      ``failed``, plus any of the output's own.

    An output may also have ``write_lines(lines)`` (several lines in one
    call, used by the background writer) and a ``name`` (its key in
    :func:`tracelog.stats`).
    """

    level: int | None
    format: str
    schema: str | None

    def write(self, line: bytes | str) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def close(self, timeout: float | None = None) -> None: ...

    def stats(self) -> dict[str, int]: ...


def uninstall() -> None:
    """Close every active output and take tracelog's SIGTERM handler out (for reset())."""
    _lifecycle.install((), (), handle_sigterm=False)


def flush(timeout: float | None = None) -> bool:
    """Write (or ship) everything logged so far, by every output; True if all of it was."""
    return _lifecycle.flush_all(timeout)


def stats() -> dict[str, dict[str, int]]:
    """Counters per output: ``written``, ``dropped``, ``retried``, ``failed``, and their own."""
    return _lifecycle.stats_all()


# --- routing: from the shared chain to every output ------------------------------


class Fanout:
    """The pipeline's write step with several outputs: project and render once per layout."""

    __slots__ = ("_numbers", "groups", "sinks")

    def __init__(
        self,
        groups: Sequence[tuple[int, tuple[Processor, ...], tuple[tuple[int, Any], ...]]],
    ) -> None:
        self.groups = tuple(groups)
        self.sinks = tuple(write for _, _, pairs in self.groups for _, write in pairs)
        self._numbers: dict[Any, int] = dict(_pipeline.LEVELS)

    def _level_number(self, name: Any) -> int:
        number = self._numbers.get(name)
        if number is None:
            found = logging.getLevelName(str(name).upper())
            number = found if isinstance(found, int) else 0
            if len(self._numbers) < 1000:
                self._numbers[name] = number
        return number

    def __call__(self, event: Any) -> None:
        if not isinstance(event, dict):  # a fallback line the pipeline made after a fault
            for write in self.sinks:
                write_one(write, event)
            return
        name = event.get(LEVEL)
        levelno = self._level_number(name)
        method_name = name if isinstance(name, str) else "info"
        for min_level, tail, pairs in self.groups:
            if levelno < min_level:
                continue
            line: Any = event
            try:
                for step in tail:
                    line = step(None, method_name, line)
            except Exception as error:
                _faults.report("pipeline", error)
                line = fallback_line(None, method_name, event, error, None, tail)
            for level, write in pairs:
                if levelno >= level:
                    write_one(write, line)


class Route:
    """What configure() installs: the chain, the write step, the minimum level, the outputs."""

    __slots__ = ("format", "level", "names", "outputs", "processors", "write")

    def install(self) -> None:
        """Make these outputs the ones flush()/stats() see; close the ones they replace."""
        background = any(not isinstance(o, (Stream, File)) for o in self.outputs)
        _lifecycle.install(self.outputs, self.names, handle_sigterm=background)

    def __init__(
        self,
        processors: tuple[Processor, ...],
        write: Callable[[Any], None],
        level: int,
        outputs: tuple[Any, ...],
        names: tuple[str, ...],
        format: str | None,
    ) -> None:
        self.processors = processors
        self.write = write
        self.level = level
        self.outputs = outputs
        self.names = names
        self.format = format


def route(
    shared: Sequence[Processor],
    outputs: Iterable[Any],
    *,
    level: int,
    format: str,
    schema: str,
    rename: Any = None,
    static: Any = None,
    nonblocking: bool = False,
    queue_size: int = 10_000,
    overflow: str = "drop",
) -> Route:
    """Build the tail of the chain for ``outputs`` on top of the ``shared`` chain.

    With one output the tail is appended to the chain and the output's
    ``write`` is the pipeline's write: no per-event work is added. With
    several, a :class:`Fanout` projects and renders once per layout.
    """
    if overflow not in ("drop", "block"):
        raise ValueError(f"overflow={overflow!r} is not one of drop, block")
    groups: dict[tuple[str, str, bool], list[Any]] = {}
    tails: dict[tuple[str, str, bool], tuple[Processor, ...]] = {}
    sinks: list[Any] = []
    for output in outputs:
        if not callable(getattr(output, "write", None)):
            raise TypeError(f"{output!r} is not an output (it has no write method)")
        out_level = parse_level(getattr(output, "level", None))
        out_level = level if out_level is None else out_level
        out_schema = getattr(output, "schema", None) or schema
        out_format = getattr(output, "format", None) or format
        target = getattr(output, "stream", None) if isinstance(output, Stream) else None
        if out_format == "auto":
            out_format = "console" if _isatty(target or sys.stdout) else "json"
        renderer: Processor = JsonRenderer()
        colour = False
        if out_format == "console":
            console = ConsoleRenderer.for_stream(target or sys.stdout)
            if not isinstance(output, Stream):
                console = ConsoleRenderer(colour=False)
            colour = console.colour
            renderer = console
        if out_format == "console":
            out_schema = "default"  # a schema is a layout for machines: people get the columns
        key = (out_schema, out_format, colour)
        if key not in tails:
            projection = Projection(out_schema, rename, static)
            tails[key] = ((projection,) if not projection.is_identity else ()) + (renderer,)
        sink = output
        if nonblocking and isinstance(output, (Stream, File)):
            sink = _writer.BackgroundWriter(output, queue_size, overflow, _notice(tails[key]))
        groups.setdefault(key, []).append((out_level, sink.write))
        sinks.append(sink)
    if not sinks:
        raise ValueError("outputs=[] leaves nowhere to write; give at least one output")
    names = _names(sinks)
    if len(sinks) == 1:
        (key,) = groups
        ((out_level, write),) = groups[key]
        return Route(tuple(shared) + tails[key], write, out_level, tuple(sinks), names, key[1])
    fanout = Fanout(
        [(min(lvl for lvl, _ in pairs), tails[key], tuple(pairs)) for key, pairs in groups.items()]
    )
    lowest = min(lvl for pairs in groups.values() for lvl, _ in pairs)
    return Route(tuple(shared), fanout, lowest, tuple(sinks), names, None)


def _notice(tail: tuple[Processor, ...]) -> Callable[[int], bytes | str]:
    """A line, in the output's own layout, saying how many lines its queue dropped."""

    def notice(dropped: int) -> bytes | str:
        import datetime as dt

        event: EventDict = {
            "timestamp": with_microseconds(dt.datetime.now(dt.timezone.utc)),
            "level": "warning",
            "logger": "tracelog",
            "message": f"{dropped} line(s) dropped: the output's queue was full",
            "dropped": dropped,
        }
        line: Any = event
        for step in tail:
            line = step(None, "warning", line)
        return line  # type: ignore[no-any-return]

    return notice


def _names(sinks: Sequence[Any]) -> tuple[str, ...]:
    names: list[str] = []
    for sink in sinks:
        inner = sink.output if isinstance(sink, _writer.BackgroundWriter) else sink
        name = getattr(inner, "name", None)
        if not isinstance(name, str) or not name:
            name = type(inner).__name__.lower()
        unique, number = name, 2
        while unique in names:
            unique, number = f"{name}#{number}", number + 1
        names.append(unique)
    return tuple(names)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False
