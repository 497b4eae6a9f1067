"""``tracelog view``: filter and show log lines, or pass the matching lines through (``--json``)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from typing import Any

from tracelog._cli import sources
from tracelog._cli.longline import LongLine
from tracelog._cli.parallel import search
from tracelog._cli.pretty import Style, colour_wanted, escape_json_text, json_for_terminal
from tracelog._cli.reader import Skipped, follow, read_batches
from tracelog._cli.records import LEVEL_RANK, Record, level_of, parse
from tracelog._cli.times import parse_when
from tracelog._cli.where import Condition, Prefilter, parse_condition

__all__ = ["Filters", "add_filter_arguments", "parse_when", "run"]

# Names a record answers from its columns, which a line may spell another way (service.name).
_COLUMNS = frozenset(
    (
        "time",
        "level",
        "rank",
        "logger",
        "message",
        "trace_id",
        "span_id",
        "parent_span_id",
        "span_name",
        "service",
        "exception",
    )
)


def _level(text: str) -> int:
    name = level_of(text)
    if name is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LEVEL_RANK)}")
    return LEVEL_RANK[name]


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (all must match)")
    group.add_argument("--trace", metavar="ID", help="this trace id (a prefix is enough)")
    group.add_argument("--level", type=_level, help="this level and above, e.g. warning")
    group.add_argument("--service", action="append", help="this service (repeatable)")
    group.add_argument("--logger", action="append", help="this logger or its children")
    group.add_argument("--since", type=parse_when, help="not before: 10m, 2h, or a time")
    group.add_argument("--until", type=parse_when, help="not after: 10m, 2h, or a time")
    group.add_argument("--grep", metavar="TEXT", help="TEXT anywhere in the line")
    group.add_argument(
        "--where",
        type=parse_condition,
        action="append",
        metavar="COND",
        help="a field: KEY=V, KEY!=V, KEY>N (>=, <, <=; numbers or times), KEY~REGEX, "
        "KEY!~REGEX, KEY (has it), !KEY (has not)",
    )


class Filters:
    """The filters of ``view`` (and ``traces``), tested against a recognised record."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.trace: str | None = args.trace.strip().lower() if args.trace else None
        self.rank: int | None = args.level
        self.services = set(args.service) if args.service else None
        self.loggers: list[str] | None = args.logger
        self.since: float | None = args.since
        self.until: float | None = args.until
        self.grep: str | None = args.grep
        self.where: list[Condition] = args.where or []

    @property
    def on_columns(self) -> bool:
        """Whether any filter other than ``--where`` is set."""
        return bool(
            self.trace
            or self.rank is not None
            or self.services
            or self.loggers
            or self.since is not None
            or self.until is not None
            or self.grep is not None
        )

    @property
    def on_fields(self) -> bool:
        """Whether any filter needs the line's fields (so a non-JSON line cannot match)."""
        return bool(
            self.trace
            or self.rank is not None
            or self.services
            or self.loggers
            or self.since is not None
            or self.until is not None
            or self.where
        )

    def match_text(self, line: str) -> bool:
        return not self.on_fields and (self.grep is None or self.grep in line)

    def match(self, rec: Record, line: bytes) -> bool:
        if self.trace and not (rec.trace_id and rec.trace_id.startswith(self.trace)):
            return False
        if self.rank is not None and rec.rank < self.rank:
            return False
        if self.services is not None and rec.service not in self.services:
            return False
        if self.loggers is not None:
            name = rec.logger or ""
            if not any(name == want or name.startswith(want + ".") for want in self.loggers):
                return False
        if self.since is not None and (rec.time is None or rec.time < self.since):
            return False
        if self.until is not None and (rec.time is None or rec.time > self.until):
            return False
        if self.grep is not None and self.grep not in line.decode("utf-8", "replace"):
            message = rec.message or ""
            if self.grep not in message:
                return False
        return all(condition.test(rec.get(condition.key)) for condition in self.where)

    def quick(self) -> list[Condition]:
        """The conditions on a plain field, tested on the decoded line before it is recognised."""
        return [
            c
            for c in self.where
            if c.needs_field and "." not in c.key and c.key not in _COLUMNS and c.op != "exists"
        ]

    def needle(self) -> bytes | Prefilter | None:
        """What every matching line contains, for a byte search before any parsing: the trace
        id, else a ``--where`` field (with a value that can pass, for a comparison)."""
        if self.trace and self.trace.isalnum():
            return self.trace.encode()
        found = [p for c in self.where if (p := c.prefilter(_COLUMNS)) is not None]
        return max(found, key=lambda p: p.number is not None, default=None)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="log files (gzip ok); - is stdin")
    parser.add_argument("-f", "--follow", action="store_true", help="keep reading as files grow")
    parser.add_argument(
        "--json", action="store_true", help="pass matching lines through as they are"
    )
    add_filter_arguments(parser)
    sources.add_arguments(parser)


