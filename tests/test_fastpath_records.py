"""The inlined stdlib handle: taken for the usual record, and always the general path's line."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tracelog
from _lines import Lines
from test_render import PROPERTY, check_line, values
from tracelog import _fastpath as _inline
from tracelog.stdlib import TracelogHandler

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
# A mapping that may hold a secret, or a brace in a value.
FORMS = st.dictionaries(st.sampled_from(["password", "name", "{"]), st.text(max_size=5))
EXTRA = {"user_id": 42, "path": "/api/items", "status": 200, "duration_ms": 12.5}


def root_handler() -> TracelogHandler:
    # configure() keeps the handlers pytest put on the root (caplog): ours is the one of its kind
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, TracelogHandler)]
    return handler


def is_inlined(handler: TracelogHandler) -> bool:
    return "handle" in handler.__dict__


@pytest.fixture
def general_calls(monkeypatch: pytest.MonkeyPatch) -> list[logging.LogRecord]:
    """Records that took the handler's general path (configure() after this fixture)."""
    calls: list[logging.LogRecord] = []
    general = TracelogHandler.handle

    def counted(self: TracelogHandler, record: logging.LogRecord) -> bool:
        calls.append(record)
        return general(self, record)

    monkeypatch.setattr(TracelogHandler, "handle", counted)
    return calls


def record(
    message: Any = "request handled",
    args: Any = (),
    extra: dict[str, Any] | None = None,
    level: int = logging.INFO,
    exc_info: Any = None,
    sinfo: str | None = None,
) -> logging.LogRecord:
    logger = logging.getLogger("tests.inline")
    return logger.makeRecord(
        logger.name, level, __file__, 1, message, args, exc_info, extra=extra, sinfo=sinfo
    )


class TestWhenInlined:
    @pytest.mark.parametrize("nonblocking", [False, True])
    def test_the_usual_chain_is_inlined(self, nonblocking: bool) -> None:
        tracelog.configure(stream=io.BytesIO(), nonblocking=nonblocking)
        assert is_inlined(root_handler())

    @pytest.mark.parametrize(
        "options",
        [
            {"format": "console"},
            {"processors": [lambda logger, name, event: event]},
            {"buffer": tracelog.TraceBuffer()},
            {"schema": "ecs"},
        ],
        ids=["console", "processors", "buffer", "ecs"],
    )
    def test_any_other_chain_takes_the_general_path(self, options: dict[str, Any]) -> None:
        tracelog.configure(stream=io.BytesIO(), **options)
        assert not is_inlined(root_handler())

    def test_reconfiguring_follows_the_new_chain(self) -> None:
        tracelog.configure(stream=io.BytesIO())
        handler = root_handler()
        assert is_inlined(handler)
        tracelog.configure(stream=io.StringIO(), format="console", capture_stdlib=True)
        assert not is_inlined(root_handler())
        tracelog.configure(stream=io.BytesIO())
        assert is_inlined(root_handler())

    def test_a_handler_made_by_hand_follows_the_pipeline_too(self) -> None:
        out = io.BytesIO()
        tracelog.configure(stream=out, capture_stdlib=False)
        handler = TracelogHandler()
        assert is_inlined(handler)
        handler.handle(record())
        assert "request handled" == orjson.loads(out.getvalue())["message"]

    def test_the_usual_record_skips_the_general_path(
        self, general_calls: list[logging.LogRecord]
    ) -> None:
        lines = Lines(service="shop")
        std = logging.getLogger("bench.stdlib")
        with tracelog.trace(TRACE_ID):
            for _ in range(3):
                std.info("request handled", extra=EXTRA)
        # The first builds the trace's line template and learns the keys; the rest are inlined.
        assert 1 == len(general_calls)
        first, *rest = lines.raw()
        assert [first[first.index(b'"level"') :]] * 2 == [r[r.index(b'"level"') :] for r in rest]

    @pytest.mark.parametrize(
        "make",
        [
            lambda: record(exc_info=(ValueError, ValueError("x"), None)),
            lambda: record(sinfo="Stack (most recent call last):\n  here"),
            lambda: record("n=%d", ("not a number",)),
            lambda: record(extra={"password": "hunter2"}),
            lambda: record(extra={"level": "mine"}),
            lambda: record(level=25),
            lambda: record({"password": "hunter2"}, extra=dict(EXTRA)),
        ],
        ids=[
            "exc_info",
            "stack_info",
            "bad-format",
            "secret",
            "owned-key",
            "custom-level",
            "mapping-message",
        ],
    )
    def test_unusual_records_take_the_general_path(
        self, general_calls: list[logging.LogRecord], make: Any
    ) -> None:
        lines = Lines()
        handler = root_handler()
        with tracelog.trace(TRACE_ID):
            handler.handle(record(extra=dict(EXTRA)))  # builds the template, learns the keys
            general_calls.clear()
            odd = make()
            handler.handle(odd)
            handler.handle(odd)
        assert [odd, odd] == general_calls
        assert 3 == len(lines())

    def test_a_filter_on_the_handler_is_honoured(self) -> None:
        lines = Lines()
        handler = root_handler()
        handler.addFilter(lambda r: r.getMessage() != "hidden")
        with tracelog.trace(TRACE_ID):
            for message in ("shown", "hidden", "shown"):
                logging.getLogger("x").info(message)
        assert ["shown", "shown"] == [line["message"] for line in lines()]


