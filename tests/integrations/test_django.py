"""Django TraceMiddleware, sync (WSGI under waitress) and async (ASGI under uvicorn).

And a project laid out as docs/frameworks/django.md says, under runserver, gunicorn and uvicorn.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from _servers import Process, free_port, python

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
REQUESTS = 120
DOC = Path(__file__).parents[2] / "docs" / "frameworks" / "django.md"


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
        proc.wait_for_lines(
            lambda e: str(e.get("request_id")).startswith("req-") and "status" in e, REQUESTS
        )
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

    @pytest.mark.parametrize(
        ("route", "status", "message"),
        [
            ("nope/{tag}", 404, "Not Found: /nope/{tag}"),  # no such URL
            ("agone/{tag}", 404, "Not Found: /agone/{tag}"),  # an async view raised Http404
            ("aunavailable/{tag}", 503, "Service Unavailable: /aunavailable/{tag}"),  # returned
            ("boom/{tag}", 500, "Internal Server Error: /boom/{tag}"),  # a sync view raised
        ],
    )
    def test_djangos_request_line_carries_the_trace(
        self, server: tuple[Process, int], route: str, status: int, message: str
    ) -> None:
        proc, port = server
        tag = f"dj-{route.split('/')[0]}"
        trace_id = f"{TRACE[:-4]}{status:04x}"
        path = route.format(tag=tag)
        response = httpx.get(
            f"http://127.0.0.1:{port}/{path}",
            headers={"X-Request-ID": tag, "traceparent": f"00-{trace_id}-{PARENT}-01"},
            timeout=30,
        )
        assert status == response.status_code
        expected = message.format(tag=tag)
        proc.wait_for_line(lambda e: e.get("request_id") == tag and e.get("status") == status)
        proc.wait_for_line(lambda e: e.get("message") == expected)
        (line,) = [e for e in proc.events() if e.get("message") == expected]  # written once
        assert ("django.request", trace_id, PARENT, tag) == (
            line["logger"],
            line.get("trace_id"),
            line.get("parent_span_id"),
            line.get("request_id"),
        )
        (access,) = [e for e in proc.events() if e.get("request_id") == tag and "status" in e]
        assert access["span_id"] == line["span_id"]


def docs_settings() -> str:
    """The settings.py block of docs/frameworks/django.md, as the reader copies it."""
    (block,) = re.findall(r"```python\n(# settings\.py\n.*?)```", DOC.read_text(), re.S)
    return block


@pytest.fixture(scope="module", params=["runserver", "gunicorn", "uvicorn"])
def docs_project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, int, int]]:
    """A project laid out as the doc says, and where its stdout's log lines start."""
    project = tmp_path_factory.mktemp("docs_project")
    (project / "docs_settings.py").write_text(
        docs_settings()
        + "\nDEBUG = True\n"  # runserver with DEBUG: where Django's own handlers print most
        + 'ALLOWED_HOSTS = ["127.0.0.1"]\n'
        + 'ROOT_URLCONF = "django_docs_urls"\n'
        + 'SECRET_KEY = "tracelog-tests-only"\n'
    )
    port = free_port()
    address = f"127.0.0.1:{port}"
    if request.param == "runserver":
        args = python("-m", "django", "runserver", "--noreload", address)
    elif request.param == "gunicorn":
        logger_class = "tracelog.integrations.gunicorn.GunicornLogger"
        args = python(
            "-m", "gunicorn", "--bind", address, "--workers", "2", "--logger-class", logger_class,
            "django.core.wsgi:get_wsgi_application()",
        )  # fmt: skip
    else:
        args = python(
            "-m", "uvicorn", "--factory", "django.core.asgi:get_asgi_application",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        )  # fmt: skip
    # as the doc says: gunicorn's master never reads settings.py, so it takes its service from here
    server_env = {"TRACELOG_SERVICE": "shop"} if request.param == "gunicorn" else {}
    with Process(
        args,
        cwd=project,
        DJANGO_SETTINGS_MODULE="docs_settings",
        DJANGO_RUNSERVER_HIDE_WARNING="true",
        **server_env,
    ) as proc:
        proc.wait_for_port(port)
        stdout_from = 0
        if request.param == "runserver":  # its banner is printed, not logged: skip it
            deadline = time.monotonic() + 30
            while not any(line.startswith("Quit the server") for line in proc.stdout):
                assert time.monotonic() < deadline, proc.stdout
                time.sleep(0.05)
            stdout_from = next(
                i + 1 for i, line in enumerate(proc.stdout) if line.startswith("Quit the server")
            )
        yield proc, port, stdout_from


class TestDjangoAsTheDocSays:
    def test_every_line_is_json(self, docs_project: tuple[Process, int, int]) -> None:
        proc, port, stdout_from = docs_project
        requests = [("ok", 200), ("nope", 404), ("boom", 500), ("ok", 200)]
        for i, (path, status) in enumerate(requests):
            response = httpx.get(
                f"http://127.0.0.1:{port}/{path}",
                headers={"traceparent": f"00-{TRACE[:-4]}{i:04x}-{PARENT}-01"},
                timeout=30,
            )
            assert status == response.status_code
        last = f"{TRACE[:-4]}{len(requests) - 1:04x}"  # its access line comes after all the rest
        proc.wait_for_line(lambda e: e.get("trace_id") == last and "status" in e)
        time.sleep(0.2)  # for a server's own line about that last request
        lines = proc.stdout[stdout_from:] + proc.stderr
        events = []
        for line in lines:
            if line.strip():
                try:
                    events.append(json.loads(line))
                except ValueError:
                    shown = "\n".join(lines)
                    raise AssertionError(f"not a JSON line: {line!r} in\n{shown}") from None
        assert {"shop"} == {e.get("service") for e in events}
        (not_found,) = [e for e in events if e.get("message") == "Not Found: /nope"]
        (error,) = [e for e in events if e.get("message") == "Internal Server Error: /boom"]
        assert ("django.request", f"{TRACE[:-4]}0001") == (
            not_found["logger"],
            not_found.get("trace_id"),
        )
        assert ("django.request", f"{TRACE[:-4]}0002") == (error["logger"], error.get("trace_id"))
        assert {"type": "RuntimeError", "message": "boom"}.items() <= error["exception"].items()
        assert 1 == len([e for e in events if "exception" in e])
