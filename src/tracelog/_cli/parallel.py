"""A byte search of large files split over processes, its lines given back in file order.

A search for a trace id or a ``--where`` key reads every byte, and one process reads at
the speed of one core. When the files are plain files of at least :data:`PARALLEL_MIN`
bytes in all and more than one CPU is ours, they are cut into pieces at line starts, one
piece a process: this process searches the first piece itself while forked workers search
the others. A worker sends its lines through a pipe, and they are given on in order, the
first piece's first; a worker waits while its pipe is full, so memory stays bounded.

A line over ``MAX_LINE`` stands in the stream as a stand-in that may hold a spooled copy of
it, which cannot be passed between processes: a worker that meets one stops there, and this
process searches the rest of that piece itself. ``TRACELOG_CLI_WORKERS`` caps the number of
processes (1: no worker). gzip files, pipes and stdin are searched in this process, as
:func:`tracelog._cli.reader.scan` does, and so is everything while another thread runs
(forking then is not safe).
"""

from __future__ import annotations

import functools
import itertools
import os
import pickle
import signal
import threading
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows, where nothing is forked either
    fcntl = None  # type: ignore[assignment]

from tracelog._cli.reader import (
    ByteFilter,
    HandOff,
    Segment,
    Skipped,
    plain_file_size,
    scan,
    scan_segments,
)

__all__ = ["MAX_WORKERS", "PARALLEL_MIN", "PIECE_MIN", "plan", "search"]

#: Bytes of plain files below which one process searches them (a fork costs a few ms).
PARALLEL_MIN = 48 << 20
#: The smallest piece worth a process of its own.
PIECE_MIN = 16 << 20
MAX_WORKERS = 8
#: A worker sends its lines in batches of about this many bytes.
BATCH_BYTES = 1 << 16
#: What a worker's pipe is asked to hold (Linux; within /proc/sys/fs/pipe-max-size): this
#: process reads a worker's lines only once it has searched its own piece, and a worker whose
#: pipe is full waits. A few thousand lines found fit, so a narrow search never waits.
PIPE_BYTES = 1 << 20


def search(
    paths: Sequence[str], needle: bytes | ByteFilter, skipped: Skipped, keep_whole: bool = False
) -> Iterator[bytes]:
    """What :func:`tracelog._cli.reader.scan` yields, searched by several processes where
    that pays (see the module's docstring)."""
    pieces = plan(paths, _workers())
    if pieces is None:
        yield from scan(paths, needle, skipped, keep_whole)
        return
    workers: list[tuple[int, Connection]] = []
    try:
        for piece in pieces[1:]:
            workers.append(_fork(piece, needle, keep_whole))
        yield from scan_segments(pieces[0], needle, skipped, keep_whole)
        for piece, (_, connection) in zip(pieces[1:], workers, strict=True):
            yield from _receive(connection, piece, needle, skipped, keep_whole)
    finally:
        for pid, connection in workers:
            connection.close()  # a worker still writing gets EPIPE and ends
            try:
                os.kill(pid, signal.SIGKILL)  # one left when the reader stopped early
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)


def _workers() -> int:
    """How many processes may search: the CPUs this process may run on, within the caps."""
    if not hasattr(os, "fork") or not hasattr(os, "sched_getaffinity"):
        return 1
    count = min(len(os.sched_getaffinity(0)), MAX_WORKERS)
    wanted = os.environ.get("TRACELOG_CLI_WORKERS", "").strip()
    if wanted.isdigit():
        count = min(count, max(int(wanted), 1))
    return count


