"""Domain exceptions of the modeling engine.

Raised at engine entry points (training, scoring, selection, indexing, expansion)
so that callers — the Django glue, benchmarks, simulated users — can tell a bad
request (no positives, wrong vector width, empty pool) from a bug. Every class
subclasses ``ValueError`` too, so code that only knows the builtin still works.
"""

from __future__ import annotations


class ModelingError(ValueError):
    """Base class of every error the modeling engine raises on purpose."""


class EmptyPoolError(ModelingError):
    """A pool, index or candidate set holds no items where at least one is needed."""


class DimensionMismatchError(ModelingError):
    """Vectors have a width (or a row count) that does not match their partner array."""


class NotEnoughLabelsError(ModelingError):
    """Training or selection needs labels that are not there (e.g. no positive yet)."""


class UnknownStrategyError(ModelingError):
    """An active-learning strategy, encoder or other registry name is not registered."""


class InvalidLabelError(ModelingError):
    """Labels hold values outside the allowed set (binary labels must be 0 or 1)."""


class MissingPhraseError(ModelingError):
    """Expansion got no positive phrase (the concept name is always one)."""


class ModelFileError(ModelingError):
    """A saved model or index file is missing, truncated or of an unknown format."""


__all__ = [
    "DimensionMismatchError",
    "EmptyPoolError",
    "InvalidLabelError",
    "MissingPhraseError",
    "ModelFileError",
    "ModelingError",
    "NotEnoughLabelsError",
    "UnknownStrategyError",
]
