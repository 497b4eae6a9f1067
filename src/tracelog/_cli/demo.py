"""``tracelog demo``: two services on loopback, concurrent requests, one failure, then the CLI.

``shop`` and ``payments`` run as two processes (see :mod:`tracelog._cli.demo_services`), each
writing its own JSON log. The demo sends requests, stops both, and shows ``traces`` and
``show`` on the failing trace, merged from the two files.
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import IO

from tracelog._cli import show, traces
from tracelog._cli.pretty import Style, colour_wanted
from tracelog._cli.reader import Skipped
from tracelog._terminal import BOLD

__all__ = ["run"]

_START_TIMEOUT = 15.0


class _Service:
    """One demo service process; always stopped by :meth:`stop`."""

    def __init__(self, name: str, folder: str) -> None:
        self.name = name
        self.log = os.path.join(folder, f"{name}.log")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for key in ("TRACEPARENT", "TRACESTATE", "TRACELOG_FORMAT", "TRACELOG_SCHEMA"):
            env.pop(key, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracelog._cli.demo_services", name, self.log],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str] | None) -> None:
        for line in stream or ():
            self._lines.put(line.strip())
        self._lines.put("")

    def wait_for(self, prefix: str) -> str:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
            if not line and self.process.poll() is not None:
                break
        error = ""
        if self.process.poll() is not None and self.process.stderr is not None:
            error = self.process.stderr.read()
        raise RuntimeError(f"the {self.name} service did not start: {error.strip()[-2000:]}")

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        try:
            if self.process.stdin:
                self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=5)
        finally:
            for stream in (self.process.stdout, self.process.stderr):
                if stream:
                    stream.close()


def _request(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def run(args: argparse.Namespace) -> int:
    folder = args.dir or tempfile.mkdtemp(prefix="tracelog-demo-")
    os.makedirs(folder, exist_ok=True)
    out = sys.stdout
    style = Style(colour_wanted(out))

    def say(text: str = "") -> None:
        out.write(text + "\n")

    say(style.paint(BOLD, "tracelog demo: shop calls payments over HTTP on 127.0.0.1"))
    services = [_Service("payments", folder), _Service("shop", folder)]
    payments, shop = services
    try:
        payments_url = payments.wait_for("listening on")
        shop.wait_for("ready")
        shop.send(payments_url)
        shop_url = shop.wait_for("listening on")
        orders = range(1001, 1001 + max(args.requests, 5))
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(_request, [f"{shop_url}/checkout?order={n}" for n in orders]))
        for order, status in zip(orders, statuses, strict=True):
            say(f"  GET /checkout?order={order} -> {status}")
    finally:
        for service in services:
            service.stop()
    files = [payments.log, shop.log]
    say()
    say(f"logs: {folder}  ({', '.join(os.path.basename(f) for f in files)})")
    say()
    say(style.paint(BOLD, f"$ tracelog traces {folder}/*.log"))
    skipped = Skipped()
    rows = traces.select(traces.collect(files, skipped), "start", False, None)
    say("\n".join(traces.table(rows, style)))
    failing = [row for row in rows if row.error]
    if failing:
        trace_id = failing[0].trace_id
        say()
        say(style.paint(BOLD, f"$ tracelog show {trace_id[:8]} {folder}/*.log"))
        found = show.collect(trace_id, files, skipped)
        records = sorted(found.get(trace_id, []), key=lambda r: (r.time is None, r.time or 0.0))
        say("\n".join(show.render(trace_id, records, style)))
        say()
        say("try:")
        say(f"  tracelog view {folder}/*.log --level warning")
        say(f"  tracelog view {folder}/*.log --trace {trace_id[:8]} --json | jq .message")
        if getattr(args, "html", False):
            from tracelog._cli import html

            page = os.path.join(folder, f"trace-{trace_id[:8]}.html")
            html.write(page, trace_id, records)
            say()
            say(f"the failing trace as a page: {page}")
    out.flush()
    return 0
