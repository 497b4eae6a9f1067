"""Where a value goes in a laid-out line: dotted names nest, and no value replaces another.

The schemas (:mod:`tracelog.schema`) place the pipeline's values and yours
with these: the pipeline's value takes its name, and a field of yours that
was there moves to ``<name>_``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MISSING: Any = object()
__all__ = ["MISSING", "claim", "free", "give", "move_aside", "put", "renamed"]


class _Node(dict):  # type: ignore[type-arg]
    """An object made here for a dotted name's parent (a dict of yours is never filled)."""

    __slots__ = ()


def put(out: dict[str, Any], path: str, value: Any, flat: bool = False) -> bool:
    """Put ``value`` at ``path`` (dotted names nest) unless a value is there already.

    False when the place was taken: the caller finds the value another place,
    so that no field ever replaces another.
    """
    if flat or "." not in path:
        if path in out:
            return False
        out[path] = value
        return True
    *parents, leaf = path.split(".")
    node = out
    for part in parents:
        child = node.get(part, MISSING)
        if child is MISSING:
            child = node[part] = _Node()
        elif type(child) is not _Node and isinstance(child, dict):
            child = node[part] = _Node(child)  # a dict of yours: filled as a copy, never changed
        elif not isinstance(child, dict):
            # A value already holds the parent name: keep both, this one dotted.
            if path in out:
                return False
            out[path] = value
            return True
        node = child
    if leaf in node:
        return False
    node[leaf] = value
    return True


def free(out: dict[str, Any], name: str) -> str:
    """The first of ``name_``, ``name__``... not taken in ``out``."""
    name += "_"
    while name in out:
        name += "_"
    return name


def move_aside(out: dict[str, Any], name: str) -> None:
    """Move a field of yours at ``name`` (if any) to ``name_``, for the pipeline's value."""
    if name in out:
        out[free(out, name)] = out.pop(name)


def claim(out: dict[str, Any], name: str, value: Any) -> None:
    """Write the pipeline's ``value`` at ``name``; a field of yours there moves to ``name_``."""
    move_aside(out, name)
    out[name] = value


def give(out: dict[str, Any], name: str, value: Any) -> None:
    """Write a field of yours at ``name``, or at ``name_`` if a value is there."""
    out[free(out, name) if name in out else name] = value


def renamed(out: Mapping[str, Any], rename: Mapping[str, str], owned: Any) -> dict[str, Any]:
    """``out`` with ``rename`` applied: the pipeline's keys (``owned``) keep their names,
    a field of yours that would land on one moves to ``<name>_``."""
    result: dict[str, Any] = {}
    for key, value in out.items():
        name = rename.get(key, key)
        if key in owned:
            claim(result, name, value)
        else:
            result[free(result, name) if name in result else name] = value
    return result


_free = free  # the name pipeline.py imports
