"""Where lines go. Outputs take what the renderer made (bytes for JSON, text for the console)."""

from __future__ import annotations

import io
import sys
from typing import IO, Any

from tracelog import _faults

__all__ = ["StreamOutput"]


def _is_binary(stream: Any) -> bool:
    if isinstance(stream, (io.RawIOBase, io.BufferedIOBase)):
        return True
    if isinstance(stream, io.TextIOBase):
        return False
    mode = getattr(stream, "mode", "")
    return isinstance(mode, str) and "b" in mode


class StreamOutput:
    """Write each line to a stream and flush it, so a crash loses nothing already logged.

    ``stream=None`` means ``sys.stdout`` as it is at each write (so pytest's
    capture and ``contextlib.redirect_stdout`` see the lines). Text streams
    with a binary ``buffer`` get the bytes directly; other text streams get
    decoded text. Write errors (closed pipe, full disk) are reported on
    stderr, never raised.
    """

    __slots__ = ("_binary", "_flush", "_last", "_raw_write", "_text", "stream")

    def __init__(self, stream: IO[Any] | None = None) -> None:
        self.stream = stream
        self._last: Any = None
        self._raw_write: Any = None
        self._flush: Any = None
        self._binary = True
        self._text: Any = None

    def _target(self) -> Any:
        return sys.stdout if self.stream is None else self.stream

    def _bind(self, stream: Any) -> None:
        self._last = stream
        self._text = stream
        if _is_binary(stream):
            target, binary = stream, True
        elif getattr(stream, "buffer", None) is not None and _is_binary(stream.buffer):
            target, binary = stream.buffer, True
        else:
            target, binary = stream, False
        self._binary = binary
        self._raw_write = target.write
        self._flush = getattr(target, "flush", None)

    def __call__(self, data: bytes | str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        try:
            if stream is not self._last:
                if stream is None:
                    return
                self._bind(stream)
            if self._binary:
                if type(data) is str:
                    data = data.encode("utf-8", "replace")
                if self._text is not self._last:  # pragma: no cover - defensive
                    self._bind(stream)
                self._raw_write(data)
            else:
                if type(data) is bytes:
                    data = data.decode("utf-8", "replace")
                self._raw_write(data)
            flush = self._flush
            if flush is not None:
                flush()
        except Exception as error:
            _faults.report("output", error)

    write = __call__

    def close(self) -> None:
        """Flush; the stream stays open (it belongs to the caller)."""
        try:
            if self._flush is not None:
                self._flush()
        except Exception as error:
            _faults.report("output", error)
