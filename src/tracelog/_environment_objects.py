"""The ``TRACELOG_*`` variables that stand for objects: a file output, a buffer, sampling.

configure() applies them before resolving its settings (they need the
outputs and buffering modules, which the settings sit below).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracelog import buffering
from tracelog._environment import buffer_switch, file_path, sampling_rate
from tracelog.outputs import File

__all__ = ["objects_from_environment"]


def objects_from_environment(
    outputs: Sequence[Any] | None,
    stream: Any,
    buffer: buffering.TraceBuffer | None,
    sampling: buffering.Sampling | None,
) -> tuple[Sequence[Any] | None, buffering.TraceBuffer | None, buffering.Sampling | None]:
    """``TRACELOG_FILE``, ``TRACELOG_BUFFER`` and ``TRACELOG_SAMPLING`` for options not given."""
    if outputs is None and stream is None:
        path = file_path()
        if path is not None:
            outputs = [File(path)]
    if buffer is None and buffer_switch():
        buffer = buffering.TraceBuffer()
    if sampling is None:
        rate = sampling_rate()
        if rate is not None:
            sampling = buffering.Sampling(rate)
    return outputs, buffer, sampling
