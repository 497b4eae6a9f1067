"""What the server sources share: JSON over HTTP with one-line errors, paging sizes, ids."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

__all__ = [
    "LOKI_MAX_ENTRIES",
    "PAGE",
    "Http",
    "Source",
    "SourceError",
    "check_id",
    "full_id",
]

#: Lines asked for per request (and the bound of a prefix search).
PAGE = 1000
#: Loki's default max_entries_limit_per_query.
LOKI_MAX_ENTRIES = 5000
_ID = re.compile(r"[0-9a-zA-Z_-]{1,128}\Z")
_FULL_ID = re.compile(r"[0-9a-f]{32}\Z")


class SourceError(Exception):
    """A server could not be asked, or refused: one line a person can act on."""


class Http:
    """JSON over HTTP with urllib; every failure becomes a one-line :class:`SourceError`."""

    def __init__(self, kind: str, url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(f"{kind}: {url!r} is not an http:// or https:// URL")
        self.kind = kind
        self.base = url.rstrip("/")
        self.headers = {"User-Agent": "tracelog", "Accept": "application/json", **headers}
        self.timeout = timeout
        self.requests = 0

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        # Here, not at the top: the command starts without them when it reads only files.
        import urllib.error
        import urllib.request

        import orjson

        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = None if body is None else orjson.dumps(body)
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = _detail(error.read(64 * 1024) if error.fp else b"")
            hint = ""
            if error.code in (401, 403):
                options = "--tenant, --user or --token" if self.kind == "Loki" else None
                hint = f" (check {options or '--user, --token or --api-key'})"
            raise SourceError(
                f"{self.kind} at {self.base} answered {error.code}{hint}: {detail}".rstrip(": ")
            ) from None
        except TimeoutError:
            raise SourceError(
                f"{self.kind} at {self.base} did not answer within {self.timeout:g} s (--timeout)"
            ) from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise SourceError(
                    f"{self.kind} at {self.base} did not answer within {self.timeout:g} s "
                    "(--timeout)"
                ) from None
            text = getattr(reason, "strerror", None) or str(reason)
            raise SourceError(f"cannot reach {self.kind} at {self.base}: {text}") from None
        except (OSError, ValueError) as error:  # a reset connection, a broken answer
            raise SourceError(f"{self.kind} at {self.base}: {error}") from None
        try:
            return orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise SourceError(
                f"{self.kind} at {self.base} answered something that is not JSON: {_detail(raw)}"
            ) from None


def _detail(body: bytes) -> str:
    """The server's reason, from a JSON error body or the first line of a text one."""
    import orjson

    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        error = obj.get("error")
        if isinstance(error, dict):  # Elasticsearch
            causes = error.get("root_cause")
            cause = causes[0] if isinstance(causes, list) and causes else error
            if isinstance(cause, dict):
                return f"{cause.get('type', 'error')}: {cause.get('reason', '')}"
        for key in ("error", "message"):  # Loki's JSON errors
            if isinstance(obj.get(key), str):
                return _one_line(obj[key])
    return _one_line(body.decode("utf-8", "replace"))


def _one_line(text: str) -> str:
    from tracelog._cli.pretty import escape

    first = text.strip().split("\n", 1)[0]
    return escape(first[:300])


class Source:
    """What every server offers the commands."""

    kind = "server"
    http: Http
    max_lines: int

    @property
    def requests(self) -> int:
        return self.http.requests

    @property
    def name(self) -> str:
        return f"{self.kind} at {self.http.base}"

    def candidates(self, prefix: str, since: float, until: float) -> tuple[set[str], bool]:
        """Trace ids starting with ``prefix``, from one bounded query; True if it was cut."""
        raise NotImplementedError

    def lines(
        self, since: float, until: float, trace: str | None = None, exact: bool = False
    ) -> Iterator[list[bytes]]:
        """Every line in the window (of one trace, or of ids starting with ``trace``)."""
        raise NotImplementedError

    def __init__(self) -> None:
        self.reached_limit = False


def check_id(text: str) -> str:
    """A trace id or prefix as the servers are asked for it; refuses what could inject a query."""
    if not _ID.match(text):
        raise SourceError(f"{text!r} is not a trace id (letters, digits, - and _ only)")
    return text


def full_id(text: str) -> bool:
    """Whether ``text`` is a whole W3C trace id (no prefix search needed)."""
    return bool(_FULL_ID.match(text))
