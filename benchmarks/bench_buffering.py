"""What trace buffering, sampling and rate limiting cost per line, and the memory they hold.

Run:  python benchmarks/bench_buffering.py [--rounds 15] [--calls 20000]
                                            [--traces 10000] [--lines 1000]

Speed: every contender is a tracelog setup (configure() is global, so each
round configures each contender in turn, in a shuffled order) and the same
calls inside traces of 100 lines each, the trace start and end included.
Each figure is the median over rounds of the per-line cost; lines go to a
file, flushed per line. The ratios are what matter.

Memory: ``--traces`` traces open at once (each in its own context, as
concurrent requests are), each logging ``--lines`` debug lines, round robin,
with the default TraceBuffer (max_per_trace=1000, max_total=100000). It
reports the lines held, the bytes they take (lines and containers), and the
process's peak RSS before and after.
"""

from __future__ import annotations

import argparse
import atexit
import contextvars
import datetime as dt
import logging
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import orjson

import tracelog
from tracelog import buffering

FIELDS = {"user_id": 42, "path": "/api/items", "status": 200, "duration_ms": 12.5}
PER_TRACE = 100

Setup = Callable[[], None]
Calls = Callable[[int], None]


def _file(folder: str, name: str) -> Any:
    return open(os.path.join(folder, name), "ab")


