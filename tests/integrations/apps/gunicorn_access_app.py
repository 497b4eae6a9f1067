"""A plain WSGI app behind tracelog's middleware, for gunicorn's own access line."""

from __future__ import annotations

from typing import Any

import tracelog
from tracelog.integrations.wsgi import TraceMiddleware

log = tracelog.get_logger("app")


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    tracelog.bind(user_id=7)
    log.info("hello")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


app = TraceMiddleware(hello, access_log=False)
