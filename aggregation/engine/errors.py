"""Domain exceptions of the aggregation engine.

Raised at the entry points (``aggregate``, ``Answers.from_arrays``, the CSV encoder,
accuracy estimation, policies) so that callers -- the ``aggregate`` command, the Django
glue, benchmarks -- can tell a bad request from a bug. Every class subclasses
``ValueError`` too, so code that only knows the builtin still works.
"""

from __future__ import annotations


class AggregationError(ValueError):
    """Base class of every error the aggregation engine raises on purpose."""


class EmptyAnswersError(AggregationError):
    """No answers (or no tasks) where at least one is needed."""


class DimensionMismatchError(AggregationError):
    """Parallel arrays (tasks, workers, labels, accuracies, gold) disagree in length."""


class InvalidAnswersError(AggregationError):
    """Codes out of range, negative, non-integer, or accuracies outside [0, 1]."""


class UnknownMethodError(AggregationError):
    """An aggregation method or policy name is not registered."""


class MalformedCSVError(AggregationError):
    """A CSV file cannot be read; the message names the file, the line and the fault."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        super().__init__(f"{source}, line {line}: {problem}")


__all__ = [
    "AggregationError",
    "DimensionMismatchError",
    "EmptyAnswersError",
    "InvalidAnswersError",
    "MalformedCSVError",
    "UnknownMethodError",
]
