"""The console renderer: aligned, optionally coloured lines for people.

Text from data (messages, field values, exception messages) is escaped so
that control characters and terminal escape sequences are shown, never
executed: a log line cannot move the cursor or rewrite the screen.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any, TextIO

from tracelog._terminal import (
    BLUE,
    BOLD,
    CYAN,
    DIM,
    LEVEL_STYLES,
    RESET,
    colour_wanted,
    escape_control,
)
from tracelog._values import format_exception_text
from tracelog.fields import (
    EXCEPTION,
    LEVEL,
    LOGGER,
    MESSAGE,
    PARENT_SPAN_ID,
    SERVICE,
    SPAN_ID,
    SPAN_NAME,
    STACK,
    TIMESTAMP,
    TRACE_ID,
)
from tracelog.typing import EventDict, WrappedLogger

__all__ = ["ConsoleRenderer", "colour_wanted", "escape_control"]


_OWN_KEYS = (
    TIMESTAMP,
    LEVEL,
    LOGGER,
    MESSAGE,
    TRACE_ID,
    SPAN_ID,
    PARENT_SPAN_ID,
    SPAN_NAME,
    SERVICE,
)


def _text(value: Any) -> str:
    from tracelog.render import ARRAYS, object_fields, safe_repr, safe_str

    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)) or value is None:
        return safe_repr(value)
    if isinstance(value, _dt.datetime):  # naive: UTC, as in the JSON line
        aware = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        return str(aware.isoformat())
    # What the JSON line shows as an object or an array, the console shows as JSON too.
    try:
        structured = isinstance(value, (Mapping, *ARRAYS)) or object_fields(value) is not None
    except Exception:
        structured = False
    if structured:
        try:
            import orjson

            from tracelog.render import sanitize

            return orjson.dumps(sanitize(value)).decode("utf-8")
        except Exception:
            return safe_repr(value)
    return safe_str(value)


def _timestamp(value: Any) -> str:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc)
        return str(value.strftime("%Y-%m-%d %H:%M:%S.%f"))
    return _text(value)


class ConsoleRenderer:
    """Chain step 7 for ``format="console"``: one aligned line (plus a readable traceback)."""

    __slots__ = ("colour", "logger_width")

    def __init__(self, colour: bool = False, logger_width: int = 20) -> None:
        self.colour = colour
        self.logger_width = logger_width

    @classmethod
    def for_stream(cls, stream: TextIO | Any) -> ConsoleRenderer:
        return cls(colour=colour_wanted(stream))

    def _style(self, style: str, text: str) -> str:
        return f"{style}{text}{RESET}" if self.colour else text

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        try:
            return self._render(event_dict)
        except Exception as error:  # never let a person's view lose the line
            from tracelog.render import safe_repr

            fields = " ".join(f"{safe_repr(k)}={safe_repr(v)}" for k, v in event_dict.items())
            return escape_control(f"{fields} (console render error: {safe_repr(error)})") + "\n"

    def _render(self, event: EventDict) -> str:
        esc = escape_control
        level = _text(event.get(LEVEL, ""))
        parts = [
            self._style(DIM, _timestamp(event.get(TIMESTAMP, ""))),
            self._style(LEVEL_STYLES.get(level, ""), f"{esc(level):<8}"),
            self._style(BLUE, f"{esc(_text(event.get(LOGGER, ''))):<{self.logger_width}}"),
            self._style(BOLD, esc(_text(event.get(MESSAGE, "")))),
        ]
        # A structured exception and a stack text get blocks below the line;
        # any other value under those names is a field like the rest.
        exception = event.get(EXCEPTION)
        stack = event.get(STACK)
        below = set()
        if isinstance(exception, Mapping):
            below.add(EXCEPTION)
        if isinstance(stack, str):
            below.add(STACK)
        fields = [
            f"{self._style(CYAN, esc(_text(key)))}={esc(_text(value))}"
            for key, value in event.items()
            if key not in _OWN_KEYS and key not in below
        ]
        if fields:
            parts.append(" ".join(fields))
        trace_id = event.get(TRACE_ID)
        if trace_id:
            ids = f"{esc(_text(trace_id))[:8]}/{esc(_text(event.get(SPAN_ID, '')))[:8]}"
            if event.get(SPAN_NAME):
                ids += f" {esc(_text(event[SPAN_NAME]))}"
            parts.append(self._style(DIM, f"[{ids}]"))
        if event.get(SERVICE) is not None:
            parts.append(self._style(DIM, f"({esc(_text(event[SERVICE]))})"))
        line = " ".join(parts)
        if isinstance(exception, Mapping):
            text = format_exception_text(exception)
            lines = [esc(part) for part in text.split("\n")]
            line += "\n" + "\n".join(self._style(LEVEL_STYLES["error"], f"  {ln}") for ln in lines)
        if isinstance(stack, str):
            line += "\n" + "\n".join(f"  {esc(part)}" for part in stack.split("\n"))
        return line + "\n"
