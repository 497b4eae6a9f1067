"""``--where``'s byte prefilter only drops lines the full matcher would drop too."""

from __future__ import annotations

import contextlib
import io
import json
import pathlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tracelog._cli.reader import Skipped, scan
from tracelog._cli.records import parse
from tracelog._cli.view import _COLUMNS
from tracelog._cli.where import Condition, Prefilter, parse_condition
from tracelog.cli import main

# Keys that start like another (the search stops at "duration_ms_p99" too), nest, or hold a slash.
KEYS = (
    "duration_ms",
    "duration",
    "duration_ms_p99",
    "ms",
    "a",
    "b",
    "a.duration_ms",
    "attributes",
    "service",
    "url/path",
)
WHERE_KEYS = ("duration_ms", "a.duration_ms", "ms", "a", "b.ms", "service", "x/y", "url/path")
THRESHOLDS = (
    "500",
    "0",
    "-3",
    "1e3",
    "0.5",
    "499.999",
    "-0",
    "7",
    "10",
    "99.5",
    "1000",
    "2026-11-25T08:00:00Z",
)

# A number as JSON (or the standard library, which reads Infinity and NaN) spells it.
number_text = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,4})(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,2})?", fullmatch=True),
    st.sampled_from(("500", "500.0", "5E+2", "499.9999999999999999", "-0", "-0.0", "1e400")),
    st.sampled_from(("Infinity", "-Infinity", "NaN")),
)
strings = st.one_of(
    st.sampled_from(
        (
            "700",
            " 7e2 ",
            "1_000",
            "inf",
            "nan",
            "-5",
            "",
            "/api/x",
            "duration_ms",
            '"duration_ms":900',
            "duration\\u005fms",
            "caf\u00e9 \u0416 \U0001f600",  # \u00e9, \u0416 and a surrogate pair
        )
    ),
    st.text(max_size=6),
)


def _spell_key(key: str, escaped: list[bool]) -> str:
    """A key as JSON may write it: each character as itself or as an escape (\\u, or \\/)."""
    out = []
    for i, (char, escape) in enumerate(zip(key, escaped + [False] * len(key), strict=False)):
        if escape and char == "/" and i % 2:
            out.append("\\/")
        elif escape:
            out.append(f"\\u{ord(char):04x}" if ord(char) % 2 else f"\\u{ord(char):04X}")
        elif char == "/":
            out.append(char)
        else:
            out.append(json.dumps(char)[1:-1])
    return '"' + "".join(out) + '"'


@st.composite
def json_text(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.sampled_from(("number", "string", "literal", "object", "list")))
    if depth >= 2 and kind in ("object", "list"):
        kind = "number"
    if kind == "number":
        return draw(number_text)
    if kind == "string":
        return json.dumps(draw(strings), ensure_ascii=draw(st.booleans()))
    if kind == "literal":
        return draw(st.sampled_from(("true", "false", "null")))
    if kind == "list":
        return "[" + ",".join(draw(st.lists(json_text(depth + 1), max_size=3))) + "]"
    return json_object(draw, depth + 1)


def json_object(draw: st.DrawFn, depth: int = 0) -> str:
    members = []
    for key in draw(st.lists(st.sampled_from((*KEYS, "x/y", "y")), max_size=5)):  # repeats too
        escaped = draw(st.lists(st.booleans(), max_size=len(key))) if draw(st.booleans()) else []
        space = draw(st.sampled_from(("", " ", "\t", " \r ")))
        value = draw(json_text(depth))
        members.append(f"{_spell_key(key, escaped)}{space}:{space}{value}")
    return "{" + ",".join(members) + "}"


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    text = json_object(draw)
    extra = draw(st.sampled_from(("", "", "", ' "duration_ms":900', '"\\ud800"', "garbage")))
    if extra and text != "{}" and draw(st.booleans()):
        text = text[:-1] + ',"s":"' + extra.replace('"', '\\"') + '"}'
    elif extra:
        text += extra
    return text.encode()


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    key = draw(st.sampled_from(WHERE_KEYS))
    op = draw(st.sampled_from((">", ">=", "<", "<=", "=", "!=", "~", "!~", "", "!")))
    if op == "":
        return parse_condition(key)
    if op == "!":
        return parse_condition("!" + key)
    if op.endswith("~"):
        return parse_condition(key + op + draw(st.sampled_from(("^7", "0$", "/api", "."))))
    if op in ("=", "!="):
        return parse_condition(key + op + draw(st.sampled_from(("700", "500", "true", "", "null"))))
    return parse_condition(key + op + draw(st.sampled_from(THRESHOLDS)))


def leads(prefilter: Prefilter) -> st.SearchStrategy[int | None]:
    """Where in the key the search may start: any byte, or None for the byte search."""
    return st.none() | st.integers(0, len(prefilter.key) - 1)


