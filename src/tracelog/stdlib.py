"""The stdlib bridge: ``logging`` records through the same pipeline as structlog events.

- :class:`TracelogHandler` sits on the root logger (``configure()`` puts it
  there), so every stdlib logger, yours and your dependencies', comes out as
  tracelog lines.
- :func:`record_to_event` turns a ``LogRecord`` into an event dict.
- :class:`TraceFilter` stamps trace ids and bound fields on records for an
  existing formatter (python-json-logger, a hand-written one).
- :class:`JsonFormatter` is tracelog's line as a ``logging.Formatter``, for
  ``logging.config.dictConfig``.
- :func:`install_root_handler` and :func:`capture_warnings` are what
  ``configure()`` does to the root logger and to ``warnings``, and undoes.
"""

from __future__ import annotations

import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from typing import Any

from structlog import DropEvent

from tracelog import _fastpath, context
from tracelog import pipeline as _pipeline
from tracelog._errors import ConfigurationError
from tracelog._fastpath import LEFT_OUT, N_PLAIN, NOT_EXTRA, SET_LATE, STAMPED, STANDARD_ATTRS
from tracelog._pjl_compat import (
    PJL_OPTIONS,
    SubclassHooks,
    ValueDefault,
    merged_fields,
    refused_hooks,
    static_values,
)
from tracelog._settings import Settings
from tracelog.fields import PARENT_SPAN_ID, SPAN_ID, TRACE_ID
from tracelog.propagation import REQUEST_ID_FIELD
from tracelog.redaction import Redactor
from tracelog.render import safe_repr, safe_str
from tracelog.typing import EventDict

__all__ = [
    "KEEP_ON_ROOT",
    "FilterDefault",
    "JsonFormatter",
    "TraceFilter",
    "TracelogHandler",
    "forget_saved_handler",
    "keep_on_root",
    "record_fields",
    "record_to_event",
    "root_handler",
    "stays_on_root",
]

_LEVEL_NAMES = _pipeline.STD_NAMES  # bound here: read on every record
_DEFAULT_REDACTOR = Redactor()


def _stamped_by_filter(key: str, value: Any) -> bool:
    """Whether a trace key on a record is the current context's (TraceFilter's), not a user's."""
    if type(value) is FilterDefault:
        return True
    ctx = context.current()
    return ctx is not None and value == getattr(ctx, key, None)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception as error:
        # A %-format that does not match its args: keep both, never raise.
        return (
            f"{safe_str(record.msg)} "
            f"[format error: {type(error).__name__}; args={safe_repr(record.args)}]"
        )


def record_message(record: logging.LogRecord) -> Any:
    """A record's message: its text, or a mapping logged as the message (``log.info({...})``),
    which is kept whole, as a structlog dict event is: redacted and rendered as an object."""
    msg = record.msg
    if not record.args:
        if type(msg) is str:
            return msg
        if isinstance(msg, Mapping):
            return msg
    return _message(record)


def record_fields(record: logging.LogRecord) -> EventDict:
    """A record's own fields: its ``extra=`` fields, and ``exc_info``/``stack_info`` when set."""
    attrs = record.__dict__
    fields: EventDict = {}
    if len(attrs) != N_PLAIN:
        # LogRecord.__init__ sets the standard attributes first and makeRecord
        # adds ``extra=`` after them, so the extras are the keys past those.
        for key in islice(attrs, N_PLAIN, None):
            if key in NOT_EXTRA:
                fields = _scanned_extras(attrs)
                break
            fields[key] = attrs[key]
    exc_info = record.exc_info
    if exc_info and exc_info[0] is not None:
        fields["exc_info"] = exc_info
    if record.stack_info:
        fields["stack_info"] = record.stack_info
    return fields


def _scanned_extras(attrs: dict[str, Any]) -> EventDict:
    """The extras of a record whose attributes came in another order, carry stamped ids,
    or hold uvicorn's coloured message.

    The record's own fields are the trailing run of non-standard keys; a
    formatter that ran before ours may have set ``message``/``asctime`` after
    them, and TraceFilter may have stamped the current ids.
    """
    extra: list[str] = []
    for key in reversed(attrs):
        if key in STANDARD_ATTRS:
            if key in SET_LATE:
                continue
            break
        if key in LEFT_OUT or type(attrs[key]) is FilterDefault:  # TraceFilter's "-"
            continue
        if key not in STAMPED or not _stamped_by_filter(key, attrs[key]):
            extra.append(key)
    return {key: attrs[key] for key in reversed(extra)}


