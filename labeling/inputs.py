"""What the API accepts as numbers, ids and single-line text, in one place.

Every serializer of the API derives from ``ModelSerializer`` here, so that whatever the
database under it:
- an id is a whole number (``"project": 1.5`` or ``true`` is refused, not read as 1) in
  the range of a 64-bit key;
- an integer field keeps PostgreSQL's range for its type (SQLite would store 2**40 in an
  ``IntegerField`` that PostgreSQL then refuses), ``Positive*`` fields refuse negatives;
- a single-line text field (a model ``CharField``: names, keys, questions) refuses control
  characters, so a name never breaks a header or a log line (``TextField`` keeps
  newlines and tabs).
Query parameters go through ``query_int`` (ASCII digits only: ``"²".isdigit()`` is true
but ``int("²")`` fails). NUL bytes and lone surrogates anywhere in the input are refused
before this, by the parsers (``labeling.parsers``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.validators import RegexValidator
from django.db import models
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_ID = 2**63 - 1            # BigAutoField, on every database
MAX_OFFSET = 2**53            # beyond any list the API can hold; SQLite's OFFSET overflows near 2**63
MAX_PAGE = 1000               # rows per page at most (``?limit=``)

# PostgreSQL's ranges (SQLite accepts 64 bits in every integer column).
INTEGER_BOUNDS: dict[str, tuple[int, int]] = {
    "SmallIntegerField": (-(2**15), 2**15 - 1),
    "IntegerField": (-(2**31), 2**31 - 1),
    "BigIntegerField": (-(2**63), 2**63 - 1),
    "PositiveSmallIntegerField": (0, 2**15 - 1),
    "PositiveIntegerField": (0, 2**31 - 1),
    "PositiveBigIntegerField": (0, 2**63 - 1),
}

single_line = RegexValidator(r"[\x00-\x1f\x7f]", inverse_match=True,
                             message="Must be a single line without control characters.")


def whole_number(raw: Any, field: str, *, maximum: int = MAX_ID) -> int:
    """``raw`` (a query parameter) as an int in ``0..maximum``, or a 400 naming ``field``."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()):
        raise ValidationError({field: "Must be a whole number."})
    value = int(text)
    if value > maximum:
        raise ValidationError({field: f"Must be at most {maximum}."})
    return value


def query_int(request: Request | Any, name: str, default: int | None = None, *, maximum: int = MAX_ID) -> int | None:
    """The query parameter ``name`` as a whole number; ``default`` when absent or empty."""
    params: Mapping[str, str] = getattr(request, "query_params", None) or request.GET
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    return whole_number(raw, name, maximum=maximum)


class StrictPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """An id must be an integer (or a string of ASCII digits, from a form), in key range."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if isinstance(data, str):
            if not (data.isascii() and data.isdigit()):
                self.fail("incorrect_type", data_type="str")
            data = int(data)
        if not 0 < data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """The base of every API serializer: strict ids, database-independent integer bounds,
    single-line text for model ``CharField``s."""

    serializer_related_field = StrictPrimaryKeyRelatedField

    def build_standard_field(self, field_name: str, model_field: Any) -> tuple[type[serializers.Field], dict[str, Any]]:  # type: ignore[type-arg]
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if "choices" in kwargs:
            return field_class, kwargs
        bounds = INTEGER_BOUNDS.get(model_field.get_internal_type())
        if bounds is not None:
            low, high = bounds
            kwargs["min_value"] = max(kwargs.get("min_value", low), low)
            kwargs["max_value"] = min(kwargs.get("max_value", high), high)
        elif isinstance(model_field, models.CharField) and not kwargs.get("read_only"):
            kwargs["validators"] = [*kwargs.get("validators", []), single_line]
        return field_class, kwargs


class Pagination(LimitOffsetPagination):
    """``?limit=`` (at most 1,000 rows) and ``?offset=``; a bad value is a 400, not a 500."""

    max_limit = MAX_PAGE

    def get_limit(self, request: Request) -> int | None:
        limit = query_int(request, self.limit_query_param, maximum=MAX_ID)
        if limit is None or limit == 0:
            return self.default_limit
        return min(limit, MAX_PAGE)

    def get_offset(self, request: Request) -> int:
        return query_int(request, self.offset_query_param, 0, maximum=MAX_OFFSET) or 0


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_safe(text: str, fallback: str = "download") -> str:
    """``text`` fit for a file name in a header: no control characters, quotes or slashes."""
    cleaned = _CONTROL.sub(" ", text)
    cleaned = re.sub(r"[\s/\\\"';:]+", "-", cleaned).strip("-.")
    return cleaned[:120] or fallback
