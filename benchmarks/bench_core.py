"""Side-by-side cost of one log call: tracelog against the floor and its peers.

Run:  python benchmarks/bench_core.py [--rounds 161] [--calls 500]

All contenders run in this one process, in alternating rounds (the order is
shuffled every round), and each figure is the median over rounds of the
per-call cost. Many short rounds keep a burst of load on a shared machine
from moving a median. After each round, untimed, the background writer is
let catch up, so no contender pays for work another one left behind; the CPU
the writer thread spent on a round's lines (catch-up included) is reported
beside the caller's cost, not in it. Every contender writes its lines to its
own file in a temp folder and flushes each line (what a logger must do so
that a crash loses nothing already logged).
The figures that matter are the ratios; absolute times move with the
machine's load.

The event:  log.info("request handled", user_id=42, path="/api/items",
                     status=200, duration_ms=12.5)   inside a trace.

Rows beyond the default setup (each against the same floor unless named): structlog
contextvars bound (``bind_contextvars(request_id=..., tenant=...)``, the habit of teams
coming from structlog: two more fields on the line), ``schema="ecs"``, and two outputs
(against a floor that writes the same line to two files).
"""

from __future__ import annotations

import argparse
import atexit
import contextvars
import datetime as dt
import functools
import logging
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import orjson
import structlog

import tracelog
from tracelog import pipeline as _pipeline

FIELDS = {"user_id": 42, "path": "/api/items", "status": 200, "duration_ms": 12.5}
UTC = dt.timezone.utc


def _file(folder: str, name: str) -> object:
    return open(os.path.join(folder, name), "ab")


