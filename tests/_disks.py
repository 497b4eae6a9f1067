"""A real full disk for fault tests: a small tmpfs where one can be mounted, else RLIMIT_FSIZE.

Scenarios run in a child process (:meth:`SmallDisk.run`). The child fills the
disk with :func:`fill` and gives the space back with :func:`recover`; on a
tmpfs that is a filler file, under a file-size limit it is the limit itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

#: Bytes a child may still write to one file once the disk is "full".
ROOM = 16 * 1024

PRELUDE = '''
import os, resource, sys
DISK = sys.argv[1]
LIMITED = sys.argv[2] == "rlimit"

def fill():
    """Leave about ROOM bytes free on the disk (or per file, under the limit)."""
    if LIMITED:
        resource.setrlimit(resource.RLIMIT_FSIZE, (%(room)d, resource.RLIM_INFINITY))
        return
    with open(os.path.join(DISK, "filler"), "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\\0" * 4096)
        except OSError:
            pass
    filler = os.path.join(DISK, "filler")
    os.truncate(filler, os.path.getsize(filler) - %(room)d)

def recover():
    if LIMITED:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    else:
        os.unlink(os.path.join(DISK, "filler"))
'''


class SmallDisk:
    def __init__(self, path: Path, mounted: bool) -> None:
        self.path = path
        self.mounted = mounted

    def run(
        self, script: str, *args: str, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` (after the prelude) in a child; it sees DISK, fill() and recover()."""
        code = PRELUDE % {"room": ROOM} + textwrap.dedent(script)
        return subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                str(self.path),
                "tmpfs" if self.mounted else "rlimit",
                *args,
            ],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            preexec_fn=_ignore_sigxfsz,
            check=False,
        )

    def popen(self, script: str, *args: str) -> subprocess.Popen[str]:
        code = PRELUDE % {"room": ROOM} + textwrap.dedent(script)
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                str(self.path),
                "tmpfs" if self.mounted else "rlimit",
                *args,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            preexec_fn=_ignore_sigxfsz,
        )


def _ignore_sigxfsz() -> None:
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG


@contextlib.contextmanager
def small_disk(tmp_path: Path, size: str = "1m") -> Iterator[SmallDisk]:
    """A tmpfs of ``size`` at ``tmp_path/disk`` (as root), else a directory under a size limit."""
    path = tmp_path / "disk"
    path.mkdir()
    mounted = False
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount"):
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        )
        mounted = result.returncode == 0
    try:
        yield SmallDisk(path, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
