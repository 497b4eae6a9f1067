"""Celery: the trace goes from the publisher into tasks run by a real worker over a real redis."""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _servers import APPS, Process, free_port, python

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


def start_worker(app: str, broker: str, *options: str, **env: str) -> Process:
    args = python(
        "-m", "celery", "-A", app, "--quiet", "worker", "--pool=prefork", "--concurrency=1",
        f"--hostname={app}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
        *options,
    )  # fmt: skip
    proc = Process(args, BROKER_URL=broker, **env)
    try:
        proc.wait_for_line(lambda e: "ready" in str(e.get("message")), timeout=60)
    except BaseException:
        proc.stop()
        raise
    return proc


@pytest.fixture(scope="module")
def shop_broker(broker: str) -> str:
    return broker.removesuffix("/0") + "/1"  # its own redis database: its own queue


@pytest.fixture(scope="module")
def shop_worker(shop_broker: str) -> Iterator[Process]:
    """The docs' worker: configure_worker() in its entry point, started with --loglevel=DEBUG."""
    with start_worker("celery_shop_worker", shop_broker, "--loglevel=DEBUG") as proc:
        yield proc


@pytest.fixture
def web(shop_broker: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, io.StringIO]]:
    """The docs' web process: configures tracelog, then imports the shared tasks module."""
    out = io.StringIO()
    tracelog.configure(service="shop-web", stream=out)
    monkeypatch.syspath_prepend(str(APPS))
    monkeypatch.setenv("BROKER_URL", shop_broker)
    monkeypatch.delitem(sys.modules, "celery_shop", raising=False)
    import celery_shop

    try:
        yield celery_shop, out
    finally:
        tracelog_celery.uninstrument()
        celery_shop.app.close()
        del sys.modules["celery_shop"]


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
        (received,) = [e for e in lines if "received" in e["message"]]
        assert answer["parent_span_id"] == received["span_id"]  # logged in the publish span
        lines.remove(received)
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


class TestWorkerEntryPoint:
    """docs/frameworks/celery.md's layout: shared tasks module, web and worker entry points."""

    def test_importing_the_tasks_keeps_the_web_configuration(
        self, shop_worker: Process, web: tuple[Any, io.StringIO]
    ) -> None:
        shop, out = web
        with tracelog.trace() as ctx:
            tracelog.get_logger("shop.web").info("order placed")
            result = shop.charge.delay(7)
        assert ctx.trace_id == result.get(timeout=60)["trace_id"]
        assert [("order placed", "shop-web"), ("publish celery_shop.charge", "shop-web")] == [
            (e["message"], e["service"]) for e in map(json.loads, out.getvalue().splitlines())
        ]
        shop_worker.wait_for_line(lambda e: e.get("message") == "charging")
        assert {"shop-worker"} == {e.get("service") for e in shop_worker.events()}

    def test_print_in_a_task_is_a_json_line_of_its_trace(
        self, shop_worker: Process, shop_broker: str
    ) -> None:
        from celery import Celery

        tracelog_celery.instrument()
        app = Celery("publisher", broker=shop_broker, backend=shop_broker)
        try:
            with tracelog.trace() as ctx:
                result = app.send_task("celery_shop.charge", (8,))
            result.get(timeout=60)
        finally:
            tracelog_celery.uninstrument()
            app.close()
        for text in ("printed for order 8", "to stderr for order 8"):
            line = shop_worker.wait_for_line(lambda e, t=text: e.get("message") == t)
            assert ("celery.redirected", "warning") == (line["logger"], line["level"])
            assert (ctx.trace_id, result.id) == (line["trace_id"], line["task_id"])
        shop_worker.events()  # strict: every stdout line is JSON
        assert [] == [line for line in shop_worker.stderr if "order 8" in line]

    def test_loglevel_on_the_command_line_applies(self, shop_worker: Process) -> None:
        line = shop_worker.wait_for_line(lambda e: e.get("message") == "checking the card")
        assert "debug" == line["level"]

    def test_loglevel_not_applied_after_plain_configure_says_so(self, broker: str) -> None:
        # celery_app calls tracelog.configure() at import: the level it set stays, with a warning.
        plain_broker = broker.removesuffix("/0") + "/2"
        with start_worker("celery_app", plain_broker, "--loglevel=DEBUG") as proc:
            line = proc.wait_for_line(lambda e: "--loglevel=DEBUG" in str(e.get("message")))
            assert not [e for e in proc.events() if e["level"] == "debug"]
        assert ("warning", "tracelog.integrations.celery") == (line["level"], line["logger"])
        assert "configure_worker()" in line["message"]


