"""``al_scale.py --sharded``: one AL round over a big pool in shards on Celery workers,
beside the single-process round over half of it, in one run.

- the pool: the synthetic pool of ``--sharded-rows`` rows (``_al_scale_pool``); its first
  ``--rows`` rows are, row for row, the single-process pool (chunks are seeded by their
  position), so both parts score the same kind of rows with the same model;
- the model: the default head trained on 600 labels of the single-process part;
- single process: score ``--rows`` rows from the int8 copy with the path ``score_pool``
  chooses (all of this process's torch threads) + select 100 by margin;
- sharded: ``--shards`` shards on ``--workers`` Celery worker processes (``-P solo``, one
  torch thread each, so both parts use the machine's cores), a chord of shard tasks
  (score + the shard's best 100 by margin) reduced to the batch
  (:mod:`benchmarks._al_scale_shards`);
- per part: seconds per round and per million rows, bytes read (``/proc/<pid>/io``:
  ``rchar`` every byte read, ``read_bytes`` from the disk), peak memory per process
  (VmHWM, and sampled anonymous / file-backed RSS for this process);
- a table of the round time for bigger pools and more workers, from the measured
  per-shard cost and the measured fixed cost (dispatch + reduce).

Needs ``redis-server`` on PATH (a throwaway one is started on a free port) or
``--redis-url``. Both pools' int8 copies are read once first (warm rounds).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._al_scale_pool import SyntheticPool, open_pool, pool_directory, warm
from benchmarks._al_scale_rounds import al_round
from modeling.engine.int8 import Int8Features
from modeling.engine.shards import plan_shards
from modeling.engine.trainer import plan_scoring

ROOT = Path(__file__).resolve().parents[1]
K = 100
SCALE_ROWS = (20_000_000, 100_000_000, 1_000_000_000)
SCALE_WORKERS = (2, 8, 32, 128)


def head_of(pool: SyntheticPool, rows: int) -> SyntheticPool:
    """The first ``rows`` rows of ``pool`` (views, nothing copied)."""
    return replace(pool, features=pool.features[:rows], int8=Int8Features(pool.int8.codes[:rows], pool.int8.scales[:rows]),
                   vectors=pool.vectors[:rows], labels=pool.labels[:rows], clusters=pool.clusters[:rows])


def _io() -> dict[str, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {"rchar": int(fields["rchar"]), "read_bytes": int(fields["read_bytes"])}


def single_process(pool: SyntheticPool, model: Any, rated: np.ndarray, labels: np.ndarray, repeats: int,
                   watch: Callable[[], Any]) -> dict[str, Any]:
    """Warm AL rounds over ``pool``'s int8 copy in this process."""
    import torch

    source = pool.int8
    started = time.perf_counter()
    plan = plan_scoring(model, source)
    out: dict[str, Any] = {"rows": int(source.shape[0]), "threads": torch.get_num_threads(),
                           "plan": plan.describe(), "calibration_seconds": time.perf_counter() - started,
                           "load_before": os.getloadavg(), "rounds": []}
    with watch() as memory:
        for _ in range(repeats):
            before = _io()
            cpu: list[float] = []
            seconds = al_round(lambda: plan.score(source), rated, labels, cpu)
            after = _io()
            out["rounds"].append({"seconds": seconds, "cpu_seconds": cpu[0], "rchar": after["rchar"] - before["rchar"],
                                  "read_bytes": after["read_bytes"] - before["read_bytes"]})
    out["peak_anon_mb"] = memory.peak["RssAnon"] / 1024
    out["peak_file_mb"] = memory.peak["RssFile"] / 1024
    out["load_after"] = os.getloadavg()
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Services:
    """A throwaway Redis (unless a URL is given) and ``workers`` Celery worker processes."""

    def __init__(self, workers: int, redis_url: str | None) -> None:
        self.workers, self.redis_url = workers, redis_url
        self.folder = Path(tempfile.mkdtemp(prefix="al-scale-shards-"))
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Services:
        if self.redis_url is None:
            if shutil.which("redis-server") is None:
                raise SystemExit("--sharded needs redis-server on PATH (apt-get install redis-server) or --redis-url")
            port = _free_port()
            self.processes.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.folder)], stdout=subprocess.DEVNULL))
            self.redis_url = f"redis://127.0.0.1:{port}/0"
            time.sleep(0.5)
        os.environ["REDIS_URL"] = self.redis_url
        env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "config.settings",
                            "DATABASE_URL": f"sqlite:///{self.folder / 'unused.sqlite3'}"}
        for i in range(self.workers):
            log = open(self.folder / f"worker{i}.log", "wb")  # noqa: SIM115 (closed with the process)
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "benchmarks._al_scale_shards", "worker", "-P", "solo",
                 "-n", f"shard{i}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "--loglevel", "WARNING"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        self._wait_for_workers()
        return self

    def _wait_for_workers(self, seconds: float = 120) -> None:
        from benchmarks._al_scale_shards import app

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(app.control.ping(timeout=1.0) or []) >= self.workers:
                return
        logs = "\n".join((self.folder / f"worker{i}.log").read_text(errors="replace")[-2000:] for i in range(self.workers))
        raise SystemExit(f"the Celery workers did not start:\n{logs}")

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def sharded_rounds(pool: SyntheticPool, model_path: Path, rated: np.ndarray, labels: np.ndarray, shards: int,
                   workers: int, repeats: int, redis_url: str | None) -> dict[str, Any]:
    """Warm AL rounds over every row of ``pool`` in ``shards`` shards on Celery workers."""
    from celery import chord, group

    n_rows = int(pool.int8.shape[0])
    ranges = plan_shards(n_rows, math.ceil(n_rows / shards))
    out: dict[str, Any] = {"rows": n_rows, "shards": len(ranges), "shard_rows": ranges[0][1] - ranges[0][0],
                           "workers": workers, "load_before": os.getloadavg(), "rounds": []}
    with Services(workers, redis_url):
        from benchmarks._al_scale_shards import reduce_round, score_shard

        def one_round() -> dict[str, Any]:
            header = group(score_shard.s(str(pool.directory / "int8"), a, b, str(model_path), rated.tolist(), K)
                           for a, b in ranges)
            started = time.perf_counter()
            result = chord(header)(reduce_round.s(K, labels.tolist())).get(timeout=7200)
            result["seconds"] = time.perf_counter() - started
            assert len(result["batch"]) == K and not np.isin(result["batch"], rated).any()
            return result

        out["warmup"] = _summary(one_round())  # each worker's first shard measures its scoring path
        for _ in range(repeats):
            out["rounds"].append(_summary(one_round()))
    out["load_after"] = os.getloadavg()
    return out


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    shards = result["shards"]
    per_worker: dict[int, dict[str, float]] = {}
    for s in shards:
        w = per_worker.setdefault(s["pid"], {"busy_seconds": 0.0, "rchar": 0, "read_bytes": 0, "shards": 0,
                                             "peak_rss_mb": 0.0})
        w["busy_seconds"] += s["score_seconds"] + s["select_seconds"]
        w["rchar"] += s["rchar"]
        w["read_bytes"] += s["read_bytes"]
        w["shards"] += 1
        w["peak_rss_mb"] = max(w["peak_rss_mb"], s["VmHWM"] / 1024)
    shard_seconds = [s["score_seconds"] + s["select_seconds"] for s in shards]
    return {"seconds": result["seconds"], "reduce_seconds": result["reduce_seconds"], "batch": result["batch"][:5],
            "shard_seconds": shard_seconds, "shard_cpu_seconds": [s["cpu_seconds"] for s in shards],
            "workers": {str(pid): w for pid, w in per_worker.items()}, "plan": shards[0]["plan"],
            "fixed_seconds": result["seconds"] - max(w["busy_seconds"] for w in per_worker.values())}


