"""A search split over processes gives what the search in one process gives, byte for byte.

The thresholds are lowered so that a few hundred KB are cut into pieces. The searches that
fork run in a child interpreter: pytest's process may hold other threads, and then the search
stays in one process (forking a process with threads is not safe), which would test nothing.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelog._cli import parallel

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "0af7651916cd43dd8448eb211c80319c"

# The child: lower the thresholds, fork as if there were four CPUs, run the command, and say
# on stderr how many workers were forked.
CHILD = """
import os, sys
from tracelog._cli import parallel, reader
from tracelog.cli import main

reader.MAX_LINE, reader.CHUNK = 2000, 1024  # lines over 2000 bytes are long; a 4 KiB buffer
parallel.PARALLEL_MIN, parallel.PIECE_MIN, parallel.BATCH_BYTES = 1, 1, 512
forks = 0
if os.environ.get("SEARCH_MODE") != "one":
    parallel._workers = lambda: 4
    fork = parallel._fork

    def counted(*args):
        global forks
        forks += 1
        return fork(*args)

    parallel._fork = counted
if os.environ.get("SEARCH_MODE") == "dying":
    work = parallel._work

    def dying(piece, needle, keep_whole, out):
        class Once:
            def send_bytes(self, data):
                out.send_bytes(data)
                os._exit(3)

        work(piece, needle, keep_whole, Once())

    parallel._work = dying
try:
    status = main(sys.argv[1:])
finally:
    sys.stdout.flush()
    print(f"forked {forks}", file=sys.stderr)
