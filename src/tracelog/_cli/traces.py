"""``tracelog traces``: one row per trace, built from per-trace aggregates in a single pass."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from tracelog._cli import sources
from tracelog._cli.pretty import Style, colour_wanted, duration, escape, json_for_terminal
from tracelog._cli.reader import Skipped, read_batches
from tracelog._cli.records import LEVEL_RANK, parse
from tracelog._cli.times import format_time, parse_time

__all__ = ["Aggregates", "TraceRow", "add_arguments", "run"]

_RANK = {name.encode(): rank for name, rank in LEVEL_RANK.items()}
_NAME = {rank: name for name, rank in LEVEL_RANK.items()}
_ERROR = LEVEL_RANK["error"]
# Where a tracelog line (default schema) keeps its fields, counted in '"'-separated pieces:
# {"timestamp":"T","level":"L","logger":"G","message":"M","trace_id":"I","span_id":"S",...
_PIECES = 36
_KEYS = [b"timestamp", b"level", b"logger", b"message", b"trace_id"]
_SPAN_KEYS = (b"span_id", b"parent_span_id", b"span_name")

# An aggregate is a list, for speed: [start, end, lines, services, worst rank, message, error].
START, END, LINES, SERVICES, WORST, MESSAGE, ERROR = range(7)


class Aggregates:
    """Per-trace aggregates; memory grows with the number of traces, never with lines.

    ``since``/``until`` keep only the lines of that time window.
    """

    def __init__(
        self, since: float | None = None, until: float | None = None, group_by: str | None = None
    ) -> None:
        self.by_trace: dict[bytes, list[Any]] = {}
        self.untraced = 0
        #: ``--group-by``: the values of that key each trace's lines carry.
        self.group_by = group_by
        self.groups: dict[bytes, set[str]] = {}
        name = (group_by or "").rsplit(".", 1)[-1]
        self._group_needle = b'"' + name.encode("utf-8", "replace") + b'"' if group_by else None
        self.since, self.until = since, until
        # Canonical stamps compare as the times do, so the fast path compares bytes.
        self._since = _canonical(since) if since is not None else None
        self._until = _canonical(until) if until is not None else None

    def add_lines(self, lines: Iterable[bytes], skipped: Skipped) -> None:
        by_trace = self.by_trace
        # Locals, not globals: this loop runs once per line.
        span_keys, ranks, pieces, error = _SPAN_KEYS, _RANK, _PIECES, _ERROR
        k_ts, k_level, k_logger, k_message, k_trace = _KEYS
        since, until = self._since, self._until
        group_needle = self._group_needle
        for line in lines:
            if group_needle is not None and group_needle in line:
                self._group_line(line)
            f = line.split(b'"', pieces)
            # Fast path for tracelog's own key order with no escapes in the line; anything else
            # (other shapes, escaped text, odd timestamps) takes the full parse below.
            if (
                len(f) > 21
                and f[17] == k_trace
                and f[1] == k_ts
                and f[5] == k_level
                and f[9] == k_logger
                and f[13] == k_message
                and len(f[3]) == 27
                and f[3][-1] == 90  # "Z": UTC, so the text sorts as the time does
                and line[-1] == 125  # "}": a whole line
                and b"\\" not in line  # no escapes: every '"' splits where it seems to
                and (rank := ranks.get(f[7])) is not None
            ):
                try:
                    index = 21
                    key = f[21]
                    while key in span_keys:
                        index += 4
                        key = f[index]
                    if key == b"service":
                        service: bytes | None = f[index + 2]
                    elif b'"service":' in line:
                        raise IndexError  # somewhere else: needs the full parse
                    else:
                        service = None
                except IndexError:
                    pass
                else:
                    ts = f[3]
                    if (since is not None and ts < since) or (until is not None and ts > until):
                        continue
                    entry = by_trace.get(f[19])
                    if entry is None:
                        services = {service} if service else set()
                        by_trace[f[19]] = [ts, ts, 1, services, rank, f[15], rank >= error]
                        continue
                    if ts < entry[0]:
                        entry[0] = ts
                        entry[5] = f[15]
                    elif ts > entry[1]:
                        entry[1] = ts
                    entry[2] += 1
                    if service:
                        entry[3].add(service)
                    if rank > entry[4]:
                        entry[4] = rank
                        entry[6] = entry[6] or rank >= error
                    continue
            if line.strip():
                self._add_parsed(line, skipped)

    def _add_parsed(self, line: bytes, skipped: Skipped) -> None:
        rec = parse(line, skipped)
        if rec is None:
            return
        if self.since is not None or self.until is not None:
            if rec.time is None:
                return
            if (self.since is not None and rec.time < self.since) or (
                self.until is not None and rec.time > self.until
            ):
                return
        if rec.trace_id is None:
            self.untraced += 1
            return
        ts = _canonical(rec.time)
        service = rec.service.encode() if rec.service else None
        message = (rec.message or "").encode()
        error = rec.rank >= _ERROR or rec.exception is not None
        key = rec.trace_id.encode()
        entry = self.by_trace.get(key)
        if entry is None:
            services = set() if service is None else {service}
            self.by_trace[key] = [ts, ts, 1, services, rec.rank, message, error]
            return
        if ts is not None:
            if entry[START] is None or ts < entry[START]:
                entry[START] = ts
                entry[MESSAGE] = message
            if entry[END] is None or ts > entry[END]:
                entry[END] = ts
        entry[LINES] += 1
        if service is not None:
            entry[SERVICES].add(service)
        entry[WORST] = max(entry[WORST], rec.rank)
        entry[ERROR] = entry[ERROR] or error

    def _group_line(self, line: bytes) -> None:
        import orjson

        from tracelog._cli.records import recognise
        from tracelog._cli.where import as_text

        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if not isinstance(obj, dict):
            return
        rec = recognise(obj)
        value = rec.get(self.group_by or "")
        if rec.trace_id is None or value is None or isinstance(value, (dict, list)):
            return
        if self.since is not None and (rec.time is None or rec.time < self.since):
            return
        if self.until is not None and (rec.time is None or rec.time > self.until):
            return
        self.groups.setdefault(rec.trace_id.encode(), set()).add(as_text(value))

    def rows(self) -> list[TraceRow]:
        if self.group_by is None:
            return [TraceRow(key, entry) for key, entry in self.by_trace.items()]
        merged: dict[str, list[Any]] = {}
        for trace, values in self.groups.items():
            entry = self.by_trace.get(trace)
            if entry is None:
                continue
            for value in values:
                _merge(merged, value, entry)
        return [
            TraceRow(value.encode(), entry, traces) for value, (*entry, traces) in merged.items()
        ]


def _merge(merged: dict[str, list[Any]], value: str, entry: list[Any]) -> None:
    """Add one trace's aggregate to the row of ``value`` (its trace count kept last)."""
    row = merged.get(value)
    if row is None:
        merged[value] = [*entry[:SERVICES], set(entry[SERVICES]), *entry[SERVICES + 1 :], 1]
        return
    start, end = entry[START], entry[END]
    if start is not None and (row[START] is None or start < row[START]):
        row[START], row[MESSAGE] = start, entry[MESSAGE]
    if end is not None and (row[END] is None or end > row[END]):
        row[END] = end
    row[LINES] += entry[LINES]
    row[SERVICES] |= entry[SERVICES]
    row[WORST] = max(row[WORST], entry[WORST])
    row[ERROR] = row[ERROR] or entry[ERROR]
    row[-1] += 1


