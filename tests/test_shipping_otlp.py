"""The OTLP output against a strict local OTLP/HTTP receiver (protobuf and JSON)."""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("opentelemetry.proto")

import tracelog
from _otlp_receiver import (
    JSON,
    PROTOBUF,
    OTLPReceiver,
    Record,
    parse_json_request,
    parse_protobuf_request,
    records_of,
)
from _receivers import wait_until
from tracelog import _faults
from tracelog.outputs.shipping import _logrecord
from tracelog.outputs.shipping._line import rfc3339_to_ns
from tracelog.outputs.shipping._outcome import LOST, RetryableError
from tracelog.outputs.shipping.otlp import OTLP, logs_url
from tracelog.processors import CallSite

PROTOCOLS = ["http/protobuf", "http/json"]
OTEL_ENV = [name for name in os.environ if name.startswith("OTEL_")]


@pytest.fixture(autouse=True)
def _no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_ENV:
        monkeypatch.delenv(name)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as server:
        yield server


@pytest.fixture
def shippers() -> Iterator[list[OTLP]]:
    made: list[OTLP] = []
    yield made
    for shipper in made:
        shipper.close(timeout=2)


def make(shippers: list[OTLP], *args: object, **kwargs: object) -> OTLP:
    kwargs.setdefault("backoff", 0.05)
    kwargs.setdefault("max_backoff", 0.2)
    shipper = OTLP(*args, **kwargs)  # type: ignore[arg-type]
    shippers.append(shipper)
    return shipper


def ship(shipper: OTLP, **configure: object) -> logging.Logger:
    tracelog.configure(outputs=[shipper], **configure)  # type: ignore[arg-type]
    return logging.getLogger("unused")


def by_body(receiver: OTLPReceiver) -> dict[object, Record]:
    with receiver.lock:
        return {record.body: record for record in receiver.records}


