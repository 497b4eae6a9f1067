from __future__ import annotations

from collections.abc import Iterator

import pytest

import tracelog
from tracelog import _faults, context


@pytest.fixture(autouse=True)
def _reset_tracelog() -> Iterator[None]:
    """Every test starts and ends with no tracelog configuration and no trace context."""
    tracelog.reset()
    _faults.reset()
    token = context._current.set(None)
    yield
    try:
        context._current.reset(token)
    except ValueError:  # the test ran in another context (an event loop's copy)
        context._current.set(None)
    tracelog.reset()
    _faults.reset()
