"""The module both processes import in docs/frameworks/celery.md's layout: the app and its tasks.

It configures no logging: the web process and the worker each do that in their own entry point
(the worker's is celery_shop_worker.py).
"""

from __future__ import annotations

import os
import sys

from celery import Celery

import tracelog
from tracelog.integrations import celery as tracelog_celery

broker = os.environ.get("BROKER_URL", "redis://127.0.0.1:6379/0")
app = Celery("celery_shop", broker=broker, backend=broker)
app.conf.update(broker_connection_retry_on_startup=True, worker_prefetch_multiplier=1)
tracelog_celery.instrument()

log = tracelog.get_logger("shop.tasks")


@app.task(name="celery_shop.charge")
def charge(order_id: int) -> dict[str, object]:
    log.debug("checking the card", order_id=order_id)
    log.info("charging", order_id=order_id)
    print(f"printed for order {order_id}")
    print(f"to stderr for order {order_id}", file=sys.stderr)
    return {"trace_id": tracelog.current_trace_id()}
