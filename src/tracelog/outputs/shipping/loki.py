"""Push lines to Grafana Loki: ``POST /loki/api/v1/push``, JSON, gzip, in batches.

Each line becomes one entry ``[<ns timestamp>, <line>, {structured metadata}]``
in the stream named by its labels. Labels are few and low-cardinality: the
static ``labels`` plus the fields named in ``label_keys`` (by default
``service`` and ``level``). Trace and span ids are never labels (a stream per
trace would overwhelm Loki's index); they stay in the line, where
``| json | trace_id="..."`` finds them, and go in the entry's structured
metadata, where ``{service="shop"} | trace_id="..."`` finds them without
parsing. Entries are sorted by timestamp within each stream, as Loki asks.
"""

from __future__ import annotations

import gzip
import re
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from tracelog import _faults
from tracelog.outputs.shipping._batch import (
    Batching,
    Outcome,
    RetryableError,
    Shipper,
    split,
    take_renamed_value,
)
from tracelog.outputs.shipping._http import HttpClient, auth_header
from tracelog.outputs.shipping._line import field_paths, now_ns, parse_line
from tracelog.outputs.shipping._outcome import LOST

__all__ = ["Loki"]

PUSH_PATH = "/loki/api/v1/push"

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")
#: Fields that are unique per request or per event: never a label.
_HIGH_CARDINALITY = frozenset(
    ("trace_id", "span_id", "parent_span_id", "request_id", "timestamp", "message")
)
_FALLBACK_LABELS = {"job": "tracelog"}


def _label_name(key: str) -> str:
    name = _NOT_LABEL_CHAR.sub("_", key)
    return name if not name[:1].isdigit() else f"_{name}"


def _high_cardinality(key: str) -> bool:
    if key in _HIGH_CARDINALITY or _label_name(key) in _HIGH_CARDINALITY:
        return True
    paths = field_paths()
    ids = ("trace_id", "span_id", "timestamp")
    spelled = {".".join(path) for name in ids for path in paths[name]}
    return key in spelled


