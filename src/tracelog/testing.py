"""Capture tracelog events in tests, from both entry points, with their trace ids.

    with tracelog.testing.capture() as events:
        log.info("paid", order=7)
        logging.getLogger("legacy").warning("slow")
    assert events.messages == ["paid", "slow"]

With pytest, the ``tracelog_events`` fixture does the same for a whole test
(the plugin is registered on install; or add ``pytest_plugins = ["tracelog.testing"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from structlog import DropEvent

from tracelog import config
from tracelog import pipeline as _pipeline
from tracelog import stdlib as _stdlib
from tracelog._settings import Settings, level_number
from tracelog.typing import EventDict, WrappedLogger

__all__ = ["CapturedEvents", "capture", "tracelog_events"]


class CapturedEvents(list[dict[str, Any]]):
    """The events logged while capturing: canonical event dicts, after redaction."""

    @property
    def messages(self) -> list[Any]:
        return [event.get("message") for event in self]

    def for_trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [event for event in self if event.get("trace_id") == trace_id]

    def find(self, **fields: Any) -> list[dict[str, Any]]:
        """Events whose fields include all of ``fields``."""
        return [e for e in self if all(k in e and e[k] == v for k, v in fields.items())]


class _Capture:
    """One capture: the pipeline it installs (itself its one processor) and what it restores.

    The entry points hand it the raw event (it has no TraceMerger), so it can
    run the capture chain into ``events`` and, when the event is to be
    written, the pipeline that writes it.
    """

    def __init__(self, levelno: int, stdlib: bool) -> None:
        self.events = CapturedEvents()
        self.levelno = levelno
        self.stdlib = stdlib
        self.previous = _pipeline.active()
        #: What a configure() (or reset()) inside the capture installed; it writes from then on.
        self.setup: _pipeline.Pipeline | None = None
        self.chain = self._capture_chain(self.previous.settings)
        self.added: logging.Handler | None = None
        self.root_levels: tuple[int, int] | None = None  # the root's level we set, the one before

    def _capture_chain(self, settings: Settings | None) -> _pipeline.Pipeline:
        """The configured chain up to, not including, schema projection and rendering."""
        base = settings if settings is not None else Settings.resolve()
        chain = _pipeline.build_chain(base.replace(schema="default", format="json"))[:-1]
        return _pipeline.Pipeline(chain, self.events.append, self.levelno)

    def _pipeline_over(self, base: _pipeline.Pipeline) -> _pipeline.Pipeline:
        level = self.levelno if self.setup is None else min(self.levelno, self.setup.level)
        settings = (base.settings or Settings()).replace(capture=True)
        return _pipeline.Pipeline((self,), self.events.append, level, settings)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
        from_stdlib = isinstance(logger, logging.LogRecord)
        levelno = logger.levelno if from_stdlib else _pipeline.LEVELS.get(method_name, logging.INFO)
        writer = self._writer(from_stdlib)
        if writer is not None and levelno >= writer.level:
            writer.run(logger, method_name, dict(event_dict))
        if (self.stdlib or not from_stdlib) and levelno >= self.levelno:
            self.chain.run(logger, method_name, event_dict)
        raise DropEvent

    def _writer(self, from_stdlib: bool) -> _pipeline.Pipeline | None:
        """The pipeline that writes this event as it would be without the capture, if any."""
        if self.setup is not None:
            if from_stdlib and self.added in logging.getLogger().handlers:
                return None  # the root gets records only through our handler: not configured to
            return self.setup
        if from_stdlib and not self.stdlib:
            return self.previous
        return None

    def start(self) -> None:
        # Last in the list: it installs its own pipeline over the one the others were just given.
        if _follow in _pipeline.on_install:
            _pipeline.on_install.remove(_follow)
        _pipeline.on_install.append(_follow)
        _captures.append(self)
        if self.stdlib:
            self._hook_root()
        _pipeline.install(self._pipeline_over(self.previous))

    def follow(self, pipeline: _pipeline.Pipeline) -> None:
        """``pipeline`` was installed during the capture: capture through its settings, and
        let it write what it writes."""
        self.setup = pipeline
        self.chain = self._capture_chain(pipeline.settings)
        if self.stdlib:
            self._hook_root()
        _pipeline.install(self._pipeline_over(pipeline))

    def _hook_root(self) -> None:
        """Send stdlib records to the active pipeline, from ``levelno`` up."""
        root = logging.getLogger()
        handler = _stdlib.root_handler()
        if self.added is None and (handler is None or handler not in root.handlers):
            self.added = _stdlib.TracelogHandler()
            root.addHandler(self.added)
        if root.level > self.levelno:
            self.root_levels = (self.levelno, root.level)
            root.setLevel(self.levelno)

    def stop(self) -> None:
        _captures.remove(self)
        root = logging.getLogger()
        if self.added is not None:
            root.removeHandler(self.added)
            # configure() inside the capture saved it with the root's handlers: not to come back.
            _stdlib.forget_saved_handler(self.added)
        if self.root_levels is not None and root.level == self.root_levels[0]:
            root.setLevel(self.root_levels[1])  # unless something set another level since
        _pipeline.install(self.previous if self.setup is None else self.setup)


_captures: list[_Capture] = []


def _follow(pipeline: _pipeline.Pipeline) -> None:
    if _captures and not (pipeline.processors and isinstance(pipeline.processors[0], _Capture)):
        _captures[-1].follow(pipeline)


@contextmanager
def capture(level: int | str = "DEBUG", *, stdlib: bool = True) -> Iterator[CapturedEvents]:
    """Collect events instead of writing them, for the length of the block.

    The chain is the configured one (service, redaction, your processors)
    up to, not including, schema projection and rendering. With
    ``stdlib=False`` stdlib records are not captured and go where they
    would without the capture. A ``configure()`` inside the block is
    captured through from then on, its outputs write too, and it stays
    after the block.
    """
    session = _Capture(level_number(level, "level"), stdlib)
    session.start()
    try:
        yield session.events
    finally:
        session.stop()


try:  # the pytest fixture, when pytest is there
    import pytest

    @pytest.fixture
    def tracelog_events() -> Iterator[CapturedEvents]:
        """Every tracelog event (structlog and stdlib) logged during the test, at DEBUG and up.

        A ``tracelog.configure()`` in the test is undone (``tracelog.reset()``) at its end.
        """
        session = _Capture(logging.DEBUG, stdlib=True)
        session.start()
        try:
            yield session.events
        finally:
            session.stop()
            if session.setup is not None:
                config.reset()

except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
