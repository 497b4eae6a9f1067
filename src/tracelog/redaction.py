"""Redaction: secret-looking keys keep their name and lose their value, at any depth.

A value is searched exactly as deep as the JSON renderer renders it
(:data:`tracelog.render.MAX_DEPTH` levels), through every shape that renders
with keys: mappings (any key type), mapping-like objects (anything with
``keys()`` and ``items()``), dataclasses, attrs classes, NamedTuples,
argparse's and ``types``' namespaces, pydantic models, and
the lists, tuples, sets and mapping views (``d.items()``) that hold them.
An item of one of those that is a key/value pair (a two-item tuple or list
whose first item is a ``str`` or ``bytes``, as ASGI's ``scope["headers"]``
and ``headers.items()`` hold) is searched as a mapping's item is. Text is
never searched: a secret inside the message or inside a string value stays
as it was written.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tracelog.render import (
    ARRAYS,
    MAPPING_VIEWS,
    MAX_DEPTH,
    WholeSecond,
    cycle_marker,
    depth_marker,
    is_named_tuple,
    object_fields,
    safe_str,
)
from tracelog.typing import EventDict, WrappedLogger

__all__ = [
    "CACHE_LIMIT",
    "DEFAULT_PLAIN_KEYS",
    "DEFAULT_REDACT_KEYS",
    "LEAF_TYPES",
    "REDACTED",
    "Redactor",
    "is_mutable_container",
]

REDACTED = "[REDACTED]"

DEFAULT_REDACT_KEYS = frozenset(
    (
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "passphrases",
        "secret",
        "secrets",
        "token",
        "tokens",
        "csrftoken",
        "xsrftoken",
        "csrfmiddlewaretoken",
        "jwt",
        "jwts",
        "bearer",
        "api_key",
        "api_keys",
        "access_key",
        "access_keys",
        "secret_key",
        "secret_keys",
        "secret_key_base",
        "private_key",
        "private_keys",
        "signing_key",
        "signing_keys",
        "authorization",
        "proxy_authorization",
        "auth",
        "cookie",
        "cookies",
        "set_cookie",
        "session",
        "session_id",
        "session_ids",
        "session_key",
        "credential",
        "credentials",
        "credit_card",
        "card_number",
        "cvv",
        "ssn",
    )
)
"""Key names that are secrets, in words; a key matches when its trailing words are one.

``apikey``/``api_key``/``ApiKey``/``api-key`` are one name: words are compared
both joined by ``_`` and run together.
"""

DEFAULT_PLAIN_KEYS = frozenset(
    (
        "max_tokens",
        "num_tokens",
        "n_tokens",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "reasoning_tokens",
    )
)
"""Counters that end like a secret (``tokens``) but hold a number: never redacted by default.

