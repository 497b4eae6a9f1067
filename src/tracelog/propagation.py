"""Trace ids across the wire: W3C ``traceparent``/``tracestate`` and request-id headers.

- :func:`extract` reads the headers of an incoming request (or message) into an
  :class:`Incoming`; ``incoming.trace()`` continues the caller's trace in a new
  span, or starts a new trace when the caller sent none or an invalid one.
- :func:`inject` writes the current trace into the headers of an outgoing call,
  with a fresh child span id for each call.
- :func:`inject_env` / :func:`extract_env` do the same through ``TRACEPARENT``
  and ``TRACESTATE`` environment variables, for child processes.

Every value read here is untrusted. It is checked against W3C Trace Context
Level 1 (or, for request ids, a short list of safe characters) and bounded in
length before it can reach a log line or a response header. Nothing here raises
on bad input: an invalid ``traceparent`` restarts the trace, an invalid
``tracestate`` or request id is dropped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from tracelog import context
from tracelog.context import TraceContext, _Activation

__all__ = [
    "MAX_REQUEST_ID_LENGTH",
    "MAX_TRACESTATE_LENGTH",
    "MAX_TRACESTATE_MEMBERS",
    "REQUEST_ID_FIELD",
    "REQUEST_ID_HEADER",
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
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_FIELD = "request_id"

#: Longer values are refused unparsed (future versions may add fields, so a
#: version other than 00 may be longer than 55 characters, but not unboundedly).
MAX_TRACEPARENT_LENGTH = 512
MAX_TRACESTATE_MEMBERS = 32
#: The longest tracestate propagated. Longer (valid) ones are truncated by
#: whole entries as the spec says: entries over 128 characters first, then
#: from the end.
MAX_TRACESTATE_LENGTH = 512
#: Combined tracestate input longer than this is discarded without parsing.
MAX_TRACESTATE_INPUT = 32 * 1024
MAX_REQUEST_ID_LENGTH = 200

_OWS = " \t"
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

# The sampled flag is the low bit of trace-flags: its second hex digit is odd.
_TRACEPARENT_RE = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]([0-9a-f])(-[\x20-\x7e]*)?"
)
_ODD_HEX = "13579bdf"
# tracestate list-member (Level 1): simple-key or tenant@system key, "=", value.
_MEMBER = (
    r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
_MEMBER_RE = re.compile(_MEMBER)
# The common case in one scan: 1 to 32 valid members, no whitespace, no empty members.
_PLAIN_LIST_RE = re.compile(f"{_MEMBER}(?:,{_MEMBER}){{0,{MAX_TRACESTATE_MEMBERS - 1}}}")
_KEYS_RE = re.compile(r"(?:^|,)([^=,]+)=")
# RFC 7230 token characters plus "/", ":", "=" and "@": uuids, ULIDs, base64
# and AWS-style ids pass; spaces, quotes, commas, control and non-ASCII do not.
_REQUEST_ID_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+\-.^_`|~/:=@]{1," + str(MAX_REQUEST_ID_LENGTH) + "}"
)

H = TypeVar("H")
_new_tuple = tuple.__new__


class TraceParent(NamedTuple):
    """A valid ``traceparent``: the caller's trace id, its span (parent) id and sampled flag."""

    version: str
    trace_id: str
    parent_id: str
    sampled: bool


def _text(value: object) -> str | None:
    if type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    if isinstance(value, str):
        return str(value)
    return None


def parse_traceparent(value: object) -> TraceParent | None:
    """A ``traceparent`` value checked against W3C Trace Context Level 1, or None if invalid.

    Optional whitespace around the value is ignored. Version 00 must be exactly
    55 characters; a later version is read by its version-00 prefix, which
    must end the value or be followed by ``-``. Version ``ff``, upper-case hex
    and all-zero ids are invalid.
    """
    text = value if type(value) is str else _text(value)
    if text is None or len(text) > MAX_TRACEPARENT_LENGTH:
        return None
    match = _TRACEPARENT_RE.fullmatch(text.strip(_OWS))
    if match is None:
        return None
    version, trace_id, parent_id, flags_low, rest = match.groups()
    if (
        version == "ff"
        or (rest is not None and version == "00")
        or trace_id == _ZERO_TRACE
        or parent_id == _ZERO_SPAN
    ):
        return None
    return _new_tuple(TraceParent, (version, trace_id, parent_id, flags_low in _ODD_HEX))


