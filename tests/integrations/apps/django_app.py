"""A one-module Django project with tracelog's middleware, served over WSGI and ASGI."""

from __future__ import annotations

import asyncio
import logging
import time

import django
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path

import tracelog
from tracelog.integrations.servers import tame_loggers

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="tracelog-tests-only",
    MIDDLEWARE=["tracelog.integrations.django.TraceMiddleware"],
    TRACELOG_REQUEST_ID_HEADER="X-Request-ID",
)
tracelog.configure(service="django-app")
django.setup()
tame_loggers()

log = tracelog.get_logger("app")
std = logging.getLogger("app.stdlib")


def work(request: HttpRequest, n: int) -> JsonResponse:
    log.info("sync step", n=n, step=0)
    time.sleep(0.001 * (n % 3))
    std.warning("stdlib line for %s", n, extra={"n": n})
    return JsonResponse({"n": n, "trace_id": tracelog.current_trace_id()})


async def awork(request: HttpRequest, n: int) -> JsonResponse:
    log.info("async step", n=n, step=0)
    await asyncio.sleep(0.001 * (n % 3))
    std.warning("stdlib line for %s", n, extra={"n": n})
    return JsonResponse({"n": n, "trace_id": tracelog.current_trace_id()})


def boom(request: HttpRequest, tag: str = "") -> JsonResponse:
    raise RuntimeError("boom")


async def agone(request: HttpRequest, tag: str) -> JsonResponse:
    raise Http404("gone")


async def aunavailable(request: HttpRequest, tag: str) -> HttpResponse:
    return HttpResponse("try later", status=503)  # returned, not raised: Django logs it itself


urlpatterns = [
    path("work/<int:n>", work),
    path("awork/<int:n>", awork),
    path("boom", boom),
    path("boom/<str:tag>", boom),
    path("agone/<str:tag>", agone),
    path("aunavailable/<str:tag>", aunavailable),
]

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
asgi_application = get_asgi_application()
