"""``tracelog lnav-format``: an lnav format definition for tracelog's default JSON lines.

Install it with ``tracelog lnav-format > tracelog.json && lnav -i tracelog.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["FORMAT_NAME", "definition", "run"]

FORMAT_NAME = "tracelog_log"

_SAMPLE = (
    '{"timestamp":"2026-11-25T07:40:34.123456Z","level":"info","logger":"shop.orders",'
    '"message":"order placed","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",'
    '"span_id":"00f067aa0ba902b7","service":"shop","order_id":17}'
)


def definition() -> dict[str, Any]:
    """The lnav format (https://docs.lnav.org/en/latest/formats.html) as a dict."""
    ids = {"kind": "string", "identifier": True}
    return {
        "$schema": "https://lnav.org/schemas/format-v1.schema.json",
        FORMAT_NAME: {
            "title": "tracelog JSON lines",
            "description": "Structured JSON lines written by tracelog (default schema).",
            "url": "https://github.com/tracelog/tracelog/blob/main/docs/cli.md",
            "json": True,
            "file-type": "json",
            "timestamp-field": "timestamp",
            "level-field": "level",
            "body-field": "message",
            "opid-field": "trace_id",
            "level": {
                "critical": "^critical$",
                "error": "^error$",
                "warning": "^warning$",
                "info": "^info$",
                "debug": "^debug$",
            },
            "value": {
                "logger": ids,
                "trace_id": ids,
                "span_id": ids,
                "parent_span_id": ids,
                "span_name": {"kind": "string"},
                "service": ids,
                "exception": {"kind": "json"},
            },
            "line-format": [
                {"field": "__timestamp__"},
                " ",
                {"field": "__level__", "text-transform": "uppercase", "min-width": 8},
                " ",
                {"field": "service", "default-value": "-", "min-width": 10},
                " ",
                {"field": "trace_id", "default-value": "-", "max-width": 8, "overflow": "truncate"},
                " ",
                {"field": "logger", "default-value": "-"},
                " ",
                {"field": "message"},
            ],
            "sample": [{"line": _SAMPLE}],
        },
    }


def run() -> int:
    sys.stdout.write(json.dumps(definition(), indent=2) + "\n")
    return 0
