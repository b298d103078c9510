"""Helpers shared by the aggregation benchmarks (not part of the engine)."""

from __future__ import annotations

import json
import os
import threading
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


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_rss(interval: float = 0.002) -> Iterator[dict[str, int]]:
    """Sample RSS in a thread while the block runs; yields a dict that gets
    ``before`` and ``peak`` (bytes) when the block ends."""
    box = {"before": rss_bytes(), "peak": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            box["peak"] = max(box["peak"], rss_bytes())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        stop.set()
        thread.join()
        box["peak"] = max(box["peak"], rss_bytes())


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
