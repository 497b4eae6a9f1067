"""Trace-aware buffering, sampling and rate limiting (tracelog.buffering)."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import sys
import textwrap
import threading
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracelog
from tracelog import _ratelimit, buffering, context
from tracelog import pipeline as _pipeline
from tracelog.stdlib import JsonFormatter


class Output(io.BytesIO):
    """A binary stream whose lines parse back to dicts."""

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.getvalue().splitlines()]

    def messages(self) -> list[Any]:
        return [line.get("message") for line in self.lines()]


@pytest.fixture
def out() -> Output:
    return Output()


@pytest.fixture
def log() -> Any:
    return tracelog.get_logger("shop")


def setup(out: Output, **options: Any) -> None:
    tracelog.configure(level=options.pop("level", "INFO"), stream=out, **options)


class TestTraceBuffer:
    def test_clean_trace_discards_held_lines(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace():
            log.debug("cart loaded", items=3)
            log.info("order placed")
        assert ["order placed"] == out.messages()
        assert 1 == buffering.stats()["discarded"]
        assert 0 == buffering.stats()["held"]

    def test_error_writes_held_lines_first_in_order_marked(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace() as ctx:
            log.debug("one")
            log.info("placed")
            log.debug("two")
            log.error("payment failed")
        lines = out.lines()
        assert ["placed", "one", "two", "payment failed"] == [x["message"] for x in lines]
        assert [None, True, True, None] == [x.get("buffered") for x in lines]
        assert {ctx.trace_id} == {x["trace_id"] for x in lines}
        assert 2 == buffering.stats()["flushed"]

    def test_stdlib_records_are_held_and_flushed(self, out: Output) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        std = logging.getLogger("legacy")
        with tracelog.trace() as ctx:
            std.debug("query %s", "select 1")
            std.log(15, "custom level")
            std.error("db down")
        lines = out.lines()
        assert ["query select 1", "custom level", "db down"] == [x["message"] for x in lines]
        assert {ctx.trace_id} == {x["trace_id"] for x in lines}
        assert [True, True, None] == [x.get("buffered") for x in lines]

    def test_levels_below_the_buffer_level_are_dropped(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer(level=15))
        with tracelog.trace():
            log.debug("too low")
            logging.getLogger("x").log(15, "held")
            log.error("boom")
        assert ["held", "boom"] == out.messages()

    def test_unhandled_exception_flushes(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())

        def handler() -> None:
            with tracelog.trace():
                log.debug("dividing")
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            handler()
        assert ["dividing"] == out.messages()
        assert True is out.lines()[0]["buffered"]

    def test_cancelled_trace_is_not_a_failure(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())

        async def handler() -> None:
            async with tracelog.trace():
                log.debug("waiting")
                await asyncio.sleep(10)

        async def main() -> None:
            task = asyncio.create_task(handler())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert [] == out.messages()

    def test_exception_in_a_span_is_not_the_end_of_the_trace(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace():
            log.debug("before")
            try:
                with tracelog.span("retry"):
                    log.debug("in span")
                    raise ConnectionError("flaky")
            except ConnectionError:
                log.info("retrying")
        assert ["retrying"] == out.messages()

    def test_mark_failed_writes_now_and_later_lines_pass(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace():
            log.debug("handling")
            buffering.mark_failed()  # what a middleware does on a 5xx
            log.debug("after the response")
        assert ["handling", "after the response"] == out.messages()
        assert [True, True] == [x["buffered"] for x in out.lines()]

    @pytest.mark.parametrize(
        ("status", "expected"), [(200, []), (404, []), (503, ["handling"]), (None, [])]
    )
    def test_finish_trace_for_middlewares(
        self, out: Output, log: Any, status: int | None, expected: list[str]
    ) -> None:
        """A middleware that sets the context itself says when the request is over."""
        setup(out, buffer=tracelog.TraceBuffer())
        token = context._current.set(context.trace().context)
        try:
            log.debug("handling")
            buffering.finish_trace(status)
        finally:
            context._current.reset(token)
        assert expected == out.messages()
        assert 0 == buffering.stats()["traces"]

    def test_finish_trace_without_a_buffer_does_nothing(self, out: Output) -> None:
        setup(out)
        with tracelog.trace():
            buffering.finish_trace(500)
            buffering.mark_failed()
        assert [] == out.messages()

    def test_lines_after_an_error_pass_straight_through(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace():
            log.error("first")
            log.debug("cleanup")
            log.error("second")
        assert ["first", "cleanup", "second"] == out.messages()

    def test_lines_outside_a_trace_are_not_held(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        log.debug("startup detail")
        log.error("startup failed")
        assert ["startup failed"] == out.messages()
        assert 0 == buffering.stats()["held"]

    def test_values_are_frozen_when_logged(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        cart = ["apple"]
        with tracelog.trace():
            log.debug("cart", items=cart)
            cart.append("pear")
            log.error("boom")
        assert ["apple"] == out.lines()[0]["items"]

    def test_secrets_are_redacted_before_holding(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace():
            log.debug("login", password="hunter2")
            log.error("boom")
        assert "[REDACTED]" == out.lines()[0]["password"]

    def test_schema_projection_applies_to_held_lines(self, out: Output, log: Any) -> None:
        setup(out, schema="ecs", buffer=tracelog.TraceBuffer())
        with tracelog.trace() as ctx:
            log.debug("detail")
            log.error("boom")
        first = out.lines()[0]
        assert "debug" == first["log.level"]
        assert ctx.trace_id == first["trace"]["id"]

    def test_console_format(self, log: Any) -> None:
        stream = io.StringIO()
        buffer = tracelog.TraceBuffer()
        tracelog.configure(level="INFO", format="console", stream=stream, buffer=buffer)
        with tracelog.trace():
            log.debug("detail shown")
            log.error("boom")
        text = stream.getvalue()
        assert text.index("detail shown") < text.index("boom")

    def test_max_per_trace_keeps_the_newest(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer(max_per_trace=3))
        with tracelog.trace():
            for i in range(10):
                log.debug("step", i=i)
            log.error("boom")
        assert [7, 8, 9, None] == [x.get("i") for x in out.lines()]
        assert 7 == buffering.stats()["dropped"]

    def test_max_total_evicts_the_earliest_trace(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer(max_total=5))
        first = tracelog.trace()
        second = tracelog.trace()
        with first:
            for i in range(3):
                log.debug("first", i=i)
            with context.detached(), second:
                for i in range(3):
                    log.debug("second", i=i)
                assert buffering.stats()["held"] <= 5
                log.error("second failed")
            log.error("first failed")
        assert ["second"] * 3 + ["second failed", "first failed"] == out.messages()
        assert 3 == buffering.stats()["dropped"]

    def test_memory_stays_within_max_total(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer(max_per_trace=50, max_total=200))
        activations = [tracelog.trace() for _ in range(40)]
        for activation in activations:
            with context.detached(), activation:
                for i in range(50):
                    log.debug("step", i=i)
                assert buffering.stats()["held"] <= 200
        assert 0 == buffering.stats()["held"]
        assert 40 * 50 == buffering.stats()["discarded"] + buffering.stats()["dropped"]

    def test_opt_out_of_one_trace(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace():
            log.debug("held then dropped")
            buffering.buffer_trace(False)
            log.debug("dropped")
            log.error("boom")
        assert ["boom"] == out.messages()

    def test_opt_in_per_trace(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer(all_traces=False))
        with tracelog.trace():
            log.debug("not held")
            log.error("plain failure")
        with tracelog.trace():
            buffering.buffer_trace()
            log.debug("held")
            log.error("watched failure")
        assert ["plain failure", "held", "watched failure"] == out.messages()

    def test_a_second_block_of_the_trace_does_not_end_it(self, out: Output, log: Any) -> None:
        """A task re-entering the trace (context.use) leaves; the request goes on."""
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace() as ctx:
            log.debug("request start")

            def background() -> None:
                with context.use(ctx):
                    log.debug("in background")

            worker = threading.Thread(target=background)
            worker.start()
            worker.join()
            log.error("request failed")
        expected = ["request start", "in background", "request failed"]
        assert expected == out.messages()

    def test_wrapped_thread_lines_belong_to_the_trace(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace() as ctx:
            worker = threading.Thread(target=tracelog.wrap(lambda: log.debug("in thread")))
            worker.start()
            worker.join()
            log.error("boom")
        lines = out.lines()
        assert ["in thread", "boom"] == [x["message"] for x in lines]
        assert {ctx.trace_id} == {x["trace_id"] for x in lines}

    def test_flush_level_never_below_the_output_level(self, out: Output, log: Any) -> None:
        setup(out, level="WARNING", buffer=tracelog.TraceBuffer(flush_level="INFO"))
        with tracelog.trace():
            log.info("held, not a trigger")
            log.warning("trigger")
        assert ["held, not a trigger", "trigger"] == out.messages()

    def test_capture_level_is_the_buffer_level(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer(level="DEBUG"))
        assert logging.DEBUG == _pipeline.active().level
        assert logging.DEBUG == logging.getLogger().level
        assert log.is_enabled_for(logging.DEBUG)

    def test_a_json_formatter_never_meets_the_gate(self, out: Output) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "formatted", (), None)
        with tracelog.trace():
            assert "formatted" == orjson.loads(JsonFormatter().format(record))["message"]

    def test_reconfiguring_lets_go_of_held_lines(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace():
            log.debug("held")
            setup(out)
            log.error("boom")
        assert ["boom"] == out.messages()
        assert () == context._enter_hooks
        assert () == context._exit_hooks

    def test_nothing_added_when_not_configured(self, out: Output) -> None:
        setup(out)
        assert not any(isinstance(p, buffering.Gate) for p in _pipeline.active().processors)
        assert logging.INFO == _pipeline.active().level
        assert () == context._enter_hooks
        assert () == context._exit_hooks

    def test_blocking_slow_stream_keeps_order(self, log: Any) -> None:
        """Held lines and the error reach an output that writes from another thread, in order."""
        writer = _ThreadedStream()
        tracelog.configure(level="INFO", stream=writer, buffer=tracelog.TraceBuffer())
        try:
            with tracelog.trace():
                for i in range(50):
                    log.debug("step", i=i)
                log.error("boom")
        finally:
            writer.close()
        lines = [orjson.loads(line) for line in writer.received.splitlines()]
        assert [*range(50), None] == [x.get("i") for x in lines]

    def test_several_outputs(self, log: Any) -> None:
        """Held lines go, in each output's layout, to the outputs that take the level."""
        plain, ecs, console, alerts = Output(), Output(), io.StringIO(), Output()
        tracelog.configure(
            level="INFO",
            outputs=[
                tracelog.outputs.Stream(plain),
                tracelog.outputs.Stream(ecs, schema="ecs"),
                tracelog.outputs.Stream(console, format="console"),
                tracelog.outputs.Stream(alerts, level="ERROR"),
            ],
            buffer=tracelog.TraceBuffer(),
        )
        with tracelog.trace():
            log.debug("detail")
            log.info("step")
            log.error("boom")
        assert ["step", "detail", "boom"] == plain.messages()
        assert [True] == [x["buffered"] for x in plain.lines() if "buffered" in x]
        assert ["info", "debug", "error"] == [x["log.level"] for x in ecs.lines()]
        text = console.getvalue()
        assert text.index("step") < text.index("detail") < text.index("boom")
        assert ["boom"] == alerts.messages()

    def test_nonblocking_output(self, out: Output, log: Any) -> None:
        setup(out, nonblocking=True, buffer=tracelog.TraceBuffer())
        with tracelog.trace() as ctx:
            for i in range(200):
                log.debug("step", i=i)
            log.error("boom")
        with tracelog.trace():
            log.debug("discarded")
        tracelog.flush()
        lines = out.lines()
        assert [*range(200), None] == [x.get("i") for x in lines]
        assert {ctx.trace_id} == {x["trace_id"] for x in lines}

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"level": "LOUD"}, "TraceBuffer level='LOUD' is not one of"),
            ({"max_per_trace": 0}, "TraceBuffer max_per_trace=0 is not a whole number"),
            ({"max_total": "many"}, "TraceBuffer max_total='many' is not a whole number"),
        ],
    )
    def test_bad_settings_say_what_is_wrong(self, options: dict[str, Any], message: str) -> None:
        with pytest.raises(tracelog.ConfigurationError, match=message):
            tracelog.TraceBuffer(**options)

    def test_a_wrong_object_is_refused(self) -> None:
        with pytest.raises(tracelog.ConfigurationError, match=r"is not a tracelog\.TraceBuffer"):
            tracelog.configure(buffer=True)  # type: ignore[arg-type]


