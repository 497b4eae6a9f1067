"""Reading the fields a shipper needs back out of a rendered JSON line, whatever its schema.

Where each schema puts a field is learnt once from :mod:`tracelog.schema`
itself (a probe event is projected through every schema), so the one table of
field names stays the only place that spells them.
"""

from __future__ import annotations

import calendar
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from tracelog.fields import LEVEL, LOGGER, SERVICE, SPAN_ID, TIMESTAMP, TRACE_ID
from tracelog.schema import SCHEMAS, Projection

__all__ = ["Fields", "parse_line", "rfc3339_to_ns"]

Path = tuple[str, ...]

_PROBE_LEVEL = "warning"
_lock = threading.Lock()
_paths: dict[str, tuple[Path, ...]] | None = None


def _find(node: Mapping[str, Any], match: Callable[[Any], bool], prefix: Path = ()) -> list[Path]:
    found: list[Path] = []
    for key, value in node.items():
        if isinstance(value, Mapping):
            found.extend(_find(value, match, (*prefix, key)))
        elif match(value):
            found.append((*prefix, key))
    return found


def _matcher(sentinel: str, *, lowercase: bool) -> Callable[[Any], bool]:
    if lowercase:
        return lambda value: isinstance(value, str) and value.lower() == sentinel
    return lambda value: value == sentinel


def field_paths() -> dict[str, tuple[Path, ...]]:
    """Canonical key -> every path (in schema order) where some schema puts it."""
    global _paths
    if _paths is not None:
        return _paths
    with _lock:
        if _paths is not None:
            return _paths
        probe = {
            TIMESTAMP: "\x00" + TIMESTAMP,
            LEVEL: _PROBE_LEVEL,
            LOGGER: "\x00" + LOGGER,
            TRACE_ID: "\x00" + TRACE_ID,
            SPAN_ID: "\x00" + SPAN_ID,
            SERVICE: "\x00" + SERVICE,
        }
        paths: dict[str, list[Path]] = {key: [] for key in probe}
        for name in SCHEMAS:
            laid_out = Projection(name)(None, "info", dict(probe))
            for key, sentinel in probe.items():
                found = _find(laid_out, _matcher(sentinel, lowercase=key == LEVEL))
                for path in found:
                    if path not in paths[key]:
                        paths[key].append(path)
        _paths = {key: tuple(found) for key, found in paths.items()}
        return _paths


def _lookup(document: Mapping[str, Any], paths: tuple[Path, ...]) -> Any:
    for path in paths:
        node: Any = document
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None and not isinstance(node, Mapping):
            return node
        if len(path) > 1:  # a nested path may also arrive flat ("trace.id")
            flat = document.get(".".join(path))
            if flat is not None and not isinstance(flat, Mapping):
                return flat
    return None


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9})\d*)?"
    r"(?:([Zz])|([+-])(\d\d):?(\d\d))?$"
)


def rfc3339_to_ns(text: str) -> int | None:
    """Nanoseconds since the epoch for an RFC 3339 timestamp (no zone: UTC); None if invalid."""
    match = _RFC3339.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    try:
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0)
        )
    except (ValueError, OverflowError):
        return None
    if sign:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds += -offset if sign == "+" else offset
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos


class Fields:
    """What a shipper reads from one line: the document and its well-known fields."""

    __slots__ = ("document", "level", "logger", "service", "span_id", "timestamp", "trace_id")

    def __init__(self, document: dict[str, Any] | None, paths: dict[str, tuple[Path, ...]]):
        self.document = document
        source: Mapping[str, Any] = document if document is not None else {}
        raw_time = _lookup(source, paths[TIMESTAMP])
        self.timestamp: int | None = rfc3339_to_ns(raw_time) if isinstance(raw_time, str) else None
        level = _lookup(source, paths[LEVEL])
        self.level: str | None = str(level).lower() if level is not None else None
        self.logger: str | None = _text(_lookup(source, paths[LOGGER]))
        self.service: str | None = _text(_lookup(source, paths[SERVICE]))
        self.trace_id: str | None = _text(_lookup(source, paths[TRACE_ID]))
        self.span_id: str | None = _text(_lookup(source, paths[SPAN_ID]))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def parse_line(line: bytes) -> Fields:
    """The fields of one rendered line; a line that is not a JSON object yields empty fields."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:  # a JSON line with a byte that is not UTF-8 keeps its fields (the byte replaced)
            document = orjson.loads(line.decode("utf-8", "replace"))
        except orjson.JSONDecodeError:
            document = None
    if not isinstance(document, dict):
        document = None
    return Fields(document, field_paths())


def now_ns() -> int:
    return time.time_ns()
