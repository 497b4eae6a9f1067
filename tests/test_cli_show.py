"""``tracelog show``, ``tracelog demo`` and ``tracelog lnav-format``."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import orjson
import pytest

from tracelog._cli.records import recognise
from tracelog._cli.show import build_tree
from tracelog.cli import main

DATA = pathlib.Path(__file__).parent / "data" / "cli"
DEMO = [str(DATA / "demo" / "shop.log"), str(DATA / "demo" / "payments.log")]


def failed_trace() -> str:
    for raw in (DATA / "demo" / "payments.log").read_bytes().splitlines():
        if orjson.loads(raw)["level"] == "error":
            return str(orjson.loads(raw)["trace_id"])
    raise AssertionError("no failed trace in the sample")


def event(
    span: str, parent: str | None, at: float, message: str, **fields: object
) -> dict[str, object]:
    out: dict[str, object] = {"time": at, "msg": message, "trace_id": "t" * 32, "span_id": span}
    if parent:
        out["parent_span_id"] = parent
    return {**out, **fields}


class TestShow:
    def test_merges_services_into_one_span_tree(self, capsys: pytest.CaptureFixture[str]) -> None:
        trace_id = failed_trace()
        assert 0 == main(["show", trace_id[:6], *DEMO])
        out = capsys.readouterr().out
        tree = out.split("\n\n")[1].splitlines()
        labels = [re.split(r"\s{2,}", row.strip())[0] for row in tree[1:]]
        assert "GET /checkout" == labels[0]
        assert "├─ reserve stock" == labels[1]
        assert "└─ call payments" == labels[2]
        assert labels[3].startswith("└─ call to payments (span ")
        assert "└─ POST /charge" == labels[4]
        assert tree[5].startswith("      └─ POST /charge")
        assert "payments" in tree[5]
        assert "charge card" in tree[7]
        assert "✗ 1 error" in tree[7]
        assert "█" in tree[7]
        assert "slowest step: charge card (payments)" in out
        assert "failed: in payments payments.api: charge failed" in out
        assert "CardDeclined: card ending 4242 declined for order 1005" in out
        lines = out.split("\nlines\n")[1].splitlines()
        assert 12 == len([row for row in lines if row.strip().startswith("+")])
        assert "checkout started" in lines[0]

    def test_lines_are_in_time_order_across_files(self, capsys: pytest.CaptureFixture[str]) -> None:
        main(["show", failed_trace(), DEMO[1], DEMO[0]])
        rows = capsys.readouterr().out.split("\nlines\n")[1].splitlines()
        offsets = [
            float(row.split()[0][1:]) * (1 if row.split()[1] == "ms" else 1000)
            for row in rows
            if row.strip().startswith("+")
        ]
        assert sorted(offsets) == offsets

    def test_unknown_and_ambiguous_ids(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert 1 == main(["show", "ffffffffffff", *DEMO])
        assert "no line of trace" in capsys.readouterr().err
        ids = [
            orjson.loads(r).get("trace_id") or ""
            for r in pathlib.Path(DEMO[0]).read_bytes().splitlines()
        ]
        shared = next(c for c in "0123456789abcdef" if len({i for i in ids if i.startswith(c)}) > 1)
        assert 1 == main(["show", shared, *DEMO])
        assert "give more digits" in capsys.readouterr().err
        assert 2 == main(["show", " ", *DEMO])
        assert "give a trace id" in capsys.readouterr().err

    def test_tree_from_parent_ids(self) -> None:
        records = [
            recognise(event("r", None, 100.0, "request")),
            recognise(event("a", "r", 100.1, "step a starts")),
            recognise(event("a", "r", 100.4, "step a ends")),
            recognise(event("b", "a", 100.2, "inner", duration_ms=50)),
            recognise(event("c", "missing", 100.3, "orphan")),
            recognise(event("r", None, 100.5, "done", level="error")),
        ]
        (root,) = build_tree(records)
        assert "r" == root.id
        assert (100.0, 100.5) == (root.start, root.end)
        (step,) = root.children
        assert ["b", "missing"] == [child.id for child in step.children]
        assert step.children[0].start == pytest.approx(100.15)  # took 50 ms, logged at the end
        # the parent that logged nothing is a placeholder, hung under the span running then
        placeholder = step.children[1]
        assert placeholder.records == []
        assert ["c"] == [c.id for c in placeholder.children]
        assert 1 == len(root.errors)

    def test_ecs_event_duration_extends_a_span(self) -> None:
        records = [recognise(event("r", None, 10.0, "GET /", event={"duration": 250_000_000}))]
        (root,) = build_tree(records)
        assert 0.25 == pytest.approx(root.duration)

    def test_cycles_in_parent_ids_do_not_hang(self) -> None:
        records = [
            recognise(event("a", "b", 1.0, "x")),
            recognise(event("b", "a", 2.0, "y")),
            recognise(event("c", "c", 3.0, "z")),
        ]
        roots = build_tree(records)
        assert {"a", "b", "c"} >= {root.id for root in roots}


class TestDemo:
    def test_runs_two_services_and_shows_the_failing_trace(self, tmp_path: pathlib.Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
        env["NO_COLOR"] = "1"
        result = subprocess.run(
            [sys.executable, "-m", "tracelog", "demo", "--dir", str(tmp_path)],
            capture_output=True,
            timeout=120,
            env=env,
        )
        out = result.stdout.decode()
        assert 0 == result.returncode, result.stderr.decode()
        assert "GET /checkout?order=1005 -> 402" in out
        assert 7 == out.count("-> 200")
        shop = (tmp_path / "shop.log").read_bytes().splitlines()
        payments = (tmp_path / "payments.log").read_bytes().splitlines()
        shop_traces = {orjson.loads(r).get("trace_id") for r in shop} - {None}
        payment_traces = {orjson.loads(r).get("trace_id") for r in payments} - {None}
        assert 8 == len(shop_traces)
        assert shop_traces == payment_traces
        loggers = {orjson.loads(r)["logger"] for r in shop + payments}
        assert {"shop.inventory", "payments.fraud", "shop.checkout", "payments.api"} <= loggers
        assert "$ tracelog traces" in out
        assert "$ tracelog show" in out
        assert 1 == out.count("error !")
        assert "FAILED" in out
        assert "└─ charge card" in out
        assert "✗ 1 error" in out
        assert "CardDeclined: card ending 4242 declined for order 1005" in out


class TestLnavFormat:
    def test_is_valid_json_with_the_columns(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert 0 == main(["lnav-format"])
        definition = json.loads(capsys.readouterr().out)["tracelog_log"]
        assert "timestamp" == definition["timestamp-field"]
        assert "level" == definition["level-field"]
        assert "trace_id" == definition["opid-field"]

    @pytest.mark.skipif(shutil.which("lnav") is None, reason="lnav is not installed")
    def test_lnav_reads_tracelog_lines(self, tmp_path: pathlib.Path) -> None:
        home = tmp_path / "home"
        home.mkdir()
        fmt = tmp_path / "tracelog.json"
        fmt.write_text(
            subprocess.run(
                [sys.executable, "-m", "tracelog", "lnav-format"],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        env = {**os.environ, "HOME": str(home), "TERM": "dumb"}
        subprocess.run(
            ["lnav", "-i", str(fmt)], env=env, check=True, capture_output=True, timeout=60
        )
        query = (
            ";SELECT log_level, trace_id, service, log_body FROM tracelog_log"
            " WHERE log_level = 'error'"
        )
        result = subprocess.run(
            ["lnav", "-n", "-c", query, *DEMO], env=env, capture_output=True, text=True, timeout=60
        )
        assert 0 == result.returncode, result.stderr
        rows = [row.split() for row in result.stdout.splitlines()[1:] if row.strip()]
        assert 2 == len(rows), result.stdout
        assert {failed_trace()} == {row[1] for row in rows}
        assert {"shop", "payments"} == {row[2] for row in rows}
