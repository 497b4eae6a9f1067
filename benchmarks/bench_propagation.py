"""What reading and writing trace headers costs: tracelog.propagation beside OpenTelemetry's.

Run:  python benchmarks/bench_propagation.py [--rounds 15] [--calls 20000]

Each figure is the median (and the best) over rounds of the per-call cost,
in microseconds; on a machine busy with other work the best round is the
closer estimate of the cost itself.
The contenders run in a shuffled order in every round. The headers are a
typical request's: eight of them, a valid traceparent, a two-member
tracestate and a request id. ``reference`` is a plain ``dict(...)`` copy of
those headers: on a busy machine every figure rises with it, so the ratios
to it say more than the absolute numbers.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from tracelog import propagation

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
HEADERS = {
    "host": "shop.internal:8000",
    "user-agent": "python-httpx/0.28.1",
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "connection": "keep-alive",
    "traceparent": TRACEPARENT,
    "tracestate": TRACESTATE,
    "x-request-id": "0b1f6f6c-5b4e-4f1a-9d6b-1c5e0a8f2d7e",
}
RAW = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
CONTEXT = propagation.extract(HEADERS).context()


def contenders() -> dict[str, Callable[[], Any]]:
    out: dict[str, Callable[[], Any]] = {
        "reference: dict(headers)": lambda: dict(HEADERS),
        "tracelog parse_traceparent": lambda: propagation.parse_traceparent(TRACEPARENT),
        "tracelog parse_tracestate": lambda: propagation.parse_tracestate(TRACESTATE),
        "tracelog extract(dict)": lambda: propagation.extract(HEADERS),
        "tracelog extract_raw(ASGI)": lambda: propagation.extract_raw(RAW, b"x-request-id"),
        "tracelog inject(dict)": lambda: propagation.inject({}, CONTEXT),
    }
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        return out
    otel = TraceContextTextMapPropagator()
    span_context = trace.SpanContext(
        int(CONTEXT.trace_id or "1", 16), int(CONTEXT.span_id or "1", 16), True,
        trace.TraceFlags(1), trace.TraceState.from_header([TRACESTATE]),
    )  # fmt: skip
    otel_ctx = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    out["opentelemetry extract(dict)"] = lambda: otel.extract(HEADERS)
    out["opentelemetry inject(dict)"] = lambda: otel.inject({}, otel_ctx)
    return out


def per_call(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args(argv)
    funcs = contenders()
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(args.rounds):
        order = list(funcs)
        random.shuffle(order)
        for name in order:
            samples[name].append(per_call(funcs[name], args.calls))
    print(f"python {platform.python_version()} on {platform.machine()}", end=", ")
    print(f"{args.rounds} rounds x {args.calls} calls")
    reference = statistics.median(samples["reference: dict(headers)"])
    print(f"{'contender':34} {'median us':>10} {'best us':>9} {'x reference':>12}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:34} {median:10.3f} {min(values):9.3f} {median / reference:12.2f}")


if __name__ == "__main__":
    sys.exit(main())
