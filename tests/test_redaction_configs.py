"""Every configuration redacts every shape: no secret reaches any output, on either entry point."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import io
import logging
import types
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any, NamedTuple

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from werkzeug.datastructures import Headers

import tracelog
import tracelog.outputs
from tracelog.render import MAX_DEPTH

SECRET = "s3cr3t"  # every secret value holds this, and nothing else does
PLAIN = "pl41n"
_TRACER = TracerProvider().get_tracer("tests")


@dataclasses.dataclass
class Login:
    user: str
    password: str


class Credentials(NamedTuple):
    user: str
    password: str


class Field(enum.Enum):
    PASSWORD = "p"


def nest(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth - 1):
        value = {"down": value}
    return value


@dataclasses.dataclass
class Setup:
    """One configuration drawn: what configure() gets and what wraps the call."""

    schema: str
    formats: list[str]
    text_streams: list[bool]
    rename: dict[str, str] | None
    static: dict[str, Any] | None
    redact: list[str] | None
    processor: bool
    gate: str
    contextvars: bool
    otel_span: bool
    in_trace: bool

    def configure(self) -> list[io.StringIO | io.BytesIO]:
        streams: list[io.StringIO | io.BytesIO] = [
            io.StringIO() if text else io.BytesIO() for text in self.text_streams
        ]
        outputs = [
            tracelog.outputs.Stream(stream, format=fmt)
            for stream, fmt in zip(streams, self.formats, strict=True)
        ]
        options: dict[str, Any] = {}
        if self.gate == "buffer":
            options["buffer"] = tracelog.TraceBuffer()
        elif self.gate.startswith("sampling"):
            options["sampling"] = tracelog.Sampling(rate=1.0 if self.gate == "sampling 1" else 0.0)
        tracelog.configure(
            level="DEBUG",
            schema=self.schema,
            outputs=outputs,
            rename=self.rename,
            static=self.static,
            redact=self.redact,
            processors=[add_fields] if self.processor else (),
            **options,
        )
        return streams

    def expects_lines(self) -> bool:
        return self.gate != "sampling 0"


def add_fields(logger: Any, method_name: str, event_dict: Any) -> Any:
    event_dict["client_secret"] = SECRET + "-from-a-processor"
    event_dict["added"] = {"api_key": SECRET + "-nested-from-a-processor", "n": 1}
    return event_dict


@st.composite
def setups(draw: st.DrawFn) -> Setup:
    count = draw(st.integers(1, 2))
    return Setup(
        schema=draw(st.sampled_from(["default", "ecs", "otel", "gcp"])),
        formats=draw(
            st.lists(st.sampled_from(["json", "console"]), min_size=count, max_size=count)
        ),
        text_streams=draw(st.lists(st.booleans(), min_size=count, max_size=count)),
        rename=draw(st.sampled_from([None, {"user": "usr"}, {"password": "pw", "message": "msg"}])),
        static=draw(st.sampled_from([None, {"env": "test"}, {"env": "test", "api_key": SECRET}])),
        redact=draw(st.sampled_from([None, ["iban"]])),
        processor=draw(st.booleans()),
        gate=draw(st.sampled_from(["none", "buffer", "sampling 1", "sampling 0"])),
        contextvars=draw(st.booleans()),
        otel_span=draw(st.booleans()),
        in_trace=draw(st.booleans()),
    )


Call = Callable[[str, str, dict[str, Any]], None]  # (level, message, fields)


def native(level: str, message: Any, fields: dict[str, Any]) -> None:
    getattr(tracelog.get_logger("app"), level)(message, **fields)


def stdlib(level: str, message: Any, fields: dict[str, Any]) -> None:
    getattr(logging.getLogger("lib"), level)(message, extra=fields)


def _fields(setup: Setup) -> dict[str, Any]:
    fields: dict[str, Any] = {"password": SECRET, "user": PLAIN}
    if setup.redact:
        fields["iban"] = SECRET + "-iban"
    return fields


SHAPES = [
    "fields",
    "dict event",
    "bound and changed",
    "key types",
    "namedtuple",
    "dataclass",
    "headers",
    "pairs",
    "attributes",
    "deep",
]


def run_shape(shape: str, depth: int, setup: Setup, call: Call) -> None:
    """Log one call shape inside the setup's trace (the first line is plain, then the secret)."""
    if shape == "fields":
        call("info", "event", _fields(setup))
    elif shape == "dict event":
        call("info", {"password": SECRET, "user": PLAIN}, {})  # type: ignore[arg-type]
    elif shape == "bound and changed":
        data: dict[str, Any] = {"user": PLAIN}
        with tracelog.trace(data=data):
            call("info", "first", {})
            data["password"] = SECRET
            call("info", "second", {})
            tracelog.bind(more=data)
            call("info", "third", {})
    elif shape == "key types":
        value = {b"authorization": SECRET, Field.PASSWORD: SECRET, ("x", "token"): SECRET}
        call("info", "keys", {"value": value, "user": PLAIN})
    elif shape == "namedtuple":
        call("info", "login", {"login": Credentials(PLAIN, SECRET)})
    elif shape == "dataclass":
        call("info", "login", {"login": Login(PLAIN, SECRET)})
    elif shape == "headers":
        headers = Headers([("Authorization", "Bearer " + SECRET), ("Accept", PLAIN)])
        call("info", "request", {"headers": headers, "cookies": Headers([("Cookie", SECRET)])})
    elif shape == "pairs":  # ASGI's scope["headers"], a dict's items(), str pairs in a set
        raw = [(b"authorization", b"Bearer " + SECRET.encode()), (b"accept", PLAIN.encode())]
        cookies = {"Cookie": SECRET, "Accept": PLAIN}.items()
        call("info", "pairs", {"raw": raw, "cookies": cookies, "keys": {("token", SECRET)}})
        call("info", "str pairs", {"headers": [("Authorization", SECRET), ("Accept", PLAIN)]})
    elif shape == "attributes":  # argparse's parsed arguments, an attribute bag
        args = argparse.Namespace(password=SECRET, user=PLAIN)
        call("info", "started", {"cli": args, "ns": types.SimpleNamespace(token=SECRET)})
    elif shape == "deep":
        call("info", "deep", {"value": nest(depth, {"password": SECRET, "user": PLAIN})})
    else:
        raise AssertionError(shape)


