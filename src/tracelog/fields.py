"""The one table of field names: the canonical keys every processor writes.

A schema (:mod:`tracelog.schema`) renames and nests these for its consumer;
nothing else spells a field name of the pipeline.
"""

from __future__ import annotations

__all__ = [
    "CANONICAL",
    "CLIENT",
    "DURATION_MS",
    "EXCEPTION",
    "FUNC_NAME",
    "LEVEL",
    "LINENO",
    "LOGGER",
    "MESSAGE",
    "METHOD",
    "OWNED_KEYS",
    "PARENT_SPAN_ID",
    "PATH",
    "PATHNAME",
    "REQUEST_ID",
    "SERVICE",
    "SPAN_ID",
    "SPAN_NAME",
    "STACK",
    "STATUS",
    "TIMESTAMP",
    "TRACE_ID",
    "TRACE_SAMPLED",
    "USER_AGENT",
]

# Canonical keys, written by the pipeline's processors.
TIMESTAMP = "timestamp"
LEVEL = "level"
LOGGER = "logger"
MESSAGE = "message"
TRACE_ID = "trace_id"
SPAN_ID = "span_id"
PARENT_SPAN_ID = "parent_span_id"
SPAN_NAME = "span_name"
TRACE_SAMPLED = "trace_sampled"
SERVICE = "service"
EXCEPTION = "exception"
STACK = "stack"
# Canonical access-log keys, written by the web integrations.
METHOD = "method"
PATH = "path"
STATUS = "status"
DURATION_MS = "duration_ms"
CLIENT = "client"
REQUEST_ID = "request_id"
USER_AGENT = "user_agent"
# Canonical call-site keys, written by processors.CallSite (structlog's names).
FUNC_NAME = "func_name"
LINENO = "lineno"
PATHNAME = "pathname"

CANONICAL = (
    TIMESTAMP,
    LEVEL,
    LOGGER,
    MESSAGE,
    TRACE_ID,
    SPAN_ID,
    PARENT_SPAN_ID,
    SPAN_NAME,
    SERVICE,
    EXCEPTION,
    STACK,
)

#: Keys only the pipeline may write. A user field with one of these names is
#: kept under the name with a trailing underscore (``level_``), never lost.
OWNED_KEYS = frozenset(
    (TIMESTAMP, LEVEL, LOGGER, MESSAGE, TRACE_ID, SPAN_ID, PARENT_SPAN_ID, SPAN_NAME)
)
