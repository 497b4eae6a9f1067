"""W3C Trace Context Level 2 header values and request ids: parsed, checked, bounded.

Every value read here is untrusted; a parser returns None for anything that
does not follow the grammar (or is too long), and never raises.
"""

from __future__ import annotations

import re
import threading
from typing import NamedTuple

from tracelog import _faults

__all__ = [
    "MAX_REQUEST_ID_LENGTH",
    "MAX_TRACESTATE_LENGTH",
    "MAX_TRACESTATE_MEMBERS",
    "RANDOM_FLAG",
    "REQUEST_ID_FIELD",
    "REQUEST_ID_HEADER",
    "REQUEST_ID_RE",
    "SAMPLED_FLAG",
    "TRACEPARENT",
    "TRACESTATE",
    "TraceParent",
    "checked_tracestate",
    "counts",
    "format_traceparent",
    "parse_request_id",
    "parse_traceparent",
    "parse_tracestate",
    "reset_counts",
    "text_of",
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

#: trace-flags bits: sampled (Level 1) and random trace id (Level 2). Others are sent as zero.
SAMPLED_FLAG = 0x01
RANDOM_FLAG = 0x02

# Both defined flags live in the low hex digit of trace-flags.
_TRACEPARENT_RE = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]([0-9a-f])(-[\x20-\x7e]*)?"
)
_SAMPLED_HEX = frozenset("13579bdf")
_RANDOM_HEX = frozenset("2367abef")
# tracestate list-member (Level 2): key = (lcalpha / DIGIT) 0*255(keychar), "=", value.
_MEMBER = (
    r"[a-z0-9][a-z0-9_\-*/@]{0,255}"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
_MEMBER_RE = re.compile(_MEMBER)
# The common case in one scan: 1 to 32 valid members, no whitespace, no empty members.
_PLAIN_LIST_RE = re.compile(f"{_MEMBER}(?:,{_MEMBER}){{0,{MAX_TRACESTATE_MEMBERS - 1}}}")
_KEYS_RE = re.compile(r"(?:^|,)([^=,]+)=")
# RFC 7230 token characters plus "/", ":", "=" and "@": uuids, ULIDs, base64
# and AWS-style ids pass; spaces, quotes, commas, control and non-ASCII do not.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~/:=@]{1," + str(MAX_REQUEST_ID_LENGTH) + "}")

_new_tuple = tuple.__new__


class TraceParent(NamedTuple):
    """A valid ``traceparent``: the caller's trace id, its span (parent) id and its flags.

    ``random`` is Level 2's random trace-id flag: the caller says at least the
    right-most 7 bytes of ``trace_id`` are random.
    """

    version: str
    trace_id: str
    parent_id: str
    sampled: bool
    random: bool = False


def text_of(value: object) -> str | None:
    if type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    if isinstance(value, str):
        return str(value)
    return None


def parse_traceparent(value: object) -> TraceParent | None:
    """A ``traceparent`` value checked against W3C Trace Context, or None if invalid.

    Optional whitespace around the value is ignored. Version 00 must be exactly
    55 characters; a later version is read by its version-00 prefix, which
    must end the value or be followed by ``-``. Version ``ff``, upper-case hex
    and all-zero ids are invalid.
    """
    text = value if type(value) is str else text_of(value)
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
    return _new_tuple(
        TraceParent,
        (version, trace_id, parent_id, flags_low in _SAMPLED_HEX, flags_low in _RANDOM_HEX),
    )


_FLAGS = ("00", "01", "02", "03")


def format_traceparent(
    trace_id: str, span_id: str, sampled: bool = True, random: bool = False
) -> str:
    """A version-00 ``traceparent`` value. Flags other than sampled and random are always zero."""
    return f"00-{trace_id}-{span_id}-{_FLAGS[sampled | random << 1]}"


def parse_tracestate(values: object) -> str | None:
    """One or more ``tracestate`` values combined and checked, or None if invalid or empty.

    Several header fields are joined with commas, as RFC 9110 combines them.
    Optional whitespace and empty members are dropped. A key given twice keeps
    its first (left-most, most recent) member; the later ones are dropped, as
    Level 2 allows. A member that breaks the key or value grammar, or more
    than 32 members, discard the whole tracestate. A valid one longer than
    :data:`MAX_TRACESTATE_LENGTH` loses whole entries: those over 128
    characters first, then from the end.
    """
    text = text_of(values)
    if text is None:
        if isinstance(values, (list, tuple)):
            parts = [text_of(v) for v in values]
            if any(p is None for p in parts):
                return None
            text = ",".join(parts)  # type: ignore[arg-type]
        else:
            return None
    if len(text) <= MAX_TRACESTATE_LENGTH and _PLAIN_LIST_RE.fullmatch(text):
        plain_keys = _KEYS_RE.findall(text)
        if len(set(plain_keys)) == len(plain_keys):
            return text
    if len(text) > MAX_TRACESTATE_INPUT:
        return None
    members: list[str] = []
    keys: set[str] = set()
    fullmatch = _MEMBER_RE.fullmatch
    for raw in text.split(","):
        member = raw.strip(_OWS)
        if not member:
            continue
        if fullmatch(member) is None:
            return None
        key = member[: member.index("=")]
        if key in keys:
            continue
        if len(members) == MAX_TRACESTATE_MEMBERS:
            return None
        keys.add(key)
        members.append(member)
    if not members:
        return None
    combined = ",".join(members)
    if len(combined) > MAX_TRACESTATE_LENGTH:
        combined = _truncate(members)
    return combined or None


_counts_lock = threading.Lock()
_counts = {"tracestate_dropped": 0}


def checked_tracestate(value: object) -> str | None:
    """A tracestate the program gave (``trace(tracestate=...)``), checked as a received one is.

    What is invalid (CR/LF, a bad key, too many members) is dropped, counted in
    :func:`counts` and reported once a minute on stderr, so it never reaches an
    outgoing header.
    """
    if value is None or (isinstance(value, str) and not value.strip(" \t,")):
        return None
    checked = parse_tracestate(value)
    if checked is None:
        with _counts_lock:
            _counts["tracestate_dropped"] += 1
        _faults.report("propagation", f"invalid tracestate dropped: {str(value)[:80]!r}")
    return checked


def counts() -> dict[str, int]:
    """``tracestate_dropped``: tracestates given by the program that were (partly) invalid."""
    with _counts_lock:
        return dict(_counts)


def reset_counts() -> None:
    with _counts_lock:
        for key in _counts:
            _counts[key] = 0


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
    text = value if type(value) is str else text_of(value)
    if text is None or len(text) > MAX_REQUEST_ID_LENGTH + 16:
        return None
    text = text.strip(_OWS)
    return text if REQUEST_ID_RE.fullmatch(text) else None