@pytest.fixture(autouse=True)
def _clean_structlog_contextvars() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


def written(streams: list[io.StringIO | io.BytesIO]) -> list[bytes]:
    out = []
    for stream in streams:
        value = stream.getvalue()
        out.append(value.encode("utf-8", "backslashreplace") if isinstance(value, str) else value)
    return out


class TestEveryConfigurationRedactsEveryShape:
    @settings(
        max_examples=250,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        setup=setups(),
        shape=st.sampled_from(SHAPES),
        depth=st.integers(1, MAX_DEPTH - 2),
        entry=st.sampled_from(["native", "stdlib"]),
    )
    def test_no_secret_in_any_output(
        self, setup: Setup, shape: str, depth: int, entry: str
    ) -> None:
        structlog.contextvars.clear_contextvars()
        streams = setup.configure()
        call = native if entry == "native" else stdlib
        try:
            with ExitStack() as stack:
                if setup.contextvars:
                    structlog.contextvars.bind_contextvars(request_id="r-1", session_token=SECRET)
                if setup.otel_span:
                    stack.enter_context(_TRACER.start_as_current_span("request"))
                if setup.in_trace:
                    stack.enter_context(tracelog.trace())
                run_shape(shape, depth, setup, call)
                call("error", "end of the request", {})  # flushes a held trace
        finally:
            structlog.contextvars.clear_contextvars()
            tracelog.configure(stream=io.BytesIO())
        outputs = written(streams)
        for number, output in enumerate(outputs):
            assert SECRET.encode() not in output, f"output {number}:\n{output.decode()}"
        if setup.expects_lines():
            assert all(output for output in outputs)
            if shape != "dict event" or entry == "native":
                assert all(PLAIN.encode() in output for output in outputs), outputs
