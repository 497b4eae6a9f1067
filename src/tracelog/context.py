"""Trace context: who is logging, for which request, in which span.

One ContextVar holds an immutable :class:`TraceContext`. Every change makes a
new object (copy-on-write), so concurrent tasks and copied contexts never see
each other's bindings.
"""

from __future__ import annotations

import contextvars
import functools
import os
import random
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

from tracelog._tracecontext import checked_tracestate

__all__ = [
    "Activation",
    "RequestScope",
    "TraceContext",
    "activate",
    "bind",
    "current",
    "current_trace_id",
    "new_span_id",
    "new_trace_id",
    "set_hooks",
    "span",
    "trace",
    "unbind",
    "wrap",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_P = ParamSpec("_P")
_R = TypeVar("_R")

# A private generator, re-seeded from the OS in every forked child so that
# parent and child never draw the same ids.
_rng = random.Random(os.urandom(32))
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _rng.seed(os.urandom(32)))


def new_trace_id() -> str:
    """A random 128-bit W3C trace id: 32 lowercase hex digits, never all zero."""
    while True:
        value = _rng.getrandbits(128)
        if value:
            return f"{value:032x}"


def new_span_id() -> str:
    """A random 64-bit W3C span (parent) id: 16 lowercase hex digits, never all zero."""
    while True:
        value = _rng.getrandbits(64)
        if value:
            return f"{value:016x}"