def scaling(sharded: dict[str, Any]) -> list[dict[str, Any]]:
    """Predicted round seconds for pools of SCALE_ROWS rows on SCALE_WORKERS workers (one
    core each): ``ceil(shards / workers)`` waves of the measured median shard time, plus
    the measured fixed cost (dispatch, result transfer, reduce) scaled with the shard count."""
    rounds = sharded["rounds"]
    per_shard = float(np.median([t for r in rounds for t in r["shard_seconds"]]))
    fixed = float(np.median([max(r["fixed_seconds"], 0.0) for r in rounds]))
    shard_rows = sharded["shard_rows"]
    table = []
    for rows in SCALE_ROWS:
        n_shards = math.ceil(rows / shard_rows)
        for workers in SCALE_WORKERS:
            seconds = math.ceil(n_shards / workers) * per_shard + fixed * n_shards / sharded["shards"]
            table.append({"rows": rows, "workers": workers, "shards": n_shards, "seconds": seconds,
                          "us_per_row": seconds / rows * 1e6})
    return table


def bench_sharded(args: Any, train: Callable[..., Any], pick: Callable[..., Any], watch: Callable[[], Any],
                  config: Any) -> dict[str, Any]:
    """The whole comparison; ``train``/``pick`` are al_scale's timed_training / pick_labels."""
    big = open_pool(pool_directory(args.cache_dir, args.sharded_rows, args.sharded_dim, args.seed))
    single = head_of(big, args.rows)
    task = pick(single, args.seed)
    model, train_seconds = train(single, task, config)
    model_path = args.cache_dir / f"al_scale_sharded_model_{args.sharded_dim}.pt"
    model.save(model_path)
    resident = warm(big.codes_file)  # both parts read a warm int8 copy
    out: dict[str, Any] = {"dim": args.sharded_dim, "train_seconds": train_seconds, "resident_before": resident,
                           "int8_bytes": int(big.codes_file.stat().st_size)}
    print(f"  single process: {args.rows:,} rows", file=sys.stderr, flush=True)
    out["single"] = single_process(single, model, task.rows, task.labels, args.repeats, watch)
    print(f"  sharded: {args.sharded_rows:,} rows in {args.shards} shards on {args.workers} workers",
          file=sys.stderr, flush=True)
    out["sharded"] = sharded_rounds(big, model_path, task.rows, task.labels, args.shards, args.workers,
                                    args.repeats, args.redis_url)
    out["scaling"] = scaling(out["sharded"])
    return out


