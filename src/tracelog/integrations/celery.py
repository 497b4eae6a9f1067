"""Celery: the publisher's trace continues into the task, each task run is a span.

    tracelog.integrations.celery.instrument()                     # next to the app
    tracelog.integrations.celery.configure_worker(service="...")  # the worker's entry

Call :func:`instrument` where both the publisher and the worker import it
(next to the Celery app); it configures no logging, so the web process keeps
its own ``tracelog.configure()``. It connects to Celery's signals, nothing is
patched:

- ``before_task_publish``: the current trace goes into the message headers
  (``traceparent`` with a new child span id, ``tracestate``, the request id);
- ``task_prerun`` / ``task_postrun``: the task runs in a new span of that
  trace (a new trace when the message carried none), with ``task_id`` and
  ``task_name`` bound, so Celery's own lines about the task carry them too;
- ``setup_logging``: Celery leaves the root logger to tracelog instead of
  installing its own handlers. The worker's configuration (from
  :func:`configure_worker`, else tracelog's defaults) is applied with its level:
  ``configure_worker(level=...)``, else ``TRACELOG_LEVEL``, else a
  ``--loglevel`` given to the worker, else info;
- ``celeryd_after_setup``: as Celery would, ``print()`` and other writes to
  stdout and stderr become records of the ``celery.redirected`` logger at
  ``worker_redirect_stdouts_level`` (unless ``worker_redirect_stdouts`` is off).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from types import MappingProxyType
from typing import Any

from tracelog import context
from tracelog.context import TraceContext
from tracelog.integrations._common import header_name
from tracelog.propagation import REQUEST_ID_HEADER, from_values, inject

__all__ = ["configure_worker", "instrument", "uninstrument"]

_UID = "tracelog.integrations.celery"
_lock = threading.Lock()
_tokens: dict[str, context.Activation] = {}
_request_id_header: str | None = REQUEST_ID_HEADER


def _publish(sender: Any = None, headers: Any = None, **_: Any) -> None:
    if isinstance(headers, dict):
        inject(headers, request_id_header=_request_id_header)


def _header(request: Any, name: str) -> list[Any]:
    value = getattr(request, name, None) if name else None
    return [] if value is None else [value]


def _prerun(task_id: Any = None, task: Any = None, **_: Any) -> None:
    try:
        request = getattr(task, "request", None)
        incoming = from_values(
            _header(request, "traceparent"),
            _header(request, "tracestate"),
            _header(request, _request_id_header or ""),
        )
        fields: dict[str, Any] = {"task_id": str(task_id), "task_name": getattr(task, "name", None)}
        outer = context.current()
        if incoming.parent is None and outer is not None and outer.trace_id is not None:
            # Run eagerly in the caller (no message was sent): a span of the caller's trace.
            ctx = TraceContext(
                outer.trace_id,
                context.new_span_id(),
                outer.span_id,
                outer.sampled,
                outer.tracestate,
                None,
                MappingProxyType({**outer.fields, **fields}),
                outer.random_trace_id,
            )
        else:
            ctx = incoming.context(**fields)
        activation = context.activate(ctx)
        activation.start()  # sampling follows an upstream sampled flag
        with _lock:
            _tokens[str(task_id)] = activation
    except Exception:
        pass


def _postrun(task_id: Any = None, state: Any = None, **_: Any) -> None:
    with _lock:
        activation = _tokens.pop(str(task_id), None)
    if activation is not None:
        activation.finish(failed=state == "FAILURE")  # a failed task writes its held debug lines
        activation.end()


class _Redirected:
    """sys.stdout or sys.stderr in a worker: text written to it becomes a log record.

    The text goes through Celery's own ``LoggingProxy``. ``buffer`` stays the
    real stream's: tracelog writes its lines there as bytes, so they are not
    fed back into logging.
    """

    def __init__(self, proxy: Any, original: Any) -> None:
        self._proxy = proxy
        self._original = original
        self.buffer = original.buffer

    def write(self, text: str) -> int:
        return int(self._proxy.write(text))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


_worker_options: dict[str, Any] | None = None
_worker_pipeline: object = None
_logging_handled = False


def _command_line_level(loglevel: Any) -> int | None:
    """The worker's ``--loglevel`` if it was given (argument or variable), not Celery's default."""
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None or "loglevel" not in ctx.params or not isinstance(loglevel, int):
        return None  # a worker started from code: its level is not a command-line choice
    from celery.bin.celery import celery as celery_command

    if ctx.find_root().command is not celery_command:
        return None
    source = ctx.get_parameter_source("loglevel")
    given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return loglevel if source in given else None


def _setup_logging(loglevel: Any = None, **_: Any) -> None:
    global _logging_handled, _worker_pipeline
    from tracelog import config
    from tracelog import pipeline as _pipeline
    from tracelog.integrations.servers import tame_loggers

    _logging_handled = True
    given = None if os.environ.get("TRACELOG_LEVEL") else _command_line_level(loglevel)
    active = _pipeline.active()
    if _worker_options is not None:
        options = dict(_worker_options)
        level_differs = False
        if options.get("level") is None and given is not None:
            options["level"] = given
            level_differs = given != active.settings.get("level")
        if level_differs or active is not _worker_pipeline:
            # Again: something imported since (Django's settings) may have configured tracelog.
            config.configure(**options)
            _worker_pipeline = _pipeline.active()
    elif not config.is_configured():
        config.configure(level=given)
    elif given is not None and given != active.settings.get("level", logging.INFO):
        logging.getLogger(__name__).warning(
            "--loglevel=%s is not applied: tracelog.configure() was called at import and set"
            " level %s; call tracelog.integrations.celery.configure_worker() in the worker's"
            " entry point instead, or set TRACELOG_LEVEL",
            logging.getLevelName(given),
            logging.getLevelName(active.settings.get("level", logging.INFO)),
        )
    tame_loggers(("celery", "celery.task", "celery.redirected"))


def _redirect_stdouts(instance: Any = None, **_: Any) -> None:
    # Celery redirects only when no setup_logging receiver took over; tracelog's did.
    if not _logging_handled or not getattr(instance, "redirect_stdouts", False):
        return
    from celery.utils.log import LoggingProxy

    logger = logging.getLogger("celery.redirected")
    level = getattr(instance, "redirect_stdouts_level", None) or "WARNING"
    for name in ("stdout", "stderr"):
        original = getattr(sys, name)
        if isinstance(original, _Redirected) or getattr(original, "buffer", None) is None:
            continue
        setattr(sys, name, _Redirected(LoggingProxy(logger, level), original))


def configure_worker(**options: Any) -> None:
    """``tracelog.configure(**options)`` for a Celery worker: call it in the worker's entry point.

    It configures now, and once more when the worker sets up its logging if
    that is needed: to apply the worker's ``--loglevel``, or because
    something imported in between configured tracelog otherwise. The level is
    ``level=`` if given, else ``TRACELOG_LEVEL``, else the ``--loglevel`` given
    to the worker on its command line, else info.
    """
    global _worker_options, _worker_pipeline
    from tracelog import config
    from tracelog import pipeline as _pipeline

    config.configure(**options)
    _worker_options = dict(options)
    _worker_pipeline = _pipeline.active()


def instrument(
    *, request_id_header: str | None = REQUEST_ID_HEADER, own_logging: bool = True
) -> None:
    """Connect tracelog to Celery's signals (idempotent).

    ``own_logging=False`` leaves Celery's logging setup alone (its worker
    then installs its own handlers on the root logger and redirects stdout
    and stderr itself).
    """
    from celery import signals

    global _request_id_header
    _request_id_header = header_name(request_id_header) or None
    signals.before_task_publish.connect(_publish, weak=False, dispatch_uid=_UID)
    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid=_UID)
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid=_UID)
    if own_logging:
        signals.setup_logging.connect(_setup_logging, weak=False, dispatch_uid=_UID)
        signals.celeryd_after_setup.connect(_redirect_stdouts, weak=False, dispatch_uid=_UID)


def uninstrument() -> None:
    """Disconnect what :func:`instrument` connected; forget :func:`configure_worker`'s options."""
    from celery import signals

    global _worker_options, _worker_pipeline, _logging_handled
    for signal in (
        signals.before_task_publish,
        signals.task_prerun,
        signals.task_postrun,
        signals.setup_logging,
        signals.celeryd_after_setup,
    ):
        signal.disconnect(dispatch_uid=_UID)
    _worker_options = _worker_pipeline = None
    _logging_handled = False
