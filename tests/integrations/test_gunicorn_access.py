"""gunicorn's own access line, with its access log on, carries the request's trace."""

from __future__ import annotations

import httpx
from _servers import Process, free_port, python


class TestGunicornAccessLine:
    def test_access_line_has_the_trace_and_the_fields(self) -> None:
        port = free_port()
        args = python(
            "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", "--access-logfile", "-",
            "--logger-class", "tracelog.integrations.gunicorn.GunicornLogger",
            "gunicorn_access_app:app",
        )  # fmt: skip
        with Process(args) as proc:
            proc.wait_for_port(port)
            response = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
            access = proc.wait_for_line(lambda e: e.get("logger") == "gunicorn.access")
            hello = proc.wait_for_line(lambda e: e.get("message") == "hello")
        assert 200 == response.status_code
        assert hello["trace_id"] == access["trace_id"] is not None
        assert response.headers["x-request-id"] == access["request_id"]
        assert 7 == access["user_id"]
        assert "GET / HTTP/1.1" in access["message"]