class TestMiddlewares:
    """The ASGI and WSGI middlewares set the context themselves and report the request's end."""

    @staticmethod
    def asgi(status: int, *, raises: bool = False) -> None:
        from tracelog.integrations.asgi import TraceMiddleware

        log = tracelog.get_logger("app")

        async def app(scope: Any, receive: Any, send: Any) -> None:
            log.debug("looking up the order")
            if raises:
                raise RuntimeError("bug")
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            pass

        scope = {"type": "http", "method": "GET", "path": "/orders/7", "headers": []}
        asyncio.run(TraceMiddleware(app)(scope, receive, send))

    @staticmethod
    def wsgi(status: str, *, raises: bool = False) -> None:
        from tracelog.integrations.wsgi import TraceMiddleware

        log = tracelog.get_logger("app")

        def app(environ: Any, start_response: Any) -> list[bytes]:
            log.debug("looking up the order")
            if raises:
                raise RuntimeError("bug")
            start_response(status, [])
            return [b"ok"]

        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/orders/7"}
        body = TraceMiddleware(app)(environ, lambda *args: None)
        list(body)
        body.close()  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("status", "raises", "held_written"),
        [(200, False, False), (404, False, False), (503, False, True), (200, True, True)],
    )
    def test_asgi(self, out: Output, status: int, raises: bool, held_written: bool) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        self.asgi(status, raises=raises)
        assert held_written == ("looking up the order" in out.messages())
        assert 0 == buffering.stats()["traces"]
        assert 0 == buffering.stats()["held"]

    @pytest.mark.parametrize(
        ("status", "raises", "held_written"),
        [("200 OK", False, False), ("502 Bad Gateway", False, True), ("200 OK", True, True)],
    )
    def test_wsgi(self, out: Output, status: str, raises: bool, held_written: bool) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        self.wsgi(status, raises=raises)
        assert held_written == ("looking up the order" in out.messages())
        assert 0 == buffering.stats()["traces"]

    def test_held_lines_come_before_the_access_line(self, out: Output) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        self.asgi(500)
        lines = out.lines()
        assert ["looking up the order", "GET /orders/7 500"] == [x["message"] for x in lines]
        assert lines[0]["trace_id"] == lines[1]["trace_id"]


