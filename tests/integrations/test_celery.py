"""Celery: the trace goes from the publisher into tasks run by a real worker over a real redis."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from _servers import Process, free_port, python

import tracelog
from tracelog.integrations import celery as tracelog_celery

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS is None,
    reason="redis-server is not installed (apt-get install redis-server; .ci/run does)",
)


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    port = free_port()
    args = [
        str(REDIS),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    with Process(args) as proc:
        proc.wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="module")
def worker(broker: str) -> Iterator[Process]:
    args = python(
        "-m", "celery", "-A", "celery_app", "--quiet", "worker", "--pool=prefork",
        "--concurrency=2", "--loglevel=INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    )  # fmt: skip
    with Process(args, BROKER_URL=broker) as proc:
        proc.wait_for_line(lambda e: "ready" in str(e.get("message")), timeout=60)
        yield proc


@pytest.fixture
def publisher(broker: str) -> Iterator[Any]:
    from celery import Celery

    tracelog_celery.instrument()
    app = Celery("publisher", broker=broker, backend=broker)
    try:
        yield app
    finally:
        tracelog_celery.uninstrument()
        app.close()


class TestCeleryWorker:
    def test_trace_continues_into_the_task(self, worker: Process, publisher: Any) -> None:
        with tracelog.trace(tracestate="congo=t61rcWkgMzE", request_id="req-c1") as ctx:
            result = publisher.send_task("celery_app.add", (2, 3))
        answer = result.get(timeout=60)
        assert 5 == answer["sum"]
        assert ctx.trace_id == answer["trace_id"]
        assert answer["parent_span_id"] not in (None, ctx.span_id)  # the publish is a child span
        assert answer["span_id"] != answer["parent_span_id"]
        assert "congo=t61rcWkgMzE" == answer["tracestate"]
        assert {
            "task_id": result.id,
            "task_name": "celery_app.add",
            "request_id": "req-c1",
        } == answer["fields"]
        worker.wait_for_line(
            lambda e: e.get("task_id") == result.id and "succeeded" in e["message"]
        )
        lines = [e for e in worker.events() if e.get("task_id") == result.id]
        messages = {e["message"] for e in lines}
        assert {"adding", "task logger line 2"} <= messages
        assert any("succeeded" in m for m in messages)  # Celery's own line, in the task's span
        assert {ctx.trace_id} == {e["trace_id"] for e in lines}
        assert {answer["span_id"]} == {e["span_id"] for e in lines}
        assert {"req-c1"} == {e["request_id"] for e in lines}

    def test_each_task_its_own_trace(self, worker: Process, publisher: Any) -> None:
        sent = []
        for i in range(20):
            with tracelog.trace() as ctx:
                sent.append((ctx.trace_id, publisher.send_task("celery_app.add", (i, i))))
        for trace_id, result in sent:
            assert trace_id == result.get(timeout=60)["trace_id"]
        for trace_id, result in sent:
            worker.wait_for_line(
                lambda e, r=result: e.get("task_id") == r.id and "succeeded" in e["message"]
            )
            lines = [e for e in worker.events() if e.get("task_id") == result.id]
            assert {trace_id} == {e["trace_id"] for e in lines}

    def test_untraced_publish_starts_a_trace_in_the_worker(
        self, worker: Process, publisher: Any
    ) -> None:
        answer = publisher.send_task("celery_app.add", (1, 1)).get(timeout=60)
        assert answer["trace_id"]
        assert answer["parent_span_id"] is None

    def test_task_publishing_a_task(self, worker: Process, publisher: Any) -> None:
        with tracelog.trace() as ctx:
            child_id = publisher.send_task("celery_app.fan_out").get(timeout=60)
        child = publisher.AsyncResult(child_id).get(timeout=60)
        assert ctx.trace_id == child["trace_id"]

    def test_worker_lines_are_tracelog_json(self, worker: Process) -> None:
        events = worker.events()  # strict: every stdout line is JSON
        assert {"celery-app"} == {e.get("service") for e in events}
        assert any(e["logger"].startswith("celery") for e in events)
        assert not [line for line in worker.stderr if "Traceback" in line]


class TestEager:
    def test_eager_task_is_a_span_of_the_caller(self) -> None:
        from celery import Celery

        tracelog_celery.instrument()
        app = Celery("eager")
        app.conf.task_always_eager = True

        @app.task
        def probe() -> Any:
            ctx = tracelog.current()
            return ctx.trace_id, ctx.parent_span_id, ctx.fields.get("task_name")

        try:
            with tracelog.trace() as ctx:
                trace_id, parent, name = probe.delay().get()
        finally:
            tracelog_celery.uninstrument()
        assert (ctx.trace_id, ctx.span_id) == (trace_id, parent)
        assert name.endswith("probe")
        assert tracelog.current() is None
