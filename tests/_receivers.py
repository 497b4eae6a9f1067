"""Strict local receivers for the shippers' tests: Loki push, Elasticsearch bulk, a real rsyslog.

The HTTP receivers implement the documented APIs strictly (wrong content
types, encodings, malformed bodies, bad label names, non-string timestamps,
out-of-order entries and mapping conflicts are refused the way the real
servers refuse them) and can simulate trouble: an outage (the port closes,
open connections are cut), slow answers, 429 with Retry-After, 5xx, and
per-item bulk failures. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

LOKI_PUSH = "/loki/api/v1/push"
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
DEADLINE = 30.0  # no wait in these helpers lasts longer


def wait_until(condition: Any, timeout: float = DEADLINE, interval: float = 0.02) -> bool:
    """Poll ``condition`` until true or ``timeout``; bounded in time and count."""
    end = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    receiver: HttpReceiver

    def setup(self) -> None:
        super().setup()
        self.receiver._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.receiver._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.receiver._serve(self)

    def do_GET(self) -> None:
        self.answer(405, b"method not allowed\n")

    do_PUT = do_DELETE = do_GET

    def answer(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        if getattr(self, "lose_answer", False):  # done, but the client never hears of it
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(status)
        if body or status != 204:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204:
            self.wfile.write(body)


class HttpReceiver:
    """A ThreadingHTTPServer on 127.0.0.1 that can be stopped and restarted on the same port."""

    def __init__(self, expect_headers: dict[str, str] | None = None) -> None:
        self.expect_headers = {k.lower(): v for k, v in (expect_headers or {}).items()}
        self.lock = threading.Lock()
        self.port = 0
        self.requests = 0
        self.rejections: list[tuple[int, str]] = []
        self.delay = 0.0
        self._faults: list[tuple[int, float | None]] = []
        self._lost_answers = 0
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"receiver": self})
        deadline = time.monotonic() + 10
        while True:
            try:
                server = _Server(("127.0.0.1", self.port), handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """An outage: stop listening and cut every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self.lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)

    close = stop

    def __enter__(self) -> HttpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """The next ``times`` requests get ``status`` (with Retry-After if given)."""
        with self.lock:
            self._faults.extend([(status, retry_after)] * times)

    def lose_answers(self, times: int = 1) -> None:
        """Carry out the next ``times`` requests but cut the connection instead of answering."""
        with self.lock:
            self._lost_answers += times

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self.lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _serve(self, request: _Handler) -> None:
        length = request.headers.get("Content-Length")
        if length is None or not length.isdigit():
            request.answer(411, b"Content-Length required\n")
            return
        body = request.rfile.read(int(length))
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.requests += 1
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            status, retry_after = fault
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            request.answer(status, b"simulated failure\n", headers=headers)
            return
        for name, value in self.expect_headers.items():
            if request.headers.get(name) != value:
                self._reject(request, 401, f"missing or wrong {name} header")
                return
        with self.lock:
            request.lose_answer = self._lost_answers > 0  # type: ignore[attr-defined]
            self._lost_answers -= 1 if self._lost_answers else 0
        self.handle(request, body)

    def _reject(
        self, request: _Handler, status: int, reason: str, content_type: str = "text/plain"
    ) -> None:
        with self.lock:
            self.rejections.append((status, reason))
        body = reason.encode() + b"\n" if content_type == "text/plain" else reason.encode()
        request.answer(status, body, content_type)

    def _decoded(self, request: _Handler, body: bytes) -> bytes | None:
        encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding != "gzip":
            self._reject(request, 415, f"unsupported Content-Encoding {encoding!r}")
            return None
        try:
            return gzip.decompress(body)
        except (OSError, EOFError) as error:
            self._reject(request, 400, f"gzip: {error}")
            return None

    def handle(self, request: _Handler, body: bytes) -> None:
        raise NotImplementedError


