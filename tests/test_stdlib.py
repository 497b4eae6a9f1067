"""The stdlib bridge: records through the same chain, TraceFilter, JsonFormatter."""

from __future__ import annotations

import io
import logging
import logging.config
import warnings
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from pythonjsonlogger.json import JsonFormatter as PythonJsonFormatter

import tracelog
from _lines import Lines
from tracelog.stdlib import (
    JsonFormatter,
    TraceFilter,
    TracelogHandler,
    record_to_event,
    stays_on_root,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def isolated_logger() -> Iterator[logging.Logger]:
    """A logger of its own (not propagating), left with no handlers or filters afterwards."""
    logger = logging.getLogger("tests.isolated")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


class TestTracelogHandler:
    @pytest.mark.parametrize(
        "name", ["app", "uvicorn.error", "uvicorn.access", "httpx", "sqlalchemy.engine", "celery"]
    )
    def test_every_logger_is_one_json_line(self, name: str) -> None:
        lines = Lines()
        logging.getLogger(name).warning("from %s", name)
        (raw,) = lines.raw()
        line = orjson.loads(raw)
        assert ["timestamp", "level", "logger", "message"] == list(line)[:4]
        assert name == line["logger"]
        assert "warning" == line["level"]
        assert f"from {name}" == line["message"]

    def test_native_and_stdlib_lines_have_the_same_shape(self) -> None:
        lines = Lines(service="shop")
        with tracelog.trace(TRACE_ID, user=7), tracelog.span("step"):
            tracelog.get_logger("native").info("same", order=1, password="p")
            logging.getLogger("stdlib").info("same", extra={"order": 1, "password": "p"})
        native, stdlib = lines()
        assert list(native) == list(stdlib)
        for key in native:
            if key not in ("timestamp", "logger"):
                assert native[key] == stdlib[key], key
        assert "[REDACTED]" == stdlib["password"]

    def test_both_entry_points_run_the_same_processors(self) -> None:
        calls: list[str] = []

        def spy(logger: Any, method_name: str, event_dict: Any) -> Any:
            calls.append(event_dict["message"])
            event_dict["spied"] = True
            return event_dict

        lines = Lines(processors=[spy])
        tracelog.get_logger("native").info("a")
        logging.getLogger("stdlib").info("b")
        assert ["a", "b"] == calls
        assert [True, True] == [line["spied"] for line in lines()]

    def test_percent_args_are_interpolated(self) -> None:
        lines = Lines()
        logging.getLogger("x").info("user %s paid %.2f", "ann", 9.5)
        logging.getLogger("x").info("mapping %(a)s", {"a": "arg"})
        assert ["user ann paid 9.50", "mapping arg"] == [line["message"] for line in lines()]

    def test_extra_fields_are_kept(self) -> None:
        lines = Lines()
        logging.getLogger("x").info("with extra", extra={"order_id": 17, "items": [1, 2]})
        line = lines.one()
        assert 17 == line["order_id"]
        assert [1, 2] == line["items"]
        for attr in ("args", "msg", "levelno", "pathname", "exc_info", "thread", "taskName"):
            assert attr not in line

    def test_uvicorns_coloured_copy_of_the_message_is_left_out(self) -> None:
        lines = Lines()
        coloured = "Started server process [\x1b[36m%d\x1b[0m]"
        extra = {"color_message": coloured, "port": 8000}
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 7, extra=extra)
        line = lines.one()
        assert ("Started server process [7]", 8000) == (line["message"], line["port"])
        assert "color_message" not in line
        assert "\\u001b" not in orjson.dumps(line).decode()

    def test_extra_fields_named_like_pipeline_keys_are_kept_aside(self) -> None:
        lines = Lines()
        logging.getLogger("x").info("m", extra={"level": "fake", "trace_id": "fake", "logger": 1})
        line = lines.one()
        assert "info" == line["level"]
        assert "x" == line["logger"]
        assert "trace_id" not in line
        assert ("fake", "fake", 1) == (line["level_"], line["trace_id_"], line["logger_"])

    def test_a_field_named_event_is_kept_beside_the_message(self) -> None:
        # "event" is structlog's name for the message; a field of that name is not lost.
        lines = Lines()
        logging.getLogger("x").info("m", extra={"event": "signup"})
        tracelog.get_logger("x").bind(event="bound").info("n")
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "r", (), None)
        record.event = "extra"
        event = record_to_event(record)
        stdlib, native = lines()
        assert ("m", "signup") == (stdlib["message"], stdlib["event_"])
        assert ("n", "bound") == (native["message"], native["event_"])
        assert ("r", "extra") == (event["event"], event["event_"])

    def test_trace_filter_on_the_handler_adds_no_duplicates(self) -> None:
        lines = Lines()
        (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, TracelogHandler)]
        handler.addFilter(TraceFilter())
        with tracelog.trace(TRACE_ID, user=7), tracelog.span():
            logging.getLogger("x").info("stamped")
        line = lines.one()
        assert TRACE_ID == line["trace_id"]
        assert 7 == line["user"]
        assert set() == {"trace_id_", "span_id_", "parent_span_id_", "user_"} & set(line)

    def test_exception_is_structured(self) -> None:
        lines = Lines()
        with tracelog.trace(TRACE_ID):
            try:
                try:
                    {}["k"]
                except KeyError as error:
                    raise ValueError("bad") from error
            except ValueError:
                logging.getLogger("x").exception("failed %d", 1)
        (raw,) = lines.raw()
        assert 1 == raw.count(b"\n")
        line = orjson.loads(raw)
        assert "error" == line["level"]
        assert "failed 1" == line["message"]
        assert TRACE_ID == line["trace_id"]
        assert "ValueError" == line["exception"]["type"]
        assert "bad" == line["exception"]["message"]
        assert line["exception"]["frames"]
        assert "KeyError" == line["exception"]["cause"]["type"]

    def test_exc_info_true(self) -> None:
        lines = Lines()
        try:
            raise OSError("disk")
        except OSError:
            logging.getLogger("x").warning("handled", exc_info=True)
        assert "OSError" == lines.one()["exception"]["type"]

    def test_stack_info(self) -> None:
        lines = Lines()
        logging.getLogger("x").info("where am I", stack_info=True)
        line = lines.one()
        assert "where am I" == line["message"]
        assert line["stack"].startswith("Stack (most recent call last):")
        assert "test_stack_info" in line["stack"]
        assert "stack_info" not in line

    def test_a_format_that_does_not_match_its_args(self, monkeypatch: pytest.MonkeyPatch) -> None:
        lines = Lines()
        root = logging.getLogger()  # pytest's capture handler fails a test on a bad format
        monkeypatch.setattr(root, "handlers", [h for h in root.handlers if not stays_on_root(h)])
        logger = logging.getLogger("x")
        logger.info("needs %d and %s", "only one")
        logger.info("no placeholders", "extra", "args")
        logger.info("%(missing)s", {"other": 1})
        got = lines()
        assert 3 == len(got)
        assert "needs %d and %s" in got[0]["message"]
        assert "only one" in got[0]["message"]
        assert "extra" in got[1]["message"]
        assert "%(missing)s" in got[2]["message"]

    def test_configure_three_times_leaves_one_handler(self) -> None:
        root = logging.getLogger()
        for _ in range(3):
            lines = Lines()
        assert 1 == sum(isinstance(h, TracelogHandler) for h in root.handlers)
        assert 1 == len([h for h in root.handlers if not stays_on_root(h)])  # and pytest's
        logging.getLogger("x").info("once")
        assert 1 == len(lines())

    def test_records_carry_the_callers_trace(self) -> None:
        lines = Lines()
        logger = logging.getLogger("x")
        with tracelog.trace(TRACE_ID, user=7) as ctx, tracelog.span("child") as child:
            logger.info("inside")
        logger.info("outside")
        inside, outside = lines()
        assert (TRACE_ID, child.span_id, ctx.span_id, 7) == (
            inside["trace_id"],
            inside["span_id"],
            inside["parent_span_id"],
            inside["user"],
        )
        assert "trace_id" not in outside
        assert "user" not in outside

    def test_level_filtering(self) -> None:
        lines = Lines(level="warning")
        logger = logging.getLogger("x")
        logger.info("dropped")
        logger.warning("kept")
        assert ["kept"] == [line["message"] for line in lines()]

    def test_custom_level_keeps_its_name(self) -> None:
        lines = Lines(level="debug")
        logging.getLogger("x").log(25, "custom")
        logging.addLevelName(15, "TRACE_DETAIL")
        logging.getLogger("x").log(15, "named custom")
        assert ["level 25", "trace_detail"] == [line["level"] for line in lines()]

    def test_the_records_time_is_used(self) -> None:
        lines = Lines()
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "old", (), None)
        record.created = 0.5
        logging.getLogger("x").handle(record)
        assert "1970-01-01T00:00:00.500000Z" == lines.one()["timestamp"]

    def test_capture_stdlib_false_leaves_the_root_alone(self) -> None:
        root = logging.getLogger()
        before = list(root.handlers)
        Lines(capture_stdlib=False)
        assert before == root.handlers