@pytest.mark.parametrize("protocol", PROTOCOLS)
class TestLogRecord:
    def test_each_event_is_one_record(
        self, receiver: OTLPReceiver, shippers: list[OTLP], protocol: str
    ) -> None:
        shipper = make(shippers, receiver.url, protocol=protocol, service_version="1.2.3")
        tracelog.configure(
            outputs=[shipper], service="shop", level="DEBUG", processors=[CallSite()]
        )
        log = tracelog.get_logger("shop.orders")
        with tracelog.trace(user=7) as ctx:
            log.info(
                "order placed",
                order={"id": 17, "items": [1, "a", {"x": None}]},
                amount=1.5,
                paid=True,
                event_name="order.placed",
            )
        assert shipper.flush(10)
        assert [PROTOBUF if protocol == "http/protobuf" else JSON] == receiver.content_types
        assert ["gzip"] == receiver.encodings
        [record] = receiver.records
        assert ctx.trace_id == record.trace_id
        assert ctx.span_id == record.span_id
        assert 1 == record.flags
        assert (9, "INFO") == (record.severity_number, record.severity_text)
        assert "order placed" == record.body
        assert "order.placed" == record.event_name
        assert record.time_unix_nano > 0
        assert record.time_unix_nano == record.observed_time_unix_nano
        assert "shop.orders" == record.scope
        assert {"service.name": "shop", "service.version": "1.2.3"} == record.resource
        attributes = record.attributes
        assert {"id": 17, "items": [1, "a", {"x": None}]} == attributes["order"]
        assert (1.5, True, 7) == (attributes["amount"], attributes["paid"], attributes["user"])
        assert "event_name" not in attributes
        assert "test_each_event_is_one_record" == attributes["code.function"]
        assert isinstance(attributes["code.lineno"], int)

    def test_severity_numbers(
        self, receiver: OTLPReceiver, shippers: list[OTLP], protocol: str
    ) -> None:
        shipper = make(shippers, receiver.url, protocol=protocol)
        tracelog.configure(outputs=[shipper], level="DEBUG")
        log = tracelog.get_logger("shop")
        log.debug("debug")
        log.info("info")
        log.warning("warning")
        log.error("error")
        log.critical("critical")
        logging.getLogger("lib").warning("stdlib")
        assert shipper.flush(10)
        records = by_body(receiver)
        expected = {
            "debug": 5,
            "info": 9,
            "warning": 13,
            "error": 17,
            "critical": 21,
            "stdlib": 13,
        }
        assert expected == {body: r.severity_number for body, r in records.items()}
        assert "lib" == records["stdlib"].scope

    def test_exception_and_unsampled_trace(
        self, receiver: OTLPReceiver, shippers: list[OTLP], protocol: str
    ) -> None:
        shipper = make(shippers, receiver.url, protocol=protocol)
        tracelog.configure(outputs=[shipper])
        log = tracelog.get_logger("shop")
        with tracelog.trace(sampled=False):
            try:
                {}["missing"]
            except KeyError:
                log.exception("lookup failed")
        log.info("outside")
        assert shipper.flush(10)
        records = by_body(receiver)
        failed = records["lookup failed"]
        assert 17 == failed.severity_number
        assert 0 == failed.flags
        assert "KeyError" == failed.attributes["exception.type"]
        assert "'missing'" == failed.attributes["exception.message"]
        assert "Traceback" in failed.attributes["exception.stacktrace"]
        outside = records["outside"]
        assert ("", "", 0) == (outside.trace_id, outside.span_id, outside.flags)
        assert {"service.name": "unknown_service:python"} == outside.resource

    def test_resource_from_the_environment(
        self,
        receiver: OTLPReceiver,
        shippers: list[OTLP],
        protocol: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv(
            "OTEL_RESOURCE_ATTRIBUTES", "service.namespace=shop,team=pay%20ments,host.name=h1"
        )
        shipper = make(shippers, receiver.url, protocol=protocol, environment="prod")
        tracelog.configure(outputs=[shipper], service="checkout")
        tracelog.get_logger("x").info("hello")
        assert shipper.flush(10)
        assert {
            "service.name": "checkout",
            "service.namespace": "shop",
            "team": "pay ments",
            "host.name": "h1",
            "deployment.environment.name": "prod",
        } == receiver.records[0].resource

    def test_not_json_and_odd_values(
        self, receiver: OTLPReceiver, shippers: list[OTLP], protocol: str
    ) -> None:
        shipper = make(shippers, receiver.url, protocol=protocol)
        shipper.write(b"not json at all\n")
        shipper.write(
            b'{"level":"verbose","message":{"text":"a dict"},"big":18446744073709551616,'
            b'"n":-5,"e":[],"trace_id":"00000000000000000000000000000000"}\n'
        )
        assert shipper.flush(10)
        first, second = receiver.records
        assert "not json at all" == first.body
        assert {"text": "a dict"} == second.body
        assert 0 == second.severity_number
        assert {"big": 18446744073709551616.0, "n": -5, "e": []} == second.attributes
        assert "" == second.trace_id


class TestBatching:
    def test_grouped_by_resource_and_scope(
        self, receiver: OTLPReceiver, shippers: list[OTLP]
    ) -> None:
        shipper = make(shippers, receiver.url, batch_size=100, batch_interval=3600)
        tracelog.configure(outputs=[shipper], service="shop")
        for number in range(30):
            tracelog.get_logger(f"scope{number % 3}").info(f"event {number}")
        assert shipper.flush(10)
        assert 1 == receiver.requests
        assert [f"event {n}" for n in range(30)] == sorted(
            receiver.bodies(), key=lambda body: int(str(body).split()[1])
        )
        assert {f"scope{n % 3}" for n in range(30)} == {r.scope for r in receiver.records}
        assert {"written": 30, "batches": 1, "queued": 0, "failed": 0} == {
            key: shipper.stats()[key] for key in ("written", "batches", "queued", "failed")
        }
        assert "otlp" in str(tracelog.stats())

    def test_encoding_happens_in_the_sender_thread(
        self, receiver: OTLPReceiver, shippers: list[OTLP], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        threads: list[str] = []
        original = _logrecord.record_from_line

        def spy(line: bytes) -> _logrecord.LogRecordData:
            threads.append(threading.current_thread().name)
            return original(line)

        monkeypatch.setattr("tracelog.outputs.shipping.otlp.record_from_line", spy)
        shipper = make(shippers, receiver.url)
        tracelog.configure(outputs=[shipper])
        tracelog.get_logger("x").info("one")
        assert shipper.flush(10)
        assert ["tracelog-otlp"] == threads

    def test_uncompressed(self, receiver: OTLPReceiver, shippers: list[OTLP]) -> None:
        shipper = make(shippers, receiver.url, compression="none", protocol="http/json")
        shipper.write(b'{"message":"plain"}\n')
        assert shipper.flush(10)
        assert [""] == receiver.encodings
        assert ["plain"] == receiver.bodies()


class TestAnswers:
    @pytest.mark.parametrize("status", [429, 502, 503, 504])
    def test_retried(self, receiver: OTLPReceiver, shippers: list[OTLP], status: int) -> None:
        receiver.fail(status, times=2, retry_after=0)
        shipper = make(shippers, receiver.url)
        for number in range(5):
            shipper.write(b'{"message":"event %d"}\n' % number)
        assert shipper.flush(10)
        assert [f"event {n}" for n in range(5)] == receiver.bodies()
        assert 2 == shipper.stats()["retried"]

    @pytest.mark.parametrize("status", [429, 503])
    def test_retry_after_is_passed_on(
        self, receiver: OTLPReceiver, shippers: list[OTLP], status: int
    ) -> None:
        receiver.fail(status, retry_after=7)
        shipper = make(shippers, receiver.url)
        with pytest.raises(RetryableError) as raised:
            shipper._ship([b'{"message":"later"}\n'])  # the batch machinery then waits that long
        assert 7.0 == raised.value.retry_after

    @pytest.mark.parametrize("status", [400, 401, 404, 500])
    def test_not_retried(self, receiver: OTLPReceiver, shippers: list[OTLP], status: int) -> None:
        receiver.fail(status)
        shipper = make(shippers, receiver.url)
        shipper.write(b'{"message":"lost"}\n')
        assert shipper.flush(10)
        assert {"failed": 1, "retried": 0, "written": 0} == {
            key: shipper.stats()[key] for key in ("failed", "retried", "written")
        }
        assert 1 == _faults.counts()[LOST]

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_partial_success_is_reported_not_retried(
        self,
        receiver: OTLPReceiver,
        shippers: list[OTLP],
        protocol: str,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        receiver.partial_success(2, "attribute value too long")
        shipper = make(shippers, receiver.url, protocol=protocol, batch_interval=3600)
        for number in range(5):
            shipper.write(b'{"message":"event %d"}\n' % number)
        assert shipper.flush(10)
        assert 1 == receiver.requests
        assert {"written": 3, "failed": 2, "retried": 0} == {
            key: shipper.stats()[key] for key in ("written", "failed", "retried")
        }
        assert "2 of 5 record(s) rejected: attribute value too long" in capfd.readouterr().err

    def test_a_5_second_outage_loses_and_duplicates_nothing(
        self, receiver: OTLPReceiver, shippers: list[OTLP]
    ) -> None:
        shipper = make(shippers, receiver.url, batch_size=50, batch_interval=0.05)
        tracelog.configure(outputs=[shipper])
        log = tracelog.get_logger("shop")
        for number in range(100):
            log.info(f"event {number}")
        assert shipper.flush(10)
        receiver.stop()
        end = time.monotonic() + 5.0
        number = 100
        while time.monotonic() < end and number < 2000:
            log.info(f"event {number}")
            number += 1
            time.sleep(0.005)
        receiver.start()
        for extra in range(number, number + 100):
            log.info(f"event {extra}")
        assert shipper.flush(30)
        counts = Counter(receiver.bodies())
        expected = {f"event {n}" for n in range(number + 100)}
        assert expected == set(counts)
        assert [] == [body for body, seen in counts.items() if seen > 1]
        assert shipper.stats()["retried"] >= 1
        assert 0 == shipper.stats()["dropped"]

    def test_outage_with_a_small_buffer_spills_to_disk(
        self, receiver: OTLPReceiver, shippers: list[OTLP], tmp_path: os.PathLike[str]
    ) -> None:
        spill = os.path.join(tmp_path, "otlp.spill")
        shipper = make(shippers, receiver.url, queue_size=20, batch_size=20, spill_path=spill)
        receiver.stop()
        for number in range(300):
            shipper.write(b'{"message":"event %d"}\n' % number)
        assert shipper.stats()["spilled"] > 0
        receiver.start()
        assert shipper.flush(30)
        assert [f"event {n}" for n in range(300)] == receiver.bodies()


class TestEnvironment:
    def test_logs_endpoint_is_used_as_is(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://a:1/custom/logs")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:2")
        assert "http://a:1/custom/logs" == logs_url(None)

    def test_generic_endpoint_gets_the_logs_path(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:2/otlp/")
        assert "http://b:2/otlp/v1/logs" == logs_url(None)

    def test_defaults_and_explicit(self) -> None:
        assert "http://localhost:4318/v1/logs" == logs_url(None)
        assert "http://c:4318/v1/logs" == logs_url("http://c:4318")
        assert "http://c:4318/v1/logs" == logs_url("http://c:4318/v1/logs")
        assert "http://loki:3100/otlp/v1/logs" == logs_url("http://loki:3100/otlp")

    def test_all_from_the_environment(
        self, receiver: OTLPReceiver, shippers: list[OTLP], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://unused:1")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", f"{receiver.url}/v1/logs")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0ken,x-a=1")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-tenant=shop")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
        shipper = make(shippers)
        assert (2.5, "none", "http/json") == (
            shipper.timeout,
            shipper.compression,
            shipper.protocol,
        )
        shipper.write(b'{"message":"hi"}\n')
        assert shipper.flush(10)
        [headers] = receiver.headers
        # The signal's own variable wins over the generic one, name by name.
        assert "x-tenant" in headers
        assert "authorization" not in headers
        assert "x-a" not in headers
        assert "shop" == headers["x-tenant"]
        assert "Content-Encoding".lower() not in headers
        assert [JSON] == receiver.content_types
        assert "from-env" == receiver.records[0].resource["service.name"]

    def test_generic_headers(
        self, receiver: OTLPReceiver, shippers: list[OTLP], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0ken,x-a=1")
        shipper = make(shippers, receiver.url, headers={"x-a": "2"})
        shipper.write(b'{"message":"hi"}\n')
        assert shipper.flush(10)
        [headers] = receiver.headers
        assert ("Bearer t0ken", "2") == (headers["authorization"], headers["x-a"])

    def test_explicit_arguments_win(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        shipper = OTLP(
            "http://127.0.0.1:9", request_timeout=1, compression="gzip", protocol="http/protobuf"
        )
        try:
            assert (1, "gzip", "http/protobuf") == (
                shipper.timeout,
                shipper.compression,
                shipper.protocol,
            )
        finally:
            shipper.close(0)

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "gRPC is not supported"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "not one of gzip, none"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon", "not a number of milliseconds"),
        ],
    )
    def test_bad_values_say_what_is_wrong(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
    ) -> None:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=message):
            OTLP("http://127.0.0.1:9")

    def test_protobuf_without_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "tracelog.outputs.shipping._otlp_proto", None)
        with pytest.raises(ImportError, match=r"tracelog\[otlp\]"):
            OTLP("http://127.0.0.1:9")
        OTLP("http://127.0.0.1:9", protocol="http/json").close(0)


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")} | {
        "PYTHONPATH": os.pathsep.join(sys.path)
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


class TestProcesses:
    def test_shipped_at_normal_exit(self, receiver: OTLPReceiver) -> None:
        result = _run(
            """
            import sys
            import tracelog
            shipper = tracelog.outputs.OTLP(sys.argv[1], batch_size=1000, batch_interval=3600)
            tracelog.configure(outputs=[shipper])
            for n in range(300):
                tracelog.get_logger("x").info(f"event {n}")
            """,
            receiver.url,
        )
        assert 0 == result.returncode, result.stderr
        assert [f"event {n}" for n in range(300)] == receiver.bodies()

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_a_forked_child_ships_its_own_lines_and_nothing_twice(
        self, receiver: OTLPReceiver
    ) -> None:
        result = _run(
            """
            import os, sys
            from tracelog.outputs import OTLP
            shipper = OTLP(sys.argv[1], batch_size=1000, batch_interval=3600)
            for n in range(50):
                shipper.write(b'{"message":"parent %d"}\\n' % n)
            pid = os.fork()
            if pid == 0:
                for n in range(20):
                    shipper.write(b'{"message":"child %d"}\\n' % n)
                shipper.close()
                os._exit(0)
            os.waitpid(pid, 0)
            """,
            receiver.url,
        )
        assert 0 == result.returncode, result.stderr
        assert wait_until(lambda: len(receiver.bodies()) >= 70, timeout=10)
        expected = [f"parent {n}" for n in range(50)] + [f"child {n}" for n in range(20)]
        assert sorted(expected) == sorted(receiver.bodies())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what orjson writes
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def as_sent(value: object) -> object:
    """What a value becomes in OTLP: integers past int64 as their decimal text."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, list):
        return [as_sent(item) for item in value]
    assert isinstance(value, dict)
    return {key: as_sent(item) for key, item in value.items()}


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=6),
    json_values,
    st.sampled_from(PROTOCOLS),
)
def test_any_fields_survive_both_encodings(
    attributes: dict[str, object], body: object, protocol: str
) -> None:
    fields = {f"field {key}": value for key, value in attributes.items()}
    line = orjson.dumps({"level": "info", "message": body, **fields}) + b"\n"
    shipper = OTLP("http://127.0.0.1:9", protocol=protocol)
    try:
        data = shipper.body([line])
    finally:
        shipper.close(0)
    parse = parse_protobuf_request if protocol == "http/protobuf" else parse_json_request
    [record] = records_of(parse(data))
    assert as_sent(body) == record.body
    assert as_sent(fields) == record.attributes


class TestStrictReceiver:
    """The receiver refuses what a real OTLP endpoint would, so passing it means something."""

    GOOD = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1",
                                "severityNumber": 9,
                                "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                                "spanId": "00f067aa0ba902b7",
                            }
                        ]
                    }
                ]
            }
        ]
    }

    def post(self, receiver: OTLPReceiver, body: bytes, content_type: str) -> int:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
        try:
            conn.request("POST", "/v1/logs", body, {"Content-Type": content_type})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def test_good(self, receiver: OTLPReceiver) -> None:
        assert 200 == self.post(receiver, orjson.dumps(self.GOOD), JSON)

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            ("traceId", "S/kvNXezTaajzpKdDg5HNg=="),  # base64, as protobuf's own JSON has it
            ("traceId", "4BF92F3577B34DA6A3CE929D0E0E4736"),
            ("severityNumber", "SEVERITY_NUMBER_INFO"),
            ("severity_number", 9),
            ("unknownField", 1),
        ],
    )
    def test_json_refused(self, receiver: OTLPReceiver, path: str, value: object) -> None:
        document = orjson.loads(orjson.dumps(self.GOOD))
        document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0][path] = value
        assert 400 == self.post(receiver, orjson.dumps(document), JSON)

    def test_protobuf_with_an_unknown_field_refused(self, receiver: OTLPReceiver) -> None:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )

        request = ExportLogsServiceRequest()
        request.resource_logs.add().scope_logs.add().log_records.add().time_unix_nano = 1
        data = request.SerializeToString()
        assert 200 == self.post(receiver, data, PROTOBUF)
        unknown = data + b"\xf8\x06\x01"  # field 111, varint 1
        assert 400 == self.post(receiver, unknown, PROTOBUF)

    def test_wrong_content_type_refused(self, receiver: OTLPReceiver) -> None:
        assert 415 == self.post(receiver, orjson.dumps(self.GOOD), "text/plain")


@given(
    st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 1, 1))
)
def test_the_record_time_is_the_lines_to_the_microsecond(moment: datetime.datetime) -> None:
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    record = _logrecord.record_from_line(orjson.dumps({"timestamp": stamp}))
    assert rfc3339_to_ns(stamp) == record.time_unix_nano
