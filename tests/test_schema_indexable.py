"""Every ``ecs`` document is one Elasticsearch indexes, and every ``otel`` line fits the OTel
log data model, whatever the field names and values, from both entry points."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracelog
from _receivers import ElasticsearchReceiver, es_refusal, otel_refusal

# Names of every kind: ECS names and sets, the pipeline's names, dotted, empty, blank.
NAMES = st.one_of(
    st.sampled_from(
        [
            "foo",
            "foo.bar",
            "message",
            "labels",
            "event",
            "service",
            "tracelog",
            "host",
            "host.name",
            "log",
            "log.level",
            "error",
            "trace",
            "trace.id",
            "user.id",
            "level",
            "timestamp",
            "logger",
            "span_id",
            "http.request.method",
            "status",
            "duration_ms",
            "",
            " ",
            ".",
            "a..b",
            ".a",
            "a.",
            "@timestamp",
            "ecs.version",
            "url",
            "client",
        ]
    ),
    st.text(alphabet="ab._ ", max_size=6),
    st.text(max_size=8),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(NAMES, inner, max_size=4)),
    max_leaves=12,
)
FIELDS = st.dictionaries(NAMES, VALUES, max_size=6)
# What logging itself refuses in extra= (it raises before any handler runs).
_RECORD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    tracelog.reset()


def lines_of(schema: str, fields: dict[str, Any], dict_event: bool) -> list[dict[str, Any]]:
    out = io.BytesIO()
    tracelog.configure(schema=schema, stream=out, service="shop", level="DEBUG")
    log = tracelog.get_logger("shop.orders")
    structlog_fields = {k: v for k, v in fields.items() if k != "event"}
    with tracelog.trace():
        if dict_event:
            log.info(fields)
        log.info("paid", **structlog_fields)
        log.bind(**fields).warning("bound")
        logging.getLogger("shop.std").warning(
            "std", extra={k: v for k, v in fields.items() if k not in _RECORD}
        )
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class TestEcsDocuments:
    @SETTINGS
    @given(fields=FIELDS, dict_event=st.booleans())
    def test_elasticsearch_indexes_every_document(
        self, fields: dict[str, Any], dict_event: bool
    ) -> None:
        for document in lines_of("ecs", fields, dict_event):
            assert es_refusal(document, ecs=True) is None, document

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"foo": "bar", "foo.bar": "baz"}, {"foo": {"bar": "baz"}}),
            ({"event_": {"kind": "k"}}, {"event": {"kind": "k"}}),
            ({"labels": {"a.b": 1, "ok": 2}}, {"labels": {"a": {"b": 1}}}),
        ],
    )
    def test_what_would_clash_moves_under_tracelog(
        self, fields: dict[str, Any], expected: dict[str, Any]
    ) -> None:
        out = io.BytesIO()
        tracelog.configure(schema="ecs", stream=out)
        tracelog.get_logger("shop").info("x", **fields)
        document = orjson.loads(out.getvalue())
        assert expected == document["tracelog"]
        assert es_refusal(document, ecs=True) is None

    def test_a_dict_event_is_text_in_message(self) -> None:
        out = io.BytesIO()
        tracelog.configure(schema="ecs", stream=out)
        tracelog.get_logger("shop").info({"text": "hi", "n": 1})
        document = orjson.loads(out.getvalue())
        assert {"text": "hi", "n": 1} == orjson.loads(document["message"])

    def test_service_given_twice_is_under_tracelog(self) -> None:
        out = io.BytesIO()
        tracelog.configure(schema="ecs", stream=out, service="shop")
        log = tracelog.get_logger("shop")
        log.info("x", service={"name": "other", "tier": 2})
        logging.getLogger("std").warning("y", extra={"event": {"kind": "k"}})
        first, second = (orjson.loads(line) for line in out.getvalue().splitlines())
        assert "shop" == first["service"]["name"]
        assert {"service": {"name": "other", "tier": 2}} == first["tracelog"]
        assert {"event": {"kind": "k"}} == second["tracelog"]

    def test_a_strict_receiver_indexes_every_line(self) -> None:
        with ElasticsearchReceiver(strict_ecs=True) as receiver:
            shipper = tracelog.outputs.Elasticsearch(
                receiver.url, index="logs-shop-default", batch_interval=0.05
            )
            tracelog.configure(outputs=[shipper], service="shop")
            log = tracelog.get_logger("shop")
            log.info("x", foo="bar", **{"foo.bar": "baz"})
            log.info({"text": "dict event"})
            log.info("y", labels={"a.b": 1, "c": {"d": 2}}, event_={"kind": 1})
            assert tracelog.flush(10)
            stats = shipper.stats()
            assert (3, 0) == (stats["written"], stats["failed"]), receiver.rejections


class TestOtelLines:
    @SETTINGS
    @given(fields=FIELDS, dict_event=st.booleans())
    def test_every_line_fits_the_log_data_model(
        self, fields: dict[str, Any], dict_event: bool
    ) -> None:
        for line in lines_of("otel", fields, dict_event):
            assert otel_refusal(line) is None, line
