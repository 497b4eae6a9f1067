"""The chain's processors: TraceMerger, Redactor, exception structure."""

from __future__ import annotations

import dataclasses
import logging
import sys
from types import MappingProxyType
from typing import Any

import orjson
import pytest
import structlog

import tracelog
import tracelog.testing
from _lines import Lines
from tracelog.processors import TraceMerger, exception_to_structure, structure_exception
from tracelog.redaction import REDACTED, Redactor

SECRET_KEYS = [
    "password",
    "secret",
    "token",
    "api_key",
    "authorization",
    "cookie",
    "db_password",
    "X-Api-Key",
    "accessToken",
    "refresh_token",
    "client_secret",
    "Authorization",
    "set-cookie",
    "PASSWORD",
    "apiKey",
    "private_key",
    "ssn",
]
PLAIN_KEYS = ["user", "order_id", "tokenizer", "passwordless", "secretary", "path", "status"]


class TestRedactor:
    @pytest.mark.parametrize("key", SECRET_KEYS)
    def test_secret_keys(self, key: str) -> None:
        assert Redactor().is_secret(key)

    @pytest.mark.parametrize("key", PLAIN_KEYS)
    def test_plain_keys(self, key: str) -> None:
        assert not Redactor().is_secret(key)

    def test_a_non_string_key_is_secret_when_its_rendered_name_is(self) -> None:
        assert not Redactor().is_secret(1)
        assert Redactor().is_secret(("password",))
        assert Redactor().is_secret(b"authorization")

    def test_nested_mappings_and_lists(self) -> None:
        original = {"a": [{"password": "p", "x": 1}], "b": {"c": {"token": "t"}}}
        redacted = Redactor().redact({"data": original})
        assert {
            "a": [{"password": REDACTED, "x": 1}],
            "b": {"c": {"token": REDACTED}},
        } == redacted["data"]
        assert "p" == original["a"][0]["password"], "the caller's value is never changed"

    def test_a_tuple_is_walked(self) -> None:
        assert [{"secret": REDACTED}] == Redactor().redact({"t": ({"secret": "s"},)})["t"]

    def test_extends(self) -> None:
        redactor = Redactor(["ssn_hash"])
        assert redactor.is_secret("ssn_hash")
        assert redactor.is_secret("user_ssn_hash")
        assert not redactor.is_secret("password")

    def test_as_a_processor(self) -> None:
        event = {"password": "p", "user": 1}
        assert {"password": REDACTED, "user": 1} == Redactor()(None, "info", event)


