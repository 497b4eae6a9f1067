"""Celery: the publisher's trace continues into the task, each task run is a span.

    tracelog.integrations.celery.instrument()                     # next to the app
    tracelog.integrations.celery.configure_worker(service="...")  # the worker's entry

Call :func:`instrument` where both the publisher and the worker import it
(next to the Celery app); it configures no logging, so the web process keeps
its own ``tracelog.configure()``. It connects to Celery's signals, nothing is
patched:

- ``before_task_publish``: the current trace goes into the message headers
  (``traceparent`` with a new child span id, ``tracestate``, the request id),
  and a ``publish <task>`` line is logged in that child span, so ``tracelog
  show`` draws the task under the span that published it;
- Celery's ``Task ... received`` line (the worker logs it before any signal)
  is written in the trace its message carries;
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
from types import FrameType, MappingProxyType
from typing import Any

from tracelog import context
from tracelog.context import TraceContext
from tracelog.integrations._common import header_name, integration_logger
from tracelog.propagation import REQUEST_ID_HEADER, from_values, inject, parse_traceparent

__all__ = ["configure_worker", "instrument", "uninstrument"]

_UID = "tracelog.integrations.celery"
_lock = threading.Lock()
_tokens: dict[str, context.Activation] = {}
_request_id_header: str | None = REQUEST_ID_HEADER


PUBLISH_LOGGER = "tracelog.celery"


def _publish(sender: Any = None, headers: Any = None, **_: Any) -> None:
    if isinstance(headers, dict):
        inject(headers, request_id_header=_request_id_header)
        _log_publish(sender, headers)


def _log_publish(sender: Any, headers: dict[str, Any]) -> None:
    """One line in the publish span (the traceparent's parent id), the task's parent."""
    outer = context.current()
    sent = parse_traceparent(headers.get("traceparent"))
    if outer is None or outer.trace_id is None or sent is None:
        return
    name = str(headers.get("task") or sender)
    ctx = TraceContext(
        outer.trace_id,
        sent.parent_id,
        outer.span_id,
        outer.sampled,
        outer.tracestate,
        f"publish {name}",
        outer.fields,
        outer.random_trace_id,
    )
    activation = context.activate(ctx)
    activation.start(hooks=False)  # a span inside the caller's trace, not a new request
    try:
        integration_logger(PUBLISH_LOGGER).info(
            f"publish {name}", task_id=str(headers.get("id")), task_name=name
        )
    finally:
        activation.end()


_STRATEGY_LOGGER = "celery.worker.strategy"
_reemitting = threading.local()


class ReceivedInTrace(logging.Filter):
    """Celery's ``Task ... received`` line, written in the trace its message carries.

    The worker logs it from the message it just decoded, before any signal
    runs, so no context is set yet. The filter reads the message headers from
    the caller's frame (read only; when they are not found, the line is left
    as it is), and logs the record again inside the publish span.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_reemitting, "active", False) or " received" not in str(record.msg):
            return True
        try:
            ctx = _received_context(_message_headers())
        except Exception:
            ctx = None
        if ctx is None:
            return True
        activation = context.activate(ctx)
        activation.start(hooks=False)
        _reemitting.active = True
        try:
            logging.getLogger(record.name).handle(record)
        finally:
            _reemitting.active = False
            activation.end()
        return False


_received_filter = ReceivedInTrace()


def _message_headers() -> Any:
    frame: FrameType | None = sys._getframe(2)
    for _ in range(16):
        if frame is None:
            return None
        if frame.f_code.co_name == "task_message_handler":
            headers = frame.f_locals.get("headers")
            if not isinstance(headers, dict):
                headers = getattr(frame.f_locals.get("message"), "headers", None)
            return headers
        frame = frame.f_back
    return None


def _received_context(headers: Any) -> TraceContext | None:
    if not isinstance(headers, dict):
        return None
    incoming = from_values(
        _values(headers.get("traceparent")),
        _values(headers.get("tracestate")),
        _values(headers.get(_request_id_header) if _request_id_header else None),
    )
    parent = incoming.parent
    if parent is None:
        return None
    fields: dict[str, Any] = {"task_id": str(headers.get("id")), "task_name": headers.get("task")}
    if incoming.request_id is not None:
        fields["request_id"] = incoming.request_id
    return TraceContext(
        parent.trace_id,
        parent.parent_id,  # the publish span: the task's own span starts when it runs
        None,
        parent.sampled,
        incoming.tracestate,
        None,
        MappingProxyType(fields),
        parent.random,
    )


def _values(value: Any) -> list[Any]:
    return [] if value is None else [value]


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
            level_differs = given != (active.settings.level if active.settings else None)
        if level_differs or active is not _worker_pipeline:
            # Again: something imported since (Django's settings) may have configured tracelog.
            config.configure(**options)
            _worker_pipeline = _pipeline.active()
    elif not config.is_configured():
        config.configure(level=given)
    elif given is not None and given != (
        active.settings.level if active.settings else logging.INFO
    ):
        logging.getLogger(__name__).warning(
            "--loglevel=%s is not applied: tracelog.configure() was called at import and set"
            " level %s; call tracelog.integrations.celery.configure_worker() in the worker's"
            " entry point instead, or set TRACELOG_LEVEL",
            logging.getLevelName(given),
            logging.getLevelName(active.settings.level if active.settings else logging.INFO),
        )
    tame_loggers(("celery", "celery.task", "celery.redirected"))


def _configured_level(pipeline: Any) -> int:
    settings = pipeline.settings
    return settings.level if settings is not None else logging.INFO


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
    strategy = logging.getLogger(_STRATEGY_LOGGER)
    if _received_filter not in strategy.filters:
        strategy.addFilter(_received_filter)
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
    logging.getLogger(_STRATEGY_LOGGER).removeFilter(_received_filter)
    _worker_options = _worker_pipeline = None
    _logging_handled = False
