"""tracelog.propagation against W3C Trace Context Level 2, rule by rule, and request ids."""

from __future__ import annotations

import email.message
import subprocess
import sys

import httpx
import pytest
import starlette.datastructures
import werkzeug.datastructures

import tracelog
from tracelog import propagation
from tracelog.propagation import (
    Incoming,
    TraceParent,
    extract,
    extract_env,
    extract_raw,
    inject,
    inject_env,
    parse_request_id,
    parse_traceparent,
    parse_tracestate,
)

TRACE = "12345678901234567890123456789012"
PARENT = "1234567890123456"
VALID = f"00-{TRACE}-{PARENT}-01"


def continued(headers: object) -> bool:
    """Whether a server would continue the caller's trace TRACE from these headers."""
    incoming = extract(headers)
    return incoming.parent is not None and incoming.parent.trace_id == TRACE


class TestTraceparentHeaderName:
    @pytest.mark.parametrize("name", ["traceparent", "TraceParent", "TrAcEpArEnT", "TRACEPARENT"])
    def test_any_case(self, name: str) -> None:
        assert continued({name: VALID})

    @pytest.mark.parametrize(
        "name", ["trace-parent", "trace.parent", "traceparent ", "x-traceparent"]
    )
    def test_other_names_are_not_it(self, name: str) -> None:
        assert not continued({name: VALID})


class TestTraceparentVersion00:
    def test_valid(self) -> None:
        assert TraceParent("00", TRACE, PARENT, True) == parse_traceparent(VALID)

    def test_not_sampled(self) -> None:
        parsed = parse_traceparent(f"00-{TRACE}-{PARENT}-00")
        assert parsed is not None
        assert parsed.sampled is False

    @pytest.mark.parametrize(
        ("flags", "sampled"),
        [("01", True), ("00", False), ("09", True), ("08", False), ("ff", True)],
    )
    def test_sampled_is_the_low_bit(self, flags: str, sampled: bool) -> None:
        parsed = parse_traceparent(f"00-{TRACE}-{PARENT}-{flags}")
        assert parsed is not None
        assert sampled == parsed.sampled

    @pytest.mark.parametrize(
        "value",
        [
            f"00-{TRACE}-{PARENT}-01.",  # trailing characters
            f"00-{TRACE}-{PARENT}-01-what-the-future-will-be-like",  # later versions' fields
            f"00-{TRACE}-{PARENT}-01-",
        ],
    )
    def test_exactly_55_characters(self, value: str) -> None:
        assert parse_traceparent(value) is None

    @pytest.mark.parametrize(
        "value",
        [
            f".0-{TRACE}-{PARENT}-01",
            f"0.-{TRACE}-{PARENT}-01",
            f"000-{TRACE}-{PARENT}-01",  # version too long
            f"0000-{TRACE}-{PARENT}-01",
            f"0-{TRACE}-{PARENT}-01",  # version too short
            f"0A-{TRACE}-{PARENT}-01",  # upper-case hex
        ],
    )
    def test_bad_version(self, value: str) -> None:
        assert parse_traceparent(value) is None

    def test_version_ff_is_forbidden(self) -> None:
        assert parse_traceparent(f"ff-{TRACE}-{PARENT}-01") is None

    @pytest.mark.parametrize(
        "trace_id",
        [
            "0" * 32,  # all zero
            "." + TRACE[1:],
            TRACE[:-1] + ".",
            TRACE + "3",  # too long
            TRACE[:-1],  # too short
            TRACE.upper().replace("1", "A"),  # upper-case hex
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "g" * 32,
        ],
    )
    def test_bad_trace_id(self, trace_id: str) -> None:
        assert parse_traceparent(f"00-{trace_id}-{PARENT}-01") is None

    @pytest.mark.parametrize(
        "parent_id",
        [
            "0" * 16,
            "." + PARENT[1:],
            PARENT[:-1] + ".",
            PARENT + "7",
            PARENT[:-1],
            "00F067AA0BA902B7",
        ],
    )
    def test_bad_parent_id(self, parent_id: str) -> None:
        assert parse_traceparent(f"00-{TRACE}-{parent_id}-01") is None

    @pytest.mark.parametrize("flags", [".0", "0.", "001", "1", "0F", "-1", ""])
    def test_bad_flags(self, flags: str) -> None:
        assert parse_traceparent(f"00-{TRACE}-{PARENT}-{flags}") is None

    @pytest.mark.parametrize(
        "value",
        [
            f"00_{TRACE}-{PARENT}-01",
            f"00-{TRACE}_{PARENT}-01",
            f"00-{TRACE}-{PARENT}_01",
            f"00-{TRACE}--{PARENT}-01",
            f"00--{TRACE}-{PARENT}-01",
            "",
            "-",
            "00",
        ],
    )
    def test_bad_delimiters(self, value: str) -> None:
        assert parse_traceparent(value) is None


