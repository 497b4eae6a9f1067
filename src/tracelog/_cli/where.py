"""``--where``: one condition on a field, the way people write it on a command line.

``key=value`` and ``key!=value`` compare the text; ``key>500``, ``>=``, ``<``, ``<=`` compare
numbers, or times when the value is a time (``timestamp>=2026-11-25T08:00:00+01:00``);
``key~regex`` and ``key!~regex`` search with a regular expression; ``key`` alone keeps lines
that have the field and ``!key`` those that do not.

A condition that only a line with the field can pass also has a :class:`Prefilter`: a search
of the raw bytes that skips, without decoding them, the lines that cannot pass.
"""

from __future__ import annotations

import argparse
import math
import operator
import re
from collections.abc import Callable, Iterator
from typing import Any

from tracelog._cli.times import parse_time, parse_when

__all__ = ["OPERATORS", "Condition", "Prefilter", "as_text", "parse_condition"]

#: Longest first, so that ``>=`` is not read as ``>`` followed by ``=value``.
OPERATORS = (">=", "<=", "!=", "!~", "=", ">", "<", "~")
_KEY_END = re.compile(r"[=!<>~]")
_ORDER: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


# What may follow a key as JSON writes it: the colon, then a number (captured), or a string,
# Infinity, NaN or -Infinity (the standard library reads those), whose number only the full
# decode can tell.
_COLON = rb"[ \t\r\n]*:[ \t\r\n]*"
_ANY_NUMBER = rb'(?:(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|["IN]|-I)'
_LARGEST_EXACT = 2.0**52
# The regex engine steps byte by byte to its pattern's first byte; starting the pattern at a
# byte of the key rarer than one in _RARE (in the first _SAMPLE bytes searched) beats the byte
# search, which stops at every key and calls the regex there.
_SAMPLE, _RARE = 1 << 16, 64


def _at_least(number: float) -> bytes:
    """A pattern for the JSON values that can read as more than ``number`` (0 <= it < 2**52):
    an integer part one below its own or more (a value that close may round up past it), a
    string, Infinity, an exponent, or -0."""
    digits = str(max(math.floor(number) - 1, 0))
    size = len(digits)
    bigger = [rb"[1-9]\d{%d}" % size]
    for i, digit in enumerate(digits):
        if digit != "9":
            bigger.append(f"{digits[:i]}[{int(digit) + 1}-9]{'[0-9]' * (size - i - 1)}".encode())
    bigger.append(digits.encode())
    # The exponent last, and as a class that takes the number in one pass (no backtracking
    # between its parts): most values are read only to be dropped.
    return rb'(?:["I]|-0|' + b"|".join(bigger) + rb"|-?[\d.]+[eE])"


