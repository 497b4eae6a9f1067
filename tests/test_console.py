"""The console renderer: aligned, coloured on a terminal, exceptions readable, data escaped."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import types
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import tracelog
from tracelog.console import ConsoleRenderer, colour_wanted, escape_control

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SGR = re.compile(r"\x1b\[[0-9;]*m")
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(autouse=True)
def _no_colour_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TRACELOG_FORMAT", raising=False)


class Tty:
    """A pseudo-terminal: ``stream`` is its writable end, ``read()`` what was written."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.stream = os.fdopen(slave, "w", buffering=1)

    def read(self) -> str:
        self.stream.flush()
        os.set_blocking(self.master, False)
        chunks = []
        try:
            while True:
                chunks.append(os.read(self.master, 65536))
        except (BlockingIOError, OSError):
            pass
        return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")

    def close(self) -> None:
        self.stream.close()
        os.close(self.master)


@pytest.fixture
def tty() -> Iterator[Tty]:
    terminal = Tty()
    yield terminal
    terminal.close()


def console(**options: Any) -> io.StringIO:
    out = io.StringIO()
    tracelog.configure(stream=out, format="console", **options)
    return out


class TestConsoleRenderer:
    def test_aligned_columns(self) -> None:
        out = console(level="debug")
        tracelog.get_logger("a").info("first", n=1)
        tracelog.get_logger("much.longer.name").warning("second")
        tracelog.get_logger("b").critical("third")
        lines = out.getvalue().splitlines()
        assert 3 == len(lines)
        columns = {line.index(word) for line, word in zip(lines, ["first", "second", "third"])}
        assert 1 == len(columns), lines
        assert "n=1" in lines[0]

    def test_the_line_reads_timestamp_level_logger_message_fields(self) -> None:
        out = console(service="shop")
        tracelog.get_logger("shop.orders").info("order placed", order_id=17)
        line = out.getvalue()
        assert re.match(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} info +shop\.orders +order placed order_id=17",
            line,
        ), line
        assert "(shop)" in line
        assert line.endswith("\n")

    def test_containers_show_as_in_the_json_line(self) -> None:
        out = console()
        d = {"a": 1, "token": "t"}
        tracelog.get_logger("a").info("e", keys=d.keys(), items=d.items(), tags={"x"}, pair=(1, 2))
        line = out.getvalue()
        assert 'keys=["a","token"]' in line
        assert 'items=[["a",1],["token","[REDACTED]"]]' in line
        assert 'tags=["x"] pair=[1,2]' in line

    def test_objects_show_as_in_the_json_line(self) -> None:
        @dataclasses.dataclass
        class Order:
            id: int
            items: list[str]

        out = console()
        tracelog.get_logger("a").info("e", order=Order(7, ["pen"]), ns=types.SimpleNamespace(n=1))
        assert 'order={"id":7,"items":["pen"]} ns={"n":1}' in out.getvalue()

    def test_short_trace_id(self) -> None:
        out = console()
        with tracelog.trace(TRACE_ID) as ctx, tracelog.span("charge card"):
            tracelog.get_logger("t").info("inside")
        line = out.getvalue()
        assert f"[{TRACE_ID[:8]}/" in line
        assert TRACE_ID not in line
        assert "charge card" in line
        assert ctx.span_id not in line

    def test_no_trace_no_ids(self) -> None:
        out = console()
        tracelog.get_logger("t").info("outside")
        assert "[" not in out.getvalue()

    def test_exceptions_are_readable(self) -> None:
        out = console()
        try:
            try:
                {}["card"]
            except KeyError as error:
                raise ValueError("declined") from error
        except ValueError:
            tracelog.get_logger("t").exception("payment failed")
        text = out.getvalue()
        assert "payment failed" in text.splitlines()[0]
        assert "Traceback (most recent call last):" in text
        assert "ValueError: declined" in text
        assert "KeyError: 'card'" in text
        assert "The above exception was the direct cause of the following exception:" in text
        assert text.index("KeyError") < text.index("ValueError: declined")
        assert "in test_exceptions_are_readable" in text

    def test_fields_named_exception_or_stack_stay_on_the_line(self) -> None:
        out = console()
        tracelog.get_logger("t").warning("retrying", exception="timeout", stack=3)
        assert ["exception=timeout stack=3"] == [
            line.split("retrying ")[1] for line in out.getvalue().splitlines()
        ]

    def test_stdlib_exceptions_and_stacks(self) -> None:
        out = console()
        try:
            raise OSError("disk")
        except OSError:
            logging.getLogger("lib").exception("failed")
        logging.getLogger("lib").info("here", stack_info=True)
        text = out.getvalue()
        assert "OSError: disk" in text
        assert "Stack (most recent call last):" in text

    @pytest.mark.parametrize(
        "hostile",
        [
            "\x1b[2J\x1b[H",  # clear the screen
            "\x1b]0;title\x07",  # set the window title
            "\r\x1b[Kfake line",  # rewrite the current line
            "\u202eevil\u202c",  # bidi override
            "\u2066isolate\u2069",
            "\x9b31m",  # C1 CSI
            "nul\x00 del\x7f",
            "new\nline",
        ],
    )
    def test_control_characters_from_data_are_escaped(self, hostile: str) -> None:
        out = console()
        log = tracelog.get_logger("t" + hostile)
        log.info(hostile, **{"key" + hostile: hostile, "nested": {"k": hostile}})
        try:
            raise ValueError(hostile)
        except ValueError:
            log.exception("boom", value=hostile)
        logging.getLogger("lib").warning("%s", hostile, extra={"extra": hostile})
        with tracelog.trace(TRACE_ID, bound=hostile), tracelog.span(hostile):
            log.info("in span")
        text = out.getvalue()
        assert not RAW_CONTROL.search(text), repr(text)
        assert "\x1b" not in text
        first = text.splitlines()[0]
        assert escape_control(hostile) in first

    def test_escapes_with_colour_on(self) -> None:
        out = io.StringIO()
        text = ConsoleRenderer(colour=True)(
            None,
            "info",
            {"level": "info", "logger": "t", "message": "\x1b[31mred", "k\x1b": "\x1b[0m"},
        )
        out.write(text)
        assert "\x1b" not in SGR.sub("", text)
        assert "\\x1b[31mred" in text

    def test_escape_control(self) -> None:
        assert "a\\x1b[2Jb\\nc\\td\\u202e" == escape_control("a\x1b[2Jb\nc\td\u202e")
        assert "plain text, ünïcödé ✓" == escape_control("plain text, ünïcödé ✓")

    def test_never_raises(self) -> None:
        class Bad:
            def __str__(self) -> str:
                raise RuntimeError("no")

            def __repr__(self) -> str:
                raise RuntimeError("no")

        renderer = ConsoleRenderer()
        text = renderer(None, "info", {"message": Bad(), "level": Bad(), "x": Bad(), "y": 1})
        assert text.endswith("\n")
        assert 1 == text.count("\n")
        assert "y=1" in text
        broken = renderer(None, "info", {"level": "info", "exception": {"frames": 1}, "y": 1})
        assert broken.endswith("\n")
        assert "y" in broken


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp"])
@pytest.mark.parametrize("several", [False, True])
def test_the_console_keeps_its_columns_whatever_the_schema(schema: str, several: bool) -> None:
    out = io.StringIO()
    if several:
        tracelog.configure(
            outputs=[tracelog.outputs.Stream(out, format="console", schema=schema)],
            service="svc",
        )
    else:
        tracelog.configure(stream=out, schema=schema, format="console", service="svc")
    with tracelog.trace() as ctx:
        tracelog.get_logger("shop").warning("disk low", free_mb=12)
    text = out.getvalue()
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} warning +shop +disk low", text)
    assert f"[{ctx.trace_id[:8]}/" in text and "(svc)" in text and "free_mb=12" in text


