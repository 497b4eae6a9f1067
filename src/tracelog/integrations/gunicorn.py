"""gunicorn: its own loggers as tracelog lines, in the master and in every worker.

    gunicorn --logger-class tracelog.integrations.gunicorn.GunicornLogger app:app

gunicorn configures its loggers itself (and again on reload). This logger
class lets it, then routes ``gunicorn.error`` (and ``gunicorn.access`` when
an access log is asked for) through tracelog, configuring tracelog with the
defaults and ``TRACELOG_*`` environment if nothing configured it yet.

gunicorn writes its access line after the response is sent, when the
request's context is gone; the WSGI and Django middlewares leave the context
in the environ, and this class writes the line in it, so it carries the
request's trace id and fields.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from tracelog import context
from tracelog.integrations.servers import tame_loggers
from tracelog.integrations.wsgi import ENVIRON_CONTEXT

__all__ = ["GunicornLogger"]


class GunicornLogger(Logger):  # type: ignore[misc]
    """``--logger-class`` for gunicorn: its lines come out as tracelog JSON."""

    def setup(self, cfg: Any) -> None:
        from tracelog import config

        super().setup(cfg)
        if not config.is_configured():
            config.configure()
        tame_loggers(
            ("gunicorn", "gunicorn.error", "gunicorn.access"),
            access_log=cfg.accesslog is not None,
        )

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        ctx = environ.get(ENVIRON_CONTEXT) if isinstance(environ, dict) else None
        if not isinstance(ctx, context.TraceContext):
            super().access(resp, req, environ, request_time)
            return
        activation = context.activate(ctx)
        activation.start(hooks=False)  # the request is over: set again for its last line
        try:
            super().access(resp, req, environ, request_time)
        finally:
            activation.end()
