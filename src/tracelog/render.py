"""Renderers: the chain's last step. JSON (orjson bytes, never raises) and console text.

The JSON renderer tries orjson once with the event as it is (the fast path).
Only when that fails does it walk the event and make every value safe:
cycles cut, lone surrogates replaced, integers beyond 64 bits as strings,
non-string keys as strings, sets and a dict's ``keys()``/``values()``/``items()``
as lists, anything unknown by ``repr`` (or a placeholder
naming the type when ``repr`` itself fails).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import math
import sys
import types
import uuid
from collections.abc import ItemsView, KeysView, Mapping, ValuesView
from decimal import Decimal
from typing import Any

import orjson

from tracelog import _faults
from tracelog.typing import EventDict, WrappedLogger

__all__ = [
    "ARRAYS",
    "MAPPING_VIEWS",
    "OPTIONS",
    "JsonRenderer",
    "WholeSecond",
    "compact",
    "safe_repr",
    "sanitize",
    "with_microseconds",
]

#: orjson's options for every JSON line. One rule for datetimes on every route: an aware
#: one is rendered in its own offset (``Z`` for UTC), a naive one is taken as UTC.
OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_APPEND_NEWLINE
_OPTIONS = OPTIONS
dumps = orjson.dumps
_dumps = dumps
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1
MAX_DEPTH = 64
#: A dict's ``keys()``, ``values()`` and ``items()``: rendered as the lists they iterate as.
MAPPING_VIEWS = (KeysView, ValuesView, ItemsView)
#: What renders as a JSON array of its items (but a NamedTuple, an object of its fields).
ARRAYS = (list, tuple, set, frozenset, *MAPPING_VIEWS)
_LISTED = (set, frozenset, *MAPPING_VIEWS)  # the arrays orjson hands to _default()


def safe_repr(value: object) -> str:
    """``repr(value)``, or a placeholder naming the type when ``repr`` raises."""
    try:
        text = repr(value)
        if not isinstance(text, str):
            raise TypeError("__repr__ returned a non-string")
        return text
    except Exception:
        return f"<unrepresentable {_type_name(value)} object>"


def safe_str(value: object) -> str:
    """``str(value)``, falling back to :func:`safe_repr`."""
    if type(value) is str:
        return value
    try:
        text = str(value)
        if not isinstance(text, str):
            raise TypeError("__str__ returned a non-string")
        return text
    except Exception:
        return safe_repr(value)


def cycle_marker(value: object) -> str:
    """What a container found inside itself renders as."""
    return f"<cycle: {_type_name(value)}>"


def depth_marker(value: object) -> str:
    """What a container nested ``MAX_DEPTH`` levels deep renders as."""
    return f"<{_type_name(value)} nested deeper than {MAX_DEPTH}>"


def is_named_tuple(value: object) -> bool:
    """Whether ``value`` is a NamedTuple: it renders as an object of its fields."""
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def _type_name(value: object) -> str:
    try:
        return type(value).__qualname__
    except Exception:
        return "object"


class WholeSecond(_dt.datetime):
    """A time on a whole second. orjson leaves out a zero fraction; the renderers write
    ``.000000`` so every timestamp has its microseconds (RFC 3339, as the line promises)."""

    __slots__ = ()

    def __str__(self) -> str:
        return self.isoformat(timespec="microseconds")


def with_microseconds(stamp: _dt.datetime) -> _dt.datetime:
    """``stamp``, as a :class:`WholeSecond` when its microseconds are zero."""
    if stamp.microsecond:
        return stamp
    return WholeSecond(*stamp.timetuple()[:6], tzinfo=stamp.tzinfo)


def _iso(value: WholeSecond) -> str:
    text = value.isoformat(timespec="microseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def object_fields(value: Any) -> dict[Any, Any] | None:
    """The fields of a value that renders as a JSON object of its own, else None.

    A dataclass instance renders as orjson renders it (its fields, but those
    named with a leading underscore), and so does an attrs instance; a
    pydantic model as its ``model_dump(mode="json")`` (secret types stay
    masked), a pydantic v1 model as its ``dict()``; a NamedTuple as its
    fields; a ``SimpleNamespace`` or an argparse ``Namespace`` as its
    attributes; a mapping orjson does not render itself, or any object with
    ``keys()`` and ``items()`` (werkzeug ``Headers``, multidicts), as its
    items, a repeated key's values in a list. The redactor searches these
    like mappings.
    """
    if isinstance(value, (type, dict)):
        return None
    if dataclasses.is_dataclass(value):
        return {
            f.name: getattr(value, f.name)
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    kind = type(value)
    attributes = getattr(kind, "__attrs_attrs__", None)  # an attrs class (attrs not imported)
    if isinstance(attributes, tuple):
        names = (getattr(a, "name", None) for a in attributes)
        return {n: getattr(value, n) for n in names if type(n) is str and not n.startswith("_")}
    if kind is types.SimpleNamespace or _is_argparse_namespace(value):
        return dict(vars(value))
    if callable(getattr(kind, "model_dump", None)):
        fields = value.model_dump(mode="json")
        return fields if isinstance(fields, dict) else None
    v1_fields = getattr(kind, "__fields__", None)  # a pydantic v1 model (pydantic.v1 included)
    if isinstance(v1_fields, dict) and callable(getattr(kind, "dict", None)):
        fields = value.dict()
        return fields if isinstance(fields, dict) else None
    if isinstance(value, tuple):
        return dict(zip(kind._fields, value, strict=False)) if hasattr(kind, "_fields") else None
    if callable(getattr(kind, "items", None)) and callable(getattr(kind, "keys", None)):
        return _items_object(value.items())
    return None


def _is_argparse_namespace(value: Any) -> bool:
    argparse = sys.modules.get("argparse")  # not imported: no value is one of its Namespaces
    return argparse is not None and isinstance(value, argparse.Namespace)


def _items_object(items: Any) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    repeated: set[Any] = set()
    for key, item in items:
        if key not in out:
            out[key] = item
        elif key in repeated:
            out[key].append(item)
        else:
            out[key] = [out[key], item]
            repeated.add(key)
    return out


def _default(value: Any) -> Any:
    """orjson's hook for types it does not know."""
    if type(value) is WholeSecond:
        return _iso(value)
    fields = object_fields(value)
    if fields is not None:
        return fields
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, _LISTED):  # d.items() as its [key, value] pairs
        return list(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {safe_str(value)}"
    if isinstance(value, (_dt.timedelta,)):
        return value.total_seconds()
    return safe_repr(value)


def _fix_str(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def sanitize(value: Any, _depth: int = 0, _path: frozenset[int] = frozenset()) -> Any:
    """A copy of ``value`` that orjson can always serialise.

    A value that cannot be made safe (its type's methods raise) becomes a
    placeholder naming its type; the values around it are kept.
    """
    try:
        return _sanitize(value, _depth, _path)
    except Exception:
        return f"<unrenderable {_type_name(value)} object>"


def _sanitize(value: Any, _depth: int, _path: frozenset[int]) -> Any:
    if value is None or value is True or value is False:
        return value
    kind = type(value)
    if kind is str or isinstance(value, str):
        return _fix_str(str.__str__(value))
    if isinstance(value, enum.Enum):
        return sanitize(value.value, _depth + 1, _path)
    if isinstance(value, int):
        number = int.__index__(value)
        if _INT64_MIN <= number <= _UINT64_MAX:
            return number
        try:
            return str(number)
        except ValueError:  # more digits than int-to-str allows (4300)
            return f"<int of {number.bit_length()} bits>"
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None  # as orjson's fast path does
    if type(value) is WholeSecond:
        return _iso(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time, uuid.UUID)):
        return value
    if _depth >= MAX_DEPTH:
        return depth_marker(value)
    marker = id(value)
    if marker in _path:
        return cycle_marker(value)
    inner = _path | {marker}
    if isinstance(value, Mapping):
        try:
            items = list(value.items())
        except Exception:
            return safe_repr(value)
        out: dict[str, Any] = {}
        for key, item in items:
            name = _fix_str(key if type(key) is str else safe_str(key))
            while name in out:  # keys equal as text (1 and "1"): keep both
                name += "_"
            out[name] = sanitize(item, _depth + 1, inner)
        return out
    if isinstance(value, ARRAYS) and not is_named_tuple(value):
        try:
            return [sanitize(item, _depth + 1, inner) for item in list(value)]
        except Exception:
            return safe_repr(value)
    try:
        fields = object_fields(value)
    except Exception:
        return safe_repr(value)
    if fields is not None:
        return sanitize(fields, _depth + 1, inner)
    try:
        converted = _default(value)
    except Exception:
        converted = safe_repr(value)
    if isinstance(converted, str):
        return _fix_str(converted)
    return sanitize(converted, _depth + 1, inner)


def compact(line: Any) -> Any:
    """A line to hold on to: orjson's bytes keep a ~4 KiB allocation whatever their length.

    Anything that keeps lines (a queue, a batch, a trace's buffer) holds this
    exact copy; the copy costs less than the fresh memory a held 4 KiB block
    takes, and the block is freed while it is still in cache.
    """
    return bytes(memoryview(line)) if type(line) is bytes else line


def render_json(event_dict: EventDict) -> bytes:
    """One JSON line (with its newline) for any event. Never raises."""
    try:
        return _dumps(event_dict, default=_default, option=_OPTIONS)
    except Exception:
        pass
    try:
        return _dumps(sanitize(event_dict), option=_OPTIONS)
    except Exception as error:
        _faults.report("render", error)
        return _emergency_line(event_dict, error)


def _emergency_line(event_dict: EventDict, error: BaseException) -> bytes:
    try:
        fields = {safe_repr(k): safe_repr(v) for k, v in list(event_dict.items())}
    except Exception:
        fields = {}
    line = {
        "timestamp": with_microseconds(_dt.datetime.now(_dt.timezone.utc)),
        "level": "error",
        "logger": "tracelog",
        "message": "event could not be rendered",
        "fields_repr": {_fix_str(k): _fix_str(v) for k, v in fields.items()},
        "render_error": _fix_str(safe_repr(error)),
    }
    try:
        return _dumps(line, default=_default, option=_OPTIONS)
    except Exception:
        return b'{"level":"error","logger":"tracelog","message":"event could not be rendered"}\n'


class JsonRenderer:
    """The last step for ``format="json"``: one orjson line (bytes, newline included)."""

    __slots__ = ()

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> bytes:
        try:
            return _dumps(event_dict, default=_default, option=_OPTIONS)
        except Exception:
            return render_json(event_dict)
