"""Aligned, optionally coloured rows for people. Text from data is escaped, never executed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracelog._cli.records import Record
from tracelog._cli.times import format_time

__all__ = [
    "Style",
    "colour_wanted",
    "duration",
    "escape",
    "escape_json_text",
    "exception_text",
    "json_for_terminal",
    "value_text",
]

import re

from tracelog._terminal import BLUE, BOLD, CYAN, DIM, RED, RESET, colour_wanted, escape_control
from tracelog._terminal import LEVEL_STYLES as _LEVEL_STYLES

# What a terminal could act on, as raw text inside a JSON line: C0 and C1 controls, DEL, the
# bidi overrides and isolates, the line and paragraph separators.
_JSON_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_ASCII_UNSAFE = re.compile(b"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def escape(text: str) -> str:
    """``text`` with control characters, bidi overrides and lone surrogates as escapes."""
    text = escape_control(text)
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def json_for_terminal(line: bytes) -> bytes:
    """A JSON line made safe for a terminal: the same JSON, with those characters as ``\\uXXXX``.

    Bytes that are not UTF-8 are replaced (U+FFFD), so the line printed is valid UTF-8.
    """
    if line.isascii() and not _ASCII_UNSAFE.search(line):
        return line
    return escape_json_text(line.decode("utf-8", "replace"))


def escape_json_text(text: str) -> bytes:
    """:func:`json_for_terminal` for text already decoded (a piece of a long line)."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


# Level names that do not fit the five-letter column, shortened the usual way.
_SHORT_LEVELS = {"WARNING": "WARN", "CRITICAL": "CRIT", "EXCEPTION": "ERROR"}


def value_text(value: Any) -> str:
    """A field value as one escaped token: bare when it can be, JSON-quoted when it must."""
    if isinstance(value, str):
        if value and not any(c in value for c in ' "=\\') and value.isprintable():
            return value
        import orjson

        try:
            return escape(orjson.dumps(value).decode())
        except TypeError:  # a lone surrogate: the standard library writes it as an escape
            import json

            return escape(json.dumps(value))
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, (int, float)):
        return repr(value)
    import orjson

    try:
        return escape(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode())
    except Exception:
        return escape(repr(value))


def duration(seconds: float) -> str:
    """``0.4 ms``, ``120 ms``, ``1.50 s``, ``2m03s``: short, and exact enough to compare."""
    if seconds <= 0:
        return "0 ms"
    if seconds < 0.001:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def exception_text(value: Any) -> str:
    if isinstance(value, Mapping):
        if "frames" in value or "cause" in value or "context" in value:
            from tracelog._values import format_exception_text

            return format_exception_text(value)
        stack = value.get("stack_trace") or value.get("stack") or value.get("stacktrace")
        if isinstance(stack, str):
            return stack
        kind = value.get("type") or value.get("kind") or "error"
        return f"{kind}: {value.get('message', '')}"
    return value if isinstance(value, str) else value_text(value)


class Style:
    """Paints text when colour is on; keeps column widths steady while streaming."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour
        self.service_width = 0
        self.logger_width = 0

    def paint(self, style: str, text: str) -> str:
        return f"{style}{text}{RESET}" if self.colour and text else text

    def fit(self, records: list[Record]) -> None:
        """Widen the service and logger columns for ``records`` before they are shown."""
        for rec in records:
            self.service_width = max(self.service_width, len(rec.service or "-"))
            self.logger_width = max(self.logger_width, len(rec.logger or "-"))
        self.service_width = min(self.service_width, 16)
        self.logger_width = min(self.logger_width, 24)

    def level(self, rec: Record) -> str:
        level = (rec.level or "-").upper()
        name = _SHORT_LEVELS.get(level) or level[:5]
        return self.paint(_LEVEL_STYLES.get(rec.level or "", ""), f"{name:<5}")

    def record(self, rec: Record, prefix: str = "", show_trace: bool = True) -> str:
        """One row: time, level, service, trace, logger, message, other fields; then the error."""
        service = escape(rec.service or "-")
        logger = escape(rec.logger or "-")
        self.service_width = min(max(self.service_width, len(service)), 16)
        self.logger_width = min(max(self.logger_width, len(logger)), 24)
        parts = [
            prefix or self.paint(DIM, format_time(rec.time)),
            self.level(rec),
            self.paint(BLUE, f"{service:<{self.service_width}}"),
        ]
        if show_trace:
            parts.append(self.paint(DIM, escape((rec.trace_id or "-")[:8]).ljust(8)))
        parts.append(self.paint(DIM, f"{logger:<{self.logger_width}}"))
        parts.append(self.paint(BOLD, escape(rec.message or "")))
        fields = " ".join(
            f"{self.paint(CYAN, escape(str(key)))}={value_text(value)}"
            for key, value in rec.fields().items()
        )
        if fields:
            parts.append(fields)
        row = " ".join(parts)
        if rec.exception is not None:
            lines = exception_text(rec.exception).split("\n")
            row += "".join("\n    " + self.paint(RED, escape(line)) for line in lines)
        return row

    def text(self, line: str) -> str:
        """A line that is not JSON: shown as it is, with control characters escaped."""
        return self.paint(DIM, escape(line))
