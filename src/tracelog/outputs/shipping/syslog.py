"""Send lines to a syslog daemon (rsyslog, syslog-ng) as RFC 5424 messages.

One message per line::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [trace@32473 trace_id="..." span_id="..."] MSG

- PRI is ``facility * 8 + severity``, the severity taken from the line's level.
- TIMESTAMP is the line's own timestamp (RFC 3339, UTC, microseconds).
- APP-NAME is ``app_name``, else the line's service, else the program name;
  PROCID the process id; MSGID the logger name (at most 32 characters).
- The structured data element carries the trace and span ids (``sd_id``,
  by default ``trace@32473``, the enterprise number RFC 5612 sets aside for
  examples; use your own if you have one). Values are escaped as RFC 5424
  asks (``"``, ``\\`` and ``]``).
- MSG is the JSON line itself, UTF-8, optionally preceded by a BOM.

Transports: UDP (one datagram per message), TCP with octet-counting framing
(RFC 6587: ``<length> <message>``), and a unix socket (datagram, as
``/dev/log`` and rsyslog's imuxsock use; stream sockets get octet counting).
UDP and plain TCP have no acknowledgement: a daemon that dies with messages
in its socket buffer loses them. Use Loki or Elasticsearch (or RELP on the
daemon side) where every line must be accounted for.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import time
from typing import Any

from tracelog import _faults
from tracelog.outputs.shipping._batch import Batching, Outcome, Shipper, take_renamed_value
from tracelog.outputs.shipping._line import parse_line
from tracelog.outputs.shipping._outcome import LOST

__all__ = ["FACILITIES", "SEVERITIES", "Syslog"]

FACILITIES = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    **{f"local{n}": 16 + n for n in range(8)},
}
#: tracelog level -> RFC 5424 severity.
SEVERITIES = {
    "critical": 2,
    "error": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
    # the other schemas' spellings
    "fatal": 2,
    "warn": 4,
    "default": 5,
}
_UNKNOWN_SEVERITY = 5
NILVALUE = "-"
BOM = b"\xef\xbb\xbf"


def _printable(text: str | None, limit: int) -> str:
    """RFC 5424 header field: PRINTUSASCII (33..126), bounded; NILVALUE if empty."""
    if not text:
        return NILVALUE
    cleaned = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in text[:limit])
    return cleaned or NILVALUE


def escape_param(value: str) -> str:
    """An SD-PARAM value: backslash before ``"``, ``\\`` and ``]``."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _sd_name(name: str) -> str:
    if not name or len(name) > 32 or any(ch in '= ]"' or not 33 <= ord(ch) <= 126 for ch in name):
        raise ValueError(f"{name!r} is not a valid RFC 5424 SD-NAME (1-32 printable, no '= ]\"')")
    return name


