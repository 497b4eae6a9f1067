"""Thin adapters over :mod:`tracelog.propagation`: servers, HTTP clients, task queues.

Each module imports its framework, so import the one you use:
``tracelog.integrations.asgi``, ``.wsgi``, ``.django``, ``.celery``,
``.httpx``, ``.requests``, ``.gunicorn``, ``.otel``; ``.servers`` routes servers' own
loggers through tracelog.
"""
