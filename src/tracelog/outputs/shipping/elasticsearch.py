"""Index lines into Elasticsearch: ``POST /_bulk`` NDJSON with ``create`` actions, in batches.

``create`` is the one action a data stream accepts (``logs-<dataset>-<namespace>``,
the Elastic naming scheme), and it works for plain indices too. Documents are
the lines themselves, in the ``ecs`` schema by default; a document without
``@timestamp`` (another schema) gets one from its own timestamp, since a data
stream refuses documents without it.

Each document has an ``_id`` made from its bytes and its position in this
shipper's stream (with a random key per process), fixed when it is first sent:
a bulk request that the cluster carried out but whose answer was lost (a 500
after commit, a dropped connection) is sent again with the same ids, and the
cluster answers ``409`` for what it already has, which counts as shipped. Two
identical lines are still two documents.

The bulk answer is read item by item: an item refused with 429 (or a 5xx) is
sent again promptly, with the next attempt; an item refused for good (a mapping
conflict, ``mapper_parsing_exception``/``document_parsing_exception``) is
reported on stderr and counted as failed, and the rest of the batch is kept.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import re
import ssl
import time
from collections.abc import Mapping
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
from tracelog.outputs.shipping._line import now_ns, parse_line
from tracelog.outputs.shipping._outcome import LOST

__all__ = ["Elasticsearch"]

BULK_PATH = "/_bulk"
_DATASET_UNSAFE = re.compile(r"[^a-z0-9_.]+")


def dataset_index(service: str | None) -> str:
    """``logs-<service>-default``: the Elastic data stream naming scheme for one service."""
    dataset = _DATASET_UNSAFE.sub("_", (service or "").lower()).strip("_.") or "generic"
    return f"logs-{dataset[:100]}-default"


def _api_key_header(api_key: str | tuple[str, str]) -> str:
    if isinstance(api_key, tuple):
        api_key = base64.b64encode(f"{api_key[0]}:{api_key[1]}".encode()).decode("ascii")
    return f"ApiKey {api_key}"


class Elasticsearch(Shipper):
    """An output that bulk-indexes JSON lines into Elasticsearch (see the module docstring).

    - ``url``: the cluster's URL (``http://es:9200``); a path prefix is kept.
    - ``index``: a data stream or index name; by default
      ``logs-<service>-default`` from each line's service.
    - ``auth``: ``(user, password)`` for basic auth; ``api_key``: the encoded
      key, or ``(id, api_key)``, sent as ``Authorization: ApiKey ...``.
    - ``pipeline``: an ingest pipeline to run on every document.
    - ``compress``: gzip request bodies.
    - ``idempotent``: give each document an ``_id`` from its bytes and its
      position in the stream, so that a request retried after a timeout (which
      the cluster may have carried out) cannot index a line twice; a ``409``
      for such a document means it is already there and counts as shipped.
    - ``batching=`` (or its fields as keywords): see :class:`tracelog.outputs.Batching`.
    """

    name = "elasticsearch"

    def __init__(
        self,
        url: str,
        index: str | None = None,
        *,
        auth: tuple[str, str] | None = None,
        api_key: str | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        pipeline: str | None = None,
        compress: bool = False,
        idempotent: bool = True,
        request_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        level: int | str | None = None,
        schema: str | None = "ecs",
        batching: Batching | None = None,
        **options: Any,
    ) -> None:
        timeout = take_renamed_value(
            options, "timeout", "request_timeout", request_timeout, "Elasticsearch"
        )
        if index is not None and (not index or index != index.lower() or index[0] in "-_+."):
            raise ValueError(
                f"index={index!r} must be lowercase and not start with '-', '_', '+' or '.'"
            )
        if auth is not None and api_key is not None:
            raise ValueError("give auth= or api_key=, not both")
        request_headers = {"Content-Type": "application/x-ndjson", "User-Agent": "tracelog"}
        if compress:
            request_headers["Content-Encoding"] = "gzip"
        authorization = (
            _api_key_header(api_key) if api_key is not None else auth_header(auth, "Bearer")
        )
        if authorization:
            request_headers["Authorization"] = authorization
        request_headers.update(headers or {})
        self._client = HttpClient(url, timeout=timeout, ssl_context=ssl_context)
        self._headers = request_headers
        self._path = BULK_PATH + (f"?pipeline={pipeline}" if pipeline else "")
        self.index = index
        self.compress = compress
        self.idempotent = idempotent
        self._actions: dict[str, bytes] = {}
        self._key = os.urandom(16)
        self._position = 0
        super().__init__(
            level=level,
            schema=schema,
            batching=batching,
            **options,
        )

    def _action(self, index: str, line: bytes) -> bytes:
        prefix = self._actions.get(index)
        if prefix is None:
            prefix = b'{"create":{"_index":' + orjson.dumps(index)
            if len(self._actions) < 1000:
                self._actions[index] = prefix
        if not isinstance(line, Numbered):
            return prefix + b"}}\n"
        return prefix + b',"_id":"' + line.doc_id + b'"}}\n'

    def _number(self, lines: list[bytes]) -> None:
        """Give each line not sent before its ``_id``, in place, so every retry reuses it."""
        for i, line in enumerate(lines):
            if type(line) is not Numbered:
                position = self._position.to_bytes(8, "big")
                self._position += 1
                digest = hashlib.blake2b(line, digest_size=15, key=self._key, salt=position)
                lines[i] = Numbered(line, base64.urlsafe_b64encode(digest.digest()))

    def _document(self, line: bytes) -> tuple[str, bytes]:
        fields = parse_line(line)
        document = fields.document
        index = self.index or dataset_index(fields.service)
        if document is None:  # not a JSON object: keep the text as the message
            text = line.decode("utf-8", "replace")
            return index, orjson.dumps({"@timestamp": _rfc3339(now_ns()), "message": text})
        if not _is_utf8(line):  # parsed with the bad bytes replaced: send it as parsed
            line = orjson.dumps(document)
        if "@timestamp" not in document and line.startswith(b"{"):
            nanos = fields.timestamp if fields.timestamp is not None else now_ns()
            rest = line[1:].lstrip()
            sep = b"" if rest.startswith(b"}") else b","
            return index, b'{"@timestamp":"' + _rfc3339(nanos).encode() + b'"' + sep + rest
        return index, line

    def body(self, lines: list[bytes]) -> bytes:
        """The NDJSON bulk request for ``lines`` (uncompressed), ending with a newline."""
        if self.idempotent and not all(type(line) is Numbered for line in lines):
            lines = list(lines)
            self._number(lines)
        parts: list[bytes] = []
        for raw in lines:
            index, document = self._document(raw.rstrip(b"\r\n"))
            parts.append(self._action(index, raw))
            parts.append(document)
            parts.append(b"\n")
        return b"".join(parts)

    def _ship(self, lines: list[bytes]) -> Outcome:
        if self.idempotent:
            self._number(lines)
        data = self.body(lines)
        if self.compress:
            data = gzip.compress(data, compresslevel=5, mtime=0)
        response = self._client.post(self._path, data, self._headers)
        status = response.status
        if status == 413 and len(lines) > 1:  # too large for http.max_content_length: halve
            return split(self._ship, lines)
        if status == 429 or status >= 500:
            raise RetryableError(f"Elasticsearch answered HTTP {status}", response.retry_after)
        if not 200 <= status < 300:
            detail = response.body[:300].decode("utf-8", "replace").strip()
            _faults.report(
                LOST, f"elasticsearch: HTTP {status}, {len(lines)} line(s) dropped: {detail}"
            )
            return Outcome(failed=len(lines))
        return self._items(lines, response.body, response.retry_after)

    def _items(self, lines: list[bytes], body: bytes, retry_after: float | None) -> Outcome:
        try:
            answer = orjson.loads(body)
            if not answer.get("errors"):
                return Outcome(shipped=len(lines))
            items = answer["items"]
            if not isinstance(items, list) or len(items) != len(lines):
                raise ValueError(f"{len(items)} items for {len(lines)} documents")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            if self.idempotent:  # content-derived _ids: sending again indexes nothing twice
                _faults.report(
                    "shipping", f"elasticsearch: unreadable bulk answer: {error}; retrying"
                )
                return Outcome(retry=list(lines), retry_after=retry_after)
            # Accepted (2xx), and re-sending without _ids could index twice: which of these
            # lines were refused cannot be known.
            _faults.report(
                LOST, f"elasticsearch: unreadable bulk answer, lines may be lost: {error}"
            )
            return Outcome(shipped=len(lines))
        shipped = failed = 0
        retry: list[bytes] = []
        refused: dict[str, str] = {}
        for line, item in zip(lines, items, strict=True):
            result: Any = next(iter(item.values()), {}) if isinstance(item, dict) else {}
            if not isinstance(result, dict):
                result = {}
            status = result.get("status", 0)
            if 200 <= status < 300 or (status == 409 and self.idempotent):
                shipped += 1  # 409: indexed by an earlier attempt whose answer was lost
            elif status == 429 or status >= 500:
                retry.append(line)
            else:
                failed += 1
                problem = result.get("error")
                kind = problem.get("type", "error") if isinstance(problem, dict) else str(problem)
                if kind not in refused:
                    reason = problem.get("reason", "") if isinstance(problem, dict) else ""
                    refused[kind] = f"{kind} (status {status}): {reason}"[:300]
        if refused:
            _faults.report(
                LOST,
                f"elasticsearch: {failed} document(s) refused and dropped: "
                + "; ".join(refused.values()),
            )
        return Outcome(shipped, failed, retry, retry_after)

    def _release(self) -> None:
        self._client.close()

    def _forked(self) -> None:
        self._client.forget()
        self._key = os.urandom(16)
        self._position = 0


class Numbered(bytes):
    """A line with the ``_id`` it is sent under, kept across retries."""

    doc_id: bytes

    def __new__(cls, line: bytes, doc_id: bytes) -> Numbered:
        numbered = super().__new__(cls, line)
        numbered.doc_id = doc_id
        return numbered


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _rfc3339(nanos: int) -> str:
    seconds, rest = divmod(nanos, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"
