"""The error tracelog raises at configuration time (never while logging)."""

from __future__ import annotations

__all__ = ["ConfigurationError"]


class ConfigurationError(ValueError):
    """A configure() argument or TRACELOG_* variable has a value tracelog does not accept."""
