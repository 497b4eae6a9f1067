"""A Celery app with tracelog's signals connected, run by a real worker in the tests."""

from __future__ import annotations

import os

from celery import Celery
from celery.utils.log import get_task_logger

import tracelog
from tracelog.integrations import celery as tracelog_celery

tracelog.configure(service="celery-app")
tracelog_celery.instrument()

broker = os.environ.get("BROKER_URL", "redis://127.0.0.1:6379/0")
app = Celery("celery_app", broker=broker, backend=broker)
app.conf.update(broker_connection_retry_on_startup=True, worker_prefetch_multiplier=1)

log = tracelog.get_logger("tasks")
task_log = get_task_logger(__name__)


@app.task(name="celery_app.add")
def add(x: int, y: int) -> dict[str, object]:
    log.info("adding", x=x, y=y)
    task_log.info("task logger line %s", x)
    ctx = tracelog.current()
    assert ctx is not None
    return {
        "sum": x + y,
        "trace_id": ctx.trace_id,
        "span_id": ctx.span_id,
        "parent_span_id": ctx.parent_span_id,
        "tracestate": ctx.tracestate,
        "fields": dict(ctx.fields),
    }


@app.task(name="celery_app.fan_out")
def fan_out() -> str:
    log.info("fanning out")
    return str(add.delay(1, 1).id)
