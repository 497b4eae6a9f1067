from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time
from typing import Any

import orjson
import pytest

import tracelog
from tracelog import _faults
from tracelog import pipeline as _pipeline
from tracelog.console import ConsoleRenderer
from tracelog.outputs import Fanout, File, Output, Stream, StreamOutput, _lifecycle
from tracelog.render import JsonRenderer


class Recorder:
    """An output that keeps what it is given (the Output protocol, nothing more)."""

    def __init__(
        self,
        *,
        level: int | str | None = None,
        format: str | None = None,
        schema: str | None = None,
        name: str | None = None,
    ) -> None:
        self.level = level
        self.format = format
        self.schema = schema
        if name is not None:
            self.name = name
        self.lines: list[bytes | str] = []
        self.closed = 0

    def write(self, line: bytes | str) -> None:
        self.lines.append(line)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        self.closed += 1

    def stats(self) -> dict[str, int]:
        return {"written": len(self.lines), "dropped": 0, "retried": 0, "failed": 0}

    def parsed(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines]


def _read_slowly(fd: int) -> bytes:
    """Everything from a pipe, in small reads after a pause (the pipe fills meanwhile)."""
    time.sleep(0.2)
    chunks = []
    with open(fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(1000):
            chunks.append(chunk)
    return b"".join(chunks)


class Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


class TestStream:
    def test_binary_stream_gets_the_bytes(self) -> None:
        out = io.BytesIO()
        tracelog.configure(outputs=[Stream(out)])

        tracelog.get_logger("t").info("hi", n=1)

        line = orjson.loads(out.getvalue())
        assert ("hi", 1) == (line["message"], line["n"])

    def test_text_stream_without_buffer_gets_text(self) -> None:
        out = io.StringIO()
        tracelog.configure(outputs=[Stream(out)])

        tracelog.get_logger("t").info("hi")

        assert "hi" == orjson.loads(out.getvalue())["message"]

    @pytest.mark.parametrize("encoding", ["utf-16", "latin-1", "ascii"])
    @pytest.mark.parametrize("nonblocking", [False, True])
    def test_a_text_file_in_another_encoding_gets_valid_lines(
        self, tmp_path: Any, encoding: str, nonblocking: bool
    ) -> None:
        path = tmp_path / "text.log"
        with open(path, "w", encoding=encoding) as text:
            text.write("header\n")
            tracelog.configure(stream=text, nonblocking=nonblocking)
            tracelog.get_logger("t").info("café €5 \U0001f600", city="Zürich")
            tracelog.reset()  # writes what is queued and closes the writer
        header, written = path.read_text(encoding=encoding).splitlines()
        line = orjson.loads(written)
        assert "header" == header
        assert ("café €5 \U0001f600", "Zürich") == (line["message"], line["city"])

    def test_a_stream_that_fails_once_while_binding_is_bound_again(self) -> None:
        # As on a stack about to overflow: the first write's bind fails part-way.
        class FailsOnce(io.BytesIO):
            armed = False

            @property  # type: ignore[override]
            def write(self) -> Any:
                if FailsOnce.armed:
                    FailsOnce.armed = False
                    raise RecursionError("maximum recursion depth exceeded")
                return super().write

        out = FailsOnce()
        tracelog.configure(stream=out)
        FailsOnce.armed = True
        for i in range(3):
            tracelog.get_logger("t").info("line", i=i)
        assert [1, 2] == [orjson.loads(line)["i"] for line in out.getvalue().splitlines()]
        assert 1 == tracelog.stats()["stream:FailsOnce"]["failed"]

    def test_a_raw_non_blocking_pipe_gets_whole_lines(self) -> None:
        # One write(2) to a full non-blocking pipe takes part of a line; the rest must follow.
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        raw = os.fdopen(write_end, "wb", buffering=0)
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(_read_slowly(read_end)))
        tracelog.configure(stream=raw)
        reader.start()
        tracelog.get_logger("t").info("big", v="x" * 200_000)
        tracelog.get_logger("t").info("after")
        tracelog.reset()
        raw.close()
        reader.join(timeout=30)
        lines = [orjson.loads(line) for line in received[0].splitlines()]
        assert ["big", "after"] == [line["message"] for line in lines]
        assert 200_000 == len(lines[0]["v"])

    def test_none_follows_sys_stdout(self, capsys: pytest.CaptureFixture[str]) -> None:
        tracelog.configure(outputs=[Stream()])

        tracelog.get_logger("t").info("to stdout")

        assert "to stdout" == orjson.loads(capsys.readouterr().out)["message"]

    def test_a_failing_stream_never_raises_and_is_counted(self) -> None:
        tracelog.configure(outputs=[Stream(Broken())])

        tracelog.get_logger("t").info("lost")

        assert {"written": 0, "dropped": 0, "retried": 0, "failed": 1} == tracelog.stats()[
            "stream:Broken"
        ]
        assert 1 == _faults.counts()["output"]

    def test_write_lines_is_one_write(self) -> None:
        out = io.BytesIO()
        stream = Stream(out)

        stream.write_lines([b"a\n", "b\n", b"c\n"])

        assert b"a\nb\nc\n" == out.getvalue()
        assert 3 == stream.stats()["written"]

    def test_a_file_gets_each_line_whole_and_in_order_with_other_writes(
        self, tmp_path: Any
    ) -> None:
        # A text file with unflushed text in it (print) and its buffer: the
        # lines come after what was written before them, short and long alike.
        path = tmp_path / "out.log"
        with open(path, "a", encoding="utf-8") as text:
            stream = Stream(text)
            long = b'{"n":"' + b"x" * 10_000 + b'"}\n'
            text.write("before\n")
            stream.write(b'{"n":1}\n')
            text.buffer.write(b"raw\n")
            stream.write(long)
            text.write("after\n")

        assert [b"before", b'{"n":1}', b"raw", long.rstrip(), b"after"] == (
            path.read_bytes().splitlines()
        )
        assert 2 == stream.stats()["written"]

    def test_a_short_write_is_finished(self, tmp_path: Any) -> None:
        path = tmp_path / "out.log"
        with open(path, "ab") as file:
            stream = Stream(file)
            stream.write(b"first\n")
            direct = stream._direct
            stream._direct = lambda data: direct(data[:3])  # the kernel took 3 bytes

            stream.write(b'{"n":1}\n')

        assert b'first\n{"n":1}\n' == path.read_bytes()

    @pytest.mark.parametrize("target", ["pipe", "file"])
    def test_threads_never_mix_their_lines(self, target: str, tmp_path: Any) -> None:
        # Short and long lines (up to 6 KB) from 4 threads. The pipe's reader is
        # slow and reads in small pieces, so the pipe is full and a long write
        # is taken in parts: no other thread's line may land between them.
        lines = [
            orjson.dumps({"t": t, "i": i, "pad": "x" * (i % 3 * 3000)}) + b"\n"
            for t in range(4)
            for i in range(100)
        ]
        received = bytearray()
        reader = None
        if target == "pipe":
            read_end, write_end = os.pipe()
            out = open(write_end, "wb")
            reader = threading.Thread(target=lambda: received.extend(_read_slowly(read_end)))
            reader.start()
        else:
            out = open(tmp_path / "out.log", "ab")
        stream = Stream(out)
        writers = [
            threading.Thread(target=lambda t=t: [stream.write(x) for x in lines[t::4]])
            for t in range(4)
        ]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=60)
        out.close()
        if reader is not None:
            reader.join(timeout=60)
        else:
            received.extend((tmp_path / "out.log").read_bytes())

        assert sorted(lines) == sorted(line + b"\n" for line in bytes(received).splitlines())

    def test_only_a_regular_file_is_written_past_its_buffer(self, tmp_path: Any) -> None:
        read_end, write_end = os.pipe()
        with open(tmp_path / "f", "ab") as file, open(write_end, "wb") as pipe:
            os.close(read_end)
            to_file, to_pipe = Stream(file), Stream(pipe)
            to_file._bind(file)
            to_pipe._bind(pipe)
            assert to_file._direct is not None
            assert to_pipe._direct is None

    def test_stream_output_is_the_old_name(self) -> None:
        assert StreamOutput is Stream

    def test_is_an_output(self) -> None:
        assert isinstance(Stream(), Output)
        assert isinstance(Recorder(), Output)


