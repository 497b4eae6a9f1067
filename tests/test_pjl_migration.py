"""Each row of docs/stdlib.md's python-json-logger table, against tracelog's JsonFormatter."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import inspect
import io
import json
import logging
import logging.config
import pathlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pythonjsonlogger.core import BaseJsonFormatter
from pythonjsonlogger.json import JsonFormatter as PythonJsonFormatter

import tracelog
from tracelog.processors import CallSite
from tracelog.stdlib import JsonFormatter

DOCS = Path(__file__).parents[1] / "docs" / "stdlib.md"
EXT_VALUE = 999


@pytest.fixture
def legacy() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    logger = logging.getLogger("tests.pjl_migration")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    yield logger, stream, handler
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def _line(legacy: Any, formatter: logging.Formatter, *args: Any, **kwargs: Any) -> dict[str, Any]:
    logger, stream, handler = legacy
    handler.setFormatter(formatter)
    logger.info(*args, **kwargs)
    return dict(json.loads(stream.getvalue().splitlines()[-1]))


class TestOptions:
    def test_fmt_is_unused_the_line_has_its_own_fields(self, legacy: Any) -> None:
        line = _line(legacy, JsonFormatter("%(asctime)s %(levelname)s"), "hi", extra={"a": 1})
        assert ["timestamp", "level", "logger", "message", "a"] == list(line)

    def test_call_site_fields_come_from_callsite(self, legacy: Any) -> None:
        tracelog.configure(stream=io.StringIO(), processors=[CallSite("func_name", "lineno")])
        line = _line(legacy, JsonFormatter(), "hi")
        assert "_line" == line["func_name"]

    def test_datefmt_style_validate_accepted(self, legacy: Any) -> None:
        line = _line(legacy, JsonFormatter("{message}", "%H", "{", False), "hi")
        assert line["timestamp"].endswith("Z")

    def test_defaults(self, legacy: Any) -> None:
        formatter = JsonFormatter(defaults={"app": "shop", "region": "eu"})
        line = _line(legacy, formatter, "hi", extra={"region": "us"})
        assert ("shop", "us") == (line["app"], line["region"])

    def test_static_fields_with_ext_references(self, legacy: Any) -> None:
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {
                    "json": {
                        "()": "tracelog.stdlib.JsonFormatter",
                        "static_fields": {"ext": "ext://test_pjl_migration.EXT_VALUE"},
                    }
                },
                "handlers": {"h": {"class": "logging.NullHandler", "formatter": "json"}},
                "loggers": {"tests.pjl_dictconfig": {"handlers": ["h"], "propagate": False}},
            }
        )
        (handler,) = logging.getLogger("tests.pjl_dictconfig").handlers
        assert handler.formatter is not None
        line = _line(legacy, handler.formatter, "hi")
        assert EXT_VALUE == line["ext"]
        logging.getLogger("tests.pjl_dictconfig").handlers.clear()

    def test_static_is_static_fields(self, legacy: Any) -> None:
        assert "prod" == _line(legacy, JsonFormatter(static={"env": "prod"}), "hi")["env"]

    @pytest.mark.parametrize(
        ("option", "instead"),
        [
            ("rename_fields", "rename="),
            ("rename_fields_keep_missing", "rename="),
            ("reserved_attrs", "extra="),
            ("timestamp", "timestamp"),
            ("prefix", "processors="),
            ("json_encoder", "json_default="),
            ("json_serializer", "json_default="),
            ("json_indent", "one line"),
            ("json_ensure_ascii", "UTF-8"),
            ("exc_info_as_array", "structured"),
            ("stack_info_as_array", "stack_info"),
        ],
    )
    def test_not_supported_options_name_what_to_use(self, option: str, instead: str) -> None:
        with pytest.raises(TypeError, match=re.escape(instead)):
            JsonFormatter(**{option: True})

    def test_rename_renames_the_lines_keys(self, legacy: Any) -> None:
        line = _line(legacy, JsonFormatter(rename={"message": "@message"}), "hi")
        assert "hi" == line["@message"]

    def test_timestamp_always_there(self, legacy: Any) -> None:
        line = _line(legacy, JsonFormatter(), "hi")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])

    def test_json_default(self, legacy: Any) -> None:
        def default(value: Any) -> Any:
            if isinstance(value, complex):
                return [value.real, value.imag]
            raise TypeError(value)

        formatter = JsonFormatter(json_default=default)
        line = _line(
            legacy, formatter, "hi", extra={"z": 3 + 8j, "nested": {"w": [1j]}, "o": Opaque()}
        )
        assert [3.0, 8.0] == line["z"]
        assert {"w": [[0.0, 1.0]]} == line["nested"]
        assert line["o"].startswith("<test_pjl_migration.Opaque")  # it raised: tracelog's rule
        assert default is formatter.json_default

    def test_json_default_gives_base64_bytes(self, legacy: Any) -> None:
        formatter = JsonFormatter(json_default=lambda v: base64.b64encode(v).decode())
        assert "c29tZS1ieXRlcw==" == _line(legacy, formatter, "hi", extra={"b": b"some-bytes"})["b"]

    def test_json_default_output_is_redacted(self, legacy: Any) -> None:
        formatter = JsonFormatter(json_default=lambda v: {"password": "hunter2"})
        line = _line(legacy, formatter, "hi", extra={"login": Opaque()})
        assert {"password": "[REDACTED]"} == line["login"]


class Opaque:
    pass


class TestBehaviours:
    def test_dict_message_joins_the_line(self, legacy: Any) -> None:
        message = {"text": "hi", 5: "five", "nested": {"a": 1}}
        line = _line(legacy, JsonFormatter(), message, extra={"text": "extra wins"})
        assert ("", "extra wins", "five", {"a": 1}) == (
            line["message"],
            line["text"],
            line["5"],
            line["nested"],
        )
        assert {"text": "hi", 5: "five", "nested": {"a": 1}} == message  # left as it was

    def test_dict_message_over_defaults(self, legacy: Any) -> None:
        line = _line(legacy, JsonFormatter(defaults={"d1": 1, "d2": "x"}), {"d2": "y"})
        assert (1, "y") == (line["d1"], line["d2"])

    def test_extra_and_owned_keys(self, legacy: Any) -> None:
        line = _line(legacy, JsonFormatter(), "hi", extra={"order": 7, "level": "custom"})
        assert (7, "info", "custom") == (line["order"], line["level"], line["level_"])

    def test_exc_info_is_structured(self, legacy: Any) -> None:
        logger, stream, handler = legacy
        handler.setFormatter(JsonFormatter())
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("failed")
        line = json.loads(stream.getvalue())
        assert ("ValueError", "bad") == (line["exception"]["type"], line["exception"]["message"])
        assert "exc_info" not in line

    def test_stack_info_is_stack(self, legacy: Any) -> None:
        line = _line(legacy, JsonFormatter(), "hi", stack_info=True)
        assert isinstance(line["stack"], str) and "Stack" in line["stack"]

    def test_subclass_hooks_are_called(self, legacy: Any) -> None:
        seen: list[Any] = []

        class Custom(JsonFormatter):
            def add_fields(self, log_record: Any, record: Any, message_dict: Any) -> None:
                super().add_fields(log_record, record, message_dict)
                seen.append((record.name, message_dict))
                log_record["api_token"] = "t-1"

            def process_log_record(self, log_record: Any) -> Any:
                log_record["custom"] = log_record["level"].upper()
                return super().process_log_record(log_record)

        line = _line(legacy, Custom(), {"k": 1})
        assert ("INFO", "[REDACTED]") == (line["custom"], line["api_token"])
        assert [("tests.pjl_migration", {"k": 1})] == seen

    @pytest.mark.parametrize("hook", ["jsonify_log_record", "serialize_log_record"])
    def test_rendering_hooks_are_refused(self, hook: str) -> None:
        custom = type("Custom", (JsonFormatter,), {hook: lambda self, record: "{}"})
        with pytest.raises(TypeError, match=rf"{hook}\(\) \(use json_default="):
            custom()


@dataclasses.dataclass
class Point:
    x: int


class Colour(enum.Enum):
    RED = 1


def _values() -> dict[str, Any]:
    try:
        raise ValueError("bad")
    except ValueError as error:
        exception = error
    return {
        "bytes": b"some-bytes",
        "odd_bytes": b"\xf0\xf1",
        "timedelta": datetime.timedelta(seconds=1.5),
        "set": {1},
        "frozenset": frozenset({2}),
        "naive": datetime.datetime(2024, 5, 5, 16, 45, 30, 100),
        "aware": datetime.datetime(
            2024, 5, 5, 18, 45, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        ),
        "date": datetime.date(2024, 5, 5),
        "time": datetime.time(1, 2),
        "uuid": uuid.UUID(int=5),
        "decimal": decimal.Decimal("1.10"),
        "enum": Colour.RED,
        "dataclass": Point(3),
        "exception": exception,
        "path": pathlib.PurePosixPath("/x"),
        "object": Opaque(),
    }


class TestValues:
    @pytest.fixture
    def line(self, legacy: Any) -> dict[str, Any]:
        return _line(legacy, JsonFormatter(), "values", extra=_values())

    @pytest.fixture
    def theirs(self, legacy: Any) -> dict[str, Any]:
        return _line(legacy, PythonJsonFormatter(), "values", extra=_values())

    def test_bytes_are_text(self, line: dict[str, Any], theirs: dict[str, Any]) -> None:
        assert ("some-bytes", "\\xf0\\xf1") == (line["bytes"], line["odd_bytes"])
        assert "c29tZS1ieXRlcw==" == theirs["bytes"]

    def test_bytes_are_the_same_text_on_every_path(self, legacy: Any) -> None:
        out = io.StringIO()
        tracelog.configure(stream=out)
        tracelog.get_logger("native").info("n", b=b"\xf0ab")
        logging.getLogger("stdlib").warning("s", extra={"b": b"\xf0ab"})
        formatted = _line(legacy, JsonFormatter(), "f", extra={"b": b"\xf0ab"})
        lines = [json.loads(x) for x in out.getvalue().splitlines()]
        assert {"\\xf0ab"} == {lines[0]["b"], lines[1]["b"], formatted["b"]}

    def test_timedelta_is_seconds(self, line: dict[str, Any], theirs: dict[str, Any]) -> None:
        assert 1.5 == line["timedelta"]
        assert "0:00:01.500000" == theirs["timedelta"]

    def test_sets_are_lists(self, line: dict[str, Any], theirs: dict[str, Any]) -> None:
        assert ([1], [2]) == (line["set"], line["frozenset"])
        assert "{1}" == theirs["set"]

    def test_naive_datetime_is_utc(self, line: dict[str, Any], theirs: dict[str, Any]) -> None:
        assert "2024-05-05T16:45:30.000100Z" == line["naive"]
        assert "2024-05-05T16:45:30.000100" == theirs["naive"]

    def test_aware_datetime_keeps_its_offset(
        self, line: dict[str, Any], theirs: dict[str, Any], legacy: Any
    ) -> None:
        assert "2024-05-05T18:45:00+02:00" == line["aware"] == theirs["aware"]
        utc = datetime.datetime(2024, 5, 5, tzinfo=datetime.timezone.utc)
        assert "2024-05-05T00:00:00Z" == _line(legacy, JsonFormatter(), "u", extra={"t": utc})["t"]

    @pytest.mark.parametrize(
        "key", ["date", "time", "uuid", "decimal", "enum", "dataclass", "exception", "object"]
    )
    def test_the_same(self, line: dict[str, Any], theirs: dict[str, Any], key: str) -> None:
        if key == "object":  # the same rule; the address differs between the two objects
            assert line[key].split(" at ")[0] == theirs[key].split(" at ")[0]
        else:
            assert theirs[key] == line[key]

    def test_classes_tracebacks_and_unrepresentable_objects(self, legacy: Any) -> None:
        class Broken:
            def __repr__(self) -> str:
                raise RuntimeError("no repr")

        try:
            raise ValueError("x")
        except ValueError as error:
            traceback = error.__traceback__
        values = {"cls": Exception, "tb": traceback, "broken": Broken()}
        line = _line(legacy, JsonFormatter(), "v", extra=values)
        assert "<class 'Exception'>" == line["cls"]
        assert line["tb"].startswith("<traceback object")
        assert "Broken" in line["broken"]

    def test_path_is_its_repr(self, line: dict[str, Any], theirs: dict[str, Any]) -> None:
        assert "PurePosixPath('/x')" == line["path"]
        assert "/x" == theirs["path"]


class TestTheTable:
    def test_every_python_json_logger_option_has_a_row(self) -> None:
        options = set(inspect.signature(BaseJsonFormatter.__init__).parameters)
        options |= set(inspect.signature(PythonJsonFormatter.__init__).parameters)
        options -= {"self", "args", "kwargs"}
        table = DOCS.read_text().split("## From python-json-logger")[1].split("\n## ")[0]
        rows = set(re.findall(r"`([a-z_]+)", table))
        assert options <= rows, options - rows