def matches(condition: Condition, line: bytes) -> bool:
    """What the full matcher says: the line decoded and recognised, then the field tested."""
    record = parse(line, Skipped())
    return record is not None and condition.test(record.get(condition.key))


class TestPrefilter:
    @settings(max_examples=1500, deadline=None)
    @given(st.lists(lines(), min_size=1, max_size=8), conditions(), st.data())
    def test_keeps_every_line_that_matches(
        self, batch: list[bytes], condition: Condition, data: st.DataObject
    ) -> None:
        prefilter = condition.prefilter(_COLUMNS)
        expected = [line for line in batch if matches(condition, line)]
        if prefilter is None:
            assert not condition.needs_field or condition.key in _COLUMNS
            return
        prefilter.lead_at(data.draw(leads(prefilter), label="lead"))
        buffer = b"\n".join(batch) + b"\n"
        starts = {0}
        for line in batch:
            starts.add(max(starts) + len(line) + 1)
        spans = list(prefilter.spans(buffer, 0, len(buffer)))
        assert all(first in starts and newline + 1 in starts for first, newline in spans)
        kept = [buffer[first:newline] for first, newline in spans]
        assert expected == [line for line in kept if matches(condition, line)]
        assert expected == [
            line for line in batch if prefilter.keeps(line) and matches(condition, line)
        ]

    @pytest.mark.parametrize(
        ("line", "where", "kept"),
        [
            (b'{"duration_ms":501}', "duration_ms>500", True),
            (b'{"duration_ms":498.9}', "duration_ms>500", False),
            (b'{"duration_ms":499.99999999999999}', "duration_ms>=500", True),
            (b'{"duration_ms" : 5e2}', "duration_ms>=500", True),
            (b'{"duration_ms":"700"}', "duration_ms>500", True),
            (b'{"duration\\u005fms":700}', "duration_ms>500", True),
            (b'{"duration_ms":1,"duration_ms":900}', "duration_ms>500", True),
            (b'{"message":"duration_ms","ms":900}', "duration_ms>500", False),
            (b'{"a":{"duration_ms":900}}', "a.duration_ms>500", True),
            (b'{"a.duration_ms":900}', "a.duration_ms>500", True),
            (b'{"path":"\\/api"}', "path~^/api", True),
            (b'{"x":"a\\"b"}', "path~^/api", False),
            (b'{"duration_ms_p99":900}', "duration_ms>500", False),
            (b'{"duration_ms_p99":900,"duration_ms":600}', "duration_ms>500", True),
            (b'{"duration_ms":4.5e2}', "duration_ms>500", True),
            (b'{"duration_ms":45.25}', "duration_ms>500", False),
            (b'{"s":"caf\\u00e9 \\u0416","duration_ms":45}', "duration_ms>500", True),
            (b'{"s":"\\u0416\\ud83d\\ude00","duration_ms":45}', "duration_ms>500", False),
            (b'{"s":"\\"duration_ms\\":900"}', "duration_ms>500", False),
            (b'{"url\\/path":"/api"}', "url/path~^/api", True),
            (b'{"duration_ms":-0.0}', "duration_ms>=0", True),
        ],
    )
    def test_examples(self, line: bytes, where: str, kept: bool) -> None:
        prefilter = parse_condition(where).prefilter(_COLUMNS)
        assert prefilter is not None
        for lead in (None, *range(len(prefilter.key))):
            prefilter.lead_at(lead)
            assert (lead, kept) == (lead, prefilter.keeps(line))

    def test_the_search_starts_at_the_keys_rarest_byte(self) -> None:
        access = b'{"logger":"uvicorn.access","status":200,"duration_ms":45.25}\n'
        other = b'{"logger":"shop.orders","message":"order placed, card charged"}\n'
        buffer = (access + other * 9) * 200
        prefilter = parse_condition("duration_ms>500").prefilter(_COLUMNS)
        assert prefilter is not None
        assert [] == list(prefilter.spans(buffer, 0, len(buffer)))
        assert prefilter.skip is not None
        counts = [buffer.count(bytes([byte])) for byte in prefilter.key]
        assert min(counts) == counts[prefilter.skip]

    def test_the_byte_search_when_no_byte_of_the_key_is_rare(self) -> None:
        buffer = b'{"duration_ms":45.25,"status":"done"}\n' * 2000
        prefilter = parse_condition("duration_ms>500").prefilter(_COLUMNS)
        assert prefilter is not None
        assert [] == list(prefilter.spans(buffer, 0, len(buffer)))
        assert None is prefilter.skip

    @pytest.mark.parametrize(
        "where", ["!duration_ms", "duration_ms!=5", "a!~x", "service>3", "duration_ms=null"]
    )
    def test_none_where_a_line_without_the_field_can_match(self, where: str) -> None:
        assert None is parse_condition(where).prefilter(_COLUMNS)

    def test_lines_with_escapes_among_others(self) -> None:
        lines = [
            b'{"url/path":"/a","s":"caf\\u00e9"}',
            b'{"url/path":"/api"}',
            b'{"url\\/path":"/api/x"}',
            b'{"s":"a\\/b"}',
            b'{"url\\u002fpath":"/api/y","s":"\\/"}',
            b'{"s":"\\u00e9"}',
            b'{"s":"url/path"}',
            b'{"other":1}',
        ]
        buffer = b"\n".join(lines) + b"\n"
        prefilter = parse_condition("url/path~^/api").prefilter(_COLUMNS)
        assert prefilter is not None
        kept = [buffer[first:newline] for first, newline in prefilter.spans(buffer, 0, len(buffer))]
        assert [lines[i] for i in (0, 1, 2, 3, 4, 5)] == kept

    @settings(max_examples=400, deadline=None)
    @given(
        st.lists(lines(), max_size=4),
        st.lists(lines(), min_size=1, max_size=8),
        conditions(),
        st.data(),
    )
    def test_a_part_of_a_buffer(
        self, before: list[bytes], batch: list[bytes], condition: Condition, data: st.DataObject
    ) -> None:
        """scan() hands the prefilter the part of its buffer after a long line's end."""
        prefilter = condition.prefilter(_COLUMNS)
        assume(prefilter is not None)
        assert prefilter is not None
        prefilter.lead_at(data.draw(leads(prefilter), label="lead"))
        head = b"".join(line + b"\n" for line in before)
        buffer = head + b"\n".join(batch) + b"\n"
        spans = list(prefilter.spans(buffer, len(head), len(buffer)))
        assert all(first >= len(head) and buffer[newline] == ord("\n") for first, newline in spans)
        kept = [buffer[first:newline] for first, newline in spans]
        expected = [line for line in batch if matches(condition, line)]
        assert expected == [line for line in kept if matches(condition, line)]


