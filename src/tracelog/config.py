"""configure(): options and ``TRACELOG_*`` environment -> one pipeline -> structlog and stdlib."""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

import structlog

from tracelog import buffering, context, stdlib
from tracelog import logger as _native
from tracelog import outputs as _outputs
from tracelog import pipeline as _pipeline
from tracelog.console import ConsoleRenderer
from tracelog.outputs import StreamOutput
from tracelog.processors import (
    DEFAULT_REDACT_KEYS,
    Redactor,
    TraceMerger,
    require_event_dict,
)
from tracelog.render import JsonRenderer
from tracelog.schema import SCHEMAS, Projection
from tracelog.typing import Processor

__all__ = ["FORMATS", "ConfigurationError", "configure", "flush", "reset", "stats"]

FORMATS = ("json", "console", "auto")

_lock = threading.RLock()
_configured = False


class ConfigurationError(ValueError):
    """A configure() argument or TRACELOG_* variable has a value tracelog does not accept."""


def _choice(value: str, choices: Sequence[str], source: str) -> str:
    normal = value.strip().lower()
    if normal not in choices:
        raise ConfigurationError(f"{source}={value!r} is not one of {', '.join(choices)}")
    return normal


def _level(value: int | str, source: str) -> int:
    try:
        return _pipeline.parse_level(value, source)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def _setting(explicit: Any, variable: str) -> tuple[Any, str]:
    """The explicit argument if given, else the environment variable; plus where it came from."""
    if explicit is not None:
        return explicit, variable.removeprefix("TRACELOG_").lower()
    return os.environ.get(variable) or None, variable


def resolve_service(service: str | None) -> str | None:
    if service is not None:
        return service
    return os.environ.get("TRACELOG_SERVICE") or os.environ.get("OTEL_SERVICE_NAME") or None


def build_processors(
    *,
    service: str | None = None,
    schema: str | None = None,
    redact: Iterable[str] | bool | None = None,
    static: Mapping[str, Any] | None = None,
    rename: Mapping[str, str] | None = None,
    processors: Sequence[Processor] = (),
    format: str = "json",
    stream: Any = None,
    gate: Processor | None = None,
    render: bool = True,
) -> tuple[Processor, ...]:
    """The chain in DESIGN order: trace, time, level, exception, redact; yours; schema; render."""
    schema_value, schema_source = _setting(schema, "TRACELOG_SCHEMA")
    schema_name = _choice(schema_value or "default", SCHEMAS, schema_source)
    redactor: Redactor | None = None
    if redact is not False:
        names = set(DEFAULT_REDACT_KEYS)
        if redact is not None and redact is not True:
            names.update(_key_names(redact))
        redactor = Redactor(names)
    chain: list[Processor] = [TraceMerger(resolve_service(service), redactor)]
    if processors:
        chain.extend(processors)
        chain.append(require_event_dict)
        if redactor is not None:  # fields your processors add are redacted too
            chain.append(redactor)
    if gate is not None:  # after redaction: held lines are already safe to keep
        chain.append(gate)
    if not render:  # the shared part; outputs.route() adds each output's schema and renderer
        return tuple(chain)
    # A schema is a layout for machines: the console keeps its columns whatever it is.
    projection = Projection("default" if format == "console" else schema_name, rename, static)
    if not projection.is_identity:
        chain.append(projection)
    if format == "console":
        chain.append(ConsoleRenderer.for_stream(stream if stream is not None else sys.stdout))
    else:
        chain.append(JsonRenderer())
    return tuple(chain)


def _key_names(redact: Any) -> list[str]:
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


_json_cache: tuple[Processor, ...] | None = None


