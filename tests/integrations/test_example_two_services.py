"""examples/two_services: service A calls service B over HTTP; both log one trace id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _servers import env

RUN = Path(__file__).parents[2] / "examples" / "two_services" / "run.py"


def test_one_trace_across_both_services() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN)], env=env(), capture_output=True, text=True, timeout=120
    )
    assert 0 == done.returncode, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert 1 == len({line["trace_id"] for line in lines})
    assert {"orders", "pricing"} == {line["service"] for line in lines}
    assert {"order-1"} == {line["request_id"] for line in lines}
    a_spans = {line["span_id"] for line in lines if line["service"] == "orders"}
    b_lines = [line for line in lines if line["service"] == "pricing"]
    assert {line["parent_span_id"] for line in b_lines}.isdisjoint(
        a_spans
    )  # the call's own child span
    assert 2 == len([line for line in lines if line["logger"] == "tracelog.access"])


WITHOUT_UVICORN = (
    "import importlib.util, runpy, sys\n"
    "find = importlib.util.find_spec\n"
    "importlib.util.find_spec = lambda name, *a: None if name == 'uvicorn' else find(name, *a)\n"
    "sys.argv = [sys.argv[1]]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def test_missing_extras_are_named_before_anything_starts() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_UVICORN, str(RUN)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 2 == done.returncode
    assert "needs uvicorn" in done.stderr
    assert "tracelog-json[examples]" in done.stderr
