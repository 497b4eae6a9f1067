"""``TRACELOG_*`` variables for configure()'s options, read once by ``Settings.resolve()``.

A gunicorn master or a container is often configured only through its
environment, so every scalar option has a variable. An explicit argument
wins over its variable; a variable that is set but empty counts as unset. A
bad value raises :class:`ConfigurationError` naming the variable and what it
accepts.
"""

from __future__ import annotations

import os
from typing import Any

from tracelog._errors import ConfigurationError

__all__ = ["VARIABLES", "from_environment"]

#: Each variable, the option it sets, and the values it takes (the table in docs/configuration.md).
VARIABLES = {
    "TRACELOG_LEVEL": ("level", "debug, info, warning, error, critical, or a number"),
    "TRACELOG_FORMAT": ("format", "json, console, auto"),
    "TRACELOG_SCHEMA": ("schema", "default, ecs, otel, gcp"),
    "TRACELOG_SERVICE": ("service", "any name; falls back to OTEL_SERVICE_NAME"),
    "TRACELOG_STATIC": ("static", "name=value pairs, comma-separated: env=prod,region=eu"),
    "TRACELOG_REDACT": ("redact", "key names to redact besides the defaults, comma-separated"),
    "TRACELOG_FILE": ("outputs", "a file path: lines go to that file instead of stdout"),
    "TRACELOG_NONBLOCKING": ("nonblocking", "true or false (also 1/0, yes/no, on/off)"),
    "TRACELOG_QUEUE_SIZE": ("queue_size", "a whole number of lines, 1 and up"),
    "TRACELOG_OVERFLOW": ("overflow", "drop, block"),
    "TRACELOG_BUFFER": ("buffer", "true for TraceBuffer() with its defaults"),
    "TRACELOG_SAMPLING": ("sampling", "a fraction from 0 to 1: Sampling(rate)"),
    "TRACELOG_CAPTURE_STDLIB": ("capture_stdlib", "true or false"),
    "TRACELOG_CAPTURE_WARNINGS": ("capture_warnings", "true or false"),
    "TRACELOG_OTEL": ("otel", "true or false"),
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _value(variable: str) -> str | None:
    value = os.environ.get(variable)
    return value.strip() if value and value.strip() else None


def _flag(variable: str) -> bool | None:
    value = _value(variable)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise ConfigurationError(f"{variable}={value!r} is not one of true, false")


def _names(variable: str) -> list[str] | None:
    value = _value(variable)
    return None if value is None else [name.strip() for name in value.split(",") if name.strip()]


def _pairs(variable: str) -> dict[str, str] | None:
    value = _value(variable)
    if value is None:
        return None
    pairs: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(
                f"{variable}={value!r}: {item.strip()!r} is not name=value"
                " (as in env=prod,region=eu)"
            )
        pairs[name.strip()] = text.strip()
    return pairs


def _whole(variable: str) -> int | None:
    value = _value(variable)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigurationError(f"{variable}={value!r} is not a whole number from 1 up")
    return number


def _fraction(variable: str) -> float | None:
    value = _value(variable)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise ConfigurationError(f"{variable}={value!r} is not a fraction from 0 to 1")
    return number


def file_path() -> str | None:
    """``TRACELOG_FILE``: the file lines go to when configure() is given no stream or outputs."""
    return _value("TRACELOG_FILE")


def buffer_switch() -> bool:
    """``TRACELOG_BUFFER``: whether configure() holds debug lines (``TraceBuffer()``)."""
    return bool(_flag("TRACELOG_BUFFER"))


def sampling_rate() -> float | None:
    """``TRACELOG_SAMPLING``: the fraction of traces kept (``Sampling(rate)``), or None."""
    return _fraction("TRACELOG_SAMPLING")


def _or(given: Any, found: Any, default: Any) -> Any:
    if given is not None:
        return given
    return default if found is None else found


def from_environment(
    *,
    redact: Any,
    static: Any,
    stream: Any,
    outputs: Any,
    nonblocking: bool | None,
    queue_size: int | None,
    overflow: str | None,
    buffer: Any,
    sampling: Any,
    capture_stdlib: bool | None,
    capture_warnings: bool | None,
    otel: bool | None,
) -> tuple[Any, Any, Any, bool, int, str, Any, Any, bool, bool, bool]:
    """The options after their variables: ``(redact, static, outputs, nonblocking, queue_size,
    overflow, buffer, sampling, capture_stdlib, capture_warnings, otel)``.

    Options given (not None) are returned as they are.
    """
    if redact is None:
        redact = _names("TRACELOG_REDACT")
    if static is None:
        static = _pairs("TRACELOG_STATIC")
    overflow_value = _or(overflow, _value("TRACELOG_OVERFLOW"), "drop")
    if overflow is None and overflow_value.lower() not in ("drop", "block"):
        raise ConfigurationError(f"TRACELOG_OVERFLOW={overflow_value!r} is not one of drop, block")
    return (
        redact,
        static,
        outputs,
        bool(_or(nonblocking, _flag("TRACELOG_NONBLOCKING"), False)),
        int(_or(queue_size, _whole("TRACELOG_QUEUE_SIZE"), 10_000)),
        overflow_value if overflow is not None else overflow_value.lower(),
        buffer,
        sampling,
        bool(_or(capture_stdlib, _flag("TRACELOG_CAPTURE_STDLIB"), True)),
        bool(_or(capture_warnings, _flag("TRACELOG_CAPTURE_WARNINGS"), True)),
        bool(_or(otel, _flag("TRACELOG_OTEL"), True)),
    )