class LokiReceiver(HttpReceiver):
    """``POST /loki/api/v1/push`` with a JSON body, as Loki documents it.

    ``window_ns``: an entry older than the newest accepted entry of its stream
    by more than this is refused (Loki: ``max_chunk_age / 2``, one hour by
    default; 0 behaves like ``unordered_writes: false``). Valid entries of a
    request are kept even when others are refused; the answer is then 400.
    """

    def __init__(
        self, window_ns: int = 3600 * 10**9, expect_headers: dict[str, str] | None = None
    ) -> None:
        self.window_ns = window_ns
        self.entries: list[tuple[dict[str, str], int, str, dict[str, str]]] = []
        self._newest: dict[tuple[tuple[str, str], ...], int] = {}
        super().__init__(expect_headers)

    def lines(self) -> list[str]:
        with self.lock:
            return [line for _, _, line, _ in self.entries]

    def documents(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines()]

    def handle(self, request: _Handler, body: bytes) -> None:
        if request.path != LOKI_PUSH:
            self._reject(request, 404, f"404 page not found: {request.path}")
            return
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            self._reject(request, 415, f"unsupported Content-Type {content_type!r}")
            return
        data = self._decoded(request, body)
        if data is None:
            return
        try:
            streams = self._validate(orjson.loads(data))
        except (orjson.JSONDecodeError, ValueError) as error:
            self._reject(request, 400, f"loghttp.PushRequest: {error}")
            return
        refused: list[str] = []
        with self.lock:
            for labels, values in streams:
                key = tuple(sorted(labels.items()))
                for stamp, line, metadata in values:
                    newest = self._newest.get(key)
                    if newest is not None and stamp < newest - self.window_ns:
                        refused.append(
                            f"entry with timestamp {stamp} ignored, reason: 'entry too far "
                            f"behind, oldest acceptable timestamp is: {newest - self.window_ns}'"
                            f" for stream: {key}"
                        )
                        continue
                    self._newest[key] = max(stamp, newest or stamp)
                    self.entries.append((labels, stamp, line, metadata))
        if refused:
            self._reject(request, 400, ",\n".join(refused))
            return
        request.answer(204)

    @staticmethod
    def _validate(
        payload: Any,
    ) -> list[tuple[dict[str, str], list[tuple[int, str, dict[str, str]]]]]:
        if not isinstance(payload, dict) or set(payload) != {"streams"}:
            raise ValueError("body must be an object with exactly the key 'streams'")
        streams = payload["streams"]
        if not isinstance(streams, list) or not streams:
            raise ValueError("'streams' must be a non-empty array")
        out = []
        for stream in streams:
            if not isinstance(stream, dict) or set(stream) != {"stream", "values"}:
                raise ValueError("each stream must have exactly 'stream' and 'values'")
            labels = stream["stream"]
            if not isinstance(labels, dict) or not labels:
                raise ValueError("error at least one label pair is required per stream")
            for name, value in labels.items():
                if not LABEL_NAME.match(name) or name.startswith("__"):
                    raise ValueError(f"invalid label name {name!r}")
                if not isinstance(value, str):
                    raise ValueError(f"label {name} has a non-string value {value!r}")
            values = stream["values"]
            if not isinstance(values, list) or not values:
                raise ValueError("'values' must be a non-empty array")
            entries = []
            for entry in values:
                if not isinstance(entry, list) or len(entry) not in (2, 3):
                    raise ValueError("each value must be [timestamp, line] or with metadata")
                stamp, line = entry[0], entry[1]
                if not isinstance(stamp, str):
                    raise ValueError(f"timestamp {stamp!r} must be a string of nanoseconds")
                if not stamp.isdigit() or not stamp.isascii():
                    raise ValueError(f"timestamp {stamp!r} is not a number of nanoseconds")
                if not isinstance(line, str):
                    raise ValueError("log line must be a string")
                metadata: dict[str, str] = {}
                if len(entry) == 3:
                    metadata = entry[2]
                    if not isinstance(metadata, dict) or not all(
                        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
                    ):
                        raise ValueError("structured metadata must map strings to strings")
                entries.append((int(stamp), line, metadata))
            out.append((labels, entries))
        return out


_DATA_STREAM = re.compile(r"logs-[^-]+-[^-]+\Z")
_ES_TYPES = {bool: "boolean", int: "long", float: "float", str: "keyword"}


_ECS_TEXT = frozenset(("keyword", "constant_keyword", "wildcard", "match_only_text", "text", "ip"))
_ECS_INTS = frozenset(("long", "integer", "short", "byte", "unsigned_long"))
_ECS_FLOATS = frozenset(("float", "double", "half_float", "scaled_float"))
_ECS_OBJECTS = frozenset(("object", "nested", "flattened"))