def report_sharded(result: dict[str, Any]) -> None:
    single, sharded = result["single"], result["sharded"]
    s_secs = float(np.median([r["seconds"] for r in single["rounds"]]))
    m_secs = float(np.median([r["seconds"] for r in sharded["rounds"]]))
    s_row, m_row = s_secs / single["rows"], m_secs / sharded["rows"]
    mb = 1e6
    print(f"\n## Sharded AL round: {sharded['rows']:,} x {result['dim']} in {sharded['shards']} shards on "
          f"{sharded['workers']} Celery workers, beside {single['rows']:,} rows in one process (int8 copy, warm: "
          f"{result['resident_before']:.0%} of the {result['int8_bytes'] / 1e9:.1f} GB copy in the page cache)")
    s_cpu = float(np.median([r["cpu_seconds"] for r in single["rounds"]])) / single["rows"]
    m_cpu = float(np.median([sum(r["shard_cpu_seconds"]) for r in sharded["rounds"]])) / sharded["rows"]
    print("\n| run | rows | round s (runs) | s per 1M rows | x single | CPU s per 1M rows (x single) | "
          "bytes read (rchar / disk) | peak memory per process |")
    print("|---|---|---|---|---|---|---|---|")
    runs = " ".join(f"{r['seconds']:.2f}" for r in single["rounds"])
    r0 = single["rounds"][-1]
    print(f"| one process, {single['threads']} threads, {single['plan']['path']} | {single['rows']:,} | "
          f"{s_secs:.2f} ({runs}) | {s_row * mb:.3f} | 1.00 | {s_cpu * mb:.3f} | {r0['rchar'] / 1e9:.2f} GB / {r0['read_bytes'] / 1e9:.2f} GB | "
          f"anon {single['peak_anon_mb']:.0f} MB, file {single['peak_file_mb']:.0f} MB |")
    runs = " ".join(f"{r['seconds']:.2f}" for r in sharded["rounds"])
    last = sharded["rounds"][-1]
    reads = sum(w["rchar"] for w in last["workers"].values())
    disk = sum(w["read_bytes"] for w in last["workers"].values())
    peaks = ", ".join(f"{w['peak_rss_mb']:.0f} MB" for w in last["workers"].values())
    print(f"| {sharded['shards']} shards, {sharded['workers']} workers x 1 thread, {last['plan']['path']} | "
          f"{sharded['rows']:,} | {m_secs:.2f} ({runs}) | {m_row * mb:.3f} | {m_row / s_row:.2f} | "
          f"{m_cpu * mb:.3f} ({m_cpu / s_cpu:.2f}) | "
          f"{reads / 1e9:.2f} GB / {disk / 1e9:.2f} GB | {peaks} (VmHWM) |")
    print(f"\ntarget: time per row <= 1.2x single: {'met' if m_row <= 1.2 * s_row else 'MISSED'} "
          f"({m_row / s_row:.2f}x); peak memory per worker <= 4,096 MB: "
          f"{'met' if all(w['peak_rss_mb'] <= 4096 for w in last['workers'].values()) else 'MISSED'}")
    shard_secs = [t for r in sharded["rounds"] for t in r["shard_seconds"]]
    print(f"per shard ({sharded['shard_rows']:,} rows): median {np.median(shard_secs):.2f} s "
          f"({min(shard_secs):.2f}-{max(shard_secs):.2f}); fixed cost per round (dispatch, results, reduce) "
          f"median {np.median([r['fixed_seconds'] for r in sharded['rounds']]):.2f} s, reduce "
          f"{np.median([r['reduce_seconds'] for r in sharded['rounds']]) * 1000:.0f} ms; "
          f"load {'/'.join(f'{v:.1f}' for v in sharded['load_before'])} -> "
          f"{'/'.join(f'{v:.1f}' for v in sharded['load_after'])}")
    print("\nround time from the measured per-shard cost (one core per worker; each worker reading its "
          "shards at the measured rate):")
    workers = sorted({row["workers"] for row in result["scaling"]})
    print("| pool rows | shards | " + " | ".join(f"{w} workers" for w in workers) + " |")
    print("|---|---|" + "---|" * len(workers))
    for rows in sorted({row["rows"] for row in result["scaling"]}):
        cells = [r for r in result["scaling"] if r["rows"] == rows]
        print(f"| {rows:,} | {cells[0]['shards']:,} | " + " | ".join(f"{c['seconds']:.1f} s" for c in cells) + " |")
