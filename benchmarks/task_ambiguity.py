"""The task-ambiguity study (Tamkin et al., "Active learning helps pretrained models learn the
intended task", NeurIPS 2022) on CIFAR-10 with the product's trainer and margin strategy.

(a) **Missing subgroups.** "vehicle" = airplane, automobile, ship, truck, with seed labels
    whose positives are road vehicles only (automobile, truck) plus random non-vehicles.
    Per round: the share of each arm's acquisitions that are airplanes or ships (the member
    classes the seed set never showed), uncertainty (margin) vs random, against their share
    of the pool (20 %).
(b) **Label savings, pretrained vs not.** One-class concepts; seed of 10 positives + 10
    negatives, rounds of ``--batch``; labels uncertainty needs to reach random's final
    test AUC-PR, on the offline encoder's EfficientNet-Lite0 features (pretrained) and on
    raw pixels (32x32x3, PCA to 128 dims fitted on train). Raw pixels, not the same network
    with random weights: embedding 60,000 images through a random EfficientNet costs as much
    CPU as the pretrained embedding did (about an hour on this shared 2-core machine) and
    tests the same thing, features that encode no semantics; decoding the JPEGs and a PCA
    take about a minute.
(c) **When to stop training.** Over the margin loop's rounds on pretrained features, the
    trainer's 0.1 %-of-starting-loss stop (``stop_at_loss_fraction=0.001``, capped at 200
    epochs) vs its fixed budget (10 epochs) vs early stopping on a held-out 20 % of the
    labels (epochs chosen from a grid by held-out AUC-PR, then retrained on all labels).

Test AUC-PR on all 10,000 CIFAR-10 test images (or, with ``--test-from-train N``, on N
stratified train images held out of the pool). Means over concepts x seeds.

    AGILE_CACHE_DIR=... nice -n 10 python benchmarks/task_ambiguity.py [--seeds 0,1] [--parts a,b,c] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modeling.engine.active import next_batch
from modeling.engine.encoders.paths import shared_data_dir
from modeling.engine.metrics import average_precision
from modeling.engine.trainer import initial_config, later_config, score_pool, train

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VEHICLE, SEEN, MISSING = ("airplane", "automobile", "ship", "truck"), ("automobile", "truck"), ("airplane", "ship")
EPOCH_GRID = (2, 5, 10, 20, 50)


@dataclass
class Features:
    name: str
    train: np.ndarray
    test: np.ndarray | None  # None: part (a) alone, which needs no test scores


@dataclass
class Split:
    labels: np.ndarray  # (50000,) class index
    test_labels: np.ndarray | None


def load_pretrained(with_test: bool = True) -> tuple[Features, Split, list[str], list[str]]:
    """The offline encoder's features of train (and test), linked from the embedding cache,
    with the stores' keys (the images' order, for the raw pixels)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from genmqd_cifar10 import load_split

    from modeling.engine.encoders.paths import default_cache_dir
    from modeling.engine.store import EmbeddingStore

    def keys(split: str) -> list[str]:
        return list(EmbeddingStore.open(default_cache_dir().parent / "pools" / f"bench-cifar10-{split}-offline").keys)

    train_f, _, train_y = load_split("train")
    if not with_test:
        return Features("pretrained (EfficientNet-Lite0)", train_f, None), Split(train_y, None), keys("train"), []
    test_f, _, test_y = load_split("test")
    return (Features("pretrained (EfficientNet-Lite0)", train_f, test_f), Split(train_y, test_y), keys("train"),
            keys("test"))


def held_out(features: Features, split: Split, train_keys: list[str], size: int, seed: int = 0
             ) -> tuple[Features, Split, list[str], list[str], str]:
    """Train split into a pool and a stratified held-out test set of ``size`` images (for a
    run while the test split is still being embedded); returns the test images' zip too."""
    rng = np.random.default_rng(seed)
    per_class = size // len(CLASSES)
    test_rows = np.sort(np.concatenate([rng.choice(np.flatnonzero(split.labels == c), per_class, replace=False)
                                        for c in range(len(CLASSES))]))
    pool_rows = np.setdiff1d(np.arange(len(split.labels)), test_rows)
    return (Features(features.name, features.train[pool_rows], features.train[test_rows]),
            Split(split.labels[pool_rows], split.labels[test_rows]),
            [train_keys[i] for i in pool_rows], [train_keys[i] for i in test_rows], "train")