def _canonical(seconds: float | None) -> bytes | None:
    if seconds is None:
        return None
    whole = int(seconds)
    micros = round((seconds - whole) * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)).encode() + b".%06dZ" % micros


_second_cache: dict[bytes, float | None] = {}


def _seconds(stamp: bytes | None) -> float | None:
    """Seconds since the epoch of a canonical ``2026-11-25T07:40:34.123456Z``."""
    if not stamp:
        return None
    base = _second_cache.get(stamp[:19])
    if base is None:
        base = parse_time(stamp[:19].decode("ascii", "replace") + "Z")
        if base is None:
            return parse_time(stamp.decode("ascii", "replace"))
        _second_cache[stamp[:19]] = base
    digits = stamp[20:26]
    return base + int(digits) / 1e6 if digits.isdigit() else base


class TraceRow:
    """One trace as the table and ``--json`` show it."""

    __slots__ = (
        "end",
        "error",
        "level",
        "lines",
        "message",
        "services",
        "start",
        "trace_id",
        "traces",
    )

    def __init__(self, key: bytes, entry: list[Any], traces: int | None = None) -> None:
        #: The trace id, or with --group-by the group's value.
        self.trace_id = key.decode("utf-8", "replace")
        self.traces = traces
        self.start = _seconds(entry[START])
        self.end = _seconds(entry[END])
        self.lines: int = entry[LINES]
        self.services = [s.decode("utf-8", "replace") for s in sorted(entry[SERVICES])]
        self.level = _NAME.get(entry[WORST], "info")
        self.error: bool = entry[ERROR]
        self.message = _message(entry[MESSAGE])

    @property
    def duration(self) -> float:
        return (self.end - self.start) if self.start is not None and self.end is not None else 0.0

    def as_json(self, group_by: str | None = None) -> dict[str, Any]:
        head: dict[str, Any] = (
            {"trace_id": self.trace_id}
            if group_by is None
            else {group_by: self.trace_id, "traces": self.traces}
        )
        return {
            **head,
            "start": None if self.start is None else format_time(self.start),
            "duration_ms": round(self.duration * 1000, 3),
            "lines": self.lines,
            "services": self.services,
            "level": self.level,
            "error": self.error,
            "message": self.message,
        }


