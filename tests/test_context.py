"""Trace context: ids, trace/span/traced, bind/unbind, wrap, concurrency, OpenTelemetry fallback."""

from __future__ import annotations

import asyncio
import contextvars
import random
import re
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider

import tracelog
from _lines import Lines
from tracelog import context
from tracelog.context import TraceContext, new_span_id, new_trace_id

TRACE_ID_RE = re.compile(r"[0-9a-f]{32}")
SPAN_ID_RE = re.compile(r"[0-9a-f]{16}")
GIVEN_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_KEYS = {"trace_id", "span_id", "parent_span_id", "span_name"}


class TestIds:
    def test_trace_id_is_32_lowercase_hex(self) -> None:
        for _ in range(200):
            assert TRACE_ID_RE.fullmatch(new_trace_id())

    def test_span_id_is_16_lowercase_hex(self) -> None:
        for _ in range(200):
            assert SPAN_ID_RE.fullmatch(new_span_id())

    def test_ids_are_random(self) -> None:
        assert 1000 == len({new_trace_id() for _ in range(1000)})
        assert 1000 == len({new_span_id() for _ in range(1000)})

    def test_an_all_zero_draw_is_drawn_again(self, monkeypatch: pytest.MonkeyPatch) -> None:
        draws = iter([0, 0, 5])
        monkeypatch.setattr(context._rng, "getrandbits", lambda bits: next(draws))
        assert "0" * 31 + "5" == new_trace_id()
        draws = iter([0, 7])
        assert "0" * 15 + "7" == new_span_id()

    def test_trace_and_span_ids_are_valid(self) -> None:
        with tracelog.trace() as ctx:
            assert TRACE_ID_RE.fullmatch(ctx.trace_id or "")
            assert SPAN_ID_RE.fullmatch(ctx.span_id or "")
            assert "0" * 32 != ctx.trace_id
            assert "0" * 16 != ctx.span_id


class TestTraceContext:
    def test_is_immutable(self) -> None:
        ctx = TraceContext(GIVEN_TRACE_ID, "00f067aa0ba902b7")
        with pytest.raises(AttributeError):
            ctx.trace_id = "x"  # type: ignore[misc]

    def test_replace_makes_a_new_object(self) -> None:
        ctx = TraceContext(GIVEN_TRACE_ID, "00f067aa0ba902b7")
        other = ctx.replace(span_id="1111111111111111")
        assert "00f067aa0ba902b7" == ctx.span_id
        assert "1111111111111111" == other.span_id
        assert GIVEN_TRACE_ID == other.trace_id

    def test_traceparent(self) -> None:
        ctx = TraceContext(GIVEN_TRACE_ID, "00f067aa0ba902b7")
        assert f"00-{GIVEN_TRACE_ID}-00f067aa0ba902b7-01" == ctx.traceparent
        assert TraceContext(None, None).traceparent is None


