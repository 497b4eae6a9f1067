"""The File output: whole lines appended with O_APPEND, rotation by size or time, retention.

Several processes may append to one file (gunicorn workers, say): the file
is opened with ``O_APPEND`` and every ``os.write`` carries whole lines only,
so the kernel places each write at the end in one piece and no line is torn
or interleaved with another. Rotation takes an ``flock`` on the file and
checks that the path still names the file this process writes, so when one
process rotates, the others see the new file and reopen it instead of
rotating again.

A write the disk refuses part-way (ENOSPC, EFBIG, EIO) leaves no torn line:
the lines written whole are counted as written, the rest as failed, and the
torn tail is cut off (or, if another process wrote after it, ended with a
newline before the next line), so every line in the file stays whole.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator

from tracelog import _faults
from tracelog.outputs._stream import check_options

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: rotation is then per process only
    fcntl = None  # type: ignore[assignment]

__all__ = ["File"]

_WHEN = {"S": 1, "M": 60, "H": 3600, "D": 86400, "MIDNIGHT": 86400}
_STAMP = {"S": "%Y-%m-%d_%H-%M-%S", "M": "%Y-%m-%d_%H-%M", "H": "%Y-%m-%d_%H"}
_CHECK_EVERY = 1.0  # seconds between looks at the path (watch) and at the real size
_CHUNK_BYTES = 64 * 1024  # with max_bytes: the most written between two looks at the real size


class File:
    """Append lines to a file, with optional rotation and retention.

    - ``max_bytes``: rotate when the file would grow past this size.
    - ``when`` (``"S"``, ``"M"``, ``"H"``, ``"D"`` or ``"midnight"``) and
      ``interval``: rotate at the start of every ``interval`` such periods.
    - ``backups``: how many rotated files to keep (None: all);
      ``max_age``: delete rotated files older than this many seconds.
    - ``watch=True``: for an external ``logrotate`` (without
      ``copytruncate``): at most a second after the file is moved or removed,
      the output opens a new one at ``path``. :meth:`reopen` does it at once
      (from a SIGHUP handler, say).

    Size rotation names files ``path.1`` (newest) to ``path.<backups>``; time
    rotation names them after the period they cover (``path.2026-11-25``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str = "json",
        schema: str | None = None,
        level: int | str | None = None,
        max_bytes: int | None = None,
        backups: int | None = 5,
        when: str | None = None,
        interval: int = 1,
        utc: bool = True,
        max_age: float | _dt.timedelta | None = None,
        watch: bool = False,
    ) -> None:
        self.level, self.format, self.schema = check_options(level, format, schema)
        self.path = os.path.abspath(os.fspath(path))
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes={max_bytes!r} must be a positive number of bytes")
        if when is not None and when.upper() not in _WHEN:
            raise ValueError(f"when={when!r} is not one of S, M, H, D, midnight")
        if interval < 1:
            raise ValueError(f"interval={interval!r} must be at least 1")
        if backups is not None and backups < 0:
            raise ValueError(f"backups={backups!r} must be 0 or more (None keeps all)")
        self.max_bytes = max_bytes
        self.backups = backups
        self.when = when.upper() if when else None
        self.interval = interval
        self.utc = utc
        self.max_age = max_age.total_seconds() if isinstance(max_age, _dt.timedelta) else max_age
        self.watch = watch
        self.name = f"file:{self.path}"
        self.written = 0
        self.failed = 0
        self.rotations = 0
        self._lock = threading.Lock()
        self._inside = _Inside()  # per thread: whether it is in (or entering) the lock
        self._held_back: list[bytes] = []
        self._torn = False  # the file ends with a piece of a line that could not be cut off
        self._fd = -1
        self._size = 0
        self._identity: tuple[int, int] = (0, 0)
        self._next_check = 0.0
        self._period_start = 0.0
        self._next_rollover = float("inf")
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._open()  # fails here, at configure(), when the path cannot be written
        _files.add(self)

    def __repr__(self) -> str:
        return f"<tracelog.outputs.File {self.path!r}>"

    # -- the Output protocol ---------------------------------------------------

    def write(self, line: bytes | str) -> None:
        self.write_lines((line,))

    __call__ = write

    def has_room(self) -> bool:
        """A regular file takes a write without waiting for a reader (see Stream.has_room)."""
        return True

    def write_lines(self, lines: list[bytes | str] | tuple[bytes | str, ...]) -> None:
        """Append lines; each ``os.write`` holds whole lines. Never raises."""
        if self._inside.held:
            # A signal handler logging while this thread writes: waiting for the lock it
            # holds would hang, so append at once (O_APPEND keeps the lines whole).
            self._write_nested(lines)
            return
        with self._held():
            before = self.written
            try:
                if self.max_bytes is not None and self._fd >= 0:
                    self._size = os.fstat(self._fd).st_size  # other processes append too
                chunk: list[bytes] = []
                size = 0
                for line in lines:
                    data = line if type(line) is bytes else str(line).encode("utf-8", "replace")
                    if size and size + len(data) > _CHUNK_BYTES and self.max_bytes is not None:
                        # Written in chunks, the real size re-read between them: what
                        # other processes append meanwhile is at most a chunk each.
                        self._write(chunk)
                        chunk, size = [], 0
                        self._size = os.fstat(self._fd).st_size
                    if self._must_rotate(size, len(data)):
                        self._write(chunk)
                        chunk, size = [], 0
                        self._rotate()
                    chunk.append(data)
                    size += len(data)
                self._write(chunk)
            except Exception as error:
                self.failed += len(lines) - (self.written - before)
                self._fault(error)
            if self._held_back:
                self._write_held_back()

    def _write_held_back(self) -> None:
        """Lines a signal handler logged during a rotation (with the lock held)."""
        held, self._held_back = self._held_back, []
        try:
            self._write(held)
        except Exception as error:
            self.failed += len(held)
            self._fault(error)

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """The lock, with this thread marked as inside from before it takes it until after
        it lets go (a signal handler may run at any point in between)."""
        inside = self._inside
        inside.held = True
        try:
            with self._lock:
                yield
        finally:
            inside.held = False

    def _write_nested(self, lines: list[bytes | str] | tuple[bytes | str, ...]) -> None:
        data = [
            line if type(line) is bytes else str(line).encode("utf-8", "replace") for line in lines
        ]
        fd = self._fd
        if fd < 0:  # between a rotation's close and open: written right after it
            self._held_back.extend(data)
            return
        try:
            view = memoryview(b"".join(data))
            while view:
                view = view[os.write(fd, view) :]
            self.written += len(data)
        except OSError as error:
            if error.errno != errno.EBADF:
                self.failed += len(data)
                self._fault(error)
            else:  # closed under it by the write it interrupted: written right after that
                self._held_back.extend(data)
        except Exception as error:
            self.failed += len(data)
            self._fault(error)

    def flush(self, timeout: float | None = None) -> bool:
        """Lines are in the kernel once written; nothing is held back here."""
        return True

    def close(self, timeout: float | None = None) -> None:
        """Close the file; a later write opens it again."""
        with self._held():
            self._close_fd()

    def stats(self) -> dict[str, int]:
        return {
            "written": self.written,
            "dropped": 0,
            "retried": 0,
            "failed": self.failed,
            "rotations": self.rotations,
        }

    def reopen(self) -> None:
        """Open ``path`` afresh (after an external rotation moved the file away)."""
        with self._held():
            self._close_fd()
            try:
                self._open()
            except OSError as error:
                self._fault(error)

    # -- internals (called with the lock held) ------------------------------------

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o644)
        st = os.fstat(self._fd)
        self._size = st.st_size
        self._identity = (st.st_dev, st.st_ino)
        self._next_check = time.monotonic() + _CHECK_EVERY
        if self.when is not None:
            self._period_start = self._period_floor(time.time())
            self._next_rollover = self._period_start + self._period()

    def _close_fd(self) -> None:
        fd = self._fd
        if fd >= 0:
            self._fd = -1  # first: a signal handler writing meanwhile holds its line back
            try:
                os.close(fd)
            except OSError:
                pass

    def _write(self, chunk: list[bytes]) -> None:
        if not chunk:
            return
        if self._fd < 0:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._open()
        data = b"".join(chunk)
        view = memoryview(data)
        done = 0
        try:
            if self._torn:
                os.write(self._fd, b"\n")  # end the piece left by a refused write
                self._torn = False
            while done < len(data):
                done += os.write(self._fd, view[done:])
        except OSError:
            whole = lines = 0
            for line in chunk:
                if whole + len(line) > done:
                    break
                whole += len(line)
                lines += 1
            self.written += lines
            self._size += done
            if done > whole:
                self._cut_torn(data[whole:done])
            raise
        self._size += done
        self.written += len(chunk)

    def _cut_torn(self, piece: bytes) -> None:
        """A write stopped inside a line: cut the piece off if it is still the file's end."""
        try:
            end = os.fstat(self._fd).st_size
            reader = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                tail = os.pread(reader, len(piece), end - len(piece)) if end >= len(piece) else b""
            finally:
                os.close(reader)
            if tail == piece and self._path_identity() == self._identity:
                os.ftruncate(self._fd, end - len(piece))
                self._size -= len(piece)
                return
        except OSError:
            pass
        self._torn = True

    def _must_rotate(self, pending: int, adding: int) -> bool:
        """Whether to rotate before adding ``adding`` bytes to ``pending`` unwritten ones."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + _CHECK_EVERY
            self._look()
        if self.when is not None and time.time() >= self._next_rollover:
            return True
        if self.max_bytes is None or self._fd < 0:
            return False
        current = self._size + pending
        return current + adding > self.max_bytes and current > 0

    def _look(self) -> None:
        """Learn the real size (other processes append too) and, with watch, follow the path."""
        if self._fd < 0:
            return
        try:
            self._size = os.fstat(self._fd).st_size
            if self.watch and self._path_identity() != self._identity:
                self._close_fd()
                self._open()
        except OSError as error:
            self._fault(error)

    def _path_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _rotate(self) -> None:
        """Rotate once, across processes: whoever holds the lock first renames, the rest reopen."""
        if self._fd < 0:
            self._open()
            return
        locked = _lock_file(self._fd)
        try:
            if self._path_identity() == self._identity and os.fstat(self._fd).st_size > 0:
                self._rename_current()
                self.rotations += 1
        finally:
            if locked:
                _unlock_file(self._fd)
        self._close_fd()
        self._open()
        self._apply_retention()

    def _rename_current(self) -> None:
        if self.when is None:
            if self.backups == 0:
                os.unlink(self.path)
                return
            keep = self.backups if self.backups is not None else _highest_number(self.path) + 1
            for number in range(keep - 1, 0, -1):
                source = f"{self.path}.{number}"
                if os.path.exists(source):
                    os.replace(source, f"{self.path}.{number + 1}")
            os.replace(self.path, f"{self.path}.1")
            return
        stamp = time.strftime(
            _STAMP.get(self.when, "%Y-%m-%d"),
            time.gmtime(self._period_start) if self.utc else time.localtime(self._period_start),
        )
        target = f"{self.path}.{stamp}"
        suffix = 1
        while os.path.exists(target):
            target = f"{self.path}.{stamp}.{suffix}"
            suffix += 1
        os.replace(self.path, target)

    def _apply_retention(self) -> None:
        if self.backups is None and self.max_age is None:
            return
        try:
            rotated = _rotated_files(self.path)
            now = time.time()
            for index, (mtime, path) in enumerate(rotated):
                too_many = self.backups is not None and index >= self.backups
                too_old = self.max_age is not None and now - mtime > self.max_age
                if too_many or too_old:
                    os.unlink(path)
        except OSError as error:
            self._fault(error)

    def _period(self) -> float:
        return float(_WHEN[self.when or "D"] * self.interval)

    def _period_floor(self, now: float) -> float:
        """Start of the period holding ``now``; days start at midnight (UTC or local)."""
        period = self._period()
        offset = 0.0
        if not self.utc and self.when in ("D", "MIDNIGHT"):
            offset = -time.localtime(now).tm_gmtoff
        if self.when in ("D", "MIDNIGHT"):
            return (now - offset) // 86400 * 86400 + offset
        return now // period * period

    def _fault(self, error: BaseException) -> None:
        if isinstance(error, OSError) and error.errno in (errno.EBADF, errno.ENOENT, errno.ESTALE):
            self._close_fd()  # reopen on the next write
        _faults.report("output", error)

    def _after_fork_child(self) -> None:
        self._lock = threading.Lock()
        self._inside = _Inside()


class _Inside(threading.local):
    held = False


def _lock_file(fd: int) -> bool:
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    except OSError:
        return False


def _unlock_file(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


def _rotated_files(path: str) -> list[tuple[float, str]]:
    """Rotated copies of ``path`` (``path.1``, ``path.2026-11-25``...), newest first."""
    folder, base = os.path.split(path)
    pattern = re.compile(re.escape(base) + r"\.(\d+|\d{4}-\d\d-\d\d(_\d\d(-\d\d){0,2})?(\.\d+)?)$")
    found = []
    for entry in os.scandir(folder):
        if pattern.match(entry.name):
            try:
                found.append((entry.stat().st_mtime, entry.path))
            except FileNotFoundError:
                continue
    found.sort(key=lambda item: (-item[0], _numbered_last(item[1])))
    return found


def _numbered_last(path: str) -> int:
    tail = path.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _highest_number(path: str) -> int:
    folder, base = os.path.split(path)
    numbers = [
        int(name[len(base) + 1 :])
        for name in os.listdir(folder)
        if name.startswith(base + ".") and name[len(base) + 1 :].isdigit()
    ]
    return max(numbers, default=0)


_files: weakref.WeakSet[File] = weakref.WeakSet()


def _after_fork_child() -> None:
    for output in list(_files):
        output._after_fork_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_child)
