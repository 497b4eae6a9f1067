"""tracelog: structured JSON logging on structlog, every line carrying its W3C trace id."""

from __future__ import annotations

from tracelog import outputs, propagation
from tracelog._native import BoundLogger, get_logger
from tracelog.buffering import RateLimit, Sampling, TraceBuffer
from tracelog.config import ConfigurationError, configure, reset
from tracelog.context import (
    TraceContext,
    bind,
    current,
    current_trace_id,
    span,
    trace,
    traced,
    unbind,
    wrap,
)
from tracelog.outputs import flush, stats

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
    "trace",
    "traced",
    "unbind",
    "wrap",
]

__version__ = "0.1.0"
