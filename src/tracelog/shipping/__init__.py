"""Deprecated home of the network shippers: use :mod:`tracelog.outputs` (``tracelog.outputs.Loki``).

Kept for one release; importing a name from here warns.
"""

from __future__ import annotations

import warnings
from typing import Any

_NAMES = frozenset(("Elasticsearch", "Loki", "Shipper", "Syslog", "OTLP", "Batching"))


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'tracelog.shipping' has no attribute {name!r}")
    warnings.warn(
        f"tracelog.shipping.{name} moved to tracelog.outputs.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    from tracelog import outputs

    return getattr(outputs, name)
