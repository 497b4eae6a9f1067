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
    """

    __slots__ = ("_lock", "_writer", "path", "pending", "read_offset")

    def __init__(self, path: str) -> None:
        self._lock = _try_lock(path)
        primary = self._lock is not None
        if not primary:
            path = f"{path}.{os.getpid()}"
            self._lock = _try_lock(path)
        self.path = path
        self._writer: Any = None
        self.read_offset = 0
        self.pending = 0  # lines in the file not yet read back
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
        except FileNotFoundError:
            pass
        self.pending = lines
        return lines

    def append(self, line: bytes) -> None:
        if self._writer is None:
            self._writer = open(self.path, "ab")  # noqa: SIM115 - kept open while spilling
        self._writer.write(line if line.endswith(LINE_END) else line + LINE_END)
        self.pending += 1

    def read(self, limit: int) -> list[bytes]:
        if self._writer is not None:
            self._writer.flush()
        lines: list[bytes] = []
        with open(self.path, "rb") as reader:
            reader.seek(self.read_offset)
            while len(lines) < limit:
                line = reader.readline()
                if not line.endswith(LINE_END):  # end of file (or a torn last line)
                    break
                lines.append(line)
                self.read_offset += len(line)
        self.pending -= len(lines)
        return lines

    def reset(self) -> None:
        """Everything was read back and shipped: empty the file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        with open(self.path, "wb"):
            pass
        self.read_offset = 0
        self.pending = 0

    def rewrite(self, first: list[bytes]) -> int:
        """Keep ``first`` followed by the unread rest of the file; returns the lines kept."""
        rest = self.read(self.pending) if self.pending > 0 else []
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        temporary = f"{self.path}.tmp{os.getpid()}"
        with open(temporary, "wb") as out:
            for line in (*first, *rest):
                out.write(line if line.endswith(LINE_END) else line + LINE_END)
        os.replace(temporary, self.path)
        self.read_offset = 0
        self.pending = len(first) + len(rest)
        return self.pending

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
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
