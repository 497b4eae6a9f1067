"""Export logs over OTLP/HTTP: ``POST /v1/logs``, protobuf or JSON, gzip, in batches.

Each event becomes one OTLP ``LogRecord``, laid out by the ``otel`` schema
(from the ``default`` line, which this output always takes, keeping nested
values): ``time_unix_nano`` (and ``observed_time_unix_nano``, the
same instant: the call is where tracelog observes the event),
``severity_number``/``severity_text``, ``body`` (the message), ``trace_id``,
``span_id`` and ``flags`` (the sampled bit), ``event_name`` when the call
gives an ``event_name=`` field, and every other field as an attribute
(nested values as ``kvlist``/``array``; exceptions as ``exception.type``,
``exception.message``, ``exception.stacktrace``; the call site as
``code.*``). Records are grouped by resource (``service.name`` and the
configured resource attributes) and by scope (the logger name).

Encoding happens in the sender thread: the caller's cost is that of any other
shipper (one append under a lock).

The server's answer decides what happens to a batch, as the OTLP
specification says: 2xx is shipped (a ``partial_success`` naming rejected
records is reported on stderr and counted as ``failed``, not retried);
429, 502, 503 and 504 are retried, after ``Retry-After`` when the server
sends one; any other status is reported and counted as ``failed``.
"""

from __future__ import annotations

import gzip
import importlib
import os
import ssl
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
from tracelog.outputs.shipping._http import HttpClient, Response
from tracelog.outputs.shipping._logrecord import (
    UNKNOWN_SERVICE,
    Groups,
    LogRecordData,
    parse_key_values,
    record_from_line,
    records_json,
    resource_from_env,
)
from tracelog.outputs.shipping._outcome import LOST

__all__ = ["DEFAULT_ENDPOINT", "LOGS_PATH", "OTLP", "PROTOCOLS", "RETRYABLE"]

LOGS_PATH = "/v1/logs"
DEFAULT_ENDPOINT = "http://localhost:4318"
PROTOCOLS = ("http/protobuf", "http/json")
#: The statuses the OTLP specification says to retry.
RETRYABLE = frozenset((429, 502, 503, 504))
_CONTENT_TYPES = {"http/protobuf": "application/x-protobuf", "http/json": "application/json"}


