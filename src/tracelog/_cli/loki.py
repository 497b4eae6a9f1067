"""``--loki``: Grafana Loki's ``GET /loki/api/v1/query_range`` with LogQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from tracelog._cli import server
from tracelog._cli.server import LOKI_MAX_ENTRIES, Http, Source, SourceError, check_id

__all__ = ["LokiSource"]


class LokiSource(Source):
    """``GET /loki/api/v1/query_range``: a line filter on the id, ``| json``, a label filter."""

    kind = "Loki"

    def __init__(
        self, url: str, selector: str, headers: dict[str, str], timeout: float, max_lines: int
    ) -> None:
        super().__init__()
        if url.rstrip("/").endswith("/loki/api/v1/query_range"):
            url = url.rstrip("/")[: -len("/loki/api/v1/query_range")]
        self.http = Http("Loki", url, headers, timeout)
        self.selector = selector.strip()
        if not self.selector.startswith("{"):
            raise SourceError(f"--query {selector!r} must start with a stream selector {{...}}")
        self.max_lines = max_lines

    def _logql(self, trace: str | None, exact: bool) -> str:
        if trace is None:
            return self.selector
        matcher = f'trace_id="{trace}"' if exact else f'trace_id=~"{trace}.*"'
        return f'{self.selector} |= "{trace}" | json | {matcher}'

    def _page(self, query: str, start: int, end: int, limit: int) -> list[tuple[int, str, Any]]:
        answer = self.http.call(
            "GET",
            "/loki/api/v1/query_range",
            {
                "query": query,
                "start": str(start),
                "end": str(end),
                "limit": str(limit),
                "direction": "forward",
            },
        )
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or answer.get("status") != "success":
            raise SourceError(f"Loki at {self.http.base} gave an answer without data")
        if data.get("resultType") != "streams":
            raise SourceError(f"Loki answered {data.get('resultType')!r}, not log lines")
        entries: list[tuple[int, str, Any]] = []
        for stream in data.get("result") or ():
            labels = tuple(sorted((stream.get("stream") or {}).items()))
            for value in stream.get("values") or ():
                entries.append((int(value[0]), value[1], labels))
        entries.sort(key=lambda entry: entry[0])
        return entries

    def _entries(self, query: str, since: float, until: float, bound: int) -> Iterator[list[bytes]]:
        """Forward paging: the next page starts at the last time seen, minus what was seen."""
        start, end = int(since * 1e9), int(until * 1e9) + 1  # end is exclusive
        edge: set[tuple[str, Any]] = set()
        fetched = 0
        while fetched < bound:
            limit = min(server.PAGE, bound - fetched)
            entries = self._page(query, start, end, limit)
            fresh = [e for e in entries if not (e[0] == start and (e[1], e[2]) in edge)]
            fetched += len(fresh)
            yield [line.encode("utf-8", "surrogatepass") for _, line, _ in fresh]
            if len(entries) < limit:
                return
            last = entries[-1][0]
            if not fresh:  # a whole page at one instant: ask for that nanosecond alone
                instant = self._page(query, last, last + 1, LOKI_MAX_ENTRIES)
                if len(instant) >= LOKI_MAX_ENTRIES:
                    raise SourceError(
                        f"Loki at {self.http.base} has {LOKI_MAX_ENTRIES} or more lines at one "
                        f"instant ({last} ns); cannot page past them"
                    )
                rest = [e for e in instant if (e[1], e[2]) not in edge]
                fetched += len(rest)
                yield [line.encode("utf-8", "surrogatepass") for _, line, _ in rest]
                start, edge = last + 1, set()
                continue
            if last != start:
                edge = set()
            edge.update((e[1], e[2]) for e in entries if e[0] == last)
            start = last
        self.reached_limit = True

    def candidates(self, prefix: str, since: float, until: float) -> tuple[set[str], bool]:
        check_id(prefix)
        entries = self._page(
            self._logql(prefix, exact=False), int(since * 1e9), int(until * 1e9) + 1, server.PAGE
        )
        return {_trace_of_line(line) for _, line, _ in entries} - {""}, len(entries) >= server.PAGE

    def lines(
        self, since: float, until: float, trace: str | None = None, exact: bool = False
    ) -> Iterator[list[bytes]]:
        if trace is not None:
            check_id(trace)
        return self._entries(self._logql(trace, exact), since, until, self.max_lines)


def _trace_of_line(line: str) -> str:
    from tracelog._cli.records import recognise

    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ""
    return (recognise(obj).trace_id or "") if isinstance(obj, dict) else ""
