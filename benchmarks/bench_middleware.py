"""What the ASGI TraceMiddleware adds to a trivial endpoint, through a real uvicorn.

Run:  python benchmarks/bench_middleware.py [--rounds 11] [--requests 400]

Three uvicorn processes serve the same trivial ASGI endpoint (``200 ok``):

- ``bare``: the app alone, uvicorn's own access log on (its default);
- ``bare-quiet``: the app alone, ``--no-access-log``;
- ``traced``: the app behind ``TraceMiddleware`` (trace, request id, the
  access line through tracelog's JSON pipeline), ``--no-access-log`` since
  tracelog's access line replaces uvicorn's.

Each round sends ``--requests`` sequential keep-alive requests to each server,
in a shuffled order; servers write their logs to /dev/null. Each figure is the
median over rounds of the per-request time seen by the client, and the ratio
of ``traced`` to each bare variant is the middleware's overhead.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

if os.environ.get("TRACELOG_BENCH_SERVER"):
    import tracelog
    from tracelog.integrations.asgi import TraceMiddleware
    from tracelog.integrations.servers import tame_loggers

    tracelog.configure(service="bench")
    tame_loggers(access_log=True)

    async def bare_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    traced_app = TraceMiddleware(bare_app)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(app: str, port: int, access_log: bool) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "uvicorn", f"bench_middleware:{app}", "--app-dir", str(HERE)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    if not access_log:
        args.append("--no-access-log")
    env = {**os.environ, "TRACELOG_BENCH_SERVER": "1", "TRACELOG_FORMAT": "json"}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def per_request(port: int, requests: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {
        "x-request-id": "bench",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    try:
        connection.request("GET", "/", headers=headers)  # warm the connection
        connection.getresponse().read()
        start = time.perf_counter()
        for _ in range(requests):
            connection.request("GET", "/", headers=headers)
            connection.getresponse().read()
        return (time.perf_counter() - start) / requests * 1e6
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args(argv)
    variants = {
        "bare": ("bare_app", True),
        "bare-quiet": ("bare_app", False),
        "traced": ("traced_app", False),
    }
    ports = {name: free_port() for name in variants}
    procs = [start(app, ports[name], access) for name, (app, access) in variants.items()]
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for port in ports.values():
            wait_for(port)
        for _ in range(args.rounds):
            order = list(variants)
            random.shuffle(order)
            for name in order:
                samples[name].append(per_request(ports[name], args.requests))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"python {platform.python_version()} on {platform.machine()}", end=", ")
    print(f"{args.rounds} rounds x {args.requests} sequential keep-alive requests")
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, median in medians.items():
        print(f"{name:12} {median:9.1f} us/request (best round {min(samples[name]):.1f})")
    traced = medians["traced"]
    print(f"traced / bare        = {traced / medians['bare']:.3f}")
    print(f"traced / bare-quiet  = {traced / medians['bare-quiet']:.3f}")


if __name__ == "__main__":
    sys.exit(main())
