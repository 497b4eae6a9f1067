"""Fast paths generated from a pipeline's resolved chain, byte for byte equal to it.

:func:`compile_emit` looks at the chain ``configure()`` resolved (the merger,
what follows it, each output's layout and renderer) and, where a shorter way
writes the same bytes, returns an ``emit`` for the pipeline to use instead of
its plain one. It covers the chains that are nothing but the merger and JSON
outputs in the ``default`` layout (any number of them) or one ``ecs`` output;
every other chain keeps the plain ``emit``. At call time a fast path takes
the plain chain for anything it does not handle itself (a context whose line
is not cached yet, an unusual key, a value orjson needs help with): it never
writes a different line. :func:`record_handler` does the same for stdlib
records, reading the record's dict directly.

tests/test_fastpath.py draws configurations and calls and checks that each
fast path writes what the plain chain writes.

The tables of a record's standard attributes are here too: both paths read them.
"""

from __future__ import annotations

import logging
import threading
import types
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from tracelog import context
from tracelog import pipeline as _pipeline
from tracelog._levels import LEVELS, STD_NAMES
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
from tracelog.outputs._writer import BackgroundWriter
from tracelog.processors import (
    LINE_OPTIONS,
    STRUCTLOG_VARS,
    TraceMerger,
    line_now,
    line_time,
)
from tracelog.redaction import CACHE_LIMIT, LEAF_TYPES
from tracelog.render import JsonRenderer, dumps, render_json, with_microseconds
from tracelog.schema import Projection, duration_ns
from tracelog.schema._ecs import ecs_value_fits

if TYPE_CHECKING:
    from tracelog.pipeline import Emit, Pipeline

__all__ = ["compile_emit", "default_line", "record_handler"]

