"""The :class:`Stream` output, and the option checks every output shares."""

from __future__ import annotations

import array
import codecs
import functools
import io
import os
import select
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from tracelog import _faults
from tracelog import pipeline as _pipeline
from tracelog.schema import SCHEMAS

try:
    import fcntl
    import termios

    _F_GETPIPE_SZ: int | None = getattr(fcntl, "F_GETPIPE_SZ", None)
except ImportError:  # pragma: no cover - Windows
    _F_GETPIPE_SZ = None

__all__ = ["FULL", "OutputFull", "Stream", "StreamOutput", "check_options", "parse_level"]


def parse_level(level: int | str | None) -> int | None:
    """A minimum level as a number (``"DEBUG"``, ``"warn"``, ``10``); None stays None."""
    return None if level is None else _pipeline.parse_level(level, "level")


def check_options(
    level: int | str | None, format: str | None, schema: str | None
) -> tuple[int | None, str | None, str | None]:
    """An output's level, format and schema, checked, with errors that name the option."""
    if format is not None and format not in ("json", "console", "auto"):
        raise ValueError(f"format={format!r} is not one of json, console, auto")
    if schema is not None and schema not in SCHEMAS:
        raise ValueError(f"schema={schema!r} is not one of {', '.join(SCHEMAS)}")
    return parse_level(level), format, schema


#: A write of at most this many bytes to a pipe is never split by the kernel (POSIX PIPE_BUF).
_WHOLE = getattr(select, "PIPE_BUF", 512)
#: A pipe with this much free room takes a batch's next write without waiting for its reader.
_PIPE_ROOM = 4 * _WHOLE


def _pipe_room(fd: int) -> bool | None:
    """Whether the pipe ``fd`` has room for a few more writes; None where it cannot be told
    (not Linux, or the ioctl fails)."""
    if _F_GETPIPE_SZ is None:
        return None
    try:
        size = fcntl.fcntl(fd, _F_GETPIPE_SZ)
        unread = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, unread)
    except OSError:
        return None
    return size - unread[0] >= _PIPE_ROOM


def _whole_lines(lines: list[bytes], limit: int | None) -> Iterator[tuple[bytes, int]]:
    """``lines`` joined in runs of at most ``limit`` bytes (a longer line alone), with counts."""
    if limit is None:
        yield b"".join(lines), len(lines)
        return
    run: list[bytes] = []
    size = 0
    for line in lines:
        if run and size + len(line) > limit:
            yield b"".join(run), len(run)
            run, size = [], 0
        run.append(line)
        size += len(line)
    if run:
        yield b"".join(run), len(run)


def _room_check(target: Any) -> Callable[[], bool | None] | None:
    """What tells whether ``target`` takes a write without waiting (see Stream.has_room)."""
    try:
        fd = target.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    if stat.S_ISREG(mode):
        return _always
    if stat.S_ISFIFO(mode) and _F_GETPIPE_SZ is not None:
        return functools.partial(_pipe_room, fd)
    return None


def _always() -> bool:
    return True


def _unbuffered_write(target: Any) -> Any:
    """The write of a buffered regular file's raw file (what its flush calls), or None.

    Only for a regular file: the kernel keeps each write(2) to one whole,
    whatever its size and whoever else writes. On a pipe or a socket a write
    longer than PIPE_BUF can be split when the pipe is full, so there every
    line goes through the buffered file, whose lock keeps threads apart.
    """
    if type(target) not in (io.BufferedWriter, io.BufferedRandom):
        return None
    try:
        raw = target.raw
        if type(raw) is not io.FileIO or not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
            return None
    except Exception:
        return None
    return raw.write


def _is_binary(stream: Any) -> bool:
    if isinstance(stream, (io.RawIOBase, io.BufferedIOBase)):
        return True
    if isinstance(stream, io.TextIOBase):
        return False
    mode = getattr(stream, "mode", "")
    return isinstance(mode, str) and "b" in mode


