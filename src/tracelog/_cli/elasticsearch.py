"""``--elasticsearch``: ``_search`` under a point in time, paged with ``search_after``."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import orjson

from tracelog._cli import server
from tracelog._cli.server import Http, Source, SourceError, check_id

__all__ = ["ElasticsearchSource"]


class ElasticsearchSource(Source):
    """``_search`` under a point in time: ``term`` on the trace id, ``search_after`` paging."""

    kind = "Elasticsearch"
    TRACE_FIELDS = ("trace.id", "trace_id")

    def __init__(
        self, url: str, index: str, headers: dict[str, str], timeout: float, max_lines: int
    ) -> None:
        super().__init__()
        self.http = Http("Elasticsearch", url, headers, timeout)
        if not index or any(c in index for c in '/ "\\?#'):
            raise SourceError(f"--index {index!r} is not an index name or pattern")
        self.index = index
        self.max_lines = max_lines

    def _query(self, since: float, until: float, trace: str | None, exact: bool) -> Any:
        window = {
            "range": {
                "@timestamp": {
                    "gte": int(since * 1000),
                    "lte": int(until * 1000) + 1,
                    "format": "epoch_millis",
                }
            }
        }
        if trace is None:
            return {"bool": {"filter": [window]}}
        kind = "term" if exact else "prefix"
        return {
            "bool": {
                "filter": [window],
                "should": [{kind: {field: trace}} for field in self.TRACE_FIELDS],
                "minimum_should_match": 1,
            }
        }

    def _hits(self, body: dict[str, Any], path: str) -> tuple[list[Any], Any]:
        answer = self.http.call("POST", path, body=body)
        hits = answer.get("hits") if isinstance(answer, dict) else None
        if not isinstance(hits, dict) or not isinstance(hits.get("hits"), list):
            raise SourceError(f"Elasticsearch at {self.http.base} gave an answer without hits")
        if answer.get("timed_out"):
            raise SourceError(f"Elasticsearch at {self.http.base}: the search timed out")
        return hits["hits"], answer.get("pit_id")

    def candidates(self, prefix: str, since: float, until: float) -> tuple[set[str], bool]:
        check_id(prefix)
        body = {
            "size": server.PAGE,
            "query": self._query(since, until, prefix, exact=False),
            "_source": list(self.TRACE_FIELDS),
            "track_total_hits": False,
        }
        hits, _ = self._hits(body, f"/{urllib.parse.quote(self.index, safe='*,')}/_search")
        found = set()
        for hit in hits:
            source = hit.get("_source") or {}
            trace = source.get("trace_id") or (source.get("trace") or {}).get("id")
            trace = trace or source.get("trace.id")
            if isinstance(trace, str) and trace.lower().startswith(prefix):
                found.add(trace.lower())
        return found, len(hits) >= server.PAGE

    def lines(
        self, since: float, until: float, trace: str | None = None, exact: bool = False
    ) -> Iterator[list[bytes]]:
        if trace is not None:
            check_id(trace)
        return self._pages(self._query(since, until, trace, exact))

    def _pages(self, query: Any) -> Iterator[list[bytes]]:
        index = urllib.parse.quote(self.index, safe="*,")
        opened = self.http.call("POST", f"/{index}/_pit", {"keep_alive": "1m"})
        pit = opened.get("id") if isinstance(opened, dict) else None
        if not isinstance(pit, str):
            raise SourceError(f"Elasticsearch at {self.http.base} opened no point in time")
        after: list[Any] | None = None
        fetched = 0
        try:
            while fetched < self.max_lines:
                size = min(server.PAGE, self.max_lines - fetched)
                body: dict[str, Any] = {
                    "size": size,
                    "query": query,
                    "pit": {"id": pit, "keep_alive": "1m"},
                    "sort": [
                        {"@timestamp": {"order": "asc", "unmapped_type": "date"}},
                        {"_shard_doc": "asc"},  # the tie-breaker a point in time provides
                    ],
                    "track_total_hits": False,
                }
                if after is not None:
                    body["search_after"] = after
                hits, pit = self._hits(body, "/_search")
                pit = pit or body["pit"]["id"]
                fetched += len(hits)
                yield [orjson.dumps(hit.get("_source") or {}) for hit in hits]
                if len(hits) < size:
                    return
                after = hits[-1].get("sort")
                if not isinstance(after, list):
                    raise SourceError(f"Elasticsearch at {self.http.base} gave hits without sort")
            self.reached_limit = True
        finally:
            try:
                self.http.call("DELETE", "/_pit", body={"id": pit})
            except SourceError:
                pass  # it expires by itself after keep_alive
