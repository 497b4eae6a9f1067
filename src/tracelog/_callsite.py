"""Where a log call was made: python-json-logger's ``%(funcName)s %(lineno)d``, as fields."""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from collections.abc import Iterable
from types import FrameType
from typing import Any

from tracelog.typing import EventDict, WrappedLogger

__all__ = ["CallSite", "first_outside"]

#: What :class:`CallSite` can add (structlog's CallsiteParameterAdder's names), and where
#: each comes from on a LogRecord.
CALLSITE_FIELDS = {
    "func_name": "funcName",
    "lineno": "lineno",
    "module": "module",
    "pathname": "pathname",
}
#: The frame of an ``await log.ainfo(...)``: the call runs in a thread pool, away from it.
awaited_from: contextvars.ContextVar[FrameType | None] = contextvars.ContextVar(
    "tracelog_awaited_from", default=None
)
# Frames of these packages are the logging machinery, not the call site.
_MACHINERY = ("tracelog", "structlog", "logging")
_INSIDE_MACHINERY = tuple(name + "." for name in _MACHINERY)


class CallSite:
    """A processor adding where the call was made: ``func_name``, ``lineno``, ``module``.

    And ``pathname`` (the file), when asked. For a stdlib record, they are
    the record's own ``funcName``, ``lineno``, ``module`` and ``pathname``
    (what the stdlib found); for a native call, the first frame outside
    tracelog, structlog and logging. ``module`` is the file's name without
    ``.py``, as the stdlib's ``%(module)s``. Put it in
    ``configure(processors=[CallSite()])``; pick fields with
    ``CallSite("func_name", "lineno")``. A field the call gives itself wins.
    """

    __slots__ = ("fields",)

    def __init__(self, *fields: str) -> None:
        chosen = fields or ("func_name", "lineno", "module")
        unknown = [name for name in chosen if name not in CALLSITE_FIELDS]
        if unknown:
            raise ValueError(
                f"CallSite fields {unknown} are not among {', '.join(CALLSITE_FIELDS)}"
            )
        self.fields: tuple[str, ...] = tuple(chosen)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if isinstance(logger, logging.LogRecord):
            site = {name: getattr(logger, CALLSITE_FIELDS[name], None) for name in self.fields}
        else:
            start = awaited_from.get() or sys._getframe(1)
            site = _frame_site(first_outside(start), self.fields)
        for name, value in site.items():
            event_dict.setdefault(name, value)
        return event_dict

    def __repr__(self) -> str:
        return f"CallSite{self.fields!r}"


def first_outside(frame: FrameType | None) -> FrameType | None:
    """The first frame, from ``frame`` outwards, outside tracelog, structlog and logging."""
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if not isinstance(name, str):
            return frame
        if name not in _MACHINERY and not name.startswith(_INSIDE_MACHINERY):
            return frame
        frame = frame.f_back
    return None


def _frame_site(frame: FrameType | None, fields: Iterable[str]) -> dict[str, Any]:
    if frame is None:
        return dict.fromkeys(fields)
    code = frame.f_code
    values = {
        "func_name": code.co_name,
        "lineno": frame.f_lineno,
        "module": os.path.splitext(os.path.basename(code.co_filename))[0],
        "pathname": code.co_filename,
    }
    return {name: values[name] for name in fields}
