"""Helpers shared by the aggregation benchmarks (not part of the engine)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CROWD = ROOT.parent / "shared" / "data" / "crowd"


def patch_crowdkit() -> None:
    """crowd-kit 1.4.2's ``Wawa`` and ``GoldMajorityVote`` call sklearn's
    ``check_is_fitted`` in ``predict``, which fails on the installed scikit-learn
    (their attrs classes have no ``__sklearn_tags__``). The check only guards "fit
    before predict", and the benchmark always fits first, so it is made a no-op here;
    results are unchanged."""
    from crowdkit.aggregation.classification import gold_majority_vote, wawa

    for module in (wawa, gold_majority_vote):
        module.check_is_fitted = lambda *args, **kwargs: None  # type: ignore[attr-defined]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


@contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """Peak resident memory of the block, from the kernel's own high-water mark.

    Writing "5" to /proc/self/clear_refs resets VmHWM to the current RSS (Linux >= 4.0),
    so VmHWM read after the block is the exact peak during it -- no sampling, no
    GIL-bound sampler thread that could miss a short spike. Yields a dict that gets
    ``before`` (RSS entering the block) and ``peak`` (bytes) when the block ends."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    box = {"before": _status_kb("VmRSS") * 1024, "peak": 0}
    try:
        yield box
    finally:
        box["peak"] = _status_kb("VmHWM") * 1024


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    """A Markdown table on stdout."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def emit_json(payload: dict[str, Any]) -> None:
    """The one JSON object of ``--json``, on the last line."""
    print(json.dumps(payload, default=float))
