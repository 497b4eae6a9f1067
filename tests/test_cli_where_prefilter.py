"""``--where``'s byte prefilter only drops lines the full matcher would drop too."""

from __future__ import annotations

import contextlib
import io
import json
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelog._cli.reader import Skipped, scan
from tracelog._cli.records import parse
from tracelog._cli.view import _COLUMNS
from tracelog._cli.where import Condition, parse_condition
from tracelog.cli import main

KEYS = ("duration_ms", "duration", "ms", "a", "b", "a.duration_ms", "attributes", "service")
WHERE_KEYS = ("duration_ms", "a.duration_ms", "ms", "a", "b.ms", "service", "x/y")
THRESHOLDS = ("500", "0", "-3", "1e3", "0.5", "499.999", "-0", "7", "2026-11-25T08:00:00Z")

# A number as JSON (or the standard library, which reads Infinity and NaN) spells it.
number_text = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,4})(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,2})?", fullmatch=True),
    st.sampled_from(("500", "500.0", "5E+2", "499.9999999999999999", "-0", "-0.0", "1e400")),
    st.sampled_from(("Infinity", "-Infinity", "NaN")),
)
strings = st.one_of(
    st.sampled_from(("700", " 7e2 ", "1_000", "inf", "nan", "-5", "", "/api/x", "duration_ms")),
    st.text(max_size=6),
)


def _spell_key(key: str, escaped: list[bool]) -> str:
    """A key as JSON may write it: each character as itself or as a \\u escape."""
    out = []
    for char, escape in zip(key, escaped + [False] * len(key), strict=False):
        if escape:
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
    for key in draw(st.lists(st.sampled_from((*KEYS, "x/y", "y")), max_size=5)):
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


def matches(condition: Condition, line: bytes) -> bool:
    """What the full matcher says: the line decoded and recognised, then the field tested."""
    record = parse(line, Skipped())
    return record is not None and condition.test(record.get(condition.key))


class TestPrefilter:
    @settings(max_examples=1500, deadline=None)
    @given(st.lists(lines(), min_size=1, max_size=8), conditions())
    def test_keeps_every_line_that_matches(self, batch: list[bytes], condition: Condition) -> None:
        prefilter = condition.prefilter(_COLUMNS)
        expected = [line for line in batch if matches(condition, line)]
        if prefilter is None:
            assert not condition.needs_field or condition.key in _COLUMNS
            return
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
        ],
    )
    def test_examples(self, line: bytes, where: str, kept: bool) -> None:
        prefilter = parse_condition(where).prefilter(_COLUMNS)
        assert prefilter is not None
        assert kept == prefilter.keeps(line)

    @pytest.mark.parametrize(
        "where", ["!duration_ms", "duration_ms!=5", "a!~x", "service>3", "duration_ms=null"]
    )
    def test_none_where_a_line_without_the_field_can_match(self, where: str) -> None:
        assert None is parse_condition(where).prefilter(_COLUMNS)


class TestScanWithPrefilter:
    @settings(max_examples=150, deadline=None)
    @given(st.lists(lines(), min_size=1, max_size=30), conditions())
    def test_view_json_prints_what_the_matcher_keeps(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        batch: list[bytes],
        condition: Condition,
    ) -> None:
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
