"""The query side of the strict receivers: Loki ``query_range`` and Elasticsearch ``_search``.

:class:`LokiQueryReceiver` keeps what the Loki shipper pushed (``POST /loki/api/v1/push``, as
:class:`LokiReceiver` checks it) and answers ``GET /loki/api/v1/query_range`` as Loki documents
it, for the LogQL the ``tracelog`` command sends: a stream selector (``=``, ``!=``, ``=~``,
``!~``), line filters (``|=``, ``!=``, ``|~``, ``!~``), ``| json`` (nested keys joined with
``_``, a clash with a stream label renamed ``<name>_extracted``, ``__error__`` for lines that are
not JSON) and label filters. Regular expressions are anchored, as in Loki. ``start`` is
inclusive and ``end`` exclusive, ``limit`` counts entries across all streams, ``direction`` is
``forward`` or ``backward``, ``max_entries_limit_per_query`` is 5000, and errors are Loki's
(400 with the parser's message as plain text).

:class:`ElasticsearchQueryReceiver` keeps what the bulk shipper indexed and answers ``_search``,
``_pit`` and ``DELETE /_pit`` as Elasticsearch documents them: ``bool`` (``filter``, ``must``,
``should`` with ``minimum_should_match``, ``must_not``), ``term``, ``prefix``, ``range`` and
``match_all`` queries; ``sort`` on ``@timestamp`` (sort values in epoch milliseconds) and
``_shard_doc`` (only under a point in time); ``search_after``; ``size`` within the result
window; ``_source`` filtering; and Elasticsearch's JSON error bodies.
"""

from __future__ import annotations

import base64
import fnmatch
import itertools
import re
import time
import urllib.parse
from typing import Any

import orjson

from _receivers import ElasticsearchReceiver, LokiReceiver, _es_error, _flatten, _Handler
from tracelog._cli.times import parse_time

QUERY_RANGE = "/loki/api/v1/query_range"
MAX_ENTRIES = 5000
RESULT_WINDOW = 10_000
_MISSING = 2**63 - 1  # Long.MAX_VALUE: where a missing value sorts in ascending order


class LogQLError(ValueError):
    pass


_MATCHER = re.compile(
    r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)\s*'
)
_STAGE = re.compile(r'\s*(\|=|!=|\|~|!~)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)\s*')
_PIPE = re.compile(r"\s*\|\s*")


def _string(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    return str(orjson.loads(token))


def _compare(op: str, actual: str, wanted: str) -> bool:
    if op == "=":
        return actual == wanted
    if op == "!=":
        return actual != wanted
    matched = re.fullmatch(wanted, actual) is not None
    return matched if op == "=~" else not matched


def parse_logql(query: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, ...]]]:
    """The selector's matchers and the pipeline stages, or LogQLError with Loki's wording."""
    text = query.strip()
    if not text.startswith("{"):
        raise LogQLError("parse error at line 1, col 1: syntax error: unexpected IDENTIFIER")
    close = text.find("}")
    if close < 0:
        raise LogQLError("parse error at line 1, col 1: syntax error: unexpected $end")
    inside, rest = text[1:close], text[close + 1 :]
    matchers: list[tuple[str, str, str]] = []
    position = 0
    while position < len(inside):
        match = _MATCHER.match(inside, position)
        if match is None:
            raise LogQLError(
                f"parse error at line 1, col {position + 2}: syntax error: unexpected IDENTIFIER"
            )
        name, op, value = match.group(1), match.group(2), _string(match.group(3))
        matchers.append((name, op, value))
        position = match.end()
        if position < len(inside):
            if inside[position] != ",":
                raise LogQLError(f"parse error at line 1, col {position + 2}: syntax error")
            position += 1
    if not any(
        (op == "=" and value) or (op == "=~" and not re.fullmatch(value, ""))
        for _, op, value in matchers
    ):
        raise LogQLError(
            "queries require at least one regexp or equality matcher that does not have an "
            'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
            'but app=~".+" will'
        )
    stages: list[tuple[str, ...]] = []
    position = 0
    while position < len(rest):
        if not rest[position:].strip():
            break
        match = _STAGE.match(rest, position)
        if match is not None:
            stages.append(("line", match.group(1), _string(match.group(2))))
            position = match.end()
            continue
        pipe = _PIPE.match(rest, position)
        if pipe is None:
            raise LogQLError(f"parse error at line 1, col {close + position + 2}: syntax error")
        position = pipe.end()
        if rest.startswith("json", position) and not rest[position + 4 : position + 5].isalnum():
            stages.append(("json",))
            position += 4
            continue
        match = _MATCHER.match(rest, position)
        if match is None:
            raise LogQLError(
                f"parse error at line 1, col {close + position + 2}: syntax error: "
                "unexpected IDENTIFIER"
            )
        stages.append(("label", match.group(1), match.group(2), _string(match.group(3))))
        position = match.end()
    return matchers, stages