def format_traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    """A version-00 ``traceparent`` value. Flags other than ``sampled`` are always zero."""
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def parse_tracestate(values: object) -> str | None:
    """One or more ``tracestate`` values combined and checked, or None if invalid or empty.

    Several header fields are joined with commas, as RFC 7230 combines them.
    Optional whitespace and empty members are dropped. A member that breaks
    the key or value grammar, a duplicated key or more than 32 members
    discard the whole tracestate. A valid one longer than
    :data:`MAX_TRACESTATE_LENGTH` loses whole entries: those over 128
    characters first, then from the end.
    """
    text = _text(values)
    if text is None:
        if isinstance(values, (list, tuple)):
            parts = [_text(v) for v in values]
            if any(p is None for p in parts):
                return None
            text = ",".join(parts)  # type: ignore[arg-type]
        else:
            return None
    if len(text) <= MAX_TRACESTATE_LENGTH and _PLAIN_LIST_RE.fullmatch(text):
        plain_keys = _KEYS_RE.findall(text)
        return text if len(set(plain_keys)) == len(plain_keys) else None
    if len(text) > MAX_TRACESTATE_INPUT:
        return None
    members: list[str] = []
    keys: set[str] = set()
    fullmatch = _MEMBER_RE.fullmatch
    for raw in text.split(","):
        member = raw.strip(_OWS)
        if not member:
            continue
        if len(members) == MAX_TRACESTATE_MEMBERS or fullmatch(member) is None:
            return None
        key = member[: member.index("=")]
        if key in keys:
            return None
        keys.add(key)
        members.append(member)
    if not members:
        return None
    combined = ",".join(members)
    if len(combined) > MAX_TRACESTATE_LENGTH:
        combined = _truncate(members)
    return combined or None


def _truncate(members: list[str]) -> str:
    def size() -> int:
        return sum(map(len, members)) + len(members) - 1

    while members and size() > MAX_TRACESTATE_LENGTH:
        for index in range(len(members) - 1, -1, -1):
            if len(members[index]) > 128:
                del members[index]
                break
        else:
            members.pop()
    return ",".join(members)


def parse_request_id(value: object) -> str | None:
    """A request id if it is safe to log and echo, else None.

    At most :data:`MAX_REQUEST_ID_LENGTH` characters of letters, digits and
    ``!#$%&'*+-.^_`|~/:=@`` (optional whitespace around it is ignored).
    """
    text = value if type(value) is str else _text(value)
    if text is None or len(text) > MAX_REQUEST_ID_LENGTH + 16:
        return None
    text = text.strip(_OWS)
    return text if _REQUEST_ID_RE.fullmatch(text) else None


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
        bound: Mapping[str, Any] = MappingProxyType(fields) if fields else context._EMPTY
        parent = self.parent
        if parent is None:
            return TraceContext(
                context.new_trace_id(), context.new_span_id(), None, True, None, name, bound
            )
        return TraceContext(
            parent.trace_id,
            context.new_span_id(),
            parent.parent_id,
            parent.sampled,
            self.tracestate,
            name,
            bound,
        )

    def trace(self, name: str | None = None, **fields: Any) -> _Activation:
        """Run a block in :meth:`context`: ``with extract(headers).trace(): ...``."""
        return _Activation(self.context(name, **fields))


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
            name = _text(name)
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
    headers[:] = [pair for pair in headers if (_text(pair[0]) or "").lower() != name]
    headers.append((name.encode(), value.encode()) if as_bytes else (name, value))


def inject(
    headers: H,
    ctx: TraceContext | None = None,
    *,
    request_id_header: str | None = REQUEST_ID_HEADER,
) -> H:
    """Write the current trace into outgoing ``headers`` (a mutable mapping or a list of pairs).

    Sets ``traceparent`` with the current trace id, a new child span id for
    this call and the sampled flag, ``tracestate`` as received, and the
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
            out[TRACEPARENT] = (
                f"00-{trace_id}-{context.new_span_id()}-{'01' if ctx.sampled else '00'}"
            )
            if ctx.tracestate:
                out[TRACESTATE] = ctx.tracestate
        if request_id_header and ctx.fields:
            request_id = ctx.fields.get(REQUEST_ID_FIELD)
            if type(request_id) is str and _REQUEST_ID_RE.fullmatch(request_id):
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
        env[_ENV_TRACEPARENT] = format_traceparent(ctx.trace_id, context.new_span_id(), ctx.sampled)
        if ctx.tracestate:
            env[_ENV_TRACESTATE] = ctx.tracestate
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