def record_to_event(record: logging.LogRecord) -> EventDict:
    """The event dict for a stdlib record: message, ``extra=`` fields, exception, stack.

    The message is under structlog's ``event`` key; an ``extra=`` field named
    ``event`` moves to ``event_``.
    """
    event_dict = record_fields(record)
    if "event" in event_dict:
        event_dict = {"event_" if key == "event" else key: v for key, v in event_dict.items()}
    event_dict["event"] = _message(record)
    return event_dict


class TracelogHandler(logging.Handler):
    """A root handler that runs every record through tracelog's active pipeline.

    With the usual chain (the merger, the JSON renderer, one output) each
    handler's ``handle`` is the inlined one :mod:`tracelog._fastpath` builds for
    the active pipeline, set on the instance whenever a pipeline is installed;
    the class's ``handle`` below is the general path, taken for everything else.
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        _handlers.add(self)
        _use_fast_handle(self, _pipeline.installed)

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: the pipeline is thread-safe and outputs write whole lines.
        if self.filters and not self.filter(record):
            return False
        pipeline = _pipeline.installed
        fields: Any = None
        event_dict: Any = None
        method_name = "error"
        try:
            method_name = _LEVEL_NAMES.get(record.levelno) or str(record.levelname).lower()
            if pipeline.merger is None:
                event_dict = record_to_event(record)
                pipeline.finish(record, method_name, event_dict)
                return True
            fields = record_fields(record)
            message = record_message(record)
            pipeline.emit(record.name, record.created, method_name, message, fields, record)
        except DropEvent:
            pass
        except Exception as error:
            # Keep what the record said: the last dict the chain made, else its own fields.
            kept = event_dict if isinstance(event_dict, dict) else fields or {}
            pipeline.fail(record, method_name, {**kept, "event": _message(record)}, error)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


_handlers: weakref.WeakSet[TracelogHandler] = weakref.WeakSet()


def _use_fast_handle(handler: TracelogHandler, pipeline: _pipeline.Pipeline) -> None:
    """Give ``handler`` the inlined ``handle`` for ``pipeline``, or its class's general one."""
    handle = _fastpath.record_handler(handler, pipeline)
    if handle is not None:
        handler.handle = handle  # type: ignore[method-assign,assignment]
    else:
        handler.__dict__.pop("handle", None)


def _on_install(pipeline: _pipeline.Pipeline) -> None:
    for handler in list(_handlers):
        _use_fast_handle(handler, pipeline)


_pipeline.on_install.append(_on_install)


# --- the root logger and warnings, as configure() sets them ---------------------

_handler: TracelogHandler | None = None
_saved_root: tuple[list[logging.Handler], int] | None = None
_saved_showwarning: Any = None


def install_root_handler(levelno: int | None) -> None:
    """Put one TracelogHandler on the root logger (or remove it when levelno is None).

    The root logger's own handlers and level are saved the first time and
    restored when it is removed.
    """
    global _handler, _saved_root
    root = logging.getLogger()
    if levelno is None:
        if _handler is not None:
            root.removeHandler(_handler)
            _handler = None
        if _saved_root is not None:
            handlers, old_level = _saved_root
            for handler in handlers:
                root.addHandler(handler)
            root.setLevel(old_level)
            _saved_root = None
        return
    kept = [h for h in root.handlers if h is not _handler and stays_on_root(h)]
    if _saved_root is None:
        _saved_root = (
            [h for h in root.handlers if h is not _handler and h not in kept],
            root.level,
        )
    # One new list, not a remove then an add: a thread logging meanwhile sees the old
    # handlers or the new one, never none (logging.lastResort would print its record as
    # text) and never both (a line twice).
    _handler = TracelogHandler()
    root.handlers = [*kept, _handler]
    root.setLevel(levelno)


def root_handler() -> TracelogHandler | None:
    """The handler configure() put on the root logger, or None."""
    return _handler


def forget_saved_handler(handler: logging.Handler) -> None:
    """Leave ``handler`` out of the root handlers a later reset() gives back."""
    if _saved_root is not None and handler in _saved_root[0]:
        _saved_root[0].remove(handler)


#: The attribute that marks a root handler configure() leaves in place (see keep_on_root()).
KEEP_ON_ROOT = "tracelog_keep"


def keep_on_root(handler: logging.Handler) -> logging.Handler:
    """Mark ``handler`` so that ``configure()`` leaves it on the root logger, beside tracelog's.

    pytest's capture handlers (``caplog``, live logging, ``--log-file``) stay there unmarked.
    """
    setattr(handler, KEEP_ON_ROOT, True)
    return handler


