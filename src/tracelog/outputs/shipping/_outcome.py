"""What became of a batch, and how a shipper says a batch should be sent again."""

from __future__ import annotations

import http.client
from collections.abc import Callable

__all__ = ["AT_CLOSE", "LOST", "SENDER", "Outcome", "RetryableError", "split"]

# Fault kinds for stderr reports, each rate-limited on its own: a retry notice never hides a
# report of lines lost, and lines lost at close are always said (there is no later chance).
LOST = "shipping: lines lost"
AT_CLOSE = "shipping: at close"
SENDER = "shipping: sender restarted"


class RetryableError(Exception):
    """The whole batch should be sent again (after ``retry_after`` seconds if given)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Outcome:
    """What became of a batch: how many lines were shipped, failed for good, or are to retry."""

    __slots__ = ("failed", "retry", "retry_after", "shipped")

    def __init__(
        self,
        shipped: int = 0,
        failed: int = 0,
        retry: list[bytes] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.shipped = shipped
        self.failed = failed
        self.retry = retry or []
        self.retry_after = retry_after


def split(ship: Callable[[list[bytes]], Outcome], lines: list[bytes]) -> Outcome:
    """Ship ``lines`` as two halves (the server refused the whole as too large)."""
    half = len(lines) // 2
    first = ship(lines[:half])
    try:
        second = ship(lines[half:])
    except (RetryableError, OSError, http.client.HTTPException) as error:
        retry_after = error.retry_after if isinstance(error, RetryableError) else None
        second = Outcome(retry=lines[half:], retry_after=retry_after)
    waits = [w for w in (first.retry_after, second.retry_after) if w is not None]
    return Outcome(
        first.shipped + second.shipped,
        first.failed + second.failed,
        first.retry + second.retry,
        max(waits) if waits else None,
    )
