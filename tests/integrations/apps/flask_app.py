"""A Flask app behind tracelog's WSGI middleware, served by waitress or gunicorn in the tests."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, jsonify

import tracelog
from tracelog.integrations.servers import tame_loggers
from tracelog.integrations.wsgi import TraceMiddleware

tracelog.configure(service="flask-app")
tame_loggers()

log = tracelog.get_logger("app")
app = Flask(__name__)


@app.get("/work/<int:n>")
def work(n: int) -> Response:
    log.info("step", n=n, step=0)
    time.sleep(0.001 * (n % 3))
    app.logger.warning("flask logger line for %s", n, extra={"n": n})
    log.info("step", n=n, step=1)
    return jsonify(n=n, trace_id=tracelog.current_trace_id())


@app.get("/boom")
def boom() -> Response:
    raise RuntimeError("boom")


@app.get("/stream")
def stream() -> Response:
    def chunks() -> Iterator[str]:
        for i in range(3):
            log.info("chunk", i=i)
            yield f"{i}\n"

    return Response(chunks())


app.wsgi_app = TraceMiddleware(app.wsgi_app)  # type: ignore[method-assign]
