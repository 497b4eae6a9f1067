"""Exceptions as one JSON-ready value: type, message, frames, notes, cause/context chain.

Built on structlog's traceback machinery (``structlog.tracebacks.extract``).
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from structlog.tracebacks import Trace, extract

from tracelog.schema import EXCEPTION, STACK
from tracelog.typing import EventDict, WrappedLogger

__all__ = ["MAX_FRAMES", "exc_info_tuple", "exception_to_structure", "structure_exception"]

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


def exc_info_tuple(value: Any) -> tuple[Any, Any, Any] | None:
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
        info = exc_info_tuple(event_dict.pop("exc_info"))
        if info is not None:
            event_dict[EXCEPTION] = structure_exception(*info)
    if "stack_info" in event_dict:
        # stdlib's stack_info=True arrives already formatted on the record.
        value = event_dict.pop("stack_info")
        if isinstance(value, str):
            event_dict[STACK] = value
    return event_dict
