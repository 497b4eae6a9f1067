"""CallSite: where a call was made, for both entry points."""

from __future__ import annotations

import io
import logging
from typing import Any

import orjson
import pytest
import structlog

import tracelog
from tracelog.processors import CallSite


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_both_entry_points_name_the_callers_function_and_line() -> None:
    out = io.StringIO()
    tracelog.configure(
        stream=out, processors=[CallSite("func_name", "lineno", "module", "pathname")]
    )

    def place_order() -> int:
        first = _line()
        tracelog.get_logger("shop").info("native")
        logging.getLogger("shop").warning("stdlib")
        structlog.get_logger("shop").info("structlog")
        tracelog.get_logger("shop").bind(order=1).exception("bound")
        return first

    first = place_order()
    lines = _lines(out)
    assert ["native", "stdlib", "structlog", "bound"] == [line["message"] for line in lines]
    assert [first + 1, first + 2, first + 3, first + 4] == [line["lineno"] for line in lines]
    for line in lines:
        assert "place_order" == line["func_name"]
        assert "test_callsite" == line["module"]
        assert str(line["pathname"]).endswith("test_callsite.py")


def test_default_fields_and_a_field_given_by_the_call_wins() -> None:
    out = io.StringIO()
    tracelog.configure(stream=out, processors=[CallSite()])
    tracelog.get_logger("shop").info("own line", lineno=7)
    (line,) = _lines(out)
    assert 7 == line["lineno"]
    assert {"func_name", "module"} <= set(line)
    assert "pathname" not in line


def test_an_unknown_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="line"):
        CallSite("line")


def _line() -> int:
    import sys

    return sys._getframe(1).f_lineno


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ("ecs", lambda line: (line["log"]["origin"]["function"], line["log"]["origin"]["file"])),
        ("otel", lambda line: (line["attributes"]["code.function"], line["attributes"])),
    ],
)
def test_the_schemas_name_them_as_their_models_do(schema: str, where: Any) -> None:
    out = io.StringIO()
    tracelog.configure(
        stream=out, schema=schema, processors=[CallSite("func_name", "lineno", "pathname")]
    )

    def pay() -> None:
        tracelog.get_logger("shop").info("paid")

    pay()
    (line,) = _lines(out)
    function, file = where(line)
    assert "pay" == function
    if schema == "ecs":
        assert isinstance(file["line"], int) and file["name"].endswith("test_callsite.py")
    else:
        assert isinstance(file["code.lineno"], int) and file["code.filepath"].endswith(".py")


def test_an_awaited_call_names_the_awaiting_function() -> None:
    import asyncio

    out = io.StringIO()
    tracelog.configure(stream=out, processors=[CallSite()])

    async def handler() -> None:
        await tracelog.get_logger("shop").ainfo("native")
        await structlog.get_logger("shop").ainfo("structlog")

    asyncio.run(handler())
    assert ["handler", "handler"] == [line["func_name"] for line in _lines(out)]


def test_a_warning_names_the_place_it_was_raised() -> None:
    import warnings

    out = io.StringIO()
    tracelog.configure(stream=out, processors=[CallSite("lineno", "pathname")])
    line_number = _line() + 1
    warnings.warn("old API", DeprecationWarning, stacklevel=1)
    (line,) = _lines(out)
    assert line_number == line["lineno"]
    assert str(line["pathname"]).endswith("test_callsite.py")
