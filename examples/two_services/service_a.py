"""Service A: takes orders and asks service B (at $PRICING_URL) for the price over HTTP."""

from __future__ import annotations

import os

import httpx
from fastapi import FastAPI

import tracelog
from tracelog.integrations.asgi import TraceMiddleware
from tracelog.integrations.httpx import instrument
from tracelog.integrations.servers import tame_loggers

tracelog.configure(service="orders")
tame_loggers()
log = tracelog.get_logger("orders")

app = FastAPI()
app.add_middleware(TraceMiddleware)
pricing = instrument(
    httpx.AsyncClient(base_url=os.environ.get("PRICING_URL", "http://127.0.0.1:8001"))
)


@app.get("/order/{item}")
async def order(item: str) -> dict[str, object]:
    log.info("order received", item=item)
    quote = (await pricing.get(f"/price/{item}")).json()
    log.info("order placed", item=item, price=quote["price"])
    return {"item": item, "price": quote["price"], "trace_id": tracelog.current_trace_id()}
