from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracelog
from tracelog.schema import (
    ECS_CUSTOM_NAMESPACE,
    ECS_VERSION,
    Projection,
    ecs_field_types,
    ecs_value_fits,
    format_exception_text,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def emit(schema: str, *calls: tuple[str, dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    """Configure ``schema``, log each (message, fields) inside a trace, return the parsed lines."""
    out = io.BytesIO()
    tracelog.configure(schema=schema, stream=out, service=options.pop("service", "shop"), **options)
    log = tracelog.get_logger("shop.orders")
    with tracelog.trace(TRACE_ID):
        for message, fields in calls:
            log.info(message, **fields)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def one(schema: str, message: str = "paid", **kw: Any) -> dict[str, Any]:
    options = {k: kw.pop(k) for k in ("rename", "static", "service") if k in kw}
    return emit(schema, (message, kw), **options)[0]


def logged_exception(schema: str) -> dict[str, Any]:
    out = io.BytesIO()
    tracelog.configure(schema=schema, stream=out, service="shop")
    log = tracelog.get_logger("shop.orders")
    try:
        try:
            {}["card"]
        except KeyError as error:
            raise ValueError("declined") from error
    except ValueError:
        log.exception("payment failed")
    return orjson.loads(out.getvalue())


def leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every non-mapping value in a line, the way Elasticsearch sees it."""
    if isinstance(value, dict):
        if not value and prefix:
            yield prefix, value
        for key, item in value.items():
            yield from leaves(item, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, value


@functools.lru_cache(maxsize=1)
def ecs_field_sets() -> frozenset[str]:
    names = ecs_field_types()
    return frozenset(".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1))


def assert_ecs_types(line: dict[str, Any]) -> None:
    """Every ECS field in the line has the catalogue's type; no custom value clashes with ECS."""
    types = ecs_field_types()
    prefixes = ecs_field_sets()
    for path, value in leaves(line):
        parts = path.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            kind = types.get(name)
            if kind is None:
                continue
            if kind in ("object", "flattened", "nested"):
                break  # anything may sit inside an object field
            assert i == len(parts), f"{path} sits inside the ECS {kind} field {name}"
            assert ecs_value_fits(kind, value), f"{path}={value!r} is not an ECS {kind}"
        else:
            assert path not in prefixes, f"{path}={value!r} replaces the ECS field set {path}"


class TestDefault:
    def test_key_order_and_names(self) -> None:
        line = one("default", order_id=17)

        assert [
            "timestamp",
            "level",
            "logger",
            "message",
            "trace_id",
            "span_id",
            "service",
            "order_id",
        ] == list(line)

    def test_rename_and_static(self) -> None:
        line = one("default", rename={"message": "msg"}, static={"env": "prod"}, order_id=1)

        assert "paid" == line["msg"]
        assert "message" not in line
        assert "prod" == line["env"]

    def test_static_never_overrides_an_event_field(self) -> None:
        assert "canary" == one("default", static={"env": "prod"}, env="canary")["env"]


class TestEcs:
    def test_required_keys_come_first_in_spec_order(self) -> None:
        line = one("ecs")

        assert ["@timestamp", "log.level", "message"] == list(line)[:3]
        assert ECS_VERSION == line["ecs.version"]
        assert "info" == line["log.level"]
        assert line["@timestamp"].endswith("Z")

    def test_trace_service_and_logger(self) -> None:
        line = one("ecs")

        assert {"id": TRACE_ID} == line["trace"]
        assert 16 == len(line["span"]["id"])
        assert {"name": "shop"} == line["service"]
        assert "shop" == line["event"]["dataset"]
        assert "shop.orders" == line["log"]["logger"]
        assert_ecs_types(line)

    def test_exception_is_flattened_to_error_fields(self) -> None:
        line = logged_exception("ecs")

        assert "ValueError" == line["error"]["type"]
        assert "declined" == line["error"]["message"]
        trace = line["error"]["stack_trace"]
        assert trace.startswith("Traceback (most recent call last):")
        assert "KeyError: 'card'" in trace
        assert "direct cause" in trace
        assert trace.rstrip().endswith("ValueError: declined")
        assert_ecs_types(line)

    def test_access_log_fields(self) -> None:
        line = one(
            "ecs",
            "GET /orders 200",
            method="GET",
            path="/orders",
            status=200,
            duration_ms=12.5,
            client=("10.0.0.7", 51000),
            request_id="r-1",
            user_agent="curl/8",
        )

        assert "GET" == line["http"]["request"]["method"]
        assert "r-1" == line["http"]["request"]["id"]
        assert 200 == line["http"]["response"]["status_code"]
        assert "/orders" == line["url"]["path"]
        assert 12_500_000 == line["event"]["duration"]  # nanoseconds
        assert {"address": "10.0.0.7", "ip": "10.0.0.7", "port": 51000} == line["client"]
        assert "curl/8" == line["user_agent"]["original"]
        assert_ecs_types(line)

    @pytest.mark.parametrize(
        ("client", "expected"),
        [
            ("10.0.0.7:51000", {"address": "10.0.0.7", "ip": "10.0.0.7", "port": 51000}),
            ("[::1]:8080", {"address": "::1", "ip": "::1", "port": 8080}),
            ("::1", {"address": "::1", "ip": "::1"}),
            ("web-1", {"address": "web-1"}),
            ("web-1:http", {"address": "web-1:http"}),
        ],
    )
    def test_the_access_lines_client_is_split(self, client: str, expected: dict[str, Any]) -> None:
        # The web integrations write ``client`` as "host:port", "[v6]:port" or a bare host.
        line = one("ecs", "GET / 200", client=client)
        assert expected == line["client"]
        assert_ecs_types(line)

    def test_every_emitted_ecs_field_has_the_catalogue_type(self) -> None:
        line = one(
            "ecs",
            static={"service.environment": "prod", "labels": {"team": "pay"}},
            order_id=17,
            status="200",  # numeric text becomes the long ECS wants
            request_id=12345,  # a number becomes the keyword ECS wants
            tags=["a", "b"],
            **{"host.name": "web-1", "process.pid": 4242, "http.request.bytes": 10},
        )

        assert_ecs_types(line)
        assert 200 == line["http"]["response"]["status_code"]
        assert "12345" == line["http"]["request"]["id"]
        assert "prod" == line["service"]["environment"]
        assert "web-1" == line["host"]["name"]
        assert 4242 == line["process"]["pid"]
        assert 17 == line["order_id"]

    def test_fields_that_clash_with_ecs_move_to_the_custom_namespace(self) -> None:
        line = one(
            "ecs",
            host="web-1",  # host is an ECS field set, not a string
            error="boom",  # so is error
            status="teapot",  # http.response.status_code is a long
            user={"id": 7, "roles": "admin", "extra": {"a": 1}},
            **{"message.extra": 1, "trace.id.x": 2},
        )

        custom = line[ECS_CUSTOM_NAMESPACE]
        assert "web-1" == custom["host"]
        assert "boom" == custom["error"]
        assert "teapot" == custom["status"]
        assert {"id": "7", "roles": "admin", "extra": {"a": 1}} == line["user"]
        assert {"extra": 1} == custom["message"]
        assert {"id": {"x": 2}} == custom["trace"]
        assert "paid" == line["message"]
        assert_ecs_types(line)

    @pytest.mark.parametrize("duration", [1e13, float("inf"), float("nan")])
    def test_durations_beyond_a_long_stay_custom(self, duration: float) -> None:
        line = one("ecs", duration_ms=duration)

        assert "duration" not in line.get("event", {})
        assert_ecs_types(line)

    def test_rename_uses_the_ecs_name(self) -> None:
        line = one("ecs", rename={"log.logger": "logger_name", "message": "msg"})

        assert "shop.orders" == line["logger_name"]
        assert "paid" == line["msg"]
        assert "log" not in line

    @settings(
        max_examples=200,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        st.dictionaries(
            st.sampled_from(
                [
                    "host",
                    "user",
                    "error",
                    "event.kind",
                    "status",
                    "tags",
                    "labels",
                    "url",
                    "client",
                    "http.request.method",
                    "http.response.status_code",
                    "event.duration",
                    "user.id",
                    "process.pid",
                    "service.name.x",
                    "log.syslog.priority",
                    "order_id",
                    "duration_ms",
                ]
            ),
            st.recursive(
                st.none()
                | st.booleans()
                | st.integers(-(2**40), 2**40)
                | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=5),
                lambda inner: (
                    st.lists(inner, max_size=2)
                    | st.dictionaries(st.sampled_from(["id", "name", "x"]), inner, max_size=2)
                ),
                max_leaves=4,
            ),
            max_size=5,
        )
    )
    def test_custom_fields_never_collide_with_ecs(self, fields: dict[str, Any]) -> None:
        tracelog.reset()
        line = one("ecs", **fields)

        assert_ecs_types(line)


class TestOtel:
    def test_the_access_lines_client_is_split(self) -> None:
        attributes = one("otel", "GET / 200", client="[::1]:8080")["attributes"]
        assert ("::1", 8080) == (attributes["client.address"], attributes["client.port"])

    def test_log_data_model_names(self) -> None:
        line = one("otel", order_id=17, method="GET")

        assert "INFO" == line["severity_text"]
        assert 9 == line["severity_number"]
        assert "paid" == line["body"]
        assert TRACE_ID == line["trace_id"]
        assert 16 == len(line["span_id"])
        assert "01" == line["trace_flags"]
        assert {"service.name": "shop"} == line["resource"]
        assert {"name": "shop.orders"} == line["instrumentation_scope"]
        assert {"order_id": 17, "http.request.method": "GET"} == line["attributes"]

    def test_unsampled_trace_has_flags_00(self) -> None:
        out = io.BytesIO()
        tracelog.configure(schema="otel", stream=out)
        with tracelog.trace(sampled=False):
            tracelog.get_logger("x").warning("w")

        line = orjson.loads(out.getvalue())
        assert "00" == line["trace_flags"]
        assert 13 == line["severity_number"]

    def test_exception_uses_semantic_convention_attributes(self) -> None:
        attributes = logged_exception("otel")["attributes"]

        assert "ValueError" == attributes["exception.type"]
        assert "declined" == attributes["exception.message"]
        assert "Traceback" in attributes["exception.stacktrace"]

    def test_rename_and_static(self) -> None:
        line = one("otel", rename={"body": "message"}, static={"env": "prod"})

        assert "paid" == line["message"]
        assert "prod" == line["attributes"]["env"]


class TestGcp:
    def test_structured_logging_names(self) -> None:
        line = one("gcp", order_id=17)

        assert "INFO" == line["severity"]
        assert "paid" == line["message"]
        assert TRACE_ID == line["logging.googleapis.com/trace"]
        assert 16 == len(line["logging.googleapis.com/spanId"])
        assert line["logging.googleapis.com/trace_sampled"] is True
        assert {"logger": "shop.orders"} == line["logging.googleapis.com/labels"]
        assert 17 == line["order_id"]

    def test_trace_names_the_project_when_known(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme")

        line = one("gcp")

        assert f"projects/acme/traces/{TRACE_ID}" == line["logging.googleapis.com/trace"]

    def test_access_log_becomes_http_request(self) -> None:
        line = one("gcp", method="GET", path="/x", status=404, duration_ms=1.5)

        assert {
            "requestMethod": "GET",
            "requestUrl": "/x",
            "status": 404,
            "latency": "0.001500s",
        } == line["httpRequest"]

    def test_exception_for_error_reporting(self) -> None:
        line = logged_exception("gcp")

        assert "ERROR" == line["severity"]
        assert "ValueError: declined" in line["stack_trace"]
        assert {"service": "shop"} == line["serviceContext"]


class TestProjection:
    def test_unknown_schema_is_refused(self) -> None:
        with pytest.raises(ValueError, match="not one of default, ecs, otel, gcp"):
            Projection("elk")

    def test_default_is_identity_without_options(self) -> None:
        assert Projection().is_identity
        assert not Projection(static={"a": 1}).is_identity

    def test_projection_never_mutates_the_event(self) -> None:
        event = {"timestamp": dt.datetime.now(dt.timezone.utc), "level": "info", "message": "m"}
        for name in ("default", "ecs", "otel", "gcp"):
            before = dict(event)
            Projection(name, {"message": "msg"}, {"s": 1})(None, "info", event)
            assert before == event

    def test_catalogue_is_loaded(self) -> None:
        types = ecs_field_types()

        assert "long" == types["http.response.status_code"]
        assert "keyword" == types["trace.id"]
        assert "error.stack_trace.text" not in types  # a multi-field, not a key


class TestFormatExceptionText:
    def test_context_chain_reads_like_python(self) -> None:
        exc = {
            "type": "B",
            "message": "b",
            "frames": [{"file": "f.py", "line": 2, "function": "g"}],
            "context": {"type": "A", "message": "", "frames": []},
        }

        text = format_exception_text(exc)

        assert text.index("\nA") < text.index("During handling") < text.index("B: b")
        assert '  File "f.py", line 2, in g' in text
