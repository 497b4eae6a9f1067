"""Instructions per call for bench_core.py's contenders, counted by valgrind (deterministic).

Run:  python benchmarks/instructions.py [--calls 10000] [CONTENDER ...]

Each contender runs in a process of its own under ``valgrind --tool=callgrind``
twice, with 1,000 and with 1,000 + ``--calls`` calls; the difference divided by
``--calls`` is its cost per call, without start-up and set-up. The count is the
same from run to run whatever else the machine does, but it is blind to time
spent in the kernel (the write itself) and to cache misses: read it beside
bench_core.py's timings, not instead of them. Needs valgrind (Debian: valgrind).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import tracelog

DEFAULT = [
    "native/floor (orjson by hand)",
    "native/tracelog",
    "native/tracelog nonblocking",
    "native/structlog fastest",
    "stdlib/stdlib -> nothing",
    "stdlib/stdlib -> floor handler (orjson by hand)",
    "stdlib/stdlib -> tracelog",
    "stdlib/stdlib -> tracelog nonblocking",
]


def child(contender: str, calls: int) -> None:
    """Run ``calls`` calls of one contender (in the process valgrind watches)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_core

    group, name = contender.split("/", 1)
    folder = tempfile.mkdtemp(prefix="tracelog-instructions-")
    try:
        fn = bench_core.build(folder)[group][name]
        with tracelog.trace():
            bench_core.measure(fn, calls)
    finally:
        shutil.rmtree(folder, True)


def count(contender: str, calls: int) -> int:
    """Instructions valgrind counts for a whole child process making ``calls`` calls."""
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            contender,
            "--calls",
            str(calls),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True,
    )
    found = re.search(r"refs:\s+([\d,]+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{result.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contenders", nargs="*", default=DEFAULT, help="group/name, as listed")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.calls)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    for contender in args.contenders:
        per_call = (count(contender, 1_000 + args.calls) - count(contender, 1_000)) / args.calls
        print(f"  {contender:<52} {per_call / 1000:6.1f}k instructions a call", flush=True)


if __name__ == "__main__":
    main()