def ecs_catalogue() -> dict[str, str]:
    """ECS field -> type, from the field reference (tests/data/ecs-fields.csv)."""
    global _CATALOGUE
    if _CATALOGUE is None:
        text = (Path(__file__).parent / "data" / "ecs-fields.csv").read_text("utf-8")
        rows = (line.split(",", 1) for line in text.splitlines() if not line.startswith("#"))
        _CATALOGUE = dict(rows)  # type: ignore[arg-type]
    return _CATALOGUE


_CATALOGUE: dict[str, str] | None = None


def _leaf_events(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) for every leaf; (path, {}) marks an object; arrays are flattened."""
    if isinstance(value, dict):
        yield path, {}
        for key, child in value.items():
            yield from _leaf_events(child, (*path, *str(key).split(".")))
    elif isinstance(value, list):
        for item in value:
            yield from _leaf_events(item, path)
    else:
        yield path, value


def es_refusal(document: dict[str, Any], ecs: bool = False) -> str | None:
    """Why Elasticsearch would refuse ``document`` (None: it indexes it).

    Always: a field name with an empty or blank part, a field that is both an
    object and a value, values of one field that one dynamic mapping cannot
    hold. With ``ecs``: ``message`` not a string, an ECS field whose value is not
    of the catalogue's type (or an object where ECS has a value, or the reverse),
    and ``labels`` that are not flat keyword pairs.
    """
    kinds: dict[tuple[str, ...], str] = {}
    catalogue = ecs_catalogue() if ecs else {}
    for path, value in _leaf_events(document, ()):
        if not path:
            continue
        if any(not part.strip() for part in path):
            return f"field name cannot be empty or blank: [{'.'.join(path)}]"
        for cut in range(1, len(path)):
            if kinds.setdefault(path[:cut], "object") != "object":
                return f"[{'.'.join(path[:cut])}] is a value and an object"
        name = ".".join(path)
        if value == {}:
            if kinds.setdefault(path, "object") != "object":
                return f"[{name}] is a value and an object"
            if ecs and catalogue.get(name, "object") not in _ECS_OBJECTS:
                return f"[{name}] is an ECS {catalogue[name]}, found an object"
            continue
        if value is None:
            continue
        first = kinds.setdefault(path, _ES_TYPES.get(type(value), "keyword"))
        if first == "object":
            return f"[{name}] is an object and a value"
        problem = _mapping_conflict({name: first}, {name: value})
        if problem is not None:
            return problem
        if ecs:
            kind = catalogue.get(name)
            for cut in range(1, len(path)):
                parent = catalogue.get(".".join(path[:cut]))
                if parent is not None and parent not in _ECS_OBJECTS:
                    return f"[{name}] is inside the ECS {parent} field [{'.'.join(path[:cut])}]"
            if kind is not None and not _fits_ecs(kind, value):
                return f"[{name}]={value!r} is not an ECS {kind}"
            if path[0] == "labels" and (len(path) != 2 or not isinstance(value, str)):
                return f"[{name}]={value!r}: labels are flat keyword pairs"
    if ecs and document.get("message") is not None and not isinstance(document["message"], str):
        return f"message is text, found {type(document['message']).__name__}"
    return None


def _fits_ecs(kind: str, value: Any) -> bool:
    if kind in _ECS_TEXT or kind == "date":
        return isinstance(value, str)
    if kind in _ECS_INTS:
        return type(value) is int and -(2**63) <= value < 2**64
    if kind in _ECS_FLOATS:
        return type(value) in (int, float)
    if kind == "boolean":
        return type(value) is bool
    if kind in _ECS_OBJECTS:
        return False  # a value where ECS has an object
    return True


def otel_refusal(line: dict[str, Any]) -> str | None:
    """Why a line in the ``otel`` layout breaks the OpenTelemetry log data model (None: it
    does not): attribute values are primitives or homogeneous arrays of primitives."""

    def primitive(value: Any) -> str | None:
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "int" if -(2**63) <= value < 2**63 else None
        if isinstance(value, float):
            return "double"
        return "string" if isinstance(value, str) else None

    for where in ("attributes", "resource"):
        attributes = line.get(where, {})
        if not isinstance(attributes, dict):
            return f"{where} is not a map"
        for key, value in attributes.items():
            if not isinstance(key, str) or not key:
                return f"{where}: {key!r} is not an attribute name"
            if value is None:
                continue  # an empty value
            if isinstance(value, list):
                types = {primitive(item) for item in value if item is not None}
                if None in types or len(types) > 1:
                    return f"{where}[{key!r}]={value!r} is not an array of one primitive type"
            elif primitive(value) is None:
                return f"{where}[{key!r}]={value!r} is not a primitive"
    if not isinstance(line.get("severity_number", 0), int):
        return "severity_number is not an int"
    scope = line.get("instrumentation_scope", {"name": ""})
    if not isinstance(scope, dict) or not isinstance(scope.get("name"), str):
        return "instrumentation_scope.name is not a string"
    service = line.get("resource", {}).get("service.name", "")
    if service is not None and not isinstance(service, str):
        return "service.name is not a string"
    return None


def _es_error(kind: str, reason: str, status: int) -> bytes:
    return orjson.dumps({"error": {"type": kind, "reason": reason}, "status": status})


class ElasticsearchReceiver(HttpReceiver):
    """``POST /_bulk`` (and ``/<index>/_bulk``) with an NDJSON body, as Elasticsearch documents it.

    Indices named like ``logs-<dataset>-<namespace>`` behave as data streams
    (``create`` only, ``@timestamp`` required). Each index has a dynamic
    mapping fixed by the first value of each field; a later document whose
    value does not fit is refused with 400 ``document_parsing_exception``
    while the rest of the request is indexed. ``reject_items(n, 429)`` makes
    the next ``n`` items fail with ``es_rejected_execution_exception``.
    """

    def __init__(
        self,
        mappings: dict[str, str] | None = None,
        expect_headers: dict[str, str] | None = None,
        strict_ecs: bool = False,
    ) -> None:
        self.strict_ecs = strict_ecs  # also refuse what breaks ECS (see es_refusal)
        self.documents: dict[str, list[dict[str, Any]]] = {}
        self.preset = dict(mappings or {})
        self.mappings: dict[str, dict[str, str]] = {}
        self.ids: dict[str, set[str]] = {}
        self._item_faults: list[int] = []
        super().__init__(expect_headers)

    def reject_items(self, count: int, status: int = 429) -> None:
        with self.lock:
            self._item_faults.extend([status] * count)

    def all_documents(self) -> list[dict[str, Any]]:
        with self.lock:
            return [doc for docs in self.documents.values() for doc in docs]

    def handle(self, request: _Handler, body: bytes) -> None:
        match = re.fullmatch(r"(?:/([^/_][^/]*))?/_bulk(?:\?.*)?", request.path)
        if match is None:
            self._reject(request, 404, f"no handler found for uri [{request.path}]")
            return
        default_index = match.group(1)
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in ("application/x-ndjson", "application/json"):
            reason = f"Content-Type header [{content_type}] is not supported"
            self._reject(
                request,
                406,
                _es_error("media_type_header_exception", reason, 406).decode(),
                "application/json",
            )
            return
        data = self._decoded(request, body)
        if data is None:
            return
        try:
            operations = self._parse(data, default_index)
        except ValueError as error:
            reason = _es_error("illegal_argument_exception", str(error), 400).decode()
            self._reject(request, 400, reason, "application/json")
            return
        items = []
        with self.lock:
            for op, index, source, doc_id in operations:
                items.append({op: self._index_one(op, index, source, doc_id)})
        errors = any("error" in next(iter(item.values())) for item in items)
        answer = orjson.dumps({"took": 1, "errors": errors, "items": items})
        request.answer(200, answer, "application/json")

    @staticmethod
    def _parse(data: bytes, default_index: str | None) -> list[tuple[str, str, Any, Any]]:
        if not data:
            raise ValueError("request body is required")
        if not data.endswith(b"\n"):
            raise ValueError("The bulk request must be terminated by a newline [\\n]")
        lines = data[:-1].split(b"\n")
        operations = []
        position = 0
        while position < len(lines):
            try:
                action = orjson.loads(lines[position])
            except orjson.JSONDecodeError as error:
                raise ValueError(
                    f"Malformed action/metadata line [{position + 1}]: {error}"
                ) from None
            if not isinstance(action, dict) or len(action) != 1:
                raise ValueError(
                    f"Malformed action/metadata line [{position + 1}], expected a single key"
                )
            op, meta = next(iter(action.items()))
            if op not in ("index", "create", "update", "delete") or not isinstance(meta, dict):
                raise ValueError(
                    f"Malformed action/metadata line [{position + 1}], unknown action [{op}]"
                )
            index = meta.get("_index", default_index)
            if not isinstance(index, str) or not index:
                raise ValueError("Validation Failed: 1: index is missing;")
            position += 1
            source = None
            if op != "delete":
                if position >= len(lines) or not lines[position].strip():
                    raise ValueError(
                        f"The bulk request must have a source line after line [{position}]"
                    )
                try:
                    source = orjson.loads(lines[position])
                except orjson.JSONDecodeError as error:
                    raise ValueError(
                        f"failed to parse source line [{position + 1}]: {error}"
                    ) from None
                if not isinstance(source, dict):
                    raise ValueError(f"source line [{position + 1}] is not a JSON object")
                position += 1
            operations.append((op, index, source, meta.get("_id")))
        return operations

    def _index_one(self, op: str, index: str, source: Any, doc_id: Any = None) -> dict[str, Any]:
        if doc_id is not None and not isinstance(doc_id, str):
            doc_id = None
        base = {"_index": index, "_id": doc_id or uuid.uuid4().hex[:20]}
        if self._item_faults:
            status = self._item_faults.pop(0)
            return {
                **base,
                "status": status,
                "error": {
                    "type": "es_rejected_execution_exception",
                    "reason": "rejected execution (simulated)",
                },
            }
        is_stream = bool(_DATA_STREAM.match(index))
        if is_stream and op != "create":
            return self._item_error(
                base,
                "illegal_argument_exception",
                "only write ops with an op_type of create are allowed in data streams",
            )
        if op in ("update", "delete"):
            return self._item_error(base, "document_missing_exception", "document missing", 404)
        refusal = es_refusal(source, self.strict_ecs)
        if refusal is not None:
            return self._item_error(base, "document_parsing_exception", refusal)
        fields = dict(_flatten(source))
        if is_stream and "@timestamp" not in fields:
            return self._item_error(
                base,
                "illegal_argument_exception",
                "data stream timestamp field [@timestamp] is missing",
            )
        ids = self.ids.setdefault(index, set())
        if doc_id is not None and doc_id in ids:
            reason = f"[{doc_id}]: version conflict, document already exists"
            return self._item_error(base, "version_conflict_engine_exception", reason, 409)
        mapping = self.mappings.setdefault(index, {"@timestamp": "date", **self.preset})
        problem = _mapping_conflict(mapping, fields)
        if problem is not None:
            return self._item_error(base, "document_parsing_exception", problem)
        for path, value in fields.items():
            if path not in mapping and value is not None:
                mapping[path] = "object" if value == {} else _ES_TYPES.get(type(value), "keyword")
        for path in fields:
            parts = path.split(".")
            for cut in range(1, len(parts)):
                mapping.setdefault(".".join(parts[:cut]), "object")
        self.documents.setdefault(index, []).append(source)
        ids.add(base["_id"])
        backing = f".ds-{index}-000001" if is_stream else index
        return {
            **base,
            "_index": backing,
            "_version": 1,
            "result": "created",
            "status": 201,
            "_seq_no": 0,
            "_primary_term": 1,
        }

    @staticmethod
    def _item_error(
        base: dict[str, Any], kind: str, reason: str, status: int = 400
    ) -> dict[str, Any]:
        return {**base, "status": status, "error": {"type": kind, "reason": reason}}


def _flatten(document: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted paths to leaf values; ``{"a.b": 1}`` and ``{"a": {"b": 1}}`` are the same field."""
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, path + ".")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from _flatten(item, path + ".")
                else:
                    yield path, item
        else:
            yield path, value


