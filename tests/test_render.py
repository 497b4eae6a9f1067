"""Bad input: every call yields exactly one valid JSON line and never raises."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import io
import logging
import math
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracelog
from _lines import Lines
from tracelog import _faults
from tracelog.console import ConsoleRenderer
from tracelog.render import (
    JsonRenderer,
    render_json,
    safe_repr,
    sanitize,
    with_microseconds,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr fails")

    def __str__(self) -> str:
        raise RuntimeError("str fails")


class NonStringRepr:
    def __repr__(self) -> Any:
        return 7


class BadItems(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("items fails")


class BadIter(list):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("iter fails")


class Colour(enum.Enum):
    RED = "red"
    BIG = 2**70


@dataclasses.dataclass
class Order:
    id: int
    note: str
    tags: set[str]


class BadModel:
    """Looks like a pydantic model; its dump fails."""

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        raise RuntimeError("dump fails")


class OddModel:
    """Looks like a pydantic model; its dump is not a mapping."""

    def model_dump(self, mode: str = "python") -> Any:
        return [1, 2]


def cyclic_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    value["self"] = value
    return value


def cyclic_list() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


def doubly_cyclic_list() -> list[Any]:
    value: list[Any] = []
    value.extend([value, value])
    return value


def doubly_cyclic_dict_with_a_secret() -> dict[str, Any]:
    value: dict[str, Any] = {"password": "hunter2"}
    value["a"] = value
    value["b"] = value
    return value


def mutual() -> dict[str, Any]:
    a: dict[str, Any] = {}
    b: dict[str, Any] = {"a": a}
    a["b"] = [b]
    return a


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"d": [value]}
    return value


MEGABYTE = "x" * (1 << 20)

BAD_VALUES: dict[str, Callable[[], Any]] = {
    "repr_and_str_raise": BadRepr,
    "repr_returns_non_string": NonStringRepr,
    "mapping_items_raise": lambda: BadItems(a=1),
    "list_iteration_raises": lambda: BadIter([1, 2]),
    "self_referencing_dict": cyclic_dict,
    "self_referencing_list": cyclic_list,
    "mutually_referencing": mutual,
    "holding_itself_twice": doubly_cyclic_list,
    "holding_itself_twice_and_a_secret": doubly_cyclic_dict_with_a_secret,
    "nested_deeper_than_json": lambda: deep(1000),
    "bytes": lambda: b"\x00\xff raw \xc3\xa9",
    "bytearray": lambda: bytearray(b"abc"),
    "memoryview": lambda: memoryview(b"abc"),
    "set": lambda: {1, 2, 3},
    "frozenset": lambda: frozenset({"a"}),
    "dict_items": lambda: {"a": 1, b"b": {2}}.items(),
    "dict_keys": lambda: {"a": 1}.keys(),
    "dict_values_of_a_cycle": lambda: cyclic_dict().values(),
    "non_string_keys": lambda: {1: "int", (1, 2): "tuple", None: "none", 1.5: "float"},
    "datetime_naive": lambda: dt.datetime(2026, 1, 2, 3, 4, 5, 6),
    "datetime_aware": lambda: dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    "date": lambda: dt.date(2026, 1, 2),
    "time": lambda: dt.time(3, 4),
    "timedelta": lambda: dt.timedelta(seconds=1.5),
    "decimal": lambda: decimal.Decimal("1.10"),
    "decimal_nan": lambda: decimal.Decimal("NaN"),
    "uuid": lambda: uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "enum": lambda: Colour.RED,
    "enum_with_a_huge_value": lambda: Colour.BIG,
    "dataclass": lambda: Order(1, "n", {"a"}),
    "model_whose_dump_raises": BadModel,
    "model_whose_dump_is_a_list": OddModel,
    "nan": lambda: math.nan,
    "inf": lambda: math.inf,
    "minus_inf": lambda: -math.inf,
    "int_beyond_64_bits": lambda: 2**64,
    "negative_int_beyond_64_bits": lambda: -(2**63) - 1,
    "huge_int": lambda: 10**400,
    "int_beyond_str_digits": lambda: 10**5000,
    "lone_surrogate": lambda: "a\ud800b",
    "surrogate_key": lambda: {"\udcff": "v"},
    "embedded_newlines": lambda: "line one\nline two\r\nline three",
    "control_characters": lambda: "\x00\x1b[2J\x07",
    "one_megabyte_string": lambda: MEGABYTE,
    "exception_instance": lambda: ValueError("boom"),
    "type_object": lambda: int,
    "function": lambda: print,
    "generator": lambda: (i for i in range(3)),
    "object": object,
    "complex": lambda: 1 + 2j,
    "str_subclass": lambda: type("S", (str,), {})("sub"),
    "int_subclass": lambda: type("I", (int,), {})(5),
    "bool_key_and_values": lambda: {True: False},
    "tuple_of_bad": lambda: (BadRepr(), math.nan, 2**80),
}


def only_tracelog_on_root() -> None:
    """Take pytest's capture handlers off the root, which configure() keeps there: pytest's
    handler formats each record itself and raises on these values by design."""
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if isinstance(h, tracelog.stdlib.TracelogHandler)]


def check_line(raw: bytes) -> dict[str, Any]:
    """A rendered line: exactly one, newline-terminated, valid JSON object."""
    assert raw.endswith(b"\n")
    assert 1 == raw.count(b"\n")
    line = orjson.loads(raw)
    assert isinstance(line, dict)
    return line


def test_a_cycle_never_shows_a_secret() -> None:
    lines = Lines()
    tracelog.get_logger("t").info("cyclic", value=doubly_cyclic_dict_with_a_secret())
    (raw,) = lines.raw()
    assert b"hunter2" not in raw
    assert {"password": "[REDACTED]", "a": "<cycle: dict>", "b": "<cycle: dict>"} == (
        check_line(raw)["value"]
    )


def test_keys_equal_as_text_are_all_kept() -> None:
    lines = Lines()
    log = tracelog.get_logger("t")
    value = {1: "int key", "1": "str key", "\ud800": "a"}
    value["\udc00"] = "b"  # another lone surrogate: both render as "?"
    log.info("keys", value=value)
    assert {"1": "int key", "1_": "str key", "?": "a", "?_": "b"} == lines.one()["value"]


class TestNamedBadInputs:
    @pytest.mark.parametrize("name", list(BAD_VALUES))
    def test_native_field(self, name: str) -> None:
        lines = Lines()
        with tracelog.trace(TRACE_ID):
            tracelog.get_logger("t").info("bad value", value=BAD_VALUES[name]())
        (raw,) = lines.raw()
        line = check_line(raw)
        assert ("info", "t", "bad value", TRACE_ID) == (
            line["level"],
            line["logger"],
            line["message"],
            line["trace_id"],
        )
        assert "value" in line

    @pytest.mark.parametrize("name", list(BAD_VALUES))
    def test_native_message(self, name: str) -> None:
        lines = Lines()
        tracelog.get_logger("t").info(BAD_VALUES[name]())
        (raw,) = lines.raw()
        assert "info" == check_line(raw)["level"]

    @pytest.mark.parametrize("name", list(BAD_VALUES))
    def test_native_positional_arg(self, name: str) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("value %s", BAD_VALUES[name]())
        (raw,) = lines.raw()
        assert check_line(raw)["message"].startswith("value ")

    @pytest.mark.parametrize("name", list(BAD_VALUES))
    def test_bound_field(self, name: str) -> None:
        lines = Lines()
        with tracelog.trace(TRACE_ID, value=BAD_VALUES[name]()):
            tracelog.get_logger("t").bind(other=BAD_VALUES[name]()).info("bound")
        (raw,) = lines.raw()
        line = check_line(raw)
        assert TRACE_ID == line["trace_id"]
        assert {"value", "other"} <= set(line)

    @pytest.mark.parametrize("name", list(BAD_VALUES))
    def test_stdlib(self, name: str) -> None:
        lines = Lines()
        only_tracelog_on_root()
        value = BAD_VALUES[name]()
        with tracelog.trace(TRACE_ID):
            logging.getLogger("lib").warning("value %s", value, extra={"value": value})
        (raw,) = lines.raw()
        line = check_line(raw)
        assert ("warning", "lib", TRACE_ID) == (line["level"], line["logger"], line["trace_id"])
        assert line["message"].startswith("value ")
        assert "value" in line

    @pytest.mark.parametrize("name", list(BAD_VALUES))
    def test_console(self, name: str) -> None:
        buffer = io.StringIO()
        tracelog.configure(stream=buffer, format="console")
        tracelog.get_logger("t").info("bad value", value=BAD_VALUES[name]())
        text = buffer.getvalue()
        assert text.endswith("\n")
        assert 1 == text.count("\n")
        assert "\x1b" not in text

    def test_what_the_values_become(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info(
            "values",
            raw=b"caf\xc3\xa9",
            numbers={3},
            keys={1: "a", (1, 2): "b"},
            when=dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
            price=decimal.Decimal("1.10"),
            id=uuid.UUID(int=1),
            colour=Colour.RED,
            order=Order(1, "n", {"a"}),
            big=2**64,
            surrogate="a\ud800b",
            cycle=cyclic_dict(),
            bad=BadRepr(),
        )
        line = lines.one()
        assert "café" == line["raw"]
        assert [3] == line["numbers"]
        assert {"1": "a", "(1, 2)": "b"} == line["keys"]
        assert "2026-01-02T03:04:05.000006Z" == line["when"]
        assert "1.10" == line["price"]
        assert "00000000-0000-0000-0000-000000000001" == line["id"]
        assert "red" == line["colour"]
        assert {"id": 1, "note": "n", "tags": ["a"]} == line["order"]
        assert str(2**64) == line["big"]
        assert line["surrogate"].startswith("a") and line["surrogate"].endswith("b")
        assert 1 == line["cycle"]["a"]
        assert "cycle" in line["cycle"]["self"]
        assert "BadRepr" in line["bad"]

    def test_nan_and_inf_are_valid_json(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("floats", nan=math.nan, inf=math.inf, nested=[-math.inf])
        (raw,) = lines.raw()
        assert b"NaN" not in raw
        assert b"Infinity" not in raw
        check_line(raw)

    def test_a_megabyte_string_is_kept_whole(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("big", blob=MEGABYTE)
        assert MEGABYTE == lines.one()["blob"]

    def test_embedded_newlines_stay_inside_the_line(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("one\ntwo", field="a\nb")
        logging.getLogger("lib").info("three\nfour")
        native, stdlib = lines()
        assert ("one\ntwo", "a\nb") == (native["message"], native["field"])
        assert "three\nfour" == stdlib["message"]


OWNED = ["timestamp", "level", "logger", "message", "trace_id", "span_id", "parent_span_id"]


class TestOwnedKeys:
    @pytest.mark.parametrize("key", [*OWNED, "span_name"])
    def test_a_field_cannot_overwrite_a_pipeline_key(self, key: str) -> None:
        lines = Lines()
        with tracelog.trace(TRACE_ID), tracelog.span("child"):
            tracelog.get_logger("t").info("owned", **{key: "user value"})
        line = lines.one()
        assert "user value" != line[key]
        assert "user value" == line[key + "_"]
        assert TRACE_ID == line["trace_id"]
        assert "info" == line["level"]
        assert "owned" == line["message"]

    @pytest.mark.parametrize("key", OWNED)
    def test_a_bound_field_cannot_overwrite_a_pipeline_key(self, key: str) -> None:
        lines = Lines()
        with tracelog.trace(TRACE_ID), tracelog.span("child"):
            tracelog.bind(**{key: "bound value"})
            tracelog.get_logger("t").info("owned")
        line = lines.one()
        assert "bound value" != line[key]
        assert "bound value" == line[key + "_"]

    @pytest.mark.parametrize("key", OWNED)
    def test_a_logger_bound_field_cannot_overwrite_a_pipeline_key(self, key: str) -> None:
        lines = Lines()
        tracelog.get_logger("t").bind(**{key: "bound value"}).info("owned")
        line = lines.one()
        assert "bound value" != line.get(key)
        assert "bound value" == line[key + "_"]

    @pytest.mark.parametrize("key", OWNED)
    def test_a_stdlib_extra_cannot_overwrite_a_pipeline_key(self, key: str) -> None:
        if key in ("message",):
            pytest.skip("logging itself refuses extra={'message': ...}")
        lines = Lines()
        with tracelog.trace(TRACE_ID), tracelog.span("child"):
            logging.getLogger("lib").info("owned", extra={key: "extra value"})
        line = lines.one()
        assert "extra value" != line[key]
        assert "extra value" == line[key + "_"]
        assert TRACE_ID == line["trace_id"]

    def test_a_configured_service_is_the_pipelines_key(self) -> None:
        lines = Lines(service="shop")
        log = tracelog.get_logger("t")
        with tracelog.trace(TRACE_ID, service="bound"):
            log.info("m")
            log.info("m", service="field")  # the call's field wins over the bound one, as usual
            logging.getLogger("lib").info("m", extra={"service": "extra"})
        bound, native, stdlib = lines()
        assert ("shop", "bound") == (bound["service"], bound["service_"])
        assert ("shop", "field") == (native["service"], native["service_"])
        assert ("shop", "extra") == (stdlib["service"], stdlib["service_"])

    def test_without_a_configured_service_a_service_field_is_yours(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("m", service="mine")
        assert "mine" == lines.one()["service"]

    def test_the_sampled_flag_cannot_be_overwritten(self) -> None:
        lines = Lines()
        with tracelog.trace(TRACE_ID, sampled=False):
            tracelog.get_logger("t").info("m", trace_sampled=True)
        line = lines.one()
        assert (False, True) == (line["trace_sampled"], line["trace_sampled_"])

    def test_an_exception_field_is_kept_beside_the_structured_one(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed", exception="my text")
        log.error("no exc_info", exception="plain")
        failed, plain = lines()
        assert "ValueError" == failed["exception"]["type"]
        assert "my text" == failed["exception_"]
        assert "plain" == plain["exception"]

    def test_the_underscore_name_taken_too(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("m", level="a", level_="b")
        line = lines.one()
        assert "info" == line["level"]
        assert {"a", "b"} == {line["level_"], line["level__"]}


class TestPipelineFaults:
    @staticmethod
    def broken(logger: Any, method_name: str, event_dict: Any) -> Any:
        raise RuntimeError("processor is broken")

    @pytest.mark.parametrize("inner", ["native", "stdlib"])
    def test_a_processor_that_logs_gets_its_line_written_once(
        self, inner: str, capfd: pytest.CaptureFixture[str]
    ) -> None:
        def chatty(logger: Any, method_name: str, event_dict: Any) -> Any:
            if inner == "native":
                tracelog.get_logger("inner").info("from processor", n=1)
            else:
                logging.getLogger("inner").warning("from processor")
            return event_dict

        lines = Lines(processors=[chatty])
        with tracelog.trace(TRACE_ID):
            tracelog.get_logger("t").info("outer", password="hunter2")
            logging.getLogger("t").warning("outer stdlib")
        got = lines()
        assert ["from processor", "outer", "from processor", "outer stdlib"] == [
            line["message"] for line in got
        ]
        assert {TRACE_ID} == {line["trace_id"] for line in got}
        assert "[REDACTED]" == got[1]["password"]
        assert "NestedLogCall" in capfd.readouterr().err

    def test_the_exception_being_handled_stays_on_the_fault_line(self) -> None:
        lines = Lines(processors=[self.broken])
        try:
            1 / 0
        except ZeroDivisionError:
            tracelog.get_logger("t").exception("boom")
        line = lines.one()
        assert "ZeroDivisionError" == line["exception"]["type"]
        assert "processor is broken" in line["logging_error"]

    def test_a_field_that_cannot_be_searched_is_not_shown(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from tracelog.redaction import Redactor

        def fails(*_: Any) -> Any:
            raise RuntimeError("redaction bug")

        lines = Lines(processors=[self.broken])
        monkeypatch.setattr(Redactor, "redact", fails)
        tracelog.get_logger("t").info("login", password="hunter2", request={"token": "t-1"}, n=1)
        (raw,) = lines.raw()
        assert b"hunter2" not in raw and b"t-1" not in raw
        line = check_line(raw)
        assert ("[REDACTED]", {"token": "[REDACTED]"}, 1) == (
            line["password"],
            line["request"],
            line["n"],
        )

    def test_a_raising_processor_still_yields_one_line_with_every_field(
        self, capfd: pytest.CaptureFixture[str]
    ) -> None:
        lines = Lines(processors=[self.broken])
        log = tracelog.get_logger("t").bind(bound=1)
        with tracelog.trace(TRACE_ID, request="r1"):
            log.info("still here", order=7, bad=BadRepr(), password="hunter2")
        (raw,) = lines.raw()
        line = check_line(raw)
        assert "still here" == line["message"]
        assert "info" == line["level"]
        assert (7, 1, "r1", TRACE_ID) == (
            line["order"],
            line["bound"],
            line["request"],
            line["trace_id"],
        )
        assert "BadRepr" in line["bad"]
        assert "RuntimeError" in line["logging_error"]
        assert "hunter2" not in raw.decode()
        err = capfd.readouterr().err
        assert "tracelog: pipeline: RuntimeError: processor is broken" in err

    def test_the_stdlib_path_too(self, capfd: pytest.CaptureFixture[str]) -> None:
        lines = Lines(processors=[self.broken])
        with tracelog.trace(TRACE_ID):
            logging.getLogger("lib").warning("still %s", "here", extra={"order": 7})
        line = lines.one()
        assert ("still here", 7, TRACE_ID) == (line["message"], line["order"], line["trace_id"])
        assert "processor is broken" in capfd.readouterr().err

    def test_reports_are_rate_limited(self, capfd: pytest.CaptureFixture[str]) -> None:
        lines = Lines(processors=[self.broken])
        log = tracelog.get_logger("t")
        for n in range(5):
            log.info("call", n=n)
        assert 5 == len(lines())
        err = capfd.readouterr().err
        assert 1 == err.count("tracelog: pipeline:")
        assert 5 == _faults.counts()["pipeline"]

    def test_a_report_that_could_not_be_written_is_tried_again(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        written: list[str] = []

        class FailsOnce:
            failures = 1

            def write(self, text: str) -> None:
                if self.failures:
                    self.failures -= 1
                    raise RecursionError("maximum recursion depth exceeded")
                written.append(text)

            def flush(self) -> None:
                pass

        monkeypatch.setattr(_faults.sys, "__stderr__", FailsOnce())
        _faults.report("output", "first")
        _faults.report("output", "second")
        _faults.report("output", "third")  # within the minute of the second: hidden
        assert ["second"] == [text.split(": ")[2].split(" (")[0] for text in written]

    def test_a_new_report_after_the_interval(
        self, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        now = [1000.0]
        monkeypatch.setattr(_faults.time, "monotonic", lambda: now[0])
        Lines(processors=[self.broken])
        log = tracelog.get_logger("t")
        log.info("first")
        now[0] += 30
        log.info("within a minute")
        now[0] += 31
        log.info("after a minute")
        err = capfd.readouterr().err
        assert 2 == err.count("tracelog: pipeline:")
        assert "seen 3 time(s)" in err

    def test_a_fault_is_never_logged_through_logging(
        self, capfd: pytest.CaptureFixture[str]
    ) -> None:
        records: list[logging.LogRecord] = []

        class Spy(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record)

        lines = Lines(processors=[self.broken])
        spy = Spy()
        logging.getLogger().addHandler(spy)
        try:
            tracelog.get_logger("t").info("native")
            logging.getLogger("lib").info("stdlib")
        finally:
            logging.getLogger().removeHandler(spy)
        assert ["stdlib"] == [r.getMessage() for r in records]
        assert 2 == len(lines())
        assert "pipeline" in capfd.readouterr().err

    def test_a_failing_output(self, capfd: pytest.CaptureFixture[str]) -> None:
        class Broken:
            def write(self, data: Any) -> None:
                raise OSError("disk full")

            def flush(self) -> None:
                raise OSError("disk full")

        tracelog.configure(stream=Broken())  # type: ignore[arg-type]
        tracelog.get_logger("t").info("nowhere to go")
        logging.getLogger("lib").info("nowhere either")
        assert "disk full" in capfd.readouterr().err

    def test_a_processor_returning_garbage(self) -> None:
        lines = Lines(processors=[lambda logger, name, event: None])
        tracelog.get_logger("t").info("garbage", order=7)
        line = lines.one()
        assert ("garbage", 7) == (line["message"], line["order"])


# --- property tests -----------------------------------------------------------

hostile = st.sampled_from(
    [
        BadRepr,
        NonStringRepr,
        lambda: BadItems(a=1),
        lambda: BadIter([1]),
        lambda: Colour.BIG,
        lambda: Order(1, "n", {"a"}),
        cyclic_dict,
        cyclic_list,
        mutual,
    ]
).map(lambda make: make())
hashables = st.one_of(
    st.text(), st.integers(), st.booleans(), st.none(), st.tuples(st.integers(), st.text())
)
leaves = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    st.binary(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**200),
    st.integers(min_value=-(2**200), max_value=-(2**63)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.uuids(),
    hostile,
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.frozensets(hashables, max_size=4).map(set),
        st.dictionaries(
            st.one_of(st.text(), st.integers(), st.tuples(st.integers(), st.integers())),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)
field_names = st.text(min_size=1, max_size=12).filter(str.isidentifier)


class TestProperties:
    @PROPERTY
    @given(fields=st.dictionaries(field_names, values, max_size=5), message=values)
    def test_native_entry_point(self, fields: dict[str, Any], message: Any) -> None:
        lines = Lines(level="debug")
        with tracelog.trace(TRACE_ID) as ctx:
            tracelog.get_logger("prop").info(message, **fields)
        (raw,) = lines.raw()
        line = check_line(raw)
        assert ("info", "prop", TRACE_ID, ctx.span_id) == (
            line["level"],
            line["logger"],
            line["trace_id"],
            line["span_id"],
        )
        assert ["timestamp", "level", "logger", "message"] == list(line)[:4]

    @PROPERTY
    @given(fields=st.dictionaries(field_names, values, max_size=5), arg=values)
    def test_stdlib_entry_point(self, fields: dict[str, Any], arg: Any) -> None:
        lines = Lines(level="debug")
        only_tracelog_on_root()
        with tracelog.trace(TRACE_ID, bound=arg):
            logging.getLogger("prop").error("value %s %r", arg, arg, extra=fields)
        (raw,) = lines.raw()
        line = check_line(raw)
        assert ("error", "prop", TRACE_ID) == (line["level"], line["logger"], line["trace_id"])
        assert line["message"].startswith("value ")

    @PROPERTY
    @given(fields=st.dictionaries(field_names, values, max_size=5))
    def test_bound_fields(self, fields: dict[str, Any]) -> None:
        lines = Lines()
        with tracelog.trace(TRACE_ID, **fields):
            tracelog.get_logger("prop").bind(**fields).warning("bound")
        (raw,) = lines.raw()
        assert TRACE_ID == check_line(raw)["trace_id"]

    @PROPERTY
    @given(value=values)
    def test_sanitize_is_always_serialisable(self, value: Any) -> None:
        orjson.loads(orjson.dumps(sanitize(value)))

    @PROPERTY
    @given(fields=st.dictionaries(st.one_of(st.text(), st.integers()), values, max_size=6))
    def test_render_json(self, fields: dict[Any, Any]) -> None:
        # The renderer writes what it is given (the pipeline owns "level", not the renderer).
        event = {**fields, "timestamp": dt.datetime.now(dt.timezone.utc), "level": "info"}
        for raw in (render_json(event), JsonRenderer()(None, "info", event)):
            line = check_line(raw)
            assert "info" == line["level"]

    @PROPERTY
    @given(fields=st.dictionaries(st.one_of(st.text(), st.integers()), values, max_size=6))
    def test_console_renderer(self, fields: dict[Any, Any]) -> None:
        # A structured exception (a mapping) or a stack text gets a block below the line.
        below = {"exception": dict, "stack": str}
        fields = {k: v for k, v in fields.items() if not isinstance(v, below.get(k, ()))}
        event = {
            "timestamp": dt.datetime.now(dt.timezone.utc),
            "level": "info",
            "logger": "prop",
            "message": fields.get("message", "m"),
            "trace_id": TRACE_ID,
            **fields,
        }
        for colour in (False, True):
            text = ConsoleRenderer(colour=colour)(None, "info", event)
            assert text.endswith("\n")
            assert 1 == text.count("\n")
            visible = re.sub(r"\x1b\[[0-9;]*m", "", text) if colour else text
            assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", visible)


class TestMappingViews:
    """A dict's keys(), values() and items() render as the lists they iterate as, not as repr."""

    def test_as_lists_on_every_route(self) -> None:
        d = {"a": 1, "b": [2]}
        lines = Lines()
        tracelog.get_logger("t").info("views", keys=d.keys(), values=d.values(), items=d.items())
        logging.getLogger("t").warning("views", extra={"items": d.items()})
        native, stdlib = (check_line(raw) for raw in lines.raw())
        assert (native["keys"], native["values"]) == (["a", "b"], [1, [2]])
        assert native["items"] == stdlib["items"] == [["a", 1], ["b", [2]]]

    def test_the_safe_rendering_agrees(self) -> None:
        d = {"a": 1, "b": 2**70}  # beyond 64 bits: the line takes sanitize()
        line = orjson.loads(render_json({"items": d.items()}))
        assert line == {"items": [["a", 1], ["b", str(2**70)]]}


