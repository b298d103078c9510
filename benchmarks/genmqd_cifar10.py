"""GenMQD on CIFAR-10 in the paper's setting: synthesise what the model needs, describe it,
gather the pool images nearest the description, label them by their class.

Features: the offline encoder's 1280-d EfficientNet-Lite0 features (the classifier's input)
and its 384-d ConSE vectors (the shared space descriptions search). Per seed: an initial
labelled set of 10 images per class and a validation set of 10 per class (100), both from
train; then ``--iterations`` iterations of 100 queried images (one description per class per
iteration, ``--per-class`` images gathered for each), 500 in all. The oracle labels every
gathered image by its CIFAR-10 class. After each iteration a 10-class logistic head (the
one synthesis refits, L2 = 1/n) is fitted on the labelled set and scored on all 10,000 test
images. The validation set is never trained on.

Arms (each with its own labelled set):
  genmqd      x* by Algorithm 1 (T steps of alpha), described by the ImageNet decoder
              (contrast with the pool mean), gathered by the description's text query
  genmqd-fea  the same synthesis, gathered by x* itself (nearest train features)
  centre      the description of the class centre x*_0 (T = 0): what the steps add
  randomtext  the text query "a photo of a {class}" (MiniLM, as the offline encoder writes it)
  margin      pool-based margin (1st - 2nd probability), 100 per iteration: a reference
  random      100 random pool images per iteration: a reference

    AGILE_CACHE_DIR=... nice -n 10 python benchmarks/genmqd_cifar10.py [--seeds 0,1,2,3,4] [--workers 2] [--json]
    python benchmarks/genmqd_cifar10.py --studio-timing      # seconds per synthesis at studio sizes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modeling.engine.embedding import embed_source
from modeling.engine.encoders import create_encoder
from modeling.engine.encoders.paths import default_cache_dir, shared_data_dir
from modeling.engine.genmqd import (
    Decoder,
    SynthesisConfig,
    class_centre,
    decoder_for,
    mean_features,
    nearest,
    synthesize,
)
from modeling.engine.genmqd.head import fit, head_spec, logits
from modeling.engine.genmqd.synthesis import one_thread

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ARMS = ("genmqd", "genmqd-fea", "centre", "randomtext", "margin", "random")
PAPER = {"genmqd": (87.95, 88.27), "randomtext": (87.76, 87.73), "genmqd-fea": (86.65, 87.30)}


@dataclass
class Data:
    features: np.ndarray  # (50000, 1280) float32 train features
    vectors: np.ndarray  # (50000, 384) float32 train ConSE vectors
    labels: np.ndarray  # (50000,) int64
    test_features: np.ndarray | None
    test_labels: np.ndarray | None
    texts: np.ndarray  # (10, 384) "a photo of a {class}"
    decoder: Decoder


def load_split(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, vectors, labels) of CIFAR-10 ``split``, linked from the embedding cache."""
    encoder = create_encoder("offline")
    out_dir = default_cache_dir().parent / "pools" / f"bench-cifar10-{split}-offline"
    result = embed_source(shared_data_dir() / "cifar10" / f"{split}.zip", encoder, out_dir)
    labels = np.array([CLASSES.index(str(label)) for label in result.labels], dtype=np.int64)
    return np.asarray(result.store.features, dtype=np.float32), np.asarray(result.store.vectors, dtype=np.float32), labels


def load() -> Data:
    """The train split and the decoder; the test split is read later (:func:`with_test`)."""
    features, vectors, labels = load_split("train")
    encoder = create_encoder("offline")
    decoder = decoder_for(encoder, reference=mean_features(features))
    assert decoder is not None
    texts = np.asarray(encoder.encode_texts(list(CLASSES)), dtype=np.float32)
    return Data(features, vectors, labels, None, None, texts, decoder)


def with_test(data: Data, wait_seconds: float = 3600.0) -> Data:
    """``data`` with the test split, waiting (polling every 30 s) while its embedding is
    still being written by another process: the arms only need train, so they run first."""
    from modeling.engine.store import StoreError

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            data.test_features, _, data.test_labels = load_split("test")
            return data
        except StoreError as error:
            if time.monotonic() > deadline:
                raise
            print(f"waiting for the test split: {error}"[:160], file=sys.stderr, flush=True)
            time.sleep(30)


DATA: Data | None = None  # set in the parent; forked workers read it copy-on-write


def head_on(rows: np.ndarray) -> tuple[Any, torch.Tensor]:
    """The 10-class logistic head (L2 = 1/n) fitted on train ``rows``."""
    assert DATA is not None
    spec = head_spec(DATA.features[rows], len(CLASSES))
    x = torch.from_numpy(DATA.features[rows].astype(np.float64))
    return spec, fit(spec, x, torch.from_numpy(DATA.labels[rows]), tolerance=1e-6)