class TestTrace:
    def test_new_trace(self) -> None:
        lines = Lines()
        with tracelog.trace() as ctx:
            tracelog.get_logger("t").info("inside")
        line = lines.one()
        assert ctx.trace_id == line["trace_id"]
        assert ctx.span_id == line["span_id"]
        assert "parent_span_id" not in line

    def test_each_trace_is_new(self) -> None:
        with tracelog.trace() as first:
            pass
        with tracelog.trace() as second:
            pass
        assert first.trace_id != second.trace_id

    def test_continues_a_given_trace_id(self) -> None:
        lines = Lines()
        with tracelog.trace(GIVEN_TRACE_ID) as ctx:
            tracelog.get_logger("t").info("inside")
        assert GIVEN_TRACE_ID == ctx.trace_id
        assert GIVEN_TRACE_ID == lines.one()["trace_id"]

    def test_continues_with_a_given_parent(self) -> None:
        with tracelog.trace(GIVEN_TRACE_ID, parent_span_id="00f067aa0ba902b7") as ctx:
            assert "00f067aa0ba902b7" == ctx.parent_span_id
            assert "00f067aa0ba902b7" != ctx.span_id

    @pytest.mark.parametrize(
        "bad",
        [
            "0" * 32,
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "4bf92f3577b34da6a3ce929d0e0e473",
            "4bf92f3577b34da6a3ce929d0e0e47366",
            "4bf92f3577b34da6a3ce929d0e0e473g",
            "",
            " 4bf92f3577b34da6a3ce929d0e0e473",
        ],
    )
    def test_an_invalid_trace_id_raises(self, bad: str) -> None:
        with pytest.raises(ValueError, match="trace_id"):
            tracelog.trace(bad)

    @pytest.mark.parametrize("bad", ["0" * 16, "00F067AA0BA902B7", "00f067aa0ba902b", "xyz"])
    def test_an_invalid_parent_span_id_raises(self, bad: str) -> None:
        with pytest.raises(ValueError, match="parent_span_id"):
            tracelog.trace(GIVEN_TRACE_ID, parent_span_id=bad)

    def test_fields_on_every_line_inside(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        with tracelog.trace(user=7, tenant="acme"):
            log.info("one")
            log.warning("two", extra_field=1)
            tracelog.get_logger("other").error("three")
        log.info("after")
        inside, after = lines()[:3], lines()[3]
        for line in inside:
            assert 7 == line["user"]
            assert "acme" == line["tenant"]
        assert "user" not in after
        assert "tenant" not in after

    def test_block_restores_the_outer_context(self) -> None:
        with tracelog.trace() as outer:
            with tracelog.trace() as inner:
                assert inner is tracelog.current()
            assert outer is tracelog.current()
        assert tracelog.current() is None

    def test_async_with(self) -> None:
        async def main() -> str | None:
            async with tracelog.trace() as ctx:
                await asyncio.sleep(0)
                assert ctx is tracelog.current()
                return tracelog.current_trace_id()

        assert TRACE_ID_RE.fullmatch(asyncio.run(main()) or "")

    def test_fields_bound_before_the_trace_stay(self) -> None:
        lines = Lines()
        tracelog.bind(request="r1")
        with tracelog.trace(user=7):
            tracelog.get_logger("t").info("inside")
        line = lines.one()
        assert "r1" == line["request"]
        assert 7 == line["user"]

    def test_fields_of_an_outer_trace_stay_in_a_nested_one(self) -> None:
        lines = Lines()
        with tracelog.trace(tenant="acme", plan="free") as outer:
            tracelog.bind(user_id=7)
            with tracelog.trace(GIVEN_TRACE_ID, plan="pro") as inner:
                tracelog.get_logger("t").info("inside")
            after = tracelog.current()
        line = lines.one()
        assert {"tenant": "acme", "user_id": 7, "plan": "pro"} == dict(inner.fields)
        assert GIVEN_TRACE_ID == line["trace_id"]
        assert ("acme", 7, "pro") == (line["tenant"], line["user_id"], line["plan"])
        assert after is not None and outer.span_id == after.span_id
        assert {"tenant": "acme", "plan": "free", "user_id": 7} == dict(after.fields)


class TestSpan:
    def test_child_span(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        with tracelog.trace() as root:
            log.info("root")
            with tracelog.span("charge card") as child:
                log.info("child")
                with tracelog.span() as grandchild:
                    log.info("grandchild")
            log.info("root again")
        root_line, child_line, grandchild_line, again = lines()
        assert {root.trace_id} == {
            line["trace_id"] for line in (root_line, child_line, grandchild_line, again)
        }
        assert root.span_id == root_line["span_id"]
        assert "parent_span_id" not in root_line
        assert child.span_id == child_line["span_id"]
        assert root.span_id == child_line["parent_span_id"]
        assert root.span_id != child.span_id
        assert "charge card" == child_line["span_name"]
        assert grandchild.span_id == grandchild_line["span_id"]
        assert child.span_id == grandchild_line["parent_span_id"]
        assert root.span_id == again["span_id"]
        assert "parent_span_id" not in again

    def test_fields_are_inherited_and_added(self) -> None:
        lines = Lines()
        with tracelog.trace(user=7), tracelog.span("step", step=2):
            tracelog.bind(attempt=1)
            tracelog.get_logger("t").info("inside")
        line = lines.one()
        assert (7, 2, 1) == (line["user"], line["step"], line["attempt"])

    def test_fields_of_a_span_end_with_it(self) -> None:
        lines = Lines()
        with tracelog.trace(user=7):
            with tracelog.span(step=2):
                pass
            tracelog.get_logger("t").info("after span")
        line = lines.one()
        assert 7 == line["user"]
        assert "step" not in line

    def test_span_outside_a_trace_starts_one(self) -> None:
        with tracelog.span("alone") as ctx:
            assert TRACE_ID_RE.fullmatch(ctx.trace_id or "")
            assert ctx.parent_span_id is None
            assert "alone" == ctx.name


class TestTraced:
    def test_sync_function_outside_a_trace_starts_one(self) -> None:
        @tracelog.traced
        def work() -> TraceContext | None:
            return tracelog.current()

        ctx = work()
        assert ctx is not None
        assert TRACE_ID_RE.fullmatch(ctx.trace_id or "")
        assert ctx.parent_span_id is None
        assert tracelog.current() is None

    def test_sync_function_inside_a_trace_is_a_span(self) -> None:
        @tracelog.traced
        def work(x: int) -> tuple[int, TraceContext | None]:
            return x * 2, tracelog.current()

        with tracelog.trace() as outer:
            doubled, ctx = work(21)
        assert 42 == doubled
        assert ctx is not None
        assert outer.trace_id == ctx.trace_id
        assert outer.span_id == ctx.parent_span_id
        assert outer.span_id != ctx.span_id
        assert work.__name__ == "work"

    def test_name(self) -> None:
        @tracelog.traced(name="charge card")
        def charge() -> str | None:
            ctx = tracelog.current()
            return None if ctx is None else ctx.name

        @tracelog.traced
        def refund() -> str | None:
            ctx = tracelog.current()
            return None if ctx is None else ctx.name

        assert "charge card" == charge()
        assert refund.__qualname__ == refund()

    def test_exception_passes_through_and_context_is_restored(self) -> None:
        @tracelog.traced
        def fail() -> None:
            raise KeyError("x")

        with tracelog.trace() as outer:
            with pytest.raises(KeyError):
                fail()
            assert outer is tracelog.current()

    def test_async_function(self) -> None:
        @tracelog.traced
        async def work() -> TraceContext | None:
            await asyncio.sleep(0)
            return tracelog.current()

        async def main() -> tuple[Any, ...]:
            alone = await work()
            with tracelog.trace() as outer:
                inner = await work()
            return alone, outer, inner

        alone, outer, inner = asyncio.run(main())
        assert alone is not None and alone.parent_span_id is None
        assert outer.trace_id == inner.trace_id
        assert outer.span_id == inner.parent_span_id

    def test_generator_function(self) -> None:
        @tracelog.traced
        def items() -> Iterator[TraceContext | None]:
            yield tracelog.current()
            yield tracelog.current()

        alone = list(items())
        assert alone[0] is not None and alone[0] is alone[1]
        assert alone[0].parent_span_id is None
        with tracelog.trace() as outer:
            inner = list(items())
        assert inner[0] is not None
        assert outer.trace_id == inner[0].trace_id
        assert outer.span_id == inner[0].parent_span_id

    def test_generator_span_does_not_leak_into_the_consumer(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")

        @tracelog.traced
        def items() -> Iterator[int]:
            log.info("producing")
            yield 1
            yield 2

        with tracelog.trace() as outer:
            for _ in items():
                log.info("consuming")
                break
            log.info("after the loop")
            tracelog.bind(later=1)
            log.info("bound later")
        producing, consuming, after, bound = lines()
        assert outer.trace_id == producing["trace_id"]
        assert outer.span_id == producing["parent_span_id"]
        for line in (consuming, after, bound):
            assert outer.span_id == line["span_id"]
            assert "parent_span_id" not in line
        assert 1 == bound["later"]

    def test_generator_return_value_and_send(self) -> None:
        @tracelog.traced
        def echo() -> Iterator[Any]:
            received = yield "ready"
            yield received
            return "done"

        def drive() -> Iterator[Any]:
            result = yield from echo()
            yield result

        gen = drive()
        assert "ready" == next(gen)
        assert "hello" == gen.send("hello")
        assert "done" == next(gen)

    def test_async_generator_function(self) -> None:
        @tracelog.traced
        async def items() -> AsyncIterator[TraceContext | None]:
            yield tracelog.current()
            await asyncio.sleep(0)
            yield tracelog.current()

        async def main() -> tuple[Any, ...]:
            alone = [ctx async for ctx in items()]
            with tracelog.trace() as outer:
                inner = [ctx async for ctx in items()]
            return alone, outer, inner

        alone, outer, inner = asyncio.run(main())
        assert alone[0] is not None and alone[0].parent_span_id is None
        assert alone[0] is alone[1]
        assert outer.trace_id == inner[0].trace_id
        assert outer.span_id == inner[0].parent_span_id

    def test_async_generator_span_does_not_leak_into_the_consumer(self) -> None:
        @tracelog.traced
        async def items() -> AsyncIterator[int]:
            yield 1
            yield 2

        async def main() -> tuple[Any, ...]:
            with tracelog.trace() as outer:
                seen = []
                async for _ in items():
                    seen.append(tracelog.current())
                    break
                return outer, seen, tracelog.current()

        outer, seen, after = asyncio.run(main())
        assert outer is seen[0]
        assert outer is after


class TestBind:
    def test_bind_and_unbind(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        with tracelog.trace():
            tracelog.bind(user_id=7, cart=3)
            log.info("bound")
            tracelog.unbind("user_id", "unknown")
            log.info("unbound")
        bound, unbound = lines()
        assert (7, 3) == (bound["user_id"], bound["cart"])
        assert "user_id" not in unbound
        assert 3 == unbound["cart"]

    def test_bind_returns_a_new_context(self) -> None:
        with tracelog.trace() as ctx:
            new = tracelog.bind(user_id=7)
            assert new is not ctx
            assert {} == dict(ctx.fields)
            assert {"user_id": 7} == dict(new.fields)
            assert ctx.span_id == new.span_id

    def test_bind_outside_a_trace_has_no_trace_keys(self) -> None:
        lines = Lines()
        tracelog.bind(user_id=7)
        tracelog.get_logger("t").info("bound")
        line = lines.one()
        assert 7 == line["user_id"]
        assert set() == TRACE_KEYS & set(line)
        assert tracelog.current_trace_id() is None

    def test_unbinding_the_last_field_outside_a_trace_clears_the_context(self) -> None:
        tracelog.bind(user_id=7)
        assert tracelog.unbind("user_id") is None
        assert tracelog.current() is None

    def test_a_copied_context_does_not_see_later_changes(self) -> None:
        with tracelog.trace():
            tracelog.bind(a=1)
            copied = contextvars.copy_context()
            tracelog.bind(b=2)
            seen = copied.run(lambda: dict(tracelog.current().fields))  # type: ignore[union-attr]
            copied.run(tracelog.bind, c=3)
            assert {"a": 1} == seen
            assert {"a": 1, "b": 2} == dict(tracelog.current().fields)  # type: ignore[union-attr]

    def test_concurrent_tasks_do_not_see_each_others_bindings(self) -> None:
        async def task(name: str, started: asyncio.Event, other: asyncio.Event) -> dict[str, Any]:
            tracelog.bind(**{name: True})
            started.set()
            await other.wait()
            await asyncio.sleep(0)
            return dict(tracelog.current().fields)  # type: ignore[union-attr]

        async def main() -> list[dict[str, Any]]:
            with tracelog.trace(shared=1):
                a, b = asyncio.Event(), asyncio.Event()
                return list(await asyncio.gather(task("a", a, b), task("b", b, a)))

        assert [{"shared": 1, "a": True}, {"shared": 1, "b": True}] == asyncio.run(main())


class TestCurrent:
    def test_outside_a_trace(self) -> None:
        assert tracelog.current() is None
        assert tracelog.current_trace_id() is None

    def test_inside(self) -> None:
        with tracelog.trace() as ctx:
            assert ctx is tracelog.current()
            assert ctx.trace_id == tracelog.current_trace_id()

    def test_no_trace_keys_outside_a_trace(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("no trace")
        assert set() == TRACE_KEYS & set(lines.one())

    def test_use_sets_a_captured_context(self) -> None:
        with tracelog.trace() as ctx:
            captured = tracelog.current()
        with context.use(captured):
            assert ctx is tracelog.current()
        with tracelog.trace(), context.use(None):
            assert tracelog.current_trace_id() is None


class TestWrap:
    def test_carries_the_context_into_a_thread(self) -> None:
        lines = Lines()

        def work() -> None:
            tracelog.get_logger("t").info("in thread")

        with tracelog.trace(user=7) as ctx, ThreadPoolExecutor(2) as pool:
            pool.submit(tracelog.wrap(work)).result()
        line = lines.one()
        assert ctx.trace_id == line["trace_id"]
        assert 7 == line["user"]

    def test_without_wrap_a_thread_has_no_context(self) -> None:
        with tracelog.trace(), ThreadPoolExecutor(1) as pool:
            assert pool.submit(tracelog.current_trace_id).result() is None

    def test_one_wrapped_function_in_many_threads_at_once(self) -> None:
        lines = Lines()
        workers = 16
        barrier = threading.Barrier(workers, timeout=30)
        log = tracelog.get_logger("t")

        def work(n: int) -> None:
            tracelog.bind(call=n)
            barrier.wait()  # every call has bound its field before any logs
            log.info("call", n=n)
            barrier.wait()
            log.info("again", n=n)

        with tracelog.trace(request="r") as ctx:
            wrapped = tracelog.wrap(work)
            with ThreadPoolExecutor(workers) as pool:
                for future in [pool.submit(wrapped, n) for n in range(workers)]:
                    future.result()
            assert {} == {k: v for k, v in tracelog.current().fields.items() if k != "request"}  # type: ignore[union-attr]
        got = lines()
        assert 2 * workers == len(got)
        for line in got:
            assert line["n"] == line["call"]
            assert ctx.trace_id == line["trace_id"]
            assert "r" == line["request"]

    def test_run_in_executor_needs_wrap(self) -> None:
        async def main() -> tuple[str | None, ...]:
            loop = asyncio.get_running_loop()
            with tracelog.trace() as ctx:
                bare = await loop.run_in_executor(None, tracelog.current_trace_id)
                wrapped = await loop.run_in_executor(None, tracelog.wrap(tracelog.current_trace_id))
                to_thread = await asyncio.to_thread(tracelog.current_trace_id)
            return ctx.trace_id, bare, wrapped, to_thread

        trace_id, bare, wrapped, to_thread = asyncio.run(main())
        assert bare is None
        assert trace_id == wrapped == to_thread

    def test_the_context_is_captured_when_wrapped(self) -> None:
        with tracelog.trace() as first:
            wrapped = tracelog.wrap(tracelog.current_trace_id)
        with tracelog.trace(), ThreadPoolExecutor(1) as pool:
            assert first.trace_id == pool.submit(wrapped).result()

    def test_threads_each_in_their_own_request(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        requests = 96  # a multiple of the barrier, so every wait is met
        barrier = threading.Barrier(8, timeout=30)
        expected: dict[int, str] = {}

        def handle(n: int) -> None:
            for step in range(3):
                if step == 1:
                    barrier.wait()
                log.info("step", step=step)
                with tracelog.span(step=step):
                    log.info("in span")

        with ThreadPoolExecutor(8) as pool:
            futures = []
            for n in range(requests):
                with tracelog.trace(request=n) as ctx:
                    expected[n] = ctx.trace_id  # type: ignore[assignment]
                    futures.append(pool.submit(tracelog.wrap(handle), n))
            for future in futures:
                future.result()
        got = lines()
        assert 6 * requests == len(got)
        for line in got:
            assert expected[line["request"]] == line["trace_id"]
        assert requests == len({line["trace_id"] for line in got})


class TestManyTasks:
    TASKS = 250

    def test_every_line_carries_its_own_tasks_trace_and_fields(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        expected: dict[int, tuple[str, str]] = {}
        rng = random.Random(7)
        delays = [[rng.random() / 1000 for _ in range(4)] for _ in range(self.TASKS)]

        async def request(n: int, gate: asyncio.Event) -> None:
            with tracelog.trace(task=n, secret_of_task=f"s{n}") as ctx:
                expected[n] = (ctx.trace_id, ctx.span_id)  # type: ignore[assignment]
                await gate.wait()
                log.info("start", n=n)
                await asyncio.sleep(delays[n][0])
                tracelog.bind(phase=f"p{n}")
                await asyncio.sleep(0)
                log.info("bound", n=n)
                with tracelog.span("inner", inner=n):
                    await asyncio.sleep(delays[n][1])
                    log.info("in span", n=n)
                    await asyncio.sleep(0)
                await asyncio.sleep(delays[n][2])
                log.info("end", n=n)

        async def main() -> None:
            gate = asyncio.Event()
            tasks = [asyncio.create_task(request(n, gate)) for n in range(self.TASKS)]
            await asyncio.sleep(0)
            gate.set()  # every task is inside its trace before any logs
            await asyncio.gather(*tasks)

        asyncio.run(main())
        got = lines()
        assert 4 * self.TASKS == len(got)
        order = [line["n"] for line in got]
        assert order != sorted(order), "the tasks' lines should interleave"
        for line in got:
            n = line["n"]
            trace_id, span_id = expected[n]
            assert trace_id == line["trace_id"]
            assert n == line["task"]
            assert f"s{n}" == line["secret_of_task"]
            if line["message"] == "in span":
                assert span_id == line["parent_span_id"]
                assert n == line["inner"]
            else:
                assert span_id == line["span_id"]
                assert "inner" not in line
            if line["message"] in ("bound", "in span", "end"):
                assert f"p{n}" == line["phase"]
            else:
                assert "phase" not in line
        assert self.TASKS == len({line["trace_id"] for line in got})

    def test_tasks_started_inside_a_trace_inherit_it_but_not_each_others_binds(self) -> None:
        async def child(n: int) -> dict[str, Any]:
            tracelog.bind(child=n)
            await asyncio.sleep(0)
            ctx = tracelog.current()
            return {"trace_id": ctx.trace_id, **ctx.fields}  # type: ignore[union-attr]

        async def main() -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
            with tracelog.trace(parent=1) as ctx:
                results = await asyncio.gather(*(child(n) for n in range(200)))
                return ctx, list(results), dict(tracelog.current().fields)  # type: ignore[union-attr]

        ctx, results, after = asyncio.run(main())
        for n, result in enumerate(results):
            assert {"trace_id": ctx.trace_id, "parent": 1, "child": n} == result
        assert {"parent": 1} == after


@pytest.fixture(scope="module")
def tracer() -> Any:
    return TracerProvider().get_tracer("tests.test_context")


class TestOpenTelemetryFallback:
    def test_lines_carry_the_otel_spans_ids(self, tracer: Any) -> None:
        lines = Lines()
        with tracer.start_as_current_span("work") as span:
            tracelog.get_logger("t").info("inside otel")
            ids = span.get_span_context()
        line = lines.one()
        assert f"{ids.trace_id:032x}" == line["trace_id"]
        assert f"{ids.span_id:016x}" == line["span_id"]

    def test_current_reports_the_otel_span(self, tracer: Any) -> None:
        with tracer.start_as_current_span("work") as span:
            ids = span.get_span_context()
            assert f"{ids.trace_id:032x}" == tracelog.current_trace_id()
        assert tracelog.current_trace_id() is None

    def test_bound_fields_outside_a_trace_follow_the_otel_span(self, tracer: Any) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        tracelog.bind(user=7)
        with tracer.start_as_current_span("first") as first:
            log.info("first")
        with tracer.start_as_current_span("second") as second:
            log.info("second")
        log.info("no span")
        one, two, none = lines()
        assert f"{first.get_span_context().span_id:016x}" == one["span_id"]
        assert f"{second.get_span_context().span_id:016x}" == two["span_id"]
        assert set() == TRACE_KEYS & set(none)
        assert 7 == one["user"] == two["user"] == none["user"]

    def test_tracelogs_own_context_wins(self, tracer: Any) -> None:
        lines = Lines()
        with tracer.start_as_current_span("work") as span, tracelog.trace() as ctx:
            tracelog.get_logger("t").info("inside both")
        line = lines.one()
        assert ctx.trace_id == line["trace_id"]
        assert ctx.span_id == line["span_id"]
        assert f"{span.get_span_context().trace_id:032x}" != line["trace_id"]

    def test_stdlib_lines_carry_the_otel_spans_ids(self, tracer: Any) -> None:
        import logging

        lines = Lines()
        with tracer.start_as_current_span("work") as span:
            logging.getLogger("lib").warning("from a library")
        assert f"{span.get_span_context().trace_id:032x}" == lines.one()["trace_id"]

    def test_the_fallback_can_be_turned_off(self, tracer: Any) -> None:
        lines = Lines(otel=False)
        with tracer.start_as_current_span("work"):
            tracelog.get_logger("t").info("inside otel")
        assert "trace_id" not in lines.one()

    def test_an_invalid_otel_span_gives_no_ids(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("no span")
        assert "trace_id" not in lines.one()

    def test_span_inside_an_otel_span_is_its_child(self, tracer: Any) -> None:
        lines = Lines()
        with tracer.start_as_current_span("GET /orders") as otel_span:
            with tracelog.span("db", table="orders") as ctx:
                tracelog.get_logger("t").info("query")
            ids = otel_span.get_span_context()
        line = lines.one()
        assert f"{ids.trace_id:032x}" == ctx.trace_id == line["trace_id"]
        assert f"{ids.span_id:016x}" == ctx.parent_span_id == line["parent_span_id"]
        assert ctx.span_id == line["span_id"]
        assert ctx.span_id != ctx.parent_span_id
        assert ("db", "orders") == (line["span_name"], line["table"])
        assert ctx.sampled

    def test_a_child_of_an_otel_span_keeps_its_flag_and_tracestate(self) -> None:
        parent = otel_trace.SpanContext(
            int(GIVEN_TRACE_ID, 16),
            int("00f067aa0ba902b7", 16),
            is_remote=False,
            trace_flags=otel_trace.TraceFlags(0),
            trace_state=otel_trace.TraceState([("congo", "t61rcWkgMzE")]),
        )
        with otel_trace.use_span(otel_trace.NonRecordingSpan(parent)):
            with tracelog.span() as ctx:
                headers = tracelog.propagation.inject({})
        assert (GIVEN_TRACE_ID, "00f067aa0ba902b7") == (ctx.trace_id, ctx.parent_span_id)
        assert not ctx.sampled
        assert "congo=t61rcWkgMzE" == ctx.tracestate
        assert headers["traceparent"].startswith(f"00-{GIVEN_TRACE_ID}-")
        assert headers["traceparent"].endswith("-00")
        assert "congo=t61rcWkgMzE" == headers["tracestate"]

    def test_traced_inside_an_otel_span_is_its_child(self, tracer: Any) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")

        @tracelog.traced
        def charge() -> None:
            log.info("charging")

        @tracelog.traced
        async def refund() -> None:
            await asyncio.sleep(0)
            log.info("refunding")

        @tracelog.traced
        def items() -> Iterator[int]:
            log.info("producing")
            yield 1

        with tracer.start_as_current_span("GET /orders") as otel_span:
            charge()
            asyncio.run(refund())
            list(items())
            ids = otel_span.get_span_context()
        got = lines()
        assert ["charging", "refunding", "producing"] == [line["message"] for line in got]
        for line in got:
            assert f"{ids.trace_id:032x}" == line["trace_id"]
            assert f"{ids.span_id:016x}" == line["parent_span_id"]
        assert 3 == len({line["span_id"] for line in got})

    def test_current_after_bind_reports_the_otel_span(self, tracer: Any) -> None:
        lines = Lines()
        with tracer.start_as_current_span("GET /orders") as otel_span:
            tracelog.bind(user_id=7)
            ctx = tracelog.current()
            trace_id = tracelog.current_trace_id()
            tracelog.get_logger("t").info("after bind")
            ids = otel_span.get_span_context()
        line = lines.one()
        assert ctx is not None
        assert f"{ids.trace_id:032x}" == trace_id == ctx.trace_id == line["trace_id"]
        assert f"{ids.span_id:016x}" == ctx.span_id == line["span_id"]
        assert {"user_id": 7} == dict(ctx.fields)
        after = tracelog.current()
        assert after is not None and after.trace_id is None
        assert {"user_id": 7} == dict(after.fields)

    def test_span_after_bind_in_an_otel_span_keeps_the_fields(self, tracer: Any) -> None:
        with tracer.start_as_current_span("GET /orders") as otel_span:
            tracelog.bind(user_id=7)
            with tracelog.span("db", table="orders") as ctx:
                pass
        assert f"{otel_span.get_span_context().trace_id:032x}" == ctx.trace_id
        assert {"user_id": 7, "table": "orders"} == dict(ctx.fields)

    def test_a_child_span_does_not_end_the_otel_trace_for_the_buffer(self, tracer: Any) -> None:
        lines = Lines(buffer=tracelog.TraceBuffer())
        log = tracelog.get_logger("t")
        with tracer.start_as_current_span("GET /orders"):
            log.debug("held")
            with tracelog.span("db"):
                log.info("query")
            log.error("failed")
        assert ["query", "held", "failed"] == [line["message"] for line in lines()]

    def test_span_with_the_fallback_off_starts_a_trace(self, tracer: Any) -> None:
        Lines(otel=False)
        with tracer.start_as_current_span("GET /orders") as otel_span:
            with tracelog.span("db") as ctx:
                pass
        assert f"{otel_span.get_span_context().trace_id:032x}" != ctx.trace_id
        assert ctx.parent_span_id is None