class Prefilter:
    """Where in raw bytes a condition on a field could hold, found without decoding a line.

    A line is kept when it has the key as JSON writes it (``"duration_ms":``; for a dotted key
    ``a.b``, ``b":`` ends both ``"a.b":`` and ``{"b":``) and, for a comparison with a number,
    a value there that passes it, or a string there (``"700"`` is read as a number). A line with
    an escape that could spell a character of the key (``"duration\u005fms"``) is kept too: the
    full decode, which runs on every kept line, decides. So the prefilter only drops lines that
    cannot match.
    """

    __slots__ = ("compare", "escapes", "key", "led", "needle", "number", "rest", "skip", "value")

    def __init__(self, name: str, dotted: bool, op: str, number: float | None) -> None:
        self.key = (b"" if dotted else b'"') + name.encode() + b'"'
        # The closing quote is JSON's commonest byte: a search that ends on it skips less far.
        # A short name keeps it, or the search would stop at every key that starts the same.
        self.needle = self.key[:-1] if len(name) >= 4 else self.key
        tail = re.escape(self.key[len(self.needle) :])
        self.number = number
        self.compare: Callable[[float, float], bool] | None = None
        if number is None:
            value = b""
        elif op in (">", ">=") and 0 <= number < _LARGEST_EXACT:
            value = _at_least(number)  # no number to compare
        else:
            value = _ANY_NUMBER
            self.compare = _ORDER[op]
        self.value = _COLON + value
        self.rest = re.compile(tail + self.value)
        #: Where in the key the regex search starts (None: the byte search; -1: not chosen yet).
        self.skip: int | None = -1
        self.led: re.Pattern[bytes] | None = None
        # The name is printable ASCII, which only \u00XX spells; \/ also spells a slash.
        self.escapes = (b"\\u00", b"\\/") if "/" in name else (b"\\u00",)

    def spans(self, buffer: bytes | bytearray, start: int, end: int) -> Iterator[tuple[int, int]]:
        """``(first, newline)`` of each line in ``buffer[start:end]`` that could match;
        ``end`` is just past a newline."""
        # Where each escape that could spell a character of the key is next (-1: nowhere).
        spelled = [-1] * len(self.escapes)
        if buffer.find(b"\\", start, end) >= 0:  # one memchr: most text has no escapes
            spelled = [buffer.find(e, start, end) for e in self.escapes]
        while (at := min((p for p in spelled if p >= 0), default=-1)) >= 0:
            first = buffer.rfind(b"\n", start, at) + 1 or start
            newline = buffer.find(b"\n", at, end)
            yield from self._found(buffer, start, first)
            yield first, newline
            start = newline + 1
            spelled = [
                p if p < 0 or p >= start else buffer.find(e, start, end)
                for p, e in zip(spelled, self.escapes, strict=True)
            ]
        yield from self._found(buffer, start, end)

    def lead_at(self, skip: int | None) -> None:
        """Search with a regex from the key's byte ``skip`` on; None: with the byte search."""
        self.skip = skip
        self.led = None if skip is None else re.compile(re.escape(self.key[skip:]) + self.value)

    def _choose(self, buffer: bytes | bytearray, start: int, end: int) -> None:
        """The regex search from the key's rarest byte in these lines, if it is rare enough."""
        stop = min(end, start + _SAMPLE)
        counts = [buffer.count(self.key[i : i + 1], start, stop) for i in range(len(self.key))]
        rarest = counts.index(min(counts))
        self.lead_at(rarest if counts[rarest] * _RARE <= stop - start else None)

    def _found(self, buffer: bytes | bytearray, start: int, end: int) -> Iterator[tuple[int, int]]:
        """spans() of a part of ``buffer`` without an escape that could spell the key."""
        if self.skip == -1 and end - start >= _SAMPLE:
            self._choose(buffer, start, end)
        if self.led is not None:
            yield from self._led(self.led, buffer, start, end)
            return
        needle, size, rest = self.needle, len(self.needle), self.rest.match
        compare, number = self.compare, self.number
        find = buffer.find
        # A byte search finds the key far faster than the regex would; the regex reads the value.
        at = find(needle, start, end)
        while at >= 0:
            found = rest(buffer, at + size, end)
            if found is None or (
                compare is not None
                and (text := found.group(1)) is not None  # None: a string, Infinity or NaN
                and not compare(float(text), number)  # type: ignore[arg-type]
            ):
                at = find(needle, at + 1, end)
                continue
            newline = find(b"\n", at, end)
            yield buffer.rfind(b"\n", start, at) + 1 or start, newline
            at = find(needle, newline + 1, end)

    def _led(
        self, led: re.Pattern[bytes], buffer: bytes | bytearray, start: int, end: int
    ) -> Iterator[tuple[int, int]]:
        """_found() with the regex search: the key from byte ``skip`` on and the value, then
        the key's first bytes checked where it was found."""
        assert self.skip is not None
        skip, head, search = self.skip, self.key[: self.skip], led.search
        compare, number = self.compare, self.number
        found = search(buffer, start, end)
        while found is not None:
            at = found.start() - skip
            if (
                at < start
                or not buffer.startswith(head, at)
                or (
                    compare is not None
                    and (text := found.group(1)) is not None
                    and not compare(float(text), number)  # type: ignore[arg-type]
                )
            ):
                found = search(buffer, found.start() + 1, end)
                continue
            newline = buffer.find(b"\n", at, end)
            yield buffer.rfind(b"\n", start, at) + 1 or start, newline
            found = search(buffer, newline + 1, end)

    def keeps(self, line: bytes) -> bool:
        """Whether one line could match."""
        return next(self.spans(line + b"\n", 0, len(line) + 1), None) is not None


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

    def prefilter(self, columns: frozenset[str] = frozenset()) -> Prefilter | None:
        """The byte search that drops lines this condition cannot pass; None when there is none.

        ``columns`` are names a line may spell another way (``service.name`` for ``service``).
        """
        name = self.key.rsplit(".", 1)[-1]
        if (
            not self.needs_field
            or self.key in columns
            or not name
            or not name.isascii()
            or not name.isprintable()
            or any(c in name for c in '"\\')
        ):
            return None
        return Prefilter(name, "." in self.key, self.op, self.number)

    @property
    def needs_field(self) -> bool:
        """Whether only a line that has the field can match (a cheap byte search first).

        A line without the field is tested as None, as a null is: ``key=null`` keeps it.
        """
        return not self.test(None)

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
