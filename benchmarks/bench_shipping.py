"""What the network shippers cost the caller, and how fast they drain to a local receiver.

Run:  python benchmarks/bench_shipping.py [--lines 100000] [--rounds 5] [--outage-only]

Three figures per shipper:

- **write()**: the caller's cost of handing over one rendered line (the
  median over rounds of the mean over ``--lines`` calls, and the p99 of
  individually timed calls). This is all a shipper adds to a log call: the
  network work happens on the shipper's own thread. For reference, the
  same figure for appending to a list and for writing to /dev/null.
- **throughput**: lines per second from the first write() to a completed
  flush(), shipped to a local receiver on 127.0.0.1: the strict Loki and
  Elasticsearch receivers from the test suite (single Python processes: they,
  not the shippers, are usually the bottleneck) and, for syslog, a real
  rsyslogd when installed (UDP), else a plain UDP socket that discards.
- **an outage, then refusals** (Elasticsearch): 2,001 lines written as the
  cluster starts answering ``429`` to whole requests for 5 seconds, then
  refuses 30 % of the items of every bulk with ``es_rejected_execution_exception``
  (status 429). Then the shipper is closed with its default ``close_timeout``
  (10 s), as at exit. Reported: how long until every line was shipped, and
  how many lines ended shipped, spilled (kept for the next process) or
  dropped, with and without a spill file.

Absolute numbers move with the machine; the receivers share its CPUs.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _receivers import (
    RSYSLOGD,
    ElasticsearchReceiver,
    LokiReceiver,
    Rsyslog,
    tracelog_lines,
)
from tracelog.outputs import Elasticsearch, Loki, Syslog


def per_call_ns(write: Callable[[bytes], Any], lines: list[bytes]) -> tuple[float, float]:
    """(mean ns per call over a tight loop, p99 ns of individually timed calls)."""
    start = time.perf_counter_ns()
    for line in lines:
        write(line)
    mean = (time.perf_counter_ns() - start) / len(lines)
    samples = []
    clock = time.perf_counter_ns
    for line in lines[: min(len(lines), 20_000)]:
        before = clock()
        write(line)
        samples.append(clock() - before)
    samples.sort()
    return mean, samples[int(len(samples) * 0.99)]


class UdpSink:
    """A UDP socket on 127.0.0.1 that counts and discards datagrams."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                self.sock.recv(65536)
                self.count += 1
            except OSError:
                continue

    def stop(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


class RefusingCluster(ElasticsearchReceiver):
    """Answers 429 to every request until ``outage_until``, then refuses a share of each bulk's
    items with es_rejected_execution_exception (status 429)."""

    def __init__(self, outage: float, refused: float) -> None:
        self.outage_until = time.monotonic() + outage
        self.refused = refused
        super().__init__()

    def handle(self, request: Any, body: bytes) -> None:
        if time.monotonic() < self.outage_until:
            request.answer(429, b'{"error":"too many requests","status":429}', "application/json")
            return
        items = body.count(b"\n") // 2
        self.reject_items(int(items * self.refused))
        super().handle(request, body)


def outage_then_refusals(total: int = 2001, outage: float = 5.0, refused: float = 0.3) -> None:
    lines = tracelog_lines(total, schema="ecs")
    print(
        f"\nElasticsearch: {total} lines, {outage:g} s of whole-request 429s, then "
        f"{refused:.0%} of each bulk's items refused (429); close() with close_timeout=10 s"
    )
    print("  spill file   all shipped after   shipped   spilled   dropped   failed")
    for spill in (False, True):
        folder = Path(tempfile.mkdtemp(prefix="tracelog-bench-"))
        cluster = RefusingCluster(outage, refused)
        try:
            shipper = Elasticsearch(
                cluster.url,
                index="logs-shop-default",
                spill_path=folder / "es.spill" if spill else None,
            )
            start = time.monotonic()
            done_at: list[float] = []

            def watch(shipper: Elasticsearch = shipper, done_at: list[float] = done_at) -> None:
                while time.monotonic() - start < 60:
                    if shipper.stats()["written"] >= total:
                        done_at.append(time.monotonic() - start)
                        return
                    time.sleep(0.01)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            for line in lines:
                shipper.write(line)
            shipper.close()
            watcher.join(0.1)
            stats = shipper.stats()
            after = f"{done_at[0]:.1f} s" if done_at else "not by close"
            print(
                f"  {'yes' if spill else 'no':<12} {after:>17}   {stats['written']:7}   "
                f"{stats.get('spill_pending', '-'):>7}   {stats['dropped']:7}   {stats['failed']:6}"
            )
        finally:
            cluster.stop()
            shutil.rmtree(folder, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--outage-only", action="store_true", help="only the outage figures")
    args = parser.parse_args()
    if args.outage_only:
        outage_then_refusals()
        return

    pool = tracelog_lines(1000, schema="default")
    pool_ecs = tracelog_lines(1000, schema="ecs")
    lines = [pool[i % len(pool)] for i in range(args.lines)]
    lines_ecs = [pool_ecs[i % len(pool_ecs)] for i in range(args.lines)]
    size = sum(map(len, pool)) / len(pool)
    print(
        f"Python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPUs); "
        f"{args.lines} lines of ~{size:.0f} bytes, {args.rounds} rounds\n"
    )

    loki_rx = LokiReceiver()
    es_rx = ElasticsearchReceiver()
    folder = Path(tempfile.mkdtemp(prefix="tracelog-bench-"))
    atexit.register(shutil.rmtree, folder, True)  # the lines are not kept
    rsyslog: Rsyslog | None = None
    udp: UdpSink | None = None
    if RSYSLOGD is not None:
        rsyslog = Rsyslog(folder)
        syslog_address = ("127.0.0.1", rsyslog.udp_port)
        syslog_target = "rsyslogd (UDP)"
    else:
        udp = UdpSink()
        syslog_address = ("127.0.0.1", udp.port)
        syslog_target = "UDP discard socket"

    big = args.lines * 2
    factories: dict[str, tuple[Callable[..., Any], list[bytes], str]] = {
        "Loki": (
            lambda **kw: Loki(loki_rx.url, queue_size=big, **kw),
            lines,
            "strict Loki receiver",
        ),
        "Elasticsearch": (
            lambda **kw: Elasticsearch(es_rx.url, index="logs-shop-default", queue_size=big, **kw),
            lines_ecs,
            "strict bulk receiver",
        ),
        "Syslog": (
            lambda **kw: Syslog(syslog_address, "udp", queue_size=big, **kw),
            lines,
            syslog_target,
        ),
    }

    try:
        print("caller-side cost of one write()            mean        p99")
        for name, write in (
            ("list.append (floor)", [].append),
            ("/dev/null write", open(os.devnull, "wb").write),
        ):
            results = [per_call_ns(write, lines) for _ in range(args.rounds)]
            mean = statistics.median(r[0] for r in results)
            p99 = statistics.median(r[1] for r in results)
            print(f"  {name:<36} {mean:8.0f} ns {p99:8.0f} ns")

        throughput: dict[str, float] = {}
        for name, (make, data, target) in factories.items():
            idle, busy, rates = [], [], []
            for _ in range(args.rounds):
                # The sender thread asleep (one batch, sent at flush): the write() path alone.
                shipper = make(batch_size=big, batch_interval=3600)
                idle.append(per_call_ns(shipper.write, data))
                shipper.batch_size = 1000  # then ship in ordinary batches
                shipper.flush(120)
                shipper.close(5)
                # The sender thread shipping while the caller writes: what the GIL adds.
                shipper = make(batch_size=1000)
                start = time.perf_counter()
                busy.append(per_call_ns(shipper.write, data))
                shipper.flush(120)
                elapsed = time.perf_counter() - start
                rates.append(shipper.stats()["written"] / elapsed)
                shipper.close(5)
            for label, results in (("sender idle", idle), ("sender busy", busy)):
                mean = statistics.median(r[0] for r in results)
                p99 = statistics.median(r[1] for r in results)
                print(f"  {f'{name}.write(), {label}':<36} {mean:8.0f} ns {p99:8.0f} ns")
            throughput[f"{name} -> {target}"] = statistics.median(rates)

        print("\nthroughput, first write() to flush() done")
        for name, rate in throughput.items():
            print(f"  {name:<44} {rate:10,.0f} lines/s")
        outage_then_refusals()
    finally:
        loki_rx.stop()
        es_rx.stop()
        if rsyslog is not None:
            rsyslog.stop()
        if udp is not None:
            udp.stop()


if __name__ == "__main__":
    main()
