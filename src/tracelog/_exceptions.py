"""Exceptions as one JSON-ready value: type, message, frames, notes, cause/context chain.

The chain is walked as Python's own traceback printing walks it: ``__cause__``
when set, else ``__context__`` unless ``__suppress_context__``. A link is kept
even when its exception was never raised (no traceback, so no frames).
"""

from __future__ import annotations

import builtins
import os
import sys
import traceback
from collections import deque
from types import FrameType, TracebackType
from typing import Any

from tracelog._callsite import first_outside
from tracelog.fields import EXCEPTION, STACK
from tracelog.render import safe_repr, safe_str
from tracelog.typing import EventDict, WrappedLogger

__all__ = [
    "MAX_EXCEPTIONS",
    "MAX_FRAMES",
    "MAX_GROUP_MEMBERS",
    "caller_stack",
    "exc_info_tuple",
    "exception_to_structure",
    "structure_exception",
]

#: Frames kept per exception: the innermost ones, the rest counted in ``frames_omitted``.
MAX_FRAMES = 50
#: Exceptions (chain links and group members, all levels) in one structure.
MAX_EXCEPTIONS = 30
#: Members kept per exception group, the rest counted in ``exceptions_omitted``.
MAX_GROUP_MEMBERS = 15

# A builtin from Python 3.11; on 3.10 nothing is a group (isinstance of an empty tuple).
_GROUP: Any = getattr(builtins, "BaseExceptionGroup", ())
_STACK_HEADER = "Stack (most recent call last):\n"


class _Walk:
    """What one structure shares across its chain and groups: exceptions seen, room left."""

    __slots__ = ("left", "seen")

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.left = MAX_EXCEPTIONS


def structure_exception(
    exc_type: type[BaseException], exc_value: BaseException, tb: TracebackType | None
) -> dict[str, Any]:
    """One JSON-ready value for an exception: type, message, frames, cause/context chain.

    Each exception links to the next by ``cause`` or ``context``; a group's
    members are under ``exceptions``, each with its own chain. A chain cut by
    a cycle simply ends; one cut by :data:`MAX_EXCEPTIONS` ends with
    ``"chain_truncated": true``.
    """
    return _chain(_Walk(), _type_name(exc_type), exc_value, tb)


def _chain(walk: _Walk, type_name: str, exc: Any, tb: TracebackType | None) -> dict[str, Any]:
    walk.seen.add(id(exc))
    walk.left -= 1
    root = node = _node(type_name, exc, tb)
    while True:
        link, after = _next_link(exc)
        if after is not None and id(after) in walk.seen:
            after = None  # a cycle, or shown already
        elif after is not None and walk.left <= 0:
            node["chain_truncated"] = True
            after = None
        if after is not None:
            # Claimed before this exception's group members, as Python's traceback does:
            # a context they share with their group is shown once, on the group.
            walk.seen.add(id(after))
            walk.left -= 1
        if isinstance(exc, _GROUP):
            _add_members(walk, node, exc.exceptions)
        if after is None:
            return root
        child = _node(_type_name(type(after)), after, after.__traceback__)
        node[link] = child
        node, exc = child, after


def _next_link(exc: Any) -> tuple[str, BaseException | None]:
    """The link Python's traceback shows after ``exc``: its cause, else its unsuppressed context."""
    if not isinstance(exc, BaseException):
        return "", None
    if exc.__cause__ is not None:
        return "cause", exc.__cause__
    if exc.__context__ is not None and not exc.__suppress_context__:
        return "context", exc.__context__
    return "", None


def _node(type_name: str, exc: Any, tb: TracebackType | None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": type_name, "message": safe_str(exc)}
    _add_frames(node, tb)
    notes = _notes(exc)
    if notes:
        node["notes"] = notes
    if isinstance(exc, SyntaxError):
        node["syntax_error"] = {
            "file": exc.filename or "?",
            "line": exc.lineno or 0,
            "offset": exc.offset or 0,
            "text": exc.text or "",
        }
    return node


def _add_members(walk: _Walk, node: dict[str, Any], members: Any) -> None:
    shown: list[dict[str, Any]] = []
    for member in members[:MAX_GROUP_MEMBERS]:
        if walk.left <= 0:
            break
        shown.append(_chain(walk, _type_name(type(member)), member, member.__traceback__))
    node["exceptions"] = shown
    if len(shown) < len(members):
        node["exceptions_omitted"] = len(members) - len(shown)


def _add_frames(node: dict[str, Any], tb: TracebackType | None) -> None:
    kept: deque[tuple[FrameType, int | None]] = deque(maxlen=MAX_FRAMES)
    total = 0
    for frame, line in traceback.walk_tb(tb):
        kept.append((frame, line))
        total += 1
    if total > MAX_FRAMES:
        node["frames_omitted"] = total - MAX_FRAMES
    node["frames"] = [
        {
            "file": _file_name(frame.f_code.co_filename),
            "line": line,
            "function": frame.f_code.co_name,
        }
        for frame, line in kept
    ]


def _file_name(name: str) -> str:
    if not name:
        return "?"
    return name if name.startswith("<") else os.path.abspath(name)


def _notes(exc: Any) -> list[str]:
    """``__notes__`` as text; anything but a list or tuple is shown by its repr, as Python does."""
    try:
        notes = getattr(exc, "__notes__", None)
    except Exception:
        return []
    if notes is None:
        return []
    if isinstance(notes, (list, tuple)):
        return [safe_str(note) for note in notes]
    return [safe_repr(notes)]


def _type_name(exc_type: Any) -> str:
    return safe_str(getattr(exc_type, "__name__", exc_type))


def caller_stack() -> str | None:
    """The stack up to the first frame outside the logging code, as stdlib ``stack_info`` text.

    None when every frame is the logging code's (see ``_callsite.first_outside``).
    """
    frame = first_outside(sys._getframe(1))
    if frame is None:
        return None
    text = _STACK_HEADER + "".join(traceback.format_stack(frame))
    # As logging.Logger.findCaller: without the last newline.
    return text[:-1] if text.endswith("\n") else text


def exc_info_tuple(value: Any) -> tuple[Any, Any, Any] | None:
    """The exception an ``exc_info=`` value names, as a ``(type, value, traceback)`` tuple.

    An exception, or a tuple holding one (whatever its other items); else,
    as the stdlib does, any other true value means the exception being
    handled. None when there is none.
    """
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple):
        if len(value) == 3 and isinstance(value[1], BaseException):
            error = value[1]
            return (type(error), error, value[2] or error.__traceback__)
        for item in value:
            if isinstance(item, BaseException):
                return (type(item), item, item.__traceback__)
        return value if len(value) == 3 and value[0] is not None else None
    if not value:
        return None
    info = sys.exc_info()
    return info if info[0] is not None else None


def exception_to_structure(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """``exc_info`` (True, an exception or an exc_info tuple) to a structured ``exception``.

    ``stack_info`` (stdlib's text, or True for the caller's stack) becomes ``stack``.
    TraceMerger does this itself; this processor is for chains of your own.
    """
    if "exc_info" in event_dict:
        info = exc_info_tuple(event_dict.pop("exc_info"))
        if info is not None:
            event_dict[EXCEPTION] = structure_exception(*info)
    if "stack_info" in event_dict:
        value = event_dict.pop("stack_info")
        stack = value if isinstance(value, str) else caller_stack() if value else None
        if stack is not None:
            event_dict[STACK] = stack
    return event_dict
