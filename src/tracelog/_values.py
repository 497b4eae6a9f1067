"""What two canonical fields' values say, for the schemas and the console.

- ``client`` (the access line's): host, port, and whether the host is an IP.
- ``exception`` (the structured exception): Python's traceback text.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

__all__ = ["client_parts", "format_exception_text"]


def client_parts(value: Any) -> tuple[Any, int | None, bool] | None:
    """Host, port and whether the host is an IP address, from an access line's ``client``.

    ``client`` is ``"host:port"`` (``"[::1]:8080"`` for IPv6, as the web
    integrations write it), a bare host, or a ``(host, port)`` pair. None
    for anything else: the value then keeps its place as any other field.
    """
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            return None
        host, port = value
        return host, port if type(port) is int else None, _is_ip(host)
    if not isinstance(value, str) or not value:
        return None
    host, port_text = value, ""
    if value.startswith("["):
        inside, bracket, rest = value[1:].partition("]")
        if bracket and (not rest or rest.startswith(":")):
            host, port_text = inside, rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    port = int(port_text) if port_text.isascii() and port_text.isdigit() else None
    if port_text and (port is None or port > 65535):
        return value, None, False  # not a host and port: the whole value is the address
    return host, port, _is_ip(host)


def _is_ip(host: Any) -> bool:
    if type(host) is not str:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def format_exception_text(exc: Mapping[str, Any]) -> str:
    """A structured exception (see processors.exception_to_structure) as Python's traceback text."""
    blocks: list[str] = []
    node: Mapping[str, Any] | None = exc
    seen = 0
    while node is not None and seen < 20:
        seen += 1
        lines = ["Traceback (most recent call last):"]
        for frame in node.get("frames") or ():
            where = f'"{frame.get("file")}", line {frame.get("line")}'
            lines.append(f"  File {where}, in {frame.get('function')}")
        message = node.get("message")
        lines.append(f"{node.get('type')}: {message}" if message else f"{node.get('type')}")
        blocks.append("\n".join(lines))
        if isinstance(node.get("cause"), Mapping):
            blocks.append(
                "\nThe above exception was the direct cause of the following exception:\n"
            )
            node = node["cause"]
        elif isinstance(node.get("context"), Mapping):
            blocks.append("\nDuring handling of the above exception, another exception occurred:\n")
            node = node["context"]
        else:
            node = None
    # Python prints the root cause first.
    return "\n".join(reversed(blocks))
