"""Request bodies in, responses out: the one gate for text and nesting, and safe rendering.

Every API request body goes through these parsers (``REST_FRAMEWORK`` settings), so the
rules hold for every field of every endpoint, present and future, without a validator
per field:
- no NUL character (PostgreSQL text cannot hold one) and no lone surrogate
  (``"\\udfff"``: valid JSON, but not encodable as UTF-8, so PostgreSQL refuses it and a
  row stored on SQLite breaks every response that includes it), in keys or values;
- JSON nested at most ``MAX_DEPTH`` deep (deeper input once overflowed the decoder's
  recursion: a 500);
- a body of at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes, else a 413.
Each refusal is a 400 (413) in the one error shape, naming the field.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import QueryDict
from rest_framework import exceptions, parsers, renderers, status
from rest_framework.utils import json

MAX_DEPTH = 32
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
BAD_TEXT_MESSAGE = "Text may not contain NUL characters or lone surrogates (\\u0000, \\ud800-\\udfff)."


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def too_large_message() -> str:
    return f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes."


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_input(data: Any) -> None:
    """Refuse bad text anywhere in ``data`` and nesting beyond ``MAX_DEPTH`` (iteratively,
    so the check itself cannot overflow)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise exceptions.ValidationError({path or "body": f"Nested more than {MAX_DEPTH} levels deep."})
        if isinstance(value, str):
            if BAD_TEXT.search(value):
                raise exceptions.ValidationError({path or "body": BAD_TEXT_MESSAGE})
        elif isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(key, str) and BAD_TEXT.search(key):
                    raise exceptions.ValidationError({path or "body": BAD_TEXT_MESSAGE})
                stack.append((inner, _join(path, key), depth + 1))
        elif isinstance(value, list):
            stack.extend((inner, _join(path, i), depth + 1) for i, inner in enumerate(value))


def check_query_dict(data: QueryDict) -> None:
    for key, values in data.lists():
        if BAD_TEXT.search(key) or any(BAD_TEXT.search(v) for v in values if isinstance(v, str)):
            raise exceptions.ValidationError({key: BAD_TEXT_MESSAGE})


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge(too_large_message())
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(codecs.decode(raw, encoding), parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:
            raise exceptions.ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        check_input(data)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RequestDataTooBig:
            raise PayloadTooLarge(too_large_message()) from None
        check_query_dict(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        try:
            result = super().parse(stream, media_type, parser_context)
        except RequestDataTooBig:
            raise PayloadTooLarge(too_large_message()) from None
        check_query_dict(result.data)
        return result


class JSONRenderer(renderers.JSONRenderer):
    """DRF's renderer, except that a lone surrogate already stored (rows written before the
    parsers refused them) is sent as a ``\\udfff`` escape instead of failing the response."""

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict[str, Any] | None = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            self.ensure_ascii = True
            return super().render(data, accepted_media_type, renderer_context)


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """The HTML view of the API without its forms.

    DRF's forms list every choice of a related field (the item keys, batches, users and
    assignments of a project) to whoever opens the page, a worker included, and item keys
    name the class. The HTML page shows exactly what the JSON shows; requests are sent
    from Swagger UI (``/api/docs/``) or any HTTP client.
    """

    def get_rendered_html_form(self, data: Any, view: Any, method: str, request: Any) -> Any:
        return None

    def get_raw_data_form(self, data: Any, view: Any, method: str, request: Any) -> Any:
        return None
