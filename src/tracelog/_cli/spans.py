"""Spans as log lines show them: linked by span_id/parent_span_id, timed by their lines."""

from __future__ import annotations

from tracelog._cli.records import LEVEL_RANK, Record

__all__ = ["Span", "build_tree", "walk"]

_ERROR = LEVEL_RANK["error"]


class Span:
    """A span as the log lines show it: from its first line to its last (or a logged duration)."""

    __slots__ = (
        "children",
        "end",
        "errors",
        "id",
        "name",
        "parent",
        "records",
        "services",
        "start",
    )

    def __init__(self, span_id: str | None) -> None:
        self.id = span_id
        self.parent: str | None = None
        self.name: str | None = None
        self.services: list[str] = []
        self.start: float | None = None
        self.end: float | None = None
        self.records: list[Record] = []
        self.children: list[Span] = []
        self.errors: list[Record] = []

    def add(self, rec: Record) -> None:
        self.records.append(rec)
        self.parent = self.parent or rec.parent_span_id
        self.name = self.name or rec.span_name
        if rec.service and rec.service not in self.services:
            self.services.append(rec.service)
        if rec.rank >= _ERROR or rec.exception is not None:
            self.errors.append(rec)
        if rec.time is not None:
            began = rec.time
            took = rec.obj.get("duration_ms")
            if took is None:  # ECS: event.duration, in nanoseconds
                took = rec.get("event.duration")
                took = took / 1e6 if isinstance(took, (int, float)) else None
            if isinstance(took, (int, float)) and not isinstance(took, bool) and took > 0:
                began = rec.time - took / 1000  # a line that says how long its work took
            self.cover(began, rec.time)

    def cover(self, start: float | None, end: float | None) -> None:
        if start is not None and (self.start is None or start < self.start):
            self.start = start
        if end is not None and (self.end is None or end > self.end):
            self.end = end

    @property
    def duration(self) -> float:
        return (self.end - self.start) if self.start is not None and self.end is not None else 0.0

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        for rec in self.records:  # a request's span: its access line says what it was
            method, path = rec.obj.get("method"), rec.obj.get("path")
            if isinstance(method, str) and isinstance(path, str):
                return f"{method} {path}"
        if self.records:
            return self.records[0].message or "(no message)"
        callee = ", ".join(dict.fromkeys(s for c in self.children for s in c.services))
        return f"call to {callee or '?'} (span {(self.id or '?')[:8]})"

    def self_time(self) -> float:
        """Time in this span not covered by any child: where this step itself spent it."""
        busy = 0.0
        edge = self.start if self.start is not None else 0.0
        for child in sorted(self.children, key=lambda c: c.start or 0.0):
            if child.start is None or child.end is None:
                continue
            begin = max(child.start, edge)
            if child.end > begin:
                busy += child.end - begin
                edge = child.end
        return max(self.duration - busy, 0.0)


def build_tree(records: list[Record]) -> list[Span]:
    """Spans linked by span_id/parent_span_id; a parent that logged nothing gets a placeholder."""
    spans: dict[str | None, Span] = {}
    for rec in records:
        span = spans.get(rec.span_id)
        if span is None:
            span = spans[rec.span_id] = Span(rec.span_id)
        span.add(rec)
    for span in list(spans.values()):
        if span.parent and span.parent not in spans:
            spans[span.parent] = Span(span.parent)
    roots = []
    for span in spans.values():
        parent = spans.get(span.parent) if span.parent else None
        if parent is None or parent is span or _is_ancestor(span, parent, spans):
            roots.append(span)
        else:
            parent.children.append(span)
    for root in roots:
        _settle(root)
    roots = _attach_calls(roots, spans)
    roots.sort(key=lambda s: (s.start is None, s.start or 0.0))
    return roots


def _attach_calls(roots: list[Span], spans: dict[str | None, Span]) -> list[Span]:
    """Hang each unlogged root (an outgoing call's span) under the logged span running then.

    A client sends a fresh span id per call and logs nothing under it, so no line links the
    callee's spans to the caller's; the time they ran does.
    """
    kept = []
    for root in roots:
        host = None
        if not root.records and root.start is not None:
            for span in spans.values():
                if (
                    span.records
                    and span.start is not None
                    and span.end is not None
                    and span.start <= root.start <= span.end
                    and not _is_ancestor(root, span, spans)
                    and (host is None or span.start >= (host.start or 0.0))
                ):
                    host = span
        if host is None:
            kept.append(root)
        else:
            root.parent = host.id
            host.children.append(root)
    for root in kept:
        _settle(root)
    return kept


def _is_ancestor(span: Span, other: Span, spans: dict[str | None, Span]) -> bool:
    node: Span | None = other
    for _ in range(len(spans)):  # bounded: ids from data may form a cycle
        if node is None or not node.parent:
            return False
        node = spans.get(node.parent)
        if node is span:
            return True
    return True


def _settle(span: Span, depth: int = 0) -> None:
    """A parent lasts at least as long as its children; children in time order."""
    if depth > 200:
        span.children = []
        return
    for child in span.children:
        _settle(child, depth + 1)
        span.cover(child.start, child.end)
    span.children.sort(key=lambda c: (c.start is None, c.start or 0.0))


def walk(spans: list[Span], prefix: str = "", depth: int = 0) -> list[tuple[str, Span]]:
    rows: list[tuple[str, Span]] = []
    for i, span in enumerate(spans):
        last = i == len(spans) - 1
        branch = "" if depth == 0 else ("└─ " if last else "├─ ")
        rows.append((prefix + branch, span))
        inner = "" if depth == 0 else ("   " if last else "│  ")
        rows.extend(walk(span.children, prefix + inner, depth + 1))
    return rows