def _message(raw: bytes) -> str:
    # The fast path kept the JSON text between the quotes; it has no escapes by construction.
    return raw.decode("utf-8", "replace")


_SORTS = {
    "start": (lambda r: (r.start or 0.0, r.trace_id), False),
    "duration": (lambda r: (r.duration, r.lines), True),
    "lines": (lambda r: (r.lines, r.duration), True),
    "level": (lambda r: (LEVEL_RANK[r.level], r.duration), True),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tracelog._cli.times import parse_when

    parser.add_argument("files", nargs="*", metavar="FILE", help="log files (gzip ok); - is stdin")
    parser.add_argument("--sort", choices=list(_SORTS), default="start", help="order of rows")
    parser.add_argument("--errors", action="store_true", help="only traces with an error")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N rows")
    parser.add_argument("--json", action="store_true", help="one JSON object per trace")
    parser.add_argument(
        "--group-by",
        metavar="KEY",
        help="one row per value of KEY (request_id, order_id, task_id) over the traces carrying it",
    )
    parser.add_argument("--since", type=parse_when, help="lines not before: 10m, 2h, or a time")
    parser.add_argument("--until", type=parse_when, help="lines not after: 10m, 2h, or a time")
    sources.add_arguments(parser)


def collect(
    files: list[str],
    skipped: Skipped,
    servers: Sequence[sources.Source] = (),
    window: tuple[float | None, float | None] = (None, None),
    group_by: str | None = None,
) -> Aggregates:
    aggregates = Aggregates(*window, group_by=group_by)
    if files or not servers:
        for batch in read_batches(files, skipped):
            aggregates.add_lines(batch, skipped)
    for server in servers:
        since, until = window
        assert since is not None
        assert until is not None
        for batch in sources.guarded(server, server.lines(since, until), skipped):
            aggregates.add_lines(batch, skipped)
    return aggregates


def select(aggregates: Aggregates, sort: str, errors: bool, limit: int | None) -> list[TraceRow]:
    rows = aggregates.rows()
    if errors:
        rows = [row for row in rows if row.error]
    key, reverse = _SORTS[sort]
    rows.sort(key=key, reverse=reverse)
    return rows[:limit] if limit is not None else rows


def table(rows: list[TraceRow], style: Style, group_by: str | None = None) -> list[str]:
    width = min(max([len(", ".join(r.services)) for r in rows] + [8]), 32)
    first = "TRACE" if group_by is None else escape(group_by.upper())[:32]
    head = f"{first:<32}  {'START':<23}  {'DURATION':>9}  {'LINES':>5}  {'LEVEL':<8}  "
    out = [style.paint("\x1b[1m", f"{head}{'SERVICES':<{width}}  FIRST MESSAGE")]
    for row in rows:
        services = escape(", ".join(row.services))
        if len(services) > width:
            services = services[: width - 1] + "…"
        message = escape(row.message)
        if len(message) > 60:
            message = message[:59] + "…"
        level = style.paint(
            "\x1b[31m" if row.error else "", f"{row.level + (' !' if row.error else ''):<8}"
        )
        out.append(
            f"{escape(row.trace_id):<32}  {format_time(row.start)}  {duration(row.duration):>9}  "
            f"{row.lines:>5}  {level}  {services:<{width}}  {message}"
        )
    return out


def run(args: argparse.Namespace) -> int:
    skipped = Skipped()
    try:
        servers = sources.from_args(args)
        window: tuple[float | None, float | None] = (args.since, args.until)
        if servers:
            window = sources.window(args, default=None)
    except sources.SourceError as error:
        skipped.error(str(error))
        return 2
    aggregates = collect(args.files, skipped, servers, window, args.group_by)
    rows = select(aggregates, args.sort, args.errors, args.limit)
    out = sys.stdout
    if args.json:
        import orjson

        lines = [orjson.dumps(row.as_json(args.group_by)) for row in rows]
        if out.isatty():  # what could drive a terminal is escaped, as view --json does
            lines = [json_for_terminal(line) for line in lines]
        out.buffer.write(b"".join(line + b"\n" for line in lines))
    else:
        out.write("\n".join(table(rows, Style(colour_wanted(out)), args.group_by)) + "\n")
    out.flush()
    if not aggregates.by_trace and aggregates.untraced:
        skipped.note(f"none of the {aggregates.untraced} lines has a trace id")
    summary = skipped.summary()
    if summary:
        print(summary, file=sys.stderr)
    return 1 if skipped.failed else 0
