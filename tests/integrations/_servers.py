"""Start real servers and workers in subprocesses on 127.0.0.1, and read their JSON lines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

APPS = Path(__file__).parent / "apps"
SRC = Path(__file__).parents[2] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("TRACELOG_", "TRACE"))}
    out.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(APPS), str(SRC), out.get("PYTHONPATH", "")]),
        TRACELOG_FORMAT="json",
    )
    out.update(extra)
    return out


class Process:
    """A subprocess whose stdout and stderr are collected line by line in the background."""

    def __init__(self, args: list[str], *, cwd: Path = APPS, **extra_env: str) -> None:
        self.args = args
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env(**extra_env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for_port(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.args} exited early:\n" + "\n".join(self.stderr + self.stdout)
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{self.args} did not listen on {port} within {timeout}s")

    def wait_for_line(self, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(strict=False):
                if predicate(event):
                    return event
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise TimeoutError("no such line:\n" + "\n".join(self.stdout[-50:] + self.stderr[-50:]))

    def wait_for_lines(self, predicate: Any, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` lines match: requests finish in any order, and so do their lines."""
        deadline = time.monotonic() + timeout
        found = 0
        while time.monotonic() < deadline:
            found = sum(1 for event in self.events(strict=False) if predicate(event))
            if found >= count or self.proc.poll() is not None:
                break
            time.sleep(0.1)
        if found < count:
            raise TimeoutError(f"{found} of {count} lines:\n" + "\n".join(self.stderr[-50:]))

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        for reader in self._readers:
            reader.join(5)

    def events(self, *, strict: bool = True) -> list[dict[str, Any]]:
        """Every stdout line as JSON (strict: a line that is not JSON fails the test)."""
        out = []
        for line in list(self.stdout):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                if strict:
                    raise AssertionError(f"not a JSON line: {line!r}") from None
        return out

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def python(*args: str) -> list[str]:
    return [sys.executable, *args]