A name you pass to :class:`Redactor` (``configure(redact=[...])``) wins over these.
"""

CACHE_LIMIT = 10_000
# Values of these exact types cannot hold a nested secret; an event whose
# values are all of them skips the walk through nested mappings and lists.
LEAF_TYPES = frozenset(
    (
        str,
        int,
        float,
        bool,
        type(None),
        bytes,
        datetime,
        WholeSecond,
        date,
        time,
        timedelta,
        uuid.UUID,
        Decimal,
    )
)

_SPLIT = re.compile(r"[^0-9a-z]+")
# Word starts: "accessToken" -> access|Token, "JWTToken" -> JWT|Token.
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_MUTABLE = (Mapping, list, set, *MAPPING_VIEWS)  # can gain a key once searched
_PAIR_TYPES = (tuple, list)  # exactly: a NamedTuple renders as an object, searched as one
_INSIDE = object()  # in ``done`` while a container's own items are searched
_Done = dict[int, tuple[Any, Any]]  # id -> (container, its result)


def _words(name: str) -> list[str]:
    return [w for w in _SPLIT.split(_CAMEL.sub("_", name).lower()) if w]


def _normalise(name: str) -> str:
    return "_".join(_words(name))


def _rendered_names(key: object) -> list[str]:
    """The names a non-``str`` key may render as: a key is a secret when one of them is."""
    names = [safe_str(key)]  # the renderer writes a non-string key as its str()
    if isinstance(key, str):
        names.append(str.__str__(key))  # orjson writes a str subclass as its text
    elif isinstance(key, enum.Enum):
        names.append(safe_str(key.value))
    elif isinstance(key, (bytes, bytearray)):
        names.append(bytes(key).decode("utf-8", "backslashreplace"))
    return names


def is_mutable_container(value: Any, depth: int = 1) -> bool:
    """Whether ``value`` renders with keys that may change after it was searched.

    A mapping, list, set, mapping-like object, dataclass or model can gain a
    secret key after a line was made from it, so a value that is logged again
    (a field bound to a context) must be searched again for every line. A
    tuple or frozenset is one only when it holds one; scalars never are.
    """
    if type(value) in LEAF_TYPES:
        return False
    if isinstance(value, (tuple, frozenset)):
        if depth >= MAX_DEPTH:
            return False
        try:
            return any(is_mutable_container(item, depth + 1) for item in value)
        except Exception:
            return True
    if isinstance(value, enum.Enum):
        return is_mutable_container(value.value, depth + 1)
    if isinstance(value, _MUTABLE):
        return True
    try:
        return object_fields(value) is not None
    except Exception:
        return True


class Redactor:
    """Replace the values of secret-looking keys, at any depth the line renders.

    A key matches when, split into words (``db_password``, ``X-Api-Key``,
    ``accessToken``), its whole name or its trailing words equal a listed
    name, joined by ``_`` or run together (``session_id`` is ``sessionId``
    and ``sessionid``). The longest trailing words decide: a key whose
    trailing words are a plain name (``DEFAULT_PLAIN_KEYS``, such as
    ``prompt_tokens``) is not a secret, unless that name is listed too.
    A key that is not a ``str`` (bytes, an Enum, a tuple) is a secret when
    the name it renders as is.

    The key stays; its value becomes ``[REDACTED]``. Everything that renders
    with keys is searched (see the module's docstring); one that holds a
    secret is replaced by a redacted copy of what it renders as, and a
    container nested deeper than the renderer renders becomes the
    renderer's placeholder. The caller's values are never changed.

    The verdict for a key and for a whole set of top-level keys is cached (a
    call site logs the same keys every time), so the common case costs one
    lookup plus a scan of the value types for nested containers.
    """

    __slots__ = ("_by_keys", "_names", "_other_keys", "_plain", "_verdicts", "names")

    def __init__(
        self, names: Iterable[str] = DEFAULT_REDACT_KEYS, plain: Iterable[str] = DEFAULT_PLAIN_KEYS
    ) -> None:
        self.names = frozenset(_normalise(n) for n in names)
        self._names = self.names | {n.replace("_", "") for n in self.names}
        plain_names = {_normalise(n) for n in plain} - self.names
        self._plain = frozenset(plain_names | {n.replace("_", "") for n in plain_names}) - (
            self._names
        )
        self._verdicts: dict[str, bool] = {}
        self._other_keys: dict[tuple[type, Any], bool] = {}
        self._by_keys: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def is_secret(self, key: object) -> bool:
        """Whether the value of ``key`` is redacted. Cached."""
        if type(key) is str:
            verdict = self._verdicts.get(key)
            if verdict is None:
                verdict = self._name_is_secret(key)
                if len(self._verdicts) < CACHE_LIMIT:
                    self._verdicts[key] = verdict
            return verdict
        try:
            cache_key = (type(key), key)
            verdict = self._other_keys.get(cache_key)
        except TypeError:  # unhashable: a key of a mapping-like object's items()
            return any(self._name_is_secret(name) for name in _rendered_names(key))
        if verdict is None:
            verdict = any(self._name_is_secret(name) for name in _rendered_names(key))
            if len(self._other_keys) < CACHE_LIMIT:
                self._other_keys[cache_key] = verdict
        return verdict

    def _name_is_secret(self, name: str) -> bool:
        words = _words(name)
        names, plain = self._names, self._plain
        for i in range(len(words)):
            tail = words[i:]
            snake, run = "_".join(tail), "".join(tail)
            if snake in names or run in names:
                return True
            if snake in plain or run in plain:
                return False
        return False

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return self.redact(event_dict)

    def redact(self, fields: EventDict, secret: tuple[Any, ...] | None = None) -> EventDict:
        """Redact ``fields`` in place (nested values are copied, never changed) and return it.

        ``secret``, when the caller already knows them, are the top-level keys to redact.
        """
        if not fields:
            return fields
        if secret is None:
            keys = tuple(fields)
            secret = self._by_keys.get(keys)
            if secret is None:
                secret = tuple(k for k in keys if self.is_secret(k))
                if len(self._by_keys) < CACHE_LIMIT:
                    self._by_keys[keys] = secret
        for key in secret:
            fields[key] = REDACTED
        for value in fields.values():
            if type(value) not in LEAF_TYPES:
                self.redact_nested(fields, secret)
                break
        return fields

    def redact_nested(self, fields: EventDict, secret: tuple[Any, ...] = ()) -> bool:
        """Redact inside the values of ``fields`` (but ``secret``'s); whether any changed.

        The keys of ``fields`` themselves are not checked: :meth:`redact` does that.
        """
        changed = False
        done: _Done = {}
        for key, value in fields.items():
            if type(value) in LEAF_TYPES or key in secret:
                continue
            new = self.scrub(value, 1, done)
            if new is not value:
                fields[key] = new
                changed = True
        return changed

    def scrub(self, value: Any, depth: int = 1, done: _Done | None = None) -> Any:
        """``value`` with its secrets redacted: itself when it holds none, else a copy.

        ``depth`` is the value's depth in the line (a field's value is 1), so
        a container is cut where the renderer cuts it. ``done`` maps each
        container already seen to its result, so a value held in many places
        is searched once. A container met inside itself becomes the
        renderer's cycle marker: kept as it is, the renderer would show its
        secrets once before cutting the cycle. A container that cannot be
        read is not shown.
        """
        if type(value) in LEAF_TYPES:
            return value
        fields: Any = None
        inner = 0  # how much deeper than ``value`` its fields render
        if isinstance(value, Mapping):
            kind = 1
        elif isinstance(value, ARRAYS) and not is_named_tuple(value):
            kind = 2
        elif isinstance(value, enum.Enum):
            member = value.value  # orjson renders a member as its value
            new = self.scrub(member, depth + 1, done)
            return value if new is member else new
        else:
            try:
                fields = object_fields(value)
            except Exception:
                return REDACTED
            if fields is None:
                return value
            kind = 3
            inner = 1  # rendered as a new object of its fields
        if depth >= MAX_DEPTH:
            return depth_marker(value)
        if done is None:
            done = {}
        marker = id(value)
        found = done.get(marker)
        if found is not None:
            return cycle_marker(value) if found[1] is _INSIDE else found[1]
        # Each entry holds its container, so no id is reused while ``done`` lives.
        done[marker] = (value, _INSIDE)
        try:
            if kind == 1:
                # orjson renders a dict subclass from the dict itself, whatever items() says.
                items = dict.items(value) if isinstance(value, dict) else value.items()
                result = self._scrub_mapping(items, value, depth, done)
            elif kind == 2:
                result = self._scrub_items(value, depth, done)
            elif depth + inner >= MAX_DEPTH:
                result = depth_marker(fields)
            else:
                # Rendered as an object of its fields: searched as one, and
                # replaced by those fields (redacted) when a secret is found.
                new = self._scrub_mapping(fields.items(), fields, depth + inner, done)
                result = value if new is fields else new
        except Exception:
            result = REDACTED
        done[marker] = (value, result)
        return result

    def _scrub_mapping(self, items: Iterable[Any], value: Any, depth: int, done: _Done) -> Any:
        changed = False
        out: dict[Any, Any] = {}
        repeated: set[Any] = set()
        for key, item in list(items):
            try:
                if type(key) is not str:
                    hash(key)  # it is kept as a key of the redacted copy
                secret = self.is_secret(key)
            except Exception:  # a key that cannot be checked: its value is not shown
                key, secret = safe_str(key), True
            if secret:
                new: Any = REDACTED
                changed = True
            else:
                new = self.scrub(item, depth + 1, done)
                changed = changed or new is not item
            if key not in out:
                out[key] = new
            elif not secret:  # a multidict's repeated key: its values in a list, as rendered
                if key in repeated:
                    out[key].append(new)
                else:
                    out[key] = [out[key], new]
                    repeated.add(key)
        return out if changed else value

    def _scrub_items(self, value: Iterable[Any], depth: int, done: _Done) -> Any:
        items = list(value)
        new_items = [self._scrub_item(item, depth + 1, done) for item in items]
        if any(a is not b for a, b in zip(new_items, items, strict=True)):
            return new_items
        return value

    def _scrub_item(self, item: Any, depth: int, done: _Done) -> Any:
        """An item of a list, tuple, set or mapping view, at ``depth``.

        A key/value pair, a two-item tuple or list whose first item is a
        ``str`` or ``bytes`` (``("authorization", "Bearer ...")``), is one
        item of a mapping written as a list: its value is redacted when its
        key is a secret, as a mapping's would be.
        """
        if (
            type(item) in _PAIR_TYPES
            and len(item) == 2
            and isinstance(item[0], (str, bytes, bytearray))
            and depth < MAX_DEPTH
        ):
            key = item[0]
            try:
                secret = self.is_secret(key)
            except Exception:  # a key that cannot be checked: its value is not shown
                secret = True
            if secret:
                return [key, REDACTED] if type(item) is list else (key, REDACTED)
        return self.scrub(item, depth, done)
