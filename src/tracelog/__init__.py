"""tracelog: structured JSON logging on structlog, every line carrying its W3C trace id.

The public names are re-exported here and imported on first use, so that
``import tracelog`` (and the ``tracelog`` command) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracelog import outputs, propagation, stdlib, testing
    from tracelog._errors import ConfigurationError
    from tracelog.buffering import RateLimit, Sampling, TraceBuffer
    from tracelog.config import configure, flush, reset, stats
    from tracelog.context import (
        TraceContext,
        bind,
        current,
        current_trace_id,
        span,
        trace,
        unbind,
        wrap,
    )
    from tracelog.logger import BoundLogger, get_logger
    from tracelog.traced import traced

_EXPORTS = {
    "BoundLogger": "tracelog.logger",
    "get_logger": "tracelog.logger",
    "RateLimit": "tracelog.buffering",
    "Sampling": "tracelog.buffering",
    "TraceBuffer": "tracelog.buffering",
    "ConfigurationError": "tracelog._errors",
    "configure": "tracelog.config",
    "flush": "tracelog.config",
    "reset": "tracelog.config",
    "stats": "tracelog.config",
    "TraceContext": "tracelog.context",
    "bind": "tracelog.context",
    "current": "tracelog.context",
    "current_trace_id": "tracelog.context",
    "span": "tracelog.context",
    "trace": "tracelog.context",
    "traced": "tracelog.traced",
    "unbind": "tracelog.context",
    "wrap": "tracelog.context",
}
_SUBMODULES = frozenset(
    ("outputs", "propagation", "stdlib", "testing", "integrations", "schema", "processors")
)

__all__ = [
    "BoundLogger",
    "ConfigurationError",
    "RateLimit",
    "Sampling",
    "TraceBuffer",
    "TraceContext",
    "bind",
    "configure",
    "current",
    "current_trace_id",
    "flush",
    "get_logger",
    "outputs",
    "propagation",
    "reset",
    "span",
    "stats",
    "stdlib",
    "testing",
    "trace",
    "traced",
    "unbind",
    "wrap",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name == "tracelog.logger":  # configure() sets the default a first logger gets
        importlib.import_module("tracelog.config")
    if module_name is not None:
        value = getattr(importlib.import_module(module_name), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"tracelog.{name}")
    else:
        raise AttributeError(f"module 'tracelog' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
