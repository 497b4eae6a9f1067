"""The `tracelog` command against jq and grep, in the same run, on the same generated file.

    python benchmarks/bench_cli.py [--lines 200000] [--runs 3] [--keep PATH]

Writes a log of tracelog lines (four services, ten lines per trace, ~55 MB for 200,000 lines),
then times, best of --runs, as whole processes (start-up included):

- ``grep -c ID``                                   the floor: a byte search, nothing parsed
- ``jq -c 'select(.trace_id=="ID")'``              the usual way to follow one trace
- ``tracelog view --trace ID --json``              the same lines, unchanged
- ``tracelog traces``                              one row per trace (20,000 rows)
- ``python -c "import tracelog"``                  what start-up alone costs

and each process's peak memory (max RSS). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import orjson

SERVICES = ("shop", "payments", "inventory", "mailer")
LOGGERS = ("shop.orders", "shop.http", "payments.card", "inventory.stock", "uvicorn.access")
WORDS = "order placed charged card reserved stock sent receipt query took cache miss retry".split()


def generate(path: str, lines: int, seed: int = 7) -> str:
    """Write ``lines`` tracelog lines to ``path``; returns a trace id from the middle."""
    rng = random.Random(seed)
    moment = dt.datetime(2026, 11, 25, 7, 40, 34, tzinfo=dt.timezone.utc)
    written = 0
    middle = ""
    with open(path, "wb") as out:
        while written < lines:
            trace_id = f"{rng.getrandbits(128):032x}"
            root = f"{rng.getrandbits(64):016x}"
            batch = []
            for i in range(10):
                moment += dt.timedelta(microseconds=rng.randrange(10_000))
                level = "error" if rng.random() < 0.01 else "info"
                event: dict[str, object] = {
                    "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "level": level,
                    "logger": rng.choice(LOGGERS),
                    "message": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))),
                    "trace_id": trace_id,
                    "span_id": root if i < 3 else f"{rng.getrandbits(64):016x}",
                }
                if i >= 3:
                    event["parent_span_id"] = root
                    event["span_name"] = "charge card"
                event["service"] = rng.choice(SERVICES)
                event["order_id"] = rng.randint(1, 10**6)
                event["duration_ms"] = round(rng.random() * 100, 3)
                batch.append(orjson.dumps(event))
            out.write(b"\n".join(batch[: lines - written]) + b"\n")
            written += min(10, lines - written)
            if not middle and written >= lines // 2:
                middle = trace_id
    return middle


def measure(argv: list[str], runs: int) -> tuple[float, int, bytes]:
    """Best wall time (s), peak RSS (KiB) and the output of ``argv``."""
    best, peak, output = float("inf"), 0, b""
    for _ in range(runs):
        with tempfile.TemporaryFile() as sink:
            started = time.perf_counter()
            process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            sink.seek(0)
            output = sink.read()
        best = min(best, elapsed)
        peak = max(peak, usage.ru_maxrss)
    return best, peak, output


def in_process(args: list[str], runs: int) -> float:
    """Best time of ``tracelog.cli.main(args)`` in a fresh process, timed inside it."""
    script = (
        "import os, sys, time\n"
        "from tracelog.cli import main\n"
        "sys.stdout = open(os.devnull, 'w')\n"
        "started = time.perf_counter()\n"
        f"main({args!r})\n"
        "print(time.perf_counter() - started, file=sys.stderr)\n"
    )
    best = float("inf")
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        best = min(best, float(done.stderr.strip().splitlines()[-1]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", help="write the log here and keep it")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="tracelog-bench-")
    path = args.keep or os.path.join(folder, "bench.log")
    try:
        trace_id = generate(path, args.lines)
        size = os.path.getsize(path)
        print(f"{args.lines:,} lines, {size / 1e6:.1f} MB, trace {trace_id}, best of {args.runs}")
        tracelog = [sys.executable, "-m", "tracelog"]
        cases = [
            ("grep -c ID", ["grep", "-c", trace_id, path]),
            (
                "jq -c 'select(.trace_id==ID)'",
                ["jq", "-c", f'select(.trace_id=="{trace_id}")', path],
            ),
            (
                "tracelog view --trace ID --json",
                [*tracelog, "view", "--trace", trace_id, "--json", path],
            ),
            ("tracelog traces", [*tracelog, "traces", path]),
            ("python -c 'import tracelog'", [sys.executable, "-c", "import tracelog"]),
        ]
        results: dict[str, tuple[float, int, bytes]] = {}
        for name, argv in cases:
            if shutil.which(argv[0]) is None:
                print(f"  {name:<34} skipped: {argv[0]} is not installed")
                continue
            results[name] = measure(argv, args.runs)
            seconds, rss, output = results[name]
            lines = output.count(b"\n")
            print(f"  {name:<34} {seconds:7.3f} s   {rss / 1024:6.1f} MiB   {lines:>6} lines out")
        print("the same work inside one process (no interpreter start-up, no `import tracelog`):")
        for name, argv in cases[2:4]:
            print(f"  {name:<34} {in_process(argv[3:], args.runs):7.3f} s")
        jq = results.get("jq -c 'select(.trace_id==ID)'")
        view = results.get("tracelog view --trace ID --json")
        if jq and view:
            if jq[2] != view[2]:
                print("  note: jq and tracelog printed different lines")
            print(f"view --trace --json is {jq[0] / view[0]:.1f}x faster than jq")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
