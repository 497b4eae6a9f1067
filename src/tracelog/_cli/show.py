"""``tracelog show``: one trace from many files, as a span tree with a timeline, then its lines."""

from __future__ import annotations

import argparse
import sys

from tracelog._cli import sources
from tracelog._cli.parallel import search
from tracelog._cli.pretty import Style, colour_wanted, duration, escape
from tracelog._cli.reader import Skipped
from tracelog._cli.records import LEVEL_RANK, Record, parse
from tracelog._cli.spans import Span, build_tree, walk
from tracelog._cli.times import format_time
from tracelog._terminal import BOLD, DIM, RED

__all__ = ["Span", "add_arguments", "build_tree", "gather", "render", "run", "walk"]

_ERROR = LEVEL_RANK["error"]
BAR_WIDTH = 40


def _bar(span: Span, t0: float, total: float) -> str:
    if span.start is None or total <= 0:
        return "█" + " " * (BAR_WIDTH - 1)
    left = min(int((span.start - t0) / total * BAR_WIDTH), BAR_WIDTH - 1)
    right = int(((span.end or span.start) - t0) / total * BAR_WIDTH + 0.5)
    right = max(left + 1, min(right, BAR_WIDTH))
    return " " * left + "█" * (right - left) + " " * (BAR_WIDTH - right)


def render(trace_id: str, records: list[Record], style: Style) -> list[str]:
    roots = build_tree(records)
    rows = walk(roots)
    times = [r.time for r in records if r.time is not None]
    starts = [s.start for _, s in rows if s.start is not None]
    ends = [s.end for _, s in rows if s.end is not None]
    t0 = min(starts) if starts else 0.0
    total = (max(ends) - t0) if ends else 0.0
    services = sorted({r.service for r in records if r.service})
    failed = [r for r in records if r.rank >= _ERROR or r.exception is not None]
    head = (
        f"trace {escape(trace_id)}  {format_time(min(times) if times else None)}  "
        f"{duration(total)}  {len(records)} lines  services: {escape(', '.join(services)) or '-'}"
    )
    if failed:
        head += "  " + style.paint(RED, "FAILED")
    out = [style.paint(BOLD, head), ""]
    label_width = min(max(len(p) + len(escape(s.label)) for p, s in rows), 48)
    service_width = max([len(escape(", ".join(s.services))) for _, s in rows] + [7])
    out.append(
        style.paint(
            DIM,
            f"{'SPAN':<{label_width}}  {'SERVICE':<{service_width}}  {'START':>9}  "
            f"{'DURATION':>9}  0{' ' * (BAR_WIDTH - 1 - len(duration(total)))}{duration(total)}",
        )
    )
    for prefix, span in rows:
        label = (prefix + escape(span.label))[:label_width]
        offset = "" if span.start is None else "+" + duration(span.start - t0)
        mark = style.paint(RED, f"  ✗ {len(span.errors)} error" + "s" * (len(span.errors) > 1))
        out.append(
            f"{label:<{label_width}}  {escape(', '.join(span.services)):<{service_width}}  "
            f"{offset:>9}  {duration(span.duration):>9}  "
            f"{style.paint(RED if span.errors else '', _bar(span, t0, total))}"
            + (mark if span.errors else "")
        )
    out.extend(_verdict(rows, failed, total, style))
    out += ["", style.paint(BOLD, "lines")]
    style.fit(records)
    for rec in records:
        offset = "" if rec.time is None else "+" + duration(max(rec.time - t0, 0.0))
        out.append(style.record(rec, prefix=style.paint(DIM, f"{offset:>9}"), show_trace=False))
    return out


def _verdict(
    rows: list[tuple[str, Span]], failed: list[Record], total: float, style: Style
) -> list[str]:
    out = [""]
    timed = [s for _, s in rows if s.start is not None]
    if timed and total > 0:
        slow = max(timed, key=Span.self_time)
        share = slow.self_time() / total * 100
        services = escape(", ".join(slow.services)) or "-"
        out.append(
            f"slowest step: {escape(slow.label)} ({services}), {duration(slow.self_time())} "
            f"of {duration(total)} ({share:.0f}%) in the step itself"
        )
    if failed:
        first = failed[0]
        where = f"{escape(first.service or '-')} {escape(first.logger or '-')}"
        message = escape(first.message or "")
        out.append(style.paint(RED, f"failed: in {where}: {message}"))
        if first.exception is not None:
            from tracelog._cli.pretty import exception_text

            last = exception_text(first.exception).strip().split("\n")[-1]
            out.append(style.paint(RED, f"        {escape(last)}"))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tracelog._cli.times import parse_when

    parser.add_argument("trace", metavar="TRACE_ID", help="the trace id (a prefix is enough)")
    parser.add_argument("files", nargs="*", metavar="FILE", help="log files (gzip ok); - is stdin")
    parser.add_argument("--since", type=parse_when, help="lines not before: 10m, 2h, or a time")
    parser.add_argument("--until", type=parse_when, help="lines not after: 10m, 2h, or a time")
    parser.add_argument(
        "--html", metavar="PATH", help="write the trace as one self-contained HTML page"
    )
    sources.add_arguments(parser)


