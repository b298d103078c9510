"""Job functions by kind. A job function takes the Job row and a progress reporter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from modeling.models import Job


class Reporter(Protocol):
    def __call__(self, done: int, total: int, message: str = "") -> None: ...


JobFunction = Callable[[Job, Reporter], dict[str, Any]]
_REGISTRY: dict[str, JobFunction] = {}


def job(kind: str) -> Callable[[JobFunction], JobFunction]:
    """Register ``fn`` as the function that runs jobs of ``kind``; it returns the job's result."""

    def register(fn: JobFunction) -> JobFunction:
        _REGISTRY[kind] = fn
        return fn

    return register


def function_for(kind: str) -> JobFunction:
    import modeling.job_functions  # noqa: F401  (registers every kind on first use)

    try:
        return _REGISTRY[kind]
    except KeyError:
        raise LookupError(f"No job function for kind {kind!r}") from None


def kinds() -> list[str]:
    import modeling.job_functions  # noqa: F401

    return sorted(_REGISTRY)
