"""The ``ecs`` layout's generated fast path: recipes per shape, and the fill made for each.

:mod:`tracelog._fastpath` uses :class:`EcsLine` for a chain whose one output is
laid out by the ``ecs`` schema; tests/test_fastpath.py checks that its lines
are the plain chain's, byte for byte.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson

from tracelog import context
from tracelog.fields import (
    DURATION_MS,
    LEVEL,
    LOGGER,
    MESSAGE,
    PARENT_SPAN_ID,
    SERVICE,
    SPAN_ID,
    SPAN_NAME,
    TIMESTAMP,
    TRACE_ID,
    TRACE_SAMPLED,
)
from tracelog.processors import LINE_OPTIONS, STRUCTLOG_VARS, TraceMerger, line_now, line_time
from tracelog.redaction import CACHE_LIMIT, LEAF_TYPES
from tracelog.render import dumps
from tracelog.schema import Projection, duration_ns
from tracelog.schema._ecs import ecs_value_fits

__all__ = ["SHAPE", "EcsLine", "Recipe", "ThreadLines"]

_MISSING = object()
# What a line's fill returns for a call whose keys are not its shape's (in number or order).
SHAPE: Any = object()
# A context's line of a shape: (template, name, fields, stamp, method, message) -> the
# line's bytes; None for a value that would take another place; SHAPE for another
# context's line, another logger or other keys.
Fill = Callable[..., Any]
_get_context = context.current_var.get
_otel_imported = context.otel_imported


class EcsLine:
    """The ``ecs`` line for one call, from a recipe made from the plain layout of its shape.

    A shape is the keys of a context's line, a logger name and the call's
    keys. The first call of a shape is laid out by the plain projection, and
    the recipe notes where each value went: the context's (trace ids,
    service, bound fields) and the call's own. A new context of the shape
    gets its line built from the recipe once, its values put in place; a
    call then puts its own values in and renders, through a function
    generated for the shape. A value of another type than the recipe's (one
    that could take another place) makes the call None: the caller runs the
    plain chain.

    Each thread tries the entry of its last call first, with no key built:
    that entry's function checks the call's keys itself (SHAPE when they
    differ), which costs less than making the key of the lines dict.
    """

    __slots__ = ("_places", "_recipes", "local", "merger", "projection")

    def __init__(self, merger: TraceMerger, projection: Projection) -> None:
        self.merger = merger
        self.projection = projection
        self._recipes: dict[tuple[Any, ...], Recipe | None] = {}  # shape -> recipe, or None
        self.local = ThreadLines()
        # a key of yours -> where the layout puts it (names, ECS type), or None: not placed
        self._places: dict[str, tuple[tuple[str, ...], str | None] | None] = {}

    def line(
        self, name: Any, created: float | None, method: str, message: Any, fields: Any
    ) -> bytes | None:
        merger = self.merger
        if type(message) is not str:
            return None
        ctx = _get_context()
        if ctx is not None:
            template = ctx._line
            if template is None or ctx._line_owner is not merger:
                return None
        elif _otel_imported():
            return None
        else:
            template = merger._bare
        if STRUCTLOG_VARS:
            template = merger.with_structlog(template)
            if template is None:
                return None
        local = self.local
        stamp = line_now() if created is None else line_time(created)
        line = local.last(template, name, fields, stamp, method, message)
        if line is not SHAPE:
            return line  # type: ignore[no-any-return]
        try:
            lines = local.lines
        except AttributeError:
            lines = local.lines = {}
        key = (id(template), name, *fields)
        fill = lines.get(key)
        if fill is not None:
            line = fill(template, name, fields, stamp, method, message)
            if line is not SHAPE:
                local.last = fill
                return line  # type: ignore[no-any-return]
        fill = self._line_for(lines, key, template, name, method, fields)
        if fill is None:
            return None
        local.last = fill
        line = fill(template, name, fields, stamp, method, message)
        return None if line is SHAPE else line

    def _line_for(
        self,
        lines: dict[Any, Any],
        key: tuple[Any, ...],
        template: dict[str, Any],
        name: Any,
        method: str,
        fields: Any,
    ) -> Fill | None:
        """This context's line of the shape (built from the shape's recipe), or None."""
        shape = (*template, "", name, *fields)
        recipes = self._recipes
        recipe: Any = recipes.get(shape, _MISSING)
        if recipe is _MISSING:
            try:
                recipe = self._make_recipe(template, name, method, fields)
            except Exception:
                recipe = None
            if len(recipes) >= 1000:
                recipes.clear()
            recipes[shape] = recipe
        if recipe is None:
            return None
        out = recipe.out_for(template)
        if out is None:
            return None
        fill: Fill = recipe.make(out, template, name)
        if len(lines) >= 1000:
            lines.clear()
        lines[key] = fill
        return fill

    def _make_recipe(
        self, template: dict[str, Any], name: Any, method: str, fields: Any
    ) -> Recipe | None:
        plain = self.merger._plain
        for key, value in fields.items():
            if key not in plain or type(value) not in LEAF_TYPES:
                return None
        event = template.copy()
        event.update(fields)
        event[TIMESTAMP] = None
        event[LEVEL] = method
        event[LOGGER] = name
        event[MESSAGE] = ""
        laid_out = self.projection(None, method, event)
        if list(laid_out)[:3] != ["@timestamp", "log.level", "message"]:
            return None
        skeleton = _copy_containers(laid_out)
        leaves = _leaf_paths(skeleton)
        claimed: set[tuple[str, ...]] = set()

        def claim(paths: list[tuple[str, ...]]) -> bool:
            for path in paths:
                if path in claimed:
                    return False  # two values at one place (True twice, say): not told apart
                claimed.add(path)
            return bool(paths)

        # The context's values: where the layout put each one, and the types that keep it there.
        context_slots: list[Any] = []
        for key, value in template.items():
            if key in (TIMESTAMP, LEVEL, LOGGER, MESSAGE) or key in fields:
                continue
            if type(value) not in LEAF_TYPES:
                return None
            if not claim([path for path, leaf in leaves.items() if leaf is value]):
                return None
            check = _type_of(value) if key in _PIPELINE_VALUES else self._check(key, value)
            if check is None:
                return None
            paths = [path for path, leaf in leaves.items() if leaf is value]
            context_slots.append((key, paths, *check))
        if name is not None and not claim([p for p, leaf in leaves.items() if leaf is name]):
            return None
        # The call's values: at the place the layout gives their key.
        call_slots: list[Any] = []
        for key, value in fields.items():
            place = self._place(key)
            if place is None:
                return None
            path, kind = place
            leaf = leaves.get(path, _MISSING)
            if key == DURATION_MS:
                if type(value) not in (int, float) or leaf != _nanoseconds(value):
                    return None
                if not claim([path]):
                    return None
                call_slots.append((key, path, _NUMBERS, _nanoseconds))
                continue
            if leaf is not value or not claim([path]):
                return None  # the layout put it elsewhere (a name taken, a value coerced)
            kinds, fits = (_ANY_LEAF, None) if kind is None else _ecs_check(kind, value)
            if kinds is None:
                return None
            call_slots.append((key, path, kinds, fits))
        # Every other place holds a constant: a value that came from elsewhere (coerced) would not.
        if not claimed.union(_ECS_CONSTANT_PATHS).issuperset(leaves):
            return None
        written = frozenset(path[0] for _, path, _, _ in call_slots) | _EVERY_CALL
        return Recipe(skeleton, context_slots, _compile_fill(call_slots), written)

    def _check(self, key: str, value: Any) -> tuple[frozenset[type], Any] | None:
        """The types (and check) that keep a bound field of yours where the layout put it."""
        place = self._place(key)
        if place is None:
            return None
        kind = place[1]
        if kind is None:
            return _ANY_LEAF, None
        kinds, fits = _ecs_check(kind, value)
        return None if kinds is None else (kinds, fits)

    def _place(self, key: str) -> tuple[tuple[str, ...], str | None] | None:
        places = self._places
        place: Any = places.get(key, _MISSING)
        if place is _MISSING:
            place = self.projection.ecs_place(key)
            if len(places) < CACHE_LIMIT:
                places[key] = place
        return place  # type: ignore[no-any-return]


def _no_line(*args: Any) -> Any:
    return SHAPE


class ThreadLines(threading.local):
    """A thread's lines: ``lines``, ``(id(template), name, *keys) -> fill``, made on the
    thread's first line; ``last``, the fill of its last call, tried first (it checks the
    context's line, the logger's name and the call's keys)."""

    last: Fill = _no_line  # before the thread's first line: matches nothing
    lines: dict[tuple[Any, ...], Fill]


