"""A short tour: JSON lines with trace ids, from structlog and stdlib loggers alike.

Run:  python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import tracelog

tracelog.configure(level="INFO", service="shop")
log = tracelog.get_logger("shop.orders")
legacy = logging.getLogger("shop.legacy")  # any stdlib logger, yours or a dependency's


def reserve_stock(order_id: int) -> None:
    legacy.info("stock reserved for order %s", order_id, extra={"warehouse": "north"})


@tracelog.traced
async def place_order(order_id: int, user_id: int) -> None:
    tracelog.bind(user_id=user_id)  # on every line of this request from here on
    log.info("order received", order_id=order_id)
    with ThreadPoolExecutor() as pool:  # the trace follows the work into the thread
        pool.submit(tracelog.wrap(reserve_stock), order_id).result()
    with tracelog.span("charge card"):
        await asyncio.sleep(0.01)
        log.info("card charged", amount_cents=1250, card_token="tok_live_123")  # redacted
    if order_id == 3:
        try:
            raise TimeoutError("payment provider did not answer")
        except TimeoutError:
            log.exception("order failed", order_id=order_id)


async def main() -> None:
    log.info("shop starting")  # outside any trace: no trace keys
    await asyncio.gather(*(place_order(order_id, 100 + order_id) for order_id in (1, 2, 3)))


if __name__ == "__main__":
    asyncio.run(main())