class TraceContext:
    """The trace a piece of work belongs to, and the fields bound to it.

    Immutable: :func:`bind`, :func:`span` and friends make new objects.
    ``trace_id`` is ``None`` for a context that only carries bound fields
    (``tracelog.bind()`` outside any trace).
    """

    __slots__ = (
        "_line",
        "_line_owner",
        "fields",
        "name",
        "parent_span_id",
        "random_trace_id",
        "sampled",
        "span_id",
        "trace_id",
        "tracestate",
    )
    _FIELDS = (
        "trace_id",
        "span_id",
        "parent_span_id",
        "sampled",
        "tracestate",
        "name",
        "fields",
        "random_trace_id",
    )

    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    sampled: bool
    tracestate: str | None
    name: str | None
    fields: Mapping[str, Any]
    #: W3C Level 2 random trace-id flag: the trace id's right-most 7 bytes are random.
    random_trace_id: bool
    _line: dict[str, Any] | None
    _line_owner: object

    def __init__(
        self,
        trace_id: str | None,
        span_id: str | None,
        parent_span_id: str | None = None,
        sampled: bool = True,
        tracestate: str | None = None,
        name: str | None = None,
        fields: Mapping[str, Any] = _EMPTY,
        random_trace_id: bool = False,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "trace_id", trace_id)
        set_(self, "span_id", span_id)
        set_(self, "parent_span_id", parent_span_id)
        set_(self, "sampled", sampled)
        set_(self, "tracestate", tracestate)
        set_(self, "name", name)
        set_(self, "fields", fields)
        set_(self, "random_trace_id", random_trace_id)
        set_(self, "_line", None)
        set_(self, "_line_owner", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TraceContext is immutable; cannot set {name!r}")

    def __repr__(self) -> str:
        return (
            f"TraceContext(trace_id={self.trace_id!r}, span_id={self.span_id!r}, "
            f"parent_span_id={self.parent_span_id!r}, sampled={self.sampled!r}, "
            f"name={self.name!r}, fields={dict(self.fields)!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TraceContext):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def replace(self, **changes: Any) -> TraceContext:
        """A copy with some attributes changed."""
        values = {s: getattr(self, s) for s in self._FIELDS}
        values.update(changes)
        return TraceContext(**values)

    def _cache_line(self, line: dict[str, Any], owner: object) -> None:
        """Keep the fields this context puts on every line, as built by ``owner`` (the pipeline)."""
        object.__setattr__(self, "_line", line)
        object.__setattr__(self, "_line_owner", owner)

    @property
    def traceparent(self) -> str | None:
        """This context as a W3C ``traceparent`` header value, or None outside a trace."""
        if self.trace_id is None or self.span_id is None:
            return None
        return f"00-{self.trace_id}-{self.span_id}-{self.trace_flags:02x}"

    @property
    def trace_flags(self) -> int:
        """The W3C trace-flags byte: sampled (0x01) and random trace id (0x02)."""
        return (1 if self.sampled else 0) | (2 if self.random_trace_id else 0)


_current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "tracelog_context", default=None
)
#: The ContextVar itself, for the per-event path (its ``get`` is cheaper than current()).
#: Integrations set contexts through activate(), never through this.
current_var = _current


def _merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> Mapping[str, Any]:
    if not extra:
        return base
    return MappingProxyType({**base, **extra})


#: Called with the context of a block being entered (before it is set), and with the
#: context and the exception leaving it (after the outer one is restored). Empty unless
#: trace buffering or sampling is configured; a hook never raises. Set with set_hooks().
_enter_hooks: tuple[Callable[[TraceContext], None], ...] = ()
_exit_hooks: tuple[Callable[[TraceContext, BaseException | None], None], ...] = ()
#: Called when an integration starts a request's (or task's) context, and when it says
#: how the request ended (its status, or failed); set with set_hooks().
_start_hooks: tuple[Callable[[TraceContext], None], ...] = ()
_finish_hooks: tuple[Callable[[TraceContext, int | None, bool], None], ...] = ()


def set_hooks(
    *,
    enter: Callable[[TraceContext], None] | None = None,
    exit: Callable[[TraceContext, BaseException | None], None] | None = None,
    start: Callable[[TraceContext], None] | None = None,
    finish: Callable[[TraceContext, int | None, bool], None] | None = None,
) -> None:
    """What runs when a block or a request enters and leaves its context (buffering's hooks).

    ``enter``/``exit``: around ``trace()``/``span()``/``use()`` blocks;
    ``start``/``finish``: :meth:`Activation.start` and :meth:`Activation.finish`, which the
    integrations call for each request or task. None clears a hook.
    """
    global _enter_hooks, _exit_hooks, _start_hooks, _finish_hooks
    _enter_hooks = (enter,) if enter is not None else ()
    _exit_hooks = (exit,) if exit is not None else ()
    _start_hooks = (start,) if start is not None else ()
    _finish_hooks = (finish,) if finish is not None else ()


class Activation:
    """Makes a context the current one: for a ``with`` block, or for a request.

    As a block (what ``trace()``, ``span()`` and ``use()`` return) it sets the
    context on entry and restores the outer one on exit. Integrations that
    run a request or task call :meth:`start`, then :meth:`finish` with how it
    ended (buffering writes a failed request's held lines then), then
    :meth:`end`::

        activation = tracelog.context.activate(incoming_context)
        activation.start()
        try:
            ...  # the request
        finally:
            activation.finish(status=500)
            activation.end()
    """

    __slots__ = ("_context", "_token")
    _hooked = True  # run the enter/exit hooks

    def __init__(self, context: TraceContext) -> None:
        self._context = context
        self._token: contextvars.Token[TraceContext | None] | None = None

    def start(self, *, hooks: bool = True) -> TraceContext:
        """Make the context current for a request or task (see :meth:`finish`, :meth:`end`).

        ``hooks=False`` when the request's context is only set again (to run
        more of the request, say its response body) after the first start.
        """
        self._token = _current.set(self._context)
        if hooks:
            for hook in _start_hooks:
                hook(self._context)
        return self._context

    def finish(self, status: int | None = None, *, failed: bool = False) -> None:
        """How the request ended: ``failed``, or an HTTP ``status`` (500 and up is a failure).

        Call it while the context is still current (before :meth:`end`).
        """
        for hook in _finish_hooks:
            hook(self._context, status, failed)

    def end(self) -> None:
        """Restore the context that was current before :meth:`start`."""
        token, self._token = self._token, None
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:  # ended in another context than it started in
                _current.set(None)

    def __enter__(self) -> TraceContext:
        if _enter_hooks and self._hooked:
            for hook in _enter_hooks:
                hook(self._context)
        self._token = _current.set(self._context)
        return self._context

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:
                # Exited in another context than it was entered in (a generator
                # finalised elsewhere): nothing to restore there.
                pass
            self._token = None
            if _exit_hooks and self._hooked:
                error = exc_info[1] if len(exc_info) > 1 else None
                for hook in _exit_hooks:
                    hook(self._context, error if isinstance(error, BaseException) else None)

    async def __aenter__(self) -> TraceContext:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)

    @property
    def context(self) -> TraceContext:
        return self._context


