"""Servers' and workers' own loggers (uvicorn, gunicorn, Celery, Django) as tracelog lines.

Servers give their loggers handlers of their own and stop them propagating,
so their lines bypass the root logger where ``tracelog.configure()`` listens.
:func:`tame_loggers` undoes that: no own handlers, records propagate to the
root, and so every line is tracelog JSON with the request's trace ids.

    tracelog.configure()
    tracelog.integrations.servers.tame_loggers()

Call it after the server set up its logging: at import of your app module
(uvicorn and gunicorn import the app after configuring their loggers), or
use :func:`uvicorn_log_config` / :class:`tracelog.integrations.gunicorn.GunicornLogger`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["ACCESS_LOGGERS", "SERVER_LOGGERS", "tame_loggers", "uvicorn_log_config"]

SERVER_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "gunicorn",
    "gunicorn.error",
    "gunicorn.access",
    "waitress",
    "celery",
    "celery.task",
    "celery.redirected",
    "django",
    "django.server",
    "django.request",
)

#: Servers' access loggers: tracelog's middleware writes the access line instead.
ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access", "django.server")


def tame_loggers(names: Iterable[str] = SERVER_LOGGERS, *, access_log: bool = False) -> None:
    """Route ``names`` through the root logger (so through tracelog); silence access loggers.

    With ``access_log=True`` the servers' own access lines are kept too (as
    tracelog lines); by default they are dropped, since tracelog's
    middleware writes a richer one.
    """
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
        logger.disabled = False  # a dictConfig with disable_existing_loggers may have
        if name in ACCESS_LOGGERS:
            logger.setLevel(logging.NOTSET if access_log else logging.WARNING)


def uvicorn_log_config(*, access_log: bool = False) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict for ``uvicorn.run(..., log_config=...)``.

    It gives uvicorn's loggers no handlers of their own, so their records
    reach tracelog on the root logger (call ``tracelog.configure()`` first).
    """
    access: dict[str, Any] = {"handlers": [], "propagate": True}
    if not access_log:
        access["level"] = "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": access,
        },
    }
