"""Outgoing propagation: httpx, httpx2 (sync and async) and requests against a local server."""

from __future__ import annotations

import asyncio
import http.server
import importlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import requests.adapters

import tracelog
from tracelog.integrations import httpx as httpx_integration
from tracelog.integrations import requests as requests_integration
from tracelog.propagation import extract

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


class _Echo(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append(headers)  # type: ignore[attr-defined]
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/echo")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps(headers).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, list[dict[str, str]]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _incoming_trace() -> Any:
    headers = {
        "traceparent": f"00-{TRACE}-{PARENT}-01",
        "tracestate": "congo=t61rcWkgMzE",
        "x-request-id": "req-7",
    }
    return extract(headers).trace()


def _check(sent: dict[str, str], ctx: tracelog.TraceContext) -> str:
    version, trace_id, span_id, flags = sent["traceparent"].split("-")
    assert ("00", TRACE, "01") == (version, trace_id, flags)
    assert span_id not in (ctx.span_id, PARENT)
    assert "congo=t61rcWkgMzE" == sent["tracestate"]
    assert "req-7" == sent["x-request-id"]
    return span_id


@pytest.fixture(params=["httpx", "httpx2"])
def lib(request: pytest.FixtureRequest) -> Any:
    return importlib.import_module(request.param)


class TestHttpx:
    def test_sync_client(self, echo: tuple[str, list[dict[str, str]]], lib: Any) -> None:
        base, _ = echo
        with (
            httpx_integration.instrument(lib.Client(base_url=base)) as client,
            _incoming_trace() as ctx,
        ):
            first = client.get("/echo").json()
            second = client.get("/echo").json()
        assert _check(first, ctx) != _check(second, ctx)

    def test_async_client(self, echo: tuple[str, list[dict[str, str]]], lib: Any) -> None:
        base, _ = echo

        async def main() -> tuple[Any, list[dict[str, str]]]:
            async with httpx_integration.instrument(lib.AsyncClient(base_url=base)) as client:
                async with _incoming_trace() as ctx:
                    answers = await asyncio.gather(*(client.get("/echo") for _ in range(5)))
            return ctx, [a.json() for a in answers]

        ctx, sent = asyncio.run(main())
        assert 5 == len({_check(s, ctx) for s in sent})

    def test_each_redirect_hop_is_a_new_child(
        self, echo: tuple[str, list[dict[str, str]]], lib: Any
    ) -> None:
        base, seen = echo
        with httpx_integration.instrument(
            lib.Client(base_url=base, follow_redirects=True)
        ) as client:
            with _incoming_trace() as ctx:
                seen.clear()
                client.get("/redirect")
        assert 2 == len(seen)
        assert _check(seen[0], ctx) != _check(seen[1], ctx)

    def test_outside_a_trace_sends_nothing(
        self, echo: tuple[str, list[dict[str, str]]], lib: Any
    ) -> None:
        base, _ = echo
        with httpx_integration.instrument(lib.Client(base_url=base)) as client:
            sent = client.get("/echo").json()
        assert "traceparent" not in sent

    def test_instrument_once(self, lib: Any) -> None:
        client = lib.Client()
        httpx_integration.instrument(httpx_integration.instrument(client))
        assert 1 == len(client.event_hooks["request"])
        client.close()

    def test_keeps_existing_hooks_and_refuses_other_objects(self, lib: Any) -> None:
        calls: list[str] = []
        client = lib.Client(event_hooks={"request": [lambda r: calls.append("mine")]})
        httpx_integration.instrument(client)
        assert 2 == len(client.event_hooks["request"])
        client.close()
        with pytest.raises(TypeError):
            httpx_integration.instrument(object())


class TestRequests:
    def test_session(self, echo: tuple[str, list[dict[str, str]]]) -> None:
        base, _ = echo
        session = requests_integration.instrument(requests.Session())
        with _incoming_trace() as ctx:
            first = session.get(f"{base}/echo", timeout=10).json()
            second = session.get(f"{base}/echo", timeout=10).json()
        assert _check(first, ctx) != _check(second, ctx)

    def test_redirect_hops(self, echo: tuple[str, list[dict[str, str]]]) -> None:
        base, seen = echo
        session = requests_integration.instrument(requests.Session())
        with _incoming_trace() as ctx:
            seen.clear()
            session.get(f"{base}/redirect", timeout=10)
        assert 2 == len(seen)
        assert _check(seen[0], ctx) != _check(seen[1], ctx)

    def test_adapter_settings_survive(self) -> None:
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(max_retries=3))
        requests_integration.instrument(requests_integration.instrument(session))
        adapter = session.get_adapter("http://x")
        assert isinstance(adapter, requests_integration.TraceAdapter)
        assert not isinstance(adapter.inner, requests_integration.TraceAdapter)
        assert 3 == adapter.max_retries.total

    def test_custom_request_id_header(self, echo: tuple[str, list[dict[str, str]]]) -> None:
        base, _ = echo
        session = requests_integration.instrument(
            requests.Session(), request_id_header="X-Correlation-ID"
        )
        with tracelog.trace(request_id="corr-1"):
            sent = session.get(f"{base}/echo", timeout=10).json()
        assert "corr-1" == sent["x-correlation-id"]
        assert "x-request-id" not in sent