def probabilities(spec: Any, params: torch.Tensor, features: np.ndarray) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, len(features), 8192):
            x = torch.from_numpy(features[start : start + 8192].astype(np.float64))
            out.append(torch.softmax(logits(spec, params, x), dim=1).numpy())
    return np.concatenate(out)


def accuracy(rows: np.ndarray) -> float:
    assert DATA is not None and DATA.test_features is not None
    spec, params = head_on(rows)
    predicted = probabilities(spec, params, DATA.test_features).argmax(axis=1)
    return float((predicted == DATA.test_labels).mean())


Query = Callable[[np.ndarray, np.ndarray, np.ndarray, dict[str, list[float]]], np.ndarray]


def run_arm(arm: str, seed: int, iterations: int, per_class: int, config: SynthesisConfig,
            checkpoint: Path | None = None) -> dict[str, Any]:
    """One arm, one seed: the labelled set (train rows) after 0, 100, ..., iterations*100
    queried images; :func:`evaluate` turns them into test accuracies."""
    assert DATA is not None
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    labelled = np.concatenate([rng.choice(np.flatnonzero(DATA.labels == c), 10, replace=False) for c in range(10)])
    rest = np.setdiff1d(np.arange(len(DATA.labels)), labelled)
    validation = np.concatenate([rng.choice(rest[DATA.labels[rest] == c], 10, replace=False) for c in range(10)])
    stats: dict[str, list[float]] = {"synthesis_seconds": [], "moved": [], "val_drop": [], "precision": []}
    sets = [labelled.tolist()]
    started = time.perf_counter()
    for _ in range(iterations):
        taken = np.concatenate([labelled, validation])
        new = query(arm, labelled, validation, taken, per_class, config, rng, stats)
        labelled = np.concatenate([labelled, new])
        sets.append(labelled.tolist())
        if checkpoint is not None:  # the run so far: reportable if the rest cannot be waited for
            _append(checkpoint, _record(arm, seed, sets, started, stats, complete=len(sets) == iterations + 1))
    return _record(arm, seed, sets, started, stats, complete=True)


def _record(arm: str, seed: int, sets: list[list[int]], started: float, stats: dict[str, list[float]],
            complete: bool) -> dict[str, Any]:
    return {"arm": arm, "seed": seed, "labelled": sets, "seconds": time.perf_counter() - started,
            "complete": complete, **{k: float(np.mean(v)) if v else None for k, v in stats.items()}}


def _append(path: Path, run: dict[str, Any]) -> None:
    with path.open("a") as out:
        out.write(json.dumps(run) + "\n")


def latest_runs(paths: list[Path]) -> list[dict[str, Any]]:
    """The longest saved record of each (arm, seed) in ``paths`` (checkpoints and full runs)."""
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            run = json.loads(line)
            key = (run["arm"], run["seed"])
            if key not in best or len(run["labelled"]) > len(best[key]["labelled"]):
                best[key] = run
    return list(best.values())


def query(arm: str, labelled: np.ndarray, validation: np.ndarray, taken: np.ndarray, per_class: int,
          config: SynthesisConfig, rng: np.random.Generator, stats: dict[str, list[float]]) -> np.ndarray:
    """The ``10 * per_class`` train rows this arm gathers next (never ``taken``)."""
    assert DATA is not None
    budget = 10 * per_class
    if arm == "random":
        return np.asarray(rng.choice(np.setdiff1d(np.arange(len(DATA.labels)), taken), budget, replace=False))
    if arm == "margin":
        spec, params = head_on(labelled)
        probs = np.sort(probabilities(spec, params, DATA.features), axis=1)
        margin = probs[:, -1] - probs[:, -2]
        from modeling.engine.active import select

        return select(-margin, budget, taken)
    gathered: list[np.ndarray] = []
    for c in range(10):
        exclude = np.concatenate([taken, *gathered])
        if arm == "randomtext":
            rows, _ = nearest(DATA.texts[c], DATA.vectors, per_class, exclude)
        elif arm == "centre":
            centre = class_centre(DATA.features[labelled], DATA.labels[labelled], c)
            rows, _ = nearest(DATA.decoder.describe(centre).query, DATA.vectors, per_class, exclude)
        else:
            result = synthesize(DATA.features[labelled], DATA.labels[labelled], DATA.features[validation],
                                DATA.labels[validation], c, 10, config)
            stats["synthesis_seconds"].append(result.seconds)
            stats["moved"].append(result.moved / float(np.linalg.norm(result.start)))
            stats["val_drop"].append(float(result.validation_loss[0] - result.validation_loss[-1]))
            if arm == "genmqd":
                rows, _ = nearest(DATA.decoder.describe(result.x).query, DATA.vectors, per_class, exclude)
            else:
                rows, _ = nearest(result.x, DATA.features, per_class, exclude, metric="euclidean")
        stats["precision"].append(float(np.mean(DATA.labels[rows] == c)))
        gathered.append(rows)
    return np.concatenate(gathered)


