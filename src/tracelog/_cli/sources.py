"""Lines from servers: Grafana Loki (``query_range``) and Elasticsearch (``_search``).

A source hands the commands the same thing a file does: batches of raw JSON lines. Loki gives
back the lines as they were pushed; Elasticsearch gives back each document, written out again as
one JSON line. Only the time window and the trace id are asked of the server; every other filter
runs here, as it does for files. Every fetch is paged and bounded (``--max-lines``), and any
trouble with a server is one :class:`SourceError` line, never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson

__all__ = [
    "DEFAULT_SELECTOR",
    "DEFAULT_WINDOW",
    "ElasticsearchSource",
    "LokiSource",
    "Source",
    "SourceError",
    "add_arguments",
    "from_args",
    "window",
]

#: Matches every line tracelog's Loki output ships with its default ``label_keys``.
DEFAULT_SELECTOR = '{level=~".+"}'
#: How far back a server is asked when no ``--since`` is given (not for ``traces``).
DEFAULT_WINDOW = 24 * 3600.0
PAGE = 1000
#: Loki's default max_entries_limit_per_query.
LOKI_MAX_ENTRIES = 5000
MAX_LINES = 100_000
_ID = re.compile(r"[0-9a-zA-Z_-]{1,128}\Z")
_FULL_ID = re.compile(r"[0-9a-f]{32}\Z")


class SourceError(Exception):
    """A server could not be asked, or refused: one line a person can act on."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("servers (mix freely with files)")
    group.add_argument("--loki", metavar="URL", action="append", help="read from Grafana Loki")
    group.add_argument(
        "--query",
        metavar="LOGQL",
        help=f"Loki stream selector to search within (default {DEFAULT_SELECTOR})",
    )
    group.add_argument(
        "--elasticsearch", metavar="URL", action="append", help="read from Elasticsearch"
    )
    group.add_argument(
        "--index", metavar="PATTERN", default="logs-*", help="indices to search (default logs-*)"
    )
    group.add_argument("--tenant", metavar="ID", help="Loki tenant, sent as X-Scope-OrgID")
    group.add_argument(
        "--user",
        metavar="USER[:PASSWORD]",
        help="basic auth; without :PASSWORD it is read from TRACELOG_PASSWORD",
    )
    group.add_argument(
        "--token", metavar="TOKEN", help="bearer token (default: TRACELOG_TOKEN if set)"
    )
    group.add_argument("--api-key", metavar="KEY", help="Elasticsearch API key (encoded)")
    group.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="per request (default 30 s)"
    )
    group.add_argument(
        "--max-lines",
        type=int,
        default=MAX_LINES,
        metavar="N",
        help=f"fetch at most N lines from the servers (default {MAX_LINES:,})",
    )


def window(args: argparse.Namespace, default: float | None = DEFAULT_WINDOW) -> tuple[float, float]:
    """The time window asked of the servers: ``--since``/``--until``, else the last 24 hours."""
    until: float = args.until if getattr(args, "until", None) is not None else time.time()
    since = getattr(args, "since", None)
    if since is None:
        if default is None:
            raise SourceError("a server needs --since (e.g. --since 30m) to bound what is read")
        since = until - default
    if since > until:
        raise SourceError("--since is after --until")
    return float(since), float(until)