class _ThreadedStream(io.RawIOBase):
    """A stream that hands each write to a background thread, like a non-blocking output."""

    def __init__(self) -> None:
        import queue

        self.queue: queue.Queue[bytes | None] = queue.Queue()
        self.received = b""
        self.thread = threading.Thread(target=self._drain)
        self.thread.start()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.queue.put(bytes(data))
        return len(data)

    def _drain(self) -> None:
        while (item := self.queue.get()) is not None:
            self.received += item

    def close(self) -> None:
        if not self.closed:
            self.queue.put(None)
            self.thread.join(timeout=10)
        super().close()


def _trace_id(low: int) -> str:
    return f"{0xABC:016x}{low:016x}"


class TestSampling:
    def test_unsampled_traces_keep_only_warnings_and_errors(self, out: Output, log: Any) -> None:
        setup(out, sampling=tracelog.Sampling(rate=0.0))
        with tracelog.trace():
            log.info("dropped")
            log.warning("kept")
            log.error("kept too")
        assert ["kept", "kept too"] == out.messages()
        assert 1 == buffering.stats()["sampled_out"]

    def test_sampled_traces_keep_everything(self, out: Output, log: Any) -> None:
        setup(out, sampling=tracelog.Sampling(rate=1.0))
        with tracelog.trace():
            log.info("kept")
        assert ["kept"] == out.messages()

    def test_decided_from_the_low_bits_of_the_trace_id(self, out: Output, log: Any) -> None:
        setup(out, sampling=tracelog.Sampling(rate=0.5))
        with tracelog.trace(trace_id=_trace_id(2**63 - 1)):
            log.info("low half: sampled")
        with tracelog.trace(trace_id=_trace_id(2**63)):
            log.info("high half: not sampled")
        assert ["low half: sampled"] == out.messages()

    def test_lines_without_a_trace_are_kept(self, out: Output, log: Any) -> None:
        setup(out, sampling=tracelog.Sampling(rate=0.0))
        log.info("startup")
        assert ["startup"] == out.messages()

    def test_upstream_flag_is_honoured(self, out: Output, log: Any) -> None:
        setup(out, sampling=tracelog.Sampling(rate=0.0))
        with tracelog.trace(trace_id=_trace_id(2**63), parent_span_id="00f067aa0ba902b7"):
            log.info("upstream sampled it")
        setup(out, sampling=tracelog.Sampling(rate=1.0))
        with tracelog.trace(
            trace_id=_trace_id(1), parent_span_id="00f067aa0ba902b7", sampled=False
        ):
            log.info("upstream did not")
        assert ["upstream sampled it"] == out.messages()

    def test_a_local_span_is_not_an_upstream_parent(self, out: Output, log: Any) -> None:
        setup(out, sampling=tracelog.Sampling(rate=0.0))
        token = context._current.set(context.trace(trace_id=_trace_id(1)).context)
        try:
            with tracelog.span("child"):  # its parent_span_id is local
                log.info("first line, in a span")
        finally:
            context._current.reset(token)
        assert [] == out.messages()

    def test_begin_trace_for_middlewares(self, out: Output, log: Any) -> None:
        setup(out, sampling=tracelog.Sampling(rate=0.0))
        upstream = context.trace(trace_id=_trace_id(1), parent_span_id="00f067aa0ba902b7")
        token = context._current.set(upstream.context)
        try:
            buffering.begin_trace()
            with tracelog.span("handler"):
                log.info("kept: upstream sampled it")
            buffering.finish_trace(200)
        finally:
            context._current.reset(token)
        assert ["kept: upstream sampled it"] == out.messages()
        assert 0 == buffering.stats()["traces"]

    def test_upstream_flag_ignored_when_not_parent_based(self, out: Output, log: Any) -> None:
        setup(out, sampling=tracelog.Sampling(rate=0.0, parent_based=False))
        with tracelog.trace(trace_id=_trace_id(5), parent_span_id="00f067aa0ba902b7"):
            log.info("not sampled here")
        assert [] == out.messages()

    def test_decision_holds_for_the_whole_trace(self, out: Output, log: Any) -> None:
        setup(out, sampling=tracelog.Sampling(rate=0.5))
        with tracelog.trace(trace_id=_trace_id(1)) as ctx:
            log.info("root")
            with tracelog.span("child"):
                log.info("child")
            worker = threading.Thread(target=tracelog.wrap(lambda: log.info("thread")))
            worker.start()
            worker.join()
        assert ["root", "child", "thread"] == out.messages()
        assert {ctx.trace_id} == {x["trace_id"] for x in out.lines()}

    def test_an_unsampled_failing_trace_still_tells_its_story(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer(), sampling=tracelog.Sampling(rate=0.0))
        with tracelog.trace():
            log.debug("detail")
            log.info("step")
            log.error("boom")
        assert ["detail", "step", "boom"] == out.messages()
        assert [True, True, None] == [x.get("buffered") for x in out.lines()]

    def test_lines_below_the_buffer_level_are_not_held(self, out: Output, log: Any) -> None:
        setup(
            out,
            buffer=tracelog.TraceBuffer(level="WARNING"),
            sampling=tracelog.Sampling(rate=0.0, keep_level="ERROR"),
        )
        with tracelog.trace():
            log.info("not held: below the buffer's level")
            log.warning("held")
            log.error("boom")
        assert ["held", "boom"] == out.messages()

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"rate": 1.5}, "Sampling rate=1.5 is not a number from 0 to 1"),
            ({"keep_level": "CRITICAL"}, "error lines are always kept"),
        ],
    )
    def test_bad_settings_say_what_is_wrong(self, options: dict[str, Any], message: str) -> None:
        with pytest.raises(tracelog.ConfigurationError, match=message):
            tracelog.Sampling(**options)

    @settings(max_examples=50, deadline=None)
    @given(
        rate=st.floats(min_value=0, max_value=1),
        lows=st.lists(st.integers(min_value=1, max_value=2**64 - 1), min_size=1, max_size=8),
    )
    def test_sampled_exactly_when_low_bits_below_rate(self, rate: float, lows: list[int]) -> None:
        out = Output()
        setup(out, sampling=tracelog.Sampling(rate=rate))
        log = tracelog.get_logger("shop")
        for low in lows:
            with tracelog.trace(trace_id=_trace_id(low)):
                log.info("step")
                log.warning("always")
        expected = []
        for low in lows:
            if low < int(rate * 2**64):
                expected.append("step")
            expected.append("always")
        assert expected == out.messages()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_ratelimit.time, "monotonic", fake)
    return fake