def stays_on_root(handler: logging.Handler) -> bool:
    """Whether configure() keeps ``handler`` on the root logger: pytest's own, or marked."""
    return bool(getattr(handler, KEEP_ON_ROOT, False)) or (
        type(handler).__module__ == "_pytest.logging"
    )


def _showwarning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    if file is not None:  # an explicit file wins, as in the stdlib
        if _saved_showwarning is not None:
            _saved_showwarning(message, category, filename, lineno, file, line)
        return
    logger = logging.getLogger("py.warnings")
    if not logger.isEnabledFor(logging.WARNING):
        return
    # The record names the warning's place (what a call site is for a warning), not this hook.
    record = logger.makeRecord(
        logger.name,
        logging.WARNING,
        filename,
        lineno,
        "%s",
        (str(message),),
        None,
        extra={"category": category.__name__, "location": f"{filename}:{lineno}"},
    )
    logger.handle(record)


def capture_warnings(enabled: bool) -> None:
    """Route ``warnings.warn`` to the ``py.warnings`` logger (or restore the previous hook)."""
    global _saved_showwarning
    if enabled:
        if _saved_showwarning is None:
            _saved_showwarning = warnings.showwarning
        warnings.showwarning = _showwarning
    elif _saved_showwarning is not None:
        warnings.showwarning = _saved_showwarning
        _saved_showwarning = None


class FilterDefault(str):
    """The value TraceFilter gives a field the context does not have (``"-"``)."""

    __slots__ = ()


class TraceFilter(logging.Filter):
    """Stamp ``trace_id``, ``span_id``, ``parent_span_id`` and bound fields on each record.

    For teams keeping their formatter: python-json-logger (or any formatter
    that reads record attributes) then emits them unchanged. Bound fields are
    redacted as tracelog's own lines are (the keys ``configure(redact=...)``
    set, else the default ones). Existing record attributes are never
    overwritten. Always lets the record through.

    ``trace_id``, ``span_id``, ``parent_span_id``, ``request_id`` and the
    names in ``keys`` are always set: to ``default`` (``"-"``) when the
    context has no value, so a format string naming them (``%(request_id)s``)
    never loses the line outside a request. ``default=None`` sets only what
    the context has.
    """

    def __init__(
        self,
        name: str = "",
        *,
        fields: bool = True,
        default: str | None = "-",
        keys: Iterable[str] = (),
    ) -> None:
        super().__init__(name)
        self.fields = fields
        self.default = None if default is None else FilterDefault(default)
        self.keys = (TRACE_ID, SPAN_ID, PARENT_SPAN_ID, REQUEST_ID_FIELD, *keys)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._stamp(record)
        except Exception:
            pass
        if self.default is not None:
            attrs = record.__dict__
            for key in self.keys:
                if key not in attrs:
                    attrs[key] = self.default
        return True

    def _stamp(self, record: logging.LogRecord) -> None:
        ctx = context.current()
        if ctx is not None:
            attrs = record.__dict__
            if ctx.trace_id is not None:
                attrs.setdefault(TRACE_ID, ctx.trace_id)
                attrs.setdefault(SPAN_ID, ctx.span_id)
                if ctx.parent_span_id is not None:
                    attrs.setdefault(PARENT_SPAN_ID, ctx.parent_span_id)
            if self.fields and ctx.fields:
                merger = _pipeline.installed.merger
                redactor = merger.redactor if merger is not None else _DEFAULT_REDACTOR
                fields: EventDict = dict(ctx.fields)
                if redactor is not None:
                    fields = redactor.redact(fields)
                for key, value in fields.items():
                    if key not in STANDARD_ATTRS:
                        attrs.setdefault(key, value)