def _other_encoding(stream: Any) -> str | None:
    """A text stream's encoding when it is not UTF-8 (None for UTF-8 or unknown)."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return None
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return None
    return None if name == "utf-8" else name


def _json_escapes(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler: characters the encoding lacks as JSON ``\\uXXXX`` escapes."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escapes = []
    for char in error.object[error.start : error.end]:
        code = ord(char)
        if code > 0xFFFF:  # a surrogate pair, as JSON spells it
            code -= 0x10000
            escapes.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            escapes.append(f"\\u{code:04x}")
    return "".join(escapes), error.end


codecs.register_error("tracelog.json", _json_escapes)


def _encodable(text: str, encoding: str) -> str:
    """``text`` with what ``encoding`` cannot write as JSON escapes (the line stays valid JSON)."""
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "tracelog.json").decode(encoding)
    return text


#: How long a full non-blocking output may keep lines waiting, in all, before it drops them.
FULL_WAIT = 2.0
#: The fault kind for lines dropped because the output stayed full.
FULL = "output: full, lines dropped"


class OutputFull(BlockingIOError):
    """A non-blocking output stayed full: the line was dropped (and counted)."""


class _WholeWrites:
    """A raw file's write that writes the whole line: one raw write may take only part.

    On a non-blocking file that stays full for :data:`FULL_WAIT`, the line is
    dropped; if part of it was written, the next line starts with a newline,
    so the cut one never runs into it. The wait is bounded in all, not per
    line: once the file has stayed full that long, each later line gets one
    try and is dropped at once if there is still no room, until a write goes
    through again.
    """

    __slots__ = ("_cut", "_fileno", "_stuck", "_write")

    def __init__(self, raw: Any) -> None:
        self._write = raw.write
        try:
            self._fileno: int | None = raw.fileno()
        except Exception:
            self._fileno = None
        self._cut = False
        self._stuck = False

    def __call__(self, data: bytes) -> int:
        if self._cut:
            data = b"\n" + data
            self._cut = False
        view = memoryview(data)
        waited = FULL_WAIT if self._stuck else 0.0
        while view:
            done = self._write(view)
            if done:
                view = view[done:]
                self._stuck = False
                continue
            if waited >= FULL_WAIT:  # None: a non-blocking file is full
                self._cut = len(view) < len(data)
                self._stuck = True
                raise OutputFull(f"the output stayed full for {FULL_WAIT:g} s")
            if self._fileno is not None:
                select.select([], [self._fileno], [], 0.05)
            else:
                time.sleep(0.05)
            waited += 0.05
        return len(data)


class _FreshLine:
    """A stream's write for the line after one it took only part of: that line starts with a
    newline, so the cut one never runs into it. Then the plain write is put back."""

    __slots__ = ("_output", "_write")

    def __init__(self, output: Stream, write: Any) -> None:
        self._output = output
        self._write = write

    def __call__(self, data: Any) -> Any:
        result = self._write((b"\n" if isinstance(data, bytes) else "\n") + data)
        self._output._write = self._write
        return result


class Stream:
    """Write each line to a stream and flush it, so a crash loses nothing already logged.

    ``stream=None`` means ``sys.stdout`` as it is at each write (so pytest's
    capture and ``contextlib.redirect_stdout`` see the lines). Text streams
    with a binary ``buffer`` get the bytes directly; other text streams get
    decoded text. Write errors (closed pipe, full disk) are counted and
    reported on stderr, never raised.
    """

    __slots__ = (
        "_binary",
        "_direct",
        "_encoding",
        "_flush",
        "_last",
        "_room",
        "_write",
        "dropped",
        "failed",
        "format",
        "level",
        "schema",
        "stream",
        "written",
    )

    def __init__(
        self,
        stream: IO[Any] | None = None,
        *,
        format: str | None = None,
        schema: str | None = None,
        level: int | str | None = None,
    ) -> None:
        self.level, self.format, self.schema = check_options(level, format, schema)
        if stream is not None and not callable(getattr(stream, "write", None)):
            hint = (
                f"; for a path, use tracelog.outputs.File({stream!r})"
                if isinstance(stream, str)
                else ""
            )
            raise TypeError(f"stream={stream!r} is not a file object: it has no write(){hint}")
        self.stream = stream
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self._last: Any = None
        self._write: Any = None
        self._direct: Any = None
        self._flush: Any = None
        self._binary = True
        self._encoding: str | None = None
        self._room: Callable[[], bool | None] | None = None

    @property
    def name(self) -> str:
        stream = self.stream
        if stream is None:
            return "stream:stdout"
        if stream is sys.stderr or stream is sys.__stderr__:
            return "stream:stderr"
        label = getattr(stream, "name", None)
        return f"stream:{label}" if isinstance(label, str) else f"stream:{type(stream).__name__}"

    def __repr__(self) -> str:
        return f"<tracelog.outputs.Stream {self.name.removeprefix('stream:')}>"

    def _bind(self, stream: Any) -> None:
        """Take ``stream``'s write, flush and kind; ``_last`` is set only once all are known,
        so a bind that fails part-way (a stack about to overflow) is tried again next write."""
        encoding = None
        if _is_binary(stream):
            target, binary = stream, True
        elif (encoding := _other_encoding(stream)) is not None:
            target, binary = stream, False  # its encoder writes the bytes
        elif getattr(stream, "buffer", None) is not None and _is_binary(stream.buffer):
            target, binary = stream.buffer, True
        else:
            target, binary = stream, False
        write = _WholeWrites(target) if isinstance(target, io.RawIOBase) else target.write
        # The stream's own flush: a text stream's moves text written to it
        # (print) into the buffer first, so lines keep their order.
        flush = getattr(stream, "flush", None)
        direct = _unbuffered_write(target)
        self._encoding = encoding
        self._binary = binary
        self._write = write
        self._flush = flush
        self._direct = direct
        self._room = _room_check(target)
        self._last = stream

    def has_room(self) -> bool | None:
        """Whether a write now would not wait for a reader: True for a regular file, for a
        pipe whether it has room (Linux); None when it cannot be told (a socket, a terminal,
        an object of yours). The background writer asks it when its queue is full."""
        if self._last is None or self._room is None:
            return None
        return self._room()

    def direct(self) -> tuple[Any, Callable[[], Any], Callable[[bytes], Any]] | None:
        """``(stream, flush, write)`` when each line goes to a regular binary file in one
        ``write(2)``: for a line, :meth:`write` then does ``flush()`` (what others wrote to
        the stream first) and ``write(line)``, as long as ``self.stream is stream``.

        For a generated fast path (:mod:`tracelog._fastpath`), which does that itself, counts
        a whole write in ``written`` and hands anything else (a short write, an error) to
        :meth:`write`. None for every other stream (stdout included: it is looked up at
        each write), and before the first write.
        """
        stream = self.stream
        if stream is None or stream is not self._last:
            return None  # not written to yet: its first write binds it
        if not self._binary or self._direct is None or self._flush is None:
            return None
        return stream, self._flush, self._direct

    def write(self, data: bytes | str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        try:
            if stream is not self._last:
                if stream is None:
                    return
                self._bind(stream)
            if self._binary:
                if type(data) is str:
                    data = data.encode("utf-8", "replace")
                if self._direct is not None:
                    # What the buffered file does on write and flush, without the
                    # copy into its buffer: flush what others wrote, then write(2).
                    self._flush()
                    done = self._direct(data)
                    if done == len(data):
                        self.written += 1
                        return
                    data = data[done or 0 :]  # a short write: the rest the usual way
            else:
                if type(data) is bytes:
                    data = data.decode("utf-8", "replace")
                if self._encoding is not None:
                    data = _encodable(str(data), self._encoding)
            self._write(data)
            flush = self._flush
            if flush is not None:
                try:
                    flush()
                except BlockingIOError:  # a full non-blocking stream: it has the line buffered
                    pass
            self.written += 1
        except OutputFull as error:
            self.dropped += 1
            _faults.report(FULL, error)
        except BlockingIOError as error:  # its buffer full too: the line is dropped
            if getattr(error, "characters_written", 0):
                self._write = _FreshLine(self, self._write)
            self.dropped += 1
            _faults.report(FULL, error)
        except Exception as error:
            self.failed += 1
            _faults.report("output", error)

    __call__ = write

    def write_lines(self, lines: Sequence[bytes | str]) -> None:
        """Several lines in few writes (what the background writer uses).

        To a regular file: one write and one flush. To a pipe or a socket,
        which other processes may share (gunicorn workers on one stdout):
        writes of whole lines of at most PIPE_BUF bytes, which the kernel
        never splits, so no other process's line lands inside one of ours.
        """
        stream = self.stream if self.stream is not None else sys.stdout
        done = 0
        try:
            if stream is not self._last:
                if stream is None:
                    return
                self._bind(stream)
            if not self._binary:
                text = "".join(
                    line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
                    for line in lines
                )
                if self._encoding is not None:
                    text = _encodable(text, self._encoding)
                chunks: Iterable[tuple[Any, int]] = ((text, len(lines)),)
            else:
                joined = None
                if self._direct is not None:  # a regular file: the batch in one write
                    try:
                        joined = b"".join(lines)  # type: ignore[arg-type]
                    except TypeError:  # a str among them: encoded below
                        pass
                if joined is not None:
                    chunks = ((joined, len(lines)),)
                else:
                    encoded = [
                        line if type(line) is bytes else str(line).encode("utf-8", "replace")
                        for line in lines
                    ]
                    chunks = _whole_lines(encoded, None if self._direct is not None else _WHOLE)
            flush = self._flush
            for data, count in chunks:
                self._write(data)
                if flush is not None:
                    flush()
                done += count
                self.written += count
        except OutputFull as error:
            self.dropped += len(lines) - done
            _faults.report(FULL, error)
        except Exception as error:
            self.failed += len(lines) - done
            _faults.report("output", error)

    def flush(self, timeout: float | None = None) -> bool:
        try:
            if self._flush is not None:
                self._flush()
            return True
        except BlockingIOError:  # a full non-blocking stream keeps what it has buffered
            return False
        except Exception as error:
            _faults.report("output", error)
            return False

    def close(self, timeout: float | None = None) -> None:
        """Flush; the stream stays open (it belongs to the caller)."""
        self.flush(timeout)

    def stats(self) -> dict[str, int]:
        return {
            "written": self.written,
            "dropped": self.dropped,
            "retried": 0,
            "failed": self.failed,
        }


StreamOutput = Stream  # the name configure(stream=...) has always used
