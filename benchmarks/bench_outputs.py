"""What outputs cost the caller: the background writer, a slow reader, a file, an overload.

Run:  python benchmarks/bench_outputs.py [--rounds 15] [--calls 20000] [--file-lines 300000]
                                         [--overload-seconds 5]

The event, as in bench_core.py:  log.info("request handled", user_id=42,
path="/api/items", status=200, duration_ms=12.5)  inside a trace.

1. Caller cost: the same event written synchronously to /dev/null, and handed
   to the background writer (nonblocking=True) that writes it to /dev/null.
   Alternating rounds (shuffled), median per-call cost; the ratio is what
   matters (target: background <= 1.2x synchronous).
2. Slow reader: stdout is a pipe whose reader takes 64 KiB every 20 ms. The
   caller logs as fast as it can with overflow="drop"; each call is timed.
   Reports p50/p99/max per call and the lines dropped (target p99 < 50 µs).
3. File throughput: one background writer, overflow="block" (nothing may be
   dropped), lines per second from the first call until tracelog.flush()
   returns (target: 100k lines/s).
4. Overload: a producer ten times faster than the slow reader for a few
   seconds; RSS and the queue length sampled each second (memory stays flat:
   the queue is bounded).
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import orjson

import tracelog
from tracelog.outputs import File, Stream, _lifecycle, _writer

FIELDS = {"user_id": 42, "path": "/api/items", "status": 200, "duration_ms": 12.5}

SLOW_READER = """
import os, sys, time
pause = float(sys.argv[1])
while True:
    data = os.read(0, 65536)
    if not data:
        break
    time.sleep(pause)
