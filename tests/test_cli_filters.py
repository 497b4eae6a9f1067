"""``--where`` conditions, ``--since``/``--until`` in RFC 3339, and ``traces --group-by``."""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracelog._cli.times import parse_when
from tracelog._cli.where import OPERATORS, parse_condition
from tracelog.cli import main

DATA = pathlib.Path(__file__).parent / "data" / "cli"
DEMO = [str(DATA / "demo" / "shop.log"), str(DATA / "demo" / "payments.log")]

keys = st.text(
    st.characters(blacklist_characters="=!<>~", blacklist_categories=("Cs",)), min_size=1
).filter(lambda k: k.strip() == k and k != "")
values = st.text(st.characters(blacklist_categories=("Cs",)))


class TestParseCondition:
    @given(keys, st.sampled_from(OPERATORS), values)
    def test_key_operator_value_round_trip(self, key: str, op: str, value: str) -> None:
        if op in (">", ">=", "<", "<=") or op.endswith("~"):
            value = "5"  # these check their value; any text is covered by = and !=
        condition = parse_condition(f"{key}{op}{value}")
        assert (key, op, value) == (condition.key, condition.op, condition.value)

    @given(keys)
    def test_existence(self, key: str) -> None:
        assert ("exists", key) == (parse_condition(key).op, parse_condition(key).key)
        assert ("!", key) == (parse_condition(f"!{key}").op, parse_condition(f"!{key}").key)

    @pytest.mark.parametrize("text", ["", "=5", "!", ">3", "a>abc", "a~(", "!a=b"])
    def test_refuses_what_it_cannot_read(self, text: str) -> None:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_condition(text)

    @pytest.mark.parametrize(
        ("text", "value", "expected"),
        [
            ("duration_ms>500", 500.5, True),
            ("duration_ms>500", 500, False),
            ("duration_ms>=500", 500, True),
            ("duration_ms<1e3", "999", True),
            ("duration_ms<=1", True, False),  # a boolean is not a number
            ("duration_ms>1", None, False),
            ("path~^/api/", "/api/orders", True),
            ("path~^/api/", "/v1/api/", False),
            ("path!~^/api/", "/v1/api/", True),
            ("path!~^/api/", None, True),
            ("at>2026-11-25T08:00:00+01:00", "2026-11-25T07:00:01Z", True),
            ("at>2026-11-25T08:00:00+01:00", "2026-11-25T06:59:59Z", False),
            ("at<2026-11-25", "2026-11-24T23:59:59.999-00:00", True),
            ("user_id", 0, True),
            ("user_id", None, False),
            ("!user_id", None, True),
            ("status=402", 402, True),
            ("status!=402", 200, True),
        ],
    )
    def test_condition(self, text: str, value: object, expected: bool) -> None:
        assert expected is parse_condition(text).test(value)