sys.exit(status or 0)
"""


def _line(number: int, trace: str, extra: str = "") -> bytes:
    fields = {
        "timestamp": f"2026-01-01T00:00:{number % 60:02d}.{number:06d}Z",
        "level": "info",
        "event": f"line {number}{extra}",
        "service": f"svc{number % 3}",
        "trace_id": trace,
        "span_id": f"{number:016x}",
        "duration_ms": number % 1000,
    }
    return json.dumps(fields, separators=(",", ":")).encode()


def _files(folder: pathlib.Path) -> list[str]:
    """Three files: short lines, lines just over the long-line limit, lines over the buffer,
    a line that is not JSON, a byte order mark, and no newline at the end of one."""
    paths = []
    for index in range(3):
        lines = []
        for number in range(index * 1000, index * 1000 + 900):
            trace = TRACE if number % 7 == 0 else OTHER
            extra = ""
            if number % 97 == 0:
                extra = " " + "x" * 2500  # over MAX_LINE, within the buffer
            elif number % 331 == 0:
                extra = " " + "y" * 9000  # over the whole buffer
            lines.append(_line(number, trace, extra))
        lines.insert(450, b"not json " + TRACE.encode())
        body = b"\n".join(lines) + (b"\n" if index != 2 else b"")
        if index == 1:
            body = b"\xef\xbb\xbf" + body
        path = folder / f"service{index}.log"
        path.write_bytes(body)
        paths.append(str(path))
    return paths


def _run(args: list[str], mode: str) -> tuple[bytes, str, int]:
    environment = dict(
        os.environ, SEARCH_MODE=mode, TRACELOG_CLI_WORKERS="1" if mode == "one" else ""
    )
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        env=environment,
        timeout=120,
        check=False,
    )
    stderr = done.stderr.decode()
    *said, forks = stderr.rstrip("\n").split("\n")
    assert forks.startswith("forked "), stderr
    return done.stdout, "\n".join(said), int(forks.split()[1])


COMMANDS = [
    ["view", "--trace", TRACE, "--json"],
    ["view", "--trace", TRACE[:8]],
    ["view", "--where", "duration_ms>800", "--json"],
    ["view", "--where", "duration_ms>=880", "--where", "service=svc1"],
    ["show", TRACE],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_split_search_prints_what_one_process_prints(
    tmp_path: pathlib.Path, command: list[str]
) -> None:
    paths = _files(tmp_path)
    one, one_said, none = _run([*command, *paths], "one")
    split, split_said, forks = _run([*command, *paths], "split")
    assert none == 0
    assert forks >= 2  # the test searched in several processes
    assert one  # and found something
    assert split == one
    assert split_said == one_said  # the same summary: lines too long, not JSON


def test_a_worker_that_dies_has_its_part_searched_here(tmp_path: pathlib.Path) -> None:
    paths = _files(tmp_path)
    command = ["view", "--trace", TRACE, "--json", *paths]
    one, _, _ = _run(command, "one")
    split, said, forks = _run(command, "dying")
    assert forks >= 2
    assert split == one  # nothing lost, nothing twice
    assert "a search worker stopped; this process searched its part" in said


def test_the_reader_stopping_early_ends_the_workers(tmp_path: pathlib.Path) -> None:
    paths = _files(tmp_path)
    command = f"view --trace {TRACE} --json {' '.join(paths)}"
    done = subprocess.run(
        f"{sys.executable} -c {_quote(CHILD)} {command} | head -1",
        shell=True,
        capture_output=True,
        env=dict(os.environ, SEARCH_MODE="split"),
        timeout=60,
        check=False,
    )
    assert done.stdout.count(b"\n") == 1


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


# plan() itself, in this process: the pieces cover every byte once, cut at line starts.


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 1)
    monkeypatch.setattr(parallel, "PIECE_MIN", 1)
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)


@settings(max_examples=150, deadline=None)
@given(
    files=st.lists(
        st.lists(st.integers(min_value=0, max_value=300), min_size=0, max_size=30),
        min_size=1,
        max_size=4,
    ),
    workers=st.integers(min_value=2, max_value=9),
    newline_at_end=st.booleans(),
)
def test_plan_covers_every_byte_once_at_line_starts(
    files: list[list[int]], workers: int, newline_at_end: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel, "PARALLEL_MIN", 1)
        patch.setattr(parallel, "PIECE_MIN", 1)
        patch.setattr(parallel.threading, "active_count", lambda: 1)
        paths, bodies = [], []
        for index, lengths in enumerate(files):
            body = b"\n".join(b"a" * length for length in lengths)
            if newline_at_end and body:
                body += b"\n"
            path = os.path.join(folder, f"{index}.log")
            pathlib.Path(path).write_bytes(body)
            paths.append(path)
            bodies.append(body)
        pieces = parallel.plan(paths, workers)
        if pieces is None:
            return
        assert 2 <= len(pieces) <= workers
        assert all(pieces)
        segments = [segment for piece in pieces for segment in piece]
        covered: dict[str, list[tuple[int, int]]] = {}
        for path, start, stop in segments:
            body = bodies[paths.index(path)]
            end = len(body) if stop is None else stop
            assert start < end
            assert start == 0 or body[start - 1 : start] == b"\n"
            covered.setdefault(path, []).append((start, end))
        # In order, each file once, from its first byte to its last, with no gap or overlap.
        assert list(covered) == [path for path, body in zip(paths, bodies) if body]
        for path, spans in covered.items():
            assert spans[0][0] == 0
            assert spans[-1][1] == len(bodies[paths.index(path)])
            assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        last = {path: spans[-1][0] for path, spans in covered.items()}
        assert all(stop is None for path, start, stop in segments if start == last[path])


@pytest.mark.usefixtures("small_thresholds")
def test_plan_keeps_to_one_process_when_it_cannot_split(tmp_path: pathlib.Path) -> None:
    plain = tmp_path / "plain.log"
    plain.write_bytes(b'{"a":1}\n' * 1000)
    packed = tmp_path / "packed.log.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert parallel.plan([str(plain)], 2) is not None
    assert parallel.plan([str(plain)], 1) is None  # one CPU
    assert parallel.plan([str(plain), str(packed)], 2) is None  # gzip is read in order
    assert parallel.plan([str(plain), "-"], 2) is None  # stdin
    assert parallel.plan([str(plain), str(tmp_path / "missing")], 2) is None
    assert parallel.plan([str(tmp_path)], 2) is None  # a folder


def test_plan_keeps_to_one_process_for_small_files_or_with_threads(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain.log"
    plain.write_bytes(b'{"a":1}\n' * 1000)
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    assert parallel.plan([str(plain)], 2) is None  # under PARALLEL_MIN
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 1)
    monkeypatch.setattr(parallel, "PIECE_MIN", 1)
    assert parallel.plan([str(plain)], 2) is not None
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    assert parallel.plan([str(plain)], 2) is None  # another thread: no fork


def test_the_worker_count_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setenv("TRACELOG_CLI_WORKERS", "1")
    assert parallel._workers() == 1
    monkeypatch.setenv("TRACELOG_CLI_WORKERS", "3")
    assert parallel._workers() == 3
    monkeypatch.setenv("TRACELOG_CLI_WORKERS", "64")
    assert parallel._workers() == 4  # never more than the CPUs
    monkeypatch.setenv("TRACELOG_CLI_WORKERS", "many")
    assert parallel._workers() == 4
    monkeypatch.delenv("TRACELOG_CLI_WORKERS")
    assert parallel._workers() == 4


def test_a_workers_pipe_holds_a_narrow_searchs_lines() -> None:
    """This process reads a worker's pipe only after its own piece: a pipe of the default
    64 KiB would hold the worker up after a few hundred lines found."""
    import fcntl

    get_size = getattr(fcntl, "F_GETPIPE_SZ", None)
    if get_size is None:
        pytest.skip("F_GETPIPE_SZ is Linux's")
    reading, writing = os.pipe()
    try:
        parallel._widen(writing)
        most = int(pathlib.Path("/proc/sys/fs/pipe-max-size").read_text())
        assert fcntl.fcntl(writing, get_size) == min(parallel.PIPE_BYTES, most)
    finally:
        os.close(reading)
        os.close(writing)
