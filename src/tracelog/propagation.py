"""Trace ids across the wire: W3C ``traceparent``/``tracestate`` and request-id headers.

- :func:`extract` reads the headers of an incoming request (or message) into an
  :class:`Incoming`; ``incoming.trace()`` continues the caller's trace in a new
  span, or starts a new trace when the caller sent none or an invalid one.
- :func:`inject` writes the current trace into the headers of an outgoing call,
  with a fresh child span id for each call.
- :func:`inject_env` / :func:`extract_env` do the same through ``TRACEPARENT``
  and ``TRACESTATE`` environment variables, for child processes.

Every value read here is untrusted. It is checked against W3C Trace Context
Level 2 (or, for request ids, a short list of safe characters) and bounded in
length before it can reach a log line or a response header. Nothing here raises
on bad input: an invalid ``traceparent`` restarts the trace, an invalid
``tracestate`` or request id is dropped. A tracestate the program gives
(``trace(tracestate=...)``) is checked the same way before any header carries
it; :func:`stats` counts those dropped.

The trace-flags byte carries the sampled flag and Level 2's random trace-id
flag: set on every trace tracelog starts (its ids are random), carried on from
an incoming ``traceparent`` and kept in every outgoing one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

from tracelog import context
from tracelog._tracecontext import (
    MAX_REQUEST_ID_LENGTH,
    MAX_TRACESTATE_LENGTH,
    MAX_TRACESTATE_MEMBERS,
    RANDOM_FLAG,
    REQUEST_ID_FIELD,
    REQUEST_ID_HEADER,
    REQUEST_ID_RE,
    SAMPLED_FLAG,
    TRACEPARENT,
    TRACESTATE,
    TraceParent,
    checked_tracestate,
    counts,
    format_traceparent,
    parse_request_id,
    parse_traceparent,
    parse_tracestate,
    text_of,
)
from tracelog.context import Activation, TraceContext

__all__ = [
    "MAX_REQUEST_ID_LENGTH",
    "MAX_TRACESTATE_LENGTH",
    "MAX_TRACESTATE_MEMBERS",
    "RANDOM_FLAG",
    "REQUEST_ID_FIELD",
    "REQUEST_ID_HEADER",
    "SAMPLED_FLAG",
    "TRACEPARENT",
    "TRACESTATE",
    "Incoming",
    "TraceParent",
    "extract",
    "extract_env",
    "format_traceparent",
    "inject",
    "inject_env",
    "parse_request_id",
    "parse_traceparent",
    "parse_tracestate",
    "stats",
]

H = TypeVar("H")
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})


class Incoming:
    """What an incoming request or message said about its trace, validated.

    ``parent`` is the caller's valid ``traceparent`` (or None), ``tracestate``
    its valid tracestate (None whenever ``parent`` is), ``request_id`` a valid
    request id (or None).
    """

    __slots__ = ("parent", "request_id", "tracestate")

    def __init__(
        self,
        parent: TraceParent | None = None,
        tracestate: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.parent = parent
        self.tracestate = tracestate if parent is not None else None
        self.request_id = request_id

    def __repr__(self) -> str:
        return (
            f"Incoming(parent={self.parent!r}, tracestate={self.tracestate!r}, "
            f"request_id={self.request_id!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Incoming):
            return NotImplemented
        return (self.parent, self.tracestate, self.request_id) == (
            other.parent,
            other.tracestate,
            other.request_id,
        )

    __hash__ = None  # type: ignore[assignment]

    def context(self, name: str | None = None, **fields: Any) -> TraceContext:
        """A new span of the caller's trace (or a new trace), with ``request_id`` bound."""
        if self.request_id is not None and REQUEST_ID_FIELD not in fields:
            fields[REQUEST_ID_FIELD] = self.request_id
        bound: Mapping[str, Any] = MappingProxyType(fields) if fields else _NO_FIELDS
        parent = self.parent
        if parent is None:
            return TraceContext(
                context.new_trace_id(), context.new_span_id(), None, True, None, name, bound, True
            )
        return TraceContext(
            parent.trace_id,
            context.new_span_id(),
            parent.parent_id,
            parent.sampled,
            self.tracestate,
            name,
            bound,
            parent.random,
        )

    def trace(self, name: str | None = None, **fields: Any) -> Activation:
        """Run a block in :meth:`context`: ``with extract(headers).trace(): ...``."""
        return Activation(self.context(name, **fields))


