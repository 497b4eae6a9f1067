"""What every server integration shares: the access line, the error line, header names."""

from __future__ import annotations

import logging
import re
from typing import Any

from tracelog.logger import BoundLogger, get_logger
from tracelog.propagation import REQUEST_ID_HEADER, Incoming, from_values

ACCESS_LOGGER = "tracelog.access"
ERROR_LOGGER = "tracelog.error"
#: Paths longer than this are cut in access lines (the rest is marked, not logged).
MAX_PATH_LENGTH = 2048
_LOGGED = "__tracelog_logged__"

# Loggers on which servers report an exception that escaped the application.
# A record there for an exception tracelog already logged is dropped.
SERVER_ERROR_LOGGERS = ("uvicorn.error", "hypercorn.error", "waitress", "gunicorn.error")

_TOKEN = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]{1,64}")
_loggers: dict[str, BoundLogger] = {}


def _logger(name: str) -> BoundLogger:
    # Made on first use, so importing an integration never configures anything.
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers[name] = get_logger(name)
    return logger


def header_name(name: str | None = REQUEST_ID_HEADER) -> str:
    """A request-id header name, lowercase, checked to be an HTTP token ("" for none)."""
    if not name:
        return ""
    lowered = name.strip().lower()
    if _TOKEN.fullmatch(lowered) is None:
        raise ValueError(f"request_id_header={name!r} is not a valid HTTP header name")
    return lowered


def short_path(path: object) -> str:
    text = path if type(path) is str else str(path)
    if len(text) > MAX_PATH_LENGTH:
        return text[:MAX_PATH_LENGTH] + "..."
    return text


def client_address(host: Any, port: Any = None) -> str | None:
    """The access line's ``client``: ``host:port`` (``[host]:port`` for IPv6), or the host alone.

    None when the server gave no host. The schemas split it again into
    ``client.address`` and ``client.port``.
    """
    if not host:
        return None
    text = str(host)
    if not port:
        return text
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


def log_access(
    method: str, path: str, status: int | None, duration: float, client: str | None
) -> None:
    logger = _loggers.get(ACCESS_LOGGER) or _logger(ACCESS_LOGGER)
    logger.info(
        f"{method} {path} {status}",
        method=method,
        path=path,
        status=status,
        duration_ms=int(duration * 1_000_000) / 1000,
        client=client,
    )


def log_unhandled(error: BaseException, method: str, path: str) -> None:
    """Log an exception that escaped the application, once, with the request's trace."""
    _logger(ERROR_LOGGER).error(
        f"unhandled {type(error).__name__} in {method} {path}",
        method=method,
        path=path,
        exc_info=error,
    )
    mark_logged(error)


def mark_logged(error: BaseException) -> None:
    try:
        setattr(error, _LOGGED, True)
    except Exception:
        pass


def was_logged(error: object) -> bool:
    return bool(getattr(error, _LOGGED, False))


class SkipLoggedExceptions(logging.Filter):
    """Drop a server's report of an exception tracelog already logged with its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        return not (exc_info and was_logged(exc_info[1]))


_skip_filter = SkipLoggedExceptions()


def install_duplicate_filter(names: tuple[str, ...] = SERVER_ERROR_LOGGERS) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if _skip_filter not in logger.filters:
            logger.addFilter(_skip_filter)


def environ_key(header: str) -> str:
    """The WSGI/CGI environ key of a request header: ``x-request-id`` -> ``HTTP_X_REQUEST_ID``."""
    return "HTTP_" + header.upper().replace("-", "_") if header else ""


def extract_environ(environ: Any, request_id_key: str) -> Incoming:
    """:func:`tracelog.propagation.extract` for a WSGI environ or Django's ``request.META``.

    Servers join repeated headers with commas: a repeated traceparent then
    fails validation (so the trace restarts), repeated tracestates combine.
    """
    try:
        traceparent = environ.get("HTTP_TRACEPARENT")
        request_id = environ.get(request_id_key) if request_id_key else None
        if traceparent is None and request_id is None:
            return _NOTHING
        tracestate = environ.get("HTTP_TRACESTATE")
        return from_values(
            () if traceparent is None else (traceparent,),
            () if tracestate is None else (tracestate,),
            () if request_id is None else (request_id,),
        )
    except Exception:
        return _NOTHING


_NOTHING = Incoming()
