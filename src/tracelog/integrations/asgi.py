"""ASGI: one trace per request or websocket, for Starlette, FastAPI and any ASGI app.

    from tracelog.integrations.asgi import TraceMiddleware
    app = TraceMiddleware(app)                  # or app.add_middleware(TraceMiddleware)

For each ``http`` and ``websocket`` scope the middleware continues the
caller's W3C trace (or starts one), binds a valid request id as
``request_id``, answers with the request id header (the caller's id, else the
trace id), and writes one access line when the response is done. An exception
that escapes the app is logged once, with the trace, and the client still gets
a 500 carrying the request id header. The response body passes through
untouched, never buffered.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tracelog import context
from tracelog.integrations._common import (
    MAX_PATH_LENGTH,
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
    - ``access_log``: write an access line per request (method, path,
      status, duration_ms, client); turn off uvicorn's own with
      ``--no-access-log``.
    """

    __slots__ = ("_access_log", "_rid", "_rid_bytes", "app")

    def __init__(
        self,
        app: ASGIApp,
        *,
        request_id_header: str | None = REQUEST_ID_HEADER,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self._rid = header_name(request_id_header)
        self._rid_bytes = self._rid.encode("ascii")
        self._access_log = access_log
        install_duplicate_filter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        started = _perf_counter()
        incoming = extract_raw(scope.get("headers") or (), self._rid_bytes)
        ctx = incoming.context()
        rid_header = self._rid_bytes
        rid_value = (incoming.request_id or ctx.trace_id or "").encode("ascii")
        status: int | None = None
        complete = False

        async def send_with_ids(message: Message) -> None:
            nonlocal status, complete
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

        activation = context.activate(ctx)
        activation.start()  # sampling follows an upstream sampled flag
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
            activation.finish(status)  # a 5xx writes the request's held debug lines
            if self._access_log:
                path = scope.get("path", "")
                if len(path) > MAX_PATH_LENGTH:
                    path = short_path(path)
                client = scope.get("client")
                log_access(
                    _method(scope, kind),
                    path,
                    status,
                    _perf_counter() - started,
                    client_address(*client[:2]) if client else None,
                )
            activation.end()


def _method(scope: Scope, kind: str) -> str:
    return str(scope.get("method", "GET")) if kind == "http" else "WS"


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
