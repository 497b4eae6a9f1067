"""ASGI: one trace per request or websocket, for Starlette, FastAPI and any ASGI app.

    from tracelog.integrations.asgi import TraceMiddleware
    app = TraceMiddleware(app)                  # or app.add_middleware(TraceMiddleware)

For each ``http`` and ``websocket`` scope the middleware continues the
caller's W3C trace (or starts one), binds the request id as ``request_id``
(the caller's valid one, else a new one: the trace id unless a ``generator``
is given), answers with it in the request id header, and writes one access
line when the last byte of the response is sent (so FastAPI's background
tasks, which run after it, are not in its ``duration_ms``; their lines keep
the request's trace). An exception that escapes the app is logged once, with
the trace, and the client still gets a 500 carrying the request id header.
The response body passes through untouched, never buffered. ``tracelog.bind()``
anywhere inside the request binds for the rest of the request, its access
line included (see docs/context.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from tracelog import context
from tracelog.integrations._common import (
    MAX_PATH_LENGTH,
    AccessLog,
    RequestIds,
    client_address,
    header_name,
    install_duplicate_filter,
    log_access,
    log_unhandled,
    short_path,
)
from tracelog.propagation import REQUEST_ID_HEADER, extract_raw

__all__ = ["TraceMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_perf_counter = time.perf_counter
_ERROR_BODY = b"Internal Server Error"


class TraceMiddleware:
    """Trace, request id and access line for every HTTP request and websocket.

    - ``request_id_header``: the header read, validated and echoed
      (``X-Correlation-ID``, ...); None to neither read nor send one.
    - ``validator(id) -> bool`` narrows which incoming ids are taken (they
      must be safe to log whatever it says); ``transformer(id) -> id``
      rewrites a taken one; ``generator() -> id`` makes the id when none is
      taken (default: the trace id). As in asgi-correlation-id.
    - ``update_request_header``: the app sees the chosen id in the request's
      headers too (asgi-correlation-id's option).
    - ``access_log``: write an access line per request (method, path, status,
      duration_ms, client); ``exclude_paths`` (globs) never get one, and
      ``access_sample`` keeps that fraction of the successful ones. uvicorn's
      own access log is then silenced (with ``access_log=False`` it comes out
      as tracelog lines instead); it is never plain text mixed into the JSON.
    """

    __slots__ = ("_access", "_ids", "_rid", "_rid_bytes", "_update_header", "app")

    def __init__(
        self,
        app: ASGIApp,
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
        self._rid_bytes = self._rid.encode("ascii")
        self._ids = RequestIds(validator, generator, transformer)
        self._update_header = update_request_header
        self._access = AccessLog(access_log, exclude_paths, access_sample)
        install_duplicate_filter()
        _route_uvicorn_access_log(keep=not access_log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        started = _perf_counter()
        rid_header = self._rid_bytes
        incoming = extract_raw(scope.get("headers") or (), rid_header)
        if rid_header:
            ctx, chosen = self._ids.context(incoming)
            rid_value = chosen.encode("ascii")
            if self._update_header:
                scope = _with_header(scope, rid_header, rid_value)
        else:
            ctx, rid_value = incoming.context(), b""
        status: int | None = None
        complete = False
        logged = False
        finished = False  # the request's end told to buffering (which writes a 5xx's held lines)
        access = self._access
        request = context.RequestScope(ctx)

        def write_access_line() -> None:
            nonlocal logged
            logged = True
            path = scope.get("path", "")
            if len(path) > MAX_PATH_LENGTH:
                path = short_path(path)
            if not access.wants(path, status, ctx.trace_id):
                return
            request.refresh()
            client = scope.get("client")
            log_access(
                _method(scope, kind),
                path,
                status,
                _perf_counter() - started,
                client_address(*client[:2]) if client else None,
            )

        async def send_with_ids(message: Message) -> None:
            nonlocal status, complete, finished
            message_type = message["type"]
            if message_type == "http.response.start" or message_type == "websocket.accept":
                status = message.get("status", 101)
                if rid_header:
                    headers = list(message.get("headers") or ())
                    for name, _ in headers:
                        if name.lower() == rid_header:
                            break
                    else:
                        headers.append((rid_header, rid_value))
                    message = {**message, "headers": headers}
            elif message_type == "http.response.body":
                if not message.get("more_body", False):
                    complete = True
            elif message_type == "websocket.close":
                if status is None:
                    status = 403  # closed before accepting: servers answer 403
                complete = True
            await send(message)
            if complete and not logged and access.enabled:
                # The response is out: what the app does next (background tasks) is not in it.
                again = context.activate(ctx)
                again.start(hooks=False)
                try:
                    if status is not None and status >= 500:
                        again.finish(status)  # its held lines before its access line
                        finished = True
                    write_access_line()
                finally:
                    again.end()

        activation = context.activate(ctx)
        activation.start()  # sampling follows an upstream sampled flag
        request.open()
        try:
            await self.app(scope, receive, send_with_ids)
        except Exception as error:
            log_unhandled(error, _method(scope, kind), short_path(scope.get("path", "")))
            if status is None:
                status = 500
                await _send_error(kind, send, rid_header, rid_value)
            elif not complete:
                raise  # the response is half sent: let the server cut the connection
        finally:
            if not finished:
                activation.finish(status)  # a 5xx writes the request's held debug lines
            if not logged and access.enabled:
                write_access_line()
            request.close()
            activation.end()


def _method(scope: Scope, kind: str) -> str:
    return str(scope.get("method", "GET")) if kind == "http" else "WS"


def _with_header(scope: Scope, name: bytes, value: bytes) -> Scope:
    headers = [(k, v) for k, v in scope.get("headers") or () if k.lower() != name]
    headers.append((name, value))
    return {**scope, "headers": headers}


def _route_uvicorn_access_log(*, keep: bool) -> None:
    """uvicorn's access logger, when tracelog has the root logger: tracelog's lines, or none.

    uvicorn gives it a plain-text handler of its own; those lines would sit
    between tracelog's JSON ones.
    """
    from tracelog.stdlib import TracelogHandler

    if not any(isinstance(h, TracelogHandler) for h in logging.getLogger().handlers):
        return  # tracelog does not own logging here: leave uvicorn's setup alone
    from tracelog.integrations.servers import tame_loggers

    tame_loggers(("uvicorn.access",), access_log=keep)


async def _send_error(kind: str, send: Send, rid_header: bytes, rid_value: bytes) -> None:
    try:
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1011})
            return
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(_ERROR_BODY)).encode("ascii")),
        ]
        if rid_header:
            headers.append((rid_header, rid_value))
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": _ERROR_BODY})
    except Exception:
        pass  # the client is gone: nothing left to tell it
