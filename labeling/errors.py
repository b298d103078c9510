"""One error shape for every API failure: ``{"error": "...", "field": "..." | null}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class OutOfRange(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "A value is out of range for the database."
    default_code = "out_of_range"


class Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is busy or unavailable; try again shortly."
    default_code = "unavailable"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict with the current state of the resource."
    default_code = "conflict"


def _first_message(detail: Any, prefix: str | None = None) -> tuple[str | None, str]:
    """The first (field, message) of a DRF error detail, descending into nested fields."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = None if key in ("non_field_errors", "detail") else key
            name = f"{prefix}.{field}" if prefix and field else (field or prefix)
            return _first_message(value, name)
        return prefix, "Invalid input."
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                inner = f"{prefix}[{index}]" if prefix and isinstance(value, dict) else prefix
                return _first_message(value, inner)
        return prefix, "Invalid input."
    return prefix, str(detail)


def error_body(message: str, field: str | None = None) -> dict[str, str | None]:
    return {"error": message, "field": field}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DataError | OverflowError):
        # The last line of defence: input validation keeps values in range, but a value
        # the database still refuses (PostgreSQL's DataError, SQLite's OverflowError)
        # is the client's input, not a server error.
        exc = OutOfRange()
    elif isinstance(exc, OperationalError):
        # Connection pool exhausted (psycopg_pool.PoolTimeout) or the database is down:
        # a client may retry (answers are idempotent by client_id).
        exc = Unavailable()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, Unavailable):
        response["Retry-After"] = "1"
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_message(exc.detail)
    else:
        field, message = None, str(getattr(exc, "detail", exc))
    response.data = error_body(message, field)
    return response
