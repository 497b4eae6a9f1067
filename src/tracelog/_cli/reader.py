"""Lines from files, gzip files and pipes: streamed in large binary chunks, bounded in memory.

A line longer than :data:`MAX_LINE` is never buffered whole: it is read in part and stands in
the stream as a :class:`~tracelog._cli.longline.LongLine` (see that module). Following (``-f``)
notices a file that is truncated, rewritten or replaced (rotated) and carries on.
"""

from __future__ import annotations

import functools
import gzip
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Protocol

from tracelog._cli.longline import LongLineBuilder

__all__ = [
    "CHUNK",
    "MAX_LINE",
    "ByteFilter",
    "Follower",
    "HandOff",
    "LineSplitter",
    "Segment",
    "Skipped",
    "follow",
    "plain_file_size",
    "read_batches",
    "scan",
    "scan_segments",
]

#: The lines of ``buffer[start:end]`` that scan() keeps: (buffer, start, end, skipped,
#: keep_whole, offset); ``offset``, the file offset of ``buffer[0]``, is given to hand off at a
#: line over MAX_LINE (see scan_segments), else None.
_Hits = Callable[[bytearray, int, int, "Skipped", bool, "int | None"], Iterator[bytes]]

CHUNK = 1 << 20
MAX_LINE = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"