class _SpanOfForeignTrace(Activation):
    """A span whose trace was entered outside tracelog (an OpenTelemetry span's).

    Its block is a span inside that trace, not the trace's start or end, so the
    hooks (which see a trace begin and end) are not run for it.
    """

    __slots__ = ()
    _hooked = False


def trace(
    trace_id: str | None = None,
    *,
    parent_span_id: str | None = None,
    sampled: bool = True,
    tracestate: str | None = None,
    name: str | None = None,
    random_trace_id: bool | None = None,
    **fields: Any,
) -> Activation:
    """Start a new trace, or continue the one named by ``trace_id``.

    Use as ``with tracelog.trace() as ctx:``. Keyword fields appear on every
    line logged inside the block. Fields bound outside the block stay bound
    (the block's own win on a clash).
    A given ``trace_id`` must be 32 lowercase hex digits, not all zero.
    ``random_trace_id`` is the W3C random trace-id flag: set for a new trace,
    unset for a given ``trace_id`` unless said. An invalid ``tracestate`` is
    dropped (and counted in :func:`tracelog.propagation.stats`).
    """
    if tracestate is not None:
        tracestate = checked_tracestate(tracestate)
    if trace_id is None:
        trace_id = new_trace_id()
        if random_trace_id is None:
            random_trace_id = True
    elif not _is_hex_id(trace_id, 32):
        raise ValueError(f"trace_id={trace_id!r} is not 32 lowercase hex digits (and not all zero)")
    if parent_span_id is not None and not _is_hex_id(parent_span_id, 16):
        raise ValueError(
            f"parent_span_id={parent_span_id!r} is not 16 lowercase hex digits (and not all zero)"
        )
    outer = _current.get()
    return Activation(
        TraceContext(
            trace_id,
            new_span_id(),
            parent_span_id,
            sampled,
            tracestate,
            name,
            _merged(_EMPTY if outer is None else outer.fields, fields),
            bool(random_trace_id),
        )
    )


def span(name: str | None = None, **fields: Any) -> Activation:
    """Start a child span of the current trace (a new trace when none is active).

    The new span gets a fresh ``span_id``; its ``parent_span_id`` is the
    enclosing span. Fields bound in the enclosing context stay visible.
    With no tracelog trace, a current OpenTelemetry span is the enclosing span.
    """
    outer = _current.get()
    if outer is not None and outer.trace_id is not None:
        return Activation(
            TraceContext(
                outer.trace_id,
                new_span_id(),
                outer.span_id,
                outer.sampled,
                outer.tracestate,
                name,
                _merged(outer.fields, fields),
                outer.random_trace_id,
            )
        )
    parent = otel_context()
    if parent is None:
        return trace(name=name, **fields)
    return _SpanOfForeignTrace(
        TraceContext(
            parent.trace_id,
            new_span_id(),
            parent.span_id,
            parent.sampled,
            parent.tracestate,
            name,
            _merged(_EMPTY if outer is None else outer.fields, fields),
            parent.random_trace_id,
        )
    )