def raw_pixels(train_keys: list[str], test_keys: list[str], dims: int = 128, test_split: str = "test") -> Features:
    """32x32x3 pixels in [0, 1] of the same images (same order), PCA to ``dims`` fitted on train."""
    from sklearn.decomposition import PCA

    def read(split: str, keys: list[str]) -> np.ndarray:
        out = np.empty((len(keys), 32 * 32 * 3), dtype=np.float32)
        with zipfile.ZipFile(shared_data_dir() / "cifar10" / f"{split}.zip") as archive:
            for i, key in enumerate(keys):
                image = Image.open(io.BytesIO(archive.read(key))).convert("RGB").resize((32, 32))
                out[i] = np.asarray(image, dtype=np.float32).reshape(-1) / 255.0
        return out

    train_px, test_px = read("train", train_keys), read(test_split, test_keys)
    pca = PCA(n_components=dims, svd_solver="randomized", random_state=0).fit(train_px)
    return Features(f"raw pixels (PCA {dims})", pca.transform(train_px).astype(np.float32),
                    pca.transform(test_px).astype(np.float32))


def members(labels: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    return np.isin(labels, [CLASSES.index(n) for n in names])


Seed = Callable[[np.random.Generator], np.ndarray]


def loop(features: Features, positive: np.ndarray, test_positive: np.ndarray | None, seed_rows: np.ndarray, *,
         strategy: str, rounds: int, batch: int, seed: int,
         trainer: Callable[..., Any] | None = None) -> dict[str, Any]:
    """An AL loop with the product's trainer: returns labels and test AUC-PR per round and the
    rows acquired each round. ``trainer(x, y, pool, config, previous_scores) -> scores``
    overrides how each round's model is trained (part c)."""
    rng = np.random.default_rng(seed)
    rows = seed_rows.copy()
    out: dict[str, Any] = {"labels": [], "auc_pr": [], "acquired": []}
    previous: np.ndarray | None = None
    for r in range(rounds + 1):
        config = (initial_config if r == 0 else later_config)(seed=seed)
        y = positive[rows].astype(np.int64)
        if trainer is None:
            model = train(features.train[rows], y, features.train, config, exclude=rows, previous_scores=previous)
            pool_scores = score_pool(model, features.train)
            test_scores = None if features.test is None else score_pool(model, features.test)
        else:
            pool_scores, test_scores = trainer(features, rows, y, config, previous, seed)
        out["labels"].append(len(rows))
        if test_scores is not None and test_positive is not None:
            out["auc_pr"].append(average_precision(test_positive.astype(np.int64), test_scores))
        previous = pool_scores
        if r == rounds:
            break
        picked = next_batch(strategy, pool_scores, batch, rows, y, rng)
        out["acquired"].append(picked)
        rows = np.concatenate([rows, picked])
    return out


def seed_set(labels_positive: np.ndarray, rng: np.random.Generator, n_pos: int = 10, n_neg: int = 10,
             eligible_positive: np.ndarray | None = None) -> np.ndarray:
    pos_pool = np.flatnonzero(labels_positive if eligible_positive is None else eligible_positive)
    neg_pool = np.flatnonzero(~labels_positive)
    return np.concatenate([rng.choice(pos_pool, n_pos, replace=False), rng.choice(neg_pool, n_neg, replace=False)])


def part_a(features: Features, split: Split, seeds: list[int], rounds: int, batch: int) -> dict[str, Any]:
    positive = members(split.labels, VEHICLE)
    test_positive = None if split.test_labels is None else members(split.test_labels, VEHICLE)
    missing = members(split.labels, MISSING)
    pool_share = float(missing.mean())
    shares: dict[str, list[list[float]]] = {"margin": [], "random": []}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        seed_rows = seed_set(positive, rng, 20, 20, eligible_positive=members(split.labels, SEEN))
        for strategy in shares:
            run = loop(features, positive, test_positive, seed_rows, strategy=strategy, rounds=rounds, batch=batch,
                       seed=seed)
            shares[strategy].append([float(missing[p].mean()) for p in run["acquired"]])
    print(f"\n(a) vehicle, seed positives road vehicles only: share of acquisitions that are airplanes or ships "
          f"(pool share {100 * pool_share:.1f} %), mean over {len(seeds)} seeds")
    print("| round | " + " | ".join(str(r + 1) for r in range(rounds)) + " | all rounds |")
    print("|---|" + "---|" * (rounds + 1))
    table = {}
    for strategy, values in shares.items():
        a = np.asarray(values)
        per_round = a.mean(axis=0)
        table[strategy] = per_round.tolist()
        print(f"| {'uncertainty (margin)' if strategy == 'margin' else 'random'} | "
              + " | ".join(f"{100 * v:.1f} %" for v in per_round) + f" | {_pct_interval(a.mean(axis=1))} |")
    print("| pool share | " + " | ".join(f"{100 * pool_share:.1f} %" for _ in range(rounds))
          + f" | {100 * pool_share:.1f} % |")
    over = {s: float(np.mean(v)) / pool_share for s, v in shares.items()}
    print(f"\nacquired / pool share over all rounds: uncertainty {over['margin']:.2f}x, random {over['random']:.2f}x "
          f"({'over' if over['margin'] > 1 else 'under'}-acquired by uncertainty sampling)")
    return {"pool_share": pool_share, "share_per_round": table, "over_acquisition": over,
            "share_per_seed": {s: np.asarray(v).mean(axis=1).tolist() for s, v in shares.items()}}


def _interval(values: Any) -> tuple[float, float]:
    """Mean and the half-width of a 95 % t-interval (nan for one value)."""
    from scipy import stats

    a = np.asarray(values, dtype=np.float64)
    if len(a) < 2:
        return float(a.mean()), float("nan")
    return float(a.mean()), float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)))