def json_processors() -> tuple[Processor, ...]:
    """The JSON chain for JsonFormatter: the configured settings, else the defaults.

    Built from configure()'s settings (service, redaction, schema, your
    processors), not taken from the pipeline: with several outputs the
    pipeline has no single renderer, and a formatter formats every record it
    is given, so no buffering or sampling step belongs in it.
    """
    global _json_cache
    pipeline = _pipeline.active()
    settings = pipeline.settings
    if _configured and not settings.get("capture"):
        chain = settings.get("json_chain")
        if chain is None:
            chain = build_processors(
                service=settings.get("service"),
                schema=settings.get("schema"),
                redact=settings.get("redact"),
                static=settings.get("static"),
                rename=settings.get("rename"),
                processors=settings.get("processors", ()),
                format="json",
            )
            settings["json_chain"] = chain
        return tuple(chain)
    if _json_cache is None:
        _json_cache = build_processors(format="json")
    return _json_cache


def _resolve_format(format: str | None, stream: Any) -> str:
    value, source = _setting(format, "TRACELOG_FORMAT")
    chosen = _choice(value or "json", FORMATS, source)
    if chosen == "auto":
        target = stream if stream is not None else sys.stdout
        try:
            return "console" if target.isatty() else "json"
        except Exception:
            return "json"
    return chosen


def configure(
    level: int | str | None = None,
    format: str | None = None,
    schema: str | None = None,
    stream: IO[Any] | None = None,
    service: str | None = None,
    *,
    redact: Iterable[str] | bool | None = None,
    processors: Sequence[Processor] = (),
    rename: Mapping[str, str] | None = None,
    static: Mapping[str, Any] | None = None,
    capture_stdlib: bool = True,
    capture_warnings: bool = True,
    otel: bool = True,
    buffer: buffering.TraceBuffer | None = None,
    sampling: buffering.Sampling | None = None,
    rate_limit: buffering.RateLimit | None = None,
    outputs: Sequence[Any] | None = None,
    nonblocking: bool = False,
    queue_size: int = 10_000,
    overflow: str = "drop",
) -> None:
    """Set up tracelog for this process. Call once at start-up; calling again replaces the setup.

    Explicit arguments win over ``TRACELOG_LEVEL``, ``TRACELOG_FORMAT``,
    ``TRACELOG_SCHEMA`` and ``TRACELOG_SERVICE`` (or ``OTEL_SERVICE_NAME``).
    A bad value raises :class:`ConfigurationError` naming the setting and
    the allowed values.
    A valid ``TRACEPARENT`` (and ``TRACESTATE``) in the environment, as a
    parent's ``tracelog.propagation.inject_env()`` sets them, makes the
    calling thread continue that trace in a new span.

    - ``stream``: any text or binary file object; default ``sys.stdout``.
    - ``redact``: extra key names to redact (the defaults stay), or False.
    - ``processors``: your own structlog processors, run after the
      exception step and before redaction.
    - ``capture_stdlib``: route every stdlib ``logging`` record through
      tracelog (a handler on the root logger, replacing the root's handlers).
    - ``buffer``, ``sampling``, ``rate_limit``: hold a trace's debug lines
      until it fails, keep a fraction of traces, limit repeated messages
      (see :mod:`tracelog.buffering` and docs/buffering.md).
    - ``outputs``: several outputs, each with its own format, schema and
      level (see :mod:`tracelog.outputs`); replaces ``stream``.
    - ``nonblocking``, ``queue_size``, ``overflow``: write streams and files
      from a background thread behind a bounded queue; when it is full,
      ``"drop"`` (counted) or ``"block"``. See docs/outputs.md.
    """
    global _configured
    level_value, level_source = _setting(level, "TRACELOG_LEVEL")
    levelno = _level(level_value if level_value is not None else "info", level_source)
    fmt = _resolve_format(format, stream)
    gate = buffering.gate_for(buffer, sampling, rate_limit)
    chain = build_processors(
        service=service,
        schema=schema,
        redact=redact,
        static=static,
        rename=rename,
        processors=processors,
        format=fmt,
        stream=stream,
        gate=gate,
        render=False,
    )
    schema_value, schema_source = _setting(schema, "TRACELOG_SCHEMA")
    try:
        routed = _outputs.route(
            chain,
            outputs if outputs is not None else [StreamOutput(stream)],
            level=levelno,
            format=fmt,
            schema=_choice(schema_value or "default", SCHEMAS, schema_source),
            rename=rename,
            static=static,
            nonblocking=nonblocking,
            queue_size=queue_size,
            overflow=overflow,
        )
    except (TypeError, ValueError) as error:
        raise ConfigurationError(str(error)) from None
    chain = routed.processors
    settings = {
        "level": levelno,
        "format": routed.format,
        "schema": schema,
        "stream": stream,
        "service": service,
        "redact": redact,
        "processors": tuple(processors),
        "rename": rename,
        "static": static,
        "buffer": buffer,
        "sampling": sampling,
        "rate_limit": rate_limit,
    }
    capture_level = routed.level
    if gate is not None:
        capture_level = gate.set_level(routed.level)  # lines below it are held, not written
        settings["formatter_processors"] = tuple(p for p in chain if p is not gate)
    with _lock:
        context.set_otel_fallback(otel)
        pipeline = _pipeline.Pipeline(chain, routed.write, capture_level, settings)
        buffering.install(gate, pipeline)
        # The root logger first: on_install listeners (tracelog.testing) see it as configured.
        stdlib.install_root_handler(capture_level if capture_stdlib else None)
        stdlib.capture_warnings(capture_warnings)
        _pipeline.install(pipeline)
        routed.install()
        structlog.configure(
            processors=list(chain),
            wrapper_class=_native.BoundLogger,
            logger_factory=_native.LoggerNameFactory(),
            cache_logger_on_first_use=False,
        )
        _configured = True
    _continue_env_trace()