class TestSafeRepr:
    def test_repr_that_raises(self) -> None:
        assert "<unrepresentable BadRepr object>" == safe_repr(BadRepr())

    def test_repr_that_returns_a_non_string(self) -> None:
        assert "<unrepresentable NonStringRepr object>" == safe_repr(NonStringRepr())


class TestWholeSeconds:
    """orjson leaves out a zero fraction; every line still has its microseconds."""

    WHOLE = dt.datetime(2026, 11, 25, 7, 40, 34, tzinfo=dt.timezone.utc)

    def test_a_record_on_a_whole_second(self) -> None:
        lines = Lines()
        record = logging.LogRecord("lib", logging.INFO, __file__, 1, "on the second", (), None)
        record.created = self.WHOLE.timestamp()
        logging.getLogger("lib").handle(record)
        assert "2026-11-25T07:40:34.000000Z" == lines.one()["timestamp"]

    @pytest.mark.parametrize("schema", ["default", "ecs", "otel", "gcp"])
    def test_every_renderer_and_schema(self, schema: str) -> None:
        stamp = with_microseconds(self.WHOLE)
        assert isinstance(stamp, dt.datetime) and stamp == self.WHOLE
        event = {"timestamp": stamp, "level": "info", "message": "m", "bad": BadRepr()}
        for raw in (render_json(event), JsonRenderer()(None, "info", event)):
            assert b'"2026-11-25T07:40:34.000000Z"' in raw
        assert "2026-11-25 07:40:34.000000" in ConsoleRenderer()(None, "info", event)
        lines = Lines(schema=schema)
        record = logging.LogRecord("lib", logging.INFO, __file__, 1, "m", (), None)
        record.created = self.WHOLE.timestamp()
        logging.getLogger("lib").handle(record)
        assert b"2026-11-25T07:40:34.000000Z" in lines.raw()[0]

    def test_other_times_are_left_alone(self) -> None:
        stamp = self.WHOLE.replace(microsecond=5)
        assert stamp is with_microseconds(stamp)
