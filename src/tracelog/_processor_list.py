"""structlog's processor list as configure() hands it over, so structlog's test helper works.

``structlog.testing.capture_logs()`` empties the configured processor list in
place, appends its ``LogCapture``, and puts the old contents back at the
end. Native loggers run tracelog's pipeline, not that list, so they would
capture nothing. The list configure() gives structlog is a
:class:`ProcessorList`: while its contents are not tracelog's chain, the
native loggers' level methods run structlog's configured processors, as a
plain structlog logger would (event dicts as structlog makes them:
``{"event": ..., **bound, **fields}``). Levels below the configured one stay
filtered. Stdlib records keep going through tracelog.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, SupportsIndex

import structlog
from structlog import DropEvent

from tracelog import pipeline as _pipeline
from tracelog._levels import METHOD_LEVELS
from tracelog.logger import BoundLogger
from tracelog.render import safe_repr, safe_str
from tracelog.typing import Processor

__all__ = ["ProcessorList"]

_LEVEL_METHODS = METHOD_LEVELS


class ProcessorList(list[Processor]):
    """tracelog's chain as a list for ``structlog.configure()``, watched for in-place changes."""

    def __init__(self, chain: Iterable[Processor]) -> None:
        super().__init__(chain)
        self._chain = tuple(self)

    def _changed(self) -> None:
        ours = len(self) == len(self._chain) and all(
            a is b for a, b in zip(self, self._chain, strict=True)
        )
        _use_structlog_processors(not ours)

    def clear(self) -> None:
        super().clear()
        self._changed()

    def append(self, item: Processor) -> None:
        super().append(item)
        self._changed()

    def extend(self, items: Iterable[Processor]) -> None:
        super().extend(items)
        self._changed()

    def insert(self, index: SupportsIndex, item: Processor) -> None:
        super().insert(index, item)
        self._changed()

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._changed()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._changed()


_structlog_mode = False


def _use_structlog_processors(on: bool) -> None:
    global _structlog_mode
    if on == _structlog_mode:
        return
    _structlog_mode = on
    if on:
        _set_structlog_methods(_pipeline.installed)
    else:
        _pipeline.install(_pipeline.installed)  # the level methods of the pipeline, again


def _set_structlog_methods(pipeline: _pipeline.Pipeline) -> None:
    for name, level in _LEVEL_METHODS:
        if _pipeline.LEVELS[level] >= pipeline.level:
            setattr(BoundLogger, name, _STRUCTLOG_METHODS[level])


def _after_install(pipeline: _pipeline.Pipeline) -> None:
    if _structlog_mode:  # a configure() inside capture_logs(): keep capturing
        _set_structlog_methods(pipeline)


def _structlog_method(method_name: str) -> Any:
    def log_method(self: BoundLogger, event: Any = None, *args: Any, **kw: Any) -> None:
        if args:
            try:
                event = event % args
            except Exception:
                event = f"{safe_str(event)} {safe_repr(args)}"
        event_dict: dict[str, Any] = {**self._context, **kw}
        event_dict["event"] = event
        try:
            for processor in structlog.get_config()["processors"]:
                event_dict = processor(self._logger, method_name, event_dict)
        except DropEvent:
            pass
        except Exception as error:
            _pipeline.installed.fail(self._logger, method_name, {**kw, "event": event}, error)

    log_method.__name__ = method_name
    return log_method


_STRUCTLOG_METHODS = {level: _structlog_method(level) for _, level in _LEVEL_METHODS}
_pipeline.on_install.append(_after_install)
