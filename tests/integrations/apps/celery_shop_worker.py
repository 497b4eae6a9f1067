"""The worker's entry point in docs/frameworks/celery.md's layout: celery -A celery_shop_worker."""

from __future__ import annotations

from celery_shop import app  # noqa: F401  (celery -A finds the app here)

from tracelog.integrations import celery as tracelog_celery

tracelog_celery.configure_worker(service="shop-worker")
