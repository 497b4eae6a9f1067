"""tracelog.testing: capture() and the tracelog_events pytest fixture."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracelog
from _lines import Lines
from tracelog.testing import CapturedEvents, capture

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class TestCapture:
    def test_both_entry_points_with_their_trace_ids(self) -> None:
        with capture() as events:
            with tracelog.trace(TRACE_ID, user=7):
                tracelog.get_logger("native").info("paid", order=1)
                logging.getLogger("legacy").warning("slow %s", "call", extra={"ms": 900})
            tracelog.get_logger("native").debug("outside")
        assert ["paid", "slow call", "outside"] == events.messages
        paid, slow, outside = events
        assert (TRACE_ID, 7, 1, "native", "info") == (
            paid["trace_id"],
            paid["user"],
            paid["order"],
            paid["logger"],
            paid["level"],
        )
        assert (TRACE_ID, 900, "legacy", "warning") == (
            slow["trace_id"],
            slow["ms"],
            slow["logger"],
            slow["level"],
        )
        assert "trace_id" not in outside
        assert [paid, slow] == events.for_trace(TRACE_ID)
        assert [slow] == events.find(ms=900)

    def test_events_are_canonical_and_redacted(self) -> None:
        with capture() as events:
            tracelog.get_logger("t").info("m", password="p")
        (event,) = events
        assert ["timestamp", "level", "logger", "message", "password"] == list(event)
        assert "[REDACTED]" == event["password"]

    def test_uses_the_configured_service_and_processors(self) -> None:
        def tag(logger: object, method_name: str, event_dict: dict[str, object]) -> object:
            event_dict["tagged"] = True
            return event_dict

        lines = Lines(service="shop", processors=[tag], schema="ecs")
        with capture() as events:
            tracelog.get_logger("t").info("m")
        (event,) = events
        assert ("shop", True) == (event["service"], event["tagged"])
        assert "level" in event, "captured events are canonical, whatever the schema"
        assert [] == lines()

    def test_the_previous_setup_comes_back(self) -> None:
        lines = Lines()
        with capture():
            tracelog.get_logger("t").info("captured")
            logging.getLogger("lib").info("captured")
        tracelog.get_logger("t").info("written")
        logging.getLogger("lib").info("written")
        assert ["written", "written"] == [line["message"] for line in lines()]

    def test_without_configure(self) -> None:
        root = logging.getLogger()
        before = (list(root.handlers), root.level)
        with capture() as events:
            logging.getLogger("lib").info("stdlib without configure")
        assert ["stdlib without configure"] == events.messages
        assert before == (list(root.handlers), root.level)

    def test_level(self) -> None:
        with capture("warning") as events:
            tracelog.get_logger("t").info("dropped")
            logging.getLogger("lib").info("dropped")
            tracelog.get_logger("t").warning("kept")
        assert ["kept"] == events.messages

    def test_stdlib_false(self) -> None:
        with capture(stdlib=False) as events:
            logging.getLogger("lib").warning("not captured")
            tracelog.get_logger("t").warning("captured")
        assert ["captured"] == events.messages

    def test_stdlib_false_after_configure(self) -> None:
        lines = Lines()
        with capture(stdlib=False) as events:
            logging.getLogger("lib").warning("logged as without capture")
            tracelog.get_logger("t").warning("captured")
        assert ["captured"] == events.messages
        assert ["logged as without capture"] == [line["message"] for line in lines()]

    def test_exceptions_are_structured(self) -> None:
        with capture() as events:
            try:
                raise KeyError("k")
            except KeyError:
                logging.getLogger("lib").exception("failed")
        assert "KeyError" == events[0]["exception"]["type"]


class TestCaptureAcrossConfigure:
    """configure() inside a capture (an app factory does it): capture goes on through it."""

    def test_events_after_configure_are_captured_and_written(self) -> None:
        with capture() as events:
            lines = Lines(service="shop")
            with tracelog.trace(TRACE_ID, user=7):
                tracelog.get_logger("native").info("paid", order=1)
                logging.getLogger("legacy").warning("slow")
        assert ["paid", "slow"] == events.messages
        assert [TRACE_ID, TRACE_ID] == [event["trace_id"] for event in events]
        assert [("shop", 7), ("shop", 7)] == [(e["service"], e["user"]) for e in events]
        written = lines()
        assert ["paid", "slow"] == [line["message"] for line in written]
        assert [TRACE_ID, TRACE_ID] == [line["trace_id"] for line in written]

    def test_captured_events_keep_their_shape(self) -> None:
        def tag(logger: object, method_name: str, event_dict: dict[str, object]) -> object:
            event_dict["tagged"] = True
            return event_dict

        with capture() as events:
            lines = Lines(processors=[tag], schema="ecs")
            tracelog.get_logger("t").info("m", password="p")
        (event,) = events
        assert ["timestamp", "level", "logger", "message", "password", "tagged"] == list(event)
        assert "[REDACTED]" == event["password"]
        assert "log.level" in lines.one(), "the output keeps its own schema"

    def test_the_capture_level_not_the_configured_one(self) -> None:
        with capture() as events:
            lines = Lines(level="info")
            tracelog.get_logger("t").debug("captured only")
            tracelog.get_logger("t").info("both")
        assert ["captured only", "both"] == events.messages
        assert ["both"] == [line["message"] for line in lines()]

    def test_stdlib_records_below_the_configured_level(self) -> None:
        with capture() as events:
            lines = Lines(level="info")
            logging.getLogger("lib").debug("captured only")
        assert ["captured only"] == events.messages
        assert [] == lines()

    def test_stdlib_false(self) -> None:
        with capture(stdlib=False) as events:
            lines = Lines()
            logging.getLogger("lib").warning("written only")
            tracelog.get_logger("t").warning("both")
        assert ["both"] == events.messages
        assert ["written only", "both"] == [line["message"] for line in lines()]

    def test_without_stdlib_capture_in_the_configuration(self) -> None:
        with capture() as events:
            lines = Lines(capture_stdlib=False)
            logging.getLogger("lib").warning("captured only")
        assert ["captured only"] == events.messages
        assert [] == lines()

    def test_the_configuration_stays_after_the_block(self) -> None:
        with capture() as events:
            lines = Lines()
        tracelog.get_logger("t").info("written")
        logging.getLogger("lib").warning("written")
        assert [] == events
        assert ["written", "written"] == [line["message"] for line in lines()]

    def test_reset_leaves_the_root_logger_as_it_was(self) -> None:
        root = logging.getLogger()
        before = (list(root.handlers), root.level)
        with capture():
            Lines()
        tracelog.reset()
        assert before == (list(root.handlers), root.level)

    def test_nested_captures(self) -> None:
        with capture() as outer:
            with capture() as inner:
                lines = Lines()
                tracelog.get_logger("t").info("inner")
            tracelog.get_logger("t").info("outer")
        assert (["inner"], ["outer"]) == (inner.messages, outer.messages)
        assert ["inner", "outer"] == [line["message"] for line in lines()]


def test_the_fixture(tracelog_events: CapturedEvents) -> None:
    with tracelog.trace(TRACE_ID):
        tracelog.get_logger("native").info("native")
        logging.getLogger("stdlib").debug("stdlib")
    assert ["native", "stdlib"] == tracelog_events.messages
    assert 2 == len(tracelog_events.for_trace(TRACE_ID))


def test_the_fixture_is_registered_as_a_plugin(tmp_path: Path) -> None:
    test_file = tmp_path / "test_uses_fixture.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import logging

            import tracelog


            def test_it(tracelog_events):
                with tracelog.trace() as ctx:
                    tracelog.get_logger("a").info("one")
                    logging.getLogger("b").warning("two")
                assert ["one", "two"] == tracelog_events.messages
                assert 2 == len(tracelog_events.for_trace(ctx.trace_id))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_fixture_after_configure(tracelog_events: CapturedEvents) -> None:
    stream = io.StringIO()
    tracelog.configure(stream=stream)
    with tracelog.trace(TRACE_ID):
        tracelog.get_logger("native").info("native")
        logging.getLogger("stdlib").warning("stdlib")
    assert ["native", "stdlib"] == tracelog_events.messages
    assert 2 == len(tracelog_events.for_trace(TRACE_ID))
    assert 2 == len(stream.getvalue().splitlines())


def test_the_fixture_resets_what_the_test_configured(tmp_path: Path) -> None:
    test_file = tmp_path / "test_configures.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import io
            import logging

            import tracelog
            from tracelog.stdlib import TracelogHandler


            def test_configures(tracelog_events):
                tracelog.configure(stream=io.StringIO())
                tracelog.get_logger("a").info("one")
                assert ["one"] == tracelog_events.messages


            def test_starts_fresh():
                assert not tracelog.config.is_configured()
                assert not [
                    h for h in logging.getLogger().handlers if isinstance(h, TracelogHandler)
                ]
            """
        )
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    result = subprocess.run(
        [*command, str(test_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.mark.parametrize("n", range(2))
def test_the_fixture_starts_empty_in_each_test(tracelog_events: CapturedEvents, n: int) -> None:
    assert [] == tracelog_events
    tracelog.get_logger("t").info("one per test", n=n)
    assert 1 == len(tracelog_events)
