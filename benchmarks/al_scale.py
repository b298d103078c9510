"""Active learning at scale: 10M-row pools at 512-d and 1280-d, on the machine at hand.

Measures, side by side in one run, for each width (``--dims``, default 512 and 1280: the
offline encoder's real classifier features are 1280-d, 25.6 GB as float16 at 10M, more
than this machine's RAM, 12.8 GB as the int8 copy):

- this machine's kernel speeds (GFLOP/s of every matmul kernel torch offers, per layer
  shape) and ``preadv`` read speed, and the floor they imply for each head: every layer
  at its fastest kernel, or reading the pool, whichever is longer;
- one AL round (score every row + select 100 by margin) for a linear head and the 3x128
  MLP, from the float16 features and from the int8 copy, on every path (naive fp32
  loop, fp32, bf16, int8, and the one ``score_pool`` chooses by measurement), warm, as
  ratios to the floor and to the naive loop; one cold round of the chosen path;
- training on 600 labels + random negatives (ours per head, as a first model and as the
  app runs it later; the original recipe at 512-d), AUC-PR on a held-out slice;
- the index build over the pool's shared-space vectors (the pool's own 512-d vectors,
  or the 384-d vectors beside 1280-d features, as the offline encoder stores them),
  with progress, and expansion for 10 phrases with its recall@100 against exact search;
- peak memory: ru_maxrss, and sampled peaks of anonymous and file-backed RSS.

Targets: chosen path <= 1.5x the floor and faster than the naive loop; AL round at
10M x 1280 <= 10 s warm with the default head; training <= 5 s; expansion <= 0.1 s; peak
memory <= 4 GB. Load averages are recorded before and after every timed part.

The pools are written once (in a child process, so the generator's memory is not this
process's) under ``--cache-dir`` and reused.

    .venv/bin/python benchmarks/al_scale.py [--rows 10000000] [--dims 512,1280]
        [--cache-dir DIR] [--repeats 3] [--json]

``--sharded`` measures instead one AL round over a ``--sharded-rows`` (20M) pool in
``--shards`` (8) shards on ``--workers`` (2) Celery worker processes, beside the round over
its first ``--rows`` (10M) rows in this one process, both at ``--sharded-dim`` (512) from
the int8 copy (see ``benchmarks/_al_scale_sharded.py``): time per round and per row,
bytes read, peak memory per process, and the round time for bigger pools and more workers.

    .venv/bin/python benchmarks/al_scale.py --sharded [--sharded-rows 20000000] [--shards 8]
        [--workers 2] [--sharded-dim 512] [--redis-url redis://...]
"""

from __future__ import annotations

import os

# Before numpy/torch/faiss load their OpenMP runtime: with the default (active) policy
# idle OpenMP workers spin, and on this shared 2-core machine a 2-thread scoring pass ran
# 4x slower than 1 thread whenever other processes held a core; passive waits fix that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._al_scale_kernels import floor, gemm_rates, read_rate
from benchmarks._al_scale_pool import (
    CONCEPT_CLUSTERS,
    SIBLINGS_PER_CONCEPT,
    SyntheticPool,
    drop_from_page_cache,
    ensure_pool,
    open_pool,
    pool_directory,
)
from benchmarks._al_scale_rounds import PATHS, bench_rounds
from modeling.engine.expansion import expand
from modeling.engine.index import build_index
from modeling.engine.kernels import machine_key
from modeling.engine.metrics import average_precision
from modeling.engine.trainer import TrainedModel, later_config, original_config, score_pool, train
from modeling.engine.trainer.config import TrainConfig
from modeling.engine.trainer.fit import likely_positive_rows
from modeling.engine.trainer.streaming import iter_row_chunks

HELD_OUT_FRACTION = 0.05
#: The heads measured: name -> config. "3x128" is ``later_config()`` (the trainer's
#: default for every model after the first); "linear" is one layer (d -> 1).
HEADS: dict[str, TrainConfig] = {"linear": later_config(hidden=()), "3x128": later_config()}


def default_head() -> str:
    hidden = later_config().hidden
    return "linear" if not hidden else "x".join([str(len(hidden)), str(hidden[0])])


# --------------------------------------------------------------------------- memory


