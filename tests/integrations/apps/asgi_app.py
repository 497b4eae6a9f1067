"""A FastAPI app behind tracelog's ASGI middleware, served by uvicorn in the integration tests."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import FastAPI, WebSocket
from fastapi.responses import StreamingResponse

import tracelog
from tracelog.integrations.asgi import TraceMiddleware
from tracelog.integrations.servers import tame_loggers

tracelog.configure(service="asgi-app")
tame_loggers()

log = tracelog.get_logger("app")
std = logging.getLogger("app.stdlib")

app = FastAPI()
app.add_middleware(TraceMiddleware)


@app.get("/work/{n}")
async def work(n: int) -> dict[str, object]:
    for step in range(3):
        log.info("async step", n=n, step=step)
        await asyncio.sleep(0.001 * (n % 3))
    std.warning("stdlib line for %s", n, extra={"n": n})
    return {"n": n, "trace_id": tracelog.current_trace_id()}


@app.get("/sync/{n}")
def sync_work(n: int) -> dict[str, object]:
    log.info("sync step", n=n, step=0)
    time.sleep(0.001 * (n % 3))
    log.info("sync step", n=n, step=1)
    return {"n": n, "trace_id": tracelog.current_trace_id()}


@app.get("/boom")
async def boom() -> None:
    log.info("about to fail")
    raise RuntimeError("boom")


@app.get("/boom-sync")
def boom_sync() -> None:
    raise ValueError("sync boom")


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def chunks():  # type: ignore[no-untyped-def]
        for i in range(3):
            log.info("chunk", i=i)
            yield f"{i}\n".encode()
            await asyncio.sleep(0)

    return StreamingResponse(chunks())


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    log.info("ws message", text=text)
    await websocket.send_text(str(tracelog.current_trace_id()))
    await websocket.close()
