"""Redaction: which keys are secrets, and every shape a secret hides in, as deep as it renders."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import types
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import attrs
import multidict
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers, MultiDict

from tracelog import redaction
from tracelog.redaction import (
    DEFAULT_PLAIN_KEYS,
    DEFAULT_REDACT_KEYS,
    REDACTED,
    Redactor,
    is_mutable_container,
)
from tracelog.render import MAX_DEPTH, depth_marker, render_json, sanitize

SECRET = "s3cr3t-value"
PLAIN = "pl41n-value"


def spellings(*words: str) -> list[str]:
    """One name in snake, camel, Pascal, kebab and upper case."""
    return [
        "_".join(words),
        words[0] + "".join(w.capitalize() for w in words[1:]),
        "".join(w.capitalize() for w in words),
        "-".join(words),
        "-".join(w.capitalize() for w in words),
        "_".join(words).upper(),
    ]


REQUIRED = [
    ("session", "id"),
    ("jwt",),
    ("bearer",),
    ("credential",),
    ("credentials",),
    ("passphrase",),
    ("private", "key"),
    ("signing", "key"),
    ("secret", "key", "base"),
    ("client", "secret"),
    ("csrftoken",),
    ("csrf", "token"),
    ("x", "api", "key"),
    ("cookies",),
    ("secrets",),
    ("tokens",),
    ("passwords",),
    # what the list caught before
    ("password",),
    ("passwd",),
    ("pwd",),
    ("secret",),
    ("token",),
    ("api", "key"),
    ("apikey",),
    ("access", "key"),
    ("secret", "key"),
    ("authorization",),
    ("auth",),
    ("cookie",),
    ("set", "cookie"),
    ("session",),
    ("sessionid",),
    ("credit", "card"),
    ("card", "number"),
    ("cvv",),
    ("ssn",),
    ("proxy", "authorization"),
    # a prefix of words before a secret name
    ("db", "password"),
    ("access", "token"),
    ("refresh", "tokens"),
    ("aws", "secret", "access", "key"),
    ("x", "csrf", "token"),
    ("user", "session", "id"),
]
SECRET_NAMES = sorted({name for words in REQUIRED for name in spellings(*words)})
MORE_SECRET_NAMES = [
    "sessionid",
    "SESSIONID",
    "X-CSRFToken",  # Django's header
    "csrfmiddlewaretoken",  # Django's form field
    "passPhrase",
    "JWTToken",
    "AWSSecretAccessKey",
    "PHPSessionID",
    "oauth2Token",
    "api_keys",
    "private_keys",
]
PLAIN_NAMES = [
    "user",
    "order_id",
    "path",
    "status",
    # words that start like a secret are other words
    "tokenizer",
    "passwordless",
    "secretary",
    "author",
    "authority",
    "authored_by",
    "oauth_provider",
    # a secret word that is not the last word
    "token_count",
    "tokens_used",
    "password_changed_at",
    "session_count",
    "auth_method",
    "cookie_consent",
    # counters named like tokens
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "max_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "usage.prompt_tokens",
    "promptTokens",
    "key",
    "cache_key",
    "sort_key",
]


class TestDefaultKeys:
    @pytest.mark.parametrize("key", SECRET_NAMES + MORE_SECRET_NAMES)
    def test_secret(self, key: str) -> None:
        assert Redactor().is_secret(key)

    @pytest.mark.parametrize("key", PLAIN_NAMES)
    def test_plain(self, key: str) -> None:
        assert not Redactor().is_secret(key)

    def test_every_default_name_is_a_secret(self) -> None:
        redactor = Redactor()
        assert all(redactor.is_secret(name) for name in DEFAULT_REDACT_KEYS)

    def test_a_listed_name_wins_over_a_plain_one(self) -> None:
        redactor = Redactor(DEFAULT_REDACT_KEYS | {"total_tokens"})
        assert redactor.is_secret("total_tokens")
        assert not redactor.is_secret("prompt_tokens")

    def test_a_plain_name_only_decides_for_its_own_words(self) -> None:
        redactor = Redactor()
        assert redactor.is_secret("prompt_tokens_secret")
        assert not redactor.is_secret("openai_prompt_tokens")

    def test_plain_names_are_given_apart(self) -> None:
        redactor = Redactor(plain=())
        assert redactor.is_secret("prompt_tokens")
        assert DEFAULT_PLAIN_KEYS, "there are default plain names"

    def test_names_are_matched_by_words_whatever_their_spelling(self) -> None:
        redactor = Redactor(["ssn_hash"])
        for key in ("ssn_hash", "ssnHash", "SSN-Hash", "ssnhash", "user_ssn_hash"):
            assert redactor.is_secret(key), key
        assert not redactor.is_secret("password"), "names given replace the defaults"

    def test_the_verdict_is_cached(self) -> None:
        redactor = Redactor()
        assert redactor.is_secret("db_password")
        assert redactor._verdicts == {"db_password": True}
        assert not redactor.is_secret("order")
        assert {"db_password": True, "order": False} == redactor._verdicts

    def test_the_cache_is_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(redaction, "CACHE_LIMIT", 3)
        redactor = Redactor()
        for number in range(10):
            assert not redactor.is_secret(f"field_{number}")
        assert 3 == len(redactor._verdicts)
        assert redactor.is_secret("password")


class Field(enum.Enum):
    PASSWORD = "p"
    USER = "u"


class Header(str, enum.Enum):
    AUTH = "authorization"
    ACCEPT = "accept"


class TestKeysOfOtherTypes:
    @pytest.mark.parametrize(
        "key",
        [
            b"authorization",
            b"X-Api-Key",
            bytearray(b"cookie"),
            Field.PASSWORD,
            Header.AUTH,
            ("password",),
            ("user", "password"),
        ],
        ids=repr,
    )
    def test_a_key_is_a_secret_when_its_rendered_name_is(self, key: Any) -> None:
        assert Redactor().is_secret(key)

    @pytest.mark.parametrize("key", [1, 2.5, None, True, b"accept", Field.USER, ("a", 1)], ids=repr)
    def test_plain(self, key: Any) -> None:
        assert not Redactor().is_secret(key)

    def test_an_enum_key_equal_to_a_plain_string_is_judged_on_its_own(self) -> None:
        class Name(str, enum.Enum):
            SECRET = "plain"

        redactor = Redactor()
        assert not redactor.is_secret("plain")
        assert redactor.is_secret(Name.SECRET)  # it renders as "Name.SECRET"


@dataclasses.dataclass
class Login:
    user: str
    password: str


@attrs.define
class AttrsLogin:
    user: str
    password: str
    _salt: str = "s"


@attrs.frozen
class AttrsToken:
    kind: str
    api_key: str


class Credentials(NamedTuple):
    user: str
    password: str


class Holder(NamedTuple):
    inner: Any


@dataclasses.dataclass
class Box:
    inner: Any


class ItemsOnly:
    """Mapping-like: keys() and items(), no Mapping base (as werkzeug's Headers)."""

    def __init__(self, **items: Any) -> None:
        self._items = items

    def keys(self) -> Any:
        return self._items.keys()

    def items(self) -> Any:
        return self._items.items()

    def __repr__(self) -> str:
        return f"ItemsOnly({self._items!r})"


def line_of(**fields: Any) -> bytes:
    return render_json(Redactor().redact(fields))


SHAPES: dict[str, Callable[[], Any]] = {
    "dict": lambda: {"password": SECRET, "user": PLAIN},
    "bytes keys": lambda: {b"authorization": SECRET, b"accept": PLAIN},
    "Enum keys": lambda: {Field.PASSWORD: SECRET, Field.USER: PLAIN},
    "str Enum keys": lambda: {Header.AUTH: SECRET, Header.ACCEPT: PLAIN},
    "tuple keys": lambda: {("user", "password"): SECRET, ("user", "name"): PLAIN},
    "mapping proxy": lambda: MappingProxyType({"token": SECRET, "user": PLAIN}),
    "werkzeug Headers": lambda: Headers([("Authorization", SECRET), ("Accept", PLAIN)]),
    "werkzeug Headers, cookie": lambda: Headers([("Cookie", SECRET), ("Accept", PLAIN)]),
    "werkzeug MultiDict": lambda: MultiDict([("password", SECRET), ("user", PLAIN)]),
    "multidict": lambda: multidict.MultiDict([("X-Api-Key", SECRET), ("Accept", PLAIN)]),
    "CIMultiDict": lambda: multidict.CIMultiDict([("Set-Cookie", SECRET), ("Accept", PLAIN)]),
    "mapping-like": lambda: ItemsOnly(api_key=SECRET, user=PLAIN),
    "dataclass": lambda: Login(PLAIN, SECRET),
    "NamedTuple": lambda: Credentials(PLAIN, SECRET),
    "list": lambda: [{"secret": SECRET}, PLAIN],
    "tuple": lambda: ({"secret": SECRET}, PLAIN),
    "set": lambda: {Credentials(PLAIN, SECRET)},
    "frozenset": lambda: frozenset({Credentials(PLAIN, SECRET)}),
    "in a NamedTuple": lambda: Holder({"password": SECRET, "user": PLAIN}),
    "in a dataclass": lambda: Box([{"password": SECRET, "user": PLAIN}]),
    "attrs": lambda: AttrsLogin(PLAIN, SECRET),
    "frozen attrs": lambda: AttrsToken(PLAIN, SECRET),
    "SimpleNamespace": lambda: types.SimpleNamespace(token=SECRET, user=PLAIN),
    "argparse Namespace": lambda: argparse.Namespace(password=SECRET, db_host=PLAIN),
    "ASGI headers": lambda: [(b"authorization", b"Bearer " + SECRET.encode()), (b"host", PLAIN)],
    "str pairs": lambda: [("Cookie", SECRET), ("Accept", PLAIN)],
    "list pairs": lambda: [["x-api-key", SECRET], ["user", PLAIN]],
    "tuple of pairs": lambda: (("password", SECRET), ("user", PLAIN)),
    "set of pairs": lambda: {("token", SECRET), ("user", PLAIN)},
    "dict items()": lambda: {"Authorization": SECRET, "Accept": PLAIN}.items(),
    "dict values()": lambda: {"a": {"password": SECRET}, "b": PLAIN}.values(),
}


class TestShapes:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_the_secret_is_not_rendered_and_the_rest_is(self, shape: str) -> None:
        line = line_of(value=SHAPES[shape]())
        assert SECRET.encode() not in line
        assert PLAIN.encode() in line
        assert REDACTED.encode() in line

    @pytest.mark.parametrize("shape", SHAPES)
    def test_also_when_orjson_needs_help_with_another_field(self, shape: str) -> None:
        line = line_of(value=SHAPES[shape](), big=2**70)
        assert SECRET.encode() not in line
        assert PLAIN.encode() in line

    def test_werkzeug_headers_render_as_an_object(self) -> None:
        headers = Headers([("Authorization", "Bearer t"), ("Set-Cookie", "a"), ("Set-Cookie", "b")])
        assert {"Authorization": REDACTED, "Set-Cookie": REDACTED} == orjson.loads(
            line_of(headers=headers)
        )["headers"]
        headers = Headers([("Accept", "*/*"), ("Via", "a"), ("Via", "b")])
        rendered = orjson.loads(line_of(headers=headers))["headers"]
        assert {"Accept": "*/*", "Via": ["a", "b"]} == rendered

    def test_attrs_and_namespaces_render_as_objects(self) -> None:
        line = orjson.loads(
            line_of(
                login=AttrsLogin("ann", "x"),
                key=AttrsToken("api", "k"),
                args=argparse.Namespace(verbose=True, password="x"),
                ns=types.SimpleNamespace(n=1),
            )
        )
        assert line["login"] == {"user": "ann", "password": REDACTED}  # _salt left out
        assert line["key"] == {"kind": "api", "api_key": REDACTED}
        assert (line["args"], line["ns"]) == ({"verbose": True, "password": REDACTED}, {"n": 1})

    def test_a_named_tuple_renders_as_an_object(self) -> None:
        line = orjson.loads(line_of(login=Credentials("ann", "p"), plain=Holder(1)))
        assert {"user": "ann", "password": REDACTED} == line["login"]
        assert {"inner": 1} == line["plain"]

    def test_a_dict_subclass_is_searched_as_orjson_renders_it(self) -> None:
        form = MultiDict([("user", "ann"), ("user", "bob"), ("password", "p")])
        assert {"user": ["ann", "bob"], "password": REDACTED} == orjson.loads(line_of(form=form))[
            "form"
        ]

    def test_a_multidict_keeps_every_value(self) -> None:
        pairs = multidict.MultiDict(
            [("Via", "a"), ("Via", "b"), ("Cookie", "c1"), ("Cookie", "c2")]
        )
        assert {"Via": ["a", "b"], "Cookie": REDACTED} == orjson.loads(line_of(h=pairs))["h"]

    def test_an_enum_value_is_searched(self) -> None:
        class Preset(enum.Enum):
            ADMIN = {"user": "root", "password": SECRET}

        line = line_of(preset=Preset.ADMIN)
        assert SECRET.encode() not in line
        assert {"user": "root", "password": REDACTED} == orjson.loads(line)["preset"]

    def test_pydantic_models(self) -> None:
        pydantic = pytest.importorskip("pydantic")

        class Card(pydantic.BaseModel):  # type: ignore[misc, name-defined]
            holder: str
            cvv: str

        line = line_of(cards=[Card(holder="ann", cvv=SECRET)])
        assert [{"holder": "ann", "cvv": REDACTED}] == orjson.loads(line)["cards"]

    def test_pydantic_v1_models(self) -> None:
        v1 = pytest.importorskip("pydantic.v1")

        class Login(v1.BaseModel):  # type: ignore[misc, name-defined]
            user: str
            password: str
            key: v1.SecretStr  # type: ignore[name-defined]

        Login.update_forward_refs(v1=v1)  # the annotations are strings in this module
        line = orjson.loads(line_of(login=Login(user=PLAIN, password=SECRET, key=SECRET)))
        assert line["login"]["user"] == PLAIN
        assert line["login"]["password"] == REDACTED
        assert SECRET not in str(line)

    def test_top_level_keys_of_any_type(self) -> None:
        fields: dict[Any, Any] = {b"cookie": SECRET, Field.PASSWORD: SECRET, "user": PLAIN}
        redacted = Redactor().redact(fields)
        assert [REDACTED, REDACTED, PLAIN] == list(redacted.values())

    def test_the_callers_values_are_never_changed(self) -> None:
        nested = {"password": SECRET, "list": [{"token": SECRET}]}
        login = Login("ann", SECRET)
        headers = Headers([("Authorization", SECRET)])
        Redactor().redact({"nested": nested, "login": login, "headers": headers})
        assert {"password": SECRET, "list": [{"token": SECRET}]} == nested
        assert SECRET == login.password
        assert SECRET == headers["Authorization"]

    def test_a_value_without_secrets_is_kept_as_it_is(self) -> None:
        value = {"a": [1, {"b": (2, 3)}], "c": Box(Holder("x"))}
        fields = {"value": value}
        assert Redactor().redact(fields)["value"] is value

    def test_a_value_held_twice_is_searched_once_and_redacted_in_both_places(self) -> None:
        shared = {"password": SECRET}
        line = orjson.loads(line_of(a=[shared, shared], b=shared))
        assert [{"password": REDACTED}] * 2 == line["a"]
        assert {"password": REDACTED} == line["b"]

    def test_a_cycle_is_cut_without_showing_its_secrets(self) -> None:
        loop: dict[str, Any] = {"password": SECRET}
        loop["self"] = loop
        items: list[Any] = [{"token": SECRET}]
        items.append(items)
        line = line_of(loop=loop, items=items)
        assert SECRET.encode() not in line
        assert {"password": REDACTED, "self": "<cycle: dict>"} == orjson.loads(line)["loop"]

    def test_a_container_that_cannot_be_read_is_not_shown(self) -> None:
        class Broken(ItemsOnly):
            def items(self) -> Any:
                raise RuntimeError("no items")

        assert REDACTED == Redactor().redact({"value": [Broken(token=SECRET)]})["value"][0]

    def test_a_key_that_cannot_be_checked_hides_its_value(self) -> None:
        line = orjson.loads(line_of(headers=_BrokenKeys()))
        assert {"request_id": REDACTED} == line["headers"]

    def test_an_object_whose_items_cannot_be_rendered_is_not_shown(self) -> None:
        class Key:
            def __hash__(self) -> int:
                raise TypeError("unhashable")

        assert REDACTED == Redactor().redact({"headers": _Pairs([(Key(), SECRET)])})["headers"]

    def test_key_value_pairs_are_searched_as_a_mappings_items(self) -> None:
        scope_headers = [(b"authorization", b"Bearer t"), (b"accept", b"*/*")]
        line = orjson.loads(line_of(headers=scope_headers, items={"token": "t", "n": 1}.items()))
        assert line["headers"] == [["authorization", REDACTED], ["accept", "*/*"]]
        assert line["items"] == [["token", REDACTED], ["n", 1]]

    def test_only_an_item_is_a_pair(self) -> None:
        # A field's own two-item list is a list of values (OAuth grant types), not a pair.
        line = orjson.loads(line_of(grant_types=["password", "refresh_token"], pair=("token", 1)))
        assert (line["grant_types"], line["pair"]) == (["password", "refresh_token"], ["token", 1])
        # Neither are items of other lengths, nor pairs whose first item is not text.
        kept = [("token", "a", "b"), (7, "token"), ("user", PLAIN)]
        assert orjson.loads(line_of(rows=kept))["rows"] == [list(row) for row in kept]

    @pytest.mark.parametrize("depth", [MAX_DEPTH - 4, MAX_DEPTH - 3, MAX_DEPTH - 2, MAX_DEPTH - 1])
    def test_a_pair_is_cut_where_the_renderer_cuts(self, depth: int) -> None:
        value: Any = [("password", SECRET), ("user", PLAIN)]
        for _ in range(depth):
            value = [value]
        redacted = orjson.dumps(sanitize(Redactor().redact({"value": value})))
        assert SECRET.encode() not in redacted
        # Only the secret differs from the value as it is, cut where the renderer cuts.
        as_is = orjson.dumps(sanitize({"value": value}))
        assert redacted.replace(REDACTED.encode(), SECRET.encode()) == as_is

    def test_text_is_not_searched(self) -> None:
        line = orjson.loads(line_of(note="password=hunter2", url="https://u:hunter2@host/"))
        assert ("password=hunter2", "https://u:hunter2@host/") == (line["note"], line["url"])


class _BrokenKeys(Mapping[str, str]):
    """A mapping whose key cannot be hashed: it cannot be checked."""

    class Key(str):
        def __hash__(self) -> int:
            raise TypeError("unhashable")

    def __getitem__(self, key: str) -> str:
        return SECRET

    def __iter__(self) -> Iterator[str]:
        return iter([self.Key("request_id")])

    def __len__(self) -> int:
        return 1


class _Pairs:
    """A mapping-like object whose items() are given pairs."""

    def __init__(self, pairs: list[tuple[Any, Any]]) -> None:
        self._pairs = pairs

    def keys(self) -> list[Any]:
        return [key for key, _ in self._pairs]

    def items(self) -> Iterator[tuple[Any, Any]]:
        return iter(self._pairs)


def nest(depth: int, leaf: Any) -> Any:
    """``leaf`` under ``depth`` levels of single-key dicts (the field's value is level 1)."""
    value = leaf
    for _ in range(depth - 1):
        value = {"down": value}
    return value


class TestDepth:
    @pytest.mark.parametrize("depth", [1, 2, 32, 33, 40, MAX_DEPTH - 2, MAX_DEPTH - 1])
    def test_a_secret_as_deep_as_the_line_renders_is_redacted(self, depth: int) -> None:
        line = line_of(value=nest(depth, {"password": SECRET, "user": PLAIN}))
        assert SECRET.encode() not in line
        assert PLAIN.encode() in line

    @pytest.mark.parametrize("depth", [MAX_DEPTH, MAX_DEPTH + 1, 100, 200, 300])
    def test_a_secret_deeper_than_the_line_renders_is_cut_off(self, depth: int) -> None:
        line = line_of(value=nest(depth, {"password": SECRET}))
        assert SECRET.encode() not in line
        assert depth_marker({}).encode() in line

    @pytest.mark.parametrize("depth", [MAX_DEPTH - 3, MAX_DEPTH - 1, MAX_DEPTH, 90])
    @pytest.mark.parametrize("wrap", [dict, list, Box, Holder], ids=lambda w: w.__name__)
    def test_the_redacted_line_is_cut_where_the_renderer_cuts(self, depth: int, wrap: Any) -> None:
        value: Any = {"user": PLAIN}
        for _ in range(depth):
            value = {"down": value} if wrap is dict else [value] if wrap is list else wrap(value)
        redacted = Redactor().redact({"value": value})
        assert orjson.dumps(sanitize({"value": value})) == orjson.dumps(sanitize(redacted))


class TestIsMutableContainer:
    @pytest.mark.parametrize(
        "value",
        [
            {},
            [],
            set(),
            {"a": 1},
            MappingProxyType({}),
            Headers(),
            Login("a", "b"),
            ({},),
            Box(1),
            {}.items(),
            {}.keys(),
        ],
        ids=repr,
    )
    def test_mutable(self, value: Any) -> None:
        assert is_mutable_container(value)

    @pytest.mark.parametrize(
        "value",
        ["text", 1, 2.5, None, b"x", (1, "a"), frozenset({1}), Credentials("a", "b"), Field.USER],
        ids=repr,
    )
    def test_not_mutable(self, value: Any) -> None:
        assert not is_mutable_container(value)


class TestPublicNames:
    def test_redact_nested_says_whether_it_changed_anything(self) -> None:
        redactor = Redactor()
        fields: dict[str, Any] = {"a": {"token": SECRET}, "b": 1}
        assert redactor.redact_nested(fields)
        assert {"a": {"token": REDACTED}, "b": 1} == fields
        assert not redactor.redact_nested({"a": {"x": 1}})

    def test_scrub_returns_the_value_itself_when_nothing_is_secret(self) -> None:
        value = [{"a": 1}]
        assert Redactor().scrub(value) is value


# -- property: any shape, any depth the line renders ---------------------------------------------

SECRET_KEYS = st.sampled_from(SECRET_NAMES + MORE_SECRET_NAMES)


def _holder(kind: str, key: str, secret: str, plain: str) -> tuple[Any, int]:
    """A value that holds ``key: secret`` beside a plain value, and how deep its items render."""
    if kind == "dict":
        return {key: secret, "user": plain}, 1
    if kind == "bytes":
        return {key.encode(): secret, b"user": plain}, 1
    if kind == "tuple key":
        return {("x", key): secret, ("x", "user"): plain}, 1
    if kind == "headers":
        return Headers([(key, secret), ("user", plain)]), 2
    if kind == "multidict":
        return multidict.MultiDict([(key, secret), ("user", plain)]), 1
    if kind == "items":
        return _Pairs([(key, secret), ("user", plain)]), 2
    if kind == "proxy":
        return MappingProxyType({key: secret, "user": plain}), 1
    raise AssertionError(kind)


_WRAPS: dict[str, tuple[Callable[[Any], Any], int]] = {
    "dict": (lambda v: {"down": v}, 1),
    "bytes dict": (lambda v: {b"down": v}, 1),
    "list": (lambda v: [1, v], 1),
    "tuple": (lambda v: (v, "x"), 1),
    "dataclass": (Box, 2),
    "namedtuple": (Holder, 2),
    "proxy": (lambda v: MappingProxyType({"down": v}), 1),
    "items": (lambda v: _Pairs([("down", v)]), 2),
    "set": (lambda v: frozenset({Holder(v)}), 3),
}


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


@st.composite
def nested_secret(draw: st.DrawFn) -> tuple[Any, str, str]:
    number = draw(st.integers(0, 10**6))
    secret, plain = f"s3cr3t-{number}-x", f"pl41n-{number}-x"
    kind = draw(
        st.sampled_from(["dict", "bytes", "tuple key", "headers", "multidict", "items", "proxy"])
    )
    value, depth = _holder(kind, draw(SECRET_KEYS), secret, plain)
    wraps = draw(st.lists(st.sampled_from(sorted(_WRAPS)), max_size=40))
    for name in wraps:
        wrap, levels = _WRAPS[name]
        if name == "set" and not _hashable(value):
            name = "list"
            wrap, levels = _WRAPS[name]
        if depth + levels > MAX_DEPTH - 1:  # the plain value must still render
            break
        value = wrap(value)
        depth += levels
    return value, secret, plain


class TestAnyShapeAtAnyDepth:
    @settings(max_examples=300, deadline=None)
    @given(nested_secret(), st.booleans())
    def test_the_secret_is_never_rendered_and_the_rest_is(
        self, case: tuple[Any, str, str], orjson_needs_help: bool
    ) -> None:
        value, secret, plain = case
        fields: dict[str, Any] = {"value": value}
        if orjson_needs_help:
            fields["big"] = 2**70
        line = render_json(Redactor().redact(fields))
        assert secret.encode() not in line
        assert plain.encode() in line

    @settings(max_examples=100, deadline=None)
    @given(nested_secret(), st.integers(MAX_DEPTH - 2, MAX_DEPTH + 40))
    def test_deeper_than_the_line_renders_the_secret_is_never_rendered(
        self, case: tuple[Any, str, str], extra: int
    ) -> None:
        value, secret, _ = case
        line = render_json(Redactor().redact({"value": nest(extra, value)}))
        assert secret.encode() not in line
