"""``--where``: one condition on a field, the way people write it on a command line.

``key=value`` and ``key!=value`` compare the text; ``key>500``, ``>=``, ``<``, ``<=`` compare
numbers, or times when the value is a time (``timestamp>=2026-11-25T08:00:00+01:00``);
``key~regex`` and ``key!~regex`` search with a regular expression; ``key`` alone keeps lines
that have the field and ``!key`` those that do not.
"""

from __future__ import annotations

import argparse
import operator
import re
from collections.abc import Callable
from typing import Any

from tracelog._cli.times import parse_time, parse_when

__all__ = ["OPERATORS", "Condition", "as_text", "parse_condition"]

#: Longest first, so that ``>=`` is not read as ``>`` followed by ``=value``.
OPERATORS = (">=", "<=", "!=", "!~", "=", ">", "<", "~")
_KEY_END = re.compile(r"[=!<>~]")
_ORDER: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def as_text(value: Any) -> str:
    """A field value as the text ``=`` and ``~`` compare against."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, (int, float)) else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class Condition:
    """One parsed ``--where``; :meth:`test` takes the field's value (None when absent)."""

    __slots__ = ("key", "number", "op", "pattern", "seconds", "value")

    def __init__(self, key: str, op: str, value: str) -> None:
        self.key, self.op, self.value = key, op, value
        self.number: float | None = None
        self.seconds: float | None = None
        self.pattern: re.Pattern[str] | None = None
        if op in _ORDER:
            self.number = _number(value.strip())
            if self.number is None:
                try:
                    self.seconds = parse_when(value)
                except argparse.ArgumentTypeError:
                    raise argparse.ArgumentTypeError(
                        f"{key}{op}{value}: {value!r} is neither a number nor a time"
                    ) from None
        elif op in ("~", "!~"):
            try:
                self.pattern = re.compile(value)
            except re.error as error:
                raise argparse.ArgumentTypeError(
                    f"{key}{op}{value}: not a regular expression ({error})"
                ) from None

    def __repr__(self) -> str:
        return f"Condition({self.key!r}, {self.op!r}, {self.value!r})"

    @property
    def needs_field(self) -> bool:
        """Whether only a line that has the field can match (a cheap byte search first)."""
        return self.op not in ("!=", "!~", "!")

    def test(self, actual: Any) -> bool:
        op = self.op
        if op == "exists":
            return actual is not None
        if op == "!":
            return actual is None
        if op == "=":
            return as_text(actual) == self.value
        if op == "!=":
            return as_text(actual) != self.value
        if self.pattern is not None:
            if actual is None or isinstance(actual, (dict, list)):
                return op == "!~"
            found = self.pattern.search(as_text(actual)) is not None
            return found if op == "~" else not found
        if actual is None:
            return False
        compare = _ORDER[op]
        if self.number is not None:
            number = _number(actual)
            return number is not None and compare(number, self.number)
        moment = parse_time(actual) if isinstance(actual, (str, int, float)) else None
        if moment is None and isinstance(actual, str):
            try:
                moment = parse_when(actual)
            except argparse.ArgumentTypeError:
                moment = None
        return moment is not None and self.seconds is not None and compare(moment, self.seconds)


def parse_condition(text: str) -> Condition:
    """``KEY``, ``!KEY`` or ``KEY<op>VALUE``; an argparse error a person can act on."""
    match = _KEY_END.search(text)
    if match is None or (match.start() == 0 and text.startswith("!") and not _rest_op(text)):
        negated = text.startswith("!")
        key = text[1:].strip() if negated else text.strip()
        if not key or _KEY_END.search(key):
            raise argparse.ArgumentTypeError(_usage(text))
        return Condition(key, "!" if negated else "exists", "")
    key = text[: match.start()].strip()
    if not key:
        raise argparse.ArgumentTypeError(_usage(text))
    rest = text[match.start() :]
    for op in OPERATORS:
        if rest.startswith(op):
            return Condition(key, op, rest[len(op) :])
    raise argparse.ArgumentTypeError(_usage(text))


def _rest_op(text: str) -> bool:
    return _KEY_END.search(text, 1) is not None


def _usage(text: str) -> str:
    return (
        f"{text!r} is not a condition: use KEY=VALUE, KEY!=VALUE, KEY>N (>=, <, <=), "
        "KEY~REGEX, KEY!~REGEX, KEY (has it) or !KEY (has not)"
    )