class MemoryWatch:
    """Samples /proc/self/status every 20 ms: peak anonymous and file-backed RSS (kB)."""

    def __init__(self) -> None:
        self.peak = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for line in Path("/proc/self/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in self.peak:
                    self.peak[key] = max(self.peak[key], int(value.split()[0]))


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class Task:
    """rows (600,) labeled pool rows and labels (600,); held_out (h,) rows, never labeled."""

    rows: np.ndarray
    labels: np.ndarray
    held_out: np.ndarray


def pick_labels(pool: SyntheticPool, seed: int) -> Task:
    """600 labels from the first 95% of the pool, shaped like an expert's after a few
    rounds: 200 positives, 100 negatives from the concept clusters (the other half),
    100 from sibling clusters (hard negatives), 200 random negatives."""
    rng = np.random.default_rng(seed)
    n_train = int(len(pool.labels) * (1 - HELD_OUT_FRACTION))
    y, c = pool.labels[:n_train], pool.clusters[:n_train]
    concept = c < CONCEPT_CLUSTERS
    sibling = (c >= CONCEPT_CLUSTERS) & (c < CONCEPT_CLUSTERS * (1 + SIBLINGS_PER_CONCEPT))
    groups = [(y == 1, 200), (concept & (y == 0), 100), (sibling, 100), (y == 0, 200)]
    picked: list[np.ndarray] = []
    for mask, count in groups:
        options = np.setdiff1d(np.flatnonzero(mask), np.concatenate(picked) if picked else [])
        picked.append(rng.choice(options, size=count, replace=False))
    rows = np.sort(np.concatenate(picked))
    return Task(rows, pool.labels[rows].astype(np.int64), np.arange(n_train, len(pool.labels)))


# --------------------------------------------------------------------------- training


def held_out_ap(model: TrainedModel, pool: SyntheticPool, task: Task) -> float:
    """AUC-PR (average precision) of ``model`` on the held-out slice (fp32 path)."""
    start, stop = int(task.held_out[0]), int(task.held_out[-1]) + 1
    scores = score_pool(model, pool.features[start:stop], precision="fp32")
    return average_precision(pool.labels[task.held_out].astype(np.int64), scores)


def timed_training(pool: SyntheticPool, task: Task, config: TrainConfig,
                   previous: np.ndarray | None = None) -> tuple[TrainedModel, float]:
    """Train on the task's 600 labels plus random pool negatives; (model, seconds).

    ``previous``: the previous model's pool scores, as the app passes them (the rows it
    calls positive are kept out of the random negatives; the timing includes that)."""
    features = np.asarray(pool.features[task.rows], dtype=np.float32)
    started = time.perf_counter()
    model = train(features, task.labels, pool.features, config, exclude=task.rows, previous_scores=previous)
    return model, time.perf_counter() - started


def bench_training(pool: SyntheticPool, task: Task, seeds: int, with_original: bool, heads: list[str],
                   ) -> tuple[dict[str, Any], dict[str, TrainedModel]]:
    """Per head: our recipe as a first model (one run per seed) and, for the default
    head, as the app runs it later (the first model's likely positives left out); the
    original recipe when asked. Returns the rows and the seed-0 model of each head."""
    out: dict[str, Any] = {"load_before": os.getloadavg()}
    # First use of torch.optim imports torch._dynamo (~1-2 s once per process; a server
    # pays it at start-up): pay it before timing.
    timed_training(pool, task, later_config(epochs=1, random_negatives=1024))
    models: dict[str, TrainedModel] = {}
    for head in dict.fromkeys([*heads, default_head()]):
        config = HEADS[head]
        runs = [timed_training(pool, task, replace(config, seed=s)) for s in range(seeds)]
        models[head] = runs[0][0]
        out[head] = _recipe_row(config, [t for _, t in runs], [held_out_ap(m, pool, task) for m, _ in runs])
    previous = score_pool(models[default_head()], pool.int8)  # the app saved these when it scored the pool
    config = HEADS[default_head()]
    runs = [timed_training(pool, task, replace(config, seed=s), previous) for s in range(seeds)]
    out["informed"] = _recipe_row(config, [t for _, t in runs], [held_out_ap(m, pool, task) for m, _ in runs])
    threshold = config.likely_positive_threshold
    out["informed"]["kept_out"] = len(likely_positive_rows(previous, threshold)) if threshold is not None else 0
    if with_original:
        model, seconds = timed_training(pool, task, original_config())
        out["original"] = _recipe_row(original_config(), [seconds], [held_out_ap(model, pool, task)])
    out["load_after"] = os.getloadavg()
    return out, models


def _recipe_row(config: TrainConfig, seconds: list[float], aps: list[float]) -> dict[str, Any]:
    return {"seconds": float(np.median(seconds)), "ap": float(np.median(aps)),
            "ap_all": [round(a, 4) for a in aps], "seconds_all": [round(t, 2) for t in seconds],
            "random_negatives": config.random_negatives, "hidden": list(config.hidden), "lr": config.lr}


# --------------------------------------------------------------------------- expansion


def bench_expansion(pool: SyntheticPool, repeats: int) -> dict[str, Any]:
    """Index build over the pool's shared-space vectors (as the ``build_index`` job does,
    with progress), expansion time for 10 phrases, recall@100 against exact search."""
    out: dict[str, Any] = {"load_before": os.getloadavg(), "vectors_dim": int(pool.vectors.shape[1])}
    marks: list[float] = []

    def progress(done: int, total: int) -> None:
        if done == 0 or done == total or done * 10 // total > len(marks):
            marks.append(time.perf_counter())
            print(f"  index: {done:,}/{total:,} rows added", file=sys.stderr, flush=True)

    started = time.perf_counter()
    index = build_index(pool.vectors, progress=progress)
    out["index_build_seconds"] = time.perf_counter() - started
    out["index_train_seconds"] = marks[0] - started if marks else None
    out["index"] = repr(index)
    out["load_after_build"] = os.getloadavg()
    positives, negatives = phrase_vectors(pool)
    expand(index, positives, negatives, rng=np.random.default_rng(0))  # faults the index in
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = expand(index, positives, negatives, rng=np.random.default_rng(0))
        times.append(time.perf_counter() - started)
    out["expand_seconds"] = float(np.median(times))
    out["expand_all"] = [round(t, 4) for t in times]
    out["candidates"] = len(result.candidates)
    exact_ids, out["exact_scan_seconds"] = exact_top(pool.vectors, np.vstack([positives, negatives]), 100)
    out["recall_at_100"] = float(np.mean([len(np.intersect1d(a, b)) / 100
                                          for a, b in zip(result.neighbours, exact_ids)]))
    out["load_after"] = os.getloadavg()
    return out


def phrase_vectors(pool: SyntheticPool) -> tuple[np.ndarray, np.ndarray]:
    """10 phrase vectors in the shared space: 5 positive (near concept centres; the first
    stands for the concept name), 5 negative (near sibling centres, the hard negatives)."""
    rng = np.random.default_rng(1)
    pick = pool.centres[[0, 1, 2, 3, 4, 8, 10, 12, 14, 16]]
    if pool.projection is not None:
        pick = pick @ pool.projection
    vecs = pick / np.linalg.norm(pick, axis=1, keepdims=True)
    vecs = vecs + rng.normal(size=vecs.shape).astype(np.float32) * 0.02
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs[:5].astype(np.float32), vecs[5:].astype(np.float32)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Exact top-k ids (q, k) by inner product over the whole pool, and its seconds."""
    started = time.perf_counter()
    q = torch.from_numpy(queries.astype(np.float32))
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.empty((len(queries), 0), dtype=np.int64)
    for start, _, rows in iter_row_chunks(vectors, 1 << 18):
        s = (rows.float() @ q.T).T.numpy()
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        best_s = np.hstack([best_s, np.take_along_axis(s, part, 1)])
        best_i = np.hstack([best_i, part + start])
        keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i, time.perf_counter() - started


# --------------------------------------------------------------------------- one width


def bench_width(pool: SyntheticPool, args: argparse.Namespace) -> dict[str, Any]:
    """Everything for one pool width."""
    out: dict[str, Any] = {"dim": pool.dim, "rows": int(pool.features.shape[0]),
                           "positive_rate": float(pool.labels.mean())}
    task = pick_labels(pool, args.seed)
    with_original = pool.dim in args.original_dims
    out["training"], models = bench_training(pool, task, args.repeats, with_original, args.heads)
    models = {head: models[head] for head in args.heads}
    widths = {head: [pool.dim, *(int(w.shape[0]) for w, _ in model.folded_layers())]
              for head, model in models.items()}
    shapes = sorted({s for w in widths.values() for s in zip(w[:-1], w[1:])})
    out["load_before_kernels"] = os.getloadavg()
    out["kernels"] = {f"{a}x{b}": rates for (a, b), rates in gemm_rates(shapes).items()}
    sources = {"int8 copy": (pool.int8, pool.codes_file), "float16": (pool.features, pool.feature_file)}
    sources = {name: value for name, value in sources.items() if name.split()[0] in args.sources}
    out["read_gbs"] = {}
    for name, (_, file) in sources.items():
        out["read_gbs"][name] = read_rate(file) if warm_head(file) else None
    read_gbs = next(rate for rate in out["read_gbs"].values() if rate)
    out["rounds"] = {}
    for name, (source, file) in sources.items():
        for other, (_, other_file) in sources.items():
            if other != name:
                drop_from_page_cache(other_file)  # make room for this one
        for head, model in models.items():
            source_bytes = int(np.prod(source.shape)) * (1 if name == "int8 copy" else 2)
            bound = floor(widths[head], source.shape[0], _rates(out["kernels"]), source_bytes, read_gbs)
            row = bench_rounds(model, source, file, task.rows, task.labels, bound["seconds"], args.repeats,
                               args.paths)
            out["rounds"][f"{head} | {name}"] = {"head": head, "source": name, "floor": bound, **row}
            print(f"  {pool.dim}-d {head} from {name}: chosen {row['plan']['path']} "
                  f"{row['paths']['chosen']['seconds']:.2f} s", file=sys.stderr, flush=True)
    drop_from_page_cache(pool.codes_file)
    drop_from_page_cache(pool.feature_file)
    if args.expansion:
        out["expansion"] = bench_expansion(pool, max(5, args.repeats))
    return out


def warm_head(file: Path, limit: int = 4 << 30) -> bool:
    """Read the file's first ``limit`` bytes once (so read_rate sees the page cache)."""
    with open(file, "rb", buffering=0) as f:
        done = 0
        while done < limit and (got := f.read(1 << 26)):
            done += len(got)
    return True


def _rates(table: dict[str, dict[str, float | None]]) -> dict[tuple[int, int], dict[str, float | None]]:
    return {(int(k.split("x")[0]), int(k.split("x")[1])): v for k, v in table.items()}


# --------------------------------------------------------------------------- report


def report(results: dict[str, Any]) -> None:
    """Print the tables."""
    print(f"\nmachine: {results['cpu']}; torch {torch.__version__}, {results['torch_threads']} threads, "
          f"OMP_WAIT_POLICY={results['omp_wait_policy']}; load before {_load(results['load_before'])}, "
          f"after {_load(results['load_after'])}")
    for width in results["widths"]:
        _report_width(width)
    mem = results["memory"]
    print(f"\npeak memory (whole run): ru_maxrss {mem['ru_maxrss_mb']:.0f} MB; sampled peaks anonymous "
          f"{mem['peak_anon_mb']:.0f} MB, file-backed {mem['peak_file_mb']:.0f} MB (target <= 4,096)")


def _report_width(width: dict[str, Any]) -> None:
    dim, rows = width["dim"], width["rows"]
    print(f"\n## {rows:,} x {dim}: float16 {rows * dim * 2 / 1e9:.1f} GB, int8 copy {rows * dim / 1e9:.1f} GB; "
          f"{width['positive_rate']:.2%} positives")
    print(f"\nkernel speeds, GFLOP/s (GOP/s for int8), {4096:,} rows per call "
          f"(load before {_load(width['load_before_kernels'])}):")
    kernels = list(next(iter(width["kernels"].values())))
    print("| layer | " + " | ".join(kernels) + " |")
    print("|---|" + "---|" * len(kernels))
    for shape, rates in width["kernels"].items():
        print(f"| {shape} | " + " | ".join("n/a" if rates[k] is None else f"{rates[k]:.1f}" for k in kernels) + " |")
    print("preadv from the page cache: " + ", ".join(f"{k} {v:.1f} GB/s" for k, v in width["read_gbs"].items() if v))
    print("\n| head | source | floor (s) | path | seconds | runs | x floor | x naive | CPU s (both threads) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in width["rounds"].values():
        bound = row["floor"]
        label = f"{bound['seconds']:.2f} ({bound['bound']})"
        for path in (p for p in PATHS if p in row["paths"]):
            r = row["paths"][path]
            name = f"**chosen: {row['plan']['path']}**" if path == "chosen" else path
            scaled = f" (first {r['scaled_from_rows']:,} rows, scaled)" if r["scaled_from_rows"] else ""
            print(f"| {row['head']} | {row['source']} | {label} | {name}{scaled} | {r['seconds']:.2f} | "
                  f"{' '.join(map(str, r['all']))} | {r['x_floor']:.2f} | {r['x_naive']:.2f} | "
                  f"{r.get('cpu_seconds', float('nan')):.2f} |")
            label = ""
    print("\n| head | source | chosen plan | calibration s | cold round s | page cache before warm / cold | load |")
    print("|---|---|---|---|---|---|---|")
    for row in width["rounds"].values():
        plan = row["plan"]
        desc = f"{plan['path']}, {plan['chunk_rows']:,} rows{' + prefetch' if plan['prefetch'] else ''}"
        print(f"| {row['head']} | {row['source']} | {desc} | {row['calibration_seconds']:.1f} | "
              f"{row['chosen_cold_seconds']:.2f} | {row['resident_before']:.0%} / {row['cold_resident_before']:.0%} | "
              f"{_load(row['load_before'])} -> {_load(row['load_after'])} |")
    for row in width["rounds"].values():
        print(f"floor, {row['head']} from {row['source']}: " + "; ".join(
            f"{'x'.join(map(str, layer['shape']))} {layer['kernel']} {layer['seconds']:.2f} s"
            for layer in row["floor"]["layers"]) + f"; reading {row['floor']['read_seconds']:.2f} s")
    tr = width["training"]
    print(f"\n| training, 600 labels (load {_load(tr['load_before'])} -> {_load(tr['load_after'])}) | "
          "negatives | seconds (median) | runs | AUC-PR held out |")
    print("|---|---|---|---|---|")
    labels = {**{h: f"ours, {h}, first model" for h in HEADS},
              "informed": f"ours, {default_head()}, previous model's positives kept out (the app's default)",
              "original": "original recipe (500k fixed, lr 1e-4, 3x128)"}
    for key, label in labels.items():
        if key in tr:
            r = tr[key]
            print(f"| {label} | {r['random_negatives']:,} | {r['seconds']:.2f} | "
                  f"{' '.join(map(str, r['seconds_all']))} | {r['ap']:.4f} ({', '.join(map(str, r['ap_all']))}) |")
    if "expansion" not in width:
        return
    ex = width["expansion"]
    print(f"\nexpansion over the {ex['vectors_dim']}-d shared-space vectors: {ex['index']}")
    print(f"| index build (training {ex['index_train_seconds']:.0f} s) | expand 10 phrases | recall@100 | "
          "exact scan | load |")
    print("|---|---|---|---|---|")
    print(f"| {ex['index_build_seconds']:.0f} s | {ex['expand_seconds']:.3f} s | {ex['recall_at_100']:.3f} | "
          f"{ex['exact_scan_seconds']:.1f} s | {_load(ex['load_before'])} -> {_load(ex['load_after'])} |")


def _load(values: Any) -> str:
    return "/".join(f"{v:.1f}" for v in values)


# --------------------------------------------------------------------------- main


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores, {platform.machine()})"
    return platform.processor() or platform.machine()


def prepare_pools(args: argparse.Namespace) -> None:
    """Generate missing pools in a child process (its memory is not this run's)."""
    for dim in args.dims:
        if not (pool_directory(args.cache_dir, args.rows, dim, args.seed) / "done").exists():
            subprocess.run([sys.executable, __file__, "--generate-only", str(args.rows), str(dim), str(args.seed),
                            str(args.cache_dir), str(args.generate_workers)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dims", type=lambda s: [int(d) for d in s.split(",")], default=[512, 1280])
    parser.add_argument("--original-dims", type=lambda s: [int(d) for d in s.split(",") if d], default=[512],
                        help="widths at which the original recipe (500k negatives, ~3 min) is also trained")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("AGILE_BENCH_DIR", ROOT / "var" / "bench")),
                        help="where the synthetic pools live (default $AGILE_BENCH_DIR or var/bench)")
    parser.add_argument("--heads", type=lambda s: s.split(","), default=list(HEADS),
                        help="heads whose rounds are timed (training always includes the default head)")
    parser.add_argument("--sources", type=lambda s: s.split(","), default=["int8", "float16"],
                        help="pool sources scored: int8 (the copy the app streams at 1M+ rows), float16")
    parser.add_argument("--paths", type=lambda s: s.split(","), default=list(PATHS),
                        help="scoring paths timed per round (naive and chosen always)")
    parser.add_argument("--no-expansion", dest="expansion", action="store_false",
                        help="skip the index build and expansion")
    parser.add_argument("--generate-workers", type=int, default=1,
                        help="processes writing a missing pool (the same pool for any number)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--sharded", action="store_true",
                        help="only the sharded run: --sharded-rows in --shards shards on --workers Celery workers "
                             "beside --rows in this process")
    parser.add_argument("--sharded-rows", type=int, default=20_000_000)
    parser.add_argument("--sharded-dim", type=int, default=512,
                        help="width of the sharded run's pool (and of its single-process comparison)")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (one torch thread each)")
    parser.add_argument("--redis-url", default=None, help="broker and result backend (default: a throwaway redis-server)")
    args = parser.parse_args()
    if args.sharded:
        main_sharded(args)
        return
    prepare_pools(args)
    results: dict[str, Any] = {"cpu": cpu_name(), "machine_key": machine_key(), "rows": args.rows,
                               "load_before": os.getloadavg(), "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
                               "torch_threads": torch.get_num_threads(), "default_head": default_head(),
                               "widths": []}
    with MemoryWatch() as watch:
        for dim in args.dims:
            pool = open_pool(pool_directory(args.cache_dir, args.rows, dim, args.seed))
            results["widths"].append(bench_width(pool, args))
    results["load_after"] = os.getloadavg()
    results["memory"] = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                         "peak_anon_mb": watch.peak["RssAnon"] / 1024, "peak_file_mb": watch.peak["RssFile"] / 1024}
    report(results)
    if args.json:
        print(json.dumps(results, default=str))