class TestRateLimit:
    def test_repeats_over_the_limit_are_suppressed_and_summarised(
        self, out: Output, log: Any, clock: FakeClock
    ) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=3, per_seconds=60))
        for i in range(10):
            log.info("cache miss", key=i)
        assert [0, 1, 2] == [x.get("key") for x in out.lines()]
        tracelog.buffering.flush()
        summary = out.lines()[-1]
        assert 7 == summary["suppressed"]
        assert "cache miss" == summary["template"]
        assert "shop" == summary["logger"]
        assert "info" == summary["level"]
        assert 7 == buffering.stats()["rate_limited"]

    def test_stdlib_key_is_the_template(self, out: Output, clock: FakeClock) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=2, per_seconds=60))
        std = logging.getLogger("legacy")
        for user in range(5):
            std.warning("login failed for %s", user)
        assert ["login failed for 0", "login failed for 1"] == out.messages()

    def test_messages_and_loggers_are_separate(self, out: Output, clock: FakeClock) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=1, per_seconds=60))
        tracelog.get_logger("a").info("x")
        tracelog.get_logger("b").info("x")
        tracelog.get_logger("a").info("y")
        tracelog.get_logger("a").info("x")
        assert ["x", "x", "y"] == out.messages()

    def test_errors_are_never_limited(self, out: Output, log: Any, clock: FakeClock) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=1, per_seconds=60))
        for _ in range(5):
            log.error("db down")
        assert ["db down"] * 5 == out.messages()

    def test_summary_written_when_the_next_interval_starts(
        self, out: Output, log: Any, clock: FakeClock
    ) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=1, per_seconds=60))
        log.info("tick")
        log.info("tick")
        log.info("tick")
        clock.now += 61
        log.info("tick")
        lines = out.lines()
        assert [None, 2, None] == [x.get("suppressed") for x in lines]
        assert "tick" == lines[2]["message"]

    def test_summary_written_by_the_timer(self, out: Output, log: Any) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=1, per_seconds=0.05))
        log.info("tick")
        log.info("tick")
        done = threading.Event()
        for _ in range(500):
            if any("suppressed" in x for x in out.lines()):
                done.set()
                break
            done.wait(0.01)
        assert done.is_set()
        assert 1 == out.lines()[-1]["suppressed"]

    def test_summary_has_no_trace_id(self, out: Output, log: Any, clock: FakeClock) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=1, per_seconds=60))
        with tracelog.trace():
            log.info("tick")
            log.info("tick")
            clock.now += 61
            log.info("tick")
        assert "trace_id" not in out.lines()[1]
        assert 1 == out.lines()[1]["suppressed"]

    def test_summary_written_on_reset(self, out: Output, log: Any, clock: FakeClock) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=1, per_seconds=60))
        log.info("tick")
        log.info("tick")
        tracelog.reset()
        assert 1 == out.lines()[-1]["suppressed"]

    def test_too_many_messages_let_the_oldest_go(
        self, out: Output, log: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_ratelimit, "MAX_MESSAGES", 2)
        setup(out, rate_limit=tracelog.RateLimit(limit=1, per_seconds=60))
        for message in ("a", "a", "b", "c"):
            log.info(message)
        lines = out.lines()
        assert [None, None, 1, None] == [x.get("suppressed") for x in lines]
        assert ["a", "b", "c"] == [lines[0]["message"], lines[1]["message"], lines[3]["message"]]
        assert "a" == lines[2]["template"]

    def test_every_line_is_written_or_counted_across_threads(self, out: Output, log: Any) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=10, per_seconds=3600))

        def spam() -> None:
            for i in range(200):
                log.info("queue full", i=i)

        threads = [threading.Thread(target=spam) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tracelog.buffering.flush()
        lines = out.lines()
        written = sum("suppressed" not in x for x in lines)
        assert 10 == written
        assert 8 * 200 - 10 == sum(x.get("suppressed", 0) for x in lines)

    def test_summary_written_at_exit(self) -> None:
        script = textwrap.dedent(
            """
            import tracelog
            tracelog.configure(rate_limit=tracelog.RateLimit(limit=2, per_seconds=3600))
            log = tracelog.get_logger("app")
            for i in range(12):
                log.info("retrying", attempt=i)
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, check=True, timeout=60
        )
        lines = [orjson.loads(line) for line in result.stdout.splitlines()]
        assert 3 == len(lines)
        assert 10 == lines[-1]["suppressed"]

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"limit": 0}, "RateLimit limit=0 is not a whole number of at least 1"),
            ({"per_seconds": 0}, "RateLimit per_seconds=0 is not above 0"),
            ({"keep_level": "CRITICAL"}, "error lines are always kept"),
        ],
    )
    def test_bad_settings_say_what_is_wrong(self, options: dict[str, Any], message: str) -> None:
        with pytest.raises(tracelog.ConfigurationError, match=message):
            tracelog.RateLimit(**options)


class TestFlushAndStats:
    def test_tracelog_flush_writes_pending_summaries(
        self, out: Output, log: Any, clock: FakeClock
    ) -> None:
        setup(out, rate_limit=tracelog.RateLimit(limit=1, per_seconds=60))
        log.info("tick")
        log.info("tick")
        assert tracelog.flush()
        assert 1 == out.lines()[-1]["suppressed"]

    def test_tracelog_stats_include_buffering(self, out: Output, log: Any) -> None:
        setup(out, buffer=tracelog.TraceBuffer())
        with tracelog.trace():
            log.debug("held")
            log.error("boom")
        assert 1 == tracelog.stats()["buffering"]["flushed"]

    def test_no_buffering_entry_without_a_setting(self, out: Output) -> None:
        setup(out)
        assert "buffering" not in tracelog.stats()


class TestMiddlewaresFollowTheUpstreamFlag:
    """A middleware sets the context itself; sampling still follows the caller's flag."""

    @staticmethod
    def asgi(traceparent: str) -> None:
        from tracelog.integrations.asgi import TraceMiddleware

        app_log = tracelog.get_logger("app")

        async def app(scope: Any, receive: Any, send: Any) -> None:
            app_log.info("looking up the order")
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            pass

        headers = [(b"traceparent", traceparent.encode())]
        scope = {"type": "http", "method": "GET", "path": "/orders/7", "headers": headers}
        asyncio.run(TraceMiddleware(app, access_log=False)(scope, receive, send))

    @staticmethod
    def wsgi(traceparent: str) -> None:
        from tracelog.integrations.wsgi import TraceMiddleware

        app_log = tracelog.get_logger("app")

        def app(environ: Any, start_response: Any) -> list[bytes]:
            app_log.info("looking up the order")
            start_response("200 OK", [])
            return [b"ok"]

        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_TRACEPARENT": traceparent}
        body = TraceMiddleware(app, access_log=False)(environ, lambda *args: None)
        list(body)
        body.close()  # type: ignore[attr-defined]

    @pytest.mark.parametrize("kind", ["asgi", "wsgi"])
    def test_upstream_sampled_is_kept_even_at_rate_zero(self, out: Output, kind: str) -> None:
        setup(out, sampling=tracelog.Sampling(rate=0.0))
        getattr(self, kind)(f"00-{_trace_id(2**63)}-00f067aa0ba902b7-01")
        assert ["looking up the order"] == out.messages()

    @pytest.mark.parametrize("kind", ["asgi", "wsgi"])
    def test_upstream_not_sampled_is_dropped_even_at_rate_one(self, out: Output, kind: str) -> None:
        setup(out, sampling=tracelog.Sampling(rate=1.0))
        getattr(self, kind)(f"00-{_trace_id(1)}-00f067aa0ba902b7-00")
        assert [] == out.messages()
