"""The one pipeline both entry points run, and the slot holding the active one."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from structlog import DropEvent

from tracelog import _faults
from tracelog.render import render_json, safe_repr
from tracelog.typing import EventDict, Processor, WrappedLogger

__all__ = ["LEVELS", "Pipeline", "active", "install", "level_name"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_ALIASES = {"warn": "warning", "fatal": "critical", "exception": "error", "msg": "info"}
_STD_NAMES = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}


def level_name(levelno: int, fallback: str) -> str:
    """Lowercase level name for a stdlib level number (custom levels keep their own name)."""
    return _STD_NAMES.get(levelno) or fallback.lower()


Write = Callable[[Any], None]


class Pipeline:
    """A processor chain and where its result goes.

    ``processors`` ends with a renderer; ``write`` takes what it returns
    (bytes for JSON, text for the console).
    """

    __slots__ = ("level", "processors", "settings", "write")

    def __init__(
        self,
        processors: Sequence[Processor],
        write: Write,
        level: int = logging.INFO,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.processors: tuple[Processor, ...] = tuple(processors)
        self.write = write
        self.level = level
        self.settings = settings or {}

    def run(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> None:
        """Process and write one event. Never raises."""
        try:
            for processor in self.processors:
                event_dict = processor(logger, method_name, event_dict)
            self.write(event_dict)
        except DropEvent:
            pass
        except Exception as error:
            self.fail(logger, method_name, event_dict, error)

    def fail(
        self, logger: WrappedLogger, method_name: str, event_dict: Any, error: Exception
    ) -> None:
        """A processor or the output failed: report it and still write a line with every field."""
        _faults.report("pipeline", error)
        try:
            self.write(fallback_line(logger, method_name, event_dict, error))
        except Exception as second:
            _faults.report("output", second)


def fallback_line(logger: Any, method_name: str, event_dict: Any, error: BaseException) -> bytes:
    """A line that keeps every field (by repr) when the chain itself failed."""
    fields: dict[str, Any] = {}
    try:
        if isinstance(event_dict, dict):
            fields = {safe_repr(k) if type(k) is not str else k: v for k, v in event_dict.items()}
        else:
            fields = {"event": event_dict}
    except Exception:
        fields = {}
    line: dict[str, Any] = {
        "timestamp": _dt.datetime.now(_dt.timezone.utc),
        "level": str(method_name),
        "logger": safe_repr(getattr(logger, "name", None)),
        "message": fields.pop("message", fields.pop("event", None)),
    }
    line.update(fields)
    line["logging_error"] = safe_repr(error)
    return render_json(line)


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
