"""The one error shape, also for what is answered before or around DRF.

``ApiErrorShape`` sits first in ``MIDDLEWARE``:
- a query string holding a NUL or a lone surrogate is a 400 (every path: PostgreSQL
  cannot compare text with a NUL; pages would fail the same way);
- an API request whose declared body is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a
  413 before anything reads it;
- any other error of an ``/api/`` path that is not JSON (Django's HTML 400 for a body too
  big to parse, its debug 404 for an unknown URL, a 500 page) becomes
  ``{"error", "field"}`` with the same status, so an API client never gets HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse

from labeling.errors import error_body
from labeling.parsers import BAD_TEXT, BAD_TEXT_MESSAGE, too_large_message

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _bad_query_parameter(request: HttpRequest) -> str | None:
    for key, values in request.GET.lists():
        if BAD_TEXT.search(key) or any(BAD_TEXT.search(value) for value in values):
            return key
    return None


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class ApiErrorShape:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings

        bad = _bad_query_parameter(request)
        if bad is not None:
            return JsonResponse(error_body(BAD_TEXT_MESSAGE, bad), status=400)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if _is_api(request) and limit is not None and _declared_length(request) > limit:
            return JsonResponse(error_body(too_large_message()), status=413)
        response = self.get_response(request)
        if _is_api(request) and response.status_code >= 400 and not _is_json(response):
            return _as_json(response)
        return response


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _as_json(response: HttpResponse) -> HttpResponse:
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = "Error"
    message = too_large_message() if response.status_code == 413 else f"{phrase}."
    replaced = JsonResponse(error_body(message), status=response.status_code)
    for header in ("Allow", "WWW-Authenticate", "Retry-After"):
        if header in response:
            replaced[header] = response[header]
    return replaced
