"""Celery: the publisher's trace continues into the task, each task run is a span.

    tracelog.configure()
    tracelog.integrations.celery.instrument()

Call it where both the publisher and the worker import it (next to the Celery
app). It connects to Celery's signals, nothing is patched:

- ``before_task_publish``: the current trace goes into the message headers
  (``traceparent`` with a new child span id, ``tracestate``, the request id);
- ``task_prerun`` / ``task_postrun``: the task runs in a new span of that
  trace (a new trace when the message carried none), with ``task_id`` and
  ``task_name`` bound, so Celery's own lines about the task carry them too;
- ``setup_logging``: Celery leaves the root logger to tracelog instead of
  installing its own handlers (``tracelog.configure()`` is called with the
  worker's ``--loglevel`` if the app has not configured tracelog itself).
"""

from __future__ import annotations

import contextvars
import threading
from types import MappingProxyType
from typing import Any

from tracelog import context
from tracelog.buffering import begin_trace, finish_trace
from tracelog.context import TraceContext
from tracelog.integrations._common import header_name
from tracelog.propagation import REQUEST_ID_HEADER, from_values, inject

__all__ = ["instrument", "uninstrument"]

_UID = "tracelog.integrations.celery"
_lock = threading.Lock()
_tokens: dict[str, contextvars.Token[TraceContext | None]] = {}
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
        outer = context._current.get()
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
            )
        else:
            ctx = incoming.context(**fields)
        token = context._current.set(ctx)
        begin_trace()  # sampling follows an upstream sampled flag
        with _lock:
            _tokens[str(task_id)] = token
    except Exception:
        pass


def _postrun(task_id: Any = None, state: Any = None, **_: Any) -> None:
    with _lock:
        token = _tokens.pop(str(task_id), None)
    if token is not None:
        finish_trace(failed=state == "FAILURE")  # a failed task writes its held debug lines
        try:
            context._current.reset(token)
        except ValueError:
            context._current.set(None)


def _setup_logging(loglevel: Any = None, **_: Any) -> None:
    from tracelog import config
    from tracelog.integrations.servers import tame_loggers

    if not config.is_configured():
        config.configure(level=loglevel or None)
    tame_loggers(("celery", "celery.task", "celery.redirected"))


def instrument(
    *, request_id_header: str | None = REQUEST_ID_HEADER, own_logging: bool = True
) -> None:
    """Connect tracelog to Celery's signals (idempotent).

    ``own_logging=False`` leaves Celery's logging setup alone (its worker
    then installs its own handlers on the root logger).
    """
    from celery import signals

    global _request_id_header
    _request_id_header = header_name(request_id_header) or None
    signals.before_task_publish.connect(_publish, weak=False, dispatch_uid=_UID)
    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid=_UID)
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid=_UID)
    if own_logging:
        signals.setup_logging.connect(_setup_logging, weak=False, dispatch_uid=_UID)


def uninstrument() -> None:
    """Disconnect what :func:`instrument` connected."""
    from celery import signals

    for signal in (
        signals.before_task_publish,
        signals.task_prerun,
        signals.task_postrun,
        signals.setup_logging,
    ):
        signal.disconnect(dispatch_uid=_UID)
