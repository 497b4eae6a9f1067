"""Property tests: the header parsers take anything and let only valid values through."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tracelog.integrations.asgi import TraceMiddleware
from tracelog.propagation import (
    MAX_TRACESTATE_LENGTH,
    extract,
    extract_raw,
    inject,
    parse_request_id,
    parse_traceparent,
    parse_tracestate,
)

HEX = "0123456789abcdef"
KEY = re.compile(r"[a-z0-9][a-z0-9_\-*/@]{0,255}")  # Level 2
VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
SAFE_ID = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~/:=@]{1,200}")

hex_ids = st.text(HEX, min_size=32, max_size=32).filter(lambda s: s != "0" * 32)
span_ids = st.text(HEX, min_size=16, max_size=16).filter(lambda s: s != "0" * 16)
junk = st.one_of(st.text(), st.binary(), st.text(alphabet=HEX + "-ABCDEF \t\r\n\x00", max_size=80))


@given(junk)
def test_traceparent_never_raises_and_only_lets_valid_through(value: Any) -> None:
    parsed = parse_traceparent(value)
    if parsed is not None:
        assert re.fullmatch("[0-9a-f]{32}", parsed.trace_id)
        assert parsed.trace_id != "0" * 32
        assert re.fullmatch("[0-9a-f]{16}", parsed.parent_id)
        assert parsed.parent_id != "0" * 16
        assert parsed.version != "ff"


@given(hex_ids, span_ids, st.integers(0, 255), st.sampled_from(["", " ", "\t", " \t "]))
def test_traceparent_round_trip(trace_id: str, parent_id: str, flags: int, ows: str) -> None:
    parsed = parse_traceparent(f"{ows}00-{trace_id}-{parent_id}-{flags:02x}{ows}")
    assert parsed is not None
    assert (trace_id, parent_id, bool(flags & 1)) == (
        parsed.trace_id,
        parsed.parent_id,
        parsed.sampled,
    )


@given(st.one_of(junk, st.lists(st.text(max_size=40), max_size=5)))
def test_tracestate_never_raises_and_only_lets_valid_through(value: Any) -> None:
    state = parse_tracestate(value)
    if state is not None:
        assert len(state) <= MAX_TRACESTATE_LENGTH
        members = state.split(",")
        assert 1 <= len(members) <= 32
        keys = [m.split("=", 1)[0] for m in members]
        assert len(set(keys)) == len(keys)
        for member in members:
            key, _, val = member.partition("=")
            assert KEY.fullmatch(key)
            assert VALUE.fullmatch(val)
        assert state == parse_tracestate(state)


members = st.tuples(st.from_regex(KEY, fullmatch=True), st.from_regex(VALUE, fullmatch=True))


@settings(max_examples=200)
@given(st.lists(members, min_size=1, max_size=32, unique_by=lambda m: m[0]))
def test_valid_tracestate_is_kept_or_truncated_by_whole_entries(
    pairs: list[tuple[str, str]],
) -> None:
    given_members = [f"{k}={v}" for k, v in pairs]
    state = parse_tracestate(" , ".join(given_members))
    combined = ",".join(given_members)
    if len(combined) <= MAX_TRACESTATE_LENGTH:
        assert combined == state
    elif state is not None:
        kept = state.split(",")
        assert all(m in given_members for m in kept)
        assert [m for m in given_members if m in kept] == kept  # order kept


@given(junk)
def test_request_id_never_raises_and_is_always_safe(value: Any) -> None:
    request_id = parse_request_id(value)
    if request_id is not None:
        assert SAFE_ID.fullmatch(request_id)


header_names = st.sampled_from(
    ["traceparent", "TraceParent", "tracestate", "x-request-id", "X-Request-ID", "other"]
)
header_values = st.one_of(
    st.text(max_size=120),
    st.binary(max_size=120),
    st.just("00-" + "a" * 32 + "-" + "b" * 16 + "-01"),
)


@given(st.lists(st.tuples(header_names, header_values), max_size=8))
def test_extract_and_inject_take_anything(headers: list[tuple[str, Any]]) -> None:
    incoming = extract(headers)
    raw = [
        (n.encode(), v if isinstance(v, bytes) else v.encode("utf-8", "replace"))
        for n, v in headers
    ]
    assert (incoming.parent is None) == (extract_raw(raw, b"x-request-id").parent is None)
    if incoming.request_id is not None:
        assert SAFE_ID.fullmatch(incoming.request_id)
    out = inject({}, incoming.context())
    for value in out.values():
        assert re.fullmatch(r"[\x21-\x7e][\x20-\x7e]*", value)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"traceparent", b"tracestate", b"x-request-id", b"X-Request-Id"]),
            st.binary(max_size=300),
        ),
        max_size=6,
    )
)
def test_middleware_never_fails_a_request_over_headers(headers: list[tuple[bytes, bytes]]) -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    asyncio.run(TraceMiddleware(app, access_log=False)(scope, receive, send))
    assert 204 == sent[0]["status"]
    (value,) = [v for k, v in sent[0]["headers"] if k == b"x-request-id"]
    assert SAFE_ID.fullmatch(value.decode("ascii"))