def _auth(args: argparse.Namespace, api_key_allowed: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    if args.user:
        user, sep, password = args.user.partition(":")
        if not sep:
            password = os.environ.get("TRACELOG_PASSWORD", "")
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {basic}"
    bearer = args.token or (None if args.user else os.environ.get("TRACELOG_TOKEN"))
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if api_key_allowed and args.api_key:
        headers["Authorization"] = f"ApiKey {args.api_key}"
    return headers


def from_args(args: argparse.Namespace) -> list[Source]:
    """The servers named on the command line (none: only files)."""
    sources: list[Source] = []
    for url in args.loki or ():
        headers = _auth(args, api_key_allowed=False)
        if args.tenant:
            headers["X-Scope-OrgID"] = args.tenant
        sources.append(
            LokiSource(url, args.query or DEFAULT_SELECTOR, headers, args.timeout, args.max_lines)
        )
    for url in args.elasticsearch or ():
        headers = _auth(args, api_key_allowed=True)
        sources.append(ElasticsearchSource(url, args.index, headers, args.timeout, args.max_lines))
    return sources


class _Http:
    """JSON over HTTP with urllib; every failure becomes a one-line :class:`SourceError`."""

    def __init__(self, kind: str, url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(f"{kind}: {url!r} is not an http:// or https:// URL")
        self.kind = kind
        self.base = url.rstrip("/")
        self.headers = {"User-Agent": "tracelog", "Accept": "application/json", **headers}
        self.timeout = timeout
        self.requests = 0

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = None if body is None else orjson.dumps(body)
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = _detail(error.read(64 * 1024) if error.fp else b"")
            hint = ""
            if error.code in (401, 403):
                options = "--tenant, --user or --token" if self.kind == "Loki" else None
                hint = f" (check {options or '--user, --token or --api-key'})"
            raise SourceError(
                f"{self.kind} at {self.base} answered {error.code}{hint}: {detail}".rstrip(": ")
            ) from None
        except TimeoutError:
            raise SourceError(
                f"{self.kind} at {self.base} did not answer within {self.timeout:g} s (--timeout)"
            ) from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise SourceError(
                    f"{self.kind} at {self.base} did not answer within {self.timeout:g} s "
                    "(--timeout)"
                ) from None
            text = getattr(reason, "strerror", None) or str(reason)
            raise SourceError(f"cannot reach {self.kind} at {self.base}: {text}") from None
        except (OSError, ValueError) as error:  # a reset connection, a broken answer
            raise SourceError(f"{self.kind} at {self.base}: {error}") from None
        try:
            return orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise SourceError(
                f"{self.kind} at {self.base} answered something that is not JSON: {_detail(raw)}"
            ) from None


def _detail(body: bytes) -> str:
    """The server's reason, from a JSON error body or the first line of a text one."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        error = obj.get("error")
        if isinstance(error, dict):  # Elasticsearch
            causes = error.get("root_cause")
            cause = causes[0] if isinstance(causes, list) and causes else error
            if isinstance(cause, dict):
                return f"{cause.get('type', 'error')}: {cause.get('reason', '')}"
        for key in ("error", "message"):  # Loki's JSON errors
            if isinstance(obj.get(key), str):
                return _one_line(obj[key])
    return _one_line(body.decode("utf-8", "replace"))


def _one_line(text: str) -> str:
    from tracelog._cli.pretty import escape

    first = text.strip().split("\n", 1)[0]
    return escape(first[:300])


class Source:
    """What every server offers the commands."""

    kind = "server"
    http: _Http
    max_lines: int

    @property
    def requests(self) -> int:
        return self.http.requests

    @property
    def name(self) -> str:
        return f"{self.kind} at {self.http.base}"

    def candidates(self, prefix: str, since: float, until: float) -> tuple[set[str], bool]:
        """Trace ids starting with ``prefix``, from one bounded query; True if it was cut."""
        raise NotImplementedError

    def lines(
        self, since: float, until: float, trace: str | None = None, exact: bool = False
    ) -> Iterator[list[bytes]]:
        """Every line in the window (of one trace, or of ids starting with ``trace``)."""
        raise NotImplementedError

    def __init__(self) -> None:
        self.reached_limit = False


def check_id(text: str) -> str:
    """A trace id or prefix as the servers are asked for it; refuses what could inject a query."""
    if not _ID.match(text):
        raise SourceError(f"{text!r} is not a trace id (letters, digits, - and _ only)")
    return text


class LokiSource(Source):
    """``GET /loki/api/v1/query_range``: a line filter on the id, ``| json``, a label filter."""

    kind = "Loki"

    def __init__(
        self, url: str, selector: str, headers: dict[str, str], timeout: float, max_lines: int
    ) -> None:
        super().__init__()
        if url.rstrip("/").endswith("/loki/api/v1/query_range"):
            url = url.rstrip("/")[: -len("/loki/api/v1/query_range")]
        self.http = _Http("Loki", url, headers, timeout)
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
            limit = min(PAGE, bound - fetched)
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
            self._logql(prefix, exact=False), int(since * 1e9), int(until * 1e9) + 1, PAGE
        )
        return {_trace_of_line(line) for _, line, _ in entries} - {""}, len(entries) >= PAGE

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


class ElasticsearchSource(Source):
    """``_search`` under a point in time: ``term`` on the trace id, ``search_after`` paging."""

    kind = "Elasticsearch"
    TRACE_FIELDS = ("trace.id", "trace_id")

    def __init__(
        self, url: str, index: str, headers: dict[str, str], timeout: float, max_lines: int
    ) -> None:
        super().__init__()
        self.http = _Http("Elasticsearch", url, headers, timeout)
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
            "size": PAGE,
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
        return found, len(hits) >= PAGE

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
                size = min(PAGE, self.max_lines - fetched)
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


def full_id(text: str) -> bool:
    """Whether ``text`` is a whole W3C trace id (no prefix search needed)."""
    return bool(_FULL_ID.match(text))


def guarded(source: Source, batches: Iterator[list[bytes]], skipped: Any) -> Iterator[list[bytes]]:
    """``batches`` from ``source``; a server's error ends it with one line on stderr."""
    try:
        yield from batches
    except SourceError as error:
        skipped.error(str(error))
        return
    if source.reached_limit:
        skipped.note(
            f"stopped after --max-lines {source.max_lines:,} lines from {source.name}; "
            "there are more (narrow --since/--until or raise --max-lines)",
            now=True,
        )