def _mapping_conflict(mapping: dict[str, str], fields: dict[str, Any]) -> str | None:
    for path, value in fields.items():
        kind = mapping.get(path)
        if kind is None or value is None:
            parts = path.split(".")
            for cut in range(1, len(parts)):
                parent = ".".join(parts[:cut])
                if mapping.get(parent) not in (None, "object"):
                    kind = mapping[parent]
                    return f"failed to parse field [{parent}] of type [{kind}]: found an object"
            continue
        if kind == "object":
            return (
                f"object mapping for [{path}] tried to parse field [{path}] as object, "
                "but found a concrete value"
            )
        if kind == "long" and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
            if not (isinstance(value, str) and value.lstrip("-").isdigit()):
                return f'failed to parse field [{path}] of type [long]: For input string: "{value}"'
        if kind == "float" and not isinstance(value, (int, float)):
            return f"failed to parse field [{path}] of type [float]"
        if kind == "boolean" and not isinstance(value, bool) and value not in ("true", "false"):
            return f"failed to parse field [{path}] of type [boolean]"
        if kind == "date" and not (isinstance(value, (str, int)) and str(value)[:4].isdigit()):
            return f"failed to parse field [{path}] of type [date]"
    return None


# -- a real rsyslog ---------------------------------------------------------------------------