def _timestamp(nanos: int | None) -> str:
    if nanos is None:
        return NILVALUE
    seconds, rest = divmod(nanos, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


class Syslog(Shipper):
    """An output that sends RFC 5424 messages to a syslog daemon (see the module docstring).

    - ``address``: ``(host, port)`` for UDP/TCP, or a socket path such as ``/dev/log``.
    - ``protocol``: ``"udp"``, ``"tcp"`` or ``"unix"`` (default: unix for a path, else udp).
    - ``facility``: a name (``"user"``, ``"daemon"``, ``"local0"``…) or number.
    - ``app_name``, ``hostname``: header fields (defaults: service or program, this host).
    - ``bom``: put a UTF-8 BOM before MSG, as RFC 5424 suggests for UTF-8 text.
    """

    name = "syslog"

    def __init__(
        self,
        address: tuple[str, int] | str = ("127.0.0.1", 514),
        protocol: str | None = None,
        *,
        facility: str | int = "user",
        app_name: str | None = None,
        hostname: str | None = None,
        sd_id: str = "trace@32473",
        bom: bool = False,
        request_timeout: float = 5.0,
        level: int | str | None = None,
        schema: str | None = None,
        batching: Batching | None = None,
        **options: Any,
    ) -> None:
        timeout = take_renamed_value(
            options, "timeout", "request_timeout", request_timeout, "Syslog"
        )
        if batching is None:  # syslog's own defaults: small batches, sent soon
            batching = Batching(batch_size=100, batch_interval=0.2)
        if protocol is None:
            protocol = "unix" if isinstance(address, str) else "udp"
        if protocol not in ("udp", "tcp", "unix"):
            raise ValueError(f"protocol={protocol!r} is not one of udp, tcp, unix")
        if (protocol == "unix") != isinstance(address, str):
            raise ValueError(
                f"address={address!r} does not suit protocol={protocol!r} "
                "(a path for unix, a (host, port) pair for udp and tcp)"
            )
        if isinstance(facility, str):
            if facility.lower() not in FACILITIES:
                raise ValueError(f"facility={facility!r} is not one of {', '.join(FACILITIES)}")
            facility = FACILITIES[facility.lower()]
        if not 0 <= facility <= 23:
            raise ValueError(f"facility={facility!r} must be between 0 and 23")
        self.address = address
        self.protocol = protocol
        self.facility = facility
        self.app_name = app_name
        program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        self._default_app = _printable(program, 48)
        self.hostname = _printable(hostname or socket.gethostname(), 255)
        self.sd_id = _sd_name(sd_id)
        self.bom = bom
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._stream = protocol == "tcp"
        super().__init__(
            level=level,
            schema=schema,
            batching=batching,
            **options,
        )

    def message(self, line: bytes) -> bytes:
        """The RFC 5424 message for one JSON line (without transport framing)."""
        fields = parse_line(line)
        severity = SEVERITIES.get(fields.level or "", _UNKNOWN_SEVERITY)
        app = _printable(self.app_name or fields.service, 48)
        if app == NILVALUE:
            app = self._default_app
        params = []
        if fields.trace_id:
            params.append(f'trace_id="{escape_param(fields.trace_id)}"')
        if fields.span_id:
            params.append(f'span_id="{escape_param(fields.span_id)}"')
        data = f"[{self.sd_id} {' '.join(params)}]" if params else NILVALUE
        header = (
            f"<{self.facility * 8 + severity}>1 {_timestamp(fields.timestamp)} {self.hostname} "
            f"{app} {os.getpid()} {_printable(fields.logger, 32)} {data} "
        )
        return header.encode("utf-8", "replace") + (BOM if self.bom else b"") + line

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        sock: socket.socket
        if self.protocol == "unix":
            assert isinstance(self.address, str)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.connect(self.address)
                self._stream = False
            except OSError as error:
                sock.close()
                if error.errno != errno.EPROTOTYPE:
                    raise
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.address)
                self._stream = True
        else:
            assert isinstance(self.address, tuple)
            host, port = self.address
            kind = socket.SOCK_STREAM if self.protocol == "tcp" else socket.SOCK_DGRAM
            family, kind, proto, _, target = socket.getaddrinfo(host, port, type=kind)[0]
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)
                sock.connect(target)
            except OSError:
                sock.close()
                raise
        self._sock = sock
        return sock

    def _ship(self, lines: list[bytes]) -> Outcome:
        shipped = failed = 0
        for done, raw in enumerate(lines):
            message = self.message(raw.rstrip(b"\r\n"))
            try:
                sock = self._connect()
                if self._stream:
                    sock.sendall(b"%d %s" % (len(message), message))
                else:
                    sock.send(message)
            except OSError as error:
                if error.errno == errno.EMSGSIZE:
                    failed += 1
                    _faults.report(
                        LOST,
                        f"syslog: a {len(message)}-byte message does not fit in a datagram, "
                        "dropped (use protocol='tcp' for long lines)",
                    )
                    continue
                self._release()
                _faults.report("shipping", f"syslog: {type(error).__name__}: {error}; retrying")
                return Outcome(shipped, failed, retry=lines[done:])
            shipped += 1
        return Outcome(shipped, failed)

    def _release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _forked(self) -> None:
        self._sock = None
