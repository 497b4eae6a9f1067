"""WSGI: one trace per request, for Flask and any WSGI app under any WSGI server.

    from tracelog.integrations.wsgi import TraceMiddleware
    app.wsgi_app = TraceMiddleware(app.wsgi_app)      # Flask
    application = TraceMiddleware(application)         # any WSGI callable

Same behaviour as the ASGI middleware: the caller's W3C trace is continued
(or a new one started), a valid request id is bound as ``request_id`` and
echoed in the response (else the trace id is sent), one access line per
request, and an exception that escapes the app is logged once with the trace
while the client gets a 500 that carries the request id header. Lines logged
while the server iterates a streamed body keep the request's trace too.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tracelog import context
from tracelog.context import TraceContext
from tracelog.integrations._common import (
    AccessLog,
    RequestIds,
    client_address,
    environ_key,
    extract_environ,
    header_name,
    install_duplicate_filter,
    log_access,
    log_unhandled,
    short_path,
)
from tracelog.propagation import REQUEST_ID_HEADER

__all__ = ["ENVIRON_CONTEXT", "TraceMiddleware"]

#: The environ key under which the request's context is left for the server.
ENVIRON_CONTEXT = "tracelog.context"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_perf_counter = time.perf_counter
_ERROR_BODY = b"Internal Server Error"


class _Request:
    """One request's state, shared by the middleware call and its body iterator."""

    __slots__ = ("client", "ctx", "method", "path", "scope", "started", "status")

    def __init__(self, environ: dict[str, Any], ctx: TraceContext, started: float) -> None:
        self.ctx = ctx
        self.scope = context.RequestScope(ctx)
        self.started = started
        self.status: int | None = None
        self.method = str(environ.get("REQUEST_METHOD", ""))
        self.path = short_path(environ.get("PATH_INFO", ""))
        self.client = client_address(environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT"))


class TraceMiddleware:
    """Trace, request id and access line for every request of a WSGI app.

    - ``request_id_header``: the header read, validated and echoed; None for none.
    - ``validator``, ``generator``, ``transformer``, ``update_request_header``:
      how the request id is chosen, as in the ASGI middleware.
    - ``access_log``: write an access line per request; ``exclude_paths``
      (globs) never get one; ``access_sample`` keeps that fraction of the
      successful ones.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        request_id_header: str | None = REQUEST_ID_HEADER,
        validator: Callable[[str], bool] | None = None,
        generator: Callable[[], str] | None = None,
        transformer: Callable[[str], str] | None = None,
        update_request_header: bool = False,
        access_log: bool = True,
        exclude_paths: Iterable[str] | None = None,
        access_sample: float | None = None,
    ) -> None:
        self.app = app
        self._rid = header_name(request_id_header)
        self._rid_display = request_id_header.strip() if request_id_header else ""
        self._rid_key = environ_key(self._rid)
        self._ids = RequestIds(validator, generator, transformer)
        self._update_header = update_request_header
        self._access = AccessLog(access_log, exclude_paths, access_sample)
        install_duplicate_filter()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = _perf_counter()
        incoming = extract_environ(environ, self._rid_key)
        rid, rid_display = self._rid, self._rid_display
        if rid:
            ctx, rid_value = self._ids.context(incoming)
            if self._update_header:
                environ[self._rid_key] = rid_value
        else:
            ctx, rid_value = incoming.context(), ""
        request = _Request(environ, ctx, started)
        # The environ carries the context to the server's own access line (GunicornLogger).
        environ[ENVIRON_CONTEXT] = ctx

        def start_with_ids(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            try:
                request.status = int(str(status)[:3])
            except ValueError:
                request.status = None
            if rid and not any(name.lower() == rid for name, _ in headers):
                headers = [*headers, (rid_display, rid_value)]
            return start_response(status, headers, *exc_info)

        activation = context.activate(ctx)
        activation.start()  # sampling follows an upstream sampled flag
        request.scope.open()
        try:
            body = self.app(environ, start_with_ids)
        except Exception as error:
            log_unhandled(error, request.method, request.path)
            headers = [("Content-Type", "text/plain; charset=utf-8")]
            if rid:
                headers.append((rid_display, rid_value))
            request.status = 500
            start_response("500 Internal Server Error", headers, sys.exc_info())
            body = [_ERROR_BODY]
        finally:
            request.scope.close()
            activation.end()
        return _TracedBody(body, request, self._access)


class _TracedBody:
    """The app's response body, iterated (and closed) in the request's trace."""

    __slots__ = ("_access_log", "_body", "_request")

    def __init__(self, body: Iterable[bytes], request: _Request, access_log: AccessLog) -> None:
        self._body = body
        self._request = request
        self._access_log = access_log

    def __iter__(self) -> Iterator[bytes]:
        activation = context.activate(self._request.ctx)
        scope = self._request.scope
        activation.start(hooks=False)
        scope.open()
        try:
            chunks = iter(self._body)
        finally:
            scope.close()
            activation.end()
        while True:
            activation.start(hooks=False)
            scope.open()
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except Exception as error:
                log_unhandled(error, self._request.method, self._request.path)
                raise
            finally:
                scope.close()
                activation.end()
            yield chunk

    def close(self) -> None:
        request = self._request
        activation = context.activate(request.ctx)
        activation.start(hooks=False)
        request.scope.open()
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            activation.finish(request.status)  # a 5xx writes the request's held debug lines
            if self._access_log.wants(request.path, request.status, request.ctx.trace_id):
                request.scope.refresh()
                log_access(
                    request.method,
                    request.path,
                    request.status,
                    _perf_counter() - request.started,
                    request.client,
                )
            request.scope.close()
            activation.end()