# Attributes every LogRecord has, in the order LogRecord.__init__ sets them;
# makeRecord adds ``extra=`` after them, so anything past them came from ``extra=``.
PLAIN_RECORD_ATTRS = tuple(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
N_PLAIN = len(PLAIN_RECORD_ATTRS)
STANDARD_ATTRS = frozenset({*PLAIN_RECORD_ATTRS, "message", "asctime", "taskName"})
# Set on a record by a formatter that ran before ours (after ``extra=`` fields).
SET_LATE = frozenset(("message", "asctime"))
# Stamped by TraceFilter; the pipeline writes its own.
STAMPED = frozenset((TRACE_ID, SPAN_ID, PARENT_SPAN_ID))
# uvicorn's copy of the message with terminal colour codes: noise in a JSON line.
LEFT_OUT = frozenset(("color_message",))
# A key past the standard ones that is one of these: the record needs a closer look.
NOT_EXTRA = STANDARD_ATTRS | STAMPED | LEFT_OUT
_NEWLINE = b"\n"
_MISSING = object()
_NO_LINES: dict[Any, Any] = {}
Handle = Callable[[logging.LogRecord], bool]
_get_context = context.current_var.get
_otel_imported = context.otel_imported


def default_line(
    merger: TraceMerger, name: Any, created: float | None, method: str, message: Any, fields: Any
) -> bytes:
    """The line the plain chain (merger, JSON renderer) writes for one call, in one go.

    The values are searched for nested secrets only when the line shows an
    object past its first byte: whatever has keys (a mapping, a dataclass)
    renders as one when orjson renders it, and anything else orjson cannot
    render (a NamedTuple, an object of yours) takes the full renderer after a
    search. A line with no ``{`` past its first byte holds no key to redact.
    """
    event = merger.merge(name, created, method, message, fields, False, True)
    redactor = merger.redactor
    try:
        line = dumps(event, option=LINE_OPTIONS)
    except Exception:  # a value orjson needs help with: redact, then the full renderer
        if redactor is not None:
            redactor.redact_nested(event, ())
        return render_json(event)
    if redactor is None or line.find(b"{", 1) == -1:
        return line
    if redactor.redact_nested(event, ()):  # rendered again only when a secret was found
        return render_json(event)
    return line


def _layout(tail: tuple[Any, ...]) -> str | None:
    """What a group's steps after the shared chain are: ``default``, ``ecs``, or None (other)."""
    if not tail or type(tail[-1]) is not JsonRenderer:
        return None
    if len(tail) == 1:
        return "default"
    if len(tail) == 2 and type(tail[0]) is Projection:
        projection = tail[0]
        if projection.is_identity:
            return "default"
        if projection.name == "ecs" and not projection.rename and not projection.static:
            return "ecs"
    return None


def compile_emit(pipeline: Pipeline) -> Emit | None:
    """A fast ``emit`` for ``pipeline``, or None when its chain is not one this module covers."""
    merger = pipeline.merger
    if merger is None or pipeline.steps:
        return None
    layouts = [(_layout(tail), tail, pairs) for _, tail, pairs in pipeline.groups]
    if any(kind is None for kind, _, _ in layouts):
        return None
    plain = pipeline.emit_plain
    if len(layouts) == 1 and len(layouts[0][2]) == 1:
        kind, tail, ((_, write),) = layouts[0]
        if kind == "default":
            merge = merger.merge
            redactor = merger.redactor

            def emit_default(
                name: Any, created: Any, method: str, message: Any, fields: Any, logger: Any = None
            ) -> None:
                # default_line(), inlined: this is the call most lines take.
                event = merge(name, created, method, message, fields, False, True)
                try:
                    line = dumps(event, option=LINE_OPTIONS)
                except Exception:  # a value orjson needs help with: redact, then the full renderer
                    if redactor is not None:
                        redactor.redact_nested(event, ())
                    write(render_json(event))
                    return
                if (
                    redactor is not None
                    and line.find(b"{", 1) != -1
                    and redactor.redact_nested(event, ())
                ):
                    line = render_json(event)
                write(line)

            return emit_default
        ecs = EcsLine(merger, tail[0], plain)
        ecs_line = ecs.line
        local = ecs.local
        bare = merger._bare

        def emit_ecs(
            name: Any, created: Any, method: str, message: Any, fields: Any, logger: Any = None
        ) -> None:
            # EcsLine.line() for a context whose line this thread has built, inlined.
            ctx = _get_context()
            template = ctx._line if ctx is not None else (None if _otel_imported() else bare)
            if (
                template is not None
                and type(message) is str
                and (ctx is None or ctx._line_owner is merger)
                and not STRUCTLOG_VARS
            ):
                entry = getattr(local, "lines", _NO_LINES).get((id(template), name, *fields))
                if entry is not None and entry[0] is template:
                    line = entry[2](entry[1], fields, created, method, message)
                    if line is not None:
                        write(line)
                        return
            line = ecs_line(name, created, method, message, fields)
            if line is not None:
                write(line)
            else:
                plain(name, created, method, message, fields, logger)

        return emit_ecs
    if len(layouts) != 1:
        return None  # several layouts: each output's projection runs on the plain chain
    pairs = layouts[0][2]
    levels = LEVELS

    def emit_fanout(
        name: Any, created: Any, method: str, message: Any, fields: Any, logger: Any = None
    ) -> None:
        levelno = levels.get(method)
        if levelno is None:  # a level of your own: the plain chain names it
            plain(name, created, method, message, fields, logger)
            return
        line = default_line(merger, name, created, method, message, fields)
        for min_level, write in pairs:
            if levelno >= min_level:
                try:
                    write(line)
                except Exception as error:
                    pipeline.output_failed(error)

    return emit_fanout


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
    """

    __slots__ = ("_places", "_recipes", "local", "merger", "projection")

    def __init__(self, merger: TraceMerger, projection: Projection, plain: Emit) -> None:
        self.merger = merger
        self.projection = projection
        self._recipes: dict[tuple[Any, ...], Recipe | None] = {}  # shape -> recipe, or None
        self.local = threading.local()  # .lines: (template, name, keys) -> (template, out, fill)
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
        try:
            lines = self.local.lines
        except AttributeError:
            lines = self.local.lines = {}
        key = (id(template), name, *fields)
        entry = lines.get(key)
        if entry is None or entry[0] is not template:
            entry = self._line_for(lines, key, template, name, method, fields)
            if entry is None:
                return None
        return entry[2](entry[1], fields, created, method, message)  # type: ignore[no-any-return]

    def _line_for(
        self,
        lines: dict[Any, Any],
        key: tuple[Any, ...],
        template: dict[str, Any],
        name: Any,
        method: str,
        fields: Any,
    ) -> tuple[Any, ...] | None:
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
        entry = (template, out, recipe.fill)
        if len(lines) >= 1000:
            lines.clear()
        lines[key] = entry
        return entry

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
        return Recipe(skeleton, context_slots, _compile_fill(call_slots))

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


class Recipe:
    """A shape's layout: where each value goes, and the function that puts a call's in."""

    __slots__ = ("context_slots", "fill", "skeleton")

    def __init__(
        self, skeleton: dict[str, Any], context_slots: list[Any], fill: Callable[..., Any]
    ) -> None:
        self.skeleton = skeleton
        self.context_slots = context_slots
        self.fill = fill

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
        return out


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


def _compile_fill(slots: list[Any]) -> Callable[..., bytes | None]:
    """A function that puts a call's values in a context's line and renders it, generated
    for the shape's slots (one check and one store a value, no loop); None for a value
    whose type or range would take another place."""
    names: dict[str, Any] = {
        "MISSING": _MISSING,
        "line_now": line_now,
        "line_time": line_time,
        "with_microseconds": with_microseconds,
        "dumps": dumps,
        "OPTIONS": LINE_OPTIONS,
        "LONG_MIN": _LONG_MIN,
        "LONG_MAX": _LONG_MAX,
    }
    body: list[str] = []
    for number, (key, path, kinds, fits) in enumerate(slots):
        names[f"k{number}"] = key
        names[f"t{number}"] = kinds
        for depth, part in enumerate(path):
            names[f"p{number}_{depth}"] = part
        body.append(f"    v = fields[k{number}]")
        body.append(f"    if type(v) not in t{number}: return None")
        if fits is _in_long_range:  # inlined: the checks a long and a duration need
            body.append("    if not LONG_MIN <= v <= LONG_MAX: return None")
        elif fits is _nanoseconds:
            body += [
                "    try:",
                "        v = int(v * 1000000)",
                "    except (OverflowError, ValueError):",
                "        return None",
                "    if not LONG_MIN <= v <= LONG_MAX: return None",
            ]
        elif fits is not None:
            names[f"f{number}"] = fits
            body += [f"    v = f{number}(v)", "    if v is MISSING: return None"]
        target = "out" + "".join(f"[p{number}_{depth}]" for depth in range(len(path)))
        body.append(f"    {target} = v")
    defaults = "".join(f", {name}={name}" for name in names)
    source = "\n".join(
        [
            f"def fill(out, fields, created, method, message{defaults}):",
            *body,
            "    stamp = line_now() if created is None else line_time(created)",
            "    out['@timestamp'] = stamp if stamp.microsecond else with_microseconds(stamp)",
            "    out['log.level'] = method",
            "    out['message'] = message",
            "    try:",
            "        return dumps(out, option=OPTIONS)",
            "    except Exception:",
            "        return None",
        ]
    )
    namespace = dict(names)
    exec(source, namespace)
    fill: Callable[..., bytes | None] = namespace["fill"]
    return fill


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


def record_handler(handler: logging.Handler, pipeline: Pipeline) -> Handle | None:
    """``handle(record)`` for ``handler`` under ``pipeline``; None when its chain is not covered.

    Covered: the merger and JSON outputs in the default layout (one or
    several). ``handler``'s class ``handle`` is the general path the result
    falls back to, for every record it does not handle itself.
    """
    merger = pipeline.merger
    if merger is None or pipeline.steps or len(pipeline.groups) != 1:
        return None
    _, tail, pairs = pipeline.groups[0]
    if _layout(tail) != "default":
        return None
    general: Handle = types.MethodType(type(handler).handle, handler)
    single = len(pairs) == 1
    write = pairs[0][1]
    writer: Any = getattr(write, "__self__", None)
    queue: Any = None
    capacity = 0
    if single and type(writer) is BackgroundWriter and write == writer.write:
        queue = writer._queue
        capacity = writer.queue_size
    # The queue holds exact copies (orjson's bytes keep ~4 KiB): rendered
    # without the newline, the copy is ``line + b"\n"``.
    options = LINE_OPTIONS & ~orjson.OPT_APPEND_NEWLINE if queue is not None else LINE_OPTIONS
    plain = merger._plain
    redactor = merger.redactor
    bare = merger._bare
    with_structlog = merger.with_structlog
    get_context = _get_context
    otel_imported = _otel_imported
    level_names = STD_NAMES
    # extra= keys this handler has seen plain: the merger's plain keys that
    # record_fields() takes as they are.
    known: set[str] = set()

    def handle(record: logging.LogRecord) -> bool:
        if handler.filters:
            return general(record)
        ctx = get_context()
        if ctx is not None:
            template = ctx._line
            if template is None or ctx._line_owner is not merger:
                return general(record)  # it builds the context's template for the next call
        elif otel_imported():
            return general(record)
        else:
            template = bare
        try:
            # The record's attributes read from its dict: cheaper than attribute lookups.
            attrs = record.__dict__
            if STRUCTLOG_VARS:
                template = with_structlog(template)
                if template is None:
                    return general(record)
            event = template.copy()
            if len(attrs) != N_PLAIN:
                for key in islice(attrs, N_PLAIN, None):
                    if key not in known:
                        if key in SET_LATE:  # a formatter ran before ours (pytest's caplog)
                            continue
                        if key in NOT_EXTRA or key not in plain or len(known) >= CACHE_LIMIT:
                            return general(record)
                        known.add(key)
                    event[key] = attrs[key]
            if attrs["exc_info"] or attrs["stack_info"]:
                return general(record)
            msg = attrs["msg"]
            message = msg if type(msg) is str and not attrs["args"] else record.getMessage()
            if type(message) is not str:
                return general(record)
            levelno = attrs["levelno"]
            event[LEVEL] = level_names[levelno]
            stamp = line_time(attrs["created"])
            if not stamp.microsecond:
                return general(record)  # a whole second: rendered with its .000000 there
            event[TIMESTAMP] = stamp
            event[LOGGER] = attrs["name"]
            event[MESSAGE] = message
            line = dumps(event, option=options)
            full = None
            # Whatever has keys renders as a JSON object: only then can a secret be nested.
            if (
                redactor is not None
                and line.find(b"{", 1) != -1
                and redactor.redact_nested(event, ())
            ):
                full = render_json(event)
        except Exception:  # a value orjson needs help with, a bad %-format, a custom level
            return general(record)
        if not single:
            if full is None:
                full = line
            for min_level, out in pairs:
                if levelno >= min_level:
                    try:
                        out(full)
                    except Exception as error:
                        pipeline.output_failed(error)
        elif full is not None:
            write(full)
        elif queue is None:
            write(line)
        elif len(queue) < capacity:
            queue.append(line + _NEWLINE)
            if writer._idle:
                writer._wake()
        else:
            write(line + _NEWLINE)
        return True

    return handle


def _install(pipeline: Pipeline) -> None:
    """Give a newly installed pipeline its fast ``emit``, where one is generated for its chain.

    Made once per pipeline: installed again, it keeps what its fast path learned.
    """
    if pipeline.compiled is None:
        pipeline.compiled = compile_emit(pipeline) or pipeline.emit_plain
    pipeline.emit = pipeline.compiled


_pipeline.on_install.append(_install)
_install(_pipeline.installed)