class TestLevelPrecedence:
    """configure_worker(level=) > TRACELOG_LEVEL > the worker's --loglevel > info."""

    @staticmethod
    def setup_logging(*argv: str) -> int:
        """Run Celery's setup_logging signal as `celery worker *argv` does; the level in force."""
        from celery import Celery, signals
        from celery.bin.base import CLIContext
        from celery.bin.celery import celery
        from celery.bin.worker import worker

        app = Celery("levels")
        obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
        root_context = celery.make_context(
            "celery", ["worker"], obj=obj, auto_envvar_prefix="CELERY"
        )
        with root_context as root:
            with worker.make_context("worker", list(argv), parent=root, obj=obj) as ctx:
                signals.setup_logging.send(sender=None, loglevel=ctx.params["loglevel"])
        levels = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
        log = tracelog.get_logger("probe")
        return next(level for level in levels if log.is_enabled_for(level))

    @pytest.fixture(autouse=True)
    def _instrumented(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.delenv("TRACELOG_LEVEL", raising=False)
        monkeypatch.delenv("CELERY_WORKER_LOGLEVEL", raising=False)
        tracelog_celery.instrument()
        yield
        tracelog_celery.uninstrument()
        logging.getLogger().handlers.clear()

    @pytest.mark.parametrize(
        ("options", "env", "argv", "expected"),
        [
            ({}, None, ["--loglevel=DEBUG"], logging.DEBUG),
            ({}, None, ["-l", "error"], logging.ERROR),
            ({}, None, [], logging.INFO),  # Celery's default WARNING is not a choice
            ({}, "WARNING", ["--loglevel=DEBUG"], logging.WARNING),
            ({"level": "ERROR"}, "WARNING", ["--loglevel=DEBUG"], logging.ERROR),
        ],
    )
    def test_configure_worker(
        self,
        options: dict[str, Any],
        env: str | None,
        argv: list[str],
        expected: int,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        if env is not None:
            monkeypatch.setenv("TRACELOG_LEVEL", env)
        tracelog_celery.configure_worker(stream=io.StringIO(), **options)
        assert expected == self.setup_logging(*argv)

    def test_worker_loglevel_from_celerys_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CELERY_WORKER_LOGLEVEL", "DEBUG")
        tracelog_celery.configure_worker(stream=io.StringIO())
        assert logging.DEBUG == self.setup_logging()

    def test_unconfigured_worker(self) -> None:
        assert logging.DEBUG == self.setup_logging("--loglevel=DEBUG")
        tracelog.reset()
        assert logging.INFO == self.setup_logging()

    def test_worker_entry_wins_over_a_later_configure(self) -> None:
        # A Django worker may load settings.py (and its tracelog.configure()) after -A's module.
        out = io.StringIO()
        tracelog_celery.configure_worker(service="shop-worker", stream=out)
        tracelog.configure(service="shop-web", stream=out)
        self.setup_logging()
        tracelog.get_logger("probe").info("hello")
        assert "shop-worker" == json.loads(out.getvalue().splitlines()[-1])["service"]


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


class TestLinesInTheTrace:
    def test_received_line_carries_the_trace(self, worker: Process, publisher: Any) -> None:
        with tracelog.trace() as ctx:
            result = publisher.send_task("celery_app.add", (4, 4))
        answer = result.get(timeout=60)
        received = worker.wait_for_line(
            lambda e: e.get("task_id") == result.id and "received" in str(e.get("message"))
        )
        assert ctx.trace_id == received["trace_id"]
        assert answer["parent_span_id"] == received["span_id"]  # the publish span
        assert "celery_app.add" == received["task_name"]

    def test_publish_span_is_logged_so_the_child_hangs_under_its_parent(
        self, worker: Process, publisher: Any, tmp_path: Path
    ) -> None:
        out = io.StringIO()
        tracelog.configure(service="publisher", stream=out)
        with tracelog.trace() as ctx:
            result = publisher.send_task("celery_app.add", (5, 5))
        answer = result.get(timeout=60)
        (publish,) = [json.loads(line) for line in out.getvalue().splitlines()]
        assert "publish celery_app.add" == publish["message"] == publish["span_name"]
        assert (ctx.trace_id, ctx.span_id) == (publish["trace_id"], publish["parent_span_id"])
        assert answer["parent_span_id"] == publish["span_id"]
        assert result.id == publish["task_id"]
        worker.wait_for_line(
            lambda e: e.get("task_id") == result.id and "succeeded" in e["message"]
        )
        logs = tmp_path / "both.jsonl"
        worker_lines = [e for e in worker.events() if e.get("trace_id") == ctx.trace_id]
        logs.write_text("".join(json.dumps(e) + "\n" for e in [publish, *worker_lines]))
        shown = subprocess.run(
            [sys.executable, "-c", "import sys; from tracelog.cli import main; sys.exit(main())",
             "show", ctx.trace_id, str(logs)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        tree = shown.stdout.split("\n\n")[1].splitlines()
        (at,) = [i for i, row in enumerate(tree) if row.startswith("└─ publish celery_app.add")]
        assert tree[at + 1].startswith("   └─ adding"), shown.stdout  # the task, under its publish

    def test_parent_task_publish_links_the_child_task(
        self, worker: Process, publisher: Any
    ) -> None:
        with tracelog.trace() as ctx:
            child_id = publisher.send_task("celery_app.fan_out").get(timeout=60)
        child = publisher.AsyncResult(child_id).get(timeout=60)
        publish = worker.wait_for_line(
            lambda e: e.get("task_id") == child_id and e.get("logger") == "tracelog.celery"
        )
        fanning = worker.wait_for_line(
            lambda e: e.get("message") == "fanning out" and e["trace_id"] == ctx.trace_id
        )
        assert fanning["span_id"] == publish["parent_span_id"]  # published from the parent task
        assert publish["span_id"] == child["parent_span_id"]
