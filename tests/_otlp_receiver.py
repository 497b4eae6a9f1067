"""A strict local OTLP/HTTP logs receiver: ``POST /v1/logs``, protobuf or JSON, as OTLP specifies.

Protobuf bodies are parsed with the official ``opentelemetry-proto`` classes and
refused when they carry unknown fields; JSON bodies with
``google.protobuf.json_format`` (unknown fields refused), after checking the
OTLP/JSON rules that protobuf's own JSON mapping does not: trace and span ids
are hex strings (not base64), enum values are integers, keys are lowerCamelCase.
The answer is an ``ExportLogsServiceResponse`` in the request's encoding, with
a ``partial_success`` when asked to reject some records. Listens on 127.0.0.1.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from _receivers import HttpReceiver, _Handler

LOGS_PATH = "/v1/logs"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_HEX = {"traceId": re.compile(r"[0-9a-f]{32}\Z"), "spanId": re.compile(r"[0-9a-f]{16}\Z")}
_SNAKE = re.compile(r"[a-z0-9]_[a-z]")
# Objects whose keys are data (attribute names), not field names.
_ENUMS = ("severityNumber",)


def unknown_fields(message: Message, path: str = "") -> list[str]:
    """Every unknown field in ``message`` and its sub-messages, by path."""
    found = [f"{path or '<root>'}: field {f.field_number}" for f in UnknownFieldSet(message)]
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        name = f"{path}.{field.name}" if path else field.name
        if field.is_repeated:
            for index, item in enumerate(value):
                found.extend(unknown_fields(item, f"{name}[{index}]"))
        else:
            found.extend(unknown_fields(value, name))
    return found


def _check_json(node: Any, path: str = "") -> None:
    """OTLP/JSON rules: hex ids, integer enums, lowerCamelCase field names."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            _check_json(item, f"{path}[{index}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        where = f"{path}.{key}" if path else key
        if _SNAKE.search(key):
            raise ValueError(f"{where}: OTLP/JSON field names are lowerCamelCase")
        if key in _HEX:
            if not isinstance(value, str) or not _HEX[key].match(value):
                raise ValueError(f"{where}={value!r} is not a lowercase hex id")
        elif key in _ENUMS:
            if type(value) is not int:
                raise ValueError(f"{where}={value!r}: OTLP/JSON enum values are integers")
        else:
            _check_json(value, where)


def _ids_to_base64(node: Any) -> Any:
    """protobuf's JSON mapping takes bytes as base64: turn OTLP's hex ids into that."""
    if isinstance(node, list):
        return [_ids_to_base64(item) for item in node]
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _HEX and isinstance(value, str):
                out[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                out[key] = _ids_to_base64(value)
        return out
    return node


def parse_json_request(data: bytes) -> ExportLogsServiceRequest:
    document = orjson.loads(data)
    _check_json(document)
    request = ExportLogsServiceRequest()
    json_format.ParseDict(_ids_to_base64(document), request, ignore_unknown_fields=False)
    return request


def parse_protobuf_request(data: bytes) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest.FromString(data)
    unknown = unknown_fields(request)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)}")
    return request


def plain(value: AnyValue) -> Any:
    """An AnyValue as the Python value it stands for."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [plain(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


class Record:
    """One received LogRecord with its resource and scope, in plain Python values."""

    def __init__(self, resource: dict[str, Any], scope: str, record: Any) -> None:
        self.resource = resource
        self.scope = scope
        self.time_unix_nano: int = record.time_unix_nano
        self.observed_time_unix_nano: int = record.observed_time_unix_nano
        self.severity_number: int = record.severity_number
        self.severity_text: str = record.severity_text
        self.body = plain(record.body) if record.HasField("body") else None
        self.attributes = {kv.key: plain(kv.value) for kv in record.attributes}
        self.trace_id: str = record.trace_id.hex()
        self.span_id: str = record.span_id.hex()
        self.flags: int = record.flags
        self.event_name: str = record.event_name

    def __repr__(self) -> str:
        return f"Record({self.__dict__!r})"


def records_of(request: ExportLogsServiceRequest) -> list[Record]:
    out = []
    for resource_logs in request.resource_logs:
        resource = {kv.key: plain(kv.value) for kv in resource_logs.resource.attributes}
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                out.append(Record(resource, scope_logs.scope.name, record))
    return out


class OTLPReceiver(HttpReceiver):
    """``POST /v1/logs`` as OTLP/HTTP specifies it (see the module docstring)."""

    def __init__(self, expect_headers: dict[str, str] | None = None) -> None:
        self.records: list[Record] = []
        self.content_types: list[str] = []
        self.encodings: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._partial: list[tuple[int, str]] = []
        super().__init__(expect_headers)

    def partial_success(self, rejected: int, message: str, times: int = 1) -> None:
        """The next ``times`` requests keep all but their last ``rejected`` records."""
        with self.lock:
            self._partial.extend([(rejected, message)] * times)

    def bodies(self) -> list[Any]:
        with self.lock:
            return [record.body for record in self.records]

    def handle(self, request: _Handler, body: bytes) -> None:
        if request.path != LOGS_PATH:
            self._reject(request, 404, f"404 page not found: {request.path}")
            return
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, JSON):
            self._reject(request, 415, f"unsupported Content-Type {content_type!r}")
            return
        data = self._decoded(request, body)
        if data is None:
            return
        try:
            if content_type == PROTOBUF:
                parsed = parse_protobuf_request(data)
            else:
                parsed = parse_json_request(data)
        except (DecodeError, json_format.ParseError, ValueError, orjson.JSONDecodeError) as error:
            self._reject(request, 400, f"{type(error).__name__}: {error}")
            return
        received = records_of(parsed)
        with self.lock:
            rejected, message = self._partial.pop(0) if self._partial else (0, "")
            kept = received[: len(received) - rejected] if rejected else received
            self.records.extend(kept)
            self.content_types.append(content_type)
            self.encodings.append(request.headers.get("Content-Encoding") or "")
            self.headers.append({k.lower(): v for k, v in request.headers.items()})
        response = ExportLogsServiceResponse()
        if rejected or message:
            response.partial_success.rejected_log_records = rejected
            response.partial_success.error_message = message
        if content_type == PROTOBUF:
            request.answer(200, response.SerializeToString(), PROTOBUF)
        else:
            answer = json_format.MessageToJson(response, indent=None).encode()
            request.answer(200, answer, JSON)