class TestWarnings:
    def test_warnings_warn_is_captured_as_a_line(self) -> None:
        lines = Lines()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("old api", DeprecationWarning, stacklevel=1)
        line = lines.one()
        assert "warning" == line["level"]
        assert "py.warnings" == line["logger"]
        assert "old api" == line["message"]
        assert "DeprecationWarning" == line["category"]
        assert line["location"].startswith(__file__ + ":")

    def test_warnings_carry_the_trace(self) -> None:
        lines = Lines()
        with tracelog.trace(TRACE_ID), warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("inside", UserWarning, stacklevel=1)
        assert TRACE_ID == lines.one()["trace_id"]

    def test_an_explicit_file_still_gets_the_warning(self, monkeypatch: pytest.MonkeyPatch) -> None:
        shown: list[tuple[Any, ...]] = []
        monkeypatch.setattr(warnings, "showwarning", lambda *args: shown.append(args))
        lines = Lines()
        out = io.StringIO()
        warnings.showwarning("to a file", UserWarning, "f.py", 3, file=out)
        assert [("to a file", UserWarning, "f.py", 3, out, None)] == shown
        assert [] == lines()

    def test_capture_warnings_false(self) -> None:
        before = warnings.showwarning
        Lines(capture_warnings=False)
        assert before is warnings.showwarning

    def test_reset_restores_showwarning(self) -> None:
        before = warnings.showwarning
        Lines()
        assert before is not warnings.showwarning
        tracelog.reset()
        assert before is warnings.showwarning