class RequestScope:
    """One request's fields: inside it, :func:`bind` binds for the rest of the request.

    An integration opens one per request, for the request's context. A
    ``bind()`` anywhere inside the request (a FastAPI dependency in the thread
    pool, another task) then adds its fields to that context itself, so every
    later line of the request, in any task or thread, and its access line
    carry them. Spans already open elsewhere keep the fields they began with.
    """

    __slots__ = ("_lock", "_token", "context")

    def __init__(self, context: TraceContext) -> None:
        self.context = context
        self._lock = threading.Lock()
        self._token: contextvars.Token[RequestScope | None] | None = None

    def open(self) -> RequestScope:
        self._token = _request.set(self)
        return self

    def close(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            try:
                _request.reset(token)
            except ValueError:  # closed in another context than it was opened in
                pass

    def _rebind(self, fields: Mapping[str, Any]) -> None:
        # The one place a TraceContext changes after it is made; its cached line goes with it.
        set_ = object.__setattr__
        set_(self.context, "fields", fields)
        set_(self.context, "_line", None)

    def bind(self, fields: Mapping[str, Any]) -> None:
        with self._lock:
            self._rebind(_merged(self.context.fields, fields))

    def refresh(self) -> None:
        """Drop the context's cached line, so the next line is built from its fields as they are.

        For the request's last line (the access line): a line built in another thread while
        a bind() changed the fields may have cached them as they were.
        """
        object.__setattr__(self.context, "_line", None)

    def unbind(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            fields = self.context.fields
            if any(k in fields for k in keys):
                self._rebind(MappingProxyType({k: v for k, v in fields.items() if k not in keys}))


_request: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar(
    "tracelog_request", default=None
)


def bind(**fields: Any) -> TraceContext:
    """Add fields to every line logged from here on in this context (task, thread, request).

    Returns the new context. Outside a trace the fields are still bound, without trace ids.
    Inside a request an integration traces (see :class:`RequestScope`), they are bound
    for the rest of the request, wherever it runs.
    """
    outer = _current.get()
    scope = _request.get()
    if scope is not None:
        scope.bind(fields)
        if outer is scope.context:
            return outer
    if outer is None:
        new = TraceContext(None, None, fields=MappingProxyType(dict(fields)))
    else:
        new = outer.replace(fields=_merged(outer.fields, fields))
    _current.set(new)
    return new


def unbind(*keys: str) -> TraceContext | None:
    """Remove bound fields; unknown keys are ignored. Returns the new context."""
    outer = _current.get()
    scope = _request.get()
    if scope is not None:
        scope.unbind(keys)
        if outer is scope.context:
            return outer
    if outer is None or not any(k in outer.fields for k in keys):
        return outer
    remaining = {k: v for k, v in outer.fields.items() if k not in keys}
    if outer.trace_id is None and not remaining:
        _current.set(None)
        return None
    new = outer.replace(fields=MappingProxyType(remaining))
    _current.set(new)
    return new


def current() -> TraceContext | None:
    """The active tracelog context, or None.

    With no tracelog trace, a current OpenTelemetry span (when
    opentelemetry-api is installed) is reported as a context too, with
    the fields bound here.
    """
    ctx = _current.get()
    if ctx is None:
        return otel_context()
    if ctx.trace_id is None:
        # Fields bound outside a tracelog trace: the ids are the OpenTelemetry span's, as on
        # the lines; read now, as that span can change while this context stays.
        ids = otel_context()
        if ids is not None:
            return ids.replace(fields=ctx.fields)
    return ctx


def current_trace_id() -> str | None:
    """The active trace id (tracelog's, else OpenTelemetry's), or None."""
    ctx = current()
    return None if ctx is None else ctx.trace_id


def activate(context: TraceContext) -> Activation:
    """An :class:`Activation` of ``context`` for integrations: start(), finish(), end()."""
    return Activation(context)


def use(context: TraceContext | None) -> Activation:
    """Make a given context current for a block, e.g. one captured in another task."""
    if context is None:
        context = TraceContext(None, None)
    return Activation(context)


def wrap(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Carry the caller's context into another thread: ``pool.submit(tracelog.wrap(fn), x)``.

    The context is captured now; each call of the returned function runs in
    its own copy of it, so one wrapped function may run in many threads at once.
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_captured_context(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return captured.copy().run(fn, *args, **kwargs)

    return run_in_captured_context


@contextmanager
def detached() -> Iterator[None]:
    """Run a block with no tracelog context at all (for background machinery)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


_HEX = frozenset("0123456789abcdef")


def _is_hex_id(value: object, length: int) -> bool:
    return (
        isinstance(value, str)
        and len(value) == length
        and _HEX.issuperset(value)
        and value != "0" * length
    )


# OpenTelemetry fallback. Only consulted when opentelemetry has been imported
# by the application (so an app without OTel pays nothing).
_OTEL_ENABLED = True


def set_otel_fallback(enabled: bool) -> None:
    global _OTEL_ENABLED
    _OTEL_ENABLED = enabled


def otel_imported() -> bool:
    return _OTEL_ENABLED and "opentelemetry.trace" in sys.modules


def otel_context() -> TraceContext | None:
    """The current OpenTelemetry span as a TraceContext, or None."""
    if not _OTEL_ENABLED:
        return None
    otel_trace = sys.modules.get("opentelemetry.trace")
    if otel_trace is None:
        return None
    try:
        span_context = otel_trace.get_current_span().get_span_context()
        if not span_context.is_valid:
            return None
        state = span_context.trace_state
        return TraceContext(
            f"{span_context.trace_id:032x}",
            f"{span_context.span_id:016x}",
            sampled=bool(span_context.trace_flags & 1),
            tracestate=state.to_header() if state else None,
            random_trace_id=bool(span_context.trace_flags & 2),
        )
    except Exception:
        return None