def _pct_interval(values: Any) -> str:
    mean, half = _interval(values)
    return f"{100 * mean:.1f} % ± {100 * half:.1f}"


def labels_to_reach(run: dict[str, Any], target: float) -> float:
    """Labels at the first round whose AUC-PR reaches ``target`` (inf if none does)."""
    for labels, value in zip(run["labels"], run["auc_pr"]):
        if value >= target:
            return float(labels)
    return float("inf")


def part_b(sets: list[Features], split: Split, concepts: list[str], seeds: list[int], rounds: int,
           batch: int, save: Path | None = None) -> dict[str, Any]:
    print(f"\n(b) labels uncertainty needs to reach random's final AUC-PR ({rounds} rounds of {batch} after 20 seed labels)")
    print("| features | concept | random final AUC-PR | margin final AUC-PR | labels (margin) / labels (random) |")
    print("|---|---|---|---|---|")
    out: dict[str, Any] = {}
    for features in sets:
        ratios = []
        for concept in concepts:
            positive = members(split.labels, (concept,))
            test_positive = members(split.test_labels, (concept,))
            for seed in seeds:
                seed_rows = seed_set(positive, np.random.default_rng(seed))
                runs = {s: loop(features, positive, test_positive, seed_rows, strategy=s, rounds=rounds, batch=batch,
                                seed=seed) for s in ("random", "margin")}
                target = runs["random"]["auc_pr"][-1]
                ratio = labels_to_reach(runs["margin"], target) / runs["random"]["labels"][-1]
                ratios.append(ratio)
                out.setdefault(features.name, []).append(
                    {"concept": concept, "seed": seed, "random": runs["random"]["auc_pr"],
                     "margin": runs["margin"]["auc_pr"], "labels": runs["random"]["labels"], "ratio": ratio})
                print(f"| {features.name} | {concept} (seed {seed}) | {target:.3f} | {runs['margin']['auc_pr'][-1]:.3f} "
                      f"| {ratio:.2f} |", flush=True)
                if save is not None:
                    with save.open("a") as rows_out:
                        rows_out.write(json.dumps({"features": features.name, **out[features.name][-1]}) + "\n")
        finite = [r for r in ratios if np.isfinite(r)]
        median = float(np.median(ratios))
        print(f"| {features.name} | **median** | | | **{median:.2f}** ({len(finite)}/{len(ratios)} reached; "
              f"saving {1 / median:.1f}x) |")
    print("\n(b) summary: label saving of uncertainty over random (random's labels / uncertainty's labels to reach "
          "random's final AUC-PR; > 1 = uncertainty needs fewer; a run that never reaches it counts as no saving)")
    print("| features | runs | median saving | runs with saving >= 2x | median AUC-PR gain at the end |")
    print("|---|---|---|---|---|")
    summary = {}
    for name, runs in out.items():
        savings = np.array([1 / r["ratio"] if np.isfinite(r["ratio"]) else 0.0 for r in runs])
        gains = np.array([r["margin"][-1] - r["random"][-1] for r in runs])
        summary[name] = {"median_saving": float(np.median(savings)), "at_least_2x": int((savings >= 2).sum()),
                         "runs": len(runs), "median_gain": float(np.median(gains))}
        print(f"| {name} | {len(runs)} | {np.median(savings):.2f}x | {(savings >= 2).sum()}/{len(runs)} | "
              f"{np.median(gains):+.3f} |")
    return {"runs": out, "summary": summary}