class TestRFC3339:
    @given(
        st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(9998, 12, 31)).map(
            lambda d: d.replace(microsecond=d.microsecond // 10 * 10)
        ),
        st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
        st.sampled_from(["T", "t", " "]),
        st.integers(min_value=0, max_value=6),
        st.booleans(),
    )
    def test_any_offset(
        self, moment: dt.datetime, minutes: int, sep: str, digits: int, zulu: bool
    ) -> None:
        zone = dt.timezone(dt.timedelta(minutes=minutes))
        aware = moment.replace(tzinfo=dt.timezone.utc if zulu else zone)
        text = aware.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
        if digits:
            text += "." + f"{aware.microsecond:06d}"[:digits]
        if zulu:
            text += "z" if sep == "t" else "Z"
        else:
            sign = "-" if minutes < 0 else "+"
            text += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        expected = aware.replace(
            microsecond=int(f"{aware.microsecond:06d}"[:digits].ljust(6, "0")) if digits else 0
        ).timestamp()
        assert abs(expected - parse_when(text)) < 1e-6

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-11-25", "2026-11-25T00:00:00+00:00"),
            ("2026-11-25T07:40", "2026-11-25T07:40:00+00:00"),
            ("2026-11-25T07:40:00", "2026-11-25T07:40:00+00:00"),
            ("2026-11-25T08:40:00+01:00", "2026-11-25T07:40:00+00:00"),
            ("2026-11-25T02:40:00.5-05:00", "2026-11-25T07:40:00.5+00:00"),
            ("2026-11-25T07:40:00-00:00", "2026-11-25T07:40:00+00:00"),
        ],
    )
    def test_forms(self, text: str, expected: str) -> None:
        assert dt.datetime.fromisoformat(expected).timestamp() == parse_when(text)

    def test_since_with_an_offset_filters(self, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
        # 08:34:08.49Z written as 09:34:08.49+01:00
        assert 0 == main(["view", *DEMO, "--json", "--since", "2026-11-25T09:34:08.52+01:00"])
        out = capsysbinary.readouterr().out.splitlines()
        assert out
        assert all(orjson.loads(line)["timestamp"] >= "2026-11-25T08:34:08.52" for line in out)


class TestWhereInView:
    def run(
        self, capsysbinary: pytest.CaptureFixture[bytes], *args: str
    ) -> list[dict[str, object]]:
        assert 0 == main(["view", *DEMO, "--json", *args])
        return [orjson.loads(line) for line in capsysbinary.readouterr().out.splitlines()]

    def test_number_comparison(self, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
        rows = self.run(capsysbinary, "--where", "duration_ms>140")
        assert rows and all(float(r["duration_ms"]) > 140 for r in rows)  # type: ignore[arg-type]
        everything = self.run(capsysbinary, "--where", "duration_ms")
        assert len(everything) == 2 * 8  # one access line per request and service

    def test_regex_and_absence(self, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
        rows = self.run(capsysbinary, "--where", "path~^/che", "--where", "status=402")
        assert ["/checkout"] == [r["path"] for r in rows]
        without = self.run(capsysbinary, "--where", "!order_id", "--logger", "shop.inventory")
        assert without and all("order_id" not in r for r in without)

    def test_a_time_field_compared_with_a_time(
        self, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        rows = self.run(capsysbinary, "--where", "timestamp<2026-11-25T08:34:08.27Z")
        assert rows and all(str(r["timestamp"]) < "2026-11-25T08:34:08.27" for r in rows)


class TestGroupBy:
    def test_one_row_per_value_over_the_traces_carrying_it(
        self, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        assert 0 == main(["traces", *DEMO, "--group-by", "order_id", "--json", "--errors"])
        (row,) = [orjson.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
        assert 1005 == int(row["order_id"])
        assert 1 == row["traces"]
        assert ["payments", "shop"] == row["services"]
        assert 12 == row["lines"]  # the whole trace, with the lines that lack order_id

    def test_the_table_is_headed_by_the_key(
        self, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        assert 0 == main(["traces", *DEMO, "--group-by", "order_id"])
        head, *rows = capsysbinary.readouterr().out.decode().splitlines()
        assert head.startswith("ORDER_ID ")
        assert 8 == len(rows)

    def test_values_shared_by_traces_merge(self, tmp_path: pathlib.Path) -> None:
        lines = []
        for n, trace in enumerate(["a" * 32, "b" * 32, "c" * 32]):
            for at, extra in ((0, {"request_id": "r1" if n < 2 else "r2"}), (5, {})):
                lines.append(
                    orjson.dumps(
                        {
                            "timestamp": f"2026-11-25T07:40:{10 * n + at:02d}.000000Z",
                            "level": "error" if n == 1 and at else "info",
                            "logger": "x",
                            "message": f"m{n}",
                            "trace_id": trace,
                            **extra,
                        }
                    )
                )
        path = tmp_path / "a.log"
        path.write_bytes(b"\n".join(lines) + b"\n")
        from tracelog._cli.reader import Skipped
        from tracelog._cli.traces import collect

        rows = {
            r.trace_id: r for r in collect([str(path)], Skipped(), group_by="request_id").rows()
        }
        assert {"r1", "r2"} == set(rows)
        assert (2, 4, True, 15.0) == (
            rows["r1"].traces,
            rows["r1"].lines,
            rows["r1"].error,
            rows["r1"].duration,
        )
        assert (1, 2, False) == (rows["r2"].traces, rows["r2"].lines, rows["r2"].error)