class TestColour:
    def test_off_for_a_non_tty(self) -> None:
        out = console()
        tracelog.get_logger("t").warning("plain")
        assert "\x1b" not in out.getvalue()

    def test_on_for_a_tty(self, tty: Tty) -> None:
        tracelog.configure(stream=tty.stream, format="console")
        tracelog.get_logger("t").warning("coloured")
        text = tty.read()
        assert "\x1b[33m" in text
        assert "coloured" in SGR.sub("", text)

    def test_no_color_turns_it_off(self, tty: Tty, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NO_COLOR", "1")
        tracelog.configure(stream=tty.stream, format="console")
        tracelog.get_logger("t").warning("plain")
        text = tty.read()
        assert "plain" in text
        assert "\x1b" not in text

    def test_force_color_turns_it_on(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FORCE_COLOR", "1")
        out = console()
        tracelog.get_logger("t").error("forced")
        assert "\x1b[31m" in out.getvalue()

    def test_no_color_wins_over_force_color(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FORCE_COLOR", "1")
        monkeypatch.setenv("NO_COLOR", "1")
        assert not colour_wanted(io.StringIO())

    def test_an_empty_no_color_is_ignored(self, tty: Tty, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NO_COLOR", "")
        assert colour_wanted(tty.stream)

    def test_a_stream_without_isatty(self) -> None:
        assert not colour_wanted(object())


class TestAutoFormat:
    def test_console_on_a_tty(self, tty: Tty) -> None:
        tracelog.configure(stream=tty.stream, format="auto")
        tracelog.get_logger("t").info("for a person", n=1)
        text = SGR.sub("", tty.read())
        assert "for a person" in text
        assert "n=1" in text
        assert not text.lstrip().startswith("{")

    def test_json_otherwise(self) -> None:
        out = io.BytesIO()
        tracelog.configure(stream=out, format="auto")
        tracelog.get_logger("t").info("for a machine")
        assert "for a machine" == orjson.loads(out.getvalue())["message"]

    def test_from_the_environment(self, tty: Tty, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_FORMAT", "auto")
        tracelog.configure(stream=tty.stream)
        tracelog.get_logger("t").info("auto from env")
        assert not tty.read().lstrip().startswith("{")
