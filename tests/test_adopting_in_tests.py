"""Test suites written with pytest's caplog or structlog's capture_logs keep working after
tracelog.configure() in the code under test."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from structlog.testing import capture_logs

import tracelog
from tracelog.stdlib import keep_on_root


def configure_app() -> io.StringIO:
    """What the code under test does at start-up."""
    out = io.StringIO()
    tracelog.configure(service="shop", stream=out)
    return out


class TestCaplog:
    def test_records_after_configure(self, caplog: pytest.LogCaptureFixture) -> None:
        out = configure_app()
        logging.getLogger("shop").warning("low stock", extra={"sku": "a-1"})
        assert ["low stock"] == caplog.messages
        assert "a-1" == caplog.records[0].sku
        assert "low stock" == json.loads(out.getvalue())["message"]  # tracelog still writes

    def test_set_level_after_configure(self, caplog: pytest.LogCaptureFixture) -> None:
        configure_app()
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("shop").debug("details")
        assert ["details"] == caplog.messages

    def test_records_inside_a_trace_carry_nothing_new(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        configure_app()
        with tracelog.trace():
            logging.getLogger("shop").info("inside")
        assert ["inside"] == caplog.messages

    def test_reset_does_not_bring_back_old_capture_handlers(self) -> None:
        configure_app()
        tracelog.reset()
        root = logging.getLogger()
        assert len(root.handlers) == len(set(map(id, root.handlers)))

    def test_a_marked_handler_stays(self) -> None:
        seen: list[str] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                seen.append(record.getMessage())

        handler = keep_on_root(Collect())
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            configure_app()
            logging.getLogger("shop").warning("to both")
            assert handler in root.handlers
        finally:
            root.removeHandler(handler)
        assert ["to both"] == seen

    def test_an_unmarked_handler_still_goes(self) -> None:
        handler = logging.StreamHandler(io.StringIO())
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            configure_app()
            assert handler not in root.handlers
            tracelog.reset()
            assert handler in root.handlers  # given back
        finally:
            root.removeHandler(handler)


class TestCaptureLogs:
    def test_tracelog_and_structlog_loggers(self) -> None:
        configure_app()
        with capture_logs() as logs:
            tracelog.get_logger("shop").info("paid", order=7)
            structlog.get_logger("shop").bind(user=3).warning("slow")
        assert [
            {"event": "paid", "order": 7, "log_level": "info"},
            {"event": "slow", "user": 3, "log_level": "warning"},
        ] == logs

    def test_exception_and_positional_args(self) -> None:
        configure_app()
        log = tracelog.get_logger("shop")
        with capture_logs() as logs:
            log.info("item %s of %d", "a", 2)
            try:
                raise KeyError("x")
            except KeyError:
                log.exception("failed")
        assert [
            {"event": "item a of 2", "log_level": "info"},
            {"event": "failed", "exc_info": True, "log_level": "error"},
        ] == logs

    def test_with_processors(self) -> None:
        configure_app()
        with capture_logs(processors=[structlog.processors.add_log_level]) as logs:
            tracelog.get_logger("shop").error("down")
        assert [{"event": "down", "level": "error", "log_level": "error"}] == logs

    def test_lines_are_written_again_after(self) -> None:
        out = configure_app()
        log = tracelog.get_logger("shop")
        with capture_logs() as logs:
            log.info("captured")
        log.info("written")
        assert ["captured"] == [e["event"] for e in logs]
        assert ["written"] == [json.loads(line)["message"] for line in out.getvalue().splitlines()]

    def test_stdlib_records_still_go_to_tracelog(self) -> None:
        out = configure_app()
        with capture_logs() as logs:
            logging.getLogger("shop").warning("stdlib")
        assert [] == logs
        assert "stdlib" == json.loads(out.getvalue())["message"]

    def test_levels_below_the_configured_one_stay_filtered(self) -> None:
        configure_app()
        with capture_logs() as logs:
            tracelog.get_logger("shop").debug("hidden")
        assert [] == logs
