"""Pages that do not exist (or that a person may not see) get the site's own 404 page,
even under DEBUG: Django's debug 404 lists every URL pattern to whoever asks."""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render


class NotFoundPage:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Http404) and not request.path.startswith(("/api/", "/admin/")):
            return render(request, "frontend/404.html", status=404)
        return None
