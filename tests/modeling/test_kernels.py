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


def busy(seconds: float) -> None:
    """Work for ``seconds`` of CPU time (so wall clock and CPU clock agree on the order)."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_it_picks_the_clearly_faster_candidate_and_remembers_it() -> None:
    calls = {"slow": 0, "fast": 0}

    def run(name: str, seconds: float) -> None:
        calls[name] += 1
        busy(seconds)

    choice = kernels.choose("toy", {"slow": lambda: run("slow", 0.02), "fast": lambda: run("fast", 0.001)})
    assert choice == "fast"
    assert kernels.recorded("toy")["choice"] == "fast"  # type: ignore[index]
    measured = dict(calls)
    kernels._memo.clear()  # a new process: the file answers, nothing is measured again
    assert kernels.choose("toy", {"slow": lambda: run("slow", 0.02), "fast": lambda: run("fast", 0.001)}) == "fast"
    assert calls == measured


def test_it_keeps_the_reference_on_a_near_tie() -> None:
    choice = kernels.choose("tie", {"reference": lambda: busy(0.01), "other": lambda: busy(0.0095)})
    assert choice == "reference"


def test_an_oversubscribed_machine_times_candidates_by_cpu_time(monkeypatch: Any) -> None:
    monkeypatch.setattr(kernels.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(kernels.os, "getloadavg", lambda: (30.0, 28.0, 25.0))
    assert kernels.clock_for_load()[0] == "cpu"
    # Waiting costs no CPU: a candidate that sleeps is not "slower" by that clock.
    choice = kernels.choose("waits", {"reference": lambda: busy(0.01), "sleeper": lambda: time.sleep(0.05)})
    assert choice == "sleeper"
    assert kernels.recorded("waits")["clock"] == "cpu"  # type: ignore[index]
    monkeypatch.setattr(kernels.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert kernels.clock_for_load()[0] == "wall"


def test_it_refuses_no_candidates() -> None:
    with pytest.raises(ValueError):
        kernels.choose("none", {})
