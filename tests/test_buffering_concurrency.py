"""Trace buffering under heavy asyncio and thread concurrency, and against a model.

What must hold: no error line lost, the lines of one trace never reordered,
and no line ever written under another trace's id.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import threading
import time
from collections import defaultdict
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

import tracelog
from tracelog import buffering, context

STEPS = 20


def _lines(out: io.BytesIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


class _Failure(Exception):
    pass


class _YieldingStream(io.BytesIO):
    """Gives other threads the GIL on every write, so a flush is interleaved with them."""

    def write(self, data: Any) -> int:
        time.sleep(0)
        return super().write(data)


def _step(log: Any, std: logging.Logger, owner: int, i: int) -> None:
    """One step of a request: a debug line from either entry point, sometimes an info line."""
    if i % 2:
        std.debug("query", extra={"owner": owner, "i": i})
    else:
        log.debug("step", owner=owner, i=i)
    if i % 5 == 0:
        log.info("progress", owner=owner)


def _end(log: Any, owner: int) -> None:
    """Owner k%4==0 logs an error, k%4==1 raises, the rest end cleanly."""
    if owner % 4 == 0:
        log.error("failed", owner=owner)
    elif owner % 4 == 1:
        raise _Failure(owner)


def _check_story(lines: list[dict[str, Any]], trace_ids: dict[int, str], owners: int) -> None:
    """Each owner's lines under its own trace id; the stories of failed requests complete."""
    by_owner: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        owner = line["owner"]
        assert trace_ids[owner] == line["trace_id"]
        by_owner[owner].append(line)
    for owner in range(owners):
        mine = by_owner[owner]
        debug = [x["i"] for x in mine if x["level"] == "debug"]
        if owner % 4 in (0, 1):
            assert list(range(STEPS)) == debug
            assert all(x["buffered"] for x in mine if x["level"] == "debug")
        else:
            assert [] == debug
        if owner % 4 == 0:
            assert "error" == mine[-1]["level"]
            assert 1 == sum(x["level"] == "error" for x in mine)
        assert STEPS // 5 == sum(x["level"] == "info" for x in mine)


class TestConcurrency:
    def test_hundreds_of_async_tasks(self) -> None:
        out = io.BytesIO()
        tracelog.configure(level="INFO", stream=out, buffer=tracelog.TraceBuffer())
        log = tracelog.get_logger("api")
        std = logging.getLogger("api.db")
        owners = 400
        trace_ids: dict[int, str] = {}

        async def request(owner: int) -> None:
            async with tracelog.trace() as ctx:
                trace_ids[owner] = ctx.trace_id  # type: ignore[assignment]
                for i in range(STEPS):
                    _step(log, std, owner, i)
                    await asyncio.sleep(0)
                _end(log, owner)

        async def main() -> None:
            await asyncio.gather(*(request(k) for k in range(owners)), return_exceptions=True)

        asyncio.run(main())
        _check_story(_lines(out), trace_ids, owners)
        stats = buffering.stats()
        assert owners // 2 * STEPS == stats["flushed"]
        assert owners // 2 * STEPS == stats["discarded"]
        assert 0 == stats["held"]
        assert 0 == stats["traces"]

    def test_many_threads(self) -> None:
        out = io.BytesIO()
        tracelog.configure(level="INFO", stream=out, buffer=tracelog.TraceBuffer())
        log = tracelog.get_logger("worker")
        std = logging.getLogger("worker.io")
        owners = 320
        trace_ids: dict[int, str] = {}

        def request(owner: int) -> None:
            with tracelog.trace() as ctx:
                trace_ids[owner] = ctx.trace_id  # type: ignore[assignment]
                for i in range(STEPS):
                    _step(log, std, owner, i)
                _end(log, owner)

        def worker(first: int) -> None:
            for owner in range(first, owners, 16):
                try:
                    request(owner)
                except _Failure:
                    pass

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _check_story(_lines(out), trace_ids, owners)

    def test_one_trace_many_threads_failing_midway(self) -> None:
        """Threads keep logging into a trace while it fails: each thread's lines stay in order."""
        out = _YieldingStream()
        tracelog.configure(level="INFO", stream=out, buffer=tracelog.TraceBuffer())
        log = tracelog.get_logger("fanout")
        started = threading.Barrier(9)

        def part(t: int) -> None:
            for i in range(100):
                log.debug("part", t=t, i=i)
                if i == 10:
                    started.wait(timeout=30)

        with tracelog.trace() as ctx:
            threads = [threading.Thread(target=tracelog.wrap(part), args=(t,)) for t in range(8)]
            for thread in threads:
                thread.start()
            started.wait(timeout=30)
            log.error("fan-out failed")
            for thread in threads:
                thread.join()
        lines = _lines(out)
        assert {ctx.trace_id} == {x["trace_id"] for x in lines}
        for t in range(8):
            assert list(range(100)) == [x["i"] for x in lines if x.get("t") == t]
        error_at = [x["message"] for x in lines].index("fan-out failed")
        for t in range(8):
            held_before = [x["i"] for x in lines[:error_at] if x.get("t") == t]
            assert list(range(len(held_before))) == held_before
            assert len(held_before) >= 11

    def test_many_traces_failing_while_others_hold(self) -> None:
        """Flushes of some traces interleave with holding in others; nothing crosses over."""
        out = _YieldingStream()
        tracelog.configure(level="INFO", stream=out, buffer=tracelog.TraceBuffer(max_total=500))
        log = tracelog.get_logger("mixed")
        trace_ids: dict[int, str] = {}
        lock = threading.Lock()

        def worker(n: int) -> None:
            for round_ in range(30):
                owner = n * 100 + round_
                with tracelog.trace() as ctx:
                    with lock:
                        trace_ids[owner] = ctx.trace_id  # type: ignore[assignment]
                    for i in range(30):
                        log.debug("step", owner=owner, i=i)
                    if round_ % 3 == 0:
                        log.error("failed", owner=owner)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seen: dict[int, list[int]] = defaultdict(list)
        errors = 0
        for line in _lines(out):
            assert trace_ids[line["owner"]] == line["trace_id"]
            if line["level"] == "error":
                errors += 1
            else:
                seen[line["owner"]].append(line["i"])
        assert 12 * 10 == errors
        for owner, steps in seen.items():
            assert owner % 100 % 3 == 0
            assert sorted(steps) == steps  # eviction may drop a whole story, never reorder one
        stats = buffering.stats()
        assert 12 * 30 * 30 == stats["flushed"] + stats["discarded"] + stats["dropped"]