class TestRecordToEvent:
    def test_plain_record(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", ("b",), None)
        assert {"event": "a b"} == record_to_event(record)

    def test_extra(self) -> None:
        logger = logging.getLogger("x")
        record = logger.makeRecord("x", logging.INFO, __file__, 1, "m", (), None, extra={"a": 1})
        assert {"a": 1, "event": "m"} == record_to_event(record)

    def test_attributes_set_later_are_extra_too(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
        record.message = "formatted elsewhere"
        record.custom = 2
        assert {"custom": 2, "event": "m"} == record_to_event(record)


def test_reconfiguring_while_threads_log_loses_and_repeats_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import threading

    streams = [io.BytesIO()]
    tracelog.configure(stream=streams[0])
    stop = threading.Event()
    counts: list[int] = []

    def log() -> None:
        sent = 0
        while not stop.is_set() and sent < 20_000:
            logging.getLogger("lib").warning("record %d", sent)
            sent += 1
        counts.append(sent)

    threads = [threading.Thread(target=log) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(150):
        streams.append(io.BytesIO())
        tracelog.configure(stream=streams[-1])
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    tracelog.reset()
    lines = [line for stream in streams for line in stream.getvalue().splitlines()]
    assert sum(counts) == len(lines)
    assert "record" not in capsys.readouterr().err  # nothing went to logging.lastResort


class TestTraceFilter:
    def test_with_python_json_logger(self, isolated_logger: logging.Logger) -> None:
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(PythonJsonFormatter("%(message)s %(levelname)s"))
        handler.addFilter(TraceFilter())
        isolated_logger.addHandler(handler)
        with tracelog.trace(TRACE_ID, user=7) as root, tracelog.span("child") as child:
            tracelog.bind(cart=3)
            isolated_logger.info("inside", extra={"order": 1})
        isolated_logger.info("outside")
        inside, outside = (orjson.loads(line) for line in out.getvalue().splitlines())
        assert {
            "message": "inside",
            "levelname": "INFO",
            "trace_id": TRACE_ID,
            "span_id": child.span_id,
            "parent_span_id": root.span_id,
            "user": 7,
            "cart": 3,
            "order": 1,
            "request_id": "-",  # every field TraceFilter provides is there, "-" if unknown
        } == inside
        unknown = dict.fromkeys(("trace_id", "span_id", "parent_span_id", "request_id"), "-")
        assert {"message": "outside", "levelname": "INFO", **unknown} == outside

    def test_default_none_leaves_unknown_fields_out(self, isolated_logger: logging.Logger) -> None:
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(PythonJsonFormatter("%(message)s"))
        handler.addFilter(TraceFilter(default=None))
        isolated_logger.addHandler(handler)
        isolated_logger.info("outside")
        assert {"message": "outside"} == orjson.loads(out.getvalue())

    @pytest.mark.parametrize(("redact", "shown"), [(None, "[REDACTED]"), (False, "hunter2")])
    def test_bound_secrets_are_redacted_as_configured(
        self, isolated_logger: logging.Logger, redact: Any, shown: str
    ) -> None:
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(PythonJsonFormatter("%(message)s"))
        handler.addFilter(TraceFilter())
        isolated_logger.addHandler(handler)
        tracelog.configure(stream=io.StringIO(), redact=redact, capture_stdlib=False)
        with tracelog.trace(password="hunter2", user=7, order={"card_token": "tok"}):
            isolated_logger.warning("invoice overdue")
        line = orjson.loads(out.getvalue())
        assert (shown, 7) == (line["password"], line["user"])
        assert shown == "hunter2" or {"card_token": "[REDACTED]"} == line["order"]

    def test_on_a_logger_stamps_records(self, isolated_logger: logging.Logger) -> None:
        records: list[logging.LogRecord] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record)

        isolated_logger.addHandler(Keep())
        isolated_logger.addFilter(TraceFilter(fields=False))
        try:
            with tracelog.trace(TRACE_ID, user=7):
                isolated_logger.info("inside")
        finally:
            isolated_logger.filters.clear()
        (record,) = records
        assert TRACE_ID == record.trace_id  # type: ignore[attr-defined]
        assert not hasattr(record, "user")

    def test_never_overwrites_record_attributes(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
        record.trace_id = "mine"
        with tracelog.trace(TRACE_ID, msg="bound", lineno=5, user=7):
            assert TraceFilter().filter(record)
        assert "mine" == record.trace_id
        assert "m" == record.msg
        assert 1 == record.lineno
        assert 7 == record.user  # type: ignore[attr-defined]

    def test_uses_the_otel_span_outside_a_trace(self) -> None:
        from opentelemetry.sdk.trace import TracerProvider

        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
        with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
            TraceFilter().filter(record)
        assert f"{span.get_span_context().trace_id:032x}" == record.trace_id  # type: ignore[attr-defined]


def dict_config(formatter: dict[str, Any]) -> io.StringIO:
    """dictConfig a non-propagating logger "tests.dictconfig" writing to a StringIO."""
    out = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"tracelog": formatter},
            "handlers": {
                "memory": {
                    "class": "logging.StreamHandler",
                    "stream": out,
                    "formatter": "tracelog",
                }
            },
            "loggers": {
                "tests.dictconfig": {"handlers": ["memory"], "level": "DEBUG", "propagate": False}
            },
        }
    )
    return out


