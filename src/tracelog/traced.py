"""``@traced``: run a function in a span, or in a new trace when none is active.

The span is a child of tracelog's current span or, with no tracelog trace, of
the current OpenTelemetry span (:func:`tracelog.context.span` decides).

Generators (sync and async) run in a context of their own, entered only
while their body runs, so their span never leaks into the code consuming them.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from tracelog.context import span

__all__ = ["traced"]

F = TypeVar("F", bound=Callable[..., Any])


@overload
def traced(fn: F) -> F: ...
@overload
def traced(fn: None = None, *, name: str | None = None) -> Callable[[F], F]: ...


def traced(fn: F | None = None, *, name: str | None = None) -> F | Callable[[F], F]:
    """Run a function in a span of the current trace, or in a new trace when none is active.

    The current trace is tracelog's or, with none, the current OpenTelemetry span's.

    Works on plain functions, coroutine functions and (async) generators.
    ``@traced`` and ``@traced(name="charge card")`` are both accepted.
    """

    def decorate(func: F) -> F:
        span_name = name or getattr(func, "__qualname__", None) or repr(func)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with span(span_name):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        # A generator's body runs in a context of its own, entered only while it runs,
        # so its span never leaks into the consumer between items or after a break.
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def asyncgen_wrapper(*args: Any, **kwargs: Any) -> Any:
                run = contextvars.copy_context().run
                activation = run(span, span_name)
                run(activation.__enter__)
                try:
                    agen = run(func, *args, **kwargs)
                    step = agen.asend(None)
                    while True:
                        try:
                            item = await _RunIn(run, step)
                        except StopAsyncIteration:
                            break
                        try:
                            step = agen.asend((yield item))
                        except GeneratorExit:
                            await _RunIn(run, agen.aclose())
                            raise
                        except BaseException as error:
                            step = agen.athrow(error)
                except BaseException as error:
                    run(activation.__exit__, type(error), error, error.__traceback__)
                    raise
                run(activation.__exit__, None, None, None)

            return asyncgen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                run = contextvars.copy_context().run
                activation = run(span, span_name)
                run(activation.__enter__)
                try:
                    result = yield from _drive(run, run(func, *args, **kwargs))
                except BaseException as error:
                    run(activation.__exit__, type(error), error, error.__traceback__)
                    raise
                run(activation.__exit__, None, None, None)
                return result

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with span(span_name):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if fn is not None:
        return decorate(fn)
    return decorate


def _drive(run: Callable[..., Any], gen: Any) -> Any:
    """``yield from gen``, with each step of ``gen`` run by ``run`` (a Context's run)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            item = run(gen.send, value) if error is None else run(gen.throw, error)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            value = yield item
        except GeneratorExit:
            run(gen.close)
            raise
        except BaseException as thrown:
            value, error = None, thrown


class _RunIn:
    """Await ``awaitable`` with each of its steps run by ``run`` (a Context's run)."""

    __slots__ = ("_awaitable", "_run")

    def __init__(self, run: Callable[..., Any], awaitable: Any) -> None:
        self._run = run
        self._awaitable = awaitable

    def __await__(self) -> Any:
        run, inner = self._run, self._awaitable
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                future = run(inner.send, value) if error is None else run(inner.throw, error)
            except StopIteration as stop:
                return stop.value
            error = None
            try:
                value = yield future
            except BaseException as thrown:
                value, error = None, thrown