def ensure_configured() -> None:
    """Give native loggers a default pipeline (JSON to stdout, environment applied) if none is set.

    Does not touch stdlib logging: only an explicit configure() does that.
    """
    if _configured or _pipeline.active().processors:
        return
    with _lock:
        if _pipeline.active().processors:
            return
        try:
            levelno = _level(os.environ.get("TRACELOG_LEVEL") or "info", "TRACELOG_LEVEL")
            fmt = _resolve_format(None, None)
            chain = build_processors(format=fmt)
        except ConfigurationError as error:
            sys.stderr.write(f"tracelog: {error}; using defaults\n")
            levelno, fmt, chain = (
                logging.INFO,
                "json",
                build_processors(format="json", schema="default"),
            )
        _pipeline.install(_pipeline.Pipeline(chain, StreamOutput(None), levelno, {"format": fmt}))


def reset() -> None:
    """Undo configure(): restore the root logger, warnings and structlog's defaults."""
    global _configured, _json_cache
    with _lock:
        stdlib.install_root_handler(None)
        stdlib.capture_warnings(False)
        buffering.install(None, None)
        structlog.reset_defaults()
        context.set_otel_fallback(True)
        _pipeline.install(_pipeline.Pipeline((), _pipeline.discard, logging.INFO))
        _outputs.uninstall()
        _configured = False
        _json_cache = None
        _forget_env_trace()


def flush(timeout: float | None = None) -> bool:
    """Write everything logged so far: pending rate-limit summaries, then every output.

    True if every output wrote (or shipped) all of it within ``timeout``.
    """
    buffering.flush()
    return _outputs.flush(timeout)


def stats() -> dict[str, dict[str, int]]:
    """Counters per output (see :func:`tracelog.outputs.stats`), plus ``"buffering"``
    (see :func:`tracelog.buffering.stats`) when a buffer, sampling or rate limit is set."""
    counters = _outputs.stats()
    if buffering._active is not None:
        counters["buffering"] = buffering.stats()
    return counters


def is_configured() -> bool:
    return _configured


_env_token: contextvars.Token[context.TraceContext | None] | None = None


def _continue_env_trace() -> None:
    """Continue the trace named by TRACEPARENT/TRACESTATE (a parent process's) in this thread."""
    global _env_token
    if not os.environ.get("TRACEPARENT"):
        return
    from tracelog import propagation

    incoming = propagation.extract_env()
    if incoming.parent is not None:
        _forget_env_trace()
        _env_token = context._current.set(incoming.context())


def _forget_env_trace() -> None:
    global _env_token
    token, _env_token = _env_token, None
    if token is not None:
        try:
            context._current.reset(token)
        except ValueError:  # reset from another context: leave that one alone
            pass
