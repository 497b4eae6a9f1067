"""Service B: prices items. Knows nothing of A; its lines continue A's trace from the headers."""

from __future__ import annotations

from fastapi import FastAPI

import tracelog
from tracelog.integrations.asgi import TraceMiddleware
from tracelog.integrations.servers import tame_loggers

tracelog.configure(service="pricing")
tame_loggers()
log = tracelog.get_logger("pricing")

app = FastAPI()
app.add_middleware(TraceMiddleware)


@app.get("/price/{item}")
async def price(item: str) -> dict[str, object]:
    log.info("pricing item", item=item)
    return {"item": item, "price": 42}