class TestTraceparentOptionalWhitespace:
    @pytest.mark.parametrize(
        "value", [f" {VALID}", f"\t{VALID}", f"{VALID} ", f"{VALID}\t", f"\t {VALID} \t"]
    )
    def test_around_the_value(self, value: str) -> None:
        assert continued({"traceparent": value})

    @pytest.mark.parametrize(
        "value", [f"\n{VALID}", f"{VALID}\r\n", f"\x0b{VALID}", f"\u00a0{VALID}"]
    )
    def test_only_space_and_tab(self, value: str) -> None:
        assert not continued({"traceparent": value})


class TestTraceparentFutureVersions:
    def test_same_layout(self) -> None:
        assert TraceParent("cc", TRACE, PARENT, True) == parse_traceparent(
            f"cc-{TRACE}-{PARENT}-01"
        )

    def test_more_fields_after_a_dash(self) -> None:
        value = f"cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like"
        assert TraceParent("cc", TRACE, PARENT, True) == parse_traceparent(value)

    def test_flags_not_followed_by_a_dash(self) -> None:
        assert parse_traceparent(f"cc-{TRACE}-{PARENT}-01.what-the-future-will-be-like") is None

    def test_shorter_than_55(self) -> None:
        assert parse_traceparent(f"cc-{TRACE}-{PARENT}-1") is None

    def test_prefix_rules_still_apply(self) -> None:
        assert parse_traceparent(f"cc-{'0' * 32}-{PARENT}-01-x") is None
        assert parse_traceparent(f"cc-4BF92F3577B34DA6A3CE929D0E0E4736-{PARENT}-01") is None

    def test_goes_out_as_version_00(self) -> None:
        incoming = extract({"traceparent": f"cc-{TRACE}-{PARENT}-01-future"})
        with incoming.trace():
            out = inject({})
        assert out["traceparent"].startswith(f"00-{TRACE}-")
        assert len(out["traceparent"]) == 55

    def test_prohibitively_large_is_refused(self) -> None:
        assert parse_traceparent(f"cc-{TRACE}-{PARENT}-01-" + "x" * 1000) is None


class TestTraceparentDuplicated:
    def test_two_headers(self) -> None:
        headers = [
            ("traceparent", f"00-{TRACE[:-1]}1-{PARENT}-01"),
            ("traceparent", VALID),
        ]
        assert extract(headers).parent is None

    def test_two_headers_in_different_case(self) -> None:
        assert extract({"traceparent": VALID, "TraceParent": VALID}).parent is None

    def test_joined_by_a_server(self) -> None:
        assert extract({"traceparent": f"{VALID},{VALID}"}).parent is None
        assert extract({"traceparent": f"{VALID}, {VALID}"}).parent is None