def _in_traces(line: Callable[[], None], last: Callable[[], None] | None = None) -> Calls:
    """``calls`` lines, in traces of PER_TRACE lines (the last one replaced by ``last``)."""

    def run(calls: int) -> None:
        for _ in range(calls // PER_TRACE):
            with tracelog.trace():
                for _ in range(PER_TRACE - 1):
                    line()
                (last or line)()

    return run


def build(folder: str) -> dict[str, tuple[str, dict[str, tuple[Setup, Calls]]]]:
    log = tracelog.get_logger("bench")
    std = logging.getLogger("bench.stdlib")
    extra = dict(FIELDS)

    def setup(name: str, **options: Any) -> Setup:
        stream = _file(folder, name.replace(" ", "_") + ".log")
        return lambda: tracelog.configure(service="shop", stream=stream, **options)

    debug = _in_traces(lambda: log.debug("cache lookup", **FIELDS))
    info = _in_traces(lambda: log.info("request handled", **FIELDS))
    std_debug = _in_traces(lambda: std.debug("cache lookup", extra=extra))
    failing = _in_traces(
        lambda: log.debug("cache lookup", **FIELDS),
        lambda: log.error("request failed", **FIELDS),
    )
    buffer = tracelog.TraceBuffer()
    return {
        "debug line (native)": (
            "written",
            {
                "written": (setup("dbg written", level="DEBUG"), debug),
                "held": (setup("dbg held", level="INFO", buffer=buffer), debug),
                "held, nonblocking": (
                    setup("dbg held nb", level="INFO", buffer=buffer, nonblocking=True),
                    debug,
                ),
                "filtered out": (setup("dbg filtered", level="INFO"), debug),
            },
        ),
        "debug line (stdlib)": (
            "written",
            {
                "written": (setup("std written", level="DEBUG"), std_debug),
                "held": (setup("std held", level="INFO", buffer=buffer), std_debug),
            },
        ),
        "failing trace: 99 debug + 1 error": (
            "written",
            {
                "written": (setup("fail written", level="DEBUG"), failing),
                "held then flushed": (setup("fail held", level="INFO", buffer=buffer), failing),
            },
        ),
        "info line (written either way)": (
            "no gate",
            {
                "no gate": (setup("info plain", level="INFO"), info),
                "buffer": (setup("info buffer", level="INFO", buffer=buffer), info),
                "buffer + sampling(1.0) + rate limit": (
                    setup(
                        "info all",
                        level="INFO",
                        buffer=buffer,
                        sampling=tracelog.Sampling(rate=1.0),
                        rate_limit=tracelog.RateLimit(limit=10**9),
                    ),
                    info,
                ),
            },
        ),
        "info line of an unsampled trace": (
            "written",
            {
                "written": (setup("smp written", level="INFO"), info),
                "sampled out": (
                    setup("smp out", level="INFO", sampling=tracelog.Sampling(rate=0.0)),
                    info,
                ),
                "sampled out, held": (
                    setup(
                        "smp held",
                        level="INFO",
                        buffer=buffer,
                        sampling=tracelog.Sampling(rate=0.0),
                    ),
                    info,
                ),
            },
        ),
        "repeated info line": (
            "written",
            {
                "written": (setup("rl written", level="INFO"), info),
                "rate limited": (
                    setup("rl limited", level="INFO", rate_limit=tracelog.RateLimit(limit=10)),
                    info,
                ),
            },
        ),
    }


def measure(setup: Setup, calls: Calls, n: int) -> float:
    setup()
    start = time.perf_counter_ns()
    calls(n)
    return (time.perf_counter_ns() - start) / n


def run_speed(rounds: int, calls: int) -> list[str]:
    folder = tempfile.mkdtemp(prefix="tracelog-bench-")
    atexit.register(shutil.rmtree, folder, True)  # the lines are not kept
    out: list[str] = []
    for group, (base, contenders) in build(folder).items():
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for setup, fn in contenders.values():  # warm up
            measure(setup, fn, max(calls // 10, PER_TRACE))
        for _ in range(rounds):
            order = list(contenders.items())
            random.shuffle(order)
            for name, (setup, fn) in order:
                samples[name].append(measure(setup, fn, calls))
        medians = {name: statistics.median(v) for name, v in samples.items()}
        out.append(f"\n## {group} (ratio to {base})")
        for name, ns in medians.items():
            out.append(f"  {name:<40} {ns / 1000:8.2f} µs   {ns / medians[base]:5.2f}x")
    tracelog.reset()
    return out


def _rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_memory(traces: int, lines: int) -> list[str]:
    tracelog.configure(level="INFO", stream=open(os.devnull, "wb"), buffer=tracelog.TraceBuffer())
    log = tracelog.get_logger("bench")
    before = _rss_mib()
    contexts = [contextvars.Context() for _ in range(traces)]
    activations = [tracelog.trace() for _ in range(traces)]
    for ctx, activation in zip(contexts, activations):
        ctx.run(activation.__enter__)
    started = time.perf_counter()
    most_held = 0
    for i in range(lines):
        for ctx in contexts:
            ctx.run(log.debug, "cache lookup", i=i, **FIELDS)
        most_held = max(most_held, buffering.stats()["held"])
    elapsed = time.perf_counter() - started
    gate = buffering._active
    assert gate is not None
    held_bytes = sum(
        sys.getsizeof(state.lines) + sum(sys.getsizeof(line) for line in state.lines)
        for state in gate._traces.values()
        if state.lines
    )
    state_bytes = sum(sys.getsizeof(state) for state in gate._traces.values())
    stats = buffering.stats()
    after = _rss_mib()
    for ctx, activation in zip(contexts, activations):
        ctx.run(activation.__exit__, None, None, None)
    total = traces * lines
    tracelog.reset()
    return [
        f"\n## memory: {traces} open traces x {lines} debug lines ({total:,} lines logged)",
        f"  lines held at most             {most_held:,} (max_total 100,000)",
        f"  held lines + their deques      {held_bytes / 2**20:8.1f} MiB",
        f"  per-trace state                {state_bytes / 2**20:8.1f} MiB",
        f"  peak RSS before / after        {before:8.1f} / {after:.1f} MiB",
        f"  dropped to stay bounded        {stats['dropped']:,}",
        f"  time per line                  {elapsed / total * 1e6:8.2f} µs",
        f"  unbounded, the same lines would take about "
        f"{held_bytes / max(stats['held'], 1) * total / 2**30:.1f} GiB",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000)
    args = parser.parse_args()
    print(
        f"# {dt.date.today()} · Python {platform.python_version()} · {platform.machine()} · "
        f"{os.cpu_count()} cores · orjson {orjson.__version__}"
    )
    for line in run_speed(args.rounds, args.calls):
        print(line)
    sys.stdout.flush()
    for line in run_memory(args.traces, args.lines):
        print(line)


if __name__ == "__main__":
    main()