def collect(prefix: str, files: list[str], skipped: Skipped) -> dict[str, list[Record]]:
    import json

    found: dict[str, list[Record]] = {}
    for line in search(files, prefix.encode(), skipped):
        rec = parse(line, skipped, json.loads)
        if rec is not None and rec.trace_id and rec.trace_id.startswith(prefix):
            found.setdefault(rec.trace_id, []).append(rec)
    return found


def _within(records: list[Record], since: float | None, until: float | None) -> list[Record]:
    if since is None and until is None:
        return records
    return [
        r
        for r in records
        if r.time is not None
        and (since is None or r.time >= since)
        and (until is None or r.time <= until)
    ]


def _same_line(rec: Record) -> tuple[object, ...]:
    """What makes two copies of one event (a file and a server) the same line."""
    moment = None if rec.time is None else round(rec.time, 6)
    return (moment, rec.span_id, rec.message, rec.logger, rec.service, rec.level)


def gather(
    prefix: str,
    files: list[str],
    servers: list[sources.Source],
    window: tuple[float | None, float | None],
    skipped: Skipped,
) -> dict[str, list[Record]]:
    """The traces whose id starts with ``prefix``: whole for one match, candidates for more."""
    since, until = window
    found: dict[str, list[Record]] = {}
    if files or not servers:
        for trace_id, records in collect(prefix, files, skipped).items():
            kept = _within(records, since, until)
            if kept:
                found[trace_id] = kept
    if not servers:
        return found
    assert since is not None
    assert until is not None
    ids = set(found)
    if sources.full_id(prefix):
        ids.add(prefix)
    else:
        for server in servers:
            try:
                more, cut = server.candidates(prefix, since, until)
            except sources.SourceError as error:
                skipped.error(str(error))
                continue
            ids |= more
            if cut and len(ids) == 1:
                skipped.note(f"{server.name}: the prefix search was cut at {sources.PAGE} lines")
    if len(ids) != 1:
        return {trace_id: found.get(trace_id, []) for trace_id in ids}
    (trace_id,) = ids
    records = found.get(trace_id, [])
    seen = {_same_line(rec) for rec in records}
    for server in servers:
        fresh = []
        batches = server.lines(since, until, trace_id, exact=True)
        for batch in sources.guarded(server, batches, skipped):
            for line in batch:
                rec = parse(line, skipped)
                if rec is not None and rec.trace_id == trace_id and _same_line(rec) not in seen:
                    fresh.append(rec)
        seen.update(_same_line(rec) for rec in fresh)
        records.extend(fresh)
    return {trace_id: records} if records else {}


def run(args: argparse.Namespace) -> int:
    prefix = args.trace.strip().lower()
    skipped = Skipped()
    if not prefix:
        skipped.error("give a trace id (a prefix of it is enough)")
        return 2
    try:
        servers = sources.from_args(args)
        window: tuple[float | None, float | None] = (args.since, args.until)
        if servers:
            sources.check_id(prefix)
            window = sources.window(args)
    except sources.SourceError as error:
        skipped.error(str(error))
        return 2
    found = gather(prefix, args.files, servers, window, skipped)
    if len(found) != 1:
        if found:
            ids = ", ".join(escape(found_id) for found_id in sorted(found)[:5])
            skipped.error(f"{prefix!r} matches {len(found)} traces ({ids}); give more digits")
        elif not skipped.failed:  # a server's error already said why nothing was found
            where = [*args.files, *(s.name for s in servers)] or ["stdin"]
            skipped.error(f"no line of trace {prefix!r} in {', '.join(where)}")
        return 1
    ((trace_id, records),) = found.items()
    records.sort(key=lambda r: (r.time is None, r.time or 0.0))
    if args.html:
        from tracelog._cli import html

        try:
            html.write(args.html, trace_id, records)
        except OSError as error:
            skipped.error(f"cannot write {args.html}: {error.strerror or error}")
            return 1
        print(args.html)
    else:
        text = "\n".join(render(trace_id, records, Style(colour_wanted(sys.stdout))))
        sys.stdout.write(text + "\n")
    sys.stdout.flush()
    summary = skipped.summary()
    if summary:
        print(summary, file=sys.stderr)
    return 1 if skipped.failed else 0