class TestOptions:
    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda: Stream(format="xml"), "format='xml' is not one of json, console, auto"),
            (lambda: Stream(schema="elk"), "schema='elk' is not one of default, ecs, otel, gcp"),
            (lambda: Stream(level="loud"), "level='loud' is not one of debug"),
        ],
    )
    def test_bad_output_options_name_the_option(self, make: Any, message: str) -> None:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            make()

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"outputs": []}, "outputs=\\[\\] leaves nowhere to write"),
            ({"outputs": [object()]}, "has no write method"),
            ({"nonblocking": True, "overflow": "wait"}, "overflow='wait' is not one of drop"),
            ({"nonblocking": True, "queue_size": 0}, "queue_size=0 must be a positive"),
        ],
    )
    def test_bad_configure_options_raise_configuration_error(
        self, options: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(tracelog.ConfigurationError, match=message):
            tracelog.configure(**options)

    def test_levels_accept_names_and_numbers(self) -> None:
        assert 10 == Stream(level="DEBUG").level
        assert 30 == Stream(level="warn").level
        assert 25 == Stream(level=25).level


class TestSeveralOutputs:
    def test_each_output_has_its_own_format_schema_and_level(self) -> None:
        console, ecs, errors = io.StringIO(), io.BytesIO(), io.BytesIO()
        tracelog.configure(
            level="INFO",
            service="shop",
            outputs=[
                Stream(console, format="console", level="DEBUG"),
                Stream(ecs, schema="ecs"),
                Stream(errors, schema="otel", level="ERROR"),
            ],
        )
        log = tracelog.get_logger("shop.orders")

        log.debug("looking")
        log.info("paid", order_id=7)
        log.error("declined")

        assert 3 == len(console.getvalue().splitlines())
        assert "looking" in console.getvalue().splitlines()[0]
        ecs_lines = [orjson.loads(line) for line in ecs.getvalue().splitlines()]
        assert ["paid", "declined"] == [line["message"] for line in ecs_lines]
        assert "info" == ecs_lines[0]["log.level"]
        otel_lines = [orjson.loads(line) for line in errors.getvalue().splitlines()]
        assert ["declined"] == [line["body"] for line in otel_lines]

    def test_stdlib_records_reach_every_output_at_its_level(self) -> None:
        debug, info = Recorder(level="DEBUG"), Recorder()
        tracelog.configure(level="INFO", outputs=[debug, info])

        logging.getLogger("legacy").debug("detail")
        logging.getLogger("legacy").warning("slow")

        assert ["detail", "slow"] == [line["message"] for line in debug.parsed()]
        assert ["slow"] == [line["message"] for line in info.parsed()]

    def test_shared_chain_runs_once_and_each_layout_renders_once(self) -> None:
        calls: list[str] = []

        def count(logger: Any, method_name: str, event_dict: Any) -> Any:
            calls.append(event_dict["message"])
            return event_dict

        a, b, c = Recorder(), Recorder(), Recorder(schema="ecs")
        tracelog.configure(processors=[count], outputs=[a, b, c])

        tracelog.get_logger("t").info("once")

        assert ["once"] == calls
        assert a.lines[0] is b.lines[0]  # one render for the shared layout
        assert b"@timestamp" in bytes(c.lines[0])

    def test_one_output_adds_no_step_to_the_chain(self) -> None:
        out = Stream(io.BytesIO())
        tracelog.configure(outputs=[out])

        pipeline = _pipeline.active()

        assert out.write == pipeline.write
        assert isinstance(pipeline.processors[-1], JsonRenderer)

    def test_several_outputs_write_through_a_fanout(self) -> None:
        tracelog.configure(outputs=[Recorder(), Recorder(format="console")])

        assert isinstance(_pipeline.active().write, Fanout)
        assert not any(isinstance(p, JsonRenderer) for p in _pipeline.active().processors)

    def test_pipeline_level_is_the_lowest_output_level(self) -> None:
        tracelog.configure(level="WARNING", outputs=[Recorder(level="DEBUG"), Recorder()])

        assert 10 == _pipeline.active().level
        assert 10 == logging.getLogger().level

    def test_console_renderer_is_chosen_per_output(self) -> None:
        tracelog.configure(outputs=[Recorder(format="console")])

        assert isinstance(_pipeline.active().processors[-1], ConsoleRenderer)

    def test_a_failing_layout_still_writes_a_line_and_spares_the_others(self) -> None:
        good, bad = Recorder(), Recorder(format="console")
        tracelog.configure(outputs=[good, bad])
        fanout = _pipeline.active().write
        assert isinstance(fanout, Fanout)

        def explode(*_: Any) -> Any:
            raise RuntimeError("renderer bug")

        for index, (level, tail, pairs) in enumerate(fanout.groups):
            if any(write == bad.write for _, write in pairs):
                groups = list(fanout.groups)
                groups[index] = (level, (explode,), pairs)
                fanout.groups = tuple(groups)

        tracelog.get_logger("t").info("still here")

        assert "still here" == good.parsed()[0]["message"]
        fallback = orjson.loads(bad.lines[0])
        assert "still here" == fallback["message"]
        assert "renderer bug" in fallback["logging_error"]

    def test_a_failing_layout_writes_its_line_in_its_schema(self) -> None:
        ecs, plain = Recorder(schema="ecs"), Recorder()
        tracelog.configure(outputs=[ecs, plain])
        fanout = _pipeline.active().write
        assert isinstance(fanout, Fanout)

        def explode(*_: Any) -> Any:
            raise RuntimeError("renderer bug")

        groups = list(fanout.groups)
        for index, (level, tail, pairs) in enumerate(groups):
            if any(write == ecs.write for _, write in pairs):
                groups[index] = (level, (*tail[:-1], explode), pairs)  # the schema stays
        fanout.groups = tuple(groups)

        tracelog.get_logger("t").warning("still here")

        line = orjson.loads(ecs.lines[0])
        assert ("still here", "warning") == (line["message"], line["log.level"])
        assert "renderer bug" in str(line)
        assert "still here" == plain.parsed()[0]["message"]

    @pytest.mark.parametrize("failing", [0, 1, 2])
    @pytest.mark.parametrize("chain", ["working", "broken"])
    def test_an_output_that_raises_costs_only_its_own_line(self, failing: int, chain: str) -> None:
        class Full(Recorder):
            def write(self, line: bytes | str) -> None:
                raise OSError(28, "No space left on device")

        def broken(*_: Any) -> Any:
            raise RuntimeError("processor bug")

        outputs = [Recorder(), Recorder(), Recorder()]
        outputs[failing] = Full(name="full")
        tracelog.configure(outputs=outputs, processors=[broken] if chain == "broken" else [])
        tracelog.get_logger("t").info("order placed")
        for number, output in enumerate(outputs):
            if number != failing:
                assert ["order placed"] == [line["message"] for line in output.parsed()]
        assert _faults.counts()["output"] >= 1


class TestFlushStatsClose:
    def test_stats_by_output_name(self) -> None:
        tracelog.configure(
            outputs=[Stream(io.BytesIO()), Stream(sys.stderr), Recorder(name="mine"), Recorder()]
        )

        assert ["stream:BytesIO", "stream:stderr", "mine", "recorder"] == list(tracelog.stats())

    def test_flush_is_true_when_everything_is_written(self) -> None:
        tracelog.configure(outputs=[Recorder()])

        assert tracelog.flush(1.0) is True

    def test_reconfigure_closes_the_outputs_it_replaces(self) -> None:
        old, kept = Recorder(), Recorder()
        tracelog.configure(outputs=[old, kept])

        tracelog.configure(outputs=[kept])

        assert (1, 0) == (old.closed, kept.closed)

    def test_reset_closes_the_outputs(self, tmp_path: Any) -> None:
        recorder = Recorder()
        file = File(tmp_path / "a.jsonl")
        tracelog.configure(outputs=[recorder, file], nonblocking=True)
        tracelog.get_logger("t").info("x")

        tracelog.reset()

        assert 1 == recorder.closed
        assert () == _lifecycle.installed()
        assert 1 == len((tmp_path / "a.jsonl").read_bytes().splitlines())


class TestShippers:
    def test_shippers_are_importable_from_outputs(self) -> None:
        from tracelog.outputs.shipping.loki import Loki

        assert Loki is tracelog.outputs.Loki

    def test_unknown_names_are_attribute_errors(self) -> None:
        with pytest.raises(AttributeError, match="has no attribute 'Kafka'"):
            tracelog.outputs.Kafka
