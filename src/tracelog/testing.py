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

from tracelog import _pipeline, config
from tracelog import stdlib as _stdlib

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


@contextmanager
def capture(level: int | str = "DEBUG", *, stdlib: bool = True) -> Iterator[CapturedEvents]:
    """Collect events instead of writing them, for the length of the block.

    The chain is the configured one (service, redaction, your processors)
    up to, not including, schema projection and rendering.
    """
    events = CapturedEvents()
    previous = _pipeline.active()
    settings = previous.settings
    chain = config.build_processors(
        service=settings.get("service"),
        redact=settings.get("redact"),
        processors=settings.get("processors", ()),
        schema="default",
        format="json",
    )[:-1]
    levelno = config._level(level, "level")
    pipeline = _pipeline.Pipeline(chain, events.append, levelno, dict(settings, capture=True))
    root = logging.getLogger()
    handler = _stdlib._handler
    added = None
    old_level = root.level
    if stdlib:
        if handler is None or handler not in root.handlers:
            from tracelog.stdlib import TracelogHandler

            added = TracelogHandler()
            root.addHandler(added)
        root.setLevel(levelno)
    _pipeline.install(pipeline)
    try:
        yield events
    finally:
        _pipeline.install(previous)
        if added is not None:
            root.removeHandler(added)
        if stdlib:
            root.setLevel(old_level)


try:  # the pytest fixture, when pytest is there
    import pytest

    @pytest.fixture
    def tracelog_events() -> Iterator[CapturedEvents]:
        """Every tracelog event (structlog and stdlib) logged during the test, at DEBUG and up."""
        with capture() as events:
            yield events

except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