class Skipped:
    """What a command could not use, said once on stderr at the end."""

    def __init__(self) -> None:
        self.not_json = 0
        self.not_object = 0
        self.bad_utf8 = 0
        self.too_long = 0
        #: What was done with lines over MAX_LINE, and with invalid UTF-8, as said at the end.
        self.long_how = "shown cut"
        self.bad_utf8_how = "bad bytes replaced"
        self.notes: list[str] = []
        self.failed = False

    def note(self, text: str, now: bool = False) -> None:
        self.notes.append(text)
        if now:
            print(f"tracelog: {text}", file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        self.failed = True
        print(f"tracelog: {text}", file=sys.stderr, flush=True)

    def summary(self, not_json_shown: bool = False) -> str | None:
        parts = []
        how = "shown as text" if not_json_shown else "skipped"
        if self.not_json:
            parts.append(f"{_count(self.not_json, 'line')} not JSON ({how})")
        if self.not_object:
            parts.append(f"{_count(self.not_object, 'line')} JSON but not an object ({how})")
        if self.too_long:
            mib = MAX_LINE >> 20
            parts.append(f"{_count(self.too_long, 'line')} longer than {mib} MiB ({self.long_how})")
        if self.bad_utf8:
            parts.append(f"{_count(self.bad_utf8, 'line')} not valid UTF-8 ({self.bad_utf8_how})")
        parts.extend(self.notes)
        return "tracelog: " + "; ".join(parts) if parts else None


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class LineSplitter:
    """Cuts a byte stream into lines; a line over ``MAX_LINE`` comes out as a :class:`LongLine`.

    ``keep_whole`` spools such a line to a temporary file, for a caller that passes it on whole.
    """

    __slots__ = ("keep_whole", "long", "rest", "skipped", "started")

    def __init__(self, skipped: Skipped, keep_whole: bool = False) -> None:
        self.rest = b""
        self.long: LongLineBuilder | None = None
        self.started = False
        self.skipped = skipped
        self.keep_whole = keep_whole

    def feed(self, data: bytes) -> list[bytes]:
        if not self.started:
            self.started = True
            if data.startswith(_BOM):  # a UTF-8 byte order mark is not part of the first line
                data = data[len(_BOM) :]
        done: list[bytes] = []
        if self.long is not None:
            newline = data.find(b"\n")
            if newline < 0:
                self.long.add(data)
                return []
            self.long.add(data[:newline])
            done.append(self._finish_long())
            data = data[newline + 1 :]
        if self.rest:
            data = self.rest + data
        lines = data.split(b"\n")
        self.rest = lines.pop()
        if len(self.rest) > MAX_LINE:
            self.long = LongLineBuilder(self.rest, self.keep_whole)
            self.rest = b""
        if len(data) > MAX_LINE and max(map(len, lines), default=0) > MAX_LINE:
            lines = [line if len(line) <= MAX_LINE else self._long(line) for line in lines]
        return done + lines if done else lines

    def _long(self, line: bytes) -> bytes:
        self.skipped.too_long += 1
        return LongLineBuilder(line, self.keep_whole).finish()

    def _finish_long(self) -> bytes:
        assert self.long is not None
        self.skipped.too_long += 1
        line, self.long = self.long.finish(), None
        return line

    def finish(self) -> list[bytes]:
        if self.long is not None:
            return [self._finish_long()]
        rest, self.rest = self.rest, b""
        return [rest] if rest else []


def open_binary(path: str) -> IO[bytes]:
    """A binary reader for ``path`` (``-`` is stdin); gzip is recognised by its magic bytes."""
    if path == "-":
        if sys.stdin.isatty():  # as jq does: say why nothing happens yet
            sys.stderr.write(
                "tracelog: reading log lines from stdin (Ctrl-D ends; or name FILEs)\n"
            )
        stream: IO[bytes] = sys.stdin.buffer
        peek = getattr(stream, "peek", None)
        if peek is not None and peek(2)[:2] == _GZIP_MAGIC:
            return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
        return stream
    handle = open(path, "rb")  # noqa: SIM115 - the caller closes it
    if handle.read(2) == _GZIP_MAGIC:
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    handle.seek(0)
    return handle


def _sources(paths: Sequence[str], skipped: Skipped) -> Iterator[tuple[str, IO[bytes]]]:
    for path in paths or ["-"]:
        try:
            stream = open_binary(path)
        except OSError as error:
            skipped.error(f"cannot read {path}: {error.strerror or error}")
            continue
        try:
            yield path, stream
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


def read_batches(
    paths: Sequence[str], skipped: Skipped, keep_whole: bool = False
) -> Iterator[list[bytes]]:
    """Every line of every file, in batches (one per chunk read)."""
    for path, stream in _sources(paths, skipped):
        splitter = LineSplitter(skipped, keep_whole)
        # read1 returns what a pipe has now instead of waiting for a full chunk.
        read = getattr(stream, "read1", stream.read)
        try:
            while True:
                data = read(CHUNK)
                if not data:
                    break
                yield splitter.feed(data)
        except (OSError, EOFError) as error:  # a damaged gzip file, a vanished disk
            skipped.error(f"{path}: stopped reading: {error}")
        yield splitter.finish()


class ByteFilter(Protocol):
    """A search of raw bytes for the lines that could match (``--where``'s prefilter)."""

    def spans(self, buffer: bytes | bytearray, start: int, end: int) -> Iterator[tuple[int, int]]:
        """``(first, newline)`` of the lines kept in ``buffer[start:end]``, which ends a line."""
        ...

    def keeps(self, line: bytes) -> bool: ...


def scan(
    paths: Sequence[str], needle: bytes | ByteFilter, skipped: Skipped, keep_whole: bool = False
) -> Iterator[bytes]:
    """Only the lines that contain ``needle`` (or that a :class:`ByteFilter` keeps), found with a
    byte search over large chunks.

    Most lines are never split, decoded or parsed, which is what makes ``--trace`` fast. A line
    over ``MAX_LINE`` is kept when its stand-in (see :mod:`tracelog._cli.longline`) is.
    """
    keeps, hits = _searches(needle)
    buffer = _search_buffer()  # one for every file
    for path, stream in _sources(paths, skipped):
        if isinstance(stream, gzip.GzipFile):  # a truncated one keeps what it has, as read_batches
            yield from _scan_lines(path, stream, keeps, skipped, keep_whole)
        else:
            yield from _scan_stream(path, stream, keeps, hits, skipped, keep_whole, buffer)


class HandOff(Exception):
    """A :func:`scan_segments` told to hand off stopped at a line over ``MAX_LINE``, which
    starts at ``offset`` in the file of segment number ``segment``: every line before it was
    yielded."""

    def __init__(self, offset: int, segment: int = 0) -> None:
        super().__init__(offset)
        self.offset, self.segment = offset, segment


#: Part of a plain file: (path, start, stop); start is where a line starts, stop None is the
#: file's end as it is when it is read.
Segment = tuple[str, int, "int | None"]


def scan_segments(
    segments: Sequence[Segment],
    needle: bytes | ByteFilter,
    skipped: Skipped,
    keep_whole: bool = False,
    hand_off: bool = False,
) -> Iterator[bytes]:
    """:func:`scan` of the lines that start in each segment of a plain (not gzip) file, in order.

    With ``hand_off``, a line over ``MAX_LINE`` raises :class:`HandOff` instead of being read:
    a worker process cannot pass on what stands for it (it may be spooled to a file).
    """
    keeps, hits = _searches(needle)
    buffer = _search_buffer()  # one for every segment
    for number, (path, start, stop) in enumerate(segments):
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as error:
            skipped.error(f"cannot read {path}: {error.strerror or error}")
            continue
        with stream:
            stream.seek(start)
            window = stream if stop is None else _Window(stream, stop - start)
            try:
                yield from _scan_stream(
                    path, window, keeps, hits, skipped, keep_whole, buffer, start, hand_off
                )
            except HandOff as stopped:
                stopped.segment = number
                raise


def _search_buffer() -> bytearray:
    """What a byte search reads into: a line longer than it is read in parts."""
    return bytearray(4 * CHUNK)


def plain_file_size(path: str) -> int | None:
    """The size of a regular file that is not gzip; None for anything else (stdin, a pipe,
    a file that cannot be read: the search in one process says why)."""
    if path == "-":
        return None
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            return None
        with open(path, "rb") as handle:
            if handle.read(2) == _GZIP_MAGIC:
                return None
    except OSError:
        return None
    return status.st_size


class _Window:
    """At most ``left`` bytes of a binary file, read from where it is."""

    __slots__ = ("left", "stream")

    def __init__(self, stream: IO[bytes], left: int) -> None:
        self.stream, self.left = stream, left

    def readinto(self, view: memoryview) -> int:
        if self.left <= 0:
            return 0
        count: int = self.stream.readinto(view[: self.left])  # type: ignore[attr-defined]
        self.left -= count
        return count


def _searches(needle: bytes | ByteFilter) -> tuple[Callable[[bytes], bool], _Hits]:
    """What keeps one line, and what finds the kept lines of a buffer, for ``needle``."""
    if not needle:
        raise ValueError("scan() needs something to look for")
    if isinstance(needle, bytes):
        return _Needle(needle), functools.partial(_hits, needle=needle)
    return needle.keeps, functools.partial(_kept, wanted=needle)


def _scan_stream(
    path: str,
    stream: IO[bytes] | _Window,
    keeps: Callable[[bytes], bool],
    hits: _Hits,
    skipped: Skipped,
    keep_whole: bool,
    buffer: bytearray,
    base: int = 0,
    hand_off: bool = False,
) -> Iterator[bytes]:
    """scan() of one stream read from offset ``base`` of its file into ``buffer`` (a byte
    order mark is looked for at offset 0 only); ``hand_off`` as for :func:`scan_segments`."""
    size = len(buffer)
    view = memoryview(buffer)
    have = 0
    long: LongLineBuilder | None = None
    first = base == 0
    try:
        while True:
            count = stream.readinto(view[have:])  # type: ignore[union-attr]
            if not count:
                break
            have += count
            if first and have >= len(_BOM):
                first = False
                if buffer.startswith(_BOM):  # a byte order mark is not part of the first line
                    buffer[: have - len(_BOM)] = buffer[len(_BOM) : have]
                    have -= len(_BOM)
                    base += len(_BOM)
            end = buffer.rfind(b"\n", 0, have) + 1
            start = 0
            if long is not None:  # the rest of a line longer than the buffer
                if not end:
                    long.add(view[:have])
                    base += have
                    have = 0
                    continue
                start = buffer.find(b"\n", 0, have) + 1
                long.add(view[: start - 1])
                skipped.too_long += 1
                line, long = long.finish(), None
                if keeps(line):
                    yield line
            if not end and have == size:
                if hand_off:
                    raise HandOff(base)
                long = LongLineBuilder(bytes(buffer[:have]), keep_whole)
                base += have
                have = 0
                continue
            yield from hits(buffer, start, end, skipped, keep_whole, base if hand_off else None)
            rest = have - end
            buffer[:rest] = buffer[end:have]
            have = rest
            base += end
    except (OSError, EOFError) as error:
        skipped.error(f"{path}: stopped reading: {error}")
    if long is not None:
        long.add(view[:have])
        skipped.too_long += 1
        line = long.finish()
        if keeps(line):
            yield line
    elif have > MAX_LINE:
        yield from hits(
            buffer + b"\n", 0, have + 1, skipped, keep_whole, base if hand_off else None
        )
    elif have and keeps(bytes(buffer[:have])):
        yield bytes(buffer[:have])


class _Needle:
    __slots__ = ("needle",)

    def __init__(self, needle: bytes) -> None:
        self.needle = needle

    def __call__(self, line: bytes) -> bool:
        return self.needle in line


def _scan_lines(
    path: str, stream: IO[bytes], keeps: Callable[[bytes], bool], skipped: Skipped, keep_whole: bool
) -> Iterator[bytes]:
    """scan() for a gzip file: line by line, so what was read before damage is kept."""
    splitter = LineSplitter(skipped, keep_whole)
    read = getattr(stream, "read1", stream.read)
    try:
        while data := read(CHUNK):
            yield from (line for line in splitter.feed(data) if keeps(line))
    except (OSError, EOFError) as error:
        skipped.error(f"{path}: stopped reading: {error}")
    yield from (line for line in splitter.finish() if keeps(line))


def _hits(
    buffer: bytearray,
    start: int,
    end: int,
    skipped: Skipped,
    keep_whole: bool,
    offset: int | None,
    needle: bytes,
) -> Iterator[bytes]:
    pos = buffer.find(needle, start, end)
    while pos >= 0:
        line_start = buffer.rfind(b"\n", start, pos) + 1 or start
        line_end = buffer.find(b"\n", pos, end) + 1
        if not line_end:
            return
        line = bytes(buffer[line_start : line_end - 1])
        # A line over MAX_LINE: its stand-in, when that still holds the needle.
        if len(line) <= MAX_LINE or needle in (
            line := _long(line, line_start, skipped, keep_whole, offset)
        ):
            yield line
        pos = buffer.find(needle, line_end, end)


def _kept(
    buffer: bytearray,
    start: int,
    end: int,
    skipped: Skipped,
    keep_whole: bool,
    offset: int | None,
    wanted: ByteFilter,
) -> Iterator[bytes]:
    for first, newline in wanted.spans(buffer, start, end):
        line = bytes(buffer[first:newline])
        if len(line) <= MAX_LINE or wanted.keeps(
            line := _long(line, first, skipped, keep_whole, offset)
        ):
            yield line


def _long(line: bytes, at: int, skipped: Skipped, keep_whole: bool, offset: int | None) -> bytes:
    """The stand-in for a line over MAX_LINE found at ``buffer[at]``; :class:`HandOff` instead
    when told to hand off (``offset``: the file offset of ``buffer[0]``)."""
    if offset is not None:
        raise HandOff(offset + at)
    skipped.too_long += 1
    return LongLineBuilder(line, keep_whole).finish()


def follow(
    paths: Sequence[str],
    skipped: Skipped,
    poll: float = 0.2,
    keep_going: Callable[[], bool] = lambda: True,
    keep_whole: bool = False,
) -> Iterator[list[bytes]]:
    """Like ``tail -f`` from the start of each file: read, then wait for more; survive rotation."""
    followers = [Follower(path, skipped, keep_whole) for path in paths]
    while keep_going():
        batches = [batch for f in followers for batch in f.poll() if batch]
        if batches:
            yield from batches
        else:
            yield []  # lets the caller flush
            time.sleep(poll)


#: How much of a file's start identifies it: a truncated file written again differs in it.
FINGERPRINT = 4096


class Follower:
    """One followed file. Before each read it checks the file is still the one it was reading:
    the same inode (else it was rotated), at least as long as what was read, and the same first
    bytes (else it was truncated, even if it has grown past the old offset since)."""

    def __init__(self, path: str, skipped: Skipped, keep_whole: bool = False) -> None:
        self.path = path
        self.skipped = skipped
        self.keep_whole = keep_whole
        self.splitter = LineSplitter(skipped, keep_whole)
        self.stream: IO[bytes] | None = None
        self.inode = -1
        self.fingerprint = b""
        self.missing_said = False
        self._open()

    def _open(self) -> None:
        try:
            self.stream = open(self.path, "rb")  # noqa: SIM115 - kept open while following
            self.inode = os.fstat(self.stream.fileno()).st_ino
            self.fingerprint = b""
            self.missing_said = False
        except OSError as error:
            self.stream = None
            if not self.missing_said:
                self.skipped.note(f"cannot read {self.path} yet: {error.strerror}", now=True)
                self.missing_said = True

    def _truncated(self, stream: IO[bytes]) -> bool:
        """Whether the open file no longer starts with what was read from it."""
        offset = stream.tell()
        if os.fstat(stream.fileno()).st_size < offset:
            return True
        if not self.fingerprint:
            return False
        return os.pread(stream.fileno(), len(self.fingerprint), 0) != self.fingerprint

    def _restart(self, stream: IO[bytes]) -> None:
        self.splitter = LineSplitter(self.skipped, self.keep_whole)
        stream.seek(0)
        self.fingerprint = b""
        self.skipped.note(f"{self.path} was truncated; reading it from the start", True)

    def poll(self) -> Iterator[list[bytes]]:
        if self.stream is None:
            self._open()
            if self.stream is None:
                return
        stream = self.stream
        if self._truncated(stream):
            self._restart(stream)
        for _ in range(16):  # bounded, so that one busy file cannot starve the others
            data = stream.read(CHUNK)
            if not data:
                break
            if len(self.fingerprint) < FINGERPRINT:
                self.fingerprint = os.pread(stream.fileno(), FINGERPRINT, 0)[: stream.tell()]
            yield self.splitter.feed(data)
        else:
            return
        try:
            status = os.stat(self.path)
        except OSError:
            return  # rotated away; the new file is not there yet
        if status.st_ino != self.inode:
            yield self.splitter.finish()
            stream.close()
            self.skipped.note(f"{self.path} was replaced (rotated); following the new file", True)
            self._open()
        elif self._truncated(stream):
            self._restart(stream)