_OPS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),
        st.sampled_from(["debug", "info", "error", "end", "raise", "mark_failed"]),
    ),
    max_size=60,
)


class TestModel:
    @settings(max_examples=150, deadline=None)
    @given(ops=_OPS)
    def test_output_matches_the_model(self, ops: list[tuple[int, str]]) -> None:
        """Four traces open at once, each in its own context; output equals a simple model."""
        out = io.BytesIO()
        tracelog.configure(level="INFO", stream=out, buffer=tracelog.TraceBuffer())
        log = tracelog.get_logger("model")
        contexts = [contextvars.Context() for _ in range(4)]
        activations = [tracelog.trace() for _ in range(4)]
        for ctx, activation in zip(contexts, activations):
            ctx.run(activation.__enter__)
        held: list[list[str]] = [[] for _ in range(4)]
        failed = [False] * 4
        ended = [False] * 4
        expected: list[str] = []
        for n, (k, op) in enumerate(ops):
            if ended[k]:
                continue
            name = f"{k}:{op}:{n}"
            if op == "debug":
                contexts[k].run(log.debug, name)
                if failed[k]:
                    expected.append(name)
                else:
                    held[k].append(name)
            elif op == "info":
                contexts[k].run(log.info, name)
                expected.append(name)
            elif op in ("error", "mark_failed"):
                if op == "error":
                    contexts[k].run(log.error, name)
                else:
                    contexts[k].run(buffering.mark_failed)
                expected.extend(held[k])
                held[k] = []
                failed[k] = True
                if op == "error":
                    expected.append(name)
            else:
                error = ValueError(name) if op == "raise" else None
                contexts[k].run(
                    activations[k].__exit__, type(error) if error else None, error, None
                )
                if error is not None:
                    expected.extend(held[k])
                held[k] = []
                ended[k] = True
        for k in range(4):
            if not ended[k]:
                contexts[k].run(activations[k].__exit__, None, None, None)
        trace_of = {f"{k}": a.context.trace_id for k, a in enumerate(activations)}
        lines = _lines(out)
        assert expected == [x["message"] for x in lines]
        for line in lines:
            assert trace_of[line["message"].split(":")[0]] == line["trace_id"]
        assert 0 == buffering.stats()["held"]
        assert None is context._current.get()