"""


def start_reader(pause: float) -> subprocess.Popen[bytes]:
    """A process reading its stdin 64 KiB at a time, sleeping ``pause`` seconds in between."""
    return subprocess.Popen([sys.executable, "-c", SLOW_READER, str(pause)], stdin=subprocess.PIPE)


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def measure(fn: Callable[[], None], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / calls


# --- 1. caller cost ------------------------------------------------------------


def caller_cost(rounds: int, calls: int) -> dict[str, float]:
    devnull = open(os.devnull, "wb")  # kept open for the whole run
    log = tracelog.get_logger("bench")

    def sync() -> None:
        tracelog.configure(outputs=[Stream(devnull)], service="shop")

    def background() -> None:
        tracelog.configure(
            outputs=[Stream(devnull)], service="shop", nonblocking=True, queue_size=calls * 2
        )

    def one() -> None:
        log.info("request handled", **FIELDS)

    setups = {"synchronous to /dev/null": sync, "background writer": background}
    samples: dict[str, list[float]] = {name: [] for name in setups}
    with tracelog.trace():
        for setup in setups.values():
            setup()
            measure(one, calls // 10)
            tracelog.flush()
        for _ in range(rounds):
            order = list(setups.items())
            random.shuffle(order)
            for name, setup in order:
                setup()
                samples[name].append(measure(one, calls))
                tracelog.flush()  # not timed: the caller has gone on by then
    tracelog.reset()
    return {name: statistics.median(values) for name, values in samples.items()}


# --- 2. slow reader ------------------------------------------------------------


def slow_reader(calls: int) -> dict[str, float]:
    reader = start_reader(0.02)
    assert reader.stdin is not None
    try:
        tracelog.configure(
            outputs=[Stream(reader.stdin)], service="shop", nonblocking=True, overflow="drop"
        )
        log = tracelog.get_logger("bench")
        clock = time.perf_counter_ns
        timings = []
        with tracelog.trace():
            for _ in range(calls):
                start = clock()
                log.info("request handled", **FIELDS)
                timings.append(clock() - start)
        stats = next(iter(tracelog.stats().values()))
        timings.sort()
        return {
            "p50_us": timings[len(timings) // 2] / 1000,
            "p99_us": timings[int(len(timings) * 0.99)] / 1000,
            "max_us": timings[-1] / 1000,
            "dropped": stats["dropped"],
            "calls": calls,
        }
    finally:
        tracelog.reset()  # closes the output; the reader sees end of file
        reader.stdin.close()
        reader.kill()
        reader.wait()


# --- 3. file throughput ----------------------------------------------------------


def file_throughput(lines: int, folder: str) -> dict[str, float]:
    path = os.path.join(folder, "throughput.jsonl")
    tracelog.configure(outputs=[File(path)], service="shop", nonblocking=True, overflow="block")
    log = tracelog.get_logger("bench")
    with tracelog.trace():
        start = time.perf_counter()
        for _ in range(lines):
            log.info("request handled", **FIELDS)
        caller = time.perf_counter() - start
        tracelog.flush()
        total = time.perf_counter() - start
    stats = next(iter(tracelog.stats().values()))
    tracelog.reset()
    with open(path, "rb") as written:
        on_disk = sum(1 for _ in written)
    return {
        "lines_per_s": lines / total,
        "caller_s": caller,
        "total_s": total,
        "dropped": stats["dropped"],
        "on_disk": on_disk,
    }


def writer_throughput(lines: int, folder: str) -> dict[str, float]:
    """The background writer alone: pre-rendered lines into one File, until all are on disk."""
    path = os.path.join(folder, "writer.jsonl")
    line = orjson.dumps({"message": "request handled", **FIELDS}) + b"\n"
    writer = _writer.BackgroundWriter(File(path), queue_size=lines + 1)
    start = time.perf_counter()
    for _ in range(lines):
        writer.write(line)
    writer.flush()
    total = time.perf_counter() - start
    writer.close()
    return {"lines_per_s": lines / total, "total_s": total}


# --- 4. overload -------------------------------------------------------------------


def overload(seconds: float) -> dict[str, object]:
    pause = 0.1
    reader = start_reader(pause)
    assert reader.stdin is not None
    line_size = len(orjson.dumps({"message": "request handled", **FIELDS})) + 120
    consumer_rate = 65536 / pause / line_size  # lines per second the reader takes
    target_rate = consumer_rate * 10
    samples: list[tuple[float, int, int]] = []
    try:
        tracelog.configure(outputs=[Stream(reader.stdin)], service="shop", nonblocking=True)
        log = tracelog.get_logger("bench")
        writer = _lifecycle.installed()[0]
        produced = 0
        start = time.perf_counter()
        next_sample = start
        with tracelog.trace():
            while (now := time.perf_counter()) - start < seconds:
                due = min(int((now - start) * target_rate), produced + 2000)
                while produced < due:
                    log.info("request handled", **FIELDS)
                    produced += 1
                if now >= next_sample:
                    samples.append((now - start, rss_kib(), len(writer._queue)))
                    next_sample += 0.5
                time.sleep(0.001)
        elapsed = time.perf_counter() - start
        stats = writer.stats()
    finally:
        tracelog.reset()
        reader.stdin.close()
        reader.kill()
        reader.wait()
    return {
        "produced_per_s": produced / elapsed,
        "consumer_per_s": consumer_rate,
        "dropped": stats["dropped"],
        "written": stats["written"],
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--file-lines", type=int, default=300_000)
    parser.add_argument("--overload-seconds", type=float, default=5.0)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="tracelog-bench-")
    atexit.register(shutil.rmtree, folder, True)  # the lines are not kept
    print(
        f"# {dt.date.today()} · Python {platform.python_version()} · {platform.machine()} · "
        f"{os.cpu_count()} cores · orjson {orjson.__version__}"
    )

    costs = caller_cost(args.rounds, args.calls)
    base = costs["synchronous to /dev/null"]
    print("\n## 1. caller cost per call (median of rounds; target background <= 1.20x)")
    for name, ns in costs.items():
        print(f"  {name:<28} {ns / 1000:7.2f} µs   {ns / base:5.2f}x")

    slow = slow_reader(args.calls * 5)
    print("\n## 2. stdout piped into a slow reader, overflow=drop (target p99 < 50 µs)")
    print(
        f"  calls {slow['calls']:.0f}   p50 {slow['p50_us']:.2f} µs   p99 {slow['p99_us']:.2f} µs"
        f"   max {slow['max_us']:.0f} µs   dropped {slow['dropped']:.0f} (counted)"
    )

    file = file_throughput(args.file_lines, folder)
    print("\n## 3. one background writer to a file, overflow=block (target 100k lines/s)")
    print(
        f"  end to end (pipeline in the caller): {file['lines_per_s']:,.0f} lines/s   "
        f"({args.file_lines:,} lines: caller "
        f"{file['caller_s']:.2f} s, all on disk {file['total_s']:.2f} s; "
        f"{file['on_disk']:,.0f} lines in the file, dropped {file['dropped']:.0f})"
    )

    alone = writer_throughput(args.file_lines, folder)
    print(
        f"  the writer alone (lines rendered beforehand): {alone['lines_per_s']:,.0f} lines/s "
        f"({args.file_lines:,} lines on disk in {alone['total_s']:.2f} s)"
    )

    over = overload(args.overload_seconds)
    print("\n## 4. 10x overload into the slow reader, overflow=drop (memory stays flat)")
    print(
        f"  produced {over['produced_per_s']:,.0f} lines/s, reader takes ~"
        f"{over['consumer_per_s']:,.0f} lines/s; written {over['written']}, "
        f"dropped {over['dropped']}"
    )
    samples = over["samples"]
    assert isinstance(samples, list)
    for second, rss, queued in samples:
        print(f"  t={second:4.1f} s   RSS {rss / 1024:7.1f} MiB   queued {queued:6d}")
    if samples:
        first, last = samples[0][1], samples[-1][1]
        print(f"  RSS change from the first to the last sample: {(last - first) / 1024:+.1f} MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
