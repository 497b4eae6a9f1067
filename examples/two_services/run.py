"""Start both services with uvicorn on 127.0.0.1, place one order, print every log line.

    pip install 'tracelog-json[examples]'      # fastapi, uvicorn and httpx
    python examples/two_services/run.py

The lines of service A ("orders") and service B ("pricing") share one trace id.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
NEEDED = ("fastapi", "uvicorn", "httpx")


def missing_modules() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(module: str, port: int, **env: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--no-access-log"]
    return subprocess.Popen(
        args,
        cwd=HERE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TRACELOG_FORMAT": "json", **env},
        stdout=subprocess.PIPE,
        text=True,
    )


def wait_for(port: int, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service for port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def main() -> int:
    missing = missing_modules()
    if missing:
        print(
            f"this example needs {', '.join(missing)}: "
            "pip install 'tracelog-json[examples]' (or: pip install fastapi uvicorn httpx)",
            file=sys.stderr,
        )
        return 2
    port_a, port_b = free_port(), free_port()
    b = start("service_b", port_b)
    a = start("service_a", port_a, PRICING_URL=f"http://127.0.0.1:{port_b}")
    try:
        wait_for(port_b, b)
        wait_for(port_a, a)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port_a}/order/book", headers={"X-Request-ID": "order-1"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        time.sleep(0.5)  # let the access lines reach the pipes
    finally:
        for proc in (a, b):
            proc.terminate()
        outputs = [proc.communicate(timeout=15)[0] for proc in (a, b)]
    lines = [json.loads(line) for out in outputs for line in out.splitlines() if line.strip()]
    ours = [line for line in lines if line.get("trace_id") == answer["trace_id"]]
    for line in sorted(ours, key=lambda line: line["timestamp"]):
        print(json.dumps(line))
    services = {line["service"] for line in ours}
    print(f"trace {answer['trace_id']}: {len(ours)} lines from {sorted(services)}", file=sys.stderr)
    return 0 if services == {"orders", "pricing"} else 1


if __name__ == "__main__":
    sys.exit(main())
