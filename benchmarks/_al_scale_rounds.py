"""AL rounds of ``al_scale.py``: score every pool row + select 100 by margin, per path.

Paths, timed side by side (interleaved within every repeat, so a load swing hits all):

- ``naive fp32 loop``: what one writes first -- slice the memmap, cast the chunk to
  float32 in numpy, run the folded layers in torch float32 (its pages released after,
  so it does not inflate the process's memory);
- ``fp32``, ``bf16``, ``int8``: ``score_pool`` forced onto one path (read as the chosen
  plan reads: same chunk size and read-ahead);
- ``chosen``: ``score_pool`` as the app runs it (``precision="auto"``): the path picked
  by measurement on this machine. Its one-off calibration is timed apart.

A path that calibration measured over ``SLOW`` x slower than the chosen one is timed once
on the first ``SLOW_ROWS`` rows and scaled to the pool (marked as such): it is not a
candidate here, and timing 10M rows of an emulated kernel would take many minutes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from benchmarks._al_scale_pool import drop_until_cold, resident_fraction, warm
from modeling.engine.active import next_batch
from modeling.engine.int8 import Int8Features
from modeling.engine.trainer import ScoringPlan, TrainedModel, plan_scoring
from modeling.engine.trainer.model import forward_layers
from modeling.engine.trainer.streaming import release_rows

PATHS = ("naive fp32 loop", "fp32", "bf16", "int8", "chosen")
SLOW = 3.0
SLOW_ROWS = 1_000_000
NAIVE_CHUNK = 16_384
Source = np.ndarray | Int8Features


def naive_scores(model: TrainedModel, source: Source, chunk_rows: int = NAIVE_CHUNK) -> np.ndarray:
    """Probabilities (N,) by the plain loop: numpy float32 chunks, torch float32 layers."""
    layers = model.folded_layers()
    n_rows = source.shape[0]
    out = np.empty(n_rows, dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            if isinstance(source, Int8Features):
                x = source.codes[start:stop].astype(np.float32) * source.scales[start:stop, None]
                release_rows(source.codes, start, stop)
            else:
                x = np.asarray(source[start:stop], dtype=np.float32)
                release_rows(source, start, stop)
            out[start:stop] = torch.sigmoid(forward_layers(torch.from_numpy(x), layers)).numpy()
    return out


def al_round(score: Callable[[], np.ndarray], rated: np.ndarray, labels: np.ndarray,
             cpu: list[float] | None = None) -> float:
    """Seconds for one AL round: score every pool item, then select 100 by margin.
    ``cpu``: the round's process CPU seconds are appended to it (on a loaded machine
    the wall time is mostly waiting for a core; the CPU time is the round's work)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    probs = score()
    batch = next_batch("margin", probs, 100, rated, labels, np.random.default_rng(0))
    assert len(batch) == 100 and not np.isin(batch, rated).any()
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
    return time.perf_counter() - started


def _head(source: Source, rows: int) -> Source:
    if isinstance(source, Int8Features):
        return Int8Features(source.codes[:rows], source.scales[:rows])
    return source[:rows]


def _forced(model: TrainedModel, source: Source, path: str, like: ScoringPlan) -> np.ndarray:
    plan = plan_scoring(model, source, precision=path, chunk_rows=like.chunk_rows)  # type: ignore[arg-type]
    plan.prefetch = like.prefetch
    return plan.score(source)


def bench_rounds(model: TrainedModel, source: Source, file: Any, rated: np.ndarray, labels: np.ndarray,
                 floor_seconds: float, repeats: int, paths: Sequence[str] = PATHS) -> dict[str, Any]:
    """Every path's warm round time (median), its ratio to ``floor_seconds`` and to the
    naive loop, the chosen plan and its calibration, and one cold round of the chosen path."""
    out: dict[str, Any] = {"load_before": os.getloadavg()}
    started = time.perf_counter()
    chosen = plan_scoring(model, source, refresh=True)
    out["calibration_seconds"] = time.perf_counter() - started
    out["plan"] = chosen.describe()
    measured = out["plan"].get("measured_seconds") or {}
    best = min(measured.values()) if measured else None
    slow = {p for p, s in measured.items() if best and s > SLOW * best and p != chosen.path}
    out["resident_before"] = warm(file)
    runs: dict[str, Callable[[], np.ndarray]] = {
        "naive fp32 loop": lambda: naive_scores(model, source),
        "chosen": lambda: plan_scoring(model, source).score(source),
    }
    for path in ("fp32", "bf16", "int8"):
        part = _head(source, SLOW_ROWS) if path in slow else source
        runs[path] = lambda path=path, part=part: _forced(model, part, path, chosen)  # type: ignore[misc]
    timed = [path for path in PATHS if path in paths or path in ("naive fp32 loop", "chosen")]
    times: dict[str, list[float]] = {path: [] for path in timed}
    cpu: dict[str, list[float]] = {path: [] for path in timed}
    # A pool larger than the page cache is read from disk on every pass: one repeat then.
    rounds = repeats if out["resident_before"] > 0.9 else 1
    for repeat in range(rounds):
        for path in timed:
            if path in slow and repeat > 0:
                continue
            times[path].append(al_round(runs[path], rated, labels, cpu[path]))
    measured_rows = min(SLOW_ROWS, source.shape[0])
    out["paths"] = {}
    for path in timed:
        seconds = float(np.median(times[path])) * (source.shape[0] / measured_rows if path in slow else 1.0)
        cpu_seconds = float(np.median(cpu[path])) * (source.shape[0] / measured_rows if path in slow else 1.0)
        out["paths"][path] = {"seconds": seconds, "all": [round(t, 2) for t in times[path]], "cpu_seconds": cpu_seconds,
                              "scaled_from_rows": measured_rows if path in slow else None}
    naive = out["paths"]["naive fp32 loop"]["seconds"]
    for row in out["paths"].values():
        row["x_floor"] = row["seconds"] / floor_seconds
        row["x_naive"] = row["seconds"] / naive
    out["load_after_warm"] = os.getloadavg()
    out["cold_resident_before"] = drop_until_cold(file)
    out["chosen_cold_seconds"] = al_round(runs["chosen"], rated, labels)
    out["load_after"] = os.getloadavg()
    out["resident_after"] = resident_fraction(file)
    return out