def _env(env: Mapping[str, str], name: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_LOGS_<name>``, else ``OTEL_EXPORTER_OTLP_<name>`` (non-empty)."""
    for key in (f"OTEL_EXPORTER_OTLP_LOGS_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
        value = env.get(key, "").strip()
        if value:
            return value
    return None


def logs_url(endpoint: str | None, env: Mapping[str, str] | None = None) -> str:
    """The URL to POST to: an explicit ``endpoint`` (``/v1/logs`` added unless it ends so);
    else ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` as is; else ``OTEL_EXPORTER_OTLP_ENDPOINT`` +
    ``/v1/logs``; else ``http://localhost:4318/v1/logs``."""
    if env is None:
        env = os.environ
    if endpoint is None:
        signal = env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "").strip()
        if signal:
            return signal
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    base = endpoint.rstrip("/")
    return base if base.endswith(LOGS_PATH) else base + LOGS_PATH


class OTLP(Shipper):
    """An output that exports each event as an OTLP LogRecord (see the module docstring).

    - ``endpoint``: the Collector (or any OTLP/HTTP receiver), ``http://collector:4318``;
      ``/v1/logs`` is added unless the URL ends with it. None: the environment.
    - ``protocol``: ``"http/protobuf"`` (needs ``tracelog[otlp]``) or ``"http/json"``
      (needs nothing more). None: ``OTEL_EXPORTER_OTLP_LOGS_PROTOCOL`` /
      ``OTEL_EXPORTER_OTLP_PROTOCOL``, else ``"http/protobuf"``.
    - ``headers``: added to each request, over ``OTEL_EXPORTER_OTLP_LOGS_HEADERS`` /
      ``OTEL_EXPORTER_OTLP_HEADERS`` (``key=value,...``, percent-encoded).
    - ``request_timeout``: seconds per request. None: ``OTEL_EXPORTER_OTLP_LOGS_TIMEOUT`` /
      ``OTEL_EXPORTER_OTLP_TIMEOUT`` (milliseconds, as OTel specifies), else 10 s.
    - ``compression``: ``"gzip"`` or ``"none"``. None: ``OTEL_EXPORTER_OTLP_LOGS_COMPRESSION``
      / ``OTEL_EXPORTER_OTLP_COMPRESSION``, else ``"gzip"``.
    - ``service_version``, ``environment``: the resource's ``service.version`` and
      ``deployment.environment.name``; ``resource``: more resource attributes. They add
      to ``OTEL_RESOURCE_ATTRIBUTES``; ``service.name`` is the configured service
      (``configure(service=...)``, ``OTEL_SERVICE_NAME``).
    - ``batching=`` (or its fields as keywords): see :class:`tracelog.outputs.Batching`.
    """

    name = "otlp"

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        protocol: str | None = None,
        headers: Mapping[str, str] | None = None,
        request_timeout: float | None = None,
        compression: str | None = None,
        service_version: str | None = None,
        environment: str | None = None,
        resource: Mapping[str, Any] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        compresslevel: int = 5,
        level: int | str | None = None,
        batching: Batching | None = None,
        **options: Any,
    ) -> None:
        timeout = take_renamed_value(options, "timeout", "request_timeout", request_timeout, "OTLP")
        env = os.environ
        protocol = protocol or _env(env, "PROTOCOL") or "http/protobuf"
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"OTLP protocol={protocol!r} is not one of {', '.join(PROTOCOLS)} "
                "(gRPC is not supported: point it at the Collector's HTTP port, 4318)"
            )
        if protocol == "http/protobuf":
            try:
                proto = importlib.import_module("tracelog.outputs.shipping._otlp_proto")
            except ImportError as error:
                raise ImportError(
                    "OTLP protocol='http/protobuf' needs opentelemetry-proto: "
                    "pip install 'tracelog[otlp]', or use protocol='http/json' "
                    f"({error})"
                ) from None
            self._proto: Any = proto
        else:
            self._proto = None
        compression = (compression or _env(env, "COMPRESSION") or "gzip").lower()
        if compression not in ("gzip", "none"):
            raise ValueError(f"OTLP compression={compression!r} is not one of gzip, none")
        if timeout is None:
            raw = _env(env, "TIMEOUT")
            try:
                timeout = float(raw) / 1000.0 if raw is not None else 10.0
            except ValueError:
                raise ValueError(
                    f"OTEL_EXPORTER_OTLP_TIMEOUT={raw!r} is not a number of milliseconds"
                ) from None
        if timeout <= 0:
            raise ValueError(f"OTLP timeout={timeout!r} must be more than 0 seconds")
        self.url = logs_url(endpoint, env)
        self.protocol = protocol
        self.compression = compression
        self.compresslevel = compresslevel
        self.timeout = timeout
        request_headers = {
            **parse_key_values(_env(env, "HEADERS")),
            **(headers or {}),
            "Content-Type": _CONTENT_TYPES[protocol],
            "User-Agent": "tracelog",
        }
        if compression == "gzip":
            request_headers["Content-Encoding"] = "gzip"
        self._headers = request_headers
        base = resource_from_env(env)
        base.update(resource or {})
        if service_version is not None:
            base["service.version"] = service_version
        if environment is not None:
            base["deployment.environment.name"] = environment
        self.resource = base
        self._resources: dict[bytes, dict[str, Any]] = {}
        self._client = HttpClient(self.url, timeout=timeout, ssl_context=ssl_context)
        super().__init__(
            level=level,
            schema="default",  # laid out as otel in the sender thread, nested values kept
            batching=batching,
            **options,
        )

    def __repr__(self) -> str:
        return f"OTLP({self.url!r}, protocol={self.protocol!r})"

    # -- encoding (sender thread) ------------------------------------------------------------

    def _resource_of(self, record: LogRecordData) -> tuple[bytes, dict[str, Any]]:
        key = orjson.dumps(record.resource, option=orjson.OPT_SORT_KEYS)
        merged = self._resources.get(key)
        if merged is None:
            merged = {**self.resource, **record.resource}
            merged = {"service.name": merged.pop("service.name", UNKNOWN_SERVICE), **merged}
            if len(self._resources) < 64:
                self._resources[key] = merged
        return key, merged

    def group(self, lines: list[bytes]) -> Groups:
        """The records of ``lines``, per resource and scope, in the order they came."""
        by_resource: dict[bytes, tuple[dict[str, Any], dict[str, list[LogRecordData]]]] = {}
        for line in lines:
            record = record_from_line(line)
            key, resource = self._resource_of(record)
            scopes = by_resource.setdefault(key, (resource, {}))[1]
            scopes.setdefault(record.scope, []).append(record)
        return [(resource, list(scopes.items())) for resource, scopes in by_resource.values()]

    def body(self, lines: list[bytes]) -> bytes:
        """The ``ExportLogsServiceRequest`` for ``lines``, uncompressed."""
        groups = self.group(lines)
        if self._proto is not None:
            return bytes(self._proto.records_protobuf(groups))
        return records_json(groups)

    # -- sending -----------------------------------------------------------------------------

    def _ship(self, lines: list[bytes]) -> Outcome:
        data = self.body(lines)
        if self.compression == "gzip":
            data = gzip.compress(data, compresslevel=self.compresslevel, mtime=0)
        response = self._client.post("", data, self._headers)
        if 200 <= response.status < 300:
            rejected, message = self._partial_success(response)
            rejected = min(max(rejected, 0), len(lines))
            if rejected or message:
                _faults.report(
                    LOST if rejected else "shipping",
                    f"otlp: partial success, {rejected} of {len(lines)} record(s) rejected: "
                    f"{message or '(no message)'}",
                )
            return Outcome(shipped=len(lines) - rejected, failed=rejected)
        if response.status == 413 and len(lines) > 1:  # over the server's body limit: halve
            return split(self._ship, lines)
        if response.status in RETRYABLE:
            raise RetryableError(f"OTLP answered HTTP {response.status}", response.retry_after)
        _faults.report(
            LOST,
            f"otlp: HTTP {response.status}, {len(lines)} record(s) dropped: "
            f"{self._error_detail(response)}",
        )
        return Outcome(failed=len(lines))

    def _partial_success(self, response: Response) -> tuple[int, str]:
        body = response.body
        if not body:
            return 0, ""
        try:
            if "json" in response.headers.get("content-type", ""):
                partial = orjson.loads(body).get("partialSuccess") or {}
                return int(partial.get("rejectedLogRecords") or 0), str(
                    partial.get("errorMessage") or ""
                )
            if self._proto is not None:
                rejected, message = self._proto.partial_success(body)
                return int(rejected), str(message)
        except Exception:
            pass  # an answer that is not an ExportLogsServiceResponse: shipped, nothing to say
        return 0, ""

    def _error_detail(self, response: Response) -> str:
        text = response.body[:300].decode("utf-8", "replace")
        return "".join(c if c.isprintable() else " " for c in text).strip()

    def _release(self) -> None:
        self._client.close()

    def _forked(self) -> None:
        self._client.forget()
