"""configure(): environment, explicit arguments, errors, reconfiguring and reset()."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator

import orjson
import pytest

import tracelog
from _lines import Lines
from tracelog import ConfigurationError
from tracelog.stdlib import TracelogHandler

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ENV = (
    "TRACELOG_LEVEL",
    "TRACELOG_FORMAT",
    "TRACELOG_SCHEMA",
    "TRACELOG_SERVICE",
    "OTEL_SERVICE_NAME",
    "TRACEPARENT",
    "TRACESTATE",
    "NO_COLOR",
    "FORCE_COLOR",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, with its handlers and level put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    tracelog.reset()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


class TestEnvironment:
    def test_level(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_LEVEL", "WARNING")
        lines = Lines()
        tracelog.get_logger("t").info("dropped")
        logging.getLogger("lib").info("dropped")
        tracelog.get_logger("t").warning("kept")
        logging.getLogger("lib").error("kept")
        assert ["kept", "kept"] == [line["message"] for line in lines()]

    @pytest.mark.parametrize(("value", "levelno"), [("debug", 10), (" Error ", 40), ("15", 15)])
    def test_level_spellings(
        self, monkeypatch: pytest.MonkeyPatch, value: str, levelno: int
    ) -> None:
        monkeypatch.setenv("TRACELOG_LEVEL", value)
        Lines()
        assert levelno == logging.getLogger().level

    def test_format(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_FORMAT", "console")
        out = io.StringIO()
        tracelog.configure(stream=out)
        tracelog.get_logger("t").info("for people")
        assert not out.getvalue().startswith("{")
        assert "for people" in out.getvalue()

    def test_schema(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_SCHEMA", "ecs")
        lines = Lines()
        with tracelog.trace(TRACE_ID):
            tracelog.get_logger("t").info("ecs")
        line = lines.one()
        assert "info" == line["log.level"]
        assert TRACE_ID == line["trace"]["id"]

    def test_service(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_SERVICE", "shop")
        lines = Lines()
        tracelog.get_logger("t").info("m")
        assert "shop" == lines.one()["service"]

    def test_service_falls_back_to_otel_service_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_SERVICE_NAME", "otel-shop")
        lines = Lines()
        tracelog.get_logger("t").info("m")
        assert "otel-shop" == lines.one()["service"]

    def test_tracelog_service_wins_over_otel(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_SERVICE_NAME", "otel-shop")
        monkeypatch.setenv("TRACELOG_SERVICE", "shop")
        lines = Lines()
        tracelog.get_logger("t").info("m")
        assert "shop" == lines.one()["service"]

    def test_empty_values_are_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("TRACELOG_LEVEL", "TRACELOG_FORMAT", "TRACELOG_SCHEMA", "TRACELOG_SERVICE"):
            monkeypatch.setenv(name, "")
        lines = Lines()
        tracelog.get_logger("t").info("defaults")
        line = lines.one()
        assert "info" == line["level"]
        assert "service" not in line

    def test_explicit_arguments_win(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACELOG_LEVEL", "error")
        monkeypatch.setenv("TRACELOG_FORMAT", "console")
        monkeypatch.setenv("TRACELOG_SCHEMA", "ecs")
        monkeypatch.setenv("TRACELOG_SERVICE", "from-env")
        lines = Lines(level="info", format="json", schema="default", service="explicit")
        tracelog.get_logger("t").info("explicit")
        line = lines.one()
        assert ("info", "explicit", "explicit") == (line["level"], line["message"], line["service"])

    def test_a_bad_environment_is_ignored_when_the_argument_is_given(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TRACELOG_FORMAT", "jsn")
        monkeypatch.setenv("TRACELOG_LEVEL", "loud")
        Lines(format="json", level="info")

    def test_traceparent_is_continued(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACEPARENT", f"00-{TRACE_ID}-00f067aa0ba902b7-01")
        lines = Lines()
        tracelog.get_logger("t").info("child process")
        line = lines.one()
        assert TRACE_ID == line["trace_id"]
        assert "00f067aa0ba902b7" == line["parent_span_id"]


class TestErrors:
    @pytest.mark.parametrize(
        ("variable", "value", "message"),
        [
            ("TRACELOG_FORMAT", "jsn", "TRACELOG_FORMAT='jsn' is not one of json, console, auto"),
            (
                "TRACELOG_SCHEMA",
                "xml",
                "TRACELOG_SCHEMA='xml' is not one of default, ecs, otel, gcp",
            ),
            (
                "TRACELOG_LEVEL",
                "loud",
                "TRACELOG_LEVEL='loud' is not one of debug, info, warning, error, critical",
            ),
        ],
    )
    def test_a_bad_variable_names_itself_and_the_allowed_values(
        self, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
    ) -> None:
        monkeypatch.setenv(variable, value)
        with pytest.raises(ConfigurationError) as caught:
            tracelog.configure(stream=io.BytesIO())
        assert str(caught.value).startswith(message)

    @pytest.mark.parametrize(
        ("argument", "value", "message"),
        [
            ("format", "jsn", "format='jsn' is not one of json, console, auto"),
            ("schema", "xml", "schema='xml' is not one of default, ecs, otel, gcp"),
            ("level", "loud", "level='loud' is not one of debug, info, warning, error, critical"),
            ("level", True, "level=True is not one of debug, info, warning, error, critical"),
            ("redact", 5, "redact=5 must be a list of key names"),
            ("redact", "password", "redact='password' must be a list of key names, not a string"),
            ("redact", ["token", 1], "redact= holds 1, which is not a key name (a str)"),
            ("redact", [" "], "redact= holds ' ', which matches no key"),
            ("rename", {"level": 5}, "rename={'level': 5}: rename a key name to a key name"),
        ],
    )
    def test_a_bad_argument_names_itself_and_the_allowed_values(
        self, argument: str, value: object, message: str
    ) -> None:
        with pytest.raises(ConfigurationError) as caught:
            tracelog.configure(stream=io.BytesIO(), **{argument: value})  # type: ignore[arg-type]
        assert str(caught.value).startswith(message)

    @pytest.mark.parametrize("stream", ["app.log", 42])
    def test_a_stream_that_is_not_a_file_object(self, stream: object) -> None:
        with pytest.raises(ConfigurationError, match="is not a file object: it has no write"):
            tracelog.configure(stream=stream)
        with pytest.raises(ConfigurationError, match=r"tracelog.outputs.File\('app.log'\)"):
            tracelog.configure(stream="app.log")

    def test_is_a_value_error(self) -> None:
        assert issubclass(ConfigurationError, ValueError)

    def test_a_failed_configure_keeps_the_previous_setup(self) -> None:
        lines = Lines(service="before")
        with pytest.raises(ConfigurationError):
            tracelog.configure(format="jsn")
        tracelog.get_logger("t").info("still configured")
        logging.getLogger("lib").info("still captured")
        assert ["before", "before"] == [line["service"] for line in lines()]


class TestService:
    def test_on_every_line(self) -> None:
        lines = Lines(service="shop")
        log = tracelog.get_logger("t")
        log.info("outside")
        with tracelog.trace():
            log.info("inside")
            logging.getLogger("lib").info("stdlib")
        tracelog.bind(user=1)
        log.info("bound")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("captured", UserWarning, stacklevel=1)
        got = lines()
        assert 5 == len(got)
        assert ["shop"] * 5 == [line["service"] for line in got]


class TestReconfigure:
    def test_replaces_the_previous_setup(self) -> None:
        first = Lines(service="one")
        second = Lines(service="two", level="warning")
        tracelog.get_logger("t").info("dropped")
        tracelog.get_logger("t").warning("kept")
        logging.getLogger("lib").warning("kept")
        assert [] == first()
        assert ["two", "two"] == [line["service"] for line in second()]

    def test_three_times_one_line_per_call(self, root_logger: logging.Logger) -> None:
        for _ in range(3):
            lines = Lines()
        tracelog.get_logger("t").info("native")
        logging.getLogger("lib").info("stdlib")
        logging.getLogger("uvicorn.error").info("third party")
        assert 3 == len(lines())
        assert 1 == sum(isinstance(h, TracelogHandler) for h in root_logger.handlers)

    def test_switching_format(self) -> None:
        Lines()
        out = io.StringIO()
        tracelog.configure(stream=out, format="console")
        tracelog.get_logger("t").info("console now")
        assert not out.getvalue().startswith("{")

    def test_reset_restores_the_root_loggers_handlers(self, root_logger: logging.Logger) -> None:
        previous = logging.StreamHandler(io.StringIO())
        for handler in list(root_logger.handlers):
            root_logger.removeHandler(handler)
        root_logger.addHandler(previous)
        root_logger.setLevel(logging.ERROR)
        Lines(level="debug")
        Lines(level="info")
        assert previous not in root_logger.handlers
        tracelog.reset()
        assert [previous] == root_logger.handlers
        assert logging.ERROR == root_logger.level

    def test_reset_stops_capturing(self) -> None:
        lines = Lines()
        tracelog.reset()
        logging.getLogger("lib").warning("not captured")
        tracelog.get_logger("t").info("not configured")
        assert [] == lines()


class TestDefaults:
    def test_get_logger_without_configure_writes_json_to_stdout(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with tracelog.trace(TRACE_ID):
            tracelog.get_logger("t").info("no configure")
        line = orjson.loads(capsys.readouterr().out)
        assert ("no configure", TRACE_ID) == (line["message"], line["trace_id"])

    def test_without_configure_stdlib_is_left_alone(self, root_logger: logging.Logger) -> None:
        before = list(root_logger.handlers)
        tracelog.get_logger("t")
        assert before == root_logger.handlers
