"""The sharded AL round of ``al_scale.py --sharded``: shard tasks on Celery workers.

The workers are the project's Celery app (``config.celery``, broker and result backend
from ``REDIS_URL``) with this module's two tasks: ``bench.score_shard`` scores one shard
with the model and returns its best candidates by margin
(:func:`~modeling.engine.sharded_active.shard_candidates`, the map step the app's AL round
runs), and ``bench.reduce_batch`` is the chord body
(:func:`~modeling.engine.sharded_active.reduce_batch`). The Job/ShardRun bookkeeping of
the app is not on this path (a few database rows per shard, next to seconds of scoring).

A shard is a row range of the synthetic pool's int8 copy (``codes[a:b]``, ``scales[a:b]``),
read with ``preadv`` from the shared file, as a shard store's own file would be.

Start a worker: ``REDIS_URL=... celery -A benchmarks._al_scale_shards worker -P solo``.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.celery import app  # noqa: E402
from modeling.engine.int8 import CODES_FILE, SCALES_FILE, Int8Features  # noqa: E402
from modeling.engine.sharded_active import ShardCandidates, reduce_batch, shard_candidates  # noqa: E402

_cache: dict[str, Any] = {}


def _io() -> dict[str, int]:
    """This process's read counters: ``rchar`` (every byte read, page cache included) and
    ``read_bytes`` (bytes the disk delivered)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {"rchar": int(fields["rchar"]), "read_bytes": int(fields["read_bytes"])}


def _status() -> dict[str, int]:
    """Peak and current resident memory of this process (kB): VmHWM, VmRSS, RssAnon, RssFile."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def _source(directory: str) -> Int8Features:
    if directory not in _cache:
        _cache[directory] = Int8Features(np.load(Path(directory) / CODES_FILE, mmap_mode="r"),
                                         np.load(Path(directory) / SCALES_FILE, mmap_mode="r"))
    source: Int8Features = _cache[directory]
    return source


def _model(path: str) -> Any:
    from modeling.engine.trainer import TrainedModel

    key = f"model:{path}"
    if key not in _cache:
        _cache[key] = TrainedModel.load(Path(path))
    return _cache[key]


@app.task(name="bench.score_shard")
def score_shard(int8_dir: str, start: int, stop: int, model_path: str, rated: list[int], k: int) -> dict[str, Any]:
    """Score pool rows ``start .. stop`` from the int8 copy, return the shard's margin
    candidates, its timings, bytes read and this worker's memory."""
    import torch

    from modeling.engine.trainer import plan_scoring

    torch.set_num_threads(1)  # one core per worker process
    began, io_before, cpu_before = time.perf_counter(), _io(), time.process_time()
    full = _source(int8_dir)
    shard = Int8Features(full.codes[start:stop], np.asarray(full.scales[start:stop]))
    model = _model(model_path)
    plan = plan_scoring(model, shard)
    probs = plan.score(shard)
    scored = time.perf_counter()
    part = shard_candidates("margin", k, probs, start, np.asarray(rated, dtype=np.int64))
    io_after = _io()
    return {"candidates": part.to_json(), "start": start, "stop": stop, "pid": os.getpid(),
            "score_seconds": scored - began, "select_seconds": time.perf_counter() - scored,
            "cpu_seconds": time.process_time() - cpu_before, "plan": plan.describe(),
            "rchar": io_after["rchar"] - io_before["rchar"], "read_bytes": io_after["read_bytes"] - io_before["read_bytes"],
            "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, **_status(),
            "finished_at": time.time()}


@app.task(name="bench.reduce_batch")
def reduce_round(parts: list[dict[str, Any]], k: int, rated_labels: list[int]) -> dict[str, Any]:
    """The chord body: the batch from every shard's candidates, plus the shards' reports."""
    began = time.perf_counter()
    batch = reduce_batch("margin", k, [ShardCandidates.from_json(p["candidates"]) for p in parts],
                         np.asarray(rated_labels), np.random.default_rng(0))
    reports = [{key: value for key, value in p.items() if key != "candidates"} for p in parts]
    return {"batch": batch.tolist(), "reduce_seconds": time.perf_counter() - began, "shards": reports,
            "reduced_at": time.time()}