class TestRedactionInLines:
    @pytest.mark.parametrize("key", SECRET_KEYS)
    def test_event_fields(self, key: str) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("login", **{key: "hunter2", "user": "ann"})
        line = lines.one()
        assert REDACTED == line[key]
        assert "ann" == line["user"]

    def test_bound_fields(self) -> None:
        lines = Lines()
        log = tracelog.get_logger("t").bind(api_key="k1")
        with tracelog.trace(password="p1"), tracelog.span(token="t1"):
            tracelog.bind(db_password="p2")
            log.info("bound")
        (raw,) = lines.raw()
        line = orjson.loads(raw)
        for key in ("api_key", "password", "token", "db_password"):
            assert REDACTED == line[key]
        for value in (b"k1", b"p1", b"t1", b"p2"):
            assert value not in raw

    def test_bound_fields_outside_a_trace(self) -> None:
        lines = Lines()
        tracelog.bind(secret="s")
        tracelog.get_logger("t").info("bound")
        assert REDACTED == lines.one()["secret"]

    def test_stdlib_extra(self) -> None:
        lines = Lines()
        logging.getLogger("lib").info(
            "login", extra={"authorization": "Bearer x", "headers": {"Cookie": "c", "Accept": "*"}}
        )
        line = lines.one()
        assert REDACTED == line["authorization"]
        assert {"Cookie": REDACTED, "Accept": "*"} == line["headers"]

    def test_nested(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info(
            "nested",
            request={"headers": {"X-Api-Key": "k", "Accept": "json"}, "body": [{"password": "p"}]},
        )
        assert {
            "headers": {"X-Api-Key": REDACTED, "Accept": "json"},
            "body": [{"password": REDACTED}],
        } == lines.one()["request"]

    def test_nested_where_orjson_needs_help_or_braces_are_only_text(self) -> None:
        # Secrets inside values orjson does not render by itself (a mapping
        # proxy, a set beside them), inside tuples, and lines whose only
        # braces are text: every entry point redacts the same.
        lines = Lines()
        log = tracelog.get_logger("t")
        proxy = MappingProxyType({"password": "p1", "ok": 1})
        log.info("proxy", conf=proxy, tags={"a"})
        log.info("tuple", rows=({"token": "t1"},), plain=[1, 2])
        log.info("text {braces}", note="{not: json}", password="p2")
        logging.getLogger("lib").info("stdlib {x}", extra={"conf": proxy, "tags": {"a"}})
        raw = b"".join(lines.raw())
        for value in (b"p1", b"t1", b"p2"):
            assert value not in raw
        first, second, third, fourth = lines()
        assert {"password": REDACTED, "ok": 1} == first["conf"] == fourth["conf"]
        assert [{"token": REDACTED}] == second["rows"]
        assert ("text {braces}", "{not: json}") == (third["message"], third["note"])

    def test_dataclasses_are_searched_like_the_objects_they_render_as(self) -> None:
        @dataclasses.dataclass
        class Login:
            user: str
            password: str

        @dataclasses.dataclass(frozen=True, slots=True)
        class Request:
            login: Login
            headers: dict[str, str]

        lines = Lines()
        login = Login("ann", "p1")
        request = Request(login, {"Authorization": "Bearer t1", "Accept": "*"})
        tracelog.get_logger("t").info("login", login=login, requests=[request])
        logging.getLogger("lib").info("login", extra={"login": login})
        with tracelog.trace(login=login):
            tracelog.get_logger("t").info("bound")
        raw = b"".join(lines.raw())
        for value in (b"p1", b"t1"):
            assert value not in raw
        first, second, third = lines()
        redacted = {"user": "ann", "password": REDACTED}
        assert redacted == first["login"] == second["login"] == third["login"]
        assert [
            {"login": redacted, "headers": {"Authorization": REDACTED, "Accept": "*"}}
        ] == first["requests"]
        assert "p1" == login.password, "the caller's object is never changed"

    def test_a_dataclass_without_secrets_renders_as_itself(self) -> None:
        @dataclasses.dataclass
        class Point:
            x: int
            y: int

        lines = Lines()
        tracelog.get_logger("t").info("m", point=Point(1, 2))
        assert {"x": 1, "y": 2} == lines.one()["point"]

    def test_pydantic_models_render_as_their_fields_and_are_searched(self) -> None:
        pydantic = pytest.importorskip("pydantic")

        class Card(pydantic.BaseModel):  # type: ignore[misc, name-defined]
            holder: str
            cvv: str

        class Order(pydantic.BaseModel):  # type: ignore[misc, name-defined]
            id: int
            card: Card
            api_key: pydantic.SecretStr  # type: ignore[name-defined]

        lines = Lines()
        order = Order(id=7, card=Card(holder="ann", cvv="123"), api_key="k1")
        tracelog.get_logger("t").info("paid", order=order, cards=[order.card])
        logging.getLogger("lib").info("paid", extra={"order": order})
        raw = b"".join(lines.raw())
        assert b"123" not in raw and b"k1" not in raw
        for line in lines():
            assert {
                "id": 7,
                "card": {"holder": "ann", "cvv": REDACTED},
                "api_key": REDACTED,
            } == line["order"]
        assert [{"holder": "ann", "cvv": REDACTED}] == lines()[0]["cards"]

    def test_key_stays_value_replaced(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("m", password=None, token=12345)
        line = lines.one()
        assert (REDACTED, REDACTED) == (line["password"], line["token"])

    def test_configure_extends(self) -> None:
        lines = Lines(redact=["ssn_hash"])
        tracelog.get_logger("t").info("m", ssn_hash="h", password="p", user="u")
        line = lines.one()
        assert (REDACTED, REDACTED, "u") == (line["ssn_hash"], line["password"], line["user"])

    def test_configure_extends_stdlib_and_bound_too(self) -> None:
        lines = Lines(redact=["ssn_hash"])
        with tracelog.trace(ssn_hash="bound"):
            logging.getLogger("lib").info("m", extra={"nested": {"ssn_hash": "h"}})
        line = lines.one()
        assert REDACTED == line["ssn_hash"]
        assert {"ssn_hash": REDACTED} == line["nested"]

    def test_redact_false_turns_it_off(self) -> None:
        lines = Lines(redact=False)
        with tracelog.trace(token="t"):
            tracelog.get_logger("t").info("m", password="p", nested={"secret": "s"})
        line = lines.one()
        assert ("p", "t", {"secret": "s"}) == (line["password"], line["token"], line["nested"])

    def test_a_single_string_is_refused(self) -> None:
        with pytest.raises(tracelog.ConfigurationError, match="redact"):
            tracelog.configure(redact="ssn")  # type: ignore[arg-type]

    def test_fields_added_by_your_processors_are_redacted(self) -> None:
        def add_secret(logger: Any, method_name: str, event_dict: Any) -> Any:
            event_dict["client_secret"] = "from a processor"
            event_dict["extra"] = {"token": "nested from a processor"}
            return event_dict

        lines = Lines(processors=[add_secret])
        tracelog.get_logger("t").info("native")
        logging.getLogger("lib").info("stdlib")
        for line in lines():
            assert REDACTED == line["client_secret"]
            assert {"token": REDACTED} == line["extra"]

    def test_the_fault_line_is_redacted(self) -> None:
        def broken(logger: Any, method_name: str, event_dict: Any) -> Any:
            raise RuntimeError("broken")

        lines = Lines(processors=[broken], redact=["ssn_hash"])
        tracelog.get_logger("t").bind(ssn_hash="h").info("m", password="p")
        (raw,) = lines.raw()
        line = orjson.loads(raw)
        assert (REDACTED, REDACTED) == (line["password"], line["ssn_hash"])

    def test_capture_sees_redacted_events(self) -> None:
        Lines(redact=["ssn_hash"])
        with tracelog.testing.capture() as events:
            tracelog.get_logger("t").info("m", ssn_hash="h")
        assert REDACTED == events[0]["ssn_hash"]


class TestTraceMerger:
    def test_builds_the_event_in_line_order(self) -> None:
        merger = TraceMerger(service="shop", redactor=Redactor())
        logger = type("L", (), {"name": "shop.orders"})()
        with tracelog.trace(user=7) as ctx:
            event = merger(logger, "info", {"event": "paid", "order": 1, "token": "t"})
        assert [
            "timestamp",
            "level",
            "logger",
            "message",
            "trace_id",
            "span_id",
            "service",
            "user",
            "order",
            "token",
        ] == list(event)
        assert ("info", "shop.orders", "paid", ctx.trace_id) == (
            event["level"],
            event["logger"],
            event["message"],
            event["trace_id"],
        )
        assert REDACTED == event["token"]

    def test_a_record_keeps_its_time(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
        record.created = 0.0
        event = TraceMerger()(record, "info", {"event": "m"})
        assert "1970-01-01T00:00:00+00:00" == event["timestamp"].isoformat()

    def test_the_context_line_follows_a_new_merger(self) -> None:
        logger = type("L", (), {"name": "x"})()
        with tracelog.trace(password="p"):
            first = TraceMerger(service="a", redactor=Redactor())(logger, "info", {"event": "m"})
            second = TraceMerger(service="b", redactor=None)(logger, "info", {"event": "m"})
        assert ("a", REDACTED) == (first["service"], first["password"])
        assert ("b", "p") == (second["service"], second["password"])

    def test_exception(self) -> None:
        logger = type("L", (), {"name": "x"})()
        try:
            raise KeyError("k")
        except KeyError:
            event = TraceMerger()(logger, "error", {"event": "m", "exc_info": True})
        assert "KeyError" == event["exception"]["type"]
        assert "exc_info" not in event

    def test_stack_info_true_is_the_callers_stack(self) -> None:
        logger = type("L", (), {"name": "x"})()
        event = TraceMerger()(logger, "info", {"event": "m", "stack_info": True})
        stack = event["stack"].splitlines()
        assert "Stack (most recent call last):" == stack[0]
        assert "test_stack_info_true_is_the_callers_stack" in stack[-2]
        assert "stack_info" not in event

    def test_stack_info_false_is_dropped(self) -> None:
        logger = type("L", (), {"name": "x"})()
        event = TraceMerger()(logger, "info", {"event": "m", "stack_info": False})
        assert "stack" not in event
        assert "stack_info" not in event


class TestStructureException:
    def test_chain(self) -> None:
        try:
            try:
                raise KeyError("inner")
            except KeyError as inner:
                raise ValueError("outer") from inner
        except ValueError:
            value = structure_exception(*sys.exc_info())  # type: ignore[arg-type]
        assert ("ValueError", "outer") == (value["type"], value["message"])
        assert "KeyError" == value["cause"]["type"]
        assert "test_chain" == value["frames"][-1]["function"]

    def test_suppressed_context(self) -> None:
        try:
            try:
                raise KeyError("inner")
            except KeyError:
                raise ValueError("outer") from None
        except ValueError:
            value = structure_exception(*sys.exc_info())  # type: ignore[arg-type]
        assert "cause" not in value
        assert "context" not in value

    def test_notes(self) -> None:
        error = ValueError("v")
        error.add_note("a note")
        try:
            raise error
        except ValueError:
            value = structure_exception(*sys.exc_info())  # type: ignore[arg-type]
        assert ["a note"] == value["notes"]

    def test_many_frames_are_capped(self) -> None:
        def recurse(n: int) -> None:
            if n == 0:
                raise RecursionError("deep")
            recurse(n - 1)

        try:
            recurse(200)
        except RecursionError:
            value = structure_exception(*sys.exc_info())  # type: ignore[arg-type]
        assert 50 == len(value["frames"])
        assert value["frames_omitted"] > 0

    def test_exception_to_structure_processor(self) -> None:
        try:
            raise OSError("x")
        except OSError as error:
            event = exception_to_structure(None, "error", {"exc_info": error, "stack_info": "s"})
        assert "OSError" == event["exception"]["type"]
        assert "s" == event["stack"]


class TestStructlogContextvars:
    """Fields bound the structlog way (bind_contextvars) are on tracelog's lines too."""

    def test_both_entry_points_carry_them_and_the_call_wins(self) -> None:
        lines = Lines(service="shop")
        structlog.contextvars.bind_contextvars(request_id="r-1", password="p", user=1)
        try:
            with tracelog.trace(tenant="acme") as ctx:
                structlog.get_logger("sl").info("native", user=2)
                logging.getLogger("std").warning("stdlib")
        finally:
            structlog.contextvars.clear_contextvars()
        tracelog.get_logger("t").info("after clear")
        native, stdlib, after = lines()
        for line in (native, stdlib):
            assert (ctx.trace_id, "acme", "r-1") == (
                line["trace_id"],
                line["tenant"],
                line["request_id"],
            )
            assert "[REDACTED]" == line["password"]
        assert (2, 1) == (native["user"], stdlib["user"])
        assert "request_id" not in after

    def test_a_key_bound_both_ways_keeps_both_values(self) -> None:
        lines = Lines()
        structlog.contextvars.bind_contextvars(user="alice")
        try:
            with tracelog.trace():
                tracelog.bind(user="bob")
                tracelog.get_logger("t").info("who")
        finally:
            structlog.contextvars.clear_contextvars()
        line = lines.one()
        assert ("bob", "alice") == (line["user"], line["user_"])

    def test_a_bound_key_the_pipeline_owns_is_kept_aside(self) -> None:
        lines = Lines()
        structlog.contextvars.bind_contextvars(trace_id="mine", level="loud")
        try:
            with tracelog.trace() as ctx:
                tracelog.get_logger("t").info("x")
        finally:
            structlog.contextvars.clear_contextvars()
        line = lines.one()
        assert (ctx.trace_id, "info") == (line["trace_id"], line["level"])
        assert ("mine", "loud") == (line["trace_id_"], line["level_"])

    @pytest.mark.parametrize("entry", ["native", "stdlib"])
    def test_a_variable_made_after_a_call_is_on_the_next_line(self, entry: str) -> None:
        """The last call's merged line is reused only while no new variable was made: a key
        bound for the first time in the process (structlog makes its variable then) is read."""
        lines = Lines()
        log = tracelog.get_logger("t").info if entry == "native" else logging.getLogger("s").info
        key = f"first_bound_{entry}"
        structlog.contextvars.bind_contextvars(request_id="r-1")
        try:
            with tracelog.trace():
                log("before")
                log("again")  # the reused line
                structlog.contextvars.bind_contextvars(**{key: "new"})
                log("after")
                structlog.contextvars.unbind_contextvars(key)
                log("unbound")
        finally:
            structlog.contextvars.clear_contextvars()
        before, again, after, unbound = lines()
        assert key not in before and key not in again
        assert ("r-1", "new") == (after["request_id"], after[key])
        assert key not in unbound and unbound["request_id"] == "r-1"


def test_a_mapping_key_that_cannot_be_checked_hides_its_value() -> None:
    from collections.abc import Mapping

    class Key(str):
        def __hash__(self) -> int:
            raise TypeError("unhashable key")

    class Headers(Mapping[str, str]):
        def __getitem__(self, key: str) -> str:
            return "secret-value"

        def __iter__(self) -> Any:
            return iter([Key("x-request-id")])

        def __len__(self) -> int:
            return 1

    lines = Lines()
    tracelog.get_logger("t").info("login", request={"password": "hunter2", "headers": Headers()})
    (raw,) = lines.raw()
    assert b"hunter2" not in raw and b"secret-value" not in raw
    assert {"password": "[REDACTED]", "headers": {"x-request-id": "[REDACTED]"}} == (
        orjson.loads(raw)["request"]
    )
