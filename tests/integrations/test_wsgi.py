"""WSGI TraceMiddleware: Flask under a real threaded waitress and a real gunicorn."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from _servers import Process, free_port, python

import tracelog
from tracelog.integrations.wsgi import TraceMiddleware

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
REQUESTS = 200


def _waitress(port: int) -> list[str]:
    return python("-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=8", "flask_app:app")


def _gunicorn(port: int) -> list[str]:
    return python(
        "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "4",
        "--logger-class", "tracelog.integrations.gunicorn.GunicornLogger", "flask_app:app",
    )  # fmt: skip


@pytest.fixture(scope="module", params=["waitress", "gunicorn"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Process, int]]:
    port = free_port()
    args = _waitress(port) if request.param == "waitress" else _gunicorn(port)
    with Process(args) as proc:
        proc.wait_for_port(port)
        yield proc, port


def _fire(port: int) -> list[httpx.Response]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

        def one(i: int) -> httpx.Response:
            headers = {"X-Request-ID": f"req-{i}"}
            if i % 2:
                headers["traceparent"] = f"00-{TRACE[:-4]}{i:04x}-{PARENT}-01"
            return client.get(f"/work/{i}", headers=headers)

        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(one, range(REQUESTS)))


class TestFlaskUnderRealServers:
    def test_every_line_carries_its_own_request(self, server: tuple[Process, int]) -> None:
        proc, port = server
        responses = _fire(port)
        for i, response in enumerate(responses):
            assert 200 == response.status_code
            assert f"req-{i}" == response.headers["x-request-id"]
        proc.wait_for_lines(
            lambda e: str(e.get("request_id")).startswith("req-") and "status" in e, REQUESTS
        )
        by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in proc.events():
            if "request_id" in event:
                by_request[event["request_id"]].append(event)
        for i, response in enumerate(responses):
            lines = by_request[f"req-{i}"]
            assert 4 == len(lines), lines  # two steps, Flask's logger, the access line
            assert {i} == {line.get("n", i) for line in lines}
            trace_ids = {line["trace_id"] for line in lines}
            assert {response.json()["trace_id"]} == trace_ids
            if i % 2:
                assert {f"{TRACE[:-4]}{i:04x}"} == trace_ids
                assert {PARENT} == {line["parent_span_id"] for line in lines}
            (access,) = [line for line in lines if line["logger"] == "tracelog.access"]
            assert ("GET", f"/work/{i}", 200) == (
                access["method"],
                access["path"],
                access["status"],
            )
            assert access["client"].startswith("127.0.0.1")

    def test_unhandled_exception_logged_once(self, server: tuple[Process, int]) -> None:
        proc, port = server
        response = httpx.get(f"http://127.0.0.1:{port}/boom", headers={"X-Request-ID": "boom-1"})
        assert 500 == response.status_code
        assert "boom-1" == response.headers["x-request-id"]
        proc.wait_for_line(lambda e: e.get("request_id") == "boom-1" and e.get("status") == 500)
        errors = [e for e in proc.events() if "exception" in e]
        assert 1 == len([e for e in errors if e.get("request_id") == "boom-1"])
        assert not [e for e in errors if "request_id" not in e]
        assert not [line for line in proc.stderr if "Traceback" in line]

    def test_streamed_body_keeps_trace(self, server: tuple[Process, int]) -> None:
        proc, port = server
        response = httpx.get(
            f"http://127.0.0.1:{port}/stream", headers={"X-Request-ID": "stream-1"}
        )
        assert "0\n1\n2\n" == response.text
        proc.wait_for_line(lambda e: e.get("request_id") == "stream-1" and e.get("status") == 200)
        chunks = [
            e
            for e in proc.events()
            if e.get("request_id") == "stream-1" and e["message"] == "chunk"
        ]
        assert 3 == len(chunks)
        assert 1 == len({e["trace_id"] for e in chunks})

    def test_server_lines_are_tracelog_json(self, server: tuple[Process, int]) -> None:
        proc, _ = server
        events = proc.events()  # strict: every stdout line is JSON
        servers = {e["logger"] for e in events} & {"waitress", "gunicorn.error"}
        assert servers, {e["logger"] for e in events}


# --- the WSGI interface directly ----------------------------------------------------------


def _run(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    body = app(environ, start_response)
    try:
        data = b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()
    return captured["status"], captured["headers"], data


def _environ(**headers: str) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/x",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "9",
    }
    environ.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    return environ


def _hello(environ: Any, start_response: Any) -> list[bytes]:
    tracelog.get_logger("app").info("inside")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


class TestWsgiInterface:
    @pytest.mark.parametrize(
        "headers",
        [
            {"x_request_id": "x" * 65536},
            {"x_request_id": "abc\r\nSet-Cookie: a=1"},
            {"x_request_id": "caf\u00e9"},
            {"traceparent": "\x00" * 55, "tracestate": "a=" + "b" * 65536},
            {"x_request_id": "a, b"},
        ],
    )
    def test_bad_headers_never_cost_the_request(
        self, headers: dict[str, str], tracelog_events: Any
    ) -> None:
        status, response_headers, body = _run(TraceMiddleware(_hello), _environ(**headers))
        assert ("200 OK", b"hi") == (status, body)
        (rid,) = [v for k, v in response_headers if k.lower() == "x-request-id"]
        assert 32 == len(rid)
        assert {rid} == {e["trace_id"] for e in tracelog_events}
        assert {rid} == {e["request_id"] for e in tracelog_events}  # the id the response carries

    def test_exception_gives_500_with_request_id(self, tracelog_events: Any) -> None:
        def app(environ: Any, start_response: Any) -> list[bytes]:
            raise KeyError("gone")

        status, headers, _ = _run(TraceMiddleware(app), _environ(x_request_id="r-1"))
        assert status.startswith("500")
        assert ("X-Request-ID", "r-1") in headers
        (error,) = [e for e in tracelog_events if "exception" in e]
        assert "r-1" == error["request_id"]
        (access,) = [e for e in tracelog_events if e["logger"] == "tracelog.access"]
        assert 500 == access["status"]

    def test_context_does_not_leak_into_the_thread(self) -> None:
        _run(TraceMiddleware(_hello), _environ())
        assert tracelog.current() is None


def test_duplicate_filter_drops_server_report_of_logged_exception(tracelog_events: Any) -> None:
    import logging

    TraceMiddleware(_hello)
    error = RuntimeError("x")
    error.__tracelog_logged__ = True  # type: ignore[attr-defined]
    logging.getLogger("waitress").error("Exception while serving", exc_info=error)
    logging.getLogger("waitress").error("other", exc_info=RuntimeError("y"))
    assert ["other"] == [e["message"] for e in tracelog_events if e["logger"] == "waitress"]
    assert sys.modules["tracelog.integrations._common"]
    assert json
