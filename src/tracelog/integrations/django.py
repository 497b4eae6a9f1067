"""Django: one trace per request, under WSGI or ASGI (sync and async views).

    MIDDLEWARE = [
        "tracelog.integrations.django.TraceMiddleware",   # first, so it wraps everything
        ...
    ]

Settings (all optional): ``TRACELOG_REQUEST_ID_HEADER`` (default
``"X-Request-ID"``, None to turn it off), ``TRACELOG_REQUEST_ID_VALIDATOR``,
``TRACELOG_REQUEST_ID_GENERATOR`` and ``TRACELOG_REQUEST_ID_TRANSFORMER``
(callables, as the ASGI middleware's ``validator``, ``generator`` and
``transformer``), ``TRACELOG_ACCESS_LOG`` (default True),
``TRACELOG_ACCESS_EXCLUDE_PATHS`` (globs) and ``TRACELOG_ACCESS_SAMPLE``
(the fraction of successful requests logged).

Django's own line for a 4xx or 5xx response on ``django.request`` ("Not
Found: /x", "Internal Server Error: /x") is written inside the request's
trace, so it carries the trace and request id. In settings.py, set
``LOGGING_CONFIG = None`` so Django leaves logging to tracelog (see
docs/frameworks/django.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tracelog import context
from tracelog.integrations._common import (
    AccessLog,
    RequestIds,
    client_address,
    environ_key,
    extract_environ,
    header_name,
    log_access,
    short_path,
)
from tracelog.integrations.wsgi import ENVIRON_CONTEXT
from tracelog.propagation import REQUEST_ID_HEADER

__all__ = ["TraceMiddleware"]

ctx_trace_id = context.current_trace_id

_perf_counter = time.perf_counter


def _is_async(fn: Any) -> bool:
    from asgiref.sync import iscoroutinefunction

    return bool(iscoroutinefunction(fn))


class TraceMiddleware:
    """Django middleware: trace, request id, access line. Works sync and async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from django.conf import settings
        from django.utils.log import log_response

        self.get_response = get_response
        configured = getattr(settings, "TRACELOG_REQUEST_ID_HEADER", REQUEST_ID_HEADER)
        self._rid = header_name(configured)
        self._rid_display = configured.strip() if configured else ""
        self._rid_key = environ_key(self._rid)
        self._ids = RequestIds(
            getattr(settings, "TRACELOG_REQUEST_ID_VALIDATOR", None),
            getattr(settings, "TRACELOG_REQUEST_ID_GENERATOR", None),
            getattr(settings, "TRACELOG_REQUEST_ID_TRANSFORMER", None),
        )
        self._access = AccessLog(
            bool(getattr(settings, "TRACELOG_ACCESS_LOG", True)),
            getattr(settings, "TRACELOG_ACCESS_EXCLUDE_PATHS", None),
            getattr(settings, "TRACELOG_ACCESS_SAMPLE", None),
        )
        self._log_response = log_response
        self._async = _is_async(get_response)
        if self._async:
            from asgiref.sync import markcoroutinefunction

            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self._acall(request)
        started = _perf_counter()
        ctx, rid_value = self._context(request)
        activation = context.activate(ctx)
        activation.start()  # sampling follows an upstream sampled flag
        scope = context.RequestScope(ctx).open()
        try:
            response = self.get_response(request)
            scope.refresh()  # the access line is built from the fields as they are now
            self._finish(request, response, rid_value, started, activation)
            return response
        finally:
            scope.close()
            activation.end()

    async def _acall(self, request: Any) -> Any:
        started = _perf_counter()
        ctx, rid_value = self._context(request)
        activation = context.activate(ctx)
        activation.start()  # sampling follows an upstream sampled flag
        scope = context.RequestScope(ctx).open()
        try:
            response = await self.get_response(request)
            scope.refresh()  # the access line is built from the fields as they are now
            self._finish(request, response, rid_value, started, activation)
            return response
        finally:
            scope.close()
            activation.end()

    def _context(self, request: Any) -> tuple[context.TraceContext, str]:
        meta = request.META
        incoming = extract_environ(meta, self._rid_key)
        if self._rid:
            ctx, rid_value = self._ids.context(incoming)
        else:
            ctx, rid_value = incoming.context(), ""
        if isinstance(meta, dict):  # under WSGI, the environ: for the server's access line
            meta[ENVIRON_CONTEXT] = ctx
        return ctx, rid_value

    def _finish(
        self,
        request: Any,
        response: Any,
        rid_value: str,
        started: float,
        activation: context.Activation,
    ) -> None:
        try:
            if self._rid and not response.has_header(self._rid_display):
                response[self._rid_display] = rid_value
        except Exception:
            pass
        status = getattr(response, "status_code", None)
        if isinstance(status, int) and status >= 400:
            # Django logs this after the middleware chain, outside the trace; the same call here
            # logs it inside, and marks the response so Django does not log it again.
            try:
                self._log_response(
                    "%s: %s",
                    response.reason_phrase,
                    request.path,
                    response=response,
                    request=request,
                )
            except Exception:
                pass  # Django logs it later as before, only without the trace
        activation.finish(status if isinstance(status, int) else None)  # a 5xx: held lines
        path = short_path(request.path)
        if self._access.wants(path, status if isinstance(status, int) else None, ctx_trace_id()):
            meta = request.META
            log_access(
                str(request.method),
                path,
                status,
                _perf_counter() - started,
                client_address(meta.get("REMOTE_ADDR"), meta.get("REMOTE_PORT")),
            )