class Recipe:
    """A shape's layout: where each value goes, and the function that makes a context's
    fill (which puts a call's values in)."""

    __slots__ = ("context_slots", "make", "skeleton", "written")

    def __init__(
        self,
        skeleton: dict[str, Any],
        context_slots: list[Any],
        make: Callable[[dict[str, Any], dict[str, Any], Any], Fill],
        written: frozenset[str],
    ) -> None:
        self.skeleton = skeleton
        self.context_slots = context_slots
        self.make = make  # (out, template, name) -> that context's fill
        self.written = written  # the line's top keys a call writes to

    def out_for(self, template: dict[str, Any]) -> dict[str, Any] | None:
        """The shape's line for this context, its values in place; None when one of them is
        of a type that could take another place."""
        out: dict[str, Any] = _copy_containers(self.skeleton)
        for key, paths, kinds, fits in self.context_slots:
            value = template[key]
            if type(value) not in kinds:
                return None
            if fits is not None and fits(value) is _MISSING:
                return None
            for path in paths:
                _put_at(out, path, value)
        return _rendered_runs(out, self.written)


def _rendered_runs(out: dict[str, Any], written: frozenset[str]) -> dict[str, Any]:
    """``out`` with each run of top keys that no call writes to rendered once.

    The run's first key keeps its place and holds the rest of the run as an
    ``orjson.Fragment`` (JSON that orjson writes as it is): its value, then
    ``,"key":value`` for each key after it, which are left out of the dict.
    The line renders to the same bytes, with less left to render per call.
    """
    if _Fragment is None:
        return out
    try:
        result: dict[str, Any] = {}
        run: list[bytes] = []
        first = ""
        for key, value in out.items():
            if key in written:
                if run:
                    result[first] = _Fragment(b",".join(run))
                    run = []
                result[key] = value
            elif run:
                run.append(dumps({key: value}, option=_PART_OPTIONS)[1:-1])
            else:
                first = key
                result[first] = None  # its place in the line's order
                run.append(dumps(value, option=_PART_OPTIONS))
        if run:
            result[first] = _Fragment(b",".join(run))
        return result
    except Exception:  # a value orjson renders only with help: rendered per call, as it is
        return out


