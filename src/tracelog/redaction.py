"""Redaction: secret-looking keys keep their name and lose their value, at any depth."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tracelog.render import cycle_marker, object_fields, safe_str
from tracelog.typing import EventDict, WrappedLogger

__all__ = ["DEFAULT_REDACT_KEYS", "REDACTED", "Redactor"]

REDACTED = "[REDACTED]"

DEFAULT_REDACT_KEYS = frozenset(
    (
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "access_key",
        "secret_key",
        "private_key",
        "authorization",
        "auth",
        "cookie",
        "set_cookie",
        "session",
        "sessionid",
        "credentials",
        "credit_card",
        "card_number",
        "cvv",
        "ssn",
        "x_api_key",
        "proxy_authorization",
    )
)

_SPLIT = re.compile(r"[^0-9a-z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CACHE_LIMIT = 10_000
# Values of these exact types cannot hold a nested secret; an event whose
# values are all of them skips the walk through nested mappings and lists.
_LEAF_TYPES = frozenset((str, int, float, bool, type(None), datetime))


def _holds_keys(value: Any) -> bool:
    """Whether a value may render with keys inside: a mapping, list, tuple, dataclass, model."""
    if isinstance(value, (Mapping, list, tuple)):
        return True
    kind = type(value)
    return hasattr(kind, "__dataclass_fields__") or hasattr(kind, "model_dump")


class Redactor:
    """Chain step 5: replace the values of secret-looking keys, at any depth.

    A key matches when, split into words (``db_password``, ``X-Api-Key``,
    ``accessToken``), its whole name or its trailing words equal a listed
    name. The key stays; its value becomes ``[REDACTED]``. Nested mappings,
    lists, tuples, dataclass instances and pydantic models (which render as
    JSON objects) are searched; one that holds a secret is replaced by a
    redacted copy.

    The verdict for a whole set of top-level keys is cached (a call site logs
    the same keys every time), so the common case costs one lookup plus a
    scan of the value types for nested mappings and lists.
    """

    __slots__ = ("_by_keys", "_safe", "_secret", "names")

    def __init__(self, names: Iterable[str] = DEFAULT_REDACT_KEYS) -> None:
        self.names = frozenset(_normalise(n) for n in names)
        self._safe: set[str] = set()
        self._secret: set[str] = set()
        self._by_keys: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def is_secret(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._safe:
            return False
        if key in self._secret:
            return True
        words = [w for w in _SPLIT.split(_CAMEL.sub("_", key).lower()) if w]
        verdict = any("_".join(words[i:]) in self.names for i in range(len(words)))
        if len(self._safe) + len(self._secret) < _CACHE_LIMIT:
            (self._secret if verdict else self._safe).add(key)
        return verdict

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return self.redact(event_dict)

    def redact(self, fields: EventDict, secret: tuple[str, ...] | None = None) -> EventDict:
        """Redact ``fields`` in place (nested mappings are copied, never changed) and return it.

        ``secret``, when the caller already knows them, are the top-level keys to redact.
        """
        if not fields:
            return fields
        if secret is None:
            keys = tuple(fields)
            secret = self._by_keys.get(keys)
            if secret is None:
                secret = tuple(k for k in keys if self.is_secret(k))
                if len(self._by_keys) < _CACHE_LIMIT:
                    self._by_keys[keys] = secret
        for key in secret:
            fields[key] = REDACTED
        for value in fields.values():
            if type(value) not in _LEAF_TYPES:
                self._redact_nested(fields, secret)
                break
        return fields

    def _redact_nested(self, fields: EventDict, secret: tuple[str, ...]) -> bool:
        """Redact inside the values of ``fields`` (but ``secret``); whether any changed."""
        changed = False
        for key, value in fields.items():
            if key not in secret and _holds_keys(value):
                new = self._scrub(value, 0)
                if new is not value:
                    fields[key] = new
                    changed = True
        return changed

    def _scrub(self, value: Any, depth: int, done: dict[int, Any] | None = None) -> Any:
        """``value`` with its secrets redacted (a copy where one was found).

        ``done`` maps each container already seen to its result, so a value
        held in many places is searched once. A container met inside itself
        becomes the renderer's cycle marker: kept as it is, the renderer would
        show its secrets once before cutting the cycle.
        """
        if depth > 32:
            return value
        if done is None:
            done = {}
        if isinstance(value, (Mapping, list, tuple)):
            key = id(value)
            if key in done:
                found = done[key]
                return cycle_marker(value) if found is _INSIDE else found
            done[key] = _INSIDE
            result = self._scrub_container(value, depth, done)
            done[key] = result
            return result
        # A dataclass or a pydantic model renders as an object of its fields:
        # redacted as one, and replaced by those fields when a secret is found.
        try:
            fields = object_fields(value)
        except Exception:
            return value
        if fields is None:
            return value
        new = self._scrub(fields, depth + 1, done)
        return value if new is fields else new

    def _scrub_container(self, value: Any, depth: int, done: dict[int, Any]) -> Any:
        if isinstance(value, Mapping):
            try:
                items = list(value.items())
            except Exception:
                return value
            changed = False
            out: dict[Any, Any] = {}
            for key, item in items:
                try:
                    secret = self.is_secret(key)
                except Exception:  # a key that cannot be checked: its value is not shown
                    key, secret = safe_str(key), True
                if secret:
                    out[key] = REDACTED
                    changed = True
                else:
                    new = self._scrub(item, depth + 1, done)
                    changed = changed or new is not item
                    out[key] = new
            return out if changed else value
        try:
            items = list(value)
        except Exception:
            return value
        new_items = [self._scrub(item, depth + 1, done) for item in items]
        if any(a is not b for a, b in zip(new_items, items, strict=True)):
            return new_items
        return value


_INSIDE = object()  # in ``done`` while a container's own items are searched


def _normalise(name: str) -> str:
    return "_".join(w for w in _SPLIT.split(_CAMEL.sub("_", name).lower()) if w)