def _pairs(headers: Any) -> Iterable[tuple[Any, Any]]:
    if type(headers) is dict:
        return headers.items()
    if isinstance(headers, (list, tuple)):
        return headers
    multi_items = getattr(headers, "multi_items", None)  # httpx.Headers keeps duplicates here
    if multi_items is not None:
        return multi_items()  # type: ignore[no-any-return]
    items = getattr(headers, "items", None)
    if items is not None:
        return items()  # type: ignore[no-any-return]
    return headers  # type: ignore[no-any-return]


def extract(headers: Any, *, request_id_header: str | None = REQUEST_ID_HEADER) -> Incoming:
    """Read ``traceparent``, ``tracestate`` and the request id from incoming headers.

    ``headers`` may be a dict, any mapping (also multi-valued ones such as
    Starlette's, httpx's or werkzeug's headers, or a dict of lists), or an
    iterable of ``(name, value)`` pairs, str or bytes (ASGI's raw headers).
    Names match in any case. Never raises: anything unreadable counts as absent.
    """
    try:
        return _extract(headers, request_id_header.lower() if request_id_header else "")
    except Exception:
        return Incoming()


def _extract(headers: Any, rid_name: str) -> Incoming:
    traceparents: list[Any] = []
    tracestates: list[Any] = []
    request_ids: list[Any] = []
    for name, value in _pairs(headers):
        if type(name) is not str:
            name = text_of(name)
            if name is None:
                continue
        lowered = name.lower()
        if lowered == TRACEPARENT:
            found = traceparents
        elif lowered == TRACESTATE:
            found = tracestates
        elif lowered == rid_name:
            found = request_ids
        else:
            continue
        if isinstance(value, (list, tuple)):
            found.extend(value)
        else:
            found.append(value)
    if not (traceparents or request_ids):
        return _NOTHING
    return from_values(traceparents, tracestates, request_ids)


def extract_raw(raw: Iterable[tuple[bytes, bytes]], request_id_header: bytes = b"") -> Incoming:
    """:func:`extract` for ASGI ``scope["headers"]`` (byte pairs; give the id header lowercase)."""
    try:
        traceparents: list[bytes] = []
        tracestates: list[bytes] = []
        request_ids: list[bytes] = []
        rid_length = len(request_id_header)
        for name, value in raw:
            length = len(name)
            if length == 11 and (name == b"traceparent" or name.lower() == b"traceparent"):
                traceparents.append(value)
            elif length == 10 and (name == b"tracestate" or name.lower() == b"tracestate"):
                tracestates.append(value)
            elif length == rid_length and name.lower() == request_id_header:
                request_ids.append(value)
        if not (traceparents or request_ids):
            return _NOTHING
        return from_values(traceparents, tracestates, request_ids)
    except Exception:
        return Incoming()


def from_values(
    traceparents: Sequence[Any], tracestates: Sequence[Any], request_ids: Sequence[Any] = ()
) -> Incoming:
    """An :class:`Incoming` from the raw values of each header (every occurrence, in order)."""
    # A duplicated traceparent is invalid: the caller's intent is unknowable.
    parent = parse_traceparent(traceparents[0]) if len(traceparents) == 1 else None
    tracestate = None
    if parent is not None and tracestates:
        tracestate = parse_tracestate(tracestates if len(tracestates) > 1 else tracestates[0])
    request_id = parse_request_id(request_ids[0]) if len(request_ids) == 1 else None
    return Incoming(parent, tracestate, request_id)


_NOTHING = Incoming()


def _drop_other_cases(headers: dict[Any, Any], names: tuple[str, ...]) -> None:
    stale = [k for k in headers if isinstance(k, str) and k.lower() in names and k not in names]
    for key in stale:
        del headers[key]


