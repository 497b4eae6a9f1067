"""Request ids as asgi-correlation-id users expect them, access lines, request-wide bind()."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from fastapi import BackgroundTasks, Depends, FastAPI
from fastapi.testclient import TestClient

import tracelog
from tracelog.integrations import wsgi
from tracelog.integrations.asgi import TraceMiddleware
from tracelog.integrations.servers import tame_loggers
from tracelog.stdlib import TraceFilter


def _scope(path: str = "/x", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": headers or [],
        "client": ("127.0.0.1", 5000),
        "asgi": {"version": "3.0"},
    }


def _call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _status_app(status: int) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        tracelog.get_logger("app").info("inside", seen=_header(scope, b"x-request-id"))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return str(value.decode())
    return None


def _response_id(sent: list[dict[str, Any]]) -> str:
    (value,) = [v for k, v in sent[0]["headers"] if k == b"x-request-id"]
    return str(value.decode())


def _is_uuid_hex(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


class TestRequestIds:
    def test_no_id_sent_binds_the_one_the_response_carries(self, tracelog_events: Any) -> None:
        sent = _call(TraceMiddleware(_status_app(200)), _scope())
        rid = _response_id(sent)
        assert {rid} == {e["request_id"] for e in tracelog_events if e["logger"] != "asyncio"}

    def test_validator_refuses_then_generator_makes_one(
        self, tracelog_events: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = TraceMiddleware(_status_app(200), validator=_is_uuid_hex, generator=lambda: "gen-1")
        sent = _call(app, _scope(headers=[(b"x-request-id", b"not-a-uuid")]))
        assert "gen-1" == _response_id(sent)
        inside = tracelog_events.find(message="inside")[0]
        assert "gen-1" == inside["request_id"]
        (warning,) = tracelog_events.find(logger="tracelog.integrations")
        assert (
            "Generated new request ID (gen-1), since request header value failed validation"
            == warning["message"]
        )

    def test_validator_accepts(self, tracelog_events: Any) -> None:
        given = "4bf92f3577b34da6a3ce929d0e0e4736"
        app = TraceMiddleware(_status_app(200), validator=_is_uuid_hex)
        sent = _call(app, _scope(headers=[(b"x-request-id", given.encode())]))
        assert given == _response_id(sent)

    def test_transformer_rewrites_and_must_stay_safe(self, tracelog_events: Any) -> None:
        app = TraceMiddleware(_status_app(200), transformer=lambda v: v * 2)
        assert "abab" == _response_id(_call(app, _scope(headers=[(b"x-request-id", b"ab")])))
        unsafe = TraceMiddleware(_status_app(200), transformer=lambda v: v + "\r\nx: y")
        sent = _call(unsafe, _scope(headers=[(b"x-request-id", b"ab")]))
        assert sent[0]["headers"] and "\r" not in _response_id(sent)
        assert 32 == len(_response_id(sent))  # refused: the trace id

    def test_an_unsafe_id_is_never_taken_whatever_the_validator(self, tracelog_events: Any) -> None:
        app = TraceMiddleware(_status_app(200), validator=lambda v: True)
        sent = _call(app, _scope(headers=[(b"x-request-id", b"a b")]))
        assert "a b" != _response_id(sent)

    def test_update_request_header(self, tracelog_events: Any) -> None:
        app = TraceMiddleware(_status_app(200), update_request_header=True)
        sent = _call(app, _scope())
        assert _response_id(sent) == tracelog_events.find(message="inside")[0]["seen"]

    def test_not_callable_is_refused(self) -> None:
        with pytest.raises(TypeError, match="validator"):
            TraceMiddleware(_status_app(200), validator="uuid4")  # type: ignore[arg-type]

    def test_wsgi_takes_the_same_options(self, tracelog_events: Any) -> None:
        def app(environ: Any, start_response: Any) -> list[bytes]:
            tracelog.get_logger("app").info("inside", seen=environ.get("HTTP_X_REQUEST_ID"))
            start_response("200 OK", [])
            return [b"ok"]

        middleware = wsgi.TraceMiddleware(
            app, validator=_is_uuid_hex, generator=lambda: "w-1", update_request_header=True
        )
        headers: list[Any] = []
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_X_REQUEST_ID": "bad"}
        body = middleware(environ, lambda status, h, *exc: headers.extend(h))
        list(body)
        body.close()  # type: ignore[attr-defined]
        assert ("X-Request-ID", "w-1") in headers
        assert "w-1" == tracelog_events.find(message="inside")[0]["seen"]
        assert {"w-1"} == {e["request_id"] for e in tracelog_events if "request_id" in e}


class TestTraceFilterDefaults:
    def test_format_string_fields_never_cost_the_line(self) -> None:
        logger = logging.getLogger("tests.tracefilter")
        logger.propagate = False
        stream: list[str] = []

        class ListHandler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                stream.append(self.format(record))

        handler = ListHandler()
        handler.addFilter(TraceFilter(keys=("user_id",)))
        handler.setFormatter(
            logging.Formatter(
                "[%(request_id)s %(trace_id)s %(span_id)s %(parent_span_id)s %(user_id)s] "
                "%(message)s"
            )
        )
        logger.addHandler(handler)
        try:
            logger.warning("outside")
            with tracelog.trace(request_id="r-1", user_id=7) as ctx:
                logger.warning("inside")
        finally:
            logger.removeHandler(handler)
            logger.propagate = True
        assert ["[- - - - -] outside", f"[r-1 {ctx.trace_id} {ctx.span_id} - 7] inside"] == stream

    def test_default_none_sets_only_what_the_context_has(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        TraceFilter(default=None).filter(record)
        assert not hasattr(record, "request_id")

    def test_the_placeholder_never_reaches_a_tracelog_line(self, tracelog_events: Any) -> None:
        logger = logging.getLogger("tests.ours_with_filter")
        logger.addFilter(TraceFilter())
        try:
            logger.warning("outside")
        finally:
            logger.filters.clear()
        (event,) = tracelog_events.find(message="outside")
        assert not {"trace_id", "trace_id_", "span_id", "request_id"} & set(event)


class TestAccessLines:
    def test_excluded_paths_with_globs(self, tracelog_events: Any) -> None:
        app = TraceMiddleware(_status_app(200), exclude_paths=["/healthz", "/metrics*"])
        for path in ("/healthz", "/metrics/cpu", "/orders"):
            _call(app, _scope(path))
        access = tracelog_events.find(logger="tracelog.access")
        assert ["/orders"] == [e["path"] for e in access]
        assert 3 == len(tracelog_events.find(message="inside"))  # the requests still log

    def test_sampling_keeps_every_error(self, tracelog_events: Any) -> None:
        ok = TraceMiddleware(_status_app(200), access_sample=0.0)
        failing = TraceMiddleware(_status_app(503), access_sample=0.0)
        for _ in range(5):
            _call(ok, _scope("/ok"))
            _call(failing, _scope("/down"))
        access = tracelog_events.find(logger="tracelog.access")
        assert ["/down"] * 5 == [e["path"] for e in access]

    def test_sampling_follows_the_trace_id(self, tracelog_events: Any) -> None:
        app = TraceMiddleware(_status_app(200), access_sample=0.5)
        kept = 0
        for i in range(64):
            trace_id = f"{i:032x}" if i else "1" * 32
            tp = f"00-{trace_id[:24]}{i * 0x3FFFFFF:08x}-00f067aa0ba902b7-01"
            _call(app, _scope("/s", [(b"traceparent", tp.encode())]))
            kept += 1
        sampled = tracelog_events.find(logger="tracelog.access")
        assert 0 < len(sampled) < kept
        for event in sampled:
            assert int(event["trace_id"][-8:], 16) / 2**32 < 0.5

    def test_exclusions_from_the_environment(
        self, tracelog_events: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TRACELOG_ACCESS_EXCLUDE", "/healthz, /static/*")
        app = TraceMiddleware(_status_app(200))
        for path in ("/healthz", "/static/app.js", "/orders"):
            _call(app, _scope(path))
        assert ["/orders"] == [e["path"] for e in tracelog_events.find(logger="tracelog.access")]

    def test_a_bad_sample_is_a_configuration_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with pytest.raises(tracelog.ConfigurationError, match="sample"):
            TraceMiddleware(_status_app(200), access_sample=1.5)
        monkeypatch.setenv("TRACELOG_ACCESS_SAMPLE", "half")
        with pytest.raises(tracelog.ConfigurationError, match="TRACELOG_ACCESS_SAMPLE"):
            TraceMiddleware(_status_app(200))


def _fastapi_app() -> FastAPI:
    app = FastAPI()
    log = tracelog.get_logger("shop")

    def sync_user() -> int:  # FastAPI runs it in its thread pool, in a copied context
        tracelog.bind(user_id=7)
        return 7

    async def async_tenant() -> str:
        tracelog.bind(tenant="acme")
        return "acme"

    def later() -> None:
        log.info("background work")

    @app.get("/orders")
    async def orders(
        tasks: BackgroundTasks,
        user: int = Depends(sync_user),
        tenant: str = Depends(async_tenant),
    ) -> dict[str, Any]:
        log.info("in the endpoint")
        tasks.add_task(later)
        return {"user": user}

    @app.get("/sync")
    def sync_endpoint(user: int = Depends(sync_user)) -> dict[str, Any]:
        log.info("in a sync endpoint")
        return {"user": user}

    app.add_middleware(TraceMiddleware)
    return app


class TestRequestWideFields:
    def test_dependencies_bind_for_the_rest_of_the_request(self, tracelog_events: Any) -> None:
        with TestClient(_fastapi_app()) as client:
            response = client.get("/orders")
        assert 200 == response.status_code
        endpoint = tracelog_events.find(message="in the endpoint")[0]
        (access,) = tracelog_events.find(logger="tracelog.access")
        background = tracelog_events.find(message="background work")[0]
        for event in (endpoint, access, background):
            assert 7 == event["user_id"]
            assert "acme" == event["tenant"]
            assert response.headers["x-request-id"] == event["request_id"]
        assert {endpoint["trace_id"]} == {access["trace_id"], background["trace_id"]}

    def test_sync_endpoint_sees_what_its_dependency_bound(self, tracelog_events: Any) -> None:
        with TestClient(_fastapi_app()) as client:
            client.get("/sync")
        assert 7 == tracelog_events.find(message="in a sync endpoint")[0]["user_id"]
        assert 7 == tracelog_events.find(logger="tracelog.access")[0]["user_id"]

    def test_requests_do_not_share_their_fields(self, tracelog_events: Any) -> None:
        seen: list[Any] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["path"] == "/a":
                tracelog.bind(who="a")
            seen.append(tracelog.current().fields.get("who"))  # type: ignore[union-attr]
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        middleware = TraceMiddleware(app)
        _call(middleware, _scope("/a"))
        _call(middleware, _scope("/b"))
        assert ["a", None] == seen
        assert tracelog.current() is None

    def test_background_tasks_come_after_the_access_line(self, tracelog_events: Any) -> None:
        with TestClient(_fastapi_app()) as client:
            client.get("/orders")
        order = [
            e.get("message") if e["logger"] != "tracelog.access" else "access"
            for e in tracelog_events
            if e["logger"] in ("shop", "tracelog.access")
        ]
        # The access line is written when the last body byte is sent, so its
        # duration_ms does not include the background work that follows.
        assert ["in the endpoint", "access", "background work"] == order


class TestUvicornAccessLog:
    def test_plain_text_handler_is_taken_off(self) -> None:
        tracelog.configure()
        access = logging.getLogger("uvicorn.access")
        plain = logging.StreamHandler()
        access.addHandler(plain)
        access.propagate = False
        try:
            TraceMiddleware(_status_app(200))
            assert plain not in access.handlers and access.propagate
            assert not access.isEnabledFor(logging.INFO)  # the middleware writes the line
            access.addHandler(plain)
            TraceMiddleware(_status_app(200), access_log=False)
            assert plain not in access.handlers and access.isEnabledFor(logging.INFO)
        finally:
            access.removeHandler(plain)
            tame_loggers(("uvicorn.access",))
            access.setLevel(logging.NOTSET)