def build(folder: str) -> dict[str, dict[str, Callable[[], None]]]:
    # --- tracelog (native and stdlib entry), configured first -----------------
    # Setups: lines written in the caller's thread (default, ecs, two outputs), and
    # through the background writer (nonblocking=True). Each contender installs its own.
    # The nonblocking one is configured last: a later configure() closes the outputs of
    # the one before, and a closed background writer writes in the caller's thread.
    tracelog.configure(level="INFO", format="json", service="shop", stream=_file(folder, "tl.log"))
    sync_pipeline = _pipeline.active()
    tracelog.configure(
        level="INFO", service="shop", stream=_file(folder, "tl-ecs.log"), schema="ecs"
    )
    ecs_pipeline = _pipeline.active()
    tracelog.configure(
        level="INFO",
        service="shop",
        outputs=[
            tracelog.outputs.Stream(_file(folder, "tl-two-a.log")),
            tracelog.outputs.Stream(_file(folder, "tl-two-b.log")),
        ],
    )
    two_pipeline = _pipeline.active()
    tracelog.configure(
        level="INFO", service="shop", stream=_file(folder, "tl-nb.log"), nonblocking=True
    )
    nonblocking_pipeline = _pipeline.active()
    tl_log = tracelog.get_logger("bench")
    tl_std = logging.getLogger("bench.stdlib")

    def on(pipeline: _pipeline.Pipeline, fn: Callable[[], None]) -> Callable[[], None]:
        fn.pipeline = pipeline  # type: ignore[attr-defined]
        return fn

    # --- the floor: the same line built by hand -------------------------------
    floor_file = _file(folder, "floor.log")
    floor_var: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("f")
    dumps, opts = orjson.dumps, orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE
    now = dt.datetime.now

    def by_hand(
        write: Callable[[bytes], object], flush: Callable[[], None] | None
    ) -> Callable[[], None]:
        def floor() -> None:
            ids = floor_var.get()
            line = {
                "timestamp": now(UTC),
                "level": "info",
                "logger": "bench",
                "message": "request handled",
                "trace_id": ids[0],  # type: ignore[index]
                "span_id": ids[1],  # type: ignore[index]
                "service": "shop",
                "user_id": 42,
                "path": "/api/items",
                "status": 200,
                "duration_ms": 12.5,
            }
            write(dumps(line, option=opts))
            if flush is not None:
                flush()

        return floor

    floor = by_hand(floor_file.write, floor_file.flush)  # type: ignore[attr-defined]
    floor_a, floor_b = _file(folder, "floor-a.log"), _file(folder, "floor-b.log")

    def floor_two_files() -> None:
        ids = floor_var.get()
        line = dumps(
            {
                "timestamp": now(UTC),
                "level": "info",
                "logger": "bench",
                "message": "request handled",
                "trace_id": ids[0],  # type: ignore[index]
                "span_id": ids[1],  # type: ignore[index]
                "service": "shop",
                "user_id": 42,
                "path": "/api/items",
                "status": 200,
                "duration_ms": 12.5,
            },
            option=opts,
        )
        for out in (floor_a, floor_b):
            out.write(line)  # type: ignore[attr-defined]
            out.flush()  # type: ignore[attr-defined]

    # The same floor written with one os.write per line (no copy into a buffer):
    # the cheapest write there is, shown beside the floor the issue defines.
    raw_fd = os.open(os.path.join(folder, "floor-raw.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    floor_raw = by_hand(functools.partial(os.write, raw_fd), None)
    # The same work for the ecs layout: the ecs line built by hand, written and flushed.
    ecs_file = _file(folder, "floor-ecs.log")

    def floor_ecs() -> None:
        ids = floor_var.get()
        line = {
            "@timestamp": now(UTC),
            "log.level": "info",
            "message": "request handled",
            "ecs.version": "8.11.0",
            "log": {"logger": "bench"},
            "trace": {"id": ids[0]},  # type: ignore[index]
            "span": {"id": ids[1]},  # type: ignore[index]
            "service": {"name": "shop"},
            "user_id": 42,
            "url": {"path": "/api/items"},
            "http": {"response": {"status_code": 200}},
            "event": {"duration": 12_500_000, "dataset": "shop"},
        }
        ecs_file.write(dumps(line, option=opts))  # type: ignore[attr-defined]
        ecs_file.flush()  # type: ignore[attr-defined]

    # --- structlog's "as fast as it gets" configuration ------------------------
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(_file(folder, "structlog.log")),
    )
    sl_log = structlog.get_logger()
    sl_log.info("warm-up")

    # --- python-json-logger (orjson flavour) on a stdlib logger ---------------
    from pythonjsonlogger.orjson import OrjsonFormatter

    pjl = logging.getLogger("peer.pjl")
    pjl.propagate = False
    pjl_handler = logging.FileHandler(os.path.join(folder, "pjl.log"))
    pjl_handler.setFormatter(OrjsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    pjl_handler.addFilter(tracelog.stdlib.TraceFilter())
    pjl.addHandler(pjl_handler)
    pjl.setLevel(logging.INFO)

    # --- loguru serialize=True -------------------------------------------------
    from loguru import logger as loguru_logger

    loguru_logger.remove()
    loguru_logger.add(os.path.join(folder, "loguru.log"), serialize=True, level="INFO")

    # --- bare stdlib, and stdlib into a handler that does nothing -------------
    bare = logging.getLogger("peer.bare")
    bare.propagate = False
    bare.addHandler(logging.FileHandler(os.path.join(folder, "bare.log")))
    bare.setLevel(logging.INFO)

    class NothingHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            pass

    null = logging.getLogger("peer.null")
    null.propagate = False
    null.addHandler(NothingHandler())
    null.setLevel(logging.INFO)

    # The stdlib floor: a handler that writes the same line built by hand from
    # the record (no redaction, no checks). What any JSON handler pays at least
    # for a flushed write on this machine.
    floor_handler_file = _file(folder, "floor-handler.log")
    from_timestamp = dt.datetime.fromtimestamp

    class FloorHandler(logging.Handler):
        def handle(self, record: logging.LogRecord) -> bool:
            ids = floor_var.get()
            attrs = record.__dict__
            line = {
                "timestamp": from_timestamp(record.created, UTC),
                "level": "info",
                "logger": record.name,
                "message": record.getMessage(),
                "trace_id": ids[0],  # type: ignore[index]
                "span_id": ids[1],  # type: ignore[index]
                "service": "shop",
                "user_id": attrs["user_id"],
                "path": attrs["path"],
                "status": attrs["status"],
                "duration_ms": attrs["duration_ms"],
            }
            floor_handler_file.write(dumps(line, option=opts))  # type: ignore[attr-defined]
            floor_handler_file.flush()  # type: ignore[attr-defined]
            return True

    by_hand = logging.getLogger("peer.floor")
    by_hand.propagate = False
    by_hand.addHandler(FloorHandler())
    by_hand.setLevel(logging.INFO)

    # Filtering peer: structlog.get_logger() with a filtering bound logger.
    sl_proxy = structlog.get_logger()

    ids = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    floor_var.set(ids)
    # structlog's context, set as bind_contextvars() sets it (one ContextVar per key, named
    # "structlog_<key>", which merge_contextvars finds), but kept out of the registry
    # bind_contextvars() keeps: tracelog merges what that registry holds, and no tracelog
    # call here binds anything the structlog way.
    for key, value in {"trace_id": ids[0], "span_id": ids[1], "service": "shop"}.items():
        contextvars.ContextVar(f"structlog_{key}", default=...).set(value)

    extra = dict(FIELDS)
    return {
        "native": {
            "floor (orjson by hand)": floor,
            "floor, one os.write a line": floor_raw,
            "floor, the ecs line by hand": floor_ecs,
            "tracelog": on(sync_pipeline, lambda: tl_log.info("request handled", **FIELDS)),
            "tracelog nonblocking": on(
                nonblocking_pipeline, lambda: tl_log.info("request handled", **FIELDS)
            ),
            'tracelog schema="ecs"': on(
                ecs_pipeline, lambda: tl_log.info("request handled", **FIELDS)
            ),
            "structlog fastest": lambda: sl_log.info("request handled", **FIELDS),
            "python-json-logger": lambda: pjl.info("request handled", extra=extra),
            "loguru serialize": lambda: loguru_logger.info("request handled", **FIELDS),
            "bare stdlib": lambda: bare.info("request handled", extra=extra),
        },
        "stdlib": {
            "stdlib -> nothing": lambda: null.info("request handled", extra=extra),
            "stdlib -> floor handler (orjson by hand)": lambda: by_hand.info(
                "request handled", extra=extra
            ),
            "stdlib -> tracelog": on(
                sync_pipeline, lambda: tl_std.info("request handled", extra=extra)
            ),
            "stdlib -> tracelog nonblocking": on(
                nonblocking_pipeline, lambda: tl_std.info("request handled", extra=extra)
            ),
            "stdlib -> python-json-logger": lambda: pjl.info("request handled", extra=extra),
        },
        "two outputs": {
            "floor, the line written to two files": floor_two_files,
            "tracelog, two outputs": on(
                two_pipeline, lambda: tl_log.info("request handled", **FIELDS)
            ),
        },
        "filtered": {
            "tracelog debug at INFO": on(
                sync_pipeline, lambda: tl_log.debug("request handled", **FIELDS)
            ),
            "structlog.get_logger() debug": lambda: sl_proxy.debug("request handled", **FIELDS),
        },
        # Last: once bind_contextvars() has bound a key, every later call in the process
        # looks at structlog's variables, so the rows above are measured before any is.
        "structlog contextvars bound": {
            "floor (orjson by hand)": floor,
            "tracelog": bound(on(sync_pipeline, lambda: tl_log.info("request handled", **FIELDS))),
            "stdlib -> nothing": lambda: null.info("request handled", extra=extra),
            "stdlib -> tracelog nonblocking": bound(
                on(nonblocking_pipeline, lambda: tl_std.info("request handled", extra=extra))
            ),
        },
    }


BOUND = {"request_id": "req-7f3a", "tenant": "acme"}


def bound(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` measured with ``BOUND`` bound by structlog.contextvars.bind_contextvars()."""
    fn.structlog_bound = True  # type: ignore[attr-defined]
    return fn


def _loop(fn: Callable[[], None], calls: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return time.perf_counter_ns() - start


def measure(fn: Callable[[], None], calls: int) -> tuple[float, float]:
    """The caller's cost per call, and the CPU other threads (the background writer) spent
    per call on the round's lines, its catch-up included."""
    pipeline = getattr(fn, "pipeline", None)
    if pipeline is not None and _pipeline.active() is not pipeline:
        _pipeline.install(pipeline)
    context = None
    if getattr(fn, "structlog_bound", False):  # untimed: a context with the keys bound
        context = contextvars.copy_context()
        context.run(structlog.contextvars.bind_contextvars, **BOUND)
    process, caller = time.process_time_ns(), time.thread_time_ns()
    if context is not None:
        elapsed = context.run(_loop, fn, calls)
    else:
        elapsed = _loop(fn, calls)
    # Untimed: let the background writer catch up, so its work left over
    # from this round does not compete with the next contender for the GIL.
    tracelog.flush()
    others = (time.process_time_ns() - process) - (time.thread_time_ns() - caller)
    return elapsed / calls, max(others, 0) / calls


Results = dict[str, dict[str, tuple[float, float]]]


def run(rounds: int, calls: int) -> Results:
    folder = tempfile.mkdtemp(prefix="tracelog-bench-")
    atexit.register(shutil.rmtree, folder, True)  # the lines are not kept
    groups = build(folder)
    results: Results = {}
    with tracelog.trace():
        for group, contenders in groups.items():
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
            for fn in contenders.values():  # warm up
                measure(fn, calls // 10)
            for _ in range(rounds):
                order = list(contenders.items())
                random.shuffle(order)
                for name, fn in order:
                    samples[name].append(measure(fn, calls))
            results[group] = {
                name: (
                    statistics.median(s[0] for s in v),
                    statistics.median(s[1] for s in v),
                )
                for name, v in samples.items()
            }
    tracelog.flush()
    return results


BASES = {
    "native": "floor (orjson by hand)",
    "stdlib": "stdlib -> nothing",
    "two outputs": "floor, the line written to two files",
    "structlog contextvars bound": "floor (orjson by hand)",
    "filtered": "structlog.get_logger() debug",
}


#: A row measured against another base than its group's.
ROW_BASES = {("structlog contextvars bound", "stdlib -> tracelog nonblocking"): "stdlib -> nothing"}
#: Rows also shown against a second base: the same layout's line by hand.
ALSO_AGAINST = {("native", 'tracelog schema="ecs"'): "floor, the ecs line by hand"}


def base_of(group: str, name: str) -> str:
    return ROW_BASES.get((group, name), BASES[group])


def report(results: Results) -> str:
    lines = [
        f"# {dt.date.today()} · Python {platform.python_version()} · {platform.machine()} · "
        f"{os.cpu_count()} cores · structlog {structlog.__version__} · orjson {orjson.__version__}"
    ]
    for group, medians in results.items():
        lines.append(f"\n## {group} (ratio to {BASES[group]} unless named)")
        for name, (ns, others) in sorted(medians.items(), key=lambda kv: kv[1][0]):
            base_name = base_of(group, name)
            base = medians[base_name][0]
            thread = f"   + {others / 1000:.2f} µs CPU in the writer thread" if others > 50 else ""
            against = f" (to {base_name})" if base_name != BASES[group] else ""
            second = ALSO_AGAINST.get((group, name))
            if second is not None:
                against += f", {ns / medians[second][0]:.2f}x to {second}"
            lines.append(f"  {name:<42} {ns / 1000:8.2f} µs   {ns / base:5.2f}x{against}{thread}")
    return "\n".join(lines)


def markdown(results: Results) -> str:
    rows = [
        "| group | contender | median µs | ratio | against | writer thread CPU µs |",
        "|---|---|---:|---:|---|---:|",
    ]
    for group, medians in results.items():
        for name, (ns, others) in sorted(medians.items(), key=lambda kv: kv[1][0]):
            base_name = base_of(group, name)
            ratio = ns / medians[base_name][0]
            thread = f"{others / 1000:.2f}" if others > 50 else ""
            against = base_name
            second = ALSO_AGAINST.get((group, name))
            if second is not None:
                against += f"; {ns / medians[second][0]:.2f}x to {second}"
            rows.append(
                f"| {group} | {name} | {ns / 1000:.2f} | {ratio:.2f}x | {against} | {thread} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=161)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args()
    results = run(args.rounds, args.calls)
    print(report(results))
    if args.markdown:
        print()
        print(markdown(results))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
