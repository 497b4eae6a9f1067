"""Level names and numbers: the stdlib's numbers, tracelog's lowercase names."""

from __future__ import annotations

__all__ = ["LEVELS", "METHOD_LEVELS", "STD_NAMES", "level_name", "parse_level"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
ALIASES = {"warn": "warning", "fatal": "critical"}
STD_NAMES = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}
#: A bound logger's level methods, and the level each logs at.
METHOD_LEVELS = (
    ("debug", "debug"),
    ("info", "info"),
    ("msg", "info"),
    ("warning", "warning"),
    ("warn", "warning"),
    ("error", "error"),
    ("critical", "critical"),
    ("fatal", "critical"),
)


def parse_level(value: int | str, source: str) -> int:
    """A level as a number: ``"DEBUG"``, ``"warn"``, ``"10"`` or ``10``.

    A bad value raises ValueError naming ``source`` and the names accepted.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    text = ALIASES.get(text, text)
    if text.isdigit():
        return int(text)
    if text not in LEVELS:
        raise ValueError(f"{source}={value!r} is not one of {', '.join(LEVELS)} (or a number)")
    return LEVELS[text]


def level_name(levelno: int, fallback: str) -> str:
    """Lowercase level name for a stdlib level number (custom levels keep their own name)."""
    return STD_NAMES.get(levelno) or fallback.lower()
