"""configure()'s arguments and the ``TRACELOG_*`` environment, resolved once into one object.

:meth:`Settings.resolve` is the only place that reads the environment or
checks an option's value; everything downstream (the chain, the outputs,
``JsonFormatter``, ``tracelog.testing``) reads the frozen result.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from tracelog._environment import from_environment
from tracelog._errors import ConfigurationError
from tracelog._levels import parse_level
from tracelog.redaction import DEFAULT_REDACT_KEYS, Redactor
from tracelog.schema import SCHEMAS
from tracelog.typing import Processor

__all__ = ["FORMATS", "Settings", "resolve_service"]

FORMATS = ("json", "console", "auto")


def choice(value: str, choices: Sequence[str], source: str) -> str:
    """``value`` normalised, if it is one of ``choices``; else a ConfigurationError."""
    normal = value.strip().lower()
    if normal not in choices:
        raise ConfigurationError(f"{source}={value!r} is not one of {', '.join(choices)}")
    return normal


def level_number(value: int | str, source: str) -> int:
    """A level as a number, or a ConfigurationError naming ``source``."""
    try:
        return parse_level(value, source)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def setting(explicit: Any, variable: str) -> tuple[Any, str]:
    """The explicit argument if given, else the environment variable; plus where it came from."""
    if explicit is not None:
        return explicit, variable.removeprefix("TRACELOG_").lower()
    return os.environ.get(variable) or None, variable


def resolve_service(service: str | None) -> str | None:
    if service is not None:
        return service
    return os.environ.get("TRACELOG_SERVICE") or os.environ.get("OTEL_SERVICE_NAME") or None


def resolve_format(format: str | None, stream: Any) -> str:
    """``json`` or ``console``: ``auto`` is console when ``stream`` (stdout) is a terminal."""
    value, source = setting(format, "TRACELOG_FORMAT")
    chosen = choice(value or "json", FORMATS, source)
    if chosen == "auto":
        target = stream if stream is not None else sys.stdout
        try:
            return "console" if target.isatty() else "json"
        except Exception:
            return "json"
    return chosen


def key_names(redact: Any) -> list[str]:
    """``redact=``'s key names, checked: a list (or any iterable) of strings."""
    if isinstance(redact, str):
        raise ConfigurationError(f"redact={redact!r} must be a list of key names, not a string")
    try:
        names = list(redact)
    except TypeError:
        raise ConfigurationError(f"redact={redact!r} must be a list of key names") from None
    for name in names:
        if not isinstance(name, str):
            raise ConfigurationError(f"redact= holds {name!r}, which is not a key name (a str)")
        if not any(char.isalnum() for char in name):
            raise ConfigurationError(
                f"redact= holds {name!r}, which matches no key (names are matched by word)"
            )
    return names


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return MappingProxyType(dict(mapping)) if mapping else None


@dataclasses.dataclass(frozen=True)
class Settings:
    """One configuration, resolved: what every part of the pipeline reads.

    ``redact_keys`` is None when redaction is off. ``format`` is ``json`` or
    ``console`` (``auto`` resolved). ``capture`` marks the pipeline a
    ``tracelog.testing`` capture installs.
    """

    level: int = logging.INFO
    format: str = "json"
    schema: str = "default"
    service: str | None = None
    redact_keys: frozenset[str] | None = DEFAULT_REDACT_KEYS
    processors: tuple[Processor, ...] = ()
    rename: Mapping[str, str] | None = None
    static: Mapping[str, Any] | None = None
    stream: Any = None
    outputs: tuple[Any, ...] | None = None
    capture_stdlib: bool = True
    capture_warnings: bool = True
    otel: bool = True
    buffer: Any = None
    sampling: Any = None
    rate_limit: Any = None
    nonblocking: bool = False
    queue_size: int = 10_000
    overflow: str = "drop"
    capture: bool = False

    @classmethod
    def resolve(
        cls,
        level: int | str | None = None,
        format: str | None = None,
        schema: str | None = None,
        stream: Any = None,
        service: str | None = None,
        *,
        redact: Iterable[str] | bool | None = None,
        processors: Sequence[Processor] = (),
        rename: Mapping[str, str] | None = None,
        static: Mapping[str, Any] | None = None,
        capture_stdlib: bool | None = None,
        capture_warnings: bool | None = None,
        otel: bool | None = None,
        buffer: Any = None,
        sampling: Any = None,
        rate_limit: Any = None,
        outputs: Sequence[Any] | None = None,
        nonblocking: bool | None = None,
        queue_size: int | None = None,
        overflow: str | None = None,
    ) -> Settings:
        """configure()'s arguments with the environment applied: an explicit argument wins.

        A bad value raises :class:`ConfigurationError` naming the setting and
        what it accepts. The variables: :data:`tracelog._environment.VARIABLES`.
        """
        (
            redact,
            static,
            outputs,
            nonblocking,
            queue_size,
            overflow,
            buffer,
            sampling,
            capture_stdlib,
            capture_warnings,
            otel,
        ) = from_environment(
            redact=redact,
            static=static,
            stream=stream,
            outputs=outputs,
            nonblocking=nonblocking,
            queue_size=queue_size,
            overflow=overflow,
            buffer=buffer,
            sampling=sampling,
            capture_stdlib=capture_stdlib,
            capture_warnings=capture_warnings,
            otel=otel,
        )
        level_value, level_source = setting(level, "TRACELOG_LEVEL")
        levelno = level_number(level_value if level_value is not None else "info", level_source)
        schema_value, schema_source = setting(schema, "TRACELOG_SCHEMA")
        redact_keys: frozenset[str] | None = None
        if redact is not False:
            redact_keys = DEFAULT_REDACT_KEYS
            if redact is not None and redact is not True:
                redact_keys = redact_keys | frozenset(key_names(redact))
        if static and redact_keys is not None:  # configured fields are redacted as any field is
            static = Redactor(redact_keys).redact(dict(static))
        if overflow not in ("drop", "block"):
            raise ConfigurationError(f"overflow={overflow!r} is not one of drop, block")
        return cls(
            level=levelno,
            format=resolve_format(format, stream),
            schema=choice(schema_value or "default", SCHEMAS, schema_source),
            service=resolve_service(service),
            redact_keys=redact_keys,
            processors=tuple(processors),
            rename=_frozen(rename),
            static=_frozen(static),
            stream=stream,
            outputs=tuple(outputs) if outputs is not None else None,
            capture_stdlib=capture_stdlib,
            capture_warnings=capture_warnings,
            otel=otel,
            buffer=buffer,
            sampling=sampling,
            rate_limit=rate_limit,
            nonblocking=nonblocking,
            queue_size=queue_size,
            overflow=overflow,
        )

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (already resolved values)."""
        return dataclasses.replace(self, **changes)
