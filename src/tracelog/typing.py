"""Type aliases shared by tracelog's modules."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from structlog.typing import WrappedLogger

__all__ = ["EventDict", "Processor", "WrappedLogger"]

EventDict = MutableMapping[str, Any]
Processor = Callable[[WrappedLogger, str, EventDict], Any]
