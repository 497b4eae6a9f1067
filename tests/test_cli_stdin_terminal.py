"""`tracelog traces` with no file reads stdin; when stdin is a terminal it says so first."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

RUN_CLI = "import sys; from tracelog.cli import main; sys.exit(main())"


def _stderr_until(proc: subprocess.Popen[bytes], text: bytes, timeout: float) -> bytes:
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen


class TestStdinTerminal:
    def test_traces_says_it_reads_stdin(self) -> None:
        controller, terminal = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN_CLI, "traces"],
            stdin=terminal,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            seen = _stderr_until(proc, b"stdin", timeout=30)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            os.close(terminal)
            os.close(controller)
        assert b"reading log lines from stdin" in seen

    def test_a_pipe_is_read_without_a_word(self) -> None:
        done = subprocess.run(
            [sys.executable, "-c", RUN_CLI, "traces"],
            input=b"",
            capture_output=True,
            timeout=30,
        )
        assert b"reading log lines" not in done.stderr
