"""W3C Trace Context Level 2's random trace-id flag, and tracestates the program gives."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tracelog
from tracelog import _faults, propagation
from tracelog._tracecontext import reset_counts
from tracelog.context import TraceContext
from tracelog.integrations.asgi import TraceMiddleware
from tracelog.integrations.httpx import instrument
from tracelog.propagation import (
    RANDOM_FLAG,
    SAMPLED_FLAG,
    extract,
    extract_env,
    format_traceparent,
    inject,
    inject_env,
    parse_traceparent,
)

TRACE = "12345678901234567890123456789012"
PARENT = "1234567890123456"


@pytest.fixture(autouse=True)
def _zero_counts() -> None:
    reset_counts()


def flags_of(traceparent: str) -> int:
    return int(traceparent.split("-")[3], 16)


class TestParseRandomFlag:
    @pytest.mark.parametrize(
        ("flags", "sampled", "random"),
        [
            ("00", False, False),
            ("01", True, False),
            ("02", False, True),
            ("03", True, True),
            ("ff", True, True),
            ("fd", True, False),
            ("06", False, True),
        ],
    )
    def test_bits(self, flags: str, sampled: bool, random: bool) -> None:
        parsed = parse_traceparent(f"00-{TRACE}-{PARENT}-{flags}")
        assert parsed is not None
        assert (sampled, random) == (parsed.sampled, parsed.random)

    def test_future_version(self) -> None:
        parsed = parse_traceparent(f"cc-{TRACE}-{PARENT}-02-extra")
        assert parsed is not None
        assert parsed.random

    @given(st.integers(0, 255))
    def test_any_flags_byte(self, flags: int) -> None:
        parsed = parse_traceparent(f"00-{TRACE}-{PARENT}-{flags:02x}")
        assert parsed is not None
        assert (bool(flags & SAMPLED_FLAG), bool(flags & RANDOM_FLAG)) == (
            parsed.sampled,
            parsed.random,
        )


class TestFormat:
    @pytest.mark.parametrize(
        ("sampled", "random", "flags"),
        [(False, False, "00"), (True, False, "01"), (False, True, "02"), (True, True, "03")],
    )
    def test_flags(self, sampled: bool, random: bool, flags: str) -> None:
        assert f"00-{TRACE}-{PARENT}-{flags}" == format_traceparent(TRACE, PARENT, sampled, random)

    def test_context_traceparent_and_flags(self) -> None:
        ctx = TraceContext(TRACE, PARENT, sampled=True, random_trace_id=True)
        assert 3 == ctx.trace_flags
        assert f"00-{TRACE}-{PARENT}-03" == ctx.traceparent


class TestStartedTraces:
    def test_new_trace_sets_the_flag(self) -> None:
        with tracelog.trace() as ctx:
            assert ctx.random_trace_id
            assert 3 == flags_of(inject({})["traceparent"])
            with tracelog.span("child") as child:
                assert child.random_trace_id
                assert 3 == flags_of(inject({})["traceparent"])

    def test_unsampled_new_trace(self) -> None:
        with tracelog.trace(sampled=False):
            assert RANDOM_FLAG == flags_of(inject({})["traceparent"])

    def test_given_trace_id_is_not_claimed_random(self) -> None:
        with tracelog.trace(TRACE) as ctx:
            assert not ctx.random_trace_id
            assert SAMPLED_FLAG == flags_of(inject({})["traceparent"])

    def test_given_trace_id_said_random(self) -> None:
        with tracelog.trace(TRACE, random_trace_id=True):
            assert 3 == flags_of(inject({})["traceparent"])

    def test_request_without_traceparent_starts_a_random_trace(self) -> None:
        with extract({}).trace() as ctx:
            assert ctx.random_trace_id
        with extract({"traceparent": "garbage"}).trace() as ctx:
            assert ctx.random_trace_id

    def test_env_carrier(self) -> None:
        with tracelog.trace():
            env = inject_env({})
        assert 3 == flags_of(env["TRACEPARENT"])
        assert extract_env(env).context().random_trace_id


class TestCarriedFlag:
    @pytest.mark.parametrize("flags", ["00", "01", "02", "03", "ff"])
    def test_kept_in_every_outgoing_header(self, flags: str) -> None:
        incoming = int(flags, 16)
        with extract({"traceparent": f"00-{TRACE}-{PARENT}-{flags}"}).trace() as ctx:
            assert bool(incoming & 2) == ctx.random_trace_id
            outgoing = inject({})["traceparent"]
            with tracelog.span():
                nested = inject({})["traceparent"]
        for value in (outgoing, nested):
            assert TRACE == value.split("-")[1]
            assert incoming & 3 == flags_of(value)  # other bits are sent as zero

    def test_unset_stays_unset(self) -> None:
        with extract({"traceparent": f"00-{TRACE}-{PARENT}-01"}).trace():
            assert 1 == flags_of(inject({})["traceparent"])


class TestOpenTelemetrySpan:
    def test_flag_read_from_the_span(self) -> None:
        pytest.importorskip("opentelemetry.trace")
        from opentelemetry import trace as otel_trace

        span_context = otel_trace.SpanContext(
            int(TRACE, 16), int(PARENT, 16), True, otel_trace.TraceFlags(3)
        )
        with otel_trace.use_span(otel_trace.NonRecordingSpan(span_context)):
            ctx = tracelog.current()
            assert ctx is not None
            assert ctx.random_trace_id
            assert 3 == flags_of(inject({})["traceparent"])


class TestProgramTracestate:
    """``trace(tracestate=...)`` is checked as a received header is: bad values never go out."""

    @pytest.mark.parametrize(
        "value", ["a=1\r\nX-Evil: yes", "a=1\nb=2", "A=1", "a=1,=2", "a=\x00", "a=" + "x" * 300]
    )
    def test_invalid_is_dropped_and_counted(self, value: str) -> None:
        with tracelog.trace(tracestate=value) as ctx:
            assert ctx.tracestate is None
            headers = inject({})
            env = inject_env({})
        assert "tracestate" not in headers
        assert "TRACESTATE" not in env
        assert {"tracestate_dropped": 1} == propagation.stats()
        assert 1 == _faults.counts()["propagation"]

    def test_valid_is_kept(self) -> None:
        with tracelog.trace(tracestate="congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"):
            assert "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7" == inject({})["tracestate"]
        with tracelog.trace(tracestate=""):
            assert "tracestate" not in inject({})
        assert {"tracestate_dropped": 0} == propagation.stats()

    def test_context_built_by_hand_is_checked_at_inject(self) -> None:
        ctx = TraceContext(TRACE, PARENT, tracestate="a=1\r\nInjected: 1")
        assert "tracestate" not in inject({}, ctx)
        assert "TRACESTATE" not in inject_env({}, ctx)
        assert 2 == propagation.stats()["tracestate_dropped"]

    @given(st.text(max_size=60))
    def test_any_text_gives_a_header_safe_value(self, value: str) -> None:
        with tracelog.trace(tracestate=value):
            sent = inject({}).get("tracestate")
        if sent is not None:
            assert all(0x20 <= ord(c) <= 0x7E for c in sent)

    def test_reported_on_stderr(self) -> None:
        code = (
            "import tracelog\n"
            "with tracelog.trace(tracestate='a=1\\r\\nb'):\n"
            "    tracelog.propagation.inject({})\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert "invalid tracestate dropped" in done.stderr


class TestThroughMiddlewareAndHttpx:
    """An incoming request through TraceMiddleware, an outgoing call through instrumented httpx."""

    def forward(self, headers: list[tuple[str, str]]) -> httpx.Headers:
        sent: list[httpx.Headers] = []

        def upstream(request: httpx.Request) -> httpx.Response:
            sent.append(request.headers)
            return httpx.Response(200)

        outgoing = instrument(httpx.AsyncClient(transport=httpx.MockTransport(upstream)))

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await outgoing.post("http://upstream.test/")
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def call() -> None:
            transport = httpx.ASGITransport(app=TraceMiddleware(app))
            async with httpx.AsyncClient(transport=transport) as client:
                await client.post("http://service.test/", headers=headers)

        asyncio.run(call())
        [headers_sent] = sent
        return headers_sent

    def test_random_flag_and_duplicated_keys(self) -> None:
        sent = self.forward(
            [
                ("traceparent", f"00-{TRACE}-{PARENT}-02"),
                ("tracestate", "foo@=1,bar=2"),
                ("tracestate", "foo@=3"),
            ]
        )
        version, trace_id, span_id, flags = sent["traceparent"].split("-")
        assert ("00", TRACE, "02") == (version, trace_id, flags)
        assert PARENT != span_id
        assert "foo@=1,bar=2" == sent["tracestate"]

    def test_started_trace(self) -> None:
        sent = self.forward([])
        assert sent["traceparent"].endswith("-03")
        assert "tracestate" not in sent