def _file_batches(
    args: argparse.Namespace, filters: Filters, skipped: Skipped
) -> Iterator[list[bytes]]:
    whole: bool = args.json  # a line over MAX_LINE is passed on whole
    if args.follow and args.files and "-" not in args.files:  # stdin is read as it comes
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        return follow(args.files, skipped, keep_whole=whole)
    needle = filters.needle()
    if needle is not None:
        return _group(search(args.files, needle, skipped, whole))
    return read_batches(args.files, skipped, whole)


def _batches(
    args: argparse.Namespace,
    filters: Filters,
    skipped: Skipped,
    servers: list[sources.Source],
    window: tuple[float, float],
) -> Iterator[list[bytes]]:
    if args.files or not servers:
        yield from _file_batches(args, filters, skipped)
    since, until = window
    trace = filters.trace
    for server in servers:
        exact = trace is not None and sources.full_id(trace)
        yield from sources.guarded(server, server.lines(since, until, trace, exact), skipped)


def _loads(args: argparse.Namespace, filters: Filters) -> Any:
    """The standard library's parser when only a few lines will be parsed: it starts faster."""
    if filters.trace and filters.trace.isalnum() and not args.follow:
        import json

        return json.loads
    return None


def _group(lines: Iterator[bytes], size: int = 512) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    yield batch


def run(args: argparse.Namespace) -> int:
    filters = Filters(args)
    skipped = Skipped()
    try:
        servers = sources.from_args(args)
        if servers and args.follow:
            raise sources.SourceError("-f follows files; servers are read once")
        if servers and filters.trace:
            sources.check_id(filters.trace)
        window = sources.window(args) if servers else (0.0, 0.0)
    except sources.SourceError as error:
        skipped.error(str(error))
        return 2
    out = sys.stdout.buffer
    style = Style(colour_wanted(sys.stdout))
    as_json: bool = args.json
    # Into a pipe the lines go unchanged; to a terminal, what could drive it is escaped.
    raw = as_json and not _is_terminal(sys.stdout)
    if raw:
        skipped.bad_utf8_how = "passed through unchanged"
        skipped.long_how = "passed through whole"
    elif as_json:
        skipped.long_how = "passed through whole"
    loads = _loads(args, filters)
    quick = filters.quick()
    only_quick = len(quick) == len(filters.where) and not filters.on_columns
    try:
        for batch in _batches(args, filters, skipped, servers, window):
            rows: list[bytes] = []
            shown: list[Record | str] = []
            for line in batch:
                if not line.strip():
                    continue
                if quick:
                    verdict = _passes(quick, line)
                    if verdict is False:
                        continue
                    if verdict and only_quick and raw and not isinstance(line, LongLine):
                        rows.append(line + b"\n")  # nothing else to check: no full parse
                        continue
                rec = parse(line, skipped, loads)
                if rec is None:
                    text = line.decode("utf-8", "replace").rstrip("\r")
                    if not as_json and filters.match_text(text):
                        shown.append(text)
                elif filters.match(rec, line):
                    if isinstance(line, LongLine) and line.whole is not None:
                        out.write(b"".join(rows))
                        rows = []
                        _write_whole(out, line, raw)
                    elif raw:
                        rows.append(line + b"\n")
                    elif as_json:
                        rows.append(json_for_terminal(line) + b"\n")
                    else:
                        shown.append(rec)
            if shown:
                style.fit([item for item in shown if isinstance(item, Record)])
                rows.extend(_row(style, item) for item in shown)
            if rows:
                out.write(b"".join(rows))
                out.flush()  # a batch is one read: show it while the next is awaited
        out.flush()
    except KeyboardInterrupt:
        out.flush()
    summary = skipped.summary(not_json_shown=not as_json and not filters.on_fields)
    if summary:
        print(summary, file=sys.stderr)
    return 1 if skipped.failed else 0


def _passes(conditions: list[Condition], line: bytes) -> bool | None:
    """Whether a JSON object's fields pass ``conditions``; None when it is not one."""
    import orjson

    try:
        obj = orjson.loads(line)
    except ValueError:
        return None  # the full parse decides (and counts) what it is
    if not isinstance(obj, dict):
        return None
    attributes = obj.get("attributes")
    for condition in conditions:
        value = obj.get(condition.key)
        if value is None and isinstance(attributes, dict):  # OpenTelemetry's user fields
            value = attributes.get(condition.key)
        if not condition.test(value):
            return False
    return True


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _write_whole(out: Any, line: LongLine, raw: bool) -> None:
    if raw:
        line.write_whole(out)
    else:  # to a terminal: escaped piece by piece, as a shorter line is, never held whole
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        assert line.whole is not None
        line.whole.seek(0)
        while chunk := line.whole.read(1 << 20):
            out.write(escape_json_text(decoder.decode(chunk)))
        out.write(escape_json_text(decoder.decode(b"", final=True)))
    out.write(b"\n")


def _row(style: Style, item: Record | str) -> bytes:
    text = style.text(item) if isinstance(item, str) else style.record(item)
    return text.encode("utf-8", "replace") + b"\n"