RSYSLOGD = shutil.which("rsyslogd") or (
    "/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None
)

_FIELDS = (
    "pri",
    "version",
    "timestamp",
    "hostname",
    "app",
    "procid",
    "msgid",
    "sd",
    "input",
    "msg",
)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Rsyslog:
    """rsyslogd with its own configuration: UDP, TCP and a unix socket in, one file out.

    Each received message is written as tab-separated RFC 5424 fields as
    rsyslog parsed them (PRI, version, timestamp, hostname, APP-NAME, PROCID,
    MSGID, structured data, input module, MSG).
    """

    def __init__(self, directory: Path, tcp_port: int | None = None) -> None:
        assert RSYSLOGD is not None
        self.directory = directory
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.tcp_port = tcp_port or free_port()
        self.socket_path = str(directory / "log.sock")
        self.output = directory / "received.tsv"
        (directory / "work").mkdir()
        config = directory / "rsyslog.conf"
        config.write_text(
            f"""
global(workDirectory="{directory / "work"}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
input(type="imudp" address="127.0.0.1" port="{self.udp_port}")
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}")
input(type="imuxsock" Socket="{self.socket_path}"
      UseSpecialParser="off" ParseHostname="on" IgnoreTimestamp="off")
template(name="fields" type="string"
  string="%pri%\\t%protocol-version%\\t%timereported:::date-rfc3339%\\t%hostname%\\t%app-name%\\t%procid%\\t%msgid%\\t%structured-data%\\t%inputname%\\t%msg%\\n")
*.* action(type="omfile" file="{self.output}" template="fields")
"""
        )
        self.log = open(directory / "rsyslogd.stderr", "wb")
        self.process = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(config), "-i", str(directory / "rsyslogd.pid")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        probe = f"<14>1 - - probe - - - ready-{uuid.uuid4().hex}".encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:

            def ready() -> bool:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"rsyslogd exited: {(self.directory / 'rsyslogd.stderr').read_text()}"
                    )
                udp.sendto(probe, ("127.0.0.1", self.udp_port))
                return self.output.exists() and probe[-32:] in self.output.read_bytes()

            if not wait_until(ready, timeout=20, interval=0.1):
                raise RuntimeError("rsyslogd did not start receiving within 20 s")
        ok = wait_until(lambda: os.path.exists(self.socket_path), timeout=10)
        tcp_ok = wait_until(self._tcp_listening, timeout=10)
        if not (ok and tcp_ok):
            raise RuntimeError("rsyslogd did not open its TCP port and unix socket")

    def _tcp_listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.tcp_port), timeout=1).close()
            return True
        except OSError:
            return False

    def messages(self, app: str | None = None) -> list[dict[str, str]]:
        if not self.output.exists():
            return []
        rows = []
        for raw in self.output.read_text("utf-8", "replace").splitlines():
            row = dict(zip(_FIELDS, raw.split("\t", len(_FIELDS) - 1)))
            if row.get("app") == "probe" or (app is not None and row.get("app") != app):
                continue
            rows.append(row)
        return rows

    def stop(self) -> None:
        if self.log.closed:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


# -- lines as tracelog renders them ------------------------------------------------------------


def tracelog_lines(
    count: int, schema: str = "default", service: str = "shop", prefix: str = "event"
) -> list[bytes]:
    """``count`` real lines from tracelog's pipeline, each in its own trace, messages numbered."""
    import io

    import tracelog

    buffer = io.BytesIO()
    tracelog.configure(stream=buffer, service=service, schema=schema)
    try:
        log = tracelog.get_logger("shop.orders")
        for number in range(count):
            with tracelog.trace():
                log.info(f"{prefix} {number}", number=number)
    finally:
        tracelog.reset()
    return buffer.getvalue().splitlines(keepends=True)


def numbers(documents: list[dict[str, Any]]) -> list[int]:
    return [int(doc["number"]) for doc in documents]
