"""Lines longer than ``MAX_LINE``: read in part, shown cut, passed whole, never held in memory.

Such a line (often the one with the exception, or a dumped payload) keeps its first and last
64 KiB. The columns the commands need (time, level, logger, trace and span ids, service) are
read from those two ends with a search that only matches JSON structure: inside a JSON string
every ``"`` is escaped, so ``,"trace_id":`` cannot be text. The line then stands in the stream
as a small JSON line of those fields and a cut message that says how much is not shown. When
the whole line is wanted (``view --json``), it is spooled to a temporary file as it is read.
"""

from __future__ import annotations

import re
from typing import IO, Any

__all__ = ["END", "MESSAGE_SHOWN", "LongLine", "LongLineBuilder"]

END = 64 * 1024
MESSAGE_SHOWN = 300
_STRING = rb'"(?:[^"\\]|\\.)*"'
_SCALAR = rb"(" + _STRING + rb"|-?\d[\d.eE+-]*|true|false)"
_KEYS = (
    rb"timestamp|@timestamp|time|ts|level|log\.level|severity_text|levelname|severity|logger|"
    rb"logger_name|name|trace_id|span_id|parent_span_id|span_name|service|service\.name|"
    rb"otelTraceID|otelSpanID|otelServiceName|traceId|spanId|trace\.id|span\.id"
)
_FIELD = re.compile(rb'[{,]\s*"(' + _KEYS + rb')"\s*:\s*' + _SCALAR)
_NESTED = re.compile(
    rb'[{,]\s*"(trace|span|parent|log|service|resource|instrumentation_scope)"\s*:\s*\{\s*"'
    rb'(id|logger|name|service\.name)"\s*:\s*(' + _STRING + rb")"
)
_MESSAGE = re.compile(rb'[{,]\s*"(message|msg|event|body)"\s*:\s*"')


class LongLine(bytes):
    """A stand-in JSON line for an over-long line; ``size`` is the whole line's length."""

    size: int
    whole: IO[bytes] | None

    def write_whole(self, out: IO[bytes], chunk: int = 1 << 20) -> None:
        """Copy the whole line (spooled as it was read) to ``out``."""
        if self.whole is None:
            raise ValueError("this long line was not kept whole")
        self.whole.seek(0)
        while data := self.whole.read(chunk):
            out.write(data)


def _message(head: bytes) -> str | None:
    import orjson

    match = _MESSAGE.search(head)
    if match is None:
        return None
    raw = head[match.end() : match.end() + MESSAGE_SHOWN * 6]
    close = re.match(rb'(?:[^"\\]|\\.)*', raw)
    assert close is not None
    body = close.group()
    for cut in range(8):  # the shown part may end inside an escape sequence
        try:
            text = orjson.loads(b'"' + body[: len(body) - cut] + b'"')
        except orjson.JSONDecodeError:
            continue
        return str(text)[:MESSAGE_SHOWN]
    return ""


def stand_in(head: bytes, tail: bytes, size: int) -> bytes:
    """The small JSON line that stands for a long one made of ``head`` … ``tail``."""
    import orjson

    fields: dict[str, Any] = {}
    for part in (head, tail):
        for match in _FIELD.finditer(part):
            key = match.group(1).decode()
            nested = part[match.start() - 1 : match.start()] == b":"  # {"a":{"key":...}}
            if key not in fields and not nested:
                try:
                    fields[key] = orjson.loads(match.group(2))
                except orjson.JSONDecodeError:
                    continue
        for match in _NESTED.finditer(part):
            outer, inner = match.group(1).decode(), match.group(2).decode()
            holder = fields.setdefault(outer, {})
            if isinstance(holder, dict) and inner not in holder:
                try:
                    holder[inner] = orjson.loads(match.group(3))
                except orjson.JSONDecodeError:
                    continue
    message = _message(head) or ""
    hidden = max(size - len(message.encode()), 0)
    fields["message"] = f"{message}… [line of {size:,} bytes: {hidden:,} bytes not shown]"
    return orjson.dumps(fields)


class LongLineBuilder:
    """Collects one over-long line in pieces: its two ends, and (if kept) the whole on disk."""

    __slots__ = ("head", "size", "spool", "tail")

    def __init__(self, first: bytes, keep_whole: bool) -> None:
        self.head = first[:END]
        self.tail = first[-END:]
        self.size = len(first)
        self.spool: IO[bytes] | None = None
        if keep_whole:
            import tempfile

            self.spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the line
            self.spool.write(first)

    def add(self, data: bytes | memoryview) -> None:
        data = bytes(data)
        if not data:
            return
        self.size += len(data)
        if len(self.head) < END:
            self.head += data[: END - len(self.head)]
        self.tail = (self.tail + data)[-END:] if len(data) < END else data[-END:]
        if self.spool is not None:
            self.spool.write(data)

    def finish(self) -> LongLine:
        head = self.head
        tail = self.tail if self.size > END else b""
        line = LongLine(stand_in(head, tail, self.size))
        line.size = self.size
        line.whole = self.spool
        return line