def _label_name(key: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    return f"_{name}" if name[:1].isdigit() else name


def _json_labels(line: str) -> dict[str, str] | None:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    out: dict[str, str] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = _label_name(f"{prefix}{key}")
            if isinstance(value, dict):
                walk(value, f"{name}_")
            elif isinstance(value, list):
                continue  # Loki's json parser skips arrays
            elif isinstance(value, bool):
                out[name] = "true" if value else "false"
            elif value is None:
                out[name] = ""
            else:
                out[name] = value if isinstance(value, str) else orjson.dumps(value).decode()

    walk(obj, "")
    return out


def _nanos(text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    if text.isdigit():
        return int(text)
    seconds = parse_time(text)
    if seconds is None:
        try:
            return int(float(text) * 1e9)
        except ValueError:
            raise LogQLError(f'invalid parameter "start" or "end": cannot parse "{text}"') from None
    return int(seconds * 1e9)


class LokiQueryReceiver(LokiReceiver):
    """A Loki receiver that also answers ``query_range`` over what was pushed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.queries: list[dict[str, str]] = []
        super().__init__(*args, **kwargs)

    def start(self) -> None:
        super().start()
        assert self._server is not None
        handler = self._server.RequestHandlerClass
        receiver = self
        handler.do_GET = lambda request: receiver._query(request)  # type: ignore[attr-defined]

    def _query(self, request: _Handler) -> None:
        parts = urllib.parse.urlsplit(request.path)
        if parts.path != QUERY_RANGE:
            request.answer(404, b"404 page not found\n")
            return
        for name, value in self.expect_headers.items():
            if request.headers.get(name) != value:
                reason = "no org id" if name == "x-scope-orgid" else "unauthorized"
                self._reject(request, 401, reason)
                return
        params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        with self.lock:
            self.requests += 1
            self.queries.append(params)
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            request.answer(fault[0], b"simulated failure\n")
            return
        if self.delay:
            time.sleep(self.delay)
        try:
            body = self._answer(params)
        except LogQLError as error:
            self._reject(request, 400, str(error))
            return
        try:
            request.answer(200, orjson.dumps(body), "application/json")
        except (BrokenPipeError, ConnectionResetError):
            request.close_connection = True  # the client gave up (its timeout): as Loki, move on

    def _answer(self, params: dict[str, str]) -> dict[str, Any]:
        query = params.get("query")
        if not query:
            raise LogQLError("query parameter is required")
        matchers, stages = parse_logql(query)
        now = time.time_ns()
        end = _nanos(params.get("end"), now)
        start = _nanos(params.get("start"), end - 3600 * 10**9)
        if end < start:
            raise LogQLError("end timestamp must not be before or equal to start time")
        limit_text = params.get("limit", "100")
        if not limit_text.isdigit() or int(limit_text) <= 0:
            raise LogQLError(f'invalid parameter "limit": {limit_text}')
        limit = int(limit_text)
        if limit > MAX_ENTRIES:
            raise LogQLError(
                f"max entries limit per query exceeded, limit > max_entries_limit_per_query "
                f"({limit} > {MAX_ENTRIES})"
            )
        direction = params.get("direction", "backward").lower()
        if direction not in ("forward", "backward"):
            raise LogQLError(f"invalid direction: {params['direction']}")
        with self.lock:
            entries = list(self.entries)
        kept: list[tuple[int, str, dict[str, str]]] = []
        for labels, stamp, line, metadata in entries:
            if not start <= stamp < end:
                continue
            if not all(_compare(op, labels.get(n, ""), v) for n, op, v in matchers):
                continue
            final = {**labels, **metadata}
            if self._passes(line, final, stages):
                kept.append((stamp, line, final))
        kept.sort(key=lambda entry: entry[0], reverse=direction == "backward")
        kept = kept[:limit]
        streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for stamp, line, labels in kept:
            streams.setdefault(tuple(sorted(labels.items())), []).append([str(stamp), line])
        result = [{"stream": dict(key), "values": values} for key, values in streams.items()]
        return {
            "status": "success",
            "data": {"resultType": "streams", "result": result, "stats": {}},
        }

    @staticmethod
    def _passes(line: str, labels: dict[str, str], stages: list[tuple[str, ...]]) -> bool:
        for stage in stages:
            if stage[0] == "line":
                op, text = stage[1], stage[2]
                if op == "|=" and text not in line:
                    return False
                if op == "!=" and text in line:
                    return False
                if op == "|~" and re.search(text, line) is None:
                    return False
                if op == "!~" and re.search(text, line) is not None:
                    return False
            elif stage[0] == "json":
                extracted = _json_labels(line)
                if extracted is None:
                    labels["__error__"] = "JSONParserErr"
                    continue
                for name, value in extracted.items():
                    labels[f"{name}_extracted" if name in labels else name] = value
            else:
                _, name, op, wanted = stage
                if not _compare(op, labels.get(name, ""), wanted):
                    return False
        return True


def _error(kind: str, reason: str, status: int) -> bytes:
    body = orjson.loads(_es_error(kind, reason, status))
    body["error"]["root_cause"] = [{"type": kind, "reason": reason}]
    return orjson.dumps(body)


class SearchError(ValueError):
    def __init__(self, kind: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.status = kind, reason, status


class ElasticsearchQueryReceiver(ElasticsearchReceiver):
    """An Elasticsearch receiver that also answers ``_search`` and point-in-time requests."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.searches: list[dict[str, Any]] = []
        self.pits: dict[str, list[tuple[str, int, dict[str, Any]]]] = {}
        self._pit_numbers = itertools.count(1)
        super().__init__(*args, **kwargs)

    def start(self) -> None:
        super().start()
        assert self._server is not None
        handler = self._server.RequestHandlerClass
        receiver = self
        handler.do_DELETE = lambda request: receiver._serve(request)  # type: ignore[attr-defined]

    def handle(self, request: _Handler, body: bytes) -> None:
        parts = urllib.parse.urlsplit(request.path)
        path, params = parts.path, dict(urllib.parse.parse_qsl(parts.query))
        try:
            if request.command == "DELETE" and path == "/_pit":
                answer = self._close_pit(body)
            elif request.command == "DELETE":
                raise SearchError("illegal_argument_exception", f"no handler for [{path}]", 405)
            elif path.endswith("/_pit"):
                answer = self._open_pit(path[1 : -len("/_pit")], params)
            elif path == "/_search" or path.endswith("/_search"):
                index = path[1 : -len("/_search")] if path != "/_search" else None
                answer = self._search(index, body)
            else:
                super().handle(request, body)
                return
        except SearchError as error:
            request.answer(
                error.status, _error(error.kind, error.reason, error.status), "application/json"
            )
            return
        request.answer(200, orjson.dumps(answer), "application/json")

    def _documents(self, pattern: str) -> list[tuple[str, int, dict[str, Any]]]:
        names = [name for name in urllib.parse.unquote(pattern).split(",") if name]
        with self.lock:
            indices = list(self.documents)
            out = []
            for name in names:
                matched = [i for i in indices if fnmatch.fnmatchcase(i, name)]
                if not matched and "*" not in name:
                    raise SearchError(
                        "index_not_found_exception", f"no such index [{name}]", status=404
                    )
                for index in matched:
                    out.extend((index, n, doc) for n, doc in enumerate(self.documents[index]))
        return out

    def _open_pit(self, pattern: str, params: dict[str, str]) -> dict[str, Any]:
        if "keep_alive" not in params:
            raise SearchError("action_request_validation_exception", "[keep_alive] is required")
        pit = base64.urlsafe_b64encode(f"pit-{next(self._pit_numbers)}".encode()).decode()
        self.pits[pit] = self._documents(pattern)
        return {"id": pit}

    def _close_pit(self, body: bytes) -> dict[str, Any]:
        request = orjson.loads(body) if body else {}
        freed = 1 if self.pits.pop(request.get("id"), None) is not None else 0
        return {"succeeded": True, "num_freed": freed}

    def _search(self, index: str | None, raw: bytes) -> dict[str, Any]:
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError as error:
            raise SearchError("parsing_exception", f"failed to parse search source: {error}")
        if not isinstance(body, dict):
            raise SearchError("parsing_exception", "request body must be an object")
        with self.lock:
            self.searches.append(body)
        pit = body.get("pit")
        if pit is not None:
            if index is not None:
                raise SearchError(
                    "illegal_argument_exception",
                    "[indices] cannot be used with point in time. Do not specify any index "
                    "with point in time.",
                )
            documents = self.pits.get(pit.get("id"))
            if documents is None:
                raise SearchError(
                    "search_context_missing_exception", "No search context found", 404
                )
        else:
            documents = self._documents(index or "*")
        size = body.get("size", 10)
        if not isinstance(size, int) or size < 0 or size + body.get("from", 0) > RESULT_WINDOW:
            raise SearchError(
                "illegal_argument_exception",
                f"Result window is too large, from + size must be less than or equal to: "
                f"[{RESULT_WINDOW}] but was [{size}].",
            )
        query = body.get("query", {"match_all": {}})
        sorts = self._sorts(body.get("sort"), pit is not None)
        hits = []
        for shard_doc, (name, number, doc) in enumerate(documents):
            flat = dict(_flatten(doc))
            if self._matches(query, flat):
                hits.append((self._sort_values(sorts, flat, shard_doc), name, number, doc))
        if sorts:
            hits.sort(key=lambda hit: hit[0])
        after = body.get("search_after")
        if after is not None:
            if not sorts or len(after) != len(sorts):
                raise SearchError(
                    "illegal_argument_exception",
                    f"search_after has {len(after)} value(s) but sort has {len(sorts)}.",
                )
            hits = [hit for hit in hits if hit[0] > list(after)]
        answer_hits = []
        for values, name, number, doc in hits[:size]:
            hit: dict[str, Any] = {
                "_index": name,
                "_id": f"{name}-{number}",
                "_score": None,
                "_source": self._source(doc, body.get("_source")),
            }
            if sorts:
                hit["sort"] = values
            answer_hits.append(hit)
        out: dict[str, Any] = {
            "took": 1,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"max_score": None, "hits": answer_hits},
        }
        if body.get("track_total_hits", True) is not False:
            out["hits"]["total"] = {"value": len(hits), "relation": "eq"}
        if pit is not None:
            out["pit_id"] = pit["id"]
        return out

    @staticmethod
    def _sorts(spec: Any, under_pit: bool) -> list[tuple[str, bool, Any]]:
        out = []
        for item in spec or ():
            if isinstance(item, str):
                field, options = item, {}
            else:
                ((field, options),) = item.items()
            if isinstance(options, str):
                options = {"order": options}
            if field == "_shard_doc" and not under_pit:
                raise SearchError(
                    "illegal_argument_exception",
                    "[_shard_doc] sort field cannot be used without [point in time]",
                )
            if field not in ("@timestamp", "_shard_doc", "_doc"):
                raise SearchError(
                    "illegal_argument_exception", f"this receiver cannot sort on [{field}]"
                )
            out.append((field, options.get("order", "asc") == "desc", options.get("unmapped_type")))
        return out

    @staticmethod
    def _sort_values(
        sorts: list[tuple[str, bool, Any]], flat: dict[str, Any], doc: int
    ) -> list[Any]:
        values: list[Any] = []
        for field, descending, _ in sorts:
            if field in ("_shard_doc", "_doc"):
                value: Any = doc
            else:
                seconds = parse_time(flat.get(field))
                # A date sorts in epoch milliseconds; a document without one sorts last.
                value = _MISSING if seconds is None else int(seconds * 1000)
            values.append(-value if descending else value)
        return values

    def _matches(self, query: Any, flat: dict[str, Any]) -> bool:
        if not isinstance(query, dict) or len(query) != 1:
            raise SearchError("parsing_exception", "[_na] query malformed, no start_object")
        ((kind, spec),) = query.items()
        if kind == "match_all":
            return True
        if kind == "bool":
            unknown = set(spec) - {"filter", "must", "should", "must_not", "minimum_should_match"}
            if unknown:
                raise SearchError("parsing_exception", f"[bool] query does not support [{unknown}]")

            def listed(key: str) -> list[Any]:
                value = spec.get(key, [])
                return value if isinstance(value, list) else [value]

            if not all(self._matches(q, flat) for q in listed("filter") + listed("must")):
                return False
            if any(self._matches(q, flat) for q in listed("must_not")):
                return False
            should = listed("should")
            default = 0 if listed("filter") or listed("must") else 1
            wanted = int(spec.get("minimum_should_match", default if should else 0))
            return sum(self._matches(q, flat) for q in should) >= wanted
        if kind in ("term", "prefix"):
            ((field, value),) = spec.items()
            if isinstance(value, dict):
                value = value.get("value")
            actual = flat.get(field)
            if kind == "term":
                return actual == value
            return isinstance(actual, str) and actual.startswith(str(value))
        if kind == "range":
            ((field, bounds),) = spec.items()
            actual = parse_time(flat.get(field))
            if actual is None:
                return False
            millis = actual * 1000

            def bound(key: str) -> float | None:
                value = bounds.get(key)
                if value is None:
                    return None
                if bounds.get("format") == "epoch_millis" or isinstance(value, (int, float)):
                    return float(value)
                seconds = parse_time(value)
                if seconds is None:
                    raise SearchError("parse_exception", f"failed to parse date field [{value}]")
                return seconds * 1000

            checks = (("gte", lambda a, b: a >= b), ("gt", lambda a, b: a > b))
            checks += (("lte", lambda a, b: a <= b), ("lt", lambda a, b: a < b))
            return all((limit := bound(key)) is None or test(millis, limit) for key, test in checks)
        raise SearchError("parsing_exception", f"unknown query [{kind}]")

    @staticmethod
    def _source(doc: dict[str, Any], spec: Any) -> dict[str, Any]:
        if spec is None or spec is True:
            return doc
        wanted = [spec] if isinstance(spec, str) else list(spec)
        out: dict[str, Any] = {}
        for key, value in doc.items():
            if any(w == key or w.startswith(key + ".") or key.startswith(w + ".") for w in wanted):
                out[key] = value
        return out
