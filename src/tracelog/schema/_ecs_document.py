"""The last step of the ``ecs`` layout: a document Elasticsearch indexes as it is.

Elasticsearch refuses a whole document when one field in it is both an
object and a value (``foo`` and ``foo.bar``; a dotted key means a path), when
a field name is empty, when an array mixes objects and values or values of
types one mapping cannot hold, and when a value does not fit the mapping its
field already has in this document. :func:`make_indexable` walks the laid-out
document in order and moves each part that would be refused under the custom
namespace (``tracelog.<its path>``); ``message`` always becomes text, and
``labels`` holds only flat keyword pairs. A document with nothing to move comes
back unchanged, key for key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["make_indexable"]

_OBJECT = "object"
_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1
_MISSING: Any = object()  # moved away whole
_EMPTIED: Any = object()  # an object whose every field moved away: no field left here
#: Characters an ECS label key may not hold (Elastic's agents replace them).
_NOT_IN_LABEL_KEYS = frozenset('.*"')


def make_indexable(out: dict[str, Any], namespace: str) -> dict[str, Any]:
    """``out``, with every part Elasticsearch would refuse moved under ``namespace``."""
    if _plain_document(out, namespace):
        return out  # the usual case, checked in one quick pass
    moved: list[tuple[tuple[str, ...], Any]] = []
    message = out.get("message")
    if message is not None and type(message) is not str:
        out["message"] = as_text(message)
    labels = out.get("labels")
    if isinstance(labels, Mapping):
        out["labels"] = _flat_labels(labels, moved)
    elif labels is not None:  # an array of them, say: not pairs
        moved.append((("labels",), out.pop("labels")))
    custom = out.get(namespace, _MISSING)
    if custom is not _MISSING and not isinstance(custom, Mapping):
        del out[namespace]  # a value of yours under the namespace's own name
        moved.append(((namespace,), custom))
    paths: dict[tuple[str, ...], str] = {}
    for key in list(out):
        value = out[key]
        if _bad_name(key):
            del out[key]
            moved.append((_segments(key), value))
            continue
        kept = _take(paths, _segments(key), value, moved, False)
        if kept is _MISSING or kept is _EMPTIED:
            del out[key]
        elif kept is not value:
            out[key] = kept
    for path, value in moved:
        _place(out, paths, (namespace, *path), value)
    return out


_SCALARS = (str, int, float, bool, type(None))
#: The dotted names the layout writes at the top level (ecs-logging), and their parent's child.
_FLAT = {"log.level": ("log", "level"), "ecs.version": ("ecs", "version")}


def _plain_document(out: dict[str, Any], namespace: str) -> bool:
    """Whether nothing in ``out`` can clash: no dotted or blank name (but the two flat ones),
    no array but of one kind of value, ``message`` text, ``labels`` flat, ``namespace`` an
    object. Then every path is a tree's own, and Elasticsearch indexes it as it is."""
    message = out.get("message")
    if message is not None and type(message) is not str:
        return False
    custom = out.get(namespace)
    if custom is not None and not isinstance(custom, Mapping):
        return False
    labels = out.get("labels")
    if labels is not None:
        if not isinstance(labels, Mapping):
            return False
        for key, value in labels.items():
            if type(value) is not str or not _plain_name(key) or "*" in key or '"' in key:
                return False
    for key, value in out.items():
        if key in _FLAT:
            parent, child = _FLAT[key]
            node = out.get(parent)
            if node is not None and (not isinstance(node, Mapping) or child in node):
                return False
        elif not _plain_name(key):
            return False
        if not _plain_value(value, 0):
            return False
    return True


def _plain_name(key: Any) -> bool:
    return type(key) is str and "." not in key and bool(key.strip())