def main_sharded(args: argparse.Namespace) -> None:
    """``--sharded``: the sharded round beside the single-process one, in one run."""
    from benchmarks._al_scale_sharded import bench_sharded, report_sharded

    if args.rows > args.sharded_rows:
        raise SystemExit(f"--rows ({args.rows:,}) must not exceed --sharded-rows ({args.sharded_rows:,})")
    if not (pool_directory(args.cache_dir, args.sharded_rows, args.sharded_dim, args.seed) / "done").exists():
        subprocess.run([sys.executable, __file__, "--generate-only", str(args.sharded_rows), str(args.sharded_dim),
                        str(args.seed), str(args.cache_dir), str(args.generate_workers)], check=True)
    results: dict[str, Any] = {"cpu": cpu_name(), "machine_key": machine_key(), "load_before": os.getloadavg(),
                               "omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "default_head": default_head()}
    results |= bench_sharded(args, timed_training, pick_labels, MemoryWatch, HEADS[default_head()])
    results["load_after"] = os.getloadavg()
    print(f"\nmachine: {results['cpu']}; torch {torch.__version__}; head {default_head()}; "
          f"load before {_load(results['load_before'])}, after {_load(results['load_after'])}")
    report_sharded(results)
    if args.json:
        print(json.dumps(results, default=str))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--generate-only"]:
        rows, dim, seed = (int(v) for v in sys.argv[2:5])
        print(ensure_pool(rows, dim, seed, Path(sys.argv[5]), int(sys.argv[6]) if len(sys.argv) > 6 else 1)[0].directory)
    else:
        main()
