"""Times in log lines: RFC 3339 in any offset, Python's asctime, epoch numbers in s/ms/us/ns."""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import time as _time
from typing import Any

__all__ = ["format_time", "parse_time", "parse_when"]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ZONE = re.compile(r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)\Z")


def parse_when(text: str, now: float | None = None) -> float:
    """``10m`` (ago), ``2026-11-25``, ``2026-11-25T07:40`` or RFC 3339 with any offset (UTC if
    none is given)."""
    match = _RELATIVE.match(text)
    if match:
        return (_time.time() if now is None else now) - float(match[1]) * _UNITS[match[2]]
    value = text.strip()
    if len(value) == 10:
        value += "T00:00:00"
    elif len(value) == 16:
        value += ":00"
    if len(value) >= 19 and not _ZONE.search(value[19:]):
        value += "Z"
    seconds = parse_time(value)
    if seconds is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 10m, 2h, 1d, 2026-11-25T07:40:00Z or "
            "2026-11-25T08:40:00+01:00"
        )
    return seconds


_epoch_cache: dict[str, float] = {}
_LAST_SECOND = 253_402_300_800.0  # 10000-01-01T00:00:00Z


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch from an RFC 3339 string, ``asctime`` or a number (s/ms/us/ns)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            return None
        if number > 1e17:
            number /= 1e9
        elif number > 1e14:
            number /= 1e6
        elif number > 1e11:
            number /= 1e3
        # Up to the end of year 9999, as a written time can say (and gmtime can show).
        return number if 0 < number < _LAST_SECOND else None
    if not isinstance(value, str) or len(value) < 19 or value[4] != "-" or value[10] not in "Tt ":
        return None
    tail = value[19:]
    fraction = 0.0
    end = 0
    if tail[:1] in (".", ","):  # "," is logging's asctime
        end = 1
        while end < len(tail) and tail[end].isdigit():
            end += 1
        if end > 1:
            fraction = int(tail[1:end]) / 10 ** (end - 1)
    key = value[:19] + tail[end:]
    base = _epoch_cache.get(key)
    if base is None:
        try:
            base = _seconds(value[:19], tail[end:])
        except (ValueError, OverflowError, OSError):
            return None
        if len(_epoch_cache) > 100_000:
            _epoch_cache.clear()
        _epoch_cache[key] = base
    return base + fraction


def _seconds(head: str, zone: str) -> float:
    if zone in ("Z", "z"):
        zone = "+00:00"
    elif zone and zone[0] in "+-" and len(zone) == 5 and zone[1:].isdigit():
        zone = f"{zone[:3]}:{zone[3:]}"
    elif zone and not (zone[0] in "+-" and len(zone) in (3, 6)):
        raise ValueError(zone)
    # A time without an offset (Python's asctime) is local time, as logging wrote it.
    return _dt.datetime.fromisoformat(head[:10] + "T" + head[11:] + zone).timestamp()


_second_cache: dict[int, str] = {}


def format_time(seconds: float | None) -> str:
    """``2026-11-25 07:40:34.123`` in UTC, the width of every row in the CLI."""
    if seconds is None:
        return " " * 23
    # In whole milliseconds; the microsecond keeps 08:00:00.123 (a float a hair
    # below it) from showing as .122.
    whole, millis = divmod(int(seconds * 1000 + 0.001), 1000)
    text = _second_cache.get(whole)
    if text is None:
        if len(_second_cache) > 10_000:
            _second_cache.clear()
        text = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(whole))
        _second_cache[whole] = text
    return f"{text}.{millis:03d}"