def _plain_value(value: Any, depth: int) -> bool:
    """Whether a value has no dotted or blank name and no mixed array, to any depth."""
    kind = type(value)
    if kind is str or kind is float or kind is bool or value is None:
        return True
    if kind is int:
        return bool(_INT_MIN <= value <= _UINT_MAX)
    if isinstance(value, (dict, Mapping)):
        if depth > 32:
            return False
        for key, child in value.items():
            if type(key) is not str or "." in key or not key.strip():
                return False
            kind = type(child)
            if kind is str or kind is float or kind is bool or child is None:
                continue
            if not _plain_value(child, depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        first = None
        for item in value:
            if item is None:
                continue
            if type(item) not in _SCALARS or not _plain_value(item, depth):
                return False
            item_kind = _leaf_kind(item)
            if first is None:
                first = item_kind
            elif item_kind != first:
                return False
        return True
    return True  # rendered by the encoder as a value


def as_text(value: Any) -> str:
    """A value as the text Elasticsearch can index: strings as they are, others as JSON."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)


def _flat_labels(labels: Mapping[Any, Any], moved: list[tuple[tuple[str, ...], Any]]) -> Any:
    """ECS labels are flat keyword pairs: any other entry moves under ``<namespace>.labels``."""
    flat: dict[str, Any] = {}
    for key, value in labels.items():
        good_key = isinstance(key, str) and key.strip() and not _NOT_IN_LABEL_KEYS & set(key)
        if good_key and (value is None or type(value) in (str, int, float, bool)):
            flat[key] = value if value is None or type(value) is str else as_text(value)
        else:
            moved.append((("labels", *_segments(key)), value))
    return flat


def _segments(key: Any) -> tuple[str, ...]:
    """The path a key stands for; an empty or blank part becomes ``_`` (a name ES accepts)."""
    text = key if isinstance(key, str) else str(key)
    return tuple(part if part.strip() else "_" for part in text.split("."))


def _bad_name(key: Any) -> bool:
    """A name with an empty or blank part: Elasticsearch refuses it."""
    text = key if isinstance(key, str) else str(key)
    return any(not part.strip() for part in text.split("."))


def _leaf_kind(value: Any) -> str:
    if value is True or value is False:
        return "boolean"
    if type(value) is float or (type(value) is int and _INT_MIN <= value <= _UINT_MAX):
        return "number"
    return "keyword"  # an int beyond 64 bits is rendered as text


def _fits(kind: str, value: Any) -> bool:
    """Whether a value goes in a field the document's earlier value mapped as ``kind``."""
    if value is None or kind == "keyword":
        return True
    if kind == "number":  # digits in text would pass a long field, not a float one
        return _leaf_kind(value) == "number"
    return type(value) is bool or value in ("true", "false")


def _flattened(items: list[Any] | tuple[Any, ...]) -> list[Any]:
    flat: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            flat.extend(_flattened(item))
        else:
            flat.append(item)
    return flat


def _room(
    paths: dict[tuple[str, ...], str],
    path: tuple[str, ...],
    kind: str,
    values: list[Any],
    repeat: bool,
) -> bool:
    """Whether ``path`` can take an object (``kind`` "object") or these values of ``kind``."""
    for cut in range(1, len(path)):
        if paths.get(path[:cut], _OBJECT) != _OBJECT:
            return False
    there = paths.get(path)
    if there is None:
        return True
    if kind == _OBJECT or there == _OBJECT:
        return kind == there
    return repeat and all(_fits(there, value) for value in values)


def _mark(paths: dict[tuple[str, ...], str], path: tuple[str, ...], kind: str) -> None:
    for cut in range(1, len(path)):
        paths[path[:cut]] = _OBJECT
    paths.setdefault(path, kind)


def _take(
    paths: dict[tuple[str, ...], str],
    path: tuple[str, ...],
    value: Any,
    moved: list[tuple[tuple[str, ...], Any]],
    repeat: bool,
) -> Any:
    """``value`` as it can stay at ``path`` (parts moved out), or _MISSING to move it all.

    ``repeat``: inside an array of objects, where the same field has many values.
    """
    if isinstance(value, Mapping):
        if not _room(paths, path, _OBJECT, [], repeat):
            moved.append((path, value))
            return _MISSING
        _mark(paths, path, _OBJECT)
        return _take_children(paths, path, value, moved, repeat)
    if isinstance(value, (list, tuple)):
        items = _flattened(value)
        objects = [item for item in items if isinstance(item, Mapping)]
        values = [item for item in items if not isinstance(item, Mapping) and item is not None]
        if objects and values:  # one field cannot be both: the array is kept as text
            value, objects, values = as_text(value), [], [as_text(value)]
        if objects:
            if not _room(paths, path, _OBJECT, [], repeat):
                moved.append((path, value))
                return _MISSING
            _mark(paths, path, _OBJECT)
            kept = [_take_children(paths, path, item, moved, True) for item in objects]
            if len(objects) == len(value) and all(a is b for a, b in zip(kept, value, strict=True)):
                return value
            return [item for item in kept if item is not _EMPTIED]
        if not values:  # empty, or only nulls: no field, but its parents are objects
            return _take_null(paths, path, value, moved)
        kind = _leaf_kind(values[0])
        if not all(_fits(kind, item) for item in values):
            value = as_text(value)
            values, kind = [value], "keyword"
        if not _room(paths, path, kind, values, repeat):
            moved.append((path, value))
            return _MISSING
        _mark(paths, path, kind)
        return value
    if value is None:
        return _take_null(paths, path, value, moved)
    kind = _leaf_kind(value)
    if not _room(paths, path, kind, [value], repeat):
        moved.append((path, value))
        return _MISSING
    _mark(paths, path, kind)
    return value


def _take_null(
    paths: dict[tuple[str, ...], str],
    path: tuple[str, ...],
    value: Any,
    moved: list[tuple[tuple[str, ...], Any]],
) -> Any:
    """A null (no field of its own): its parents must be, and become, objects."""
    for cut in range(1, len(path)):
        if paths.get(path[:cut], _OBJECT) != _OBJECT:
            moved.append((path, value))
            return _MISSING
    for cut in range(1, len(path)):
        paths[path[:cut]] = _OBJECT
    return value


def _take_children(
    paths: dict[tuple[str, ...], str],
    path: tuple[str, ...],
    value: Mapping[Any, Any],
    moved: list[tuple[tuple[str, ...], Any]],
    repeat: bool,
) -> Any:
    copy: dict[Any, Any] | None = None
    items = list(value.items())
    for index, (key, child) in enumerate(items):
        if _bad_name(key):
            kept = _MISSING
            moved.append(((*path, *_segments(key)), child))
        else:
            kept = _take(paths, (*path, *_segments(key)), child, moved, repeat)
        if kept is child:
            if copy is not None:
                copy[key] = child
            continue
        if copy is None:
            copy = dict(items[:index])
        if kept is not _MISSING and kept is not _EMPTIED:
            copy[key] = kept
    if copy is None:
        return value
    return copy if copy or not value else _EMPTIED


def _place(
    out: dict[str, Any], paths: dict[tuple[str, ...], str], path: tuple[str, ...], value: Any
) -> None:
    """Put a moved value at ``path`` under the namespace, or where the name after the
    namespace has a ``_`` more (``tracelog.foo_.bar``), where there is room."""
    for _ in range(64):
        inner: list[tuple[tuple[str, ...], Any]] = []
        kept = _take(paths, path, value, inner, False) if _nestable(out, path) else _MISSING
        if kept is not _MISSING:
            if kept is not _EMPTIED:
                _nest(out, path, kept)
            for where, item in inner:  # parts of it that clash among themselves
                _place(out, paths, where, item)
            return
        if len(path) < 2:
            path = (*path, "_")
        path = (path[0], path[1] + "_", *path[2:])


def _nestable(out: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Whether every parent of ``path`` in ``out`` is an object (or not there yet)."""
    node: Any = out
    for part in path[:-1]:
        node = node.get(part)
        if node is None:
            return True
        if not isinstance(node, Mapping):
            return False
    return True


def _nest(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Put ``value`` at ``path`` as nested objects, copying every dict on the way (never yours)."""
    node = out
    for part in path[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, Mapping) else {}
        node[part] = child
        node = child
    node[path[-1]] = value
