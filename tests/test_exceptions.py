"""Exceptions to one structured value: the cause/context chain, groups, bounds; stack_info."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

import tracelog
from _lines import Lines
from tracelog._exceptions import MAX_EXCEPTIONS, MAX_GROUP_MEMBERS, exception_to_structure
from tracelog.processors import structure_exception


def structure(error: BaseException) -> dict[str, Any]:
    return structure_exception(type(error), error, error.__traceback__)


def raised(error: BaseException) -> BaseException:
    """``error`` after a raise, so it has a traceback."""
    try:
        raise error
    except BaseException as caught:
        return caught


def chain(value: dict[str, Any]) -> list[tuple[str | None, str]]:
    """``(link, type)`` for each exception of the chain, the first linked by None."""
    out: list[tuple[str | None, str]] = [(None, value["type"])]
    while True:
        links = [key for key in ("cause", "context") if key in value]
        assert len(links) <= 1, "one exception links to one next exception"
        if not links:
            return out
        value = value[links[0]]
        out.append((links[0], value["type"]))


def explicit_cause() -> BaseException:
    try:
        try:
            raise KeyError("k")
        except KeyError as error:
            raise ValueError("v") from error
    except ValueError as error:
        return error


def implicit_context() -> BaseException:
    try:
        try:
            raise KeyError("k")
        except KeyError:
            raise ValueError("v")
    except ValueError as error:
        return error


def from_none() -> BaseException:
    try:
        try:
            raise KeyError("k")
        except KeyError:
            raise ValueError("v") from None
    except ValueError as error:
        return error


def unraised_cause() -> BaseException:
    try:
        raise RuntimeError("outer") from KeyError("missing sku")
    except RuntimeError as error:
        return error


def unraised_cause_while_handling() -> BaseException:
    # A cause hides the context, raised or not.
    try:
        try:
            raise OSError("disk")
        except OSError:
            raise RuntimeError("outer") from KeyError("missing sku")
    except RuntimeError as error:
        return error


def unraised_context() -> BaseException:
    error = raised(ValueError("v"))
    error.__context__ = KeyError("set by hand")
    return error


def context_whose_traceback_was_cleared() -> BaseException:
    error = implicit_context()
    assert error.__context__ is not None
    error.__context__.__traceback__ = None
    return error


def cause_then_context() -> BaseException:
    try:
        try:
            try:
                raise OSError("disk")
            except OSError:
                raise KeyError("k")
        except KeyError as error:
            raise ValueError("v") from error
    except ValueError as error:
        return error


CHAINS: list[tuple[Callable[[], BaseException], list[tuple[str | None, str]]]] = [
    (explicit_cause, [(None, "ValueError"), ("cause", "KeyError")]),
    (implicit_context, [(None, "ValueError"), ("context", "KeyError")]),
    (from_none, [(None, "ValueError")]),
    (unraised_cause, [(None, "RuntimeError"), ("cause", "KeyError")]),
    (unraised_cause_while_handling, [(None, "RuntimeError"), ("cause", "KeyError")]),
    (unraised_context, [(None, "ValueError"), ("context", "KeyError")]),
    (context_whose_traceback_was_cleared, [(None, "ValueError"), ("context", "KeyError")]),
    (cause_then_context, [(None, "ValueError"), ("cause", "KeyError"), ("context", "OSError")]),
]


class TestStructureException:
    @pytest.mark.parametrize(
        ("make", "expected"), CHAINS, ids=[make.__name__ for make, _ in CHAINS]
    )
    def test_chain(
        self, make: Callable[[], BaseException], expected: list[tuple[str | None, str]]
    ) -> None:
        assert expected == chain(structure(make()))

    def test_an_unraised_link_has_its_type_and_message_and_no_frames(self) -> None:
        value = structure(unraised_cause())
        assert {"type": "KeyError", "message": "'missing sku'", "frames": []} == value["cause"]
        assert value["frames"]

    def test_group_members_keep_their_own_links(self) -> None:
        members = [explicit_cause(), implicit_context(), from_none(), unraised_cause()]
        value = structure(raised(ExceptionGroup("grp", members)))  # noqa: F821
        assert [
            [(None, "ValueError"), ("cause", "KeyError")],
            [(None, "ValueError"), ("context", "KeyError")],
            [(None, "ValueError")],
            [(None, "RuntimeError"), ("cause", "KeyError")],
        ] == [chain(member) for member in value["exceptions"]]

    def test_the_audit_example_through_a_logger(self) -> None:
        lines = Lines()
        try:
            raise ExceptionGroup("grp", [explicit_cause()])  # noqa: F821
        except ExceptionGroup:  # noqa: F821
            tracelog.get_logger("g").exception("group")
        try:
            raise RuntimeError("outer") from KeyError("missing sku")
        except RuntimeError:
            tracelog.get_logger("g").exception("cause")
        group, cause = (line["exception"] for line in lines())
        assert "KeyError" == group["exceptions"][0]["cause"]["type"]
        assert "context" not in group["exceptions"][0]
        assert ["type", "message", "frames", "cause"] == list(cause)
        assert ("KeyError", "'missing sku'") == (
            cause["cause"]["type"],
            cause["cause"]["message"],
        )

    def test_a_context_shared_with_the_group_is_shown_once_on_the_group(self) -> None:
        # What except* makes: the group and its members were raised handling one error.
        try:
            try:
                raise OSError("disk")
            except OSError:
                members = [raised(KeyError("a")), raised(TypeError("b"))]
                raise ExceptionGroup("grp", members)  # noqa: F821
        except ExceptionGroup as error:  # noqa: F821
            value = structure(error)
        assert [(None, "ExceptionGroup"), ("context", "OSError")] == chain(value)
        assert [[(None, "KeyError")], [(None, "TypeError")]] == [
            chain(member) for member in value["exceptions"]
        ]

    def test_the_same_member_twice_is_shown_twice(self) -> None:
        member = raised(KeyError("k"))
        value = structure(raised(ExceptionGroup("grp", [member, member])))  # noqa: F821
        assert ["KeyError", "KeyError"] == [m["type"] for m in value["exceptions"]]

    @pytest.mark.parametrize("link", ["__cause__", "__context__"])
    def test_a_cycle_ends_the_chain(self, link: str) -> None:
        first, second = raised(ValueError("first")), raised(KeyError("second"))
        setattr(first, link, second)
        setattr(second, link, first)
        label = link.strip("_")
        assert [(None, "ValueError"), (label, "KeyError")] == chain(structure(first))

    def test_an_exception_that_is_its_own_cause(self) -> None:
        error = raised(ValueError("me"))
        error.__cause__ = error
        assert [(None, "ValueError")] == chain(structure(error))

    def test_a_member_whose_context_is_its_group(self) -> None:
        member = raised(KeyError("k"))
        group = raised(ExceptionGroup("grp", [member]))  # noqa: F821
        member.__context__ = group
        value = structure(group)
        assert [(None, "KeyError")] == chain(value["exceptions"][0])

    def test_a_long_chain_is_bounded(self) -> None:
        error: BaseException | None = None
        for n in range(10_000):
            new = ValueError(n)
            new.__context__ = error
            error = new
        assert error is not None
        value = structure(error)
        links = chain(value)
        assert MAX_EXCEPTIONS == len(links)
        last = value
        for _ in links[1:]:
            last = last["context"]
        assert last["chain_truncated"] is True
        assert "9999" == value["message"]

    def test_a_wide_group_is_bounded(self) -> None:
        members = [raised(KeyError(n)) for n in range(100)]
        value = structure(raised(ExceptionGroup("wide", members)))  # noqa: F821
        assert MAX_GROUP_MEMBERS == len(value["exceptions"])
        assert 100 - MAX_GROUP_MEMBERS == value["exceptions_omitted"]

    def test_deeply_nested_groups_are_bounded(self) -> None:
        error: BaseException = KeyError("leaf")
        for n in range(2_000):
            error = ExceptionGroup(f"level {n}", [error, KeyError(n)])  # noqa: F821
        value = structure(error)
        count, todo = 0, [value]
        while todo:
            node = todo.pop()
            count += 1
            todo.extend(node.get("exceptions", ()))
        assert MAX_EXCEPTIONS == count
        orjson.dumps(value)

    def test_a_bounded_structure_is_still_one_line(self) -> None:
        lines = Lines()
        error: BaseException | None = None
        for n in range(500):
            try:
                raise ValueError(n) from error
            except ValueError as caught:
                error = caught
        tracelog.get_logger("t").error("long", exc_info=error)
        value = lines.one()["exception"]
        assert [(None, "ValueError")] + [("cause", "ValueError")] * (MAX_EXCEPTIONS - 1) == chain(
            value
        )


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


class BadStrAndRepr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class StrRaisesBadStr(Exception):
    def __str__(self) -> str:
        raise BadStr("inner")


class NotAString(Exception):
    def __str__(self) -> Any:
        return 42


class BadNotes(Exception):
    @property
    def __notes__(self) -> list[str]:
        raise RuntimeError("no notes")


class StrNotes(Exception):
    __notes__ = "not a list"


BROKEN: list[BaseException] = [
    BadStr("a"),
    BadStrAndRepr("b"),
    StrRaisesBadStr("f"),
    NotAString("c"),
    BadNotes("d"),
    StrNotes("e"),
]


class TestExceptionsThatMisbehave:
    @pytest.mark.parametrize("error", BROKEN, ids=lambda error: type(error).__name__)
    @pytest.mark.parametrize("where", ["top", "cause", "context", "member"])
    def test_every_part_is_text_and_the_line_is_written(
        self, error: BaseException, where: str
    ) -> None:
        top: BaseException = error
        if where == "cause":
            top = raised(ValueError("top"))
            top.__cause__ = raised(error)
        elif where == "context":
            top = raised(ValueError("top"))
            top.__context__ = raised(error)
        elif where == "member":
            top = raised(ExceptionGroup("grp", [raised(error)]))  # noqa: F821
        lines = Lines()
        tracelog.get_logger("t").error("broken", exc_info=top)
        value = lines.one()["exception"]
        if where == "top":
            node = value
        elif where == "member":
            node = value["exceptions"][0]
        else:
            node = value[where]
        assert type(error).__name__ == node["type"]
        assert isinstance(node["message"], str)
        assert all(isinstance(note, str) for note in node.get("notes", ()))

    def test_a_str_that_raises_falls_back_to_repr(self) -> None:
        assert "BadStr('a')" == structure(raised(BadStr("a")))["message"]

    def test_str_notes_are_shown_by_repr(self) -> None:
        assert ["'not a list'"] == structure(raised(StrNotes("e")))["notes"]


@st.composite
def exception_graphs(draw: st.DrawFn) -> BaseException:
    """A few exceptions with random causes and contexts (cycles and all), raised or not."""
    size = draw(st.integers(1, 8))
    errors: list[BaseException] = [
        raised(ValueError(n)) if draw(st.booleans()) else KeyError(n) for n in range(size)
    ]
    pick = st.one_of(st.none(), st.integers(0, size - 1))
    for error in errors:
        cause, context = draw(pick), draw(pick)
        error.__context__ = None if context is None else errors[context]
        error.__cause__ = None if cause is None else errors[cause]
        error.__suppress_context__ = draw(st.booleans())
    return errors[0]


def expected_chain(error: BaseException) -> list[tuple[str | None, str, str]]:
    """Python's rule: the cause, else the context unless suppressed; never the same one twice."""
    out: list[tuple[str | None, str, str]] = [(None, type(error).__name__, str(error))]
    seen = {id(error)}
    while True:
        if error.__cause__ is not None:
            link, after = "cause", error.__cause__
        elif error.__context__ is not None and not error.__suppress_context__:
            link, after = "context", error.__context__
        else:
            return out
        if id(after) in seen:
            return out
        seen.add(id(after))
        out.append((link, type(after).__name__, str(after)))
        error = after