class JsonFormatter(logging.Formatter):
    """tracelog's JSON line as a ``logging.Formatter``.

    Usable from ``dictConfig`` (``{"()": "tracelog.stdlib.JsonFormatter"}``).
    With no arguments it uses the pipeline set by ``tracelog.configure()``
    (or the defaults and ``TRACELOG_*`` environment when there is none);
    given ``service``, ``schema``, ``redact``, ``static`` or ``rename`` it
    builds its own chain the same way ``configure()`` does. ``fmt``,
    ``datefmt``, ``style`` and ``validate`` are accepted and unused: the
    line's shape is tracelog's. Any other option is an error, so a
    python-json-logger option left in a config is not silently dropped.

    As python-json-logger does: ``defaults`` fill fields a record lacks, a
    dict logged as the message joins the line, ``json_default`` renders values
    orjson has no rule for, ``static_fields`` is ``static``, and a subclass's
    ``add_fields()`` and ``process_log_record()`` are called with the event
    dict (see :mod:`tracelog._pjl_compat` and docs/stdlib.md).
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        defaults: Mapping[str, Any] | None = None,
        service: str | None = None,
        schema: str | None = None,
        redact: Iterable[str] | None = None,
        static: Mapping[str, Any] | None = None,
        rename: Mapping[str, str] | None = None,
        json_default: Callable[[Any], Any] | None = None,
        static_fields: Mapping[str, Any] | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise TypeError(_unknown_options(unknown))
        refused = refused_hooks(type(self))
        if refused is not None:
            raise TypeError(refused)
        super().__init__(None, datefmt)
        self._defaults = dict(defaults) if defaults else None
        static = static_values(static if static is not None else static_fields)
        extra: list[Any] = []
        if (
            type(self).add_fields is not JsonFormatter.add_fields
            or type(self).process_log_record is not JsonFormatter.process_log_record
        ):
            extra.append(SubclassHooks(self))
        self.json_default = json_default
        if json_default is not None:
            extra.append(ValueDefault(json_default))
        self._extra = tuple(extra)
        self._own: Settings | None = None
        if service is not None or schema is not None or redact is not None or static or rename:
            try:
                self._own = Settings.resolve(
                    service=service,
                    schema=schema,
                    redact=redact,
                    static=static,
                    rename=rename,
                    format="json",
                )
            except ConfigurationError as error:
                raise TypeError(str(error)) from None
        self._pipelines: tuple[Settings, _pipeline.Pipeline] | None = None

    def _pipeline(self) -> _pipeline.Pipeline:
        """The funnel this formatter runs: its own settings, else configure()'s, else defaults."""
        settings = self._own
        if settings is None:
            settings = _pipeline.installed.settings
            if settings is None or settings.capture:
                # Nothing configured: the defaults and the environment as they are now.
                settings = _default_settings()
        kept = self._pipelines
        if kept is not None and (kept[0] is settings or kept[0] == settings):
            return kept[1]
        base = settings
        if self._extra:  # after your processors, before redaction: what they add is redacted
            settings = settings.replace(processors=(*settings.processors, *self._extra))
        # No buffering or sampling: a formatter formats every record it is given.
        chain = _pipeline.build_chain(settings.replace(format="json"))
        pipeline = _pipeline.Pipeline(chain, _keep_line, settings.level, settings)
        pipeline.emit = _fastpath.compile_emit(pipeline) or pipeline.emit_plain
        self._pipelines = (base, pipeline)
        return pipeline

    def add_fields(
        self, log_record: dict[str, Any], record: logging.LogRecord | None, message_dict: Any
    ) -> None:
        """python-json-logger's hook: override it to add to the event dict (called per record)."""

    def process_log_record(self, log_record: dict[str, Any]) -> dict[str, Any]:
        """python-json-logger's hook: override it to change the event dict; return it."""
        return log_record

    def format(self, record: logging.LogRecord) -> str:
        pipeline = self._pipeline()
        _kept.line = None
        try:
            method_name = _pipeline.level_name(record.levelno, record.levelname)
            message, fields = merged_fields(
                record_message(record), record_fields(record), self._defaults
            )
            pipeline.emit(record.name, record.created, method_name, message, fields, record)
            data = _kept.line
        except Exception as error:
            data = _pipeline.fallback_line(
                record, "error", {"event": safe_repr(record)}, error, None, pipeline.processors
            )
        text = data.decode("utf-8") if isinstance(data, bytes) else str(data)
        return text[:-1] if text.endswith("\n") else text


class _Kept(threading.local):
    line: Any = None


_kept = _Kept()


def _keep_line(line: Any) -> None:
    """A formatter's funnel writes here: the line is returned, not written."""
    _kept.line = line


def _default_settings() -> Settings:
    """The defaults and the ``TRACELOG_*`` environment, for a formatter with nothing configured."""
    try:
        return Settings.resolve(format="json")
    except ConfigurationError:
        return Settings()


def _unknown_options(unknown: Mapping[str, Any]) -> str:
    """The error for options JsonFormatter does not take, naming what replaces them."""
    parts = []
    for name in unknown:
        instead = PJL_OPTIONS.get(name)
        parts.append(f"{name} (use {instead})" if instead else name)
    return (
        "tracelog.stdlib.JsonFormatter does not take "
        + ", ".join(parts)
        + "; its options are service, schema, redact, static, rename, defaults and json_default"
    )
