"""Crowd labels into the trainer: how should an aggregated label's confidence enter training?

The crowd loop writes each crowd label with its posterior P(yes). Training can take it
three ways; this measures which trains the better classifier, in one run, on the same
items, answers and seeds:

- ``hard``: the aggregated label (P(yes) > 0.5) as a 0/1 target, weight 1;
- ``soft``: P(yes) itself as the target (the trainer's soft-target cross-entropy);
- ``weighted``: the hard label with weight ``|2 P(yes) - 1|`` (a sure label counts fully,
  a coin toss not at all);
- ``expert``: the true labels of the same items (what an expert would have given), the
  ceiling.

Setting, per CIFAR-10 concept (single classes and unions) and seed: the offline encoder's
train features are the pool, ``test.zip`` the evaluation set (AUC-PR on all 10,000). The
training items mimic what the loop sends to a crowd: half the items nearest the concept's
text (zero-shot, where positives and hard negatives are), half uniformly at random.
Each item is answered by ``--answers`` workers drawn from a crowd of 30 with one-coin
accuracies U(``--low``, ``--high``); the crowd loop's live method (GTX) aggregates them
with accuracies estimated as the app does (Beta posterior mean of 30 gold answers each).
``--methods gtx,mv`` repeats it with majority-vote posteriors (vote shares).

Reported: AUC-PR mean with a 95 % interval over concepts x seeds per arm, and the paired
difference of each arm against ``hard`` (mean and 95 % interval of the per-task
differences), which is what decides.

    AGILE_CACHE_DIR=... .venv/bin/python benchmarks/crowd_label_training.py [--seeds 0,1,2] [--json]

Embeddings come from the content-addressed cache like benchmarks/agile_cifar10.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregation.engine import Answers, aggregate  # noqa: E402
from benchmarks._aggregation_common import emit_json, print_table  # noqa: E402
from benchmarks.agile_cifar10 import CIFAR_CONCEPTS, load_cifar  # noqa: E402
from modeling.engine.metrics import average_precision  # noqa: E402
from modeling.engine.simulation import phrases_from_classes  # noqa: E402
from modeling.engine.trainer import later_config, train  # noqa: E402
from modeling.engine.zero_shot import concept_phrases, concept_vector, cosine_scores  # noqa: E402

CROWD, GOLDS_PER_WORKER = 30, 30
ARMS = ("expert", "hard", "soft", "weighted")


def crowd_posteriors(truth: np.ndarray, answers_per_item: int, low: float, high: float, method: str,
                     rng: np.random.Generator) -> np.ndarray:
    """P(yes) per item from ``answers_per_item`` simulated one-coin workers."""
    n = truth.size
    accuracy = rng.uniform(low, high, size=CROWD)
    workers = np.stack([rng.choice(CROWD, size=answers_per_item, replace=False) for _ in range(n)])
    correct = rng.random(workers.shape) < accuracy[workers]
    said = np.where(correct, truth[:, None], ~truth[:, None]).astype(np.int64)
    tasks = np.repeat(np.arange(n), answers_per_item)
    coded = Answers.from_arrays(tasks, workers.ravel(), said.ravel(), n_tasks=n, n_workers=CROWD, n_classes=2)
    estimated = None
    if method == "gtx":
        right = rng.binomial(GOLDS_PER_WORKER, accuracy)
        estimated = (right + 1.0) / (GOLDS_PER_WORKER + 2.0)
    result = aggregate(method, coded, accuracies=estimated, seed=int(rng.integers(1 << 31)))
    return np.asarray(result.posteriors[:, 1], dtype=np.float64)


def training_items(scores: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    near = np.argpartition(-scores, size // 2)[: size // 2]
    rest = np.setdiff1d(np.arange(scores.size), near, assume_unique=False)
    return np.concatenate([near, rng.choice(rest, size=size - near.size, replace=False)])


def run_task(data: Any, concept: str, classes: list[str], seed: int, args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng([seed, zlib.crc32(concept.encode())])  # str hash() differs per process
    vector = concept_vector(data.encode_texts(concept_phrases(concept, phrases_from_classes(classes))))
    scores = cosine_scores(data.pool.vectors, vector)
    rows = np.sort(training_items(scores, args.items, rng))
    truth = np.isin(data.pool_labels[rows], classes)
    test_truth = np.isin(data.eval_labels, classes).astype(np.int64)
    out: dict[str, Any] = {"concept": concept, "seed": seed}
    for method in args.methods:
        p_yes = crowd_posteriors(truth, args.answers, args.low, args.high, method, rng)
        hard = (p_yes > 0.5).astype(np.float64)
        arms = {"expert": (truth.astype(np.float64), None), "hard": (hard, None), "soft": (p_yes, None),
                "weighted": (hard, np.abs(2.0 * p_yes - 1.0))}
        if hard.sum() == 0:  # the crowd said no to everything: nothing to train on for hard labels
            continue
        result = {"label_error": float(((p_yes > 0.5) != truth).mean()), "mean_confidence":
                  float(np.maximum(p_yes, 1 - p_yes).mean())}
        for arm, (targets, weights) in arms.items():
            if weights is not None and weights.sum() <= 0:
                continue
            model = train(data.pool.features[rows], targets, data.pool.features, later_config(seed=seed),
                          exclude=rows, weights=weights)
            result[arm] = average_precision(test_truth, model.predict_proba(data.evaluation.features))
        out[method] = result
    return out


def interval(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(values))
    half = 1.96 * float(np.std(values, ddof=1)) / np.sqrt(values.size) if values.size > 1 else float("nan")
    return mean, mean - half, mean + half


def fmt(iv: tuple[float, float, float], sign: bool = False) -> str:
    f = "+.3f" if sign else ".3f"
    return f"{iv[0]:{f}} [{iv[1]:{f}}, {iv[2]:{f}}]"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="Comma-separated seeds (default 0,1,2).")
    parser.add_argument("--concepts", default=",".join(CIFAR_CONCEPTS),
                        help="Comma-separated CIFAR-10 concepts (default: all of agile_cifar10's).")
    parser.add_argument("--items", type=int, default=600, help="Training items per task (default 600).")
    parser.add_argument("--answers", type=int, default=3, help="Crowd answers per item (default 3).")
    parser.add_argument("--low", type=float, default=0.6, help="Lowest worker accuracy (default 0.6).")
    parser.add_argument("--high", type=float, default=0.9, help="Highest worker accuracy (default 0.9).")
    parser.add_argument("--methods", default="gtx", help="Aggregation methods, comma-separated (default gtx, the live method; mv adds vote shares).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object on the last line.")
    args = parser.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    unknown = [c for c in args.concepts.split(",") if c not in CIFAR_CONCEPTS]
    if unknown:
        parser.error(f"unknown concepts: {', '.join(unknown)} (known: {', '.join(CIFAR_CONCEPTS)})")
    seeds = [int(s) for s in args.seeds.split(",")]
    concepts = {c: CIFAR_CONCEPTS[c] for c in args.concepts.split(",")}

    data = load_cifar()
    started = time.perf_counter()
    tasks = []
    with tqdm(total=len(concepts) * len(seeds), desc="concept x seed", file=sys.stderr) as bar:
        for concept, classes in concepts.items():
            for seed in seeds:
                tasks.append(run_task(data, concept, classes, seed, args))
                bar.update()
    print(f"CPU: {platform.processor() or platform.machine()} ({os.cpu_count()} cores); {len(tasks)} tasks "
          f"({len(concepts)} concepts x {len(seeds)} seeds), {args.items} items, {args.answers} answers each, "
          f"workers U({args.low}, {args.high}); {time.perf_counter() - started:.0f} s")
    summary: dict[str, Any] = {}
    for method in args.methods:
        done = [t[method] for t in tasks if method in t and all(a in t[method] for a in ARMS)]
        if not done:
            continue
        values = {a: np.array([t[a] for t in done]) for a in ARMS}
        rows = [[a, fmt(interval(values[a])), "" if a == "hard" else fmt(interval(values[a] - values["hard"]), True),
                 f"{np.mean(values[a] > values['hard']):.0%}" if a != "hard" else ""] for a in ARMS]
        error = interval(np.array([t["label_error"] for t in done]))
        print_table(f"{method}: test AUC-PR over {len(done)} tasks (crowd label error {fmt(error)})",
                    ["arm", "AUC-PR (95 % interval)", "minus hard (paired, 95 %)", "tasks above hard"], rows)
        per_concept = [[c, *(f"{np.mean([t[method][a] for t in tasks if t['concept'] == c and method in t]):.3f}"
                             for a in ARMS)] for c in concepts]
        print_table(f"{method}: per concept (mean over seeds)", ["concept", *ARMS], per_concept)
        summary[method] = {a: interval(values[a]) for a in ARMS} | {
            f"{a}_minus_hard": interval(values[a] - values["hard"]) for a in ARMS if a != "hard"}
    if args.json:
        emit_json({"summary": summary, "tasks": tasks})


if __name__ == "__main__":
    main()
