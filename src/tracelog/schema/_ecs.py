"""The ECS field catalogue: every field's Elasticsearch type, and where a dotted name stands.

The ``ecs`` schema asks it whether a field of yours would clash with an ECS
field (data: ``_ecs_fields.tsv``, from the ECS field reference).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["CUSTOM", "FIELD", "SET", "ecs_coerce", "ecs_field_types", "ecs_kind", "ecs_value_fits"]


@lru_cache(maxsize=1)
def ecs_field_types() -> dict[str, str]:
    """Every ECS field name and its Elasticsearch type (``keyword``, ``long``, ``object``...)."""
    text = resources.files("tracelog.schema").joinpath("_ecs_fields.tsv").read_text("utf-8")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, kind = line.partition("\t")
            fields[name] = kind
    return fields


@lru_cache(maxsize=1)
def _ecs_sets() -> frozenset[str]:
    """Every proper prefix of an ECS field name (``http``, ``http.request``, ``host``...)."""
    prefixes: set[str] = set()
    for name in ecs_field_types():
        parts = name.split(".")
        prefixes.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(prefixes)


_TEXT_TYPES = frozenset(("keyword", "constant_keyword", "wildcard", "match_only_text", "text"))
_CONTAINER_TYPES = frozenset(("object", "nested", "flattened"))
_INT_TYPES = frozenset(("long", "integer", "short", "byte", "unsigned_long"))
_FLOAT_TYPES = frozenset(("float", "double", "half_float", "scaled_float"))
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def ecs_value_fits(kind: str, value: Any) -> bool:
    """Whether Elasticsearch maps ``value`` (or each item of a list) as an ECS ``kind`` field."""
    if value is None:
        return True
    if isinstance(value, (list, tuple)) and kind != "geo_point":
        return all(ecs_value_fits(kind, item) for item in value)
    if kind in _TEXT_TYPES or kind == "ip":
        return isinstance(value, str)
    if kind in _INT_TYPES:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and _LONG_MIN <= value <= _LONG_MAX
        )
    if kind in _FLOAT_TYPES:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, (str, _dt.datetime, _dt.date))
    if kind in _CONTAINER_TYPES:
        return isinstance(value, Mapping)
    return True  # geo_point and the like: left to the user


def ecs_coerce(kind: str, value: Any) -> Any:
    """A value of the right type for ``kind`` when the conversion loses nothing, else ``value``."""
    if kind in _TEXT_TYPES and type(value) in (int, float):
        return str(value)
    if kind in _INT_TYPES and isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return value


FIELD, SET, _UNDER_LEAF, CUSTOM = 0, 1, 2, 3


@lru_cache(maxsize=4096)
def ecs_kind(path: str) -> tuple[int, str]:
    """Where a dotted name stands in ECS: a field (and its type), a set, inside a field, outside."""
    types = ecs_field_types()
    kind = types.get(path)
    if kind is not None:
        return FIELD, kind
    if path in _ecs_sets():
        return SET, ""
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        parent = types.get(".".join(parts[:i]))
        if parent is not None:
            return (CUSTOM, "") if parent in _CONTAINER_TYPES else (_UNDER_LEAF, parent)
    return CUSTOM, ""