@pytest.fixture
def dictconfig_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("tests.dictconfig")
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


class TestJsonFormatter:
    def test_from_dictconfig_without_configure(self, dictconfig_logger: logging.Logger) -> None:
        out = dict_config({"()": "tracelog.stdlib.JsonFormatter"})
        with tracelog.trace(TRACE_ID, user=7):
            dictconfig_logger.info("paid %d", 7, extra={"order": 1, "token": "t"})
        line = orjson.loads(out.getvalue())
        assert ["timestamp", "level", "logger", "message", "trace_id", "span_id"] == list(line)[:6]
        assert ("info", "tests.dictconfig", "paid 7") == (
            line["level"],
            line["logger"],
            line["message"],
        )
        assert (TRACE_ID, 7, 1, "[REDACTED]") == (
            line["trace_id"],
            line["user"],
            line["order"],
            line["token"],
        )
        assert out.getvalue().endswith("}\n")
        assert 1 == out.getvalue().count("\n")

    def test_follows_configure(self, dictconfig_logger: logging.Logger) -> None:
        out = dict_config({"()": "tracelog.stdlib.JsonFormatter"})
        Lines(service="shop", redact=["order"])
        dictconfig_logger.info("configured", extra={"order": 1})
        line = orjson.loads(out.getvalue())
        assert "shop" == line["service"]
        assert "[REDACTED]" == line["order"]

    def test_environment_without_configure(
        self, dictconfig_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TRACELOG_SERVICE", "from-env")
        out = dict_config({"()": "tracelog.stdlib.JsonFormatter"})
        dictconfig_logger.info("x")
        assert "from-env" == orjson.loads(out.getvalue())["service"]

    def test_service_and_schema_arguments(self, dictconfig_logger: logging.Logger) -> None:
        out = dict_config(
            {"()": "tracelog.stdlib.JsonFormatter", "service": "billing", "schema": "ecs"}
        )
        with tracelog.trace(TRACE_ID):
            dictconfig_logger.warning("ecs line")
        line = orjson.loads(out.getvalue())
        assert "warning" == line["log.level"]
        assert "ecs line" == line["message"]
        assert TRACE_ID == line["trace"]["id"]
        assert "billing" == line["service"]["name"]
        assert "@timestamp" in line

    def test_service_argument_with_configure(self, dictconfig_logger: logging.Logger) -> None:
        out = dict_config({"()": "tracelog.stdlib.JsonFormatter", "service": "billing"})
        Lines(service="shop")
        dictconfig_logger.info("own service")
        assert "billing" == orjson.loads(out.getvalue())["service"]

    def test_rename_and_static_arguments(self, dictconfig_logger: logging.Logger) -> None:
        out = dict_config(
            {
                "()": "tracelog.stdlib.JsonFormatter",
                "rename": {"level": "severity"},
                "static": {"env": "prod"},
            }
        )
        dictconfig_logger.warning("renamed")
        line = orjson.loads(out.getvalue())
        assert ("warning", "prod") == (line["severity"], line["env"])
        assert "level" not in line

    def test_the_class_form_passes_format_options(self, dictconfig_logger: logging.Logger) -> None:
        out = dict_config(
            {"class": "tracelog.stdlib.JsonFormatter", "format": "%(message)s", "datefmt": "%H"}
        )
        dictconfig_logger.info("still tracelog's line")
        assert "still tracelog's line" == orjson.loads(out.getvalue())["message"]

    @pytest.mark.parametrize(
        ("option", "named"),
        [("rename_fields", "use rename="), ("json_indent", "one line"), ("colour", "colour")],
    )
    def test_an_option_it_does_not_take_is_an_error(self, option: str, named: str) -> None:
        with pytest.raises(ValueError, match="formatter") as raised:
            dict_config({"()": "tracelog.stdlib.JsonFormatter", option: {"a": "b"}})
        assert named in str(raised.value.__cause__)

    def test_exception(self, dictconfig_logger: logging.Logger) -> None:
        out = dict_config({"()": "tracelog.stdlib.JsonFormatter"})
        try:
            raise KeyError("k")
        except KeyError:
            dictconfig_logger.exception("failed")
        assert 1 == out.getvalue().count("\n")
        assert "KeyError" == orjson.loads(out.getvalue())["exception"]["type"]

    def test_bad_input_still_formats(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d", ("nan",), None)
        record.cyclic = {}
        record.cyclic["self"] = record.cyclic  # type: ignore[attr-defined]
        line = orjson.loads(JsonFormatter().format(record))
        assert "%d" in line["message"]
        assert "x" == line["logger"]


class TestJsonFormatterWithOutputs:
    def test_uses_the_configured_service_and_redaction_with_several_outputs(self) -> None:
        first, second = io.StringIO(), io.StringIO()
        tracelog.configure(
            service="billing",
            redact=["iban"],
            outputs=[tracelog.outputs.Stream(first), tracelog.outputs.Stream(second)],
        )
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        record = logging.LogRecord("pay", logging.INFO, __file__, 1, "paid", (), None)
        record.iban = "DE89"

        line = orjson.loads(handler.format(record))

        assert "billing" == line["service"]
        assert "[REDACTED]" == line["iban"]


class TestUnsampledTrace:
    def test_line_says_the_trace_is_not_sampled(self) -> None:
        out = io.StringIO()
        tracelog.configure(stream=out)
        with tracelog.trace(sampled=False):
            logging.getLogger("x").info("quiet")
        with tracelog.trace():
            logging.getLogger("x").info("loud")

        quiet, loud = (orjson.loads(line) for line in out.getvalue().splitlines())

        assert quiet["trace_sampled"] is False
        assert "trace_sampled" not in loud