def evaluate(run: dict[str, Any]) -> dict[str, Any]:
    """``run`` with its test accuracy after each iteration."""
    with one_thread():
        return {**run, "accuracy": [accuracy(np.asarray(rows, dtype=np.int64)) for rows in run["labelled"]]}


def _task(args: tuple[str, int, int, int, SynthesisConfig, Path | None]) -> dict[str, Any]:
    with one_thread():
        return run_arm(*args)


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and a 95 % t-interval over seeds."""
    from scipy import stats

    a = np.asarray(values, dtype=np.float64)
    if len(a) < 2:
        return float(a.mean()), float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)))
    return float(a.mean()), float(a.mean() - half), float(a.mean() + half)


def report(runs: list[dict[str, Any]], arms: list[str], iterations: int, per_class: int) -> dict[str, Any]:
    queried = [i * 10 * per_class for i in range(iterations + 1)]
    print("\n10-class test accuracy (%) vs images queried; mean over seeds [95 % t-interval]")
    print("| arm | " + " | ".join(str(q) for q in queried) + " | gather precision | x* moved | val-loss drop | s/synthesis |")
    print("|---|" + "---|" * (len(queried) + 4))
    table: dict[str, Any] = {}
    for arm in arms:
        mine = [r for r in runs if r["arm"] == arm]
        cells, summary = [], []
        for i in range(len(queried)):
            reached = [100 * r["accuracy"][i] for r in mine if len(r["accuracy"]) > i]
            if not reached:
                summary.append({"mean": None, "low": None, "high": None, "n": 0})
                cells.append("–")
                continue
            mean, low, high = interval(reached)
            summary.append({"mean": mean, "low": low, "high": high, "n": len(reached)})
            cells.append(f"{mean:.2f} [{low:.2f}, {high:.2f}]" + (f" (n={len(reached)})" if len(reached) < len(mine)
                                                                  else ""))
        extras = [_mean(mine, key) for key in ("precision", "moved", "val_drop", "synthesis_seconds")]
        print(f"| {arm} | " + " | ".join(cells) + " | " + " | ".join(extras) + " |")
        table[arm] = {"accuracy": summary, "seeds": sorted(r["seed"] for r in mine),
                      **{k: _raw(mine, k) for k in ("precision", "moved", "val_drop", "synthesis_seconds")}}
    paired = {}
    for other in ("randomtext", "centre", "margin"):
        if "genmqd" in table and other in table:
            for index in range(len(queried) - 1, 0, -1):  # the most queried count with a paired seed
                diffs = _paired(runs, "genmqd", other, index)
                if diffs:
                    break
            if not diffs:
                continue
            mean, low, high = interval(diffs)
            paired[other] = {"mean": mean, "low": low, "high": high, "n": len(diffs), "queried": queried[index]}
            print(f"\nGenMQD - {other} at {queried[index]}: {mean:+.2f} points [{low:+.2f}, {high:+.2f}] "
                  f"(paired by seed, {len(diffs)} seeds)")
    return {"queried": queried, "arms": table, "paired_at_end": paired, "paper": PAPER}


def _paired(runs: list[dict[str, Any]], a: str, b: str, index: int) -> list[float]:
    by_seed = {(r["arm"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs if r["arm"] == a} & {r["seed"] for r in runs if r["arm"] == b})
    return [100 * (by_seed[(a, s)]["accuracy"][index] - by_seed[(b, s)]["accuracy"][index]) for s in seeds
            if len(by_seed[(a, s)]["accuracy"]) > index and len(by_seed[(b, s)]["accuracy"]) > index]


def _raw(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def _mean(runs: list[dict[str, Any]], key: str) -> str:
    value = _raw(runs, key)
    if value is None:
        return "–"
    return f"{100 * value:.1f} %" if key in ("precision", "moved") else f"{value:.3g}"


def studio_timing(steps: int) -> dict[str, Any]:
    """Seconds per synthesis (yes or no) at studio sizes: a binary concept ("airplane") on the
    1280-d features, 40 / 100 / 300 expert labels (three quarters L, one quarter V). The floor
    is one cold fit of the same head on the same rows (median of 3), the least any synthesis
    pays; reads
    the train store's committed rows, so it runs while the store is still being written."""
    from modeling.engine.store import EmbeddingStore

    store = EmbeddingStore.open(default_cache_dir().parent / "pools" / "bench-cifar10-train-offline")
    keys = list(store.keys)
    rng = np.random.default_rng(0)
    positives = np.flatnonzero([k.startswith("airplane/") for k in keys])
    negatives = np.flatnonzero([not k.startswith("airplane/") for k in keys])
    out: dict[str, Any] = {"load_average": os.getloadavg()[0]}
    for total in (40, 100, 300):
        rows = np.concatenate([rng.choice(positives, total // 2, replace=False),
                               rng.choice(negatives, total - total // 2, replace=False)])
        x = np.asarray(store.features[np.sort(rows)], dtype=np.float32)
        y = np.isin(np.sort(rows), positives).astype(np.int64)
        held = np.arange(total) % 4 == 0
        with one_thread():
            spec = head_spec(x[~held], 2)
            fits = []
            for _ in range(3):  # median of three: the first call also pays scipy's imports
                started = time.perf_counter()
                fit(spec, torch.from_numpy(x[~held].astype(np.float64)), torch.from_numpy(y[~held]))
                fits.append(time.perf_counter() - started)
            floor = float(np.median(fits))
            times = [synthesize(x[~held], y[~held], x[held], y[held], target, 2, SynthesisConfig(steps=steps)).seconds
                     for target in (1, 0)]
        out[str(total)] = {"yes": times[0], "no": times[1], "floor": floor}
        print(f"| {total} ({int((~held).sum())} L + {int(held.sum())} V) | {times[0]:.2f} | {times[1]:.2f} | "
              f"{floor:.3f} | {np.mean(times) / floor:.0f}x |")
    return out


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default: 5)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated arms of {ARMS}")
    parser.add_argument("--iterations", type=int, default=5, help="iterations of 10 x per-class images (default 5)")
    parser.add_argument("--per-class", type=int, default=10, help="images gathered per description (default 10)")
    parser.add_argument("--steps", type=int, default=200, help="synthesis steps T (default 200)")
    parser.add_argument("--alpha", type=float, default=1e-4, help="step size in unit-norm units (default 1e-4)")
    parser.add_argument("--alpha-units", choices=("unit-norm", "raw"), default="unit-norm")
    parser.add_argument("--workers", type=int, default=1, help="processes (one arm x seed each)")
    parser.add_argument("--studio-timing", action="store_true", help="only time one synthesis at studio sizes")
    parser.add_argument("--save", type=Path, help="append every finished run (labelled sets) to this JSON-lines file")
    parser.add_argument("--load", type=Path, action="append", default=[],
                        help="also report the runs saved in this file (repeatable); with --seeds '' only reports")
    parser.add_argument("--checkpoint", type=Path,
                        help="append each run's labelled sets after every iteration to this JSON-lines file "
                             "(--load it to report runs cut short)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.studio_timing:
        print(f"one synthesis at studio sizes, T={args.steps} (load average {os.getloadavg()[0]:.1f})")
        print("| expert labels | yes (s) | no (s) | floor: one cold fit (s) | synthesis / floor |")
        print("|---|---|---|---|---|")
        result = {"studio_timing": studio_timing(args.steps)}
        if args.json:
            print(json.dumps(result))
        return
    arms = [a for a in args.arms.split(",") if a]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {unknown}; known: {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    config = SynthesisConfig(steps=args.steps, alpha=args.alpha, alpha_units=args.alpha_units)
    global DATA
    started = time.perf_counter()
    DATA = load()
    print(f"loaded CIFAR-10 features in {time.perf_counter() - started:.1f} s; {len(arms)} arms x {len(seeds)} seeds",
          file=sys.stderr)
    # The synthesis arms are the long ones: start them first, so both workers stay busy.
    order = sorted((arm not in ("genmqd", "genmqd-fea"), seed, arm) for seed in seeds for arm in arms)
    tasks = [(arm, seed, args.iterations, args.per_class, config, args.checkpoint) for _, seed, arm in order]
    runs: list[dict[str, Any]] = latest_runs(args.load)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for run in pool.map(_task, tasks):
            runs.append(run)
            if args.save:
                with args.save.open("a") as out:
                    out.write(json.dumps(run) + "\n")
            print(f"  {run['arm']} seed {run['seed']} done ({run['seconds']:.0f} s)", file=sys.stderr, flush=True)
    with_test(DATA)
    runs = [evaluate(run) for run in runs]
    arms = [a for a in arms if any(r["arm"] == a for r in runs)] or sorted({r["arm"] for r in runs})
    print(f"\nT = {args.steps} steps of alpha = {args.alpha:g} ({args.alpha_units}); {args.per_class} images per "
          f"description; seeds {sorted({r['seed'] for r in runs})}; CPU: {_cpu()}, load average "
          f"{os.getloadavg()[0]:.1f}")
    result = report(runs, arms, args.iterations, args.per_class)
    result.update({"seeds": seeds, "steps": args.steps, "alpha": args.alpha, "alpha_units": args.alpha_units,
                   "per_class": args.per_class, "runs": runs})
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
