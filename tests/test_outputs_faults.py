"""Outputs under faults nobody planned for: a full disk, a pipe nobody reads, a full stdout.

Real processes, real pipes and a real full disk (see _disks.py). A child that
would hang is caught by the subprocess timeout; no test measures time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from _disks import small_disk

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

FILE_ON_A_FULL_DISK = """
import json
from tracelog.outputs import File

out = File(os.path.join(DISK, "app.log"))
line = lambda n: json.dumps({"message": "event", "number": n, "pad": "x" * 250}).encode() + b"\\n"
fill()
for n in range(0, 300, 3):
    out.write(line(n))
    out.write_lines([line(n + 1), line(n + 2)])
recover()
for n in range(300, 320):
    out.write(line(n))
print(json.dumps(out.stats()), flush=True)
"""


class TestFileOnAFullDisk:
    def test_every_line_in_the_file_is_whole_and_the_counts_are_exact(self, tmp_path: Path) -> None:
        with small_disk(tmp_path) as disk:
            result = disk.run(FILE_ON_A_FULL_DISK)
            assert 0 == result.returncode, result.stderr
            stats = orjson.loads(result.stdout)
            data = (disk.path / "app.log").read_bytes()
        assert data.endswith(b"\n")
        numbers = [orjson.loads(line)["number"] for line in data.splitlines()]  # all whole JSON
        assert stats["failed"] > 0  # the disk was full for some
        assert 320 == stats["written"] + stats["failed"]
        assert stats["written"] == len(numbers) == len(set(numbers))
        assert list(range(300, 320)) == numbers[-20:]  # after recovery, nothing is lost


UNREAD_PIPE = """
import os, signal, sys, tracelog
tracelog.configure(nonblocking=True)
log = tracelog.get_logger("x")
for n in range(5000):
    log.info("x" * 1000, number=n)
how = sys.argv[1]
if how == "raise":
    raise SystemExit(3)
if how == "error":
    raise RuntimeError("the application failed")
if how == "sigterm":
    os.kill(os.getpid(), signal.SIGTERM)
    signal.pause()
"""


def unread_stdout(
    script: str, *args: str, buffered: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """Run ``script`` with stdout a pipe that nobody reads (kept open until it ends)."""
    read_end, write_end = os.pipe()
    env = dict(ENV)
    env["PYTHONUNBUFFERED"] = "" if buffered else "1"  # sys.stdout buffered, or raw
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
        os.close(read_end)


class TestAPipeNobodyReads:
    @pytest.mark.parametrize(
        ("how", "code"),
        [("return", 0), ("raise", 3), ("error", 1), ("sigterm", -signal.SIGTERM)],
    )
    def test_every_exit_path_ends_and_says_what_was_lost(self, how: str, code: int) -> None:
        result = unread_stdout(UNREAD_PIPE, how)  # hanging would end in TimeoutExpired
        assert code == result.returncode, result.stderr
        err = result.stderr.decode()
        assert 1 == err.count("tracelog: writer: out of time"), err

    @pytest.mark.parametrize("buffered", [False, True])
    def test_a_full_non_blocking_stdout_drops_and_counts(self, buffered: bool) -> None:
        script = """
            import fcntl, json, os, sys, tracelog
            fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK)
            tracelog.configure()
            log = tracelog.get_logger("x")
            for n in range(200):
                log.info("x" * 1000, number=n)  # 2 s a call once full would take minutes
            print(json.dumps(tracelog.stats()["stream:stdout"]), file=sys.stderr)
        """
        result = unread_stdout(script, buffered=buffered)
        # 120: Python itself could not flush the rest of sys.stdout's buffer at exit.
        assert result.returncode in ((0, 120) if buffered else (0,)), result.stderr
        lines = result.stderr.decode().strip().splitlines()
        *reports, last = [line for line in lines if line.startswith(("tracelog:", "{"))]
        stats = orjson.loads(last)
        assert 200 == stats["written"] + stats["dropped"]
        assert stats["dropped"] > 0 and 0 == stats["failed"]
        assert 1 == sum("lines dropped" in report for report in reports)