class TestChainProperties:
    @given(exception_graphs())
    def test_the_chain_follows_pythons_rule_and_ends(self, error: BaseException) -> None:
        value = structure(error)
        actual: list[tuple[str | None, str, str]] = []
        node: dict[str, Any] | None = value
        link: str | None = None
        while node is not None:
            actual.append((link, node["type"], node["message"]))
            link = next((key for key in ("cause", "context") if key in node), None)
            node = node[link] if link else None
        assert expected_chain(error) == actual
        orjson.dumps(value)

    @given(exception_graphs())
    def test_frames_only_for_raised_exceptions(self, error: BaseException) -> None:
        node: dict[str, Any] | None = structure(error)
        current: BaseException | None = error
        while node is not None and current is not None:
            assert (current.__traceback__ is None) == (node["frames"] == [])
            link = next((key for key in ("cause", "context") if key in node), None)
            node = node[link] if link else None
            current = getattr(current, f"__{link}__") if link else None


def call_site_of(stack: str) -> list[str]:
    """The stack's entries without the last (the call itself, whose line differs)."""
    return stack.splitlines()[:-2]


class TestStackInfo:
    def test_native_stack_info_true_gives_the_callers_stack(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("where am I", stack_info=True)
        line = lines.one()
        stack = line["stack"]
        assert stack.startswith("Stack (most recent call last):\n")
        assert "stack_info" not in line
        assert not stack.endswith("\n")
        # Innermost entry: this test, at the log call; no tracelog or structlog frames.
        last_entry = stack.splitlines()[-2:]
        assert f'File "{__file__}"' in last_entry[0]
        assert "test_native_stack_info_true_gives_the_callers_stack" in last_entry[0]
        assert "stack_info=True" in last_entry[1]
        for package in (tracelog, structlog):
            assert str(package.__file__).rsplit("/", 1)[0] not in stack

    def test_native_and_stdlib_stacks_have_one_shape(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("native", stack_info=True)
        logging.getLogger("s").info("stdlib", stack_info=True)
        native, stdlib = (line["stack"] for line in lines())
        assert call_site_of(stdlib) == call_site_of(native)
        assert len(stdlib.splitlines()) == len(native.splitlines())

    @pytest.mark.parametrize("value", [False, None, 0])
    def test_stack_info_false_gives_no_stack(self, value: Any) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("m", stack_info=value)
        line = lines.one()
        assert "stack" not in line
        assert "stack_info" not in line

    def test_without_the_inline_json_path(self) -> None:
        seen: list[dict[str, Any]] = []

        def keep(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
            seen.append(dict(event_dict))
            return event_dict

        Lines(processors=[keep])
        tracelog.get_logger("t").warning("m", stack_info=True)
        assert "test_without_the_inline_json_path" in seen[0]["stack"].splitlines()[-2]

    def test_through_structlog_get_logger(self) -> None:
        lines = Lines()
        structlog.get_logger("s").info("m", stack_info=True)
        assert "test_through_structlog_get_logger" in lines.one()["stack"].splitlines()[-2]

    def test_a_field_named_stack_is_kept(self) -> None:
        lines = Lines()
        tracelog.get_logger("t").info("m", stack="mine", stack_info=True)
        line = lines.one()
        assert "mine" == line["stack_"]
        assert line["stack"].startswith("Stack (most recent call last):")

    def test_exception_to_structure_processor(self) -> None:
        event = exception_to_structure(None, "info", {"stack_info": True})
        assert "test_exception_to_structure_processor" in event["stack"].splitlines()[-2]
        assert {} == exception_to_structure(None, "info", {"stack_info": False})


class TestExcInfoValues:
    """What an ``exc_info=`` value names, as the stdlib reads it, and tuples holding one."""

    @pytest.mark.parametrize(
        "value",
        [
            ValueError("x"),
            (ValueError, ValueError("x")),
            (None, ValueError("x"), None),
            (ValueError, ValueError("x"), None),
        ],
    )
    def test_an_exception_anywhere_in_it_is_shown(self, value: Any) -> None:
        lines = Lines()
        tracelog.get_logger("t").error("failed", exc_info=value)
        assert ("ValueError", "x") == (
            lines.one()["exception"]["type"],
            lines.one()["exception"]["message"],
        )

    @pytest.mark.parametrize("value", [ValueError, "yes", 1])
    def test_any_other_true_value_means_the_exception_being_handled(self, value: Any) -> None:
        lines = Lines()
        log = tracelog.get_logger("t")
        log.error("outside", exc_info=value)
        try:
            raise KeyError("k")
        except KeyError:
            log.error("inside", exc_info=value)
        outside, inside = lines()
        assert "exception" not in outside
        assert "KeyError" == inside["exception"]["type"]
