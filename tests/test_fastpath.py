"""The generated fast paths write what the plain chain writes, on every configuration.

Each example draws a configuration (schema, format, outputs, rename/static/redact, a
processor of yours, buffering or sampling, structlog contextvars, an OpenTelemetry span)
and a call (fields, ``extra=``, an exception, a stack), makes the call once through the
fast paths the pipeline was given and once through the plain chain only, and compares
the bytes of every output. Only the line's own time differs between the two calls.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import sys
import threading
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracelog
from tracelog import _fastpath, stdlib
from tracelog import logger as _logger
from tracelog import pipeline as _pipeline

LINE_TIME = re.compile(
    rb'("(?:@?timestamp|time)": ?")[0-9T:.+\-Z]+(")|^()\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+()', re.M
)
SECRET = "hunter2-s3cret"

keys = st.sampled_from(
    ["user_id", "path", "status", "order", "note", "level", "message", "password", "x.y", "labels"]
)
leaves = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
    st.sampled_from(
        [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 1, 12, 30, tzinfo=dt.timezone.utc)]
    ),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(keys, inner, max_size=3),
        st.lists(st.tuples(keys, inner), max_size=3),  # key/value pairs
    ),
    max_leaves=6,
)
calls = st.fixed_dictionaries(
    {
        "fields": st.dictionaries(keys, values, max_size=4),
        "stdlib": st.booleans(),
        "level": st.sampled_from(["debug", "info", "warning", "error"]),
        "exception": st.booleans(),
        "stack": st.booleans(),
        "dict_event": st.booleans(),
    }
)
configurations = st.fixed_dictionaries(
    {
        "schema": st.sampled_from(["default", "ecs", "otel", "gcp"]),
        "format": st.sampled_from(["json", "json", "console"]),
        "outputs": st.integers(1, 2),
        "rename": st.booleans(),
        "static": st.booleans(),
        "redact": st.booleans(),
        "processor": st.booleans(),
        "gate": st.sampled_from([None, "buffer", "sampling"]),
        "contextvars": st.booleans(),
        "otel_span": st.booleans(),
        "bound": st.booleans(),
    }
)


def _processor(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict["seen_by"] = "mine"
    return event_dict


def configure(conf: dict[str, Any]) -> list[io.BytesIO]:
    streams = [io.BytesIO() for _ in range(conf["outputs"])]
    options: dict[str, Any] = {"level": "DEBUG", "service": "shop"}
    if conf["outputs"] == 1:
        options["stream"] = streams[0]
        options["format"] = conf["format"]
        options["schema"] = conf["schema"]
    else:
        # two outputs: the first in the drawn layout, the second in the default one
        options["outputs"] = [
            tracelog.outputs.Stream(streams[0], format=conf["format"], schema=conf["schema"]),
            tracelog.outputs.Stream(streams[1], level="INFO"),
        ]
    if conf["rename"]:
        options["rename"] = {"status": "http_status"}
    if conf["static"]:
        options["static"] = {"env": "test"}
    if conf["redact"]:
        options["redact"] = ["note"]
    if conf["processor"]:
        options["processors"] = [_processor]
    if conf["gate"] == "buffer":
        options["buffer"] = tracelog.TraceBuffer()
    elif conf["gate"] == "sampling":
        options["sampling"] = tracelog.Sampling(rate=1.0)
    tracelog.configure(**options)
    return streams


def plain_only() -> None:
    """Take every fast path away: the pipeline's emit and the handlers' inlined handle."""
    pipeline = _pipeline.active()
    pipeline.emit = pipeline.emit_plain
    _logger._apply_level(pipeline)  # the general level methods: the emit is not generated
    for handler in list(stdlib._handlers):
        handler.__dict__.pop("handle", None)


def fast_again() -> None:
    pipeline = _pipeline.active()
    _fastpath._install(pipeline)
    _logger._apply_level(pipeline)
    stdlib._on_install(pipeline)


def make_call(call: dict[str, Any], secret: str) -> None:
    fields = dict(call["fields"])
    if secret == "top":
        fields["password"] = SECRET
    elif secret == "nested":  # under keys that are not secrets: only a search finds it
        fields["payload"] = {"items": [{"api_key": SECRET}], "client_secret": SECRET}
    elif secret == "pairs":  # a line with no nested object: an array of pairs is searched too
        fields["headers"] = [("Authorization", SECRET), ("Accept", "*/*")]
    level = call["level"]
    extra: dict[str, Any] = {}
    if call["stack"]:
        extra["stack_info"] = True
    try:
        if call["exception"]:
            raise ValueError("boom")
        raise LookupError("not this one")
    except Exception:
        if call["exception"]:
            extra["exc_info"] = True
        if call["stdlib"]:
            std_fields = {k: v for k, v in fields.items() if k not in ("message",)}
            getattr(logging.getLogger("app.std"), level)("handled %s", 7, extra=std_fields, **extra)
        else:
            log = tracelog.get_logger("app")
            event: Any = {"text": "hi", **fields} if call["dict_event"] else "handled"
            getattr(log, level)(event, **({} if call["dict_event"] else fields), **extra)


@pytest.fixture
def otel_tracer() -> Any:
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider().get_tracer("tests")


def normalised(stream: io.BytesIO, start: int) -> bytes:
    return LINE_TIME.sub(rb"\1T\2", stream.getvalue()[start:])


def fast_and_plain(streams: list[io.BytesIO], call: dict[str, Any], secret: str) -> list[bytes]:
    """Make the call once through the fast paths and once through the plain chain only (from
    one call site: the same stack); assert both wrote the same bytes, and return them."""
    written: dict[str, list[bytes]] = {}
    for mode in ("fast", "plain"):
        if mode == "plain":
            plain_only()
        try:
            starts = [s.tell() for s in streams]
            make_call(call, secret)
            written[mode] = [normalised(s, n) for s, n in zip(streams, starts)]
        finally:
            if mode == "plain":
                fast_again()
    assert written["plain"] == written["fast"]
    return written["fast"]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(conf=configurations, call_list=st.lists(calls, min_size=1, max_size=3))
def test_fast_paths_write_what_the_plain_chain_writes(
    conf: dict[str, Any], call_list: list[dict[str, Any]], otel_tracer: Any
) -> None:
    streams = configure(conf)
    try:
        if conf["contextvars"]:
            structlog.contextvars.bind_contextvars(tenant="acme", request_id="r-1")
        span = otel_tracer.start_as_current_span("op") if conf["otel_span"] else None
        if span is not None:
            span.__enter__()
        try:
            with tracelog.trace(**({"customer": "c-9", "token": SECRET} if conf["bound"] else {})):
                for call in call_list:
                    for secret in ("none", "top", "nested", "pairs"):
                        # twice each: the second call finds caches (templates, layouts) warm
                        for _ in range(2):
                            for out in fast_and_plain(streams, call, secret):
                                assert SECRET.encode() not in out
        finally:
            if span is not None:
                span.__exit__(None, None, None)
    finally:
        structlog.contextvars.clear_contextvars()
        tracelog.reset()


@pytest.fixture
def plain_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The calls that took the plain chain (Pipeline.emit_plain) during the test."""
    calls: list[Any] = []
    original = _pipeline.Pipeline.emit_plain

    def counting(self: Any, *args: Any) -> None:
        calls.append(args)
        original(self, *args)

    monkeypatch.setattr(_pipeline.Pipeline, "emit_plain", counting)
    return calls


