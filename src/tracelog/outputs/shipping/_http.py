"""A small keep-alive HTTP client on http.client, for the shippers' background threads."""

from __future__ import annotations

import base64
import email.utils
import http.client
import ssl
import time
import urllib.parse
from collections.abc import Mapping

__all__ = ["HttpClient", "Response", "auth_header", "retry_after_seconds"]

#: A server asking for a longer pause than this is waited on for this long at most.
MAX_RETRY_AFTER = 300.0


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers.get("retry-after"))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(when - (time.time() if now is None else now), 0.0), MAX_RETRY_AFTER)


def auth_header(auth: tuple[str, str] | str | None, scheme: str = "Bearer") -> str | None:
    """``(user, password)`` -> Basic; a string -> ``<scheme> <string>``."""
    if auth is None:
        return None
    if isinstance(auth, tuple):
        user, password = auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return f"Basic {token}"
    return f"{scheme} {auth}"


class HttpClient:
    """One persistent connection to one origin; reconnects after any error."""

    __slots__ = ("_conn", "_context", "headers", "host", "path", "port", "scheme", "timeout")

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url={url!r} is not an http:// or https:// URL")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.path = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._context = ssl_context
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                context = self._context or ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST ``body``; raises OSError or http.client.HTTPException on transport failure."""
        conn = self._connection()
        try:
            conn.request("POST", self.path + path, body=body, headers={**self.headers, **headers})
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def forget(self) -> None:
        """Drop the connection without closing it (a forked child must not touch the parent's)."""
        self._conn = None
