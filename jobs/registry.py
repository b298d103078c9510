"""Job functions by kind. A job function takes the Job row and a progress reporter and
returns the job's JSON result.

Apps name the module that registers their job functions in ``AppConfig.ready``
(``discover("modeling.job_functions")``); the module is imported on first use, so a
process that never runs a job never imports what the functions need (torch, faiss).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, Protocol

from jobs.models import Job


class Reporter(Protocol):
    def __call__(self, done: int, total: int, message: str = "") -> None: ...


JobFunction = Callable[[Job, Reporter], dict[str, Any]]
_REGISTRY: dict[str, JobFunction] = {}
_MODULES: list[str] = []
_loaded: set[str] = set()
_lock = threading.Lock()


def job(kind: str) -> Callable[[JobFunction], JobFunction]:
    """Register ``fn`` as the function that runs jobs of ``kind``; it returns the job's result."""

    def register(fn: JobFunction) -> JobFunction:
        _REGISTRY[kind] = fn
        return fn

    return register


def discover(module: str) -> None:
    """Register ``module`` (dotted path) as one that defines job functions."""
    if module not in _MODULES:
        _MODULES.append(module)


def load_modules() -> None:
    """Import every module that registers job functions (once)."""
    with _lock:
        for module in _MODULES:
            if module not in _loaded:
                importlib.import_module(module)
                _loaded.add(module)


def function_for(kind: str) -> JobFunction:
    load_modules()
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise LookupError(f"No job function for kind {kind!r}") from None


def kinds() -> list[str]:
    load_modules()
    return sorted(_REGISTRY)
