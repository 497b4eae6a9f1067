"""What every server integration shares: the access line, the error line, header names."""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any

from tracelog.context import TraceContext
from tracelog.logger import BoundLogger, get_logger
from tracelog.propagation import (
    REQUEST_ID_FIELD,
    REQUEST_ID_HEADER,
    Incoming,
    from_values,
    parse_request_id,
)

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


def integration_logger(name: str) -> BoundLogger:
    """A tracelog logger for an integration's own lines, made on first use.

    So importing an integration never configures anything.
    """
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers[name] = get_logger(name)
    return logger


_logger = integration_logger


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


#: asgi-correlation-id's message for an id its validator refused, word for word.
FAILED_VALIDATION_MESSAGE = (
    "Generated new request ID (%s), since request header value failed validation"
)
_validation_log = logging.getLogger("tracelog.integrations")


class RequestIds:
    """How a request's id is chosen: the caller's, checked, or a new one.

    The caller's id must first be safe (printable, no spaces, at most 200
    characters: :data:`tracelog.propagation.REQUEST_ID_RE`); then
    ``validator(id)`` must be true (default: no further check), and
    ``transformer(id)`` may rewrite it (the result must be safe too). With
    none, or one refused, the id is ``generator()`` (default: the trace id).
    The chosen id is bound as ``request_id`` and sent in the response header,
    so searching for the header's value finds every line of the request.
    """

    __slots__ = ("generator", "transformer", "validator")

    def __init__(
        self,
        validator: Callable[[str], bool] | None = None,
        generator: Callable[[], str] | None = None,
        transformer: Callable[[str], str] | None = None,
    ) -> None:
        for name, value in (
            ("validator", validator),
            ("generator", generator),
            ("transformer", transformer),
        ):
            if value is not None and not callable(value):
                raise TypeError(f"{name}={value!r} is not callable")
        self.validator = validator
        self.generator = generator
        self.transformer = transformer

    def context(self, incoming: Incoming) -> tuple[TraceContext, str]:
        """The request's context, with ``request_id`` bound, and the id for the response."""
        ctx = incoming.context()
        chosen = self.choose(incoming.request_id, ctx.trace_id or "")
        if chosen != incoming.request_id:
            ctx = ctx.replace(fields=MappingProxyType({**ctx.fields, REQUEST_ID_FIELD: chosen}))
        return ctx, chosen

    def choose(self, given: str | None, trace_id: str) -> str:
        refused = False
        if given is not None:
            if self.validator is not None and not _accepts(self.validator, given):
                given, refused = None, True
            elif self.transformer is not None:
                given = _transformed(self.transformer, given)
        if given is not None:
            return given
        chosen = trace_id
        if self.generator is not None:
            try:
                chosen = parse_request_id(self.generator()) or trace_id
            except Exception:
                pass  # a generator that fails: the trace id, which is always there
        if refused:
            _validation_log.warning(FAILED_VALIDATION_MESSAGE, chosen)
        return chosen


def _accepts(validator: Callable[[str], bool], value: str) -> bool:
    try:
        return bool(validator(value))
    except Exception:
        return False


def _transformed(transformer: Callable[[str], str], value: str) -> str | None:
    try:
        return parse_request_id(transformer(value))
    except Exception:
        return None


DEFAULT_REQUEST_IDS = RequestIds()


class AccessLog:
    """Which requests get an access line.

    - ``exclude_paths``: paths (globs: ``/static/*``, ``/health*``) that never
      get one; default ``TRACELOG_ACCESS_EXCLUDE`` (comma-separated), else none.
    - ``sample``: the fraction of successful (below 400) requests that get one;
      default ``TRACELOG_ACCESS_SAMPLE``, else 1. Errors always get theirs. The
      choice follows the trace id, so every service keeps the same requests.
    """

    __slots__ = ("_excluded", "enabled", "exclude_paths", "sample")

    def __init__(
        self,
        enabled: bool = True,
        exclude_paths: Iterable[str] | None = None,
        sample: float | None = None,
    ) -> None:
        if exclude_paths is None:
            exclude_paths = _env_list("TRACELOG_ACCESS_EXCLUDE")
        elif isinstance(exclude_paths, str):
            raise _configuration_error(
                f"exclude_paths={exclude_paths!r} must be a list of paths, not a string"
            )
        self.enabled = bool(enabled)
        self.exclude_paths = tuple(str(path) for path in exclude_paths)
        self._excluded = (
            re.compile("|".join(fnmatch.translate(path) for path in self.exclude_paths))
            if self.exclude_paths
            else None
        )
        self.sample = _fraction(sample, "sample") if sample is not None else _env_sample()

    def wants(self, path: str, status: int | None, trace_id: str | None) -> bool:
        if not self.enabled:
            return False
        if self._excluded is not None and self._excluded.match(path):
            return False
        if self.sample >= 1.0 or status is None or status >= 400:
            return True
        return _trace_fraction(trace_id) < self.sample


def _trace_fraction(trace_id: str | None) -> float:
    try:
        return int(str(trace_id)[-8:], 16) / 0x1_0000_0000
    except ValueError:
        return 0.0


def _env_list(variable: str) -> list[str]:
    value = os.environ.get(variable) or ""
    return [item.strip() for item in value.split(",") if item.strip()]


def _env_sample() -> float:
    value = os.environ.get("TRACELOG_ACCESS_SAMPLE")
    return 1.0 if not value else _fraction(value, "TRACELOG_ACCESS_SAMPLE")


def _fraction(value: Any, source: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise _configuration_error(f"{source}={value!r} is not a fraction from 0 to 1")
    return number


def _configuration_error(message: str) -> ValueError:
    from tracelog._errors import ConfigurationError

    return ConfigurationError(message)
