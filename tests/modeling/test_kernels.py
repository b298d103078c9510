"""Choosing between equivalent kernels by measurement, remembered per machine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from modeling.engine import kernels


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("AGILE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(kernels, "_memo", {})


def test_it_picks_the_clearly_faster_candidate_and_remembers_it() -> None:
    calls = {"slow": 0, "fast": 0}

    def run(name: str, seconds: float) -> None:
        calls[name] += 1
        time.sleep(seconds)

    choice = kernels.choose("toy", {"slow": lambda: run("slow", 0.02), "fast": lambda: run("fast", 0.001)})
    assert choice == "fast"
    assert kernels.recorded("toy")["choice"] == "fast"  # type: ignore[index]
    measured = dict(calls)
    kernels._memo.clear()  # a new process: the file answers, nothing is measured again
    assert kernels.choose("toy", {"slow": lambda: run("slow", 0.02), "fast": lambda: run("fast", 0.001)}) == "fast"
    assert calls == measured


def test_it_keeps_the_reference_on_a_near_tie() -> None:
    choice = kernels.choose("tie", {"reference": lambda: time.sleep(0.01), "other": lambda: time.sleep(0.0095)})
    assert choice == "reference"


def test_it_refuses_no_candidates() -> None:
    with pytest.raises(ValueError):
        kernels.choose("none", {})