def plan(paths: Sequence[str], workers: int) -> list[list[Segment]] | None:
    """The files cut into at most ``workers`` pieces of about the same size, at line starts,
    in order; None when they are to be searched in one process."""
    if workers < 2 or not paths or threading.active_count() > 1:
        return None
    sizes = []
    for path in paths:
        size = plain_file_size(path)
        if size is None:
            return None
        sizes.append(size)
    total = sum(sizes)
    count = min(workers, total // PIECE_MIN)
    if total < PARALLEL_MIN or count < 2:
        return None
    cuts = iter([total * i // count for i in range(1, count)])
    cut: int | None = next(cuts)
    pieces: list[list[Segment]] = [[]]
    at = 0  # where this file starts in all the files' bytes
    for path, size in zip(paths, sizes, strict=True):
        start = 0
        while cut is not None and cut < at + size:
            if cut > at + start:  # else a long line ran past it: the next cut
                stop = _line_start(path, cut - at, size)
                if stop < size:
                    pieces[-1].append((path, start, stop))
                    pieces.append([])
                    start = stop
            cut = next(cuts, None)
        if start < size:
            pieces[-1].append((path, start, None))  # to its end, as it is when it is read
        at += size
        if cut == at:  # a cut between two files
            pieces.append([])
            cut = next(cuts, None)
    pieces = [piece for piece in pieces if piece]
    return pieces if len(pieces) > 1 else None


def _line_start(path: str, offset: int, size: int) -> int:
    """Where the first line that starts at or after ``offset`` starts (``size``: none does)."""
    with open(path, "rb") as handle:
        handle.seek(offset - 1)
        at = offset - 1
        while block := handle.read(1 << 16):
            newline = block.find(b"\n")
            if newline >= 0:
                return at + newline + 1
            at += len(block)
    return size


def _fork(
    piece: list[Segment], needle: bytes | ByteFilter, keep_whole: bool
) -> tuple[int, Connection]:
    reading, writing = os.pipe()
    _widen(writing)
    pid = os.fork()
    if pid == 0:  # the worker: it never returns
        status = 1
        try:
            os.close(reading)
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it as it ends us
            _work(piece, needle, keep_whole, Connection(writing, readable=False))
            status = 0
        finally:
            os._exit(status)
    os.close(writing)
    return pid, Connection(reading, writable=False)


def _widen(pipe: int) -> None:
    """Ask for a pipe of PIPE_BYTES, or of the most the system gives; keep it as it is else."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux
    if set_size is None:
        return
    try:
        fcntl.fcntl(pipe, set_size, _pipe_size())
    except OSError:  # over the user's pipe pages: the default size
        pass


@functools.cache
def _pipe_size() -> int:
    """PIPE_BYTES within what the system gives (read once: each worker asks for it)."""
    try:
        with open("/proc/sys/fs/pipe-max-size", "rb") as limit:
            return min(PIPE_BYTES, int(limit.read()))
    except (OSError, ValueError):
        return PIPE_BYTES


class _Kept(Skipped):
    """A worker's count of what it could not use; its errors are said by the parent."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def error(self, text: str) -> None:
        self.errors.append(text)


def _work(
    piece: list[Segment], needle: bytes | ByteFilter, keep_whole: bool, out: Connection
) -> None:
    """In a worker: the piece's lines in batches, then ``("done", too_long, errors)``, or
    ``("hand off", segment, offset, too_long, errors)`` at a line over MAX_LINE."""
    skipped = _Kept()
    batch: list[bytes] = []
    size = 0

    def send(message: tuple[object, ...]) -> None:
        out.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    try:
        end: tuple[object, ...] = ("done",)
        try:
            for line in scan_segments(piece, needle, skipped, keep_whole, hand_off=True):
                batch.append(line)
                size += len(line)
                if size >= BATCH_BYTES:
                    send(("lines", batch))
                    batch, size = [], 0
        except HandOff as stopped:
            end = ("hand off", stopped.segment, stopped.offset)
        if batch:
            send(("lines", batch))
        send((*end, skipped.too_long, skipped.errors))
    except BrokenPipeError:  # the parent stopped reading
        pass


def _receive(
    connection: Connection,
    piece: list[Segment],
    needle: bytes | ByteFilter,
    skipped: Skipped,
    keep_whole: bool,
) -> Iterator[bytes]:
    """A worker's lines, in order; the rest of its piece searched here when it handed off."""
    given = 0
    while True:
        try:
            message = pickle.loads(connection.recv_bytes())
        except (EOFError, OSError):  # the worker died: its piece searched here, past what it gave
            skipped.note("a search worker stopped; this process searched its part", now=True)
            lines = scan_segments(piece, needle, skipped, keep_whole)
            yield from itertools.islice(lines, given, None)
            return
        kind = message[0]
        if kind == "lines":
            given += len(message[1])
            yield from message[1]
            continue
        *_, too_long, errors = message
        skipped.too_long += too_long
        for text in errors:
            skipped.error(text)
        if kind == "hand off":
            number, offset = message[1], message[2]
            path, _, stop = piece[number]
            rest = [(path, offset, stop), *piece[number + 1 :]]
            yield from scan_segments(rest, needle, skipped, keep_whole)
        return
