"""The structlog entry point: a bound logger that runs the active pipeline.

``tracelog.get_logger(name)`` returns a :class:`BoundLogger`: a real
structlog bound logger (``bind``, ``new``, ``unbind``, ``try_unbind``,
``info``, ``exception``, ``ainfo``, ...). Its level methods read the active
pipeline on every call, so a logger made at import time follows a later
``tracelog.configure()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any

from structlog import BoundLoggerBase, DropEvent

from tracelog import _fastpath
from tracelog import pipeline as _pipeline
from tracelog._callsite import awaited_from
from tracelog._exceptions import caller_stack
from tracelog._levels import METHOD_LEVELS
from tracelog.render import safe_repr, safe_str

__all__ = ["BoundLogger", "LoggerName", "get_logger"]


class LoggerName:
    """What a native logger wraps: just its name (the pipeline writes, not this object)."""

    __slots__ = ("name",)

    created = None

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<LoggerName {self.name!r}>"


def _message(event: Any, args: tuple[Any, ...]) -> Any:
    if not args:
        return event
    try:
        return event % args
    except Exception:
        return f"{safe_str(event)} {safe_repr(args)}"


def _make_method(method_name: str, levelno: int) -> Any:
    def log_method(self: BoundLogger, event: Any = None, *args: Any, **kw: Any) -> None:
        pipeline = _pipeline.installed
        try:
            fields: Any = {**self._context, **kw} if self._context else kw
            logger = self._logger
            message = _message(event, args) if args else event
            try:
                name = logger.name
            except AttributeError:  # a logger of your own, wrapped by structlog
                name = None
            pipeline.emit(name, None, method_name, message, fields, logger)
        except DropEvent:
            pass
        except Exception as error:
            fields = {**self._context, **kw, "event": event}
            pipeline.fail(self._logger, method_name, fields, error)
        return None

    log_method.__name__ = method_name
    log_method.__qualname__ = f"BoundLogger.{method_name}"
    log_method.__doc__ = f"Log ``event`` at {method_name.upper()} with the bound and given fields."
    return log_method


def _make_async_method(name: str) -> Any:
    async def alog_method(self: BoundLogger, event: Any = None, *args: Any, **kw: Any) -> None:
        # Run in a thread as structlog does, keeping the caller's context.
        ctx = contextvars.copy_context()
        method = getattr(self, name)
        # The exception being handled is this thread's: take it before the hand-off.
        if kw.get("exc_info", name == "exception") is True:
            kw["exc_info"] = sys.exc_info()
        if kw.get("stack_info") is True:  # the caller's stack, not the executor thread's
            kw["stack_info"] = caller_stack()
        ctx.run(awaited_from.set, sys._getframe(1))  # the call site, for CallSite
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: ctx.run(method, event, *args, **kw)
        )

    alog_method.__name__ = f"a{name}"
    return alog_method


def _filtered(self: BoundLogger, event: Any = None, /, *args: Any, **kw: Any) -> None:
    """A level below the configured one: do nothing, as cheaply as possible (positional-only,
    the call's keywords are not compared with the parameters' names)."""
    return None


class BoundLogger(BoundLoggerBase):
    """A structlog bound logger whose every call runs tracelog's pipeline.

    The level methods of the class are swapped whenever a pipeline is
    installed: a method below the active level is a no-op, so a filtered
    call costs one method call.
    """

    debug = _make_method("debug", 10)
    info = _make_method("info", 20)
    warning = _make_method("warning", 30)
    warn = warning
    error = _make_method("error", 40)
    critical = _make_method("critical", 50)
    fatal = critical
    msg = info

    adebug = _make_async_method("debug")
    ainfo = _make_async_method("info")
    awarning = _make_async_method("warning")
    aerror = _make_async_method("error")
    acritical = _make_async_method("critical")
    aexception = _make_async_method("exception")

    def exception(self, event: Any = None, *args: Any, **kw: Any) -> None:
        """Log at ERROR with the exception being handled (``exc_info=True`` unless given)."""
        kw.setdefault("exc_info", True)
        self.error(event, *args, **kw)

    def log(self, level: int | str, event: Any = None, *args: Any, **kw: Any) -> None:
        """Log at a level given by number (``logging.INFO``) or name (``"info"``)."""
        name = _pipeline.level_name(level, "info") if isinstance(level, int) else str(level)
        name = name.lower()
        method = getattr(self, name if name in _pipeline.LEVELS else "info")
        method(event, *args, **kw)

    def is_enabled_for(self, level: int) -> bool:
        """Whether a call at ``level`` (a stdlib level number) would be logged."""
        return level >= _pipeline.installed.level

    isEnabledFor = is_enabled_for

    @property
    def name(self) -> str:
        return str(getattr(self._logger, "name", ""))

    def __repr__(self) -> str:
        return f"<tracelog.BoundLogger name={self.name!r} context={self._context!r}>"


_LEVEL_METHODS = {
    name: (_pipeline.LEVELS[level], level, getattr(BoundLogger, name))
    for name, level in METHOD_LEVELS
}


def _apply_level(pipeline: _pipeline.Pipeline) -> None:
    """The level methods for ``pipeline``: a no-op below its level, else the method the fast
    path generated for its chain (the general one where there is none)."""
    made: dict[str, Any] = {}  # warn is warning, fatal is critical, msg is info
    for name, (levelno, level, method) in _LEVEL_METHODS.items():
        if levelno < pipeline.level:
            setattr(BoundLogger, name, _filtered)
            continue
        if level not in made:
            made[level] = _fastpath.level_method(pipeline, level, method)
        setattr(BoundLogger, name, made[level])


_pipeline.on_install.append(_apply_level)
_apply_level(_pipeline.installed)


def _caller_module(depth: int = 2) -> str:
    try:
        frame = sys._getframe(depth)
        while frame is not None:
            name = frame.f_globals.get("__name__", "")
            if not (name.startswith("tracelog") or name.startswith("structlog")):
                return str(name) or "root"
            frame = frame.f_back  # type: ignore[assignment]
    except Exception:
        pass
    return "root"


def get_logger(name: str | None = None, **initial_values: Any) -> BoundLogger:
    """A structlog bound logger named ``name`` (the calling module when omitted)."""
    _pipeline.ensure_default()
    logger_name = name if name is not None else _caller_module()
    return BoundLogger(LoggerName(logger_name), (), dict(initial_values))


class LoggerNameFactory:
    """structlog logger factory, so ``structlog.get_logger()`` runs tracelog's pipeline too."""

    def __call__(self, *args: Any) -> LoggerName:
        if args and isinstance(args[0], str):
            return LoggerName(args[0])
        return LoggerName(_caller_module(3))
