"""configure(): options and ``TRACELOG_*`` environment -> one Settings -> one pipeline.

:class:`~tracelog._settings.Settings` resolves the arguments and the
environment once; the pipeline, the outputs, structlog and the root logger
are set up from it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

import structlog

from tracelog import buffering, context, stdlib
from tracelog import logger as _logger
from tracelog import outputs as _outputs
from tracelog import pipeline as _pipeline
from tracelog._environment_objects import objects_from_environment
from tracelog._errors import ConfigurationError
from tracelog._processor_list import ProcessorList
from tracelog._settings import FORMATS, Settings, resolve_service
from tracelog.outputs import StreamOutput
from tracelog.pipeline import build_chain
from tracelog.typing import Processor

__all__ = ["FORMATS", "configure", "flush", "reset", "stats"]

_lock = threading.RLock()
_configured = False


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
    capture_stdlib: bool | None = None,
    capture_warnings: bool | None = None,
    otel: bool | None = None,
    buffer: buffering.TraceBuffer | None = None,
    sampling: buffering.Sampling | None = None,
    rate_limit: buffering.RateLimit | None = None,
    outputs: Sequence[Any] | None = None,
    nonblocking: bool | None = None,
    queue_size: int | None = None,
    overflow: str | None = None,
) -> None:
    """Set up tracelog for this process. Call once at start-up; calling again replaces the setup.

    The arguments and the environment are resolved once into a frozen
    :class:`~tracelog._settings.Settings` (``tracelog.pipeline.active().settings``).
    Explicit arguments win over ``TRACELOG_LEVEL``, ``TRACELOG_FORMAT``,
    ``TRACELOG_SCHEMA``, ``TRACELOG_SERVICE`` (or ``OTEL_SERVICE_NAME``) and the
    other ``TRACELOG_*`` variables (one per scalar option, see docs/configuration.md);
    an option left out (None) takes its variable, else its default (``capture_stdlib``,
    ``capture_warnings`` and ``otel`` True, ``nonblocking`` False, ``queue_size``
    10 000, ``overflow`` "drop").
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
    outputs, buffer, sampling = objects_from_environment(outputs, stream, buffer, sampling)
    settings = Settings.resolve(
        level,
        format,
        schema,
        stream,
        service,
        redact=redact,
        processors=processors,
        rename=rename,
        static=static,
        capture_stdlib=capture_stdlib,
        capture_warnings=capture_warnings,
        otel=otel,
        buffer=buffer,
        sampling=sampling,
        rate_limit=rate_limit,
        outputs=outputs,
        nonblocking=nonblocking,
        queue_size=queue_size,
        overflow=overflow,
    )
    gate = buffering.gate_for(settings.buffer, settings.sampling, settings.rate_limit)
    chain = build_chain(settings, gate=gate, render=False)
    try:
        routed = _outputs.route(
            chain,
            settings.outputs if settings.outputs is not None else [StreamOutput(stream)],
            level=settings.level,
            format=settings.format,
            schema=settings.schema,
            rename=settings.rename,
            static=settings.static,
            nonblocking=settings.nonblocking,
            queue_size=settings.queue_size,
            overflow=settings.overflow,
        )
    except (TypeError, ValueError) as error:
        raise ConfigurationError(str(error)) from None
    chain = routed.processors
    capture_level = routed.level
    if gate is not None:
        capture_level = gate.set_level(routed.level)  # lines below it are held, not written
    with _lock:
        context.set_otel_fallback(settings.otel)
        pipeline = _pipeline.Pipeline(chain, routed.write, capture_level, settings)
        buffering.install(gate, pipeline)
        # The root logger first: on_install listeners (tracelog.testing) see it as configured.
        stdlib.install_root_handler(capture_level if settings.capture_stdlib else None)
        stdlib.capture_warnings(settings.capture_warnings)
        _pipeline.install(pipeline)
        routed.install()
        structlog.configure(
            processors=ProcessorList(chain),  # capture_logs() swaps its contents: watched
            wrapper_class=_logger.BoundLogger,
            logger_factory=_logger.LoggerNameFactory(),
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
            settings = Settings.resolve()
        except ConfigurationError as error:
            sys.stderr.write(f"tracelog: {error}; using defaults\n")
            settings = Settings(service=resolve_service(None))
        chain = build_chain(settings)
        # No settings on it: nothing was configured (JsonFormatter reads the environment itself).
        _pipeline.install(_pipeline.Pipeline(chain, StreamOutput(None), settings.level))


_pipeline.default_setup = ensure_configured


def reset() -> None:
    """Undo configure(): restore the root logger, warnings and structlog's defaults."""
    global _configured
    with _lock:
        stdlib.install_root_handler(None)
        stdlib.capture_warnings(False)
        buffering.install(None, None)
        structlog.reset_defaults()
        context.set_otel_fallback(True)
        _pipeline.install(_pipeline.Pipeline((), _pipeline.discard, logging.INFO))
        _outputs.uninstall()
        _configured = False
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
    if buffering.active() is not None:
        counters["buffering"] = buffering.stats()
    return counters


def is_configured() -> bool:
    return _configured


_env_trace: context.Activation | None = None


def _continue_env_trace() -> None:
    """Continue the trace named by TRACEPARENT/TRACESTATE (a parent process's) in this thread."""
    global _env_trace
    if not os.environ.get("TRACEPARENT"):
        return
    from tracelog import propagation

    incoming = propagation.extract_env()
    if incoming.parent is not None:
        _forget_env_trace()
        _env_trace = context.activate(incoming.context())
        _env_trace.start(hooks=False)


def _forget_env_trace() -> None:
    global _env_trace
    activation, _env_trace = _env_trace, None
    if activation is not None:
        activation.end()
