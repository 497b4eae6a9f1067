from __future__ import annotations

import datetime as dt
import functools
import io
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracelog
from tracelog._values import format_exception_text
from tracelog.schema import (
    ECS_CUSTOM_NAMESPACE,
    ECS_VERSION,
    Projection,
    ecs_field_types,
    ecs_value_fits,
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


def test_a_dict_of_yours_is_never_changed_by_the_layout() -> None:
    labels = {"team": "pay"}
    line = one("ecs", labels=labels, **{"labels.env": "prod"})
    assert {"team": "pay", "env": "prod"} == line["labels"]
    assert {"team": "pay"} == labels


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


# --- the pipeline's values keep their places in every schema ---------------------

TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
GCP = "logging.googleapis.com/"

#: Field names a user might log that the schemas write themselves (or nest under).
COMMON_NAMES = [
    "timestamp",
    "level",
    "logger",
    "message",
    "trace_id",
    "span_id",
    "parent_span_id",
    "span_name",
    "trace_sampled",
    "service",
    "logging_error",
]
ECS_NAMES = [
    "@timestamp",
    "log",
    "log.level",
    "log.logger",
    "ecs",
    "ecs.version",
    "trace",
    "trace.id",
    "span",
    "span.id",
    "parent.id",
    "span.name",
    "service.name",
    "event.dataset",
    "error",
    "error.type",
    "error.message",
    "error.stack_trace",
    "tracelog",
    "tracelog.log.level",
    "tracelog.@timestamp",
    "message.x",
]
OTEL_NAMES = [
    "severity_text",
    "severity_number",
    "body",
    "trace_flags",
    "instrumentation_scope",
    "resource",
    "attributes",
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "exception.type_",
]
GCP_NAMES = [
    "time",
    "severity",
    GCP + "trace",
    GCP + "spanId",
    GCP + "trace_sampled",
    GCP + "labels",
    "serviceContext",
    "stack_trace",
    "httpRequest",
    "time_",
]
#: rename= targets used in LAYOUTS.
RENAMED_NAMES = [
    "msg",
    "logger_name",
    "severity_",
]
OWNED_NAMES = {
    "default": COMMON_NAMES + RENAMED_NAMES,
    "ecs": COMMON_NAMES + ECS_NAMES + RENAMED_NAMES,
    "otel": COMMON_NAMES + OTEL_NAMES + RENAMED_NAMES,
    "gcp": COMMON_NAMES + GCP_NAMES + RENAMED_NAMES,
}
SUBKEYS = ["id", "level", "logger", "name", "version", "type", "message", "dataset", "service"]


def user_fields(schema: str) -> st.SearchStrategy[dict[str, Any]]:
    """Fields named like the schemas' own, with values to be numbered (None: a leaf)."""
    value: st.SearchStrategy[Any] = st.recursive(
        st.none(), lambda inner: st.dictionaries(st.sampled_from(SUBKEYS), inner, max_size=3)
    )
    names = st.sampled_from(OWNED_NAMES[schema]) | st.sampled_from(
        ECS_NAMES + OTEL_NAMES + GCP_NAMES
    )
    return st.dictionaries(names, value, max_size=8)


def numbered(value: Any, counter: list[int]) -> Any:
    """``value`` with every leaf a distinct token, so each one can be found on the line."""
    if isinstance(value, dict):
        return {k: numbered(v, counter) for k, v in value.items()}
    counter[0] += 1
    return f"user-{counter[0]}"


def tokens(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(tokens(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(tokens(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def at(line: dict[str, Any], path: str) -> Any:
    """The value at a dotted name: a top-level key with a dot (``log.level``), or nested."""
    if path in line:
        return line[path]
    node: Any = line
    for part in path.split("."):
        assert isinstance(node, dict) and part in node, f"{path} is not on {line}"
        node = node[part]
    return node


def owned_values(schema: str, rename: dict[str, str], span_id: str, failed: bool) -> dict[str, Any]:
    """What the pipeline writes on a line of ``one()`` (as a regex for times), by output name."""
    pipeline: dict[str, Any] = {
        "default": {
            "timestamp": TIME,
            "level": "info",
            "logger": "shop.orders",
            "message": "paid",
            "trace_id": TRACE_ID,
            "span_id": span_id,
            "service": "shop",
        },
        "ecs": {
            "@timestamp": TIME,
            "log.level": "info",
            "message": "paid",
            "ecs.version": ECS_VERSION,
            "log.logger": "shop.orders",
            "trace.id": TRACE_ID,
            "span.id": span_id,
            "service.name": "shop",
        },
        "otel": {
            "timestamp": TIME,
            "severity_text": "INFO",
            "severity_number": 9,
            "body": "paid",
            "trace_id": TRACE_ID,
            "span_id": span_id,
            "trace_flags": "01",
            "instrumentation_scope": {"name": "shop.orders"},
            "resource": {"service.name": "shop"},
        },
        "gcp": {
            "time": TIME,
            "severity": "INFO",
            "message": "paid",
            GCP + "trace": TRACE_ID,
            GCP + "spanId": span_id,
            GCP + "trace_sampled": True,
            GCP + "labels": {"logger": "shop.orders"},
            "serviceContext": {"service": "shop"},
        },
    }[schema]
    if failed:
        pipeline.update(
            {
                "default": {},
                "ecs": {"error.type": "ValueError", "error.message": "declined"},
                "otel": {},
                "gcp": {},
            }[schema]
        )
    return {rename.get(name, name): value for name, value in pipeline.items()}


LAYOUTS = [
    ("default", {}, {}),
    ("default", {"message": "msg", "level": "severity"}, {"env": "static-env"}),
    ("ecs", {}, {}),
    ("ecs", {"message": "msg", "log.logger": "logger_name"}, {"env": "static-env"}),
    ("otel", {}, {}),
    ("otel", {"body": "msg", "env": "exception.type"}, {"env": "static-env"}),
    ("gcp", {}, {}),
    ("gcp", {"message": "msg", "severity": "severity_"}, {"env": "static-env"}),
]


def log_fields(
    schema: str, rename: dict[str, str], static: dict[str, str], fields: dict[str, Any], fail: bool
) -> tuple[dict[str, Any], str]:
    out = io.BytesIO()
    tracelog.configure(schema=schema, stream=out, service="shop", rename=rename, static=static)
    log = tracelog.get_logger("shop.orders")
    with tracelog.trace(TRACE_ID) as ctx:
        if fail:
            try:
                raise ValueError("declined")
            except ValueError:
                log.info("paid", exc_info=True, **fields)
        else:
            log.info("paid", **fields)
    return orjson.loads(out.getvalue()), str(ctx.span_id)


class TestPipelineValuesKeepTheirPlace:
    @pytest.mark.parametrize(("schema", "rename", "static"), LAYOUTS)
    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data(), fail=st.booleans())
    def test_no_field_replaces_a_pipeline_value_and_none_is_lost(
        self,
        schema: str,
        rename: dict[str, str],
        static: dict[str, str],
        data: st.DataObject,
        fail: bool,
    ) -> None:
        tracelog.reset()
        fields = numbered(data.draw(user_fields(schema)), [0])

        line, span_id = log_fields(schema, rename, static, fields, fail)

        for name, expected in owned_values(schema, rename, span_id, fail).items():
            actual = at(line, name)
            if expected == TIME:
                assert isinstance(actual, str) and re.match(TIME, actual), (name, line)
            else:
                assert expected == actual, (name, line)
        if fail:
            exception = {
                "default": lambda: line["exception"]["type"],
                "ecs": lambda: line["error"]["type"],
                "otel": lambda: line["attributes"]["exception.type"],
                "gcp": lambda: line["stack_trace"].rpartition("\n")[2].partition(":")[0],
            }[schema]()
            assert "ValueError" == exception, line
        on_line = tokens(line)
        assert tokens(fields) <= on_line, line
        assert "static-env" in on_line or not static
        if schema == "ecs":
            assert_ecs_types(line)

    def test_gcp_time_and_severity(self) -> None:
        # The audit's case: the line kept "12ms" as its time and "low" as its severity.
        out = io.StringIO()
        tracelog.configure(stream=out, schema="gcp")

        tracelog.get_logger("jobs").error("job failed", severity="low", time="12ms")

        line = orjson.loads(out.getvalue())
        assert "ERROR" == line["severity"]
        assert re.match(TIME, line["time"])
        assert ("low", "12ms") == (line["severity_"], line["time_"])

    def test_gcp_late_pipeline_keys_move_your_field_aside(self) -> None:
        line = one(
            "gcp",
            method="GET",
            httpRequest={"mine": 1},
            stack_trace="mine",
            **{GCP + "labels": {"team": "pay"}, GCP + "trace": "mine"},
        )

        assert {"requestMethod": "GET"} == line["httpRequest"]
        assert {"mine": 1} == line["httpRequest_"]
        assert {"logger": "shop.orders"} == line[GCP + "labels"]
        assert {"team": "pay"} == line[GCP + "labels_"]
        assert TRACE_ID == line[GCP + "trace"]
        assert "mine" == line[GCP + "trace_"] == line["stack_trace"]

    def test_ecs_trace_timestamp_and_level(self) -> None:
        # The audit's case: the user's trace.id and @timestamp replaced the pipeline's.
        line = one(
            "ecs",
            trace={"id": "from-user"},
            log={"level": "nested", "origin": {"function": "pay"}},
            **{"@timestamp": "yesterday", "log.level": "dotted", "trace.id": "dotted"},
        )

        assert TRACE_ID == line["trace"]["id"]
        assert "info" == line["log.level"]
        assert re.match(TIME, line["@timestamp"])
        assert {"logger": "shop.orders", "origin": {"function": "pay"}} == line["log"]
        assert {
            "trace": {"id": "from-user", "id_": "dotted"},
            "log": {"level": "nested", "level_": "dotted"},
            "@timestamp": "yesterday",
        } == line[ECS_CUSTOM_NAMESPACE]
        assert_ecs_types(line)

    def test_ecs_your_error_fields_stay_without_an_exception(self) -> None:
        line = one("ecs", **{"error.type": "Timeout", "event.dataset": "shop.access"})

        assert "Timeout" == line["error"]["type"]
        assert "shop.access" == line["event"]["dataset"]  # yours wins over the service's

    def test_ecs_the_exception_wins_over_your_error_fields(self) -> None:
        out = io.BytesIO()
        tracelog.configure(schema="ecs", stream=out)
        try:
            raise ValueError("declined")
        except ValueError:
            tracelog.get_logger("x").exception("failed", error={"type": "mine"})

        line = orjson.loads(out.getvalue())
        assert "ValueError" == line["error"]["type"]
        assert {"error": {"type": "mine"}} == line[ECS_CUSTOM_NAMESPACE]

    def test_otel_the_exception_wins_over_your_attribute(self) -> None:
        out = io.BytesIO()
        tracelog.configure(schema="otel", stream=out)
        try:
            raise ValueError("declined")
        except ValueError:
            tracelog.get_logger("x").exception("failed", **{"exception.type": "mine"})

        attributes = orjson.loads(out.getvalue())["attributes"]
        assert ("ValueError", "mine") == (
            attributes["exception.type"],
            attributes["exception.type_"],
        )

    @pytest.mark.parametrize(
        ("schema", "rename", "owned"),
        [
            ("default", {"message": "msg"}, "msg"),
            ("ecs", {"message": "msg"}, "msg"),
            ("gcp", {"message": "msg"}, "msg"),
            ("otel", {"body": "msg"}, "msg"),
        ],
    )
    def test_a_field_named_like_a_rename_target(
        self, schema: str, rename: dict[str, str], owned: str
    ) -> None:
        line = one(schema, rename=rename, msg="mine")

        assert "paid" == line[owned]
        assert "mine" in tokens(line)

    def test_a_static_named_like_a_pipeline_key_keeps_its_value(self) -> None:
        line = one("default", static={"level": "static", "message": "static"})

        assert ("info", "paid") == (line["level"], line["message"])
        assert ("static", "static") == (line["level_"], line["message_"])

    def test_the_common_line_is_unchanged(self) -> None:
        line = one("ecs", order_id=17, method="GET")

        assert ECS_CUSTOM_NAMESPACE not in line
        assert 17 == line["order_id"]
        assert "GET" == line["http"]["request"]["method"]


# --- the fallback line after a fault ----------------------------------------------


def broken(logger: Any, method_name: str, event_dict: Any) -> Any:
    raise RuntimeError("processor bug")


class TestFallbackLine:
    @pytest.mark.parametrize(
        ("schema", "keys"),
        [
            ("default", ["timestamp", "level", "logger", "message"]),
            ("ecs", ["@timestamp", "log.level", "message", "ecs.version"]),
            ("otel", ["timestamp", "severity_text", "severity_number", "body"]),
            ("gcp", ["time", "severity", "message"]),
        ],
    )
    def test_a_processor_fault_yields_a_line_in_the_schema(
        self, schema: str, keys: list[str], capfd: pytest.CaptureFixture[str]
    ) -> None:
        out = io.BytesIO()
        tracelog.configure(stream=out, schema=schema, processors=[broken], service="shop")
        with tracelog.trace(TRACE_ID):
            tracelog.get_logger("p").info("hello", order=7, level="mine", password="hunter2")

        raw = out.getvalue()
        line = orjson.loads(raw)
        assert keys == list(line)[: len(keys)]
        flat = dict(leaves(line))
        assert "hello" == line[keys[3 if schema in ("default", "otel") else 2]]
        assert TRACE_ID in tokens(line)
        assert "shop" in tokens(line)
        assert 7 in flat.values()
        assert "mine" in tokens(line)
        assert any("processor bug" in v for v in tokens(line))
        assert b"hunter2" not in raw
        assert "processor bug" in capfd.readouterr().err
        if schema == "ecs":
            assert_ecs_types(line)

    def test_a_console_line_for_the_console_format(self) -> None:
        out = io.StringIO()
        tracelog.configure(stream=out, format="console", processors=[broken])

        tracelog.get_logger("p").info("hello", order=7)

        text = out.getvalue()
        assert not text.startswith("{")
        assert "hello" in text and "order=7" in text and "processor bug" in text

    def test_each_output_gets_its_own_layout(self) -> None:
        ecs, gcp = io.BytesIO(), io.BytesIO()
        tracelog.configure(
            outputs=[tracelog.outputs.Stream(ecs, schema="ecs"), tracelog.outputs.Stream(gcp)],
            schema="gcp",
            processors=[broken],
        )

        tracelog.get_logger("p").warning("hello")

        assert "warning" == orjson.loads(ecs.getvalue())["log.level"]
        assert "WARNING" == orjson.loads(gcp.getvalue())["severity"]

    def test_a_failing_renderer_keeps_the_laid_out_line(self) -> None:
        from tracelog import pipeline as _pipeline
        from tracelog.render import JsonRenderer

        class Broken(JsonRenderer):
            def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
                raise RuntimeError("renderer bug")

        written: list[Any] = []
        pipeline = _pipeline.Pipeline([Projection("ecs"), Broken()], written.append)

        pipeline.run(None, "info", {"timestamp": "t", "level": "info", "message": "m", "a": 1})

        line = orjson.loads(written[0])
        assert ("t", "info", "m", 1) == (
            line["@timestamp"],
            line["log.level"],
            line["message"],
            line["a"],
        )
        assert ECS_CUSTOM_NAMESPACE not in line
        assert "renderer bug" in line["logging_error"]
