"""The `tracelog` command against jq and grep, in the same run, on the same generated files.

    python benchmarks/bench_cli.py [--lines 200000] [--runs 3] [--keep PATH]
    python benchmarks/bench_cli.py --size-mb 1024 [--runs 3]      the 1 GB file set
    python benchmarks/bench_cli.py --loki-only                    only the Loki fetch

Writes a log of tracelog lines (four services, ten lines per trace, ~55 MB for 200,000 lines),
shaped like a web service's: nine application lines per request with no ``duration_ms``, then
the request's access line (``uvicorn.access``, method, path, status) with ``duration_ms`` drawn
log-normal (median 45 ms, about 1.5% over 500 ms), as request times are. So
``--where duration_ms>500`` selects the slow requests, a few lines in a thousand, as a user
does. Then it times, best of --runs, as whole processes (start-up included):

- ``grep -c ID``                                   the floor: a byte search, nothing parsed
- ``jq -c 'select(.trace_id=="ID")'``              the usual way to follow one trace
- ``tracelog view --trace ID --json``              the same lines, unchanged
- ``tracelog traces``                              one row per trace (20,000 rows)
- ``python -c "import tracelog"``                  what start-up alone costs

and each process's peak memory (max RSS). With ``--size-mb N`` it writes a set of four files
(one per service) of N MB in all instead, and times ``tracelog show ID`` against ``grep -c ID``
over the same files, and ``--where duration_ms>500`` against a plain ``--trace`` filter.
Last, a 500-line trace is shipped to the Loki test receiver (tests/_query_receivers.py) and
fetched back with ``tracelog show ID --loki URL``: the time and the number of requests.
Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import orjson

SERVICES = ("shop", "payments", "inventory", "mailer")
LOGGERS = ("shop.orders", "shop.http", "payments.card", "inventory.stock")
WORDS = "order placed charged card reserved stock sent receipt query took cache miss retry".split()
ROUTES = ("GET /products", "GET /cart", "POST /checkout", "GET /orders", "GET /health")
# Request times of a web service: log-normal, median 45 ms, about 1.5% over 500 ms.
MEDIAN_MS, SPREAD = 45.0, 1.1


def generate(path: str, lines: int, seed: int = 7, outs: list[str] | None = None) -> str:
    """Write ``lines`` tracelog lines to ``path`` (or spread over ``outs`` by service); returns
    a trace id from the middle."""
    rng = random.Random(seed)
    moment = dt.datetime(2026, 11, 25, 7, 40, 34, tzinfo=dt.timezone.utc)
    written = 0
    middle = ""
    files = {name: open(name, "wb") for name in (outs or [path])}
    targets = list(files.values())
    try:
        while written < lines:
            trace_id = f"{rng.getrandbits(128):032x}"
            root = f"{rng.getrandbits(64):016x}"
            batch = []
            for i in range(10):
                moment += dt.timedelta(microseconds=rng.randrange(10_000))
                level = "error" if rng.random() < 0.01 else "info"
                access = i == 9  # the request's access line, written when it ends
                route = rng.choice(ROUTES)
                event: dict[str, object] = {
                    "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "level": level,
                    "logger": "uvicorn.access" if access else rng.choice(LOGGERS),
                    "message": f"{route} 200"
                    if access
                    else " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))),
                    "trace_id": trace_id,
                    "span_id": root if i < 3 or access else f"{rng.getrandbits(64):016x}",
                }
                if 3 <= i < 9:
                    event["parent_span_id"] = root
                    event["span_name"] = "charge card"
                event["service"] = rng.choice(SERVICES)
                event["order_id"] = rng.randint(1, 10**6)
                if access:
                    event["method"], event["path"] = route.split()
                    event["status"] = 200
                    duration = rng.lognormvariate(math.log(MEDIAN_MS), SPREAD)
                    event["duration_ms"] = round(duration, 3)
                batch.append(orjson.dumps(event))
            out = targets[rng.randrange(len(targets))]
            out.write(b"\n".join(batch[: lines - written]) + b"\n")
            written += min(10, lines - written)
            if not middle and written >= lines // 2:
                middle = trace_id
    finally:
        for handle in files.values():
            handle.close()
    return middle


class Output:
    """What a process printed, summed up without holding it: lines, a digest, the first 64 KiB."""

    def __init__(self, sink: Any) -> None:
        digest = hashlib.sha256()
        self.lines = 0
        self.head = b""
        while chunk := sink.read(1 << 20):
            digest.update(chunk)
            self.lines += chunk.count(b"\n")
            if len(self.head) < 65536:
                self.head += chunk[: 65536 - len(self.head)]
        self.digest = digest.hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Output) and self.digest == other.digest

    def count(self, needle: bytes) -> int:
        return self.lines if needle == b"\n" else self.head.count(needle)


def measure(argv: list[str], runs: int) -> tuple[float, int, Output]:
    """Best wall time (s), peak RSS (KiB) and the output of ``argv``.

    The output is read back in pieces: a benchmark that held it would grow, and every child it
    forks afterwards would report the parent's size as its own peak.
    """
    best, peak, output = float("inf"), 0, None
    for _ in range(runs):
        with tempfile.TemporaryFile() as sink:
            started = time.perf_counter()
            process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            sink.seek(0)
            output = Output(sink)
        best = min(best, elapsed)
        peak = max(peak, usage.ru_maxrss)
    assert output is not None
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


def ratio(results: dict[str, tuple[float, int, Output]], slow: str, fast: str) -> str:
    if slow not in results or fast not in results:
        return "n/a"
    return f"{results[slow][0] / results[fast][0]:.2f}x"


def file_set(args: argparse.Namespace) -> None:
    """The 1 GB measures: show vs grep -c, --where vs --trace, view --json vs jq."""
    folder = tempfile.mkdtemp(prefix="tracelog-bench-set-")
    try:
        paths = [os.path.join(folder, f"{name}.log") for name in SERVICES]
        lines = int(args.size_mb * 1e6 / 275)  # ~275 bytes a line
        started = time.perf_counter()
        trace_id = generate(paths[0], lines, outs=paths)
        size = sum(os.path.getsize(p) for p in paths)
        took = time.perf_counter() - started
        print(
            f"file set: {len(paths)} files, {lines:,} lines, {size / 1e6:,.0f} MB "
            f"(written in {took:.0f} s), trace {trace_id}, best of {args.runs}"
        )
        tracelog = [sys.executable, "-m", "tracelog"]
        where = ["--where", "duration_ms>500"]
        grep, show, jq = "grep -c ID", "tracelog show ID", "jq -c 'select(.trace_id==ID)'"
        trace, both = "view --trace ID --json", "view --trace ID --where duration_ms>500 --json"
        alone = "view --where duration_ms>500 --json"
        cases = [
            (grep, ["grep", "-c", trace_id, *paths]),
            (show, [*tracelog, "show", trace_id, *paths]),
            (trace, [*tracelog, "view", "--trace", trace_id, "--json", *paths]),
            (both, [*tracelog, "view", "--trace", trace_id, *where, "--json", *paths]),
            (alone, [*tracelog, "view", *where, "--json", *paths]),
            (jq, ["jq", "-c", f'select(.trace_id=="{trace_id}")', *paths]),
        ]
        results: dict[str, tuple[float, int, Output]] = {}
        for name, argv in cases:
            if shutil.which(argv[0]) is None:
                print(f"  {name:<48} skipped: {argv[0]} is not installed")
                continue
            runs = 1 if argv[0] == "jq" else args.runs  # jq takes long; once is enough
            results[name] = measure(argv, runs)
            seconds, rss, output = results[name]
            count = output.count(b"\n")
            print(f"  {name:<48} {seconds:8.3f} s   {rss / 1024:6.1f} MiB   {count:>9,} lines out")
        print("ratios (target):")
        print(f"  show / grep -c                  {ratio(results, show, grep):>8}  (<= 2x)")
        print(f"  jq / view --trace --json        {ratio(results, jq, trace):>8}  (>= 10x)")
        print(f"  --trace --where / --trace       {ratio(results, both, trace):>8}  (<= 1.5x)")
        print(f"  --where alone / --trace         {ratio(results, alone, trace):>8}  (<= 1.5x)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def loki_fetch(runs: int) -> None:
    """A 500-line trace shipped to the Loki test receiver, then fetched with show --loki."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "tests"))
    from _query_receivers import LokiQueryReceiver
    from tracelog.outputs import Loki

    trace_id = "5" * 32
    now = dt.datetime.now(dt.timezone.utc)
    lines = []
    for n in range(500):
        moment = now - dt.timedelta(seconds=60) + dt.timedelta(milliseconds=n)
        lines.append(
            orjson.dumps(
                {
                    "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "level": "info",
                    "logger": "shop.orders",
                    "message": f"step {n}",
                    "trace_id": trace_id,
                    "span_id": f"{n // 50 + 1:016x}",
                    "service": SERVICES[n % 4],
                    "n": n,
                }
            )
            + b"\n"
        )
    with LokiQueryReceiver() as receiver:
        shipper = Loki(receiver.url, batch_interval=0.05)
        for line in lines:
            shipper.write(line)
        shipper.flush(10)
        shipper.close(timeout=5)
        tracelog = [sys.executable, "-m", "tracelog"]
        for name, argv in (
            ("show ID --loki URL", [*tracelog, "show", trace_id, "--loki", receiver.url]),
            (
                "view --trace ID --json --loki URL",
                [*tracelog, "view", "--trace", trace_id, "--json", "--loki", receiver.url],
            ),
        ):
            before = receiver.requests
            seconds, rss, output = measure(argv, runs)
            asked = (receiver.requests - before) // runs
            print(
                f"Loki, a 500-line trace: `tracelog {name}` {seconds:.3f} s, {asked} request(s) "
                f"a run, {output.lines} lines out, {rss / 1024:.1f} MiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", help="write the log here and keep it")
    parser.add_argument(
        "--size-mb", type=float, default=1024, help="the file set's size for show/--where (MB)"
    )
    parser.add_argument("--loki-only", action="store_true", help="only the Loki fetch")
    parser.add_argument("--no-file-set", action="store_true", help="skip the large file set")
    args = parser.parse_args()
    if args.loki_only:
        loki_fetch(args.runs)
        return

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
        results: dict[str, tuple[float, int, Output]] = {}
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
    if not args.no_file_set:
        file_set(args)
    loki_fetch(args.runs)


if __name__ == "__main__":
    main()
