"""The two services of ``tracelog demo``: ``shop`` calls ``payments`` over HTTP on loopback.

Run as ``python -m tracelog._cli.demo_services NAME LOGFILE``. The process prints
``listening on http://127.0.0.1:PORT`` and serves until its stdin closes. ``shop`` first reads
one line from stdin: the payments URL. Both mix tracelog loggers with plain stdlib loggers, as
a real code base does, and both write tracelog's JSON lines to LOGFILE.
"""

from __future__ import annotations

import json
import logging
import random
import socketserver
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import tracelog
from tracelog import propagation
from tracelog.integrations.wsgi import TraceMiddleware

StartResponse = Callable[..., Any]
#: The order whose card is declined: the one failing request of the demo.
DECLINED_ORDER = 1005


class CardDeclined(Exception):
    pass


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the trace middleware writes one access line per request instead


def _order(environ: dict[str, Any]) -> int:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    return int(query.get("order", ["0"])[0])


def _reply(start_response: StartResponse, status: str, body: dict[str, Any]) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def payments_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    log = tracelog.get_logger("payments.api")
    order = _order(environ)
    log.info("charge requested", order_id=order, amount_cents=1999 + order % 7 * 500)
    with tracelog.span("fraud check"):
        # An old module that only knows the standard library's logging.
        fraud = logging.getLogger("payments.fraud")
        fraud.info("checking order %d", order)
        time.sleep(random.uniform(0.01, 0.03))
        fraud.info("score %.2f for order %d", random.random(), order)
    with tracelog.span("charge card"):
        log.info("charging card", order_id=order)
        time.sleep(random.uniform(0.03, 0.09))
        try:
            if order == DECLINED_ORDER:
                raise CardDeclined(f"card ending 4242 declined for order {order}")
        except CardDeclined:
            log.exception("charge failed", order_id=order)
            return _reply(start_response, "402 Payment Required", {"error": "card declined"})
        log.info("card charged", order_id=order)
    return _reply(start_response, "200 OK", {"charged": order})


def shop_app(payments_url: str) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        log = tracelog.get_logger("shop.checkout")
        order = _order(environ)
        log.info("checkout started", order_id=order)
        with tracelog.span("reserve stock"):
            inventory = logging.getLogger("shop.inventory")
            inventory.info("reserving items for order %d", order)
            time.sleep(random.uniform(0.005, 0.02))
            inventory.info("reserved %d items", 1 + order % 3)
        with tracelog.span("call payments"):
            log.info("calling payments", order_id=order)
            headers: dict[str, str] = propagation.inject({})
            request = urllib.request.Request(
                f"{payments_url}/charge?order={order}", method="POST", headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                log.info("payment accepted", order_id=order, status=response.status)
            except urllib.error.HTTPError as error:
                log.error("payment refused", order_id=order, status=error.code)
                return _reply(start_response, "402 Payment Required", {"order": order})
        log.info("order placed", order_id=order)
        return _reply(start_response, "200 OK", {"order": order})

    return app


def main(argv: list[str]) -> int:
    name, log_path = argv[0], argv[1]
    with open(log_path, "ab", buffering=0) as log_file:
        tracelog.configure(level="INFO", format="json", stream=log_file, service=name)
        if name == "payments":
            app: Any = payments_app
        else:
            print("ready", flush=True)
            app = shop_app(sys.stdin.readline().strip())
        server = make_server(
            "127.0.0.1", 0, TraceMiddleware(app), server_class=_Server, handler_class=_QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        tracelog.get_logger(f"{name}.server").info("listening", port=server.server_port)
        print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
        try:
            sys.stdin.read()  # serve until the demo closes our stdin
        finally:
            server.shutdown()
            thread.join(timeout=5)
            server.server_close()
            tracelog.reset()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
