"""httpx: the current trace goes out with every request, sync and async clients alike.

    client = tracelog.integrations.httpx.instrument(httpx.Client())
    async_client = tracelog.integrations.httpx.instrument(httpx.AsyncClient())

A request event hook (httpx's own extension point, nothing is patched) sets
``traceparent`` with a new child span id for each request, including each
redirect, passes ``tracestate`` on unchanged and sends the bound request id.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tracelog.integrations._common import header_name
from tracelog.propagation import REQUEST_ID_HEADER, inject

__all__ = ["instrument"]

C = TypeVar("C")
_MARK = "_tracelog_instrumented"


def instrument(client: C, *, request_id_header: str | None = REQUEST_ID_HEADER) -> C:
    """Add tracelog's request hook to an ``httpx.Client`` or ``httpx.AsyncClient``; returns it.

    Calling it twice on one client adds the hook once.
    """
    import httpx

    if getattr(client, _MARK, False):
        return client
    rid = header_name(request_id_header) or None

    if isinstance(client, httpx.AsyncClient):

        async def inject_async(request: httpx.Request) -> None:
            inject(request.headers, request_id_header=rid)

        hook: Any = inject_async
    elif isinstance(client, httpx.Client):

        def inject_sync(request: httpx.Request) -> None:
            inject(request.headers, request_id_header=rid)

        hook = inject_sync
    else:
        raise TypeError(f"instrument() takes an httpx.Client or httpx.AsyncClient, not {client!r}")
    target: Any = client
    hooks = target.event_hooks
    hooks["request"] = [*hooks.get("request", []), hook]
    target.event_hooks = hooks
    setattr(client, _MARK, True)
    return client
