"""Views of the project laid out as docs/frameworks/django.md says (settings: from the doc)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns = [path("ok", ok), path("boom", boom)]
