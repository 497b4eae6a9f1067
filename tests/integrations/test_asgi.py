"""ASGI TraceMiddleware through a real uvicorn, and its edge cases through the ASGI interface."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _servers import Process, free_port, python

import tracelog
from tracelog.integrations.asgi import TraceMiddleware

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
REQUESTS = 300


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Process, int]]:
    port = free_port()
    args = python(
        "-m",
        "uvicorn",
        "asgi_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    )
    with Process(args) as proc:
        proc.wait_for_port(port)
        yield proc, port


async def _fire(port: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
    ) as client:

        async def one(i: int) -> httpx.Response:
            headers = {"x-request-id": f"req-{i}"}
            if i % 2:
                headers["traceparent"] = f"00-{TRACE[:-4]}{i:04x}-{PARENT}-01"
            path = f"/work/{i}" if i % 3 else f"/sync/{i}"
            return await client.get(path, headers=headers)

        return await asyncio.gather(*(one(i) for i in range(REQUESTS)))


class TestTraceMiddlewareUnderUvicorn:
    def test_every_line_carries_its_own_request(self, server: tuple[Process, int]) -> None:
        proc, port = server
        responses = asyncio.run(_fire(port))
        expected_lines = {}
        for i, response in enumerate(responses):
            assert 200 == response.status_code
            assert f"req-{i}" == response.headers["x-request-id"]
            assert i == response.json()["n"]
            expected_lines[i] = 5 if i % 3 else 3  # steps + stdlib line + access line
        proc.wait_for_lines(
            lambda e: str(e.get("request_id")).startswith("req-") and "status" in e, REQUESTS
        )
        by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in proc.events():
            if "request_id" in event:
                by_request[event["request_id"]].append(event)
        for i, response in enumerate(responses):
            lines = by_request[f"req-{i}"]
            assert expected_lines[i] == len(lines), lines
            assert {i} == {line.get("n", i) for line in lines}  # no line of another request
            trace_ids = {line["trace_id"] for line in lines}
            assert {response.json()["trace_id"]} == trace_ids
            if i % 2:
                assert {f"{TRACE[:-4]}{i:04x}"} == trace_ids
                assert {PARENT} == {line["parent_span_id"] for line in lines}
            assert 1 == len({line["span_id"] for line in lines})
            (access,) = [line for line in lines if line["logger"] == "tracelog.access"]
            assert "GET" == access["method"]
            assert 200 == access["status"]
            assert access["path"] in (f"/work/{i}", f"/sync/{i}")
            assert access["client"].startswith("127.0.0.1:")
            assert access["duration_ms"] >= 0

    def test_sync_endpoint_in_threadpool_keeps_trace(self, server: tuple[Process, int]) -> None:
        proc, port = server
        response = httpx.get(
            f"http://127.0.0.1:{port}/sync/1", headers={"x-request-id": "sync-one"}
        )
        line = proc.wait_for_line(
            lambda e: e.get("request_id") == "sync-one" and e["message"] == "sync step"
        )
        assert response.json()["trace_id"] == line["trace_id"]

    def test_server_lines_are_tracelog_json(self, server: tuple[Process, int]) -> None:
        proc, _ = server
        proc.wait_for_line(
            lambda e: e.get("logger") == "uvicorn.error" and "running on" in e["message"]
        )
        events = proc.events()  # strict: every stdout line is JSON
        assert not [e for e in events if e.get("logger") == "uvicorn.access"]
        assert {"asgi-app"} == {e.get("service") for e in events}

    @pytest.mark.parametrize("path", ["/boom", "/boom-sync"])
    def test_unhandled_exception_logged_once(self, server: tuple[Process, int], path: str) -> None:
        proc, port = server
        rid = f"fail-{path.strip('/')}"
        response = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"x-request-id": rid})
        assert 500 == response.status_code
        assert rid == response.headers["x-request-id"]
        proc.wait_for_line(lambda e: e.get("request_id") == rid and e.get("status") == 500)
        errors = [e for e in proc.events() if "exception" in e or "Traceback" in json.dumps(e)]
        mine = [e for e in errors if e.get("request_id") == rid]
        assert 1 == len(mine)
        assert "error" == mine[0]["level"]
        assert mine[0]["trace_id"]
        assert not [e for e in errors if "request_id" not in e]  # no context-free second report
        assert not [line for line in proc.stderr if "Traceback" in line]

    def test_streaming_keeps_trace_and_headers(self, server: tuple[Process, int]) -> None:
        proc, port = server
        with httpx.stream(
            "GET", f"http://127.0.0.1:{port}/stream", headers={"x-request-id": "stream-1"}
        ) as r:
            assert "stream-1" == r.headers["x-request-id"]
            assert "0\n1\n2\n" == r.read().decode()
        proc.wait_for_line(lambda e: e.get("request_id") == "stream-1" and e.get("status") == 200)
        chunks = [
            e
            for e in proc.events()
            if e.get("request_id") == "stream-1" and e["message"] == "chunk"
        ]
        assert 3 == len(chunks)

    def test_websocket(self, server: tuple[Process, int]) -> None:
        from websockets.sync.client import connect

        proc, port = server
        with connect(
            f"ws://127.0.0.1:{port}/ws", additional_headers={"X-Request-ID": "ws-1"}
        ) as ws:
            assert "ws-1" == ws.response.headers["x-request-id"]
            ws.send("hello")
            trace_id = ws.recv(timeout=10)
        line = proc.wait_for_line(
            lambda e: e.get("request_id") == "ws-1" and e.get("status") == 101
        )
        assert "WS" == line["method"]
        assert trace_id == line["trace_id"]
        message = proc.wait_for_line(
            lambda e: e.get("request_id") == "ws-1" and e["message"] == "ws message"
        )
        assert trace_id == message["trace_id"]

    def test_no_request_id_answers_the_trace_id(self, server: tuple[Process, int]) -> None:
        _, port = server
        response = httpx.get(
            f"http://127.0.0.1:{port}/work/5", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}
        )
        assert TRACE == response.headers["x-request-id"] == response.json()["trace_id"]

    @pytest.mark.parametrize(
        "raw_value",
        [b"abc\x01def", b"caf\xc3\xa9", b"a" * 4000, b"<script>alert(1)</script>", b"a b c"],
    )
    def test_bad_request_id_over_the_wire(
        self, server: tuple[Process, int], raw_value: bytes
    ) -> None:
        proc, port = server
        request = (
            b"GET /work/7 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"X-Request-ID: "
            + raw_value
            + b"\r\ntraceparent: 00-"
            + raw_value[:32]
            + b"-x-01\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        trace_id = json.loads(body)["trace_id"]
        assert f"x-request-id: {trace_id}".encode() in head.lower()
        proc.wait_for_line(lambda e: e.get("trace_id") == trace_id and e.get("status") == 200)
        text = raw_value.decode("latin-1")
        assert not [line for line in proc.stdout if text in line]


# --- the ASGI interface directly: edge cases no client library will send ----------------


def _call(app: Any, scope: dict[str, Any], *, body_messages: int = 1) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _scope(headers: list[tuple[bytes, bytes]], kind: str = "http") -> dict[str, Any]:
    return {
        "type": kind,
        "method": "GET",
        "path": "/x",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "asgi": {"version": "3.0"},
    }


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    tracelog.get_logger("app").info("inside")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"a", "more_body": True})
    await send({"type": "http.response.body", "body": b"b"})


class TestTraceMiddlewareInterface:
    @pytest.mark.parametrize(
        "headers",
        [
            [(b"x-request-id", b"x" * 65536)],
            [(b"traceparent", b"0" * 65536), (b"tracestate", b"a=" + b"b" * 65536)],
            [(b"x-request-id", b"abc\r\nset-cookie: a=1")],
            [(b"x-request-id", "\u00e9\u4e2d".encode())],
            [(b"traceparent", b"\xff\xfe" * 40), (b"x-request-id", b"\x00")],
            [(b"x-request-id", b"a"), (b"x-request-id", b"b")],
        ],
    )
    def test_bad_headers_never_cost_the_request(
        self, headers: list[tuple[bytes, bytes]], tracelog_events: Any
    ) -> None:
        sent = _call(TraceMiddleware(_ok), _scope(headers))
        assert 200 == sent[0]["status"]
        (rid,) = [v for k, v in sent[0]["headers"] if k == b"x-request-id"]
        assert 32 == len(rid)  # the trace id, not the bad value
        assert [b"a", b"b"] == [m["body"] for m in sent[1:]]  # streamed through untouched
        events = [e for e in tracelog_events if e["logger"] != "asyncio"]
        assert 2 == len(events)
        for event in events:
            assert rid.decode() == event["request_id"]  # the id the response carries
            assert rid.decode() == event["trace_id"]

    @pytest.mark.parametrize(
        ("client", "written"),
        [(("::1", 5000), "[::1]:5000"), (("10.0.0.7", 5000), "10.0.0.7:5000"), (None, None)],
    )
    def test_the_access_lines_client(self, client: Any, written: Any, tracelog_events: Any) -> None:
        scope = {**_scope([]), "client": client}
        _call(TraceMiddleware(_ok), scope)
        (access,) = [e for e in tracelog_events if "status" in e]
        assert written == access["client"]

    def test_app_header_wins(self) -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(b"x-request-id", b"mine")],
                }
            )
            await send({"type": "http.response.body", "body": b""})

        sent = _call(TraceMiddleware(app), _scope([(b"x-request-id", b"theirs")]))
        assert [(b"x-request-id", b"mine")] == sent[0]["headers"]

    def test_custom_header(self, tracelog_events: Any) -> None:
        sent = _call(
            TraceMiddleware(_ok, request_id_header="X-Correlation-ID"),
            _scope([(b"x-correlation-id", b"c-1")]),
        )
        assert (b"x-correlation-id", b"c-1") in sent[0]["headers"]
        assert {"c-1"} == {e["request_id"] for e in tracelog_events if e["logger"] != "asyncio"}

    def test_bad_header_name_is_refused(self) -> None:
        with pytest.raises(ValueError, match="not a valid HTTP header name"):
            TraceMiddleware(_ok, request_id_header="X Bad:")

    def test_exception_after_complete_response_is_logged_once_not_raised(
        self, tracelog_events: Any
    ) -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await _ok(scope, receive, send)
            raise RuntimeError("late")

        sent = _call(TraceMiddleware(app), _scope([]))
        assert 200 == sent[0]["status"]
        assert 1 == len([e for e in tracelog_events if "exception" in e])

    def test_exception_mid_body_is_raised_for_the_server(self, tracelog_events: Any) -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            raise RuntimeError("mid")

        with pytest.raises(RuntimeError) as info:
            _call(TraceMiddleware(app), _scope([]))
        assert getattr(info.value, "__tracelog_logged__", False)
        assert 1 == len([e for e in tracelog_events if "exception" in e])

    def test_lifespan_passes_through(self) -> None:
        seen = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["type"])

        _call(TraceMiddleware(app), {"type": "lifespan"})
        assert ["lifespan"] == seen

    def test_websocket_closed_before_accept(self, tracelog_events: Any) -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "websocket.close", "code": 1008})

        _call(TraceMiddleware(app), _scope([], kind="websocket"))
        (access,) = [e for e in tracelog_events if e["logger"] == "tracelog.access"]
        assert (403, "WS") == (access["status"], access["method"])