class TestWhereTheFastPathIsBuilt:
    """The configurations the benchmark's rows measure get a generated emit."""

    @pytest.mark.parametrize(
        "options",
        [
            {},
            {"schema": "ecs"},
            {"nonblocking": True},
        ],
        ids=["default", "ecs", "nonblocking"],
    )
    def test_one_output(self, options: dict[str, Any]) -> None:
        tracelog.configure(stream=io.BytesIO(), **options)
        pipeline = _pipeline.active()
        assert pipeline.emit != pipeline.emit_plain

    def test_two_outputs_in_one_layout(self) -> None:
        tracelog.configure(
            outputs=[tracelog.outputs.Stream(io.BytesIO()), tracelog.outputs.Stream(io.BytesIO())]
        )
        pipeline = _pipeline.active()
        assert pipeline.emit != pipeline.emit_plain

    @pytest.mark.parametrize(
        "options",
        [
            {"format": "console"},
            {"processors": [_processor]},
            {"buffer": tracelog.TraceBuffer()},
            {"schema": "otel"},
            {"schema": "ecs", "rename": {"message": "msg"}},
        ],
        ids=["console", "processors", "buffer", "otel", "ecs-renamed"],
    )
    def test_other_chains_keep_the_plain_emit(self, options: dict[str, Any]) -> None:
        tracelog.configure(stream=io.BytesIO(), **options)
        pipeline = _pipeline.active()
        assert pipeline.emit == pipeline.emit_plain

    def test_the_ecs_fast_path_is_taken_for_the_usual_call(self, plain_calls: list[Any]) -> None:
        calls = plain_calls
        stream = io.BytesIO()
        tracelog.configure(stream=stream, schema="ecs", service="shop")
        log = tracelog.get_logger("app")
        with tracelog.trace(customer="c-1"):
            for _ in range(5):
                log.info("paid", order=7, amount=12.5)
        # The first call builds the context's line and learns the keys; the rest are fast.
        assert len(calls) <= 2
        assert len(stream.getvalue().splitlines()) == 5

    def test_the_ecs_fast_path_serves_every_request_of_a_shape(
        self, plain_calls: list[Any]
    ) -> None:
        calls = plain_calls
        stream = io.BytesIO()
        tracelog.configure(stream=stream, schema="ecs", service="shop")
        log = tracelog.get_logger("app")
        for request in range(5):
            with tracelog.trace(customer=f"c-{request}"):
                for _ in range(5):
                    log.info("paid", order=7, status=200, duration_ms=1.5)
        # Each request's first line builds its context's line; the recipe is the shape's.
        assert len(calls) <= 6
        assert len(stream.getvalue().splitlines()) == 25

    def test_the_ecs_fast_path_tells_keys_in_another_order_and_another_logger_apart(
        self, plain_calls: list[Any]
    ) -> None:
        """A thread tries its last line first: a call of the same keys in another order (laid
        out in that order), of one key more or less, or from another logger is not that line."""
        streams = configure(
            {
                **dict.fromkeys(["rename", "static", "redact", "processor", "contextvars"], False),
                **{"schema": "ecs", "format": "json", "outputs": 1, "gate": None},
                **{"otel_span": False, "bound": True},
            }
        )
        shapes: list[tuple[str, dict[str, Any]]] = [
            ("app", {"user_id": 1, "path": "/a", "status": 200}),
            ("app", {"path": "/a", "user_id": 1, "status": 200}),
            ("app", {"status": 200, "user_id": 1}),
            ("app", {"status": 200, "user_id": 1, "path": "/a", "order": 3}),
            ("app", {}),
            ("other", {"user_id": 1, "path": "/a", "status": 200}),
        ]

        def run() -> list[bytes]:
            lines: list[bytes] = []
            for _ in range(3):
                for name, fields in shapes:
                    start = streams[0].tell()
                    tracelog.get_logger(name).info("paid", **fields)
                    lines.append(normalised(streams[0], start))
            return lines

        with tracelog.trace(customer="c-1"):
            fast = run()
            fast_calls = len(plain_calls)
            plain_only()
            try:
                assert run() == fast
            finally:
                fast_again()
        # Each shape's first call learns it; every later one (18 in all) is fast.
        assert fast_calls <= len(shapes) + 1
        first = orjson.loads(fast[0])
        second = orjson.loads(fast[1])
        assert list(first)[4:] != list(second)[4:]  # the order of the call's keys is kept
        assert first == second

    def test_threads_of_one_context_and_shape_keep_their_own_values(self) -> None:
        """Each thread fills lines of its own: threads logging one shape in one context at
        once (its tasks handed to a pool, say) never see each other's values."""
        stream = io.BytesIO()
        tracelog.configure(stream=stream, schema="ecs", service="shop")
        log = tracelog.get_logger("app")
        with tracelog.trace(customer="c-1") as shared, tracelog.trace(customer="c-2") as other:
            pass
        start = threading.Barrier(4)

        def work(number: int) -> None:
            start.wait(5)
            for step in range(300):
                with tracelog.context.use(shared if step % 3 else other):
                    log.info("step", user_id=number, path=f"/w/{number}", duration_ms=number)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # threads taken in turn mid-line, as often as can be
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        finally:
            sys.setswitchinterval(interval)
        lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
        assert len(lines) == 4 * 300
        assert all(line["url"]["path"] == f"/w/{line['user_id']}" for line in lines)
        assert {line["customer"] for line in lines} == {"c-1", "c-2"}


