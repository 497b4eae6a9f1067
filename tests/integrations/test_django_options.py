"""The Django middleware's settings for request ids and access lines, and bind() in a view."""

from __future__ import annotations

import json
import subprocess
import sys

from _servers import env

SCRIPT = r"""
import io, json, sys
import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["tracelog.integrations.django.TraceMiddleware"],
    TRACELOG_REQUEST_ID_VALIDATOR=lambda value: value.startswith("ok-"),
    TRACELOG_REQUEST_ID_GENERATOR=lambda: "made-1",
    TRACELOG_ACCESS_EXCLUDE_PATHS=["/healthz"],
    LOGGING_CONFIG=None,
)
django.setup()

from django.http import HttpResponse
from django.test import Client
from django.urls import path

import tracelog

def view(request):
    tracelog.bind(user_id=7)
    tracelog.get_logger("shop").info("in the view")
    return HttpResponse("ok")

urlpatterns = [path("orders", view), path("healthz", view)]

out = io.StringIO()
tracelog.configure(stream=out)
client = Client()
answers = [
    client.get("/orders", HTTP_X_REQUEST_ID="bad").headers["X-Request-ID"],
    client.get("/orders", HTTP_X_REQUEST_ID="ok-2").headers["X-Request-ID"],
    client.get("/healthz").headers["X-Request-ID"],
]
lines = [json.loads(line) for line in out.getvalue().splitlines()]
print(json.dumps({"answers": answers, "lines": lines}))
"""


class TestDjangoSettings:
    def test_request_ids_access_exclusions_and_bind(self) -> None:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env(), capture_output=True, text=True, timeout=60
        )
        assert 0 == done.returncode, done.stderr
        result = json.loads(done.stdout.splitlines()[-1])
        assert ["made-1", "ok-2", "made-1"] == result["answers"]
        access = [e for e in result["lines"] if e["logger"] == "tracelog.access"]
        assert ["made-1", "ok-2"] == [e["request_id"] for e in access]  # /healthz left out
        assert [7, 7] == [e["user_id"] for e in access]  # bound in the view
        refused = [e for e in result["lines"] if e["logger"] == "tracelog.integrations"]
        assert 1 == len(refused)
