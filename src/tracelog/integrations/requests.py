"""requests: the current trace goes out with every request of a session.

    session = tracelog.integrations.requests.instrument(requests.Session())

requests has no request hook, so tracelog wraps the session's transport
adapters (its own extension point, nothing is patched): before each send,
including each redirect and retry, ``traceparent`` gets a new child span id,
``tracestate`` passes on unchanged and the bound request id is sent.
Adapters mounted after ``instrument()`` are not wrapped: mount them first.
"""

from __future__ import annotations

from typing import Any, TypeVar

from requests.adapters import BaseAdapter

from tracelog.integrations._common import header_name
from tracelog.propagation import REQUEST_ID_HEADER, inject

__all__ = ["TraceAdapter", "instrument"]

S = TypeVar("S")


class TraceAdapter(BaseAdapter):
    """A transport adapter that injects the trace, then sends through the adapter it wraps."""

    def __init__(self, inner: Any, *, request_id_header: str | None = REQUEST_ID_HEADER) -> None:
        super().__init__()
        self.inner = inner
        self.request_id_header = header_name(request_id_header) or None

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        inject(request.headers, request_id_header=self.request_id_header)
        return self.inner.send(request, *args, **kwargs)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Adapter settings (max_retries, pool sizes, ...) read through to the wrapped one.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def instrument(session: S, *, request_id_header: str | None = REQUEST_ID_HEADER) -> S:
    """Wrap every adapter mounted on a ``requests.Session``; returns the session.

    Calling it twice on one session wraps each adapter once.
    """
    adapters = session.adapters  # type: ignore[attr-defined]
    for prefix, adapter in list(adapters.items()):
        if not isinstance(adapter, TraceAdapter):
            adapters[prefix] = TraceAdapter(adapter, request_id_header=request_id_header)
    return session
