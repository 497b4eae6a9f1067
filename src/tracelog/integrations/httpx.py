"""httpx and httpx2: the current trace goes out with every request, sync and async clients alike.

    client = tracelog.integrations.httpx.instrument(httpx.Client())
    async_client = tracelog.integrations.httpx.instrument(httpx.AsyncClient())
    client2 = tracelog.integrations.httpx.instrument(httpx2.Client())

A request event hook (httpx's own extension point, nothing is patched) sets
``traceparent`` with a new child span id for each request, including each
redirect, passes ``tracestate`` on unchanged and sends the bound request id.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

from tracelog.integrations._common import header_name
from tracelog.propagation import REQUEST_ID_HEADER, inject

__all__ = ["instrument"]

C = TypeVar("C")
_MARK = "_tracelog_instrumented"


#: The libraries whose clients take the hook: httpx and its successor, same API.
_LIBRARIES = ("httpx", "httpx2")


def _is_async(client: object) -> bool | None:
    """True for an AsyncClient, False for a Client (of either library), None for anything else."""
    for name in _LIBRARIES:
        library = sys.modules.get(name)  # a client exists only if its library was imported
        if library is None:
            continue
        if isinstance(client, library.AsyncClient):
            return True
        if isinstance(client, library.Client):
            return False
    return None


def instrument(client: C, *, request_id_header: str | None = REQUEST_ID_HEADER) -> C:
    """Add tracelog's request hook to an httpx or httpx2 ``Client``/``AsyncClient``; returns it.

    Calling it twice on one client adds the hook once.
    """
    if getattr(client, _MARK, False):
        return client
    rid = header_name(request_id_header) or None
    kind = _is_async(client)

    if kind is True:

        async def inject_async(request: Any) -> None:
            inject(request.headers, request_id_header=rid)

        hook: Any = inject_async
    elif kind is False:

        def inject_sync(request: Any) -> None:
            inject(request.headers, request_id_header=rid)

        hook = inject_sync
    else:
        raise TypeError(
            f"instrument() takes an httpx or httpx2 Client or AsyncClient, not {client!r}"
        )
    target: Any = client
    hooks = target.event_hooks
    hooks["request"] = [*hooks.get("request", []), hook]
    target.event_hooks = hooks
    setattr(client, _MARK, True)
    return client
