"""Lines from servers: Grafana Loki (``query_range``) and Elasticsearch (``_search``).

A source hands the commands the same thing a file does: batches of raw JSON lines. Loki gives
back the lines as they were pushed; Elasticsearch gives back each document, written out again as
one JSON line. Only the time window and the trace id are asked of the server; every other filter
runs here, as it does for files. Every fetch is paged and bounded (``--max-lines``), and any
trouble with a server is one :class:`SourceError` line, never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from collections.abc import Iterator
from typing import Any

from tracelog._cli.server import PAGE, Source, SourceError, check_id, full_id

__all__ = [
    "DEFAULT_SELECTOR",
    "DEFAULT_WINDOW",
    "PAGE",
    "Source",
    "SourceError",
    "add_arguments",
    "check_id",
    "from_args",
    "full_id",
    "guarded",
    "window",
]

#: Matches every line tracelog's Loki output ships with its default ``label_keys``.
DEFAULT_SELECTOR = '{level=~".+"}'
#: How far back a server is asked when no ``--since`` is given (not for ``traces``).
DEFAULT_WINDOW = 24 * 3600.0
MAX_LINES = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("servers (mix freely with files)")
    group.add_argument("--loki", metavar="URL", action="append", help="read from Grafana Loki")
    group.add_argument(
        "--query",
        metavar="LOGQL",
        help=f"Loki stream selector to search within (default {DEFAULT_SELECTOR})",
    )
    group.add_argument(
        "--elasticsearch", metavar="URL", action="append", help="read from Elasticsearch"
    )
    group.add_argument(
        "--index", metavar="PATTERN", default="logs-*", help="indices to search (default logs-*)"
    )
    group.add_argument("--tenant", metavar="ID", help="Loki tenant, sent as X-Scope-OrgID")
    group.add_argument(
        "--user",
        metavar="USER[:PASSWORD]",
        help="basic auth; without :PASSWORD it is read from TRACELOG_PASSWORD",
    )
    group.add_argument(
        "--token", metavar="TOKEN", help="bearer token (default: TRACELOG_TOKEN if set)"
    )
    group.add_argument(
        "--api-key", metavar="KEY", help="Elasticsearch API key: the encoded key, or ID:KEY"
    )
    group.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="per request (default 30 s)"
    )
    group.add_argument(
        "--max-lines",
        type=int,
        default=MAX_LINES,
        metavar="N",
        help=f"fetch at most N lines from the servers (default {MAX_LINES:,})",
    )


def window(args: argparse.Namespace, default: float | None = DEFAULT_WINDOW) -> tuple[float, float]:
    """The time window asked of the servers: ``--since``/``--until``, else the last 24 hours."""
    until: float = args.until if getattr(args, "until", None) is not None else time.time()
    since = getattr(args, "since", None)
    if since is None:
        if default is None:
            raise SourceError("a server needs --since (e.g. --since 30m) to bound what is read")
        since = until - default
    if since > until:
        raise SourceError("--since is after --until")
    return float(since), float(until)


def _auth(args: argparse.Namespace, api_key_allowed: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    if args.user:
        user, sep, password = args.user.partition(":")
        if not sep:
            password = os.environ.get("TRACELOG_PASSWORD", "")
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {basic}"
    bearer = args.token or (None if args.user else os.environ.get("TRACELOG_TOKEN"))
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if api_key_allowed and args.api_key:
        key = args.api_key
        if ":" in key:  # ID:KEY, as Elasticsearch's create-API-key answer gives them
            key = base64.b64encode(key.encode()).decode("ascii")
        headers["Authorization"] = f"ApiKey {key}"
    return headers


def from_args(args: argparse.Namespace) -> list[Source]:
    """The servers named on the command line (none: only files)."""
    sources: list[Source] = []
    if not (args.loki or args.elasticsearch):
        return sources  # nothing to import: the command starts as fast as it did for files
    from tracelog._cli.elasticsearch import ElasticsearchSource
    from tracelog._cli.loki import LokiSource

    for url in args.loki or ():
        headers = _auth(args, api_key_allowed=False)
        if args.tenant:
            headers["X-Scope-OrgID"] = args.tenant
        sources.append(
            LokiSource(url, args.query or DEFAULT_SELECTOR, headers, args.timeout, args.max_lines)
        )
    for url in args.elasticsearch or ():
        headers = _auth(args, api_key_allowed=True)
        sources.append(ElasticsearchSource(url, args.index, headers, args.timeout, args.max_lines))
    return sources


def guarded(source: Source, batches: Iterator[list[bytes]], skipped: Any) -> Iterator[list[bytes]]:
    """``batches`` from ``source``; a server's error ends it with one line on stderr."""
    try:
        yield from batches
    except SourceError as error:
        skipped.error(str(error))
        return
    if source.reached_limit:
        skipped.note(
            f"stopped after --max-lines {source.max_lines:,} lines from {source.name}; "
            "there are more (narrow --since/--until or raise --max-lines)",
            now=True,
        )