def _set_pair(headers: list[Any], name: str, value: str) -> None:
    as_bytes = any(isinstance(pair[0], bytes) for pair in headers)
    headers[:] = [pair for pair in headers if (text_of(pair[0]) or "").lower() != name]
    headers.append((name.encode(), value.encode()) if as_bytes else (name, value))


def inject(
    headers: H,
    ctx: TraceContext | None = None,
    *,
    request_id_header: str | None = REQUEST_ID_HEADER,
) -> H:
    """Write the current trace into outgoing ``headers`` (a mutable mapping or a list of pairs).

    Sets ``traceparent`` with the current trace id, a new child span id for
    this call and the sampled and random flags, ``tracestate`` as received
    (checked again, so a context built by hand cannot put CR/LF in a header), and the
    request id header when a ``request_id`` is bound. Outside any trace it
    adds nothing. Returns ``headers``.
    """
    if ctx is None:
        ctx = context.current()
        if ctx is None:
            return headers
    try:
        out: dict[str, str] = {}
        trace_id = ctx.trace_id
        if trace_id is not None:
            out[TRACEPARENT] = format_traceparent(
                trace_id, context.new_span_id(), ctx.sampled, ctx.random_trace_id
            )
            tracestate = _outgoing_tracestate(ctx.tracestate)
            if tracestate:
                out[TRACESTATE] = tracestate
        if request_id_header and ctx.fields:
            request_id = ctx.fields.get(REQUEST_ID_FIELD)
            if type(request_id) is str and REQUEST_ID_RE.fullmatch(request_id):
                out[request_id_header.lower()] = request_id
        if not out:
            return headers
        target: Any = headers
        if type(target) is dict:
            if target:
                _drop_other_cases(target, tuple(out))
            target.update(out)
        elif isinstance(target, list):
            for name, value in out.items():
                _set_pair(target, name, value)
        else:
            for name, value in out.items():
                target[name] = value
    except Exception:
        pass
    return headers


def _outgoing_tracestate(tracestate: str | None) -> str | None:
    """The context's tracestate as a valid header value (a context may be built by hand)."""
    return checked_tracestate(tracestate) if tracestate else None


def stats() -> dict[str, int]:
    """``tracestate_dropped``: invalid tracestates given by the program, dropped before a header."""
    return counts()


_ENV_TRACEPARENT = "TRACEPARENT"
_ENV_TRACESTATE = "TRACESTATE"


def inject_env(
    env: MutableMapping[str, str] | None = None, ctx: TraceContext | None = None
) -> MutableMapping[str, str]:
    """Put the current trace in ``TRACEPARENT``/``TRACESTATE`` for a child process.

    ``env`` defaults to a copy of ``os.environ``, so
    ``subprocess.run(cmd, env=tracelog.propagation.inject_env())`` works as is.
    A child that calls ``tracelog.configure()`` continues the trace. Stale
    values in ``env`` are removed when there is no trace to pass on.
    """
    if env is None:
        env = dict(os.environ)
    if ctx is None:
        ctx = context.current()
    env.pop(_ENV_TRACEPARENT, None)
    env.pop(_ENV_TRACESTATE, None)
    if ctx is not None and ctx.trace_id is not None and ctx.span_id is not None:
        env[_ENV_TRACEPARENT] = format_traceparent(
            ctx.trace_id, context.new_span_id(), ctx.sampled, ctx.random_trace_id
        )
        tracestate = _outgoing_tracestate(ctx.tracestate)
        if tracestate:
            env[_ENV_TRACESTATE] = tracestate
    return env


def extract_env(env: Mapping[str, str] | None = None) -> Incoming:
    """Read ``TRACEPARENT``/``TRACESTATE`` (the OpenTelemetry environment carrier)."""
    if env is None:
        env = os.environ
    try:
        traceparent = env.get(_ENV_TRACEPARENT)
        tracestate = env.get(_ENV_TRACESTATE)
        return from_values(
            [] if traceparent is None else [traceparent],
            [] if tracestate is None else [tracestate],
        )
    except Exception:
        return Incoming()
