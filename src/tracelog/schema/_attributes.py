"""OpenTelemetry attribute values: primitives, or arrays of one primitive type.

The ``otel`` layout passes its attributes through :func:`as_attributes`: a
mapping becomes dotted attribute names (``user={"id": 7}`` -> ``user.id``, the
semantic conventions' spelling), an integer outside int64 becomes text, and an
array of mixed or non-primitive items becomes one JSON text, an empty name
becomes ``_``. ``None`` stays: the data model's empty value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracelog.schema._ecs_document import as_text

__all__ = ["as_attributes"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def as_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` with every value of a type the data model allows (unchanged if so)."""
    if all(key and (value is None or _is_primitive(value)) for key, value in attributes.items()):
        return attributes
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        _add(out, key, value)
    return out


def _kind(value: Any) -> str | None:
    if value is True or value is False:
        return "bool"
    if type(value) is int:
        return "int" if _INT64_MIN <= value <= _INT64_MAX else None
    if type(value) is float:
        return "double"
    return "string" if type(value) is str else None


def _is_primitive(value: Any) -> bool:
    return _kind(value) is not None


def _add(out: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, Mapping) and value:
        for child, item in value.items():
            _add(out, f"{key}.{child}", item)
        return
    if value is not None and not _is_primitive(value):
        if isinstance(value, (list, tuple)):
            kinds = {_kind(item) for item in value if item is not None}
            value = list(value) if None not in kinds and len(kinds) <= 1 else as_text(value)
        else:
            value = as_text(value)  # an empty mapping, an int beyond int64
    name = key or "_"  # an attribute name is never empty
    while name in out:
        name += "_"
    out[name] = value