# The usual fields, with values of the types their layouts keep (and any leaf for your own).
usual_fields = st.fixed_dictionaries(
    {},
    optional={
        "user_id": st.integers(0, 2**31),
        "path": st.text(max_size=12),
        "status": st.integers(100, 599),
        "duration_ms": st.floats(0, 1e6, allow_nan=False),
        "method": st.sampled_from(["GET", "POST"]),
        "order": leaves,
        "note": leaves,
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    schema=st.sampled_from(["default", "ecs"]),
    outputs=st.integers(1, 2),
    bound=st.booleans(),
    contextvars=st.booleans(),
    call_list=st.lists(
        st.fixed_dictionaries(
            {
                "fields": usual_fields,
                "stdlib": st.booleans(),
                "level": st.sampled_from(["info", "warning"]),
                "exception": st.just(False),
                "stack": st.just(False),
                "dict_event": st.just(False),
            }
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_the_usual_calls_take_the_fast_paths_and_write_the_same(
    schema: str, outputs: int, bound: bool, contextvars: bool, call_list: list[dict[str, Any]]
) -> None:
    """The calls the fast paths are for (plain keys and values), drawn densely."""
    conf = {
        "schema": schema,
        "format": "json",
        "outputs": outputs,
        "rename": False,
        "static": False,
        "redact": False,
        "processor": False,
        "gate": None,
        "contextvars": contextvars,
        "otel_span": False,
        "bound": bound,
    }
    streams = configure(conf if outputs == 1 or schema == "default" else {**conf, "outputs": 1})
    try:
        if contextvars:
            structlog.contextvars.bind_contextvars(tenant="acme")
        with tracelog.trace(**({"customer": "c-9"} if bound else {})):
            for call in call_list * 3:  # the first learns the keys; the next ones are fast
                fast_and_plain(streams, call, "none")
    finally:
        structlog.contextvars.clear_contextvars()
        tracelog.reset()


@pytest.mark.parametrize(
    "duration", [12.5, 0, 1e300, 2**70, float("inf"), float("nan"), -(2**63)], ids=repr
)
def test_any_duration_is_laid_out_alike_on_both_paths(duration: Any) -> None:
    """event.duration is nanoseconds in a long: any other number is placed as the plain chain
    places it, never a fault line."""
    streams = configure(
        {
            **dict.fromkeys(["rename", "static", "redact", "processor", "contextvars"], False),
            **{"schema": "ecs", "format": "json", "outputs": 1, "gate": None},
            **{"otel_span": False, "bound": False},
        }
    )
    call = {"fields": {"duration_ms": duration, "status": 200}, "stdlib": False, "level": "info"}
    call.update(exception=False, stack=False, dict_event=False)
    with tracelog.trace():
        for _ in range(3):
            (line,) = fast_and_plain(streams, call, "none")
            assert b"logging_error" not in line


class TestTheWriteInTheMethod:
    """With one Stream to a regular file, the generated level method writes the line itself
    (what Stream.write does for it), after the Stream's first write has bound the file."""

    @pytest.mark.parametrize("schema", ["default", "ecs"])
    def test_lines_keep_their_order_with_other_writes_and_are_counted(
        self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, schema: str
    ) -> None:
        calls: list[bytes] = []
        write = tracelog.outputs.Stream.write

        def counted(self: Any, data: Any) -> None:
            calls.append(data)
            write(self, data)

        monkeypatch.setattr(tracelog.outputs.Stream, "write", counted)
        path = tmp_path / "app.log"
        with open(path, "ab") as file:
            tracelog.configure(stream=file, service="shop", schema=schema)
            log = tracelog.get_logger("t")
            with tracelog.trace(TRACE_ID):
                for i in range(5):
                    log.info("line", i=i)
                    file.write(b"other %d\n" % i)  # buffered in the file object, unflushed
            tracelog.flush()
            counts = tracelog.stats()[f"stream:{file.name}"]
        lines = path.read_bytes().splitlines()
        expected = [part for i in range(5) for part in (b"line", b"other %d" % i)]
        assert expected == [
            line if line.startswith(b"other") else orjson_message(line) for line in lines
        ]
        assert 5 == counts["written"]
        # The first calls build the context's line (and bind the file) on the general path.
        assert len(calls) <= 3

    def test_a_short_write_is_finished(
        self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from tracelog.outputs import _stream

        def three_bytes(target: Any) -> Any:
            return lambda data: target.raw.write(data[:3])  # the kernel takes 3 bytes

        monkeypatch.setattr(_stream, "_unbuffered_write", three_bytes)
        path = tmp_path / "app.log"
        with open(path, "ab") as file:
            tracelog.configure(stream=file, service="shop")
            with tracelog.trace(TRACE_ID):
                for i in range(3):
                    tracelog.get_logger("t").info("line", i=i)
        assert [0, 1, 2] == [json.loads(line)["i"] for line in path.read_bytes().splitlines()]

    def test_a_closed_file_is_counted_and_never_raises(self, tmp_path: Any) -> None:
        path = tmp_path / "app.log"
        file = open(path, "ab")
        tracelog.configure(stream=file, service="shop")
        log = tracelog.get_logger("t")
        with tracelog.trace(TRACE_ID):
            log.info("one", i=1)
            log.info("two", i=2)
            file.close()
            log.info("three", i=3)
        counts = tracelog.stats()[f"stream:{path}"]
        assert (2, 1) == (counts["written"], counts["failed"])
        assert 2 == len(path.read_bytes().splitlines())


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def orjson_message(line: bytes) -> bytes:
    return str(json.loads(line)["message"]).encode()


@pytest.mark.parametrize("schema", ["default", "ecs"])
def test_the_event_given_by_keyword_is_the_event(schema: str, tmp_path: Any) -> None:
    """The generated level methods take ``event`` positional-only (cheaper keywords); a call
    that names it still logs it, as structlog's methods do, and a filtered level ignores it."""
    import json

    path = tmp_path / "lines.log"
    with open(path, "wb") as file:
        tracelog.configure(stream=file, schema=schema, level="info")
        try:
            log = tracelog.get_logger("kw")
            with tracelog.trace():
                for _ in range(3):  # the first calls learn the keys; the next ones are fast
                    log.info("by position", user_id=1)
                    log.info(event="by keyword", user_id=1)
                log.debug(event="filtered", user_id=1)
                log.debug("filtered too")
        finally:
            tracelog.flush()
            tracelog.reset()
    lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert [line["message"] for line in lines] == ["by position", "by keyword"] * 3
    assert all(line["user_id"] == 1 for line in lines)