class TestScanWithPrefilter:
    @settings(max_examples=150, deadline=None)
    @given(st.lists(lines(), min_size=1, max_size=30), conditions(), st.booleans())
    def test_view_json_prints_what_the_matcher_keeps(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        batch: list[bytes],
        condition: Condition,
        long_file: bool,
    ) -> None:
        if long_file:  # enough lines for the search to choose where in the key it starts
            filler = b'{"x":0,"f":"' + b"0" * 200 + b'"}'
            batch = [filler] * 150 + batch + [filler] * 150
        path = tmp_path_factory.mktemp("where") / "app.log"
        path.write_bytes(b"\n".join(batch) + b"\n")
        out = io.TextIOWrapper(io.BytesIO())
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            main(["view", str(path), "--where", _argument(condition), "--json"])
            out.flush()
        expected = [line for line in batch if matches(condition, line)]
        printed = out.buffer.getvalue()  # type: ignore[attr-defined]
        assert expected == printed.split(b"\n")[:-1]

    def test_null_is_a_missing_field_with_or_without_another_filter(
        self, tmp_path: pathlib.Path
    ) -> None:
        path = tmp_path / "app.log"
        lines = [
            b'{"trace_id":"ab12","a":1}',
            b'{"trace_id":"ab12","duration_ms":null}',
            b'{"trace_id":"ab12","duration_ms":5}',
        ]
        path.write_bytes(b"\n".join(lines) + b"\n")
        for extra in ([], ["--trace", "ab12"]):
            out = io.TextIOWrapper(io.BytesIO())
            with contextlib.redirect_stdout(out):
                main(["view", str(path), "--where", "duration_ms=null", "--json", *extra])
                out.flush()
            assert lines[:2] == out.buffer.getvalue().split(b"\n")[:-1]  # type: ignore[attr-defined]

    def test_a_line_longer_than_the_buffer(self, tmp_path: pathlib.Path) -> None:
        long = b'{"duration_ms":900,"message":"' + b"x" * (5 << 20) + b'"}'
        path = tmp_path / "app.log"
        path.write_bytes(b'{"duration_ms":9}\n' + long + b'\n{"duration_ms":901}')
        condition = parse_condition("duration_ms>500")
        prefilter = condition.prefilter(_COLUMNS)
        assert prefilter is not None
        found = list(scan([str(path)], prefilter, Skipped(), keep_whole=False))
        assert [b'{"duration_ms":901}'] == [line for line in found if matches(condition, line)]


def _argument(condition: Condition) -> str:
    if condition.op == "exists":
        return condition.key
    if condition.op == "!":
        return "!" + condition.key
    return f"{condition.key}{condition.op}{condition.value}"
