"""TraceBuffer under faults nobody planned for: requests sharing one upstream trace id, lines
too big for memory, memory running out."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import tracelog
from tracelog import buffering
from tracelog.integrations.asgi import TraceMiddleware

UPSTREAM = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{UPSTREAM}-00f067aa0ba902b7-01".encode()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    tracelog.reset()


def lines(out: io.BytesIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


class TestRequestsSharingATraceId:
    def test_trace_blocks_in_threads_are_held_apart(self) -> None:
        out = io.BytesIO()
        tracelog.configure(level="INFO", stream=out, buffer=tracelog.TraceBuffer())
        log = tracelog.get_logger("api")
        both_logged = threading.Barrier(2)
        a_ended = threading.Event()

        def request(name: str) -> None:
            with tracelog.trace(trace_id=UPSTREAM, parent_span_id="00f067aa0ba902b7"):
                log.debug("held", request=name)
                both_logged.wait(10)
                if name == "b":
                    a_ended.wait(10)
                    with tracelog.span("query"):
                        log.debug("in a span", request=name)
                    log.error("failed", request=name)
            if name == "a":
                a_ended.set()

        threads = [threading.Thread(target=request, args=(n,)) for n in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        written = [(line["request"], line["message"]) for line in lines(out)]
        assert [("b", "held"), ("b", "in a span"), ("b", "failed")] == written
        stats = buffering.stats()
        assert (2, 1, 0) == (stats["flushed"], stats["discarded"], stats["held"])

    def test_asgi_requests_with_one_traceparent_are_held_apart(self) -> None:
        out = io.BytesIO()
        tracelog.configure(level="INFO", stream=out, buffer=tracelog.TraceBuffer())
        log = tracelog.get_logger("api")

        async def main() -> list[dict[str, Any]]:
            logged: list[asyncio.Event] = [asyncio.Event(), asyncio.Event()]
            a_done = asyncio.Event()

            async def app(scope: Any, receive: Any, send: Any) -> None:
                name = scope["path"].strip("/")
                log.debug("held", request=name)
                logged[name == "b"].set()
                await asyncio.gather(*(event.wait() for event in logged))
                if name == "b":
                    await a_done.wait()
                status = 500 if name == "b" else 200
                await send({"type": "http.response.start", "status": status, "headers": []})
                await send({"type": "http.response.body", "body": b""})

            middleware = TraceMiddleware(app)
            sent: list[Any] = []

            async def one(name: str) -> None:
                scope = {
                    "type": "http",
                    "method": "GET",
                    "path": f"/{name}",
                    "headers": [(b"traceparent", TRACEPARENT)],
                    "query_string": b"",
                }

                async def receive() -> dict[str, Any]:
                    return {"type": "http.request", "body": b"", "more_body": False}

                async def send(message: Any) -> None:
                    sent.append(message)

                await middleware(scope, receive, send)
                if name == "a":
                    a_done.set()

            await asyncio.wait_for(asyncio.gather(one("a"), one("b")), 20)
            return lines(out)

        written = asyncio.run(main())
        held = [line["request"] for line in written if line.get("message") == "held"]
        assert ["b"] == held  # a ended cleanly: only its own line was let go
        assert all(line["trace_id"] == UPSTREAM for line in written)


class TestBytes:
    def test_held_lines_are_bounded_in_bytes_and_counted(self) -> None:
        out = io.BytesIO()
        buffer = tracelog.TraceBuffer(max_bytes=200_000)
        tracelog.configure(level="INFO", stream=out, buffer=buffer)
        log = tracelog.get_logger("api")
        with tracelog.trace():
            for number in range(100):
                log.debug("big", number=number, pad="x" * 10_000)
            stats = buffering.stats()
            assert 0 < stats["held_bytes"] <= 200_000
            assert 100 == stats["held"] + stats["dropped"]
            log.error("failed")
        numbers = [line["number"] for line in lines(out) if line["message"] == "big"]
        assert numbers == list(range(100 - len(numbers), 100))  # the newest are kept
        stats = buffering.stats()
        assert 100 == stats["flushed"] + stats["dropped"]
        assert 64 * 1024 * 1024 == tracelog.TraceBuffer().max_bytes

    def test_many_big_lines_under_a_memory_limit(self) -> None:
        script = """
            import contextlib, json, resource, sys, tracelog
            from tracelog import buffering
            tracelog.configure(level="INFO", stream=open("/dev/null", "wb"),
                               buffer=tracelog.TraceBuffer(max_bytes=32 * 1024 * 1024))
            # Far less than the 25 * 200 * 64 KiB (320 MiB) these traces would otherwise hold.
            limit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 + 200 * 2**20
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
            log = tracelog.get_logger("api")
            pad = "x" * 65536
            with contextlib.ExitStack() as open_traces:  # 25 requests, all still running
                for _ in range(25):
                    open_traces.enter_context(tracelog.trace())
                    for n in range(200):
                        log.debug("big", n=n, pad=pad)
                print(json.dumps(buffering.stats()))
        """
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            check=False,
        )
        assert 0 == result.returncode, result.stderr
        stats = orjson.loads(result.stdout)
        assert stats["held_bytes"] <= 32 * 1024 * 1024
        assert 25 * 200 == stats["held"] + stats["dropped"]


class TestMemoryError:
    def test_a_memory_error_while_holding_is_counted_not_raised(
        self, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        out = io.BytesIO()
        tracelog.configure(level="INFO", stream=out, buffer=tracelog.TraceBuffer())
        log = tracelog.get_logger("api")
        with tracelog.trace():
            log.debug("kept until memory runs out")

            def no_memory(data: Any) -> Any:
                raise MemoryError

            monkeypatch.setattr("tracelog._gate.compact", no_memory)
            log.debug("this one")  # must not raise
            monkeypatch.undo()
            log.debug("after")
            log.error("failed")
        assert ["after", "failed"] == [line["message"] for line in lines(out)]
        stats = buffering.stats()
        assert (2, 1) == (stats["dropped"], stats["flushed"])
        assert "out of memory" in capfd.readouterr().err
