"""Every scalar configure() option from its TRACELOG_* variable; the docs' table lists them all."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

import tracelog
from tracelog import pipeline
from tracelog._environment import VARIABLES
from tracelog.integrations.asgi import TraceMiddleware

DOCS = Path(__file__).parents[1] / "docs" / "configuration.md"


def _settings(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Any:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    tracelog.configure(stream=io.StringIO())
    return pipeline.active().settings


class TestVariables:
    def test_static(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_STATIC", "env=prod, region=eu,")
        out = io.StringIO()
        tracelog.configure(stream=out)
        tracelog.get_logger("x").info("hi")
        line = json.loads(out.getvalue())
        assert ("prod", "eu") == (line["env"], line["region"])

    def test_static_argument_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_STATIC", "env=prod")
        out = io.StringIO()
        tracelog.configure(stream=out, static={"env": "dev"})
        tracelog.get_logger("x").info("hi")
        assert "dev" == json.loads(out.getvalue())["env"]

    def test_static_needs_pairs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_STATIC", "env")
        with pytest.raises(tracelog.ConfigurationError, match="TRACELOG_STATIC"):
            tracelog.configure(stream=io.StringIO())

    def test_redact(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_REDACT", "iban,bic")
        out = io.StringIO()
        tracelog.configure(stream=out)
        tracelog.get_logger("x").info("paid", iban="DE89", bic="X", password="p")
        line = json.loads(out.getvalue())
        assert ["[REDACTED]"] * 3 == [line["iban"], line["bic"], line["password"]]

    def test_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        path = tmp_path / "app.jsonl"
        monkeypatch.setenv("TRACELOG_FILE", str(path))
        tracelog.configure()
        tracelog.get_logger("x").info("to the file")
        tracelog.flush()
        assert "to the file" == json.loads(path.read_text())["message"]

    def test_a_stream_argument_wins_over_the_file(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("TRACELOG_FILE", str(tmp_path / "app.jsonl"))
        out = io.StringIO()
        tracelog.configure(stream=out)
        tracelog.get_logger("x").info("to the stream")
        assert out.getvalue() and not (tmp_path / "app.jsonl").exists()

    @pytest.mark.parametrize(("value", "expected"), [("true", True), ("0", False), ("ON", True)])
    def test_nonblocking(self, monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
        assert expected is _settings(monkeypatch, TRACELOG_NONBLOCKING=value).nonblocking

    def test_nonblocking_argument_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_NONBLOCKING", "true")
        tracelog.configure(stream=io.StringIO(), nonblocking=False)
        assert pipeline.active().settings.nonblocking is False

    def test_queue_size_and_overflow(self, monkeypatch: pytest.MonkeyPatch) -> None:
        settings = _settings(monkeypatch, TRACELOG_QUEUE_SIZE="500", TRACELOG_OVERFLOW="Block")
        assert (500, "block") == (settings.queue_size, settings.overflow)

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("TRACELOG_QUEUE_SIZE", "0"),
            ("TRACELOG_QUEUE_SIZE", "many"),
            ("TRACELOG_OVERFLOW", "wait"),
            ("TRACELOG_NONBLOCKING", "maybe"),
            ("TRACELOG_SAMPLING", "2"),
        ],
    )
    def test_bad_values_name_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
    ) -> None:
        monkeypatch.setenv(variable, value)
        with pytest.raises(tracelog.ConfigurationError, match=variable):
            tracelog.configure(stream=io.StringIO())

    def test_buffer(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_BUFFER", "1")
        out = io.StringIO()
        tracelog.configure(stream=out)
        log = tracelog.get_logger("x")
        with tracelog.trace():
            log.debug("held")
        with tracelog.trace():
            log.debug("written with the failure")
            log.error("failed")
        assert ["written with the failure", "failed"] == [
            json.loads(line)["message"] for line in out.getvalue().splitlines()
        ]

    def test_sampling(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert 0.25 == _settings(monkeypatch, TRACELOG_SAMPLING="0.25").sampling.rate

    def test_switches(self, monkeypatch: pytest.MonkeyPatch) -> None:
        settings = _settings(
            monkeypatch,
            TRACELOG_CAPTURE_STDLIB="false",
            TRACELOG_CAPTURE_WARNINGS="no",
            TRACELOG_OTEL="off",
        )
        assert (False, False, False) == (
            settings.capture_stdlib,
            settings.capture_warnings,
            settings.otel,
        )
        assert not any(type(h).__name__ == "TracelogHandler" for h in logging.getLogger().handlers)

    def test_empty_is_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        settings = _settings(monkeypatch, TRACELOG_QUEUE_SIZE="", TRACELOG_NONBLOCKING=" ")
        assert (10_000, False) == (settings.queue_size, settings.nonblocking)

    def test_access_exclusions(self, monkeypatch: pytest.MonkeyPatch, tracelog_events: Any) -> None:
        monkeypatch.setenv("TRACELOG_ACCESS_EXCLUDE", "/healthz")
        monkeypatch.setenv("TRACELOG_ACCESS_SAMPLE", "1")
        middleware = TraceMiddleware(_ok)
        assert ("/healthz",) == middleware._access.exclude_paths
        assert 1.0 == middleware._access.sample


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class TestTheTable:
    def test_every_variable_is_in_the_docs_table(self) -> None:
        documented = set(re.findall(r"^\| `(TRACELOG_[A-Z_]+)`", DOCS.read_text(), re.M))
        assert set(VARIABLES) <= documented
        assert {"TRACELOG_ACCESS_EXCLUDE", "TRACELOG_ACCESS_SAMPLE"} <= documented

    def test_every_scalar_option_has_a_variable(self) -> None:
        import inspect

        parameters = inspect.signature(tracelog.configure).parameters
        scalar = {
            name
            for name, p in parameters.items()
            if p.annotation in ("bool | None", "int | None", "str | None", "int | str | None")
        }
        assert 10 <= len(scalar)
        assert scalar <= {option for option, _ in VARIABLES.values()}