# The top keys every call writes to.
_EVERY_CALL = frozenset(("@timestamp", "log.level", "message"))
_Fragment: Any = getattr(orjson, "Fragment", None)  # orjson 3.9.0 and later
_PART_OPTIONS = LINE_OPTIONS & ~orjson.OPT_APPEND_NEWLINE
# The pipeline's own values in the context's part: text (or the sampled flag), placed as they are.
_PIPELINE_VALUES = frozenset((TRACE_ID, SPAN_ID, PARENT_SPAN_ID, SPAN_NAME, SERVICE, TRACE_SAMPLED))
# Places of the ecs line that hold no value of the event's, or one every call sets.
_ECS_CONSTANT_PATHS = frozenset((("@timestamp",), ("log.level",), ("message",), ("ecs.version",)))


def _type_of(value: Any) -> tuple[frozenset[type], Any]:
    return frozenset((type(value),)), None


def _leaf_paths(value: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every value of a laid-out line that is not a dict, by its path."""
    paths: dict[tuple[str, ...], Any] = {}
    for key, item in value.items():
        path = (*prefix, key)
        if type(item) is dict:
            paths.update(_leaf_paths(item, path))
        else:
            paths[path] = item
    return paths


def _put_at(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _compile_fill(slots: list[Any]) -> Callable[..., Fill]:
    """``make(out, template, name)``: the fill of one context's line ``out`` of the shape,
    generated for the shape's slots (one check and one store a value, no loop).

    A fill puts a call's values (and its time, ``stamp``) in ``out`` and
    renders it. It returns None for a value whose type or range would take
    another place, and SHAPE for a call that is not of its line: another
    context's line, another logger, or other keys (the same in another
    order are another layout). The line, its containers that a call writes
    to, the template and the name are the fill's closure; keys, places and
    bounds are literals in its code; the rest are its globals.
    """
    names: dict[str, Any] = {"SHAPE": SHAPE, "MISSING": _MISSING, "dumps": dumps}
    names["OPTIONS"] = LINE_OPTIONS
    in_long = f"if not {_LONG_MIN} <= v <= {_LONG_MAX}: return None"
    # The containers a call writes into, each bound once per line.
    containers: dict[tuple[str, ...], str] = {}
    prologue: list[str] = []
    for _, path, _, _ in slots:
        if len(path) > 1 and path[:-1] not in containers:
            containers[path[:-1]] = f"c{len(containers)}"
            where = "".join(f"[{part!r}]" for part in path[:-1])
            prologue.append(f"    {containers[path[:-1]]} = out{where}")
    body = [
        "        if template is not TEMPLATE or name is not NAME and name != NAME:",
        "            return SHAPE",
    ]
    keys = [f"k{number}" for number in range(len(slots))]
    if keys:  # the keys, in order: unpacked (no tuple made), then compared
        compared = " or ".join(f"{k} != {slot[0]!r}" for k, slot in zip(keys, slots, strict=True))
        body += [
            "        try:",
            f"            {', '.join(keys)}, = fields",
            "        except ValueError:",
            "            return SHAPE",
            f"        if {compared}:",
            "            return SHAPE",
        ]
    else:
        body.append("        if fields: return SHAPE")
    for number, (key, path, kinds, fits) in enumerate(slots):
        body.append(f"        v = fields[{key!r}]")
        body.append(f"        {_type_test(kinds, number, names)}: return None")
        if fits is _in_long_range:  # inlined: the checks a long and a duration need
            body.append(f"        {in_long}")
        elif fits is _nanoseconds:
            body += [
                "        try:",
                "            v = int(v * 1000000)",
                "        except (OverflowError, ValueError):",
                "            return None",
                f"        {in_long}",
            ]
        elif fits is not None:
            names[f"f{number}"] = fits
            body += [f"        v = f{number}(v)", "        if v is MISSING: return None"]
        target = containers.get(path[:-1], "out")
        body.append(f"        {target}[{path[-1]!r}] = v")
    source = "\n".join(
        [
            "def make(out, TEMPLATE, NAME):",
            *prologue,
            "    def fill(template, name, fields, stamp, method, message):",
            *body,
            # On a whole second the plain chain writes .000000, which orjson leaves out.
            "        if not stamp.microsecond: return None",
            "        out['@timestamp'] = stamp",
            "        out['log.level'] = method",
            "        out['message'] = message",
            "        try:",
            "            return dumps(out, option=OPTIONS)",
            "        except Exception:",
            "            return None",
            "    return fill",
        ]
    )
    namespace = dict(names)
    exec(source, namespace)
    make: Callable[..., Fill] = namespace["make"]
    return make


def _type_test(kinds: frozenset[type], number: int, names: dict[str, Any]) -> str:
    """The generated test that ``v``'s type is not one of ``kinds``: ``is not`` for one or
    two of the builtin types (their names are the fill's globals), a set lookup otherwise."""
    if len(kinds) == 1 and all(kind in _BUILTIN_NAMES for kind in kinds):
        (kind,) = kinds
        names[_BUILTIN_NAMES[kind]] = kind
        return f"if type(v) is not {_BUILTIN_NAMES[kind]}"
    if len(kinds) == 2 and all(kind in _BUILTIN_NAMES for kind in kinds):
        for kind in kinds:
            names[_BUILTIN_NAMES[kind]] = kind
        tests = " and ".join(f"t is not {_BUILTIN_NAMES[kind]}" for kind in sorted(kinds, key=str))
        return f"t = type(v)\n        if {tests}"
    names[f"t{number}"] = kinds
    return f"if type(v) not in t{number}"


_BUILTIN_NAMES: dict[type, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "NoneType",
}


_NUMBERS = frozenset((int, float))
_ANY_LEAF: frozenset[type] = frozenset(kind for kind in LEAF_TYPES if isinstance(kind, type))
_TEXT = frozenset((str,))
_INTEGERS = frozenset((int,))


_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def _nanoseconds(value: Any) -> Any:
    """``duration_ms`` as the ecs layout writes ``event.duration``; _MISSING when it would not
    (what :func:`tracelog.schema.duration_ns` and a long's range say)."""
    nanoseconds = duration_ns(value)
    if nanoseconds is None or not _LONG_MIN <= nanoseconds <= _LONG_MAX:
        return _MISSING
    return nanoseconds


def _in_long_range(value: Any) -> Any:
    return value if _LONG_MIN <= value <= _LONG_MAX else _MISSING


def _copy_containers(value: Any) -> Any:
    """``value`` with every dict copied (as plain dicts), the leaves shared."""
    if isinstance(value, dict):
        return {key: _copy_containers(item) for key, item in value.items()}
    return value


def _ecs_check(kind: str, value: Any) -> tuple[frozenset[type] | None, Any]:
    """The value types that keep an ECS field's place without coercion, and a check for
    the rest of what the type needs (the range of a long); None when not covered."""
    if not ecs_value_fits(kind, value):
        return None, None
    # What the kind takes of a str, an int, a float and a bool.
    takes = tuple(ecs_value_fits(kind, probe) for probe in ("x", 1, 1.5, True))
    if takes == (True, False, False, False):
        return _TEXT, None  # keyword and the other text types: any str
    if takes == (False, True, False, False) and type(value) is int:
        return _INTEGERS, _in_long_range  # long, integer...: an int in a long's range
    if takes == (False, True, True, False) and type(value) in _NUMBERS:
        return _NUMBERS, None  # float, double...: any int or float

    def fits(candidate: Any) -> Any:
        return candidate if ecs_value_fits(kind, candidate) else _MISSING

    return frozenset((type(value),)), fits