def early_stopped(features: Features, rows: np.ndarray, y: np.ndarray, config: Any, previous: np.ndarray | None,
                  seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Early stopping on a held-out 20 % of the labels: the epoch count from ``EPOCH_GRID``
    with the best held-out AUC-PR (a seeded run of E epochs is the first E epochs of a longer
    one), then a model on all labels trained that long. Returns (pool, test scores, epochs)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(rows), dtype=bool)
    for value in (0, 1):
        members_ = np.flatnonzero(y == value)
        held[rng.choice(members_, max(1, len(members_) // 5), replace=False)] = True
    best, best_epochs = -1.0, EPOCH_GRID[0]
    for epochs in EPOCH_GRID:
        model = train(features.train[rows[~held]], y[~held], features.train, replace(config, epochs=epochs),
                      exclude=rows, previous_scores=previous)
        score = average_precision(y[held], model.predict_proba(features.train[rows[held]]))
        if score > best:
            best, best_epochs = score, epochs
    model = train(features.train[rows], y, features.train, replace(config, epochs=best_epochs), exclude=rows,
                  previous_scores=previous)
    return score_pool(model, features.train), score_pool(model, features.test), best_epochs


def part_c(features: Features, split: Split, concepts: list[str], seeds: list[int], rounds: int,
           batch: int) -> dict[str, Any]:
    """The margin loop run once per concept and seed; at every round the three stop rules
    train on the same labels, and the loop continues with the fixed-budget model's picks."""
    results: dict[str, list[list[float]]] = {"fixed (10 epochs)": [], "0.1 % of starting loss": [],
                                             "early stop on held-out 20 %": []}
    epochs_used: dict[str, list[float]] = {k: [] for k in results}
    for concept in concepts:
        positive = members(split.labels, (concept,))
        test_positive = members(split.test_labels, (concept,)).astype(np.int64)
        for seed in seeds:
            per_rule: dict[str, list[float]] = {k: [] for k in results}

            def trainer(f: Features, rows: np.ndarray, y: np.ndarray, config: Any, previous: np.ndarray | None,
                        seed_: int, per_rule: dict[str, list[float]] = per_rule,
                        test_positive: np.ndarray = test_positive, concept: str = concept
                        ) -> tuple[np.ndarray, np.ndarray]:
                fixed = train(f.train[rows], y, f.train, config, exclude=rows, previous_scores=previous)
                loss = train(f.train[rows], y, f.train, replace(config, stop_at_loss_fraction=0.001), exclude=rows,
                             previous_scores=previous)
                pool_e, test_e, epochs = early_stopped(f, rows, y, config, previous, seed_)
                fixed_pool, fixed_test = score_pool(fixed, f.train), score_pool(fixed, f.test)
                for name, scores, used in (("fixed (10 epochs)", fixed_test, config.epochs),
                                           ("0.1 % of starting loss", score_pool(loss, f.test), loss.epochs_run),
                                           ("early stop on held-out 20 %", test_e, epochs)):
                    per_rule[name].append(average_precision(test_positive, scores))
                    epochs_used[name].append(float(used))
                print(f"  (c) {concept} seed {seed_}, {len(rows)} labels: "
                      + ", ".join(f"{name} {values[-1]:.3f} ({epochs_used[name][-1]:.0f} epochs)"
                                  for name, values in per_rule.items()), flush=True)
                return fixed_pool, fixed_test

            loop(features, positive, test_positive.astype(bool), seed_set(positive, np.random.default_rng(seed)),
                 strategy="margin", rounds=rounds, batch=batch, seed=seed, trainer=trainer)
            for name in results:
                results[name].append(per_rule[name])
    print(f"\n(c) stopping rules over the margin loop's rounds (pretrained features; test AUC-PR, mean over "
          f"{len(concepts)} concepts x {len(seeds)} seeds [95 % t-interval]; epochs run)")
    labels = [20 + r * batch for r in range(rounds + 1)]
    print("| rule | " + " | ".join(f"{n} labels" for n in labels) + " | mean epochs |")
    print("|---|" + "---|" * (len(labels) + 1))
    from scipy import stats

    table = {}
    for name, runs in results.items():
        a = np.asarray(runs)
        mean = a.mean(axis=0)
        half = stats.t.ppf(0.975, len(a) - 1) * a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else mean * np.nan
        table[name] = {"mean": mean.tolist(), "half_width": np.asarray(half).tolist(),
                       "epochs": float(np.mean(epochs_used[name]))}
        print(f"| {name} | " + " | ".join(f"{m:.3f} ± {h:.3f}" for m, h in zip(mean, half))
              + f" | {np.mean(epochs_used[name]):.0f} |")
    early, stop = table["early stop on held-out 20 %"], table["0.1 % of starting loss"]
    inside = [abs(m - e) <= h for m, e, h in zip(stop["mean"], early["mean"], early["half_width"])]
    print("| 0.1 % stop within early stopping's interval | " + " | ".join("yes" if i else "no" for i in inside)
          + f" | {sum(inside)}/{len(inside)} |")
    table["stop_within_early_interval"] = inside
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds of (a) and (b) (default 0,1,2)")
    parser.add_argument("--parts", default="a,b,c", help="which parts to run (default a,b,c)")
    parser.add_argument("--concepts", default="airplane,cat,deer",
                        help="one-class concepts of (b) (default airplane,cat,deer)")
    parser.add_argument("--rounds", type=int, default=6, help="AL rounds after the seed set (default 6)")
    parser.add_argument("--batch", type=int, default=50, help="labels per round (default 50)")
    parser.add_argument("--c-seeds", default="0,1", help="seeds of part (c), the costly one (default 0,1)")
    parser.add_argument("--c-concepts", default="airplane", help="concepts of part (c) (default airplane)")
    parser.add_argument("--c-rounds", type=int, default=3, help="rounds of part (c) (default 3)")
    parser.add_argument("--test-from-train", type=int, default=0, metavar="N",
                        help="hold out N stratified train images as the test set (the pool is the rest) instead "
                             "of the CIFAR-10 test split")
    parser.add_argument("--b-features", default="pretrained,pixels", help="feature sets of (b) (default both)")
    parser.add_argument("--save-rows", type=Path, help="append each finished run of (b) to this JSON-lines file")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    parts = set(args.parts.split(","))
    concepts = [c for c in args.concepts.split(",") if c]
    bad = sorted(set(concepts) - set(CLASSES))
    if bad or not parts <= {"a", "b", "c"}:
        parser.error(f"unknown concepts {bad} (known: {', '.join(CLASSES)}) or parts {sorted(parts)}")
    started = time.perf_counter()
    test_split = "test"
    if args.test_from_train:
        pretrained, split, train_keys, _ = load_pretrained(with_test=False)
        pretrained, split, train_keys, test_keys, test_split = held_out(pretrained, split, train_keys,
                                                                         args.test_from_train)
        print(f"test set: {len(test_keys)} train images held out; pool: the other {len(train_keys)}")
    else:
        pretrained, split, train_keys, test_keys = load_pretrained(with_test=parts != {"a"})
    result: dict[str, Any] = {"seeds": seeds, "rounds": args.rounds, "batch": args.batch,
                              "test": f"{args.test_from_train} held-out train images" if args.test_from_train
                              else "CIFAR-10 test split (10,000)"}
    if "a" in parts:
        result["a"] = part_a(pretrained, split, seeds, args.rounds, args.batch)
    if "b" in parts:
        wanted = set(args.b_features.split(","))
        sets = ([pretrained] if "pretrained" in wanted else []) + (
            [raw_pixels(train_keys, test_keys, test_split=test_split)] if "pixels" in wanted else [])
        result["b"] = part_b(sets, split, concepts, seeds, args.rounds, args.batch, args.save_rows)
    if "c" in parts:
        c_seeds = [int(s) for s in args.c_seeds.split(",") if s]
        c_concepts = [c for c in args.c_concepts.split(",") if c in CLASSES]
        result["c"] = part_c(pretrained, split, c_concepts, c_seeds, args.c_rounds, args.batch)
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.json:
        print(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
