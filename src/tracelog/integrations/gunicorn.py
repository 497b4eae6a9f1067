"""gunicorn: its own loggers as tracelog lines, in the master and in every worker.

    gunicorn --logger-class tracelog.integrations.gunicorn.GunicornLogger app:app

gunicorn configures its loggers itself (and again on reload). This logger
class lets it, then routes ``gunicorn.error`` (and ``gunicorn.access`` when
an access log is asked for) through tracelog, configuring tracelog with the
defaults and ``TRACELOG_*`` environment if nothing configured it yet.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from tracelog.integrations.servers import tame_loggers

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
