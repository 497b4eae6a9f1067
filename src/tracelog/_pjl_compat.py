"""What ``tracelog.stdlib.JsonFormatter`` keeps of python-json-logger's behaviour.

- a dict logged as the message joins the line (its keys beside ``extra=``'s,
  the message empty), as python-json-logger does;
- ``defaults=`` fill fields the record lacks;
- ``json_default=`` renders values orjson has no rule for;
- a subclass's ``add_fields()`` and ``process_log_record()`` are called with
  the event dict; the hooks that would render the line themselves are refused.

The docs' migration table (docs/stdlib.md) lists every option.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from tracelog.typing import EventDict, WrappedLogger

__all__ = [
    "PJL_OPTIONS",
    "REFUSED_HOOKS",
    "SubclassHooks",
    "ValueDefault",
    "merged_fields",
    "refused_hooks",
    "static_values",
]

#: python-json-logger options JsonFormatter does not take, and what to use instead.
PJL_OPTIONS = {
    "rename_fields": "rename= (it renames the line's keys: {'level': 'severity'})",
    "rename_fields_keep_missing": "nothing: rename= renames the keys a line has",
    "reserved_attrs": "nothing: every extra= field is kept and standard attributes never are",
    "timestamp": "nothing: every line has its RFC 3339 UTC timestamp",
    "json_encoder": "json_default= for the values, or processors= for the event",
    "json_serializer": "json_default= for the values, or processors= for the event",
    "json_indent": "nothing: one line per event",
    "json_ensure_ascii": "nothing: lines are UTF-8",
    "prefix": "processors= (or a schema) for the line's layout",
    "exc_info_as_array": "nothing: the exception is one structured value",
    "stack_info_as_array": "nothing: stack_info is one string",
}

#: python-json-logger hooks that render the line; tracelog renders it, so they are never called.
REFUSED_HOOKS = {
    "jsonify_log_record": "json_default= for values orjson has no rule for",
    "serialize_log_record": "json_default= for values orjson has no rule for",
}


def refused_hooks(cls: type) -> str | None:
    """The error for a subclass overriding a hook that is never called, or None."""
    found = [name for name in REFUSED_HOOKS if getattr(cls, name, None) is not None]
    if not found:
        return None
    return (
        f"{cls.__name__} overrides "
        + ", ".join(f"{name}() (use {REFUSED_HOOKS[name]})" for name in found)
        + ": tracelog.stdlib.JsonFormatter renders the line itself and would never call it;"
        " add_fields() and process_log_record() are called"
    )


def static_values(static: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``static=`` as a plain dict, each value read by key.

    A dictConfig hands nested options over as a ConvertingDict, which resolves
    ``ext://`` and ``cfg://`` values on lookup by key only.
    """
    if static is None:
        return None
    return {key: static[key] for key in list(static)}


def merged_fields(
    message: Any, fields: EventDict, defaults: Mapping[str, Any] | None
) -> tuple[Any, EventDict]:
    """A dict message's keys join the fields (the message is then ""); defaults fill the rest.

    What is given wins: ``extra=`` over the dict message over ``defaults``.
    """
    if isinstance(message, Mapping):
        merged = {str(key): value for key, value in message.items()}
        merged.update(fields)
        fields, message = merged, ""
    if defaults:
        fields = {**defaults, **fields}
    return message, fields


_NATIVE = (str, int, float, bool, type(None), datetime.date, datetime.time, uuid.UUID, enum.Enum)
_MAX_DEPTH = 32


class ValueDefault:
    """``json_default=``: called for each value orjson has no rule for (at any depth).

    Those are what is not a str, number, bool, None, dict, list, tuple,
    date/time, UUID, enum or dataclass: complex numbers, your own classes,
    and also bytes, sets, timedeltas and Decimals (tracelog's own rules apply
    to them when the function raises). What it returns is rendered instead.
    """

    __slots__ = ("default",)

    def __init__(self, default: Callable[[Any], Any]) -> None:
        if not callable(default):
            raise TypeError(f"json_default={default!r} is not callable")
        self.default = default

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        for key, value in event_dict.items():
            converted = self._value(value, 0)
            if converted is not value:
                event_dict[key] = converted
        return event_dict

    def _value(self, value: Any, depth: int) -> Any:
        if isinstance(value, _NATIVE) or depth > _MAX_DEPTH:
            return value
        if type(value) is dict:
            out = {k: self._value(v, depth + 1) for k, v in value.items()}
            return out if any(out[k] is not value[k] for k in value) else value
        if type(value) in (list, tuple):
            items = [self._value(v, depth + 1) for v in value]
            return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return value
        try:
            result = self.default(value)
        except Exception:
            return value  # tracelog's own rule for it
        return self._value(result, depth + 1) if result is not value else value


class SubclassHooks:
    """A python-json-logger style subclass's hooks, as a processor of its formatter's chain.

    ``add_fields(log_record, record, message_dict)`` then
    ``process_log_record(log_record)``, with the event dict (tracelog's
    canonical keys: ``timestamp``, ``level``, ``logger``, ``message``, ...)
    before redaction, schema and rendering.
    """

    __slots__ = ("formatter",)

    def __init__(self, formatter: Any) -> None:
        self.formatter = formatter

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        record = logger if isinstance(logger, logging.LogRecord) else None
        message = getattr(record, "msg", None)
        message_dict = dict(message) if isinstance(message, Mapping) else {}
        self.formatter.add_fields(event_dict, record, message_dict)
        processed = self.formatter.process_log_record(event_dict)
        return processed if isinstance(processed, dict) else event_dict
