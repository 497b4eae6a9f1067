"""``tracelog traces``: one row per trace; the fast path agrees with the full parse."""

from __future__ import annotations

import io
import pathlib
import tracemalloc

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracelog
from tracelog._cli import traces
from tracelog._cli.reader import Skipped
from tracelog.cli import main

DATA = pathlib.Path(__file__).parent / "data" / "cli"
DEMO = [str(DATA / "demo" / "shop.log"), str(DATA / "demo" / "payments.log")]


def rows_of(lines: list[bytes], *, fast: bool) -> list[dict[str, object]]:
    aggregates = traces.Aggregates()
    skipped = Skipped()
    if fast:
        aggregates.add_lines(lines, skipped)
    else:
        for line in lines:
            aggregates._add_parsed(line, skipped)
    return [row.as_json() for row in traces.select(aggregates, "start", False, None)]


class TestTraces:
    def test_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert 0 == main(["traces", *DEMO])
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("TRACE ")
        assert 9 == len(out)
        failed = [row for row in out if "error !" in row]
        assert 1 == len(failed)
        assert "payments, shop" in failed[0]
        assert "checkout started" in failed[0]

    def test_json_sort_and_errors(self, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
        main(["traces", "--json", "--sort", "duration", *DEMO])
        rows = [orjson.loads(r) for r in capsysbinary.readouterr().out.splitlines()]
        assert 8 == len(rows)
        durations = [row["duration_ms"] for row in rows]
        assert sorted(durations, reverse=True) == durations
        assert [12] + [13] * 7 == sorted(row["lines"] for row in rows)
        assert all(["payments", "shop"] == row["services"] for row in rows)

        main(["traces", "--json", "--errors", *DEMO])
        (failed,) = [orjson.loads(r) for r in capsysbinary.readouterr().out.splitlines()]
        assert ("error", True) == (failed["level"], failed["error"])

        main(["traces", "--json", "--sort", "level", "--limit", "1", *DEMO])
        (worst,) = [orjson.loads(r) for r in capsysbinary.readouterr().out.splitlines()]
        assert failed["trace_id"] == worst["trace_id"]

    @pytest.mark.parametrize("sort", ["start", "duration", "lines", "level"])
    def test_every_sort(self, sort: str, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
        assert 0 == main(["traces", "--json", "--sort", sort, *DEMO])
        assert 8 == len(capsysbinary.readouterr().out.splitlines())

    def test_other_shapes_and_no_trace(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        log = tmp_path / "mixed.log"
        log.write_text(
            (DATA / "foreign.log").read_text()
            + '{"event": "no trace here", "level": "info"}\n'
            + "not json at all\n"
        )
        main(["traces", "--json", str(log)])
        out, err = capsys.readouterr()
        (row,) = [orjson.loads(r) for r in out.splitlines()]
        assert 4 == row["lines"]
        assert "warning" == row["level"]
        assert "1 line not JSON (skipped)" in err


class TestFastPath:
    def test_tracelog_lines_take_it(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        buffer = io.StringIO()
        tracelog.configure(format="json", stream=buffer, service="shop")
        log = tracelog.get_logger("shop.orders")
        with tracelog.trace():
            log.info('quotes " and \\ and ünïcode', n=1)
            with tracelog.span("charge card"):
                log.warning("slow card", took=1.5)
        with tracelog.trace(), tracelog.span("a"), tracelog.span("b"):
            log.error("boom")
        tracelog.reset()
        lines = buffer.getvalue().encode().splitlines()
        parsed: list[bytes] = []
        original = traces.Aggregates._add_parsed

        def counting(self: traces.Aggregates, line: bytes, skipped: Skipped) -> None:
            parsed.append(line)
            original(self, line, skipped)

        monkeypatch.setattr(traces.Aggregates, "_add_parsed", counting)
        fast = rows_of(lines, fast=True)
        assert [lines[0]] == parsed  # only the escaped message needed the full parse
        monkeypatch.setattr(traces.Aggregates, "_add_parsed", original)
        assert rows_of(lines, fast=False) == fast

    @settings(max_examples=150, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["a" * 32, "b" * 32, "c" * 32]),
                st.integers(0, 10**6),
                st.sampled_from(["debug", "info", "warning", "error", "critical"]),
                st.text(max_size=20),
                st.one_of(st.none(), st.text(max_size=8)),
                st.one_of(st.none(), st.text(max_size=8)),
                st.booleans(),
            ),
            max_size=20,
        )
    )
    def test_same_rows_as_the_full_parse(self, events: list[tuple]) -> None:  # type: ignore[type-arg]
        lines = []
        for trace_id, micros, level, message, service, span_name, parent in events:
            event: dict[str, object] = {
                "timestamp": f"2026-11-25T07:40:{micros // 100000:02d}.{micros % 1000000:06d}Z",
                "level": level,
                "logger": "x",
                "message": message,
                "trace_id": trace_id,
                "span_id": "1" * 16,
            }
            if parent:
                event["parent_span_id"] = "2" * 16
            if span_name is not None:
                event["span_name"] = span_name
            if service is not None:
                event["service"] = service
            if parent:
                event["extra"] = {"service": "not this one"}
            lines.append(orjson.dumps(event))
        assert rows_of(lines, fast=False) == rows_of(lines, fast=True)


class TestMemory:
    def test_bounded_by_what_is_shown(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        big = tmp_path / "big.log"
        line = (
            b'{"timestamp":"2026-11-25T07:40:34.123456Z","level":"info","logger":"shop.orders",'
            b'"message":"order placed with a longer message to weigh the line","trace_id":"%032x",'
            b'"span_id":"00f067aa0ba902b7","service":"shop","order_id":%d}\n'
        )
        with big.open("wb") as handle:
            for block in range(20):
                handle.write(
                    b"".join(line % (i % 50, i) for i in range(block * 5000, (block + 1) * 5000))
                )
        size = big.stat().st_size
        assert size > 20_000_000
        for args in (["traces", str(big)], ["view", "--json", "--trace", f"{7:032x}", str(big)]):
            tracemalloc.start()
            try:
                assert 0 == main(args)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            capsysbinary.readouterr()
            assert peak < 12_000_000, (args, peak)
