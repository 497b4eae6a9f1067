"""The spill file: lines a shipper's buffer could not hold, kept on disk and read back in order."""

from __future__ import annotations

import glob
import os
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per spill file is up to you
    fcntl = None  # type: ignore[assignment]

__all__ = ["LINE_END", "Spill"]

LINE_END = b"\n"


def _try_lock(path: str) -> Any:
    """An open lock file held exclusively for ``path``; None while another process holds it."""
    handle = open(path + ".lock", "a+b")  # noqa: SIM115 - held for the spill file's lifetime
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
    return handle


def _whole_lines(path: str) -> bytes:
    with open(path, "rb") as source:
        data = source.read()
    return data[: data.rfind(LINE_END) + 1]  # a line torn by a crash is not a line


class Spill:
    """An append-only file of lines that did not fit in the buffer, read back in order.

    One process owns a spill file (an flock on ``<path>.lock``). Another
    process given the same path (gunicorn workers that each configure
    tracelog) spills to ``<path>.<pid>`` instead; the owner of ``<path>``
    takes over such files when their process is gone.

    Lines are gathered in memory and written ``CHUNK`` bytes at a time. A write
    the disk refuses (ENOSPC, EIO, EACCES) is cut back to the last whole line,
    and the lines it carried are added to :attr:`lost`, so the owner can count
    exactly what the file could not keep.
    """

    __slots__ = (
        "_chunk",
        "_chunk_bytes",
        "_fd",
        "_lock",
        "_size",
        "last_error",
        "lost",
        "path",
        "pending",
        "read_offset",
    )

    CHUNK = 8 * 1024  # as much as a buffered file would hold back

    def __init__(self, path: str) -> None:
        self._lock = _try_lock(path)
        primary = self._lock is not None
        if not primary:
            path = f"{path}.{os.getpid()}"
            self._lock = _try_lock(path)
        self.path = path
        self._fd: int | None = None
        self._size = 0  # bytes of whole lines in the file
        self._chunk: list[bytes] = []
        self._chunk_bytes = 0
        self.read_offset = 0
        self.pending = 0  # lines kept (in the file or the chunk) and not yet read back
        self.lost = 0  # lines the file could not keep, since the owner last took the count
        self.last_error: OSError | None = None
        if primary:
            self._adopt_orphans()

    def _adopt_orphans(self) -> None:
        for orphan in glob.glob(glob.escape(self.path) + ".*"):
            if not orphan.rpartition(".")[2].isdigit():
                continue
            lock = _try_lock(orphan)
            if lock is None:  # its process is alive
                continue
            try:
                data = _whole_lines(orphan)
                if data:
                    with open(self.path, "ab") as out:
                        out.write(data)
                os.unlink(orphan)
                os.unlink(orphan + ".lock")
            except OSError:
                pass
            finally:
                lock.close()

    def adopt_leftovers(self) -> int:
        """Lines a previous process left in the file; they are sent first."""
        lines = whole = 0
        try:
            with open(self.path, "r+b") as existing:
                for chunk in iter(lambda: existing.read(1 << 20), b""):
                    count = chunk.count(LINE_END)
                    if count:
                        whole = existing.tell() - len(chunk) + chunk.rindex(LINE_END) + 1
                        lines += count
                existing.truncate(whole)  # a line torn by a crash is not a line
            self._size = whole
        except FileNotFoundError:
            pass
        except OSError as error:
            self.last_error = error
        self.pending = lines
        return lines

    def take_lost(self) -> int:
        """Lines lost since the last call (and forget them)."""
        lost, self.lost = self.lost, 0
        return lost

    def append(self, line: bytes) -> None:
        """Keep one line; if writing the gathered lines fails, they are added to :attr:`lost`."""
        line = line if line.endswith(LINE_END) else line + LINE_END
        self._chunk.append(line)
        self._chunk_bytes += len(line)
        self.pending += 1
        if self._chunk_bytes >= self.CHUNK:
            self._write_chunk()

    def _write_chunk(self) -> bool:
        """Write the gathered lines at the end of the file; False (and counted lost) if refused."""
        chunk = self._chunk
        if not chunk:
            return True
        self._chunk = []
        self._chunk_bytes = 0
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self._size = _whole_size(self._fd)
            _write_all(self._fd, b"".join(chunk))
            self._size += sum(map(len, chunk))
            return True
        except OSError as error:
            self.last_error = error
            if self._fd is not None:
                try:  # a torn line is not a line: the next one starts clean
                    os.ftruncate(self._fd, self._size)
                except OSError:
                    pass
            self.pending -= len(chunk)
            self.lost += len(chunk)
            return False

    def read(self, limit: int) -> list[bytes]:
        """Up to ``limit`` lines in order: from the file first, then the ones still in memory."""
        lines: list[bytes] = []
        if self.read_offset < self._size:
            with open(self.path, "rb") as reader:
                reader.seek(self.read_offset)
                while len(lines) < limit and self.read_offset < self._size:
                    line = reader.readline()
                    if not line.endswith(LINE_END):  # end of file (or a torn last line)
                        break
                    lines.append(line)
                    self.read_offset += len(line)
        if len(lines) < limit and self._chunk and self.read_offset >= self._size:
            take = self._chunk[: limit - len(lines)]
            del self._chunk[: len(take)]
            self._chunk_bytes -= sum(map(len, take))
            lines.extend(take)
        self.pending -= len(lines)
        return lines

    def skip_unreadable(self) -> int:
        """The file cannot be read back: give up its unread lines; returns how many."""
        lost = self.pending - len(self._chunk)
        self.read_offset = self._size
        self.pending = len(self._chunk)
        return lost

    def reset(self) -> None:
        """Everything was read back and shipped: empty the file."""
        self._chunk = []
        self._chunk_bytes = 0
        self.pending = 0
        try:
            if self._fd is not None:
                os.ftruncate(self._fd, 0)
            elif self._size:
                with open(self.path, "wb"):
                    pass
        except OSError as error:  # the file keeps lines already shipped: read on past them
            self.last_error = error
            return
        self._size = 0
        self.read_offset = 0

    def rewrite(self, first: list[bytes]) -> int:
        """Keep ``first`` followed by the unread rest; returns the lines kept (the rest is lost)."""
        rest = self.read(self.pending) if self.pending > 0 else []
        self._close_fd()
        data = [line if line.endswith(LINE_END) else line + LINE_END for line in (*first, *rest)]
        temporary = f"{self.path}.tmp{os.getpid()}"
        try:
            with open(temporary, "wb") as out:
                out.write(b"".join(data))
            os.replace(temporary, self.path)
            kept, self._size = len(data), sum(map(len, data))
        except OSError as error:
            self.last_error = error
            try:
                os.unlink(temporary)
            except OSError:
                pass
            kept, self._size = self._rewrite_in_place(data)
        self.read_offset = 0
        self.pending = kept
        self.lost += len(data) - kept
        return kept

    def _rewrite_in_place(self, data: list[bytes]) -> tuple[int, int]:
        """No room for a second file: empty this one and write what fits; (lines, bytes) kept."""
        kept = size = 0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError:
            return 0, 0
        try:
            for line in data:
                _write_all(fd, line)
                size += len(line)
                kept += 1
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
        finally:
            os.close(fd)
        return kept, size

    def _close_fd(self) -> None:
        self._write_chunk()
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        self._size = 0

    def close(self) -> None:
        """Write what is gathered (what cannot be written is added to :attr:`lost`), let go."""
        self._close_fd()
        try:
            if self.pending == 0 and os.path.getsize(self.path) == 0:
                os.unlink(self.path)
                if self.path.rpartition(".")[2] == str(os.getpid()):
                    os.unlink(self.path + ".lock")
        except OSError:
            pass
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _whole_size(fd: int) -> int:
    """The file's size up to its last whole line; a torn tail is cut off."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    with os.fdopen(os.dup(fd), "rb") as reader:
        start = max(0, size - (1 << 20))
        reader.seek(start)
        tail = reader.read()
    end = tail.rfind(LINE_END)
    whole = start + end + 1 if end >= 0 else (0 if start == 0 else size)
    if whole != size:
        os.ftruncate(fd, whole)
    return whole