class Loki(Shipper):
    """An output that pushes JSON lines to Loki (see the module docstring).

    - ``url``: Loki's base URL (``http://loki:3100``); a full push URL works too.
    - ``labels``: static stream labels, e.g. ``{"env": "prod"}``.
    - ``label_keys``: fields of each line to use as labels (``"service"``,
      ``"level"``, ``"logger"`` or a top-level field such as ``"env"``); a
      dotted name becomes ``service_name``-style. Trace/span ids are refused.
    - ``tenant_id``: sent as ``X-Scope-OrgID`` (multi-tenant Loki, Grafana Cloud).
    - ``auth``: ``(user, password)`` for basic auth, or a bearer token string.
    - ``structured_metadata``: attach ``trace_id``/``span_id`` as structured
      metadata (Loki 2.9+ with it allowed, the default since 3.0).
    - ``batching=`` (or its fields as keywords): see :class:`tracelog.outputs.Batching`.
    """

    name = "loki"

    def __init__(
        self,
        url: str,
        labels: Mapping[str, str] | None = None,
        *,
        label_keys: Iterable[str] = ("service", "level"),
        tenant_id: str | None = None,
        auth: tuple[str, str] | str | None = None,
        headers: Mapping[str, str] | None = None,
        structured_metadata: bool = True,
        request_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        compresslevel: int = 5,
        level: int | str | None = None,
        schema: str | None = None,
        batching: Batching | None = None,
        **options: Any,
    ) -> None:
        timeout = take_renamed_value(options, "timeout", "request_timeout", request_timeout, "Loki")
        static = dict(labels or {})
        for name, value in static.items():
            if not isinstance(name, str) or not _LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(
                    f"Loki label name {name!r} must match [a-zA-Z_][a-zA-Z0-9_]* "
                    "and not start with '__'"
                )
            if not isinstance(value, str):
                raise ValueError(f"Loki label {name}={value!r} must be a string")
            if _high_cardinality(name):
                raise ValueError(f"Loki label {name!r} would make one stream per event or trace")
        keys = tuple(label_keys)
        for key in keys:
            if _label_name(key).startswith("__"):
                raise ValueError(f"label_keys: {key!r} names a label reserved by Loki ('__')")
            if _high_cardinality(key):
                raise ValueError(
                    f"label_keys: {key!r} would make one stream per event or trace; "
                    "trace ids stay in the line and in structured metadata"
                )
        if url.rstrip("/").endswith(PUSH_PATH):
            url = url.rstrip("/")[: -len(PUSH_PATH)]
        request_headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": "tracelog",
        }
        if tenant_id:
            request_headers["X-Scope-OrgID"] = tenant_id
        authorization = auth_header(auth, "Bearer")
        if authorization:
            request_headers["Authorization"] = authorization
        request_headers.update(headers or {})
        self._client = HttpClient(url, timeout=timeout, ssl_context=ssl_context)
        self._headers = request_headers
        self.labels = static
        self.label_keys = keys
        self._label_names = tuple(_label_name(key) for key in keys)
        self.structured_metadata = structured_metadata
        self.compresslevel = compresslevel
        super().__init__(
            level=level,
            schema=schema,
            batching=batching,
            **options,
        )

    def _labels_of(self, fields: Any) -> tuple[tuple[str, str], ...]:
        labels = dict(self.labels)
        document = fields.document or {}
        for key, name in zip(self.label_keys, self._label_names, strict=True):
            value = getattr(fields, key, None) if key in ("service", "level", "logger") else None
            if value is None:
                value = document.get(key)
            if value is None or isinstance(value, (dict, list)) or value == "":
                continue
            labels[name] = value if isinstance(value, str) else str(value)
        return tuple(sorted((labels or _FALLBACK_LABELS).items()))

    def body(self, lines: list[bytes]) -> bytes:
        """The JSON push request for ``lines`` (uncompressed), entries sorted per stream."""
        streams: dict[tuple[tuple[str, str], ...], list[tuple[int, list[Any]]]] = {}
        for raw in lines:
            line = raw.rstrip(b"\r\n")
            fields = parse_line(line)
            stamp = fields.timestamp if fields.timestamp is not None else now_ns()
            entry: list[Any] = [str(stamp), line.decode("utf-8", "replace")]
            if self.structured_metadata:
                metadata = {}
                if fields.trace_id:
                    metadata["trace_id"] = fields.trace_id
                if fields.span_id:
                    metadata["span_id"] = fields.span_id
                if metadata:
                    entry.append(metadata)
            streams.setdefault(self._labels_of(fields), []).append((stamp, entry))
        payload = {
            "streams": [
                {
                    "stream": dict(labels),
                    "values": [entry for _, entry in sorted(entries, key=lambda item: item[0])],
                }
                for labels, entries in streams.items()
            ]
        }
        return orjson.dumps(payload)

    def _ship(self, lines: list[bytes]) -> Outcome:
        data = gzip.compress(self.body(lines), compresslevel=self.compresslevel, mtime=0)
        response = self._client.post(PUSH_PATH, data, self._headers)
        if 200 <= response.status < 300:
            return Outcome(shipped=len(lines))
        if response.status == 413 and len(lines) > 1:  # over the server's body limit: halve
            return split(self._ship, lines)
        if response.status == 429 or response.status >= 500:
            raise RetryableError(f"Loki answered HTTP {response.status}", response.retry_after)
        detail = response.body[:300].decode("utf-8", "replace").strip()
        _faults.report(
            LOST,
            f"loki: HTTP {response.status}, {len(lines)} line(s) dropped: {detail}",
        )
        return Outcome(failed=len(lines))

    def _release(self) -> None:
        self._client.close()

    def _forked(self) -> None:
        self._client.forget()
