"""Django TraceMiddleware, sync (WSGI under waitress) and async (ASGI under uvicorn)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from _servers import Process, free_port, python

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
REQUESTS = 120


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Process, int]]:
    port = free_port()
    if request.param == "wsgi":
        args = python(
            "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=8", "django_app:application"
        )
    else:
        args = python(
            "-m", "uvicorn", "django_app:asgi_application", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log",
        )  # fmt: skip
    with Process(args) as proc:
        proc.wait_for_port(port)
        yield proc, port


class TestDjangoUnderRealServers:
    def test_every_line_carries_its_own_request(self, server: tuple[Process, int]) -> None:
        proc, port = server

        def one(i: int) -> httpx.Response:
            headers = {"X-Request-ID": f"req-{i}"}
            if i % 2:
                headers["traceparent"] = f"00-{TRACE[:-4]}{i:04x}-{PARENT}-01"
            route = "awork" if i % 3 else "work"
            return httpx.get(f"http://127.0.0.1:{port}/{route}/{i}", headers=headers, timeout=30)

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(one, range(REQUESTS)))
        for i, response in enumerate(responses):
            assert 200 == response.status_code, response.text
            assert f"req-{i}" == response.headers["x-request-id"]
        proc.wait_for_line(lambda e: e.get("request_id") == f"req-{REQUESTS - 1}" and "status" in e)
        by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in proc.events():
            if "request_id" in event:
                by_request[event["request_id"]].append(event)
        for i, response in enumerate(responses):
            lines = by_request[f"req-{i}"]
            assert 3 == len(lines), lines  # the view's line, the stdlib line, the access line
            assert {i} == {line.get("n", i) for line in lines}
            trace_ids = {line["trace_id"] for line in lines}
            assert {response.json()["trace_id"]} == trace_ids
            if i % 2:
                assert {f"{TRACE[:-4]}{i:04x}"} == trace_ids
                assert {PARENT} == {line["parent_span_id"] for line in lines}
            (access,) = [line for line in lines if line["logger"] == "tracelog.access"]
            assert ("GET", 200) == (access["method"], access["status"])

    def test_view_exception_logged_once_with_request_id(self, server: tuple[Process, int]) -> None:
        proc, port = server
        response = httpx.get(f"http://127.0.0.1:{port}/boom", headers={"X-Request-ID": "boom-1"})
        assert 500 == response.status_code
        assert "boom-1" == response.headers["x-request-id"]
        proc.wait_for_line(lambda e: e.get("request_id") == "boom-1" and e.get("status") == 500)
        errors = [e for e in proc.events() if "exception" in e]
        (mine,) = [e for e in errors if e.get("request_id") == "boom-1"]
        assert "django.request" == mine["logger"]
        assert not [e for e in errors if "request_id" not in e]

    def test_bad_request_id_is_replaced_by_the_trace_id(self, server: tuple[Process, int]) -> None:
        proc, port = server
        response = httpx.get(f"http://127.0.0.1:{port}/work/1", headers={"X-Request-ID": "a" * 300})
        assert response.json()["trace_id"] == response.headers["x-request-id"]
        proc.wait_for_line(
            lambda e: e.get("trace_id") == response.json()["trace_id"] and "status" in e
        )
        assert not [line for line in proc.stdout if "a" * 300 in line]

    def test_server_lines_are_tracelog_json(self, server: tuple[Process, int]) -> None:
        proc, _ = server
        proc.events()  # strict: every stdout line is JSON
