"""The structlog entry point: tracelog.get_logger() and structlog.get_logger() after configure()."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import re
from decimal import Decimal
from typing import Any

import orjson
import pytest
import structlog

import tracelog
from _lines import Lines
from tracelog import BoundLogger

TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
UTC = dt.timezone.utc


def fail_with_cause() -> None:
    try:
        {}["card"]
    except KeyError as error:
        raise ValueError("declined") from error


def fail_with_context() -> None:
    try:
        1 / 0
    except ZeroDivisionError:
        raise RuntimeError("while handling")


class TestDefaultLine:
    def test_key_order(self) -> None:
        lines = Lines(service="shop")
        log = tracelog.get_logger("shop.orders").bind(cart=3)
        with tracelog.trace(TRACE_ID, user=7), tracelog.span("charge"):
            log.info("order placed", order_id=17, amount=9.5)
        line = lines.one()
        assert [
            "timestamp",
            "level",
            "logger",
            "message",
            "trace_id",
            "span_id",
            "parent_span_id",
            "span_name",
            "service",
            "user",
            "cart",
            "order_id",
            "amount",
        ] == list(line)
        assert "info" == line["level"]
        assert "shop.orders" == line["logger"]
        assert "order placed" == line["message"]
        assert TRACE_ID == line["trace_id"]
        assert "shop" == line["service"]
        assert (7, 3, 17, 9.5) == (line["user"], line["cart"], line["order_id"], line["amount"])

    def test_key_order_without_a_trace(self) -> None:
        lines = Lines(service="shop")
        tracelog.get_logger("shop").info("hello", a=1)
        assert ["timestamp", "level", "logger", "message", "service", "a"] == list(lines.one())

    def test_one_line_per_call_ending_in_a_newline(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        log.info("one")
        log.info("two")
        raw = lines.raw()
        assert 2 == len(raw)
        assert all(line.endswith(b"}\n") for line in raw)

    def test_timestamp_is_rfc3339_utc_with_microseconds(self) -> None:
        lines = Lines()
        before = dt.datetime.now(dt.timezone.utc)
        tracelog.get_logger("t").info("now")
        after = dt.datetime.now(dt.timezone.utc)
        stamp = lines.one()["timestamp"]
        assert TIMESTAMP_RE.fullmatch(stamp), stamp
        parsed = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=dt.timezone.utc
        )
        assert before <= parsed <= after

    @pytest.mark.parametrize(
        ("method", "level"),
        [
            ("debug", "debug"),
            ("info", "info"),
            ("msg", "info"),
            ("warning", "warning"),
            ("warn", "warning"),
            ("error", "error"),
            ("critical", "critical"),
            ("fatal", "critical"),
        ],
    )
    def test_levels_are_lowercase(self, method: str, level: str) -> None:
        lines = Lines(level="debug")
        getattr(tracelog.get_logger("t"), method)("x")
        assert level == lines.one()["level"]

    def test_log_by_level_number_or_name(self) -> None:
        lines = Lines(level="debug")
        log = tracelog.get_logger("t")
        log.log(logging.WARNING, "by number")
        log.log("error", "by name")
        assert ["warning", "error"] == [line["level"] for line in lines()]

    def test_get_logger_without_a_name_uses_the_callers_module(self) -> None:
        lines = Lines()
        tracelog.get_logger().info("x")
        assert __name__ == lines.one()["logger"]

    def test_initial_values(self) -> None:
        lines = Lines()
        tracelog.get_logger("t", component="db").info("x")
        assert "db" == lines.one()["component"]

    def test_is_a_structlog_bound_logger(self) -> None:
        log = tracelog.get_logger("t")
        assert isinstance(log, structlog.BoundLoggerBase)
        assert isinstance(log, BoundLogger)
        assert "t" == log.name

    @pytest.mark.parametrize(
        "fields",
        [
            {"form": {"name": "ann", "password": "hunter2"}},  # a nested secret: rendered again
            {"price": Decimal("9.50")},  # a value orjson needs help with
            {"form": {"password": "x"}, "price": Decimal("1")},
        ],
        ids=["nested-secret", "needs-help", "both"],
    )
    @pytest.mark.parametrize("nonblocking", [False, True])
    def test_a_line_rendered_again_keeps_its_time_zone(
        self, fields: dict[str, Any], nonblocking: bool
    ) -> None:
        out = io.BytesIO()
        tracelog.configure(stream=out, nonblocking=nonblocking)
        with tracelog.trace(TRACE_ID):
            tracelog.get_logger("x").info("m", **fields)
        tracelog.flush()
        line = orjson.loads(out.getvalue())
        assert TIMESTAMP_RE.fullmatch(line["timestamp"]), line["timestamp"]
        assert "[REDACTED]" == line.get("form", {}).get("password", "[REDACTED]")


class TestBoundLogger:
    def test_bind_new_unbind_try_unbind(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        bound = log.bind(a=1, b=2)
        bound.info("bound")
        bound.unbind("a").info("unbound")
        bound.try_unbind("a", "missing").info("try_unbound")
        bound.new(c=3).info("new")
        log.info("original")
        with pytest.raises(KeyError):
            bound.unbind("missing")
        got = lines()
        assert {"a": 1, "b": 2} == {k: got[0][k] for k in ("a", "b")}
        assert "a" not in got[1] and 2 == got[1]["b"]
        assert "a" not in got[2] and 2 == got[2]["b"]
        assert 3 == got[3]["c"] and "b" not in got[3]
        assert set() == {"a", "b", "c"} & set(got[4])

    def test_call_fields_win_over_bound_fields(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").bind(a=1).info("x", a=2)
        assert 2 == lines.one()["a"]

    def test_is_enabled_for(self) -> None:
        Lines(level="warning")
        log = tracelog.get_logger("t")
        assert not log.is_enabled_for(logging.INFO)
        assert log.isEnabledFor(logging.ERROR)


class TestLevels:
    def test_below_the_level_is_dropped(self) -> None:
        lines = Lines(level="warning")
        log = tracelog.get_logger("t")
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.log(logging.INFO, "by number")
        assert ["w", "e"] == [line["message"] for line in lines()]

    def test_a_logger_made_before_configure_follows_it(self) -> None:
        log = tracelog.get_logger("early")
        bound = log.bind(a=1)
        first = Lines(level="error")
        log.warning("dropped")
        bound.error("kept")
        assert ["kept"] == [line["message"] for line in first()]
        second = Lines(level="debug", service="svc")
        log.debug("now kept")
        bound.info("bound kept")
        got = second()
        assert ["now kept", "bound kept"] == [line["message"] for line in got]
        assert ["svc", "svc"] == [line["service"] for line in got]
        assert 1 == len(first())

    def test_numeric_level(self) -> None:
        lines = Lines(level=logging.ERROR)
        log = tracelog.get_logger("t")
        log.warning("w")
        log.critical("c")
        assert ["c"] == [line["message"] for line in lines()]


class TestStructlogGetLogger:
    def test_goes_through_tracelogs_pipeline(self) -> None:
        lines = Lines(service="shop")
        with tracelog.trace(TRACE_ID):
            structlog.get_logger("lib.part").bind(a=1).info("from structlog", b=2)
        line = lines.one()
        assert ["timestamp", "level", "logger", "message"] == list(line)[:4]
        assert "lib.part" == line["logger"]
        assert TRACE_ID == line["trace_id"]
        assert ("shop", 1, 2) == (line["service"], line["a"], line["b"])

    def test_unnamed_structlog_logger_uses_the_callers_module(self) -> None:
        lines = Lines()
        structlog.get_logger().info("x")
        assert __name__ == lines.one()["logger"]

    def test_a_wrapped_logger_without_a_name(self) -> None:
        lines = Lines()
        structlog.wrap_logger(object(), wrapper_class=BoundLogger).info("nameless", a=1)
        line = lines.one()
        assert (None, "nameless", 1) == (line["logger"], line["message"], line["a"])
        assert "logging_error" not in line

    def test_follows_the_level(self) -> None:
        lines = Lines(level="warning")
        log = structlog.get_logger("lib")
        log.info("dropped")
        log.warning("kept")
        assert ["kept"] == [line["message"] for line in lines()]


class TestExceptions:
    def test_log_exception_is_one_structured_value(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        with tracelog.trace(TRACE_ID):
            try:
                fail_with_cause()
            except ValueError:
                log.exception("payment failed", order=7)
        (raw,) = lines.raw()
        assert 1 == raw.count(b"\n")
        line = orjson.loads(raw)
        assert "error" == line["level"]
        assert TRACE_ID == line["trace_id"]
        assert 7 == line["order"]
        exc = line["exception"]
        assert "ValueError" == exc["type"]
        assert "declined" == exc["message"]
        assert "fail_with_cause" == exc["frames"][-1]["function"]
        for frame in exc["frames"]:
            assert {"file", "line", "function"} == set(frame)
            assert isinstance(frame["line"], int)
        assert "KeyError" == exc["cause"]["type"]
        assert "'card'" == exc["cause"]["message"]
        assert exc["cause"]["frames"]
        assert "exc_info" not in line

    def test_implicit_context(self) -> None:
        lines = Lines()
        try:
            fail_with_context()
        except RuntimeError:
            tracelog.get_logger("t").exception("failed")
        exc = lines.one()["exception"]
        assert "RuntimeError" == exc["type"]
        assert "ZeroDivisionError" == exc["context"]["type"]
        assert "cause" not in exc

    def test_exc_info_true(self) -> None:
        lines = Lines()
        try:
            raise KeyError("k")
        except KeyError:
            tracelog.get_logger("t").warning("handled", exc_info=True)
        line = lines.one()
        assert "warning" == line["level"]
        assert "KeyError" == line["exception"]["type"]

    def test_exc_info_exception_instance_and_tuple(self) -> None:
        lines = Lines()
        try:
            raise OSError("disk")
        except OSError as error:
            caught = error
            import sys

            info = sys.exc_info()
        log = tracelog.get_logger("t")
        log.error("instance", exc_info=caught)
        log.error("tuple", exc_info=info)
        assert ["OSError", "OSError"] == [line["exception"]["type"] for line in lines()]

    def test_exc_info_true_without_an_exception(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").error("nothing to show", exc_info=True)
        line = lines.one()
        assert "exception" not in line
        assert "exc_info" not in line

    def test_exception_groups(self) -> None:
        lines = Lines()
        try:
            raise ExceptionGroup("many", [ValueError("a"), TypeError("b")])  # noqa: F821
        except ExceptionGroup:  # noqa: F821
            tracelog.get_logger("t").exception("group")
        exc = lines.one()["exception"]
        assert "ExceptionGroup" == exc["type"]
        assert ["ValueError", "TypeError"] == [e["type"] for e in exc["exceptions"]]

    def test_console_of_a_json_exception_is_never_multiline(self) -> None:
        lines = Lines()
        try:
            raise ValueError("line one\nline two")
        except ValueError:
            tracelog.get_logger("t").exception("multi\nline")
        (raw,) = lines.raw()
        assert 1 == raw.count(b"\n")
        assert "line one\nline two" == orjson.loads(raw)["exception"]["message"]


class TestPositionalArgs:
    def test_percent_formatting(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("user %s paid %d", "ann", 7, order=1)
        line = lines.one()
        assert "user ann paid 7" == line["message"]
        assert 1 == line["order"]

    def test_a_mismatched_format_never_raises(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("needs %d and %s", "only one")
        message = lines.one()["message"]
        assert "needs %d and %s" in message
        assert "only one" in message

    def test_no_args_keeps_percent_signs(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("100% done")
        assert "100% done" == lines.one()["message"]


class TestAsyncMethods:
    def test_ainfo_stack_info_is_the_callers_stack(self) -> None:
        lines = Lines()

        async def place_order() -> None:
            await tracelog.get_logger("t").ainfo("where", stack_info=True)

        asyncio.run(place_order())
        stack = lines.one()["stack"]
        assert stack.startswith("Stack (most recent call last):")
        assert "in place_order" in stack
        assert "concurrent" not in stack  # not the executor thread's

    def test_ainfo_keeps_the_context(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")

        async def main() -> str | None:
            with tracelog.trace(user=7) as ctx:
                tracelog.bind(step=1)
                await log.ainfo("async", n=1)
                await log.awarning("async %s", "args")
                try:
                    raise KeyError("k")
                except KeyError:
                    await log.aexception("async failure")
                return ctx.trace_id

        trace_id = asyncio.run(main())
        got = lines()
        assert ["async", "async args", "async failure"] == [line["message"] for line in got]
        assert ["info", "warning", "error"] == [line["level"] for line in got]
        for line in got:
            assert trace_id == line["trace_id"]
            assert (7, 1) == (line["user"], line["step"])
        assert "KeyError" == got[2]["exception"]["type"]

    def test_aexception_with_exc_info_false(self) -> None:
        lines = Lines()

        async def main() -> None:
            try:
                raise KeyError("k")
            except KeyError:
                await tracelog.get_logger("t").aerror("no traceback", exc_info=False)

        asyncio.run(main())
        assert "exception" not in lines.one()

    def test_async_below_the_level_is_dropped(self) -> None:
        lines = Lines(level="warning")
        asyncio.run(tracelog.get_logger("t").ainfo("dropped"))
        assert [] == lines()


class TestNeverRaises:
    def test_a_closed_stream(self) -> None:
        out = io.BytesIO()
        tracelog.configure(stream=out)
        out.close()
        tracelog.get_logger("t").info("into a closed stream")

    def test_an_unrenderable_message(self) -> None:
        class Bad:
            def __str__(self) -> str:
                raise RuntimeError("no str")

            def __repr__(self) -> str:
                raise RuntimeError("no repr")

        lines = Lines()
        tracelog.get_logger("t").info(Bad())
        tracelog.get_logger("t").info(Bad(), Bad())
        got: list[dict[str, Any]] = lines()
        assert 2 == len(got)
        assert all("Bad" in line["message"] for line in got)