class TestSameLine:
    """The inlined path writes, byte for byte, what the general path writes."""

    @pytest.mark.parametrize("nonblocking", [False, True])
    def test_a_nested_secret_is_redacted_and_the_time_keeps_its_zone(
        self, nonblocking: bool
    ) -> None:
        out = io.BytesIO()
        tracelog.configure(stream=out, nonblocking=nonblocking)
        with tracelog.trace(TRACE_ID, user=7):
            for _ in range(3):
                logging.getLogger("x").info(
                    "login", extra={"form": {"name": "ann", "password": "hunter2"}}
                )
        tracelog.flush()
        lines = [check_line(raw) for raw in out.getvalue().splitlines(keepends=True)]
        assert 3 == len(lines)
        for line in lines:
            assert {"name": "ann", "password": "[REDACTED]"} == line["form"]
            assert line["timestamp"].endswith("Z")

    def test_a_mapping_message_is_kept_whole_and_redacted_every_time(self) -> None:
        lines = Lines()
        with tracelog.trace(TRACE_ID):
            for _ in range(3):  # the keys are known plain after the first
                logging.getLogger("x").info({"user": "ann", "password": "hunter2"}, extra=EXTRA)
        assert 3 * [{"user": "ann", "password": "[REDACTED]"}] == [
            line["message"] for line in lines()
        ]

    def test_a_record_on_a_whole_second_keeps_its_microseconds(self) -> None:
        lines = Lines()
        odd = record(extra=dict(EXTRA))
        odd.created = 1_764_000_000.0
        with tracelog.trace(TRACE_ID):
            root_handler().handle(record(extra=dict(EXTRA)))
            root_handler().handle(odd)
        assert "2025-11-24T16:00:00.000000Z" == lines()[-1]["timestamp"]

    # Most draws are records the inlined path takes (plain keys, a str message, no late
    # attributes); the rest are the records it hands to the general path.
    @PROPERTY
    @given(
        extra=st.one_of(
            st.dictionaries(
                st.sampled_from(["user_id", "path", "status", "form", "items"]),
                st.one_of(st.integers(), st.text(), FORMS, st.lists(FORMS, max_size=2)),
                min_size=1,
                max_size=5,
            ),
            st.dictionaries(
                st.one_of(
                    st.text(min_size=1, max_size=12).filter(str.isidentifier),
                    st.sampled_from(["password", "level", "event", "trace_id", "service"]),
                ).filter(lambda key: key not in _inline.STANDARD_ATTRS),
                values,
                max_size=5,
            ),
        ),
        message=st.one_of(st.text(), values),
        args=st.one_of(st.just(()), st.just(()), st.tuples(values)),
        level=st.sampled_from([10, 20, 25, 30, 40, 50]),
        created=st.one_of(
            st.floats(min_value=0, max_value=4e9),
            st.integers(min_value=0, max_value=4_000_000_000).map(float),
        ),
        late=st.one_of(
            st.just({}),
            st.just({}),
            st.dictionaries(
                st.sampled_from(["message", "asctime", "trace_id", "color_message"]),
                st.text(max_size=5),
                max_size=2,
            ),
        ),
        bound=st.dictionaries(
            st.sampled_from(["user_id", "path", "token", "req"]), st.one_of(st.text(), values)
        ),
        where=st.sampled_from(["none", "trace", "span"]),
        nonblocking=st.booleans(),
    )
    def test_any_record(
        self,
        extra: dict[str, Any],
        message: Any,
        args: Any,
        level: int,
        created: float,
        late: dict[str, Any],
        bound: dict[str, Any],
        where: str,
        nonblocking: bool,
    ) -> None:
        out = io.BytesIO()
        tracelog.configure(stream=out, level="debug", service="shop", nonblocking=nonblocking)
        handler = root_handler()
        assert is_inlined(handler)
        made = record(message, args, extra, level)
        made.created = created
        made.__dict__.update(late)
        with tracelog.trace(TRACE_ID, **bound) if where != "none" else contextlib.nullcontext():
            with tracelog.span("step") if where == "span" else contextlib.nullcontext():
                handler.handle(made)  # the first may take the general path and learn the keys
                handler.handle(made)
                TracelogHandler.handle(handler, made)
        tracelog.flush()
        raws = out.getvalue().splitlines(keepends=True)
        assert 3 == len(raws)
        for raw in raws:
            check_line(raw)
        assert raws[2] == raws[1] == raws[0]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the naive time is for 3.10 and 3.11")
def test_the_naive_time_is_the_aware_one() -> None:
    import datetime as dt

    from tracelog import processors, render

    for moment in (0.0, 0.5, 1.25e-6, 1_764_000_000.000_000_5, 1_764_000_000.999_999_6, 4e9):
        aware = dt.datetime.fromtimestamp(moment, dt.timezone.utc)
        naive = processors.line_time(moment)
        assert orjson.dumps(aware, option=render.OPTIONS) == orjson.dumps(
            naive, option=processors.LINE_OPTIONS
        )
