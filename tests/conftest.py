from __future__ import annotations

from collections.abc import Iterator

import pytest

import tracelog
from tracelog import _faults


@pytest.fixture(autouse=True)
def _reset_tracelog() -> Iterator[None]:
    """Every test starts and ends with no tracelog configuration."""
    tracelog.reset()
    _faults.reset()
    yield
    tracelog.reset()
    _faults.reset()
