"""What the console renderer and the ``tracelog`` command share: escaping and colours.

Text from data is shown, never executed: control characters, terminal
escape sequences and the bidi overrides that can reorder a line are escaped.
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["LEVEL_STYLES", "colour_wanted", "escape_control"]

# C0 and C1 controls, DEL, and the bidi overrides that can reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

RESET = "\x1b[0m"
DIM = "\x1b[2m"
BOLD = "\x1b[1m"
CYAN = "\x1b[36m"
BLUE = "\x1b[34m"
RED = "\x1b[31m"
LEVEL_STYLES = {
    "trace": "\x1b[2;37m",
    "debug": "\x1b[2;37m",
    "info": "\x1b[32m",
    "notice": "\x1b[36m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\n``)."""
    if text.isascii() and text.isprintable():
        return text
    return _CONTROL.sub(_escape_one, text)


def colour_wanted(stream: Any) -> bool:
    """Colour on a terminal; ``NO_COLOR`` turns it off and ``FORCE_COLOR`` on (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return bool(stream.isatty())
    except Exception:
        return False