class TestTracestateHeader:
    def ts(self, *values: str, traceparent: str = VALID) -> str | None:
        headers = [("traceparent", traceparent)] + [("tracestate", v) for v in values]
        return extract(headers).tracestate

    def test_passed_on(self) -> None:
        assert "foo=1,bar=2" == self.ts("foo=1,bar=2")

    @pytest.mark.parametrize("name", ["TraceState", "TrAcEsTaTe", "TRACESTATE"])
    def test_any_case(self, name: str) -> None:
        assert "foo=1" == extract({"traceparent": VALID, name: "foo=1"}).tracestate

    @pytest.mark.parametrize("name", ["trace-state", "trace.state"])
    def test_other_names_are_not_it(self, name: str) -> None:
        assert extract({"traceparent": VALID, name: "foo=1"}).tracestate is None

    def test_dropped_without_traceparent(self) -> None:
        assert extract({"tracestate": "foo=1"}).tracestate is None

    def test_dropped_with_an_invalid_traceparent(self) -> None:
        assert self.ts("foo=1", traceparent=f"00-{'0' * 32}-{PARENT}-01") is None

    def test_invalid_tracestate_keeps_traceparent(self) -> None:
        incoming = extract({"traceparent": VALID, "tracestate": "FOO=1"})
        assert incoming.parent is not None
        assert incoming.tracestate is None

    def test_empty(self) -> None:
        assert self.ts("") is None
        assert self.ts(" \t ") is None
        assert self.ts(",, ,") is None

    def test_empty_header_among_others(self) -> None:
        assert "foo=1" == self.ts("foo=1", "")
        assert "foo=1" == self.ts("", "foo=1")

    def test_empty_members(self) -> None:
        assert "foo=1,bar=2" == self.ts("foo=1,,bar=2,")

    def test_multiple_headers_combined_in_order(self) -> None:
        combined = self.ts("foo=1,bar=2", "rojo=1,congo=2", "baz=3")
        assert "foo=1,bar=2,rojo=1,congo=2,baz=3" == combined

    def test_multi_valued_mapping_combined(self) -> None:
        headers = {"traceparent": VALID, "tracestate": ["foo=1", "bar=2"]}
        assert "foo=1,bar=2" == extract(headers).tracestate

    @pytest.mark.parametrize(
        "value",
        [
            "foo=1 \t , \t bar=2, \t baz=3",
            "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
        ],
    )
    def test_optional_whitespace_between_members(self, value: str) -> None:
        assert "foo=1,bar=2,baz=3" == self.ts(value)

    @pytest.mark.parametrize("value", [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"])
    def test_optional_whitespace_around(self, value: str) -> None:
        assert "foo=1" == self.ts(value)

    def test_leading_spaces_belong_to_the_value(self) -> None:
        assert "foo=  1" == self.ts("foo=  1")


class TestTracestateKeys:
    def ts(self, value: str) -> str | None:
        return parse_tracestate(value)

    def test_all_allowed_characters(self) -> None:
        key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
        assert f"{key}=1" == self.ts(f"{key}=1")

    def test_multi_tenant(self) -> None:
        key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/"
        assert f"{key}=1" == self.ts(f"{key}=1")
        assert "0tenant@system=1" == self.ts("0tenant@system=1")
        assert "fw529a3039@dt=abc" == self.ts("fw529a3039@dt=abc")

    @pytest.mark.parametrize(
        "value",
        [
            "foo =1",
            "FOO=1",
            "foo.bar=1",
            "_foo=1",
            "@foo=1,bar=2",
            "*foo=1",
            "=1",
            "foo",
            "foo,bar=1",
            "f\u00f6o=1",
        ],
    )
    def test_illegal_key_discards_all(self, value: str) -> None:
        assert self.ts(value) is None

    @pytest.mark.parametrize(
        "value",
        [
            "0foo=1",  # Level 2: a key may start with a digit
            "foo@=1,bar=2",  # "@" is a keychar anywhere after the first character
            "foo@@bar=1,bar=2",
            "foo@bar@baz=1,bar=2",
            "foo@0bar=1",
            "t@" + "v" * 15 + "=1",
            "t" * 242 + "@v=1",
        ],
    )
    def test_level_2_key_grammar(self, value: str) -> None:
        assert value == self.ts(value)

    def test_key_length(self) -> None:
        assert self.ts("z" * 256 + "=1") is not None
        assert self.ts("z" * 257 + "=1") is None
        assert self.ts("foo=1," + "z" * 257 + "=1") is None

    def test_at_sign_split_anywhere_within_256(self) -> None:
        for at in (1, 14, 128, 241, 254):
            key = "t" * at + "@" + "v" * (255 - at)
            assert 256 == len(key)
            assert f"{key}=1" == self.ts(f"{key}=1")
        assert self.ts("t" * 241 + "@" + "v" * 15 + "=1") is None

    def test_duplicate_keys_keep_the_first(self) -> None:
        assert "foo=1" == self.ts("foo=1,foo=1")
        assert "foo=1" == self.ts("foo=1,foo=2")
        assert "foo=1,bar=2" == self.ts("foo=1,bar=2,foo=3")
        incoming = extract(
            [("traceparent", VALID), ("tracestate", "foo=1"), ("tracestate", "foo=2")]
        )
        assert "foo=1" == incoming.tracestate

    def test_duplicates_do_not_count_against_the_member_limit(self) -> None:
        unique = [f"k{i}=v" for i in range(32)]
        assert ",".join(unique) == self.ts(",".join([*unique, "k0=again"]))
        assert self.ts(",".join([*unique, "k32=v"])) is None


class TestTracestateValues:
    def test_all_allowed_characters(self) -> None:
        value = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",=")
        assert value.startswith(" ")
        assert f"foo={value}" == parse_tracestate(f"foo={value}")

    @pytest.mark.parametrize(
        "value",
        [
            "foo=bar=baz",
            "foo=,bar=3",
            "foo=",
            "foo= ",
            "foo=a\tb",
            "foo=\u00e9",
            "foo=a\x00",
            "foo=a\nb",
        ],
    )
    def test_illegal_value_discards_all(self, value: str) -> None:
        assert parse_tracestate(value) is None

    def test_value_length(self) -> None:
        assert parse_tracestate("foo=" + "v" * 256) is not None
        assert parse_tracestate("foo=" + "v" * 257) is None


class TestTracestateLimits:
    def members(self, count: int) -> str:
        return ",".join(f"bar{i:02d}={i:02d}" for i in range(1, count + 1))

    def test_32_members(self) -> None:
        state = parse_tracestate(self.members(32))
        assert state is not None
        assert 32 == len(state.split(","))

    def test_33_members_discard_all(self) -> None:
        assert parse_tracestate(self.members(33)) is None

    def test_33_members_over_several_headers(self) -> None:
        members = self.members(33).split(",")
        headers = [("traceparent", VALID)] + [("tracestate", m) for m in members]
        assert extract(headers).tracestate is None

    def test_empty_members_do_not_count(self) -> None:
        assert parse_tracestate(self.members(32) + ",,, ,") is not None

    def test_long_entries_go_first_then_from_the_end(self) -> None:
        big = "big=" + "x" * 200
        small = [f"k{i:02d}={'y' * 20}" for i in range(25)]
        state = parse_tracestate(",".join([small[0], big, *small[1:]]))
        assert state is not None
        assert len(state) <= propagation.MAX_TRACESTATE_LENGTH
        kept = state.split(",")
        assert "big" not in {m.split("=")[0] for m in kept}
        assert kept == small[: len(kept)]  # removed from the end, order kept

    def test_within_limit_is_unchanged(self) -> None:
        value = ",".join(f"k{i:02d}={'y' * 10}" for i in range(30))
        assert value == parse_tracestate(value)

    def test_huge_input_discarded_unparsed(self) -> None:
        assert parse_tracestate("a=1," + " " * 64 * 1024) is None


class TestExtract:
    def test_continue_in_a_new_span(self) -> None:
        incoming = extract({"traceparent": VALID, "tracestate": "congo=t61rcWkgMzE"})
        with incoming.trace() as ctx:
            assert TRACE == ctx.trace_id
            assert PARENT == ctx.parent_span_id
            assert ctx.span_id not in (None, PARENT)
            assert "congo=t61rcWkgMzE" == ctx.tracestate
            assert ctx.sampled is True

    def test_invalid_restarts(self) -> None:
        incoming = extract({"traceparent": f"00-{'0' * 32}-{PARENT}-01", "tracestate": "a=1"})
        assert incoming.parent is None
        with incoming.trace() as ctx:
            assert ctx.trace_id not in (None, "0" * 32)
            assert ctx.parent_span_id is None
            assert ctx.tracestate is None

    def test_each_request_gets_its_own_span(self) -> None:
        incoming = extract({"traceparent": VALID})
        spans = {incoming.context().span_id for _ in range(50)}
        assert 50 == len(spans)

    def test_not_sampled_passes_through(self) -> None:
        with extract({"traceparent": f"00-{TRACE}-{PARENT}-00"}).trace():
            assert inject({})["traceparent"].endswith("-00")

    def test_fields_bound(self, tracelog_events: list[dict[str, object]]) -> None:
        with extract({"traceparent": VALID, "x-request-id": "req-1"}).trace(user=7):
            tracelog.get_logger("t").info("hello")
        (event,) = tracelog_events
        assert TRACE == event["trace_id"]
        assert PARENT == event["parent_span_id"]
        assert "req-1" == event["request_id"]
        assert 7 == event["user"]

    def test_asgi_raw_headers(self) -> None:
        raw = [
            (b"host", b"x"),
            (b"traceparent", VALID.encode()),
            (b"tracestate", b"a=1"),
            (b"x-request-id", b"r"),
        ]
        expected = Incoming(parse_traceparent(VALID), "a=1", "r")
        assert expected == extract(raw)
        assert expected == extract_raw(raw, b"x-request-id")
        assert expected == extract_raw(
            [(b"TraceParent", VALID.encode()), (b"tracestate", b"a=1"), (b"X-Request-ID", b"r")],
            b"x-request-id",
        )

    def test_starlette_headers(self) -> None:
        headers = starlette.datastructures.Headers(
            raw=[(b"traceparent", VALID.encode()), (b"tracestate", b"a=1"), (b"tracestate", b"b=2")]
        )
        assert "a=1,b=2" == extract(headers).tracestate

    def test_httpx_headers_keep_duplicates(self) -> None:
        headers = httpx.Headers([("traceparent", VALID), ("traceparent", VALID)])
        assert extract(headers).parent is None
        headers = httpx.Headers(
            [("traceparent", VALID), ("tracestate", "a=1"), ("tracestate", "b=2")]
        )
        assert "a=1,b=2" == extract(headers).tracestate

    def test_werkzeug_headers(self) -> None:
        headers = werkzeug.datastructures.Headers(
            [("TraceParent", VALID), ("tracestate", "a=1"), ("TraceState", "b=2")]
        )
        assert "a=1,b=2" == extract(headers).tracestate

    def test_email_message(self) -> None:
        message = email.message.Message()
        message["traceparent"] = VALID
        message["x-request-id"] = "abc"
        incoming = extract(message)
        assert incoming.parent is not None
        assert "abc" == incoming.request_id

    def test_configurable_request_id_header(self) -> None:
        headers = {"X-Correlation-ID": "corr-9", "X-Request-ID": "req-1"}
        assert "corr-9" == extract(headers, request_id_header="X-Correlation-ID").request_id
        assert extract(headers, request_id_header=None).request_id is None

    @pytest.mark.parametrize(
        "headers",
        [None, 42, object(), [("a",)], {"traceparent": 5}, [(None, None)], {b"\xff": b"\xff"}],
    )
    def test_never_raises(self, headers: object) -> None:
        assert extract(headers).parent is None


class TestRequestId:
    @pytest.mark.parametrize(
        "value",
        [
            "abc",
            "0b1f6f6c-5b4e-4f1a-9d6b-1c5e0a8f2d7e",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            "dGVzdA==",
            "a" * 200,
            " padded\t",
        ],
    )
    def test_valid(self, value: str) -> None:
        assert value.strip() == parse_request_id(value)

    @pytest.mark.parametrize(
        "value",
        [
            "",
            " ",
            "a" * 201,
            "a b",
            "a\r\nSet-Cookie: x=1",
            "a\nb",
            "a\x00b",
            "a\x7fb",
            "caf\u00e9",
            'say "hi"',
            "a,b",
            "<script>",
            "a\\b",
            "x" * 65536,
        ],
    )
    def test_invalid(self, value: str) -> None:
        assert parse_request_id(value) is None

    def test_duplicate_headers_are_not_trusted(self) -> None:
        assert extract([("x-request-id", "a"), ("x-request-id", "b")]).request_id is None


class TestInject:
    def test_outside_a_trace_adds_nothing(self) -> None:
        assert {} == inject({})

    def test_child_span_per_call(self) -> None:
        with extract({"traceparent": VALID, "tracestate": "a=1"}).trace() as ctx:
            first, second = inject({}), inject({})
        for out in (first, second):
            version, trace_id, span_id, flags = out["traceparent"].split("-")
            assert ("00", TRACE, "01") == (version, trace_id, flags)
            assert span_id not in (ctx.span_id, PARENT, "0" * 16)
            assert "a=1" == out["tracestate"]
        assert first["traceparent"] != second["traceparent"]

    def test_new_trace_has_no_tracestate(self) -> None:
        with tracelog.trace():
            assert "tracestate" not in inject({})

    def test_request_id(self) -> None:
        with tracelog.trace(request_id="req-1"):
            assert "req-1" == inject({})["x-request-id"]
            assert "req-1" == inject({}, request_id_header="X-Correlation-ID")["x-correlation-id"]
            assert "x-request-id" not in inject({}, request_id_header=None)

    def test_unsafe_bound_request_id_is_not_sent(self) -> None:
        with tracelog.trace(request_id="a\r\nb"):
            assert "x-request-id" not in inject({})

    def test_replaces_existing_in_any_case(self) -> None:
        with tracelog.trace():
            out = inject({"TraceParent": "old", "Accept": "*/*"})
        assert {"traceparent", "Accept"} == set(out)

    def test_list_of_pairs(self) -> None:
        with tracelog.trace():
            pairs = inject([("traceparent", "old"), ("accept", "*/*")])
            raw = inject([(b"accept", b"*/*")])
        assert ["accept", "traceparent"] == [name for name, _ in pairs]
        assert (b"traceparent", raw[-1][1]) == raw[-1]

    def test_case_insensitive_mappings(self) -> None:
        with tracelog.trace():
            headers = inject(httpx.Headers({"TraceParent": "old"}))
        assert 1 == len(headers.get_list("traceparent"))
        assert "old" != headers["traceparent"]

    def test_round_trip(self) -> None:
        with tracelog.trace(tracestate="a=1") as ctx:
            out = inject({})
        with extract(out).trace() as child:
            assert ctx.trace_id == child.trace_id
            assert out["traceparent"].split("-")[2] == child.parent_span_id


class TestEnvironment:
    def test_inject_env(self) -> None:
        with tracelog.trace(tracestate="a=1") as ctx:
            env = inject_env({"PATH": "/bin", "TRACESTATE": "stale=1"})
        assert "/bin" == env["PATH"]
        assert env["TRACEPARENT"].startswith(f"00-{ctx.trace_id}-")
        assert "a=1" == env["TRACESTATE"]

    def test_no_trace_removes_stale(self) -> None:
        assert {"PATH": "/bin"} == inject_env(
            {"PATH": "/bin", "TRACEPARENT": VALID, "TRACESTATE": "a=1"}
        )

    def test_defaults_to_a_copy_of_os_environ(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_TEST_MARKER", "1")
        with tracelog.trace():
            env = inject_env()
        assert "1" == env["TRACELOG_TEST_MARKER"]
        import os

        assert "TRACEPARENT" not in os.environ or os.environ["TRACEPARENT"] != env["TRACEPARENT"]

    def test_extract_env(self) -> None:
        incoming = extract_env({"TRACEPARENT": VALID, "TRACESTATE": "a=1"})
        assert (TRACE, "a=1") == (
            incoming.parent.trace_id if incoming.parent else None,
            incoming.tracestate,
        )
        assert extract_env({"TRACEPARENT": "junk", "TRACESTATE": "a=1"}) == Incoming()

    def test_child_process_continues_the_trace(self) -> None:
        code = (
            "import tracelog; tracelog.configure(); tracelog.get_logger('child').info('from child')"
        )
        with tracelog.trace() as ctx:
            env = inject_env()
        env["TRACELOG_FORMAT"] = "json"
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        import json

        (line,) = [json.loads(text) for text in out.splitlines()]
        assert ctx.trace_id == line["trace_id"]
        assert env["TRACEPARENT"].split("-")[2] == line["parent_span_id"]
        assert line["span_id"] != line["parent_span_id"]

    def test_configure_continues_traceparent_and_reset_forgets(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TRACEPARENT", VALID)
        monkeypatch.setenv("TRACESTATE", "a=1")
        tracelog.configure()
        ctx = tracelog.current()
        assert ctx is not None
        assert (TRACE, PARENT, "a=1") == (ctx.trace_id, ctx.parent_span_id, ctx.tracestate)
        tracelog.reset()
        assert tracelog.current() is None

    def test_configure_ignores_invalid_traceparent(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACEPARENT", "00-junk")
        tracelog.configure()
        assert tracelog.current() is None
