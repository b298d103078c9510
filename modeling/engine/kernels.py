"""Pick the fastest of several equivalent kernels by measuring them on this machine.

Kernels that win on one CPU lose on the next: bfloat16 autocast is 2-4x faster than
float32 on a CPU with AVX512-BF16 or AMX and ~10x *slower* on one with only AVX2, where
torch emulates it. So a choice between equivalent paths is made by timing each on a
small, representative workload, once per machine: the winner is remembered in memory for
the process and in a JSON file keyed by CPU, torch version and thread count, so later
processes reuse it without measuring again. Candidates are timed by wall clock, or by
the process's CPU time when the machine is oversubscribed (wall time is then mostly
waiting for a core; see :func:`clock_for_load`).

``choose(name, candidates)``: ``candidates`` maps a path's name to a
zero-argument callable that runs the workload once; the first candidate is the
reference, and another only wins if it is at least ``margin`` times faster (so a noisy
near-tie never flips a choice that names cached artefacts, such as an encoder key).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from modeling.engine.encoders.paths import default_cache_dir

_memo: dict[str, str] = {}
_lock = threading.Lock()


def machine_key() -> str:
    """CPU model and feature flags, torch version and intra-op threads, as one short id."""
    cpu, flags = platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    digest = hashlib.sha256(flags.encode()).hexdigest()[:12]
    return f"{cpu}|{digest}|torch {torch.__version__}|{torch.get_num_threads()} threads"


def _cache_file() -> Path:
    return default_cache_dir() / "kernels.json"


def _read_cache() -> dict[str, dict[str, object]]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(entries: dict[str, dict[str, object]]) -> None:
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache only costs a re-measurement in the next process


def measure(candidates: Mapping[str, Callable[[], object]], repeats: int = 3,
            give_up: float = 4.0, clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Best-of-``repeats`` seconds per candidate by ``clock``, after one warm-up run each;
    candidates are interleaved within every repeat so a load swing hits them alike. A
    candidate whose warm-up took over ``give_up`` x the first candidate's is not repeated
    (its warm-up time stands): an emulated kernel 10x slower need not be timed three times."""
    warmup: dict[str, float] = {}
    for name, run in candidates.items():
        started = clock()
        run()
        warmup[name] = clock() - started
    limit = give_up * next(iter(warmup.values()))
    best = {name: (seconds if seconds > limit else float("inf")) for name, seconds in warmup.items()}
    for _ in range(repeats):
        for name, run in candidates.items():
            if warmup[name] > limit:
                continue
            started = clock()
            run()
            best[name] = min(best[name], clock() - started)
    return best


def clock_for_load() -> tuple[str, Callable[[], float]]:
    """The clock to time candidates by: wall time while the machine has a core per
    runnable process (load average <= cores), else this process's CPU time.

    On an oversubscribed machine a run's wall time is mostly waiting for a core, and
    which candidate waited longest is luck (at load 30 on 2 cores, wall-clock timings of
    one candidate varied 2-3x between repeats). The CPU time a
    candidate uses is its work whatever the load (idle OpenMP workers wait passively,
    ``OMP_WAIT_POLICY=PASSIVE``); it counts every thread of the process, so other work
    in the process at the same time adds noise, not bias (candidates are interleaved).
    """
    if os.getloadavg()[0] <= (os.cpu_count() or 1):
        return "wall", time.perf_counter
    return "cpu", time.process_time


def choose(name: str, candidates: Mapping[str, Callable[[], object]], *, margin: float = 1.25,
           repeats: int = 3, refresh: bool = False) -> str:
    """The name of the fastest candidate for the workload ``name`` on this machine.

    ``refresh``: measure again even if a choice is remembered (and remember the new one).
    Candidates are timed by wall clock, or by CPU time when the machine is
    oversubscribed (:func:`clock_for_load`). A choice measured while the machine was
    overloaded (load average over twice the cores) is measured again once the load is
    below the core count.
    """
    if not candidates:
        raise ValueError("choose needs at least one candidate")
    key = f"{name}|{machine_key()}"
    with _lock:
        if key in _memo and not refresh:
            return _memo[key]
        cached = _read_cache().get(key)
        if cached and cached.get("choice") in candidates and not refresh and not _measured_under_load(cached):
            _memo[key] = str(cached["choice"])
            return _memo[key]
        load = os.getloadavg()[0]
        clock_name, clock = clock_for_load()
        seconds = measure(candidates, repeats, clock=clock)
        reference = next(iter(candidates))
        fastest = min(seconds, key=lambda k: seconds[k])
        choice = fastest if seconds[fastest] * margin <= seconds[reference] else reference
        entries = _read_cache()
        entries[key] = {"choice": choice, "seconds": {k: round(v, 6) for k, v in seconds.items()},
                        "load": round(max(load, os.getloadavg()[0]), 2), "clock": clock_name}
        _write_cache(entries)
        _memo[key] = choice
        return choice


def _measured_under_load(entry: Mapping[str, object]) -> bool:
    """True when ``entry`` was timed by wall clock under a load over twice the cores and
    the machine is now below one per core (so a fairer measurement can be had)."""
    cores = os.cpu_count() or 1
    load = entry.get("load")
    if entry.get("clock") == "cpu":  # timed by CPU time: the load did not skew it
        return False
    return isinstance(load, (int, float)) and load > 2 * cores and os.getloadavg()[0] < cores


def recorded(name: str) -> dict[str, object] | None:
    """What was measured for ``name`` on this machine (choice and seconds), if anything."""
    return _read_cache().get(f"{name}|{machine_key()}")
