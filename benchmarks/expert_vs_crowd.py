"""Expert vs crowd on CIFAR-10 concepts: the original study's comparison, reproduced.

Pool = ``cifar10/train.zip`` (50,000 images), evaluation = ``test.zip`` (10,000, all of
it, exact AUC-PR with a bootstrap 95 % interval), the offline encoder. Every arm starts
from the concept's expansion (100 images) and runs margin active learning:

- **Expert-100**: 5 rounds of 100 (round 0 = expansion, then 4 AL rounds): 500 labels,
  answered by the simulated expert (the class folders: the expert's meaning).
- **Crowd-100**: the same rounds answered by the simulated crowd, 3 answers per item,
  majority vote (ties: no), as in the study: 500 labels, 1,500 answers.
- **Crowd-500**: round 0 as Crowd-100, then 4 AL rounds of 500, crowd-answered: 2,100 labels.
- **Expert-100 + Crowd-500**: Expert-100's five rounds, then one crowd round of 500.
- **Crowd-GTX** (ours): round 0 as Crowd-100, then 4 rounds each spending the same 300
  answers as a Crowd-100 round, by the crowd loop's confidence-threshold collection: the
  strategy ranks the candidates, each is asked until GTX's posterior reaches tau = .95 or
  kappa = 5 answers, until the round's 300 answers are spent; workers' accuracies are
  estimated from 20 gold answers each (Beta(1, 1) posterior mean), as the crowd loop does.

**The simulated crowd** (the same for every arm): 30 workers with one-coin accuracies drawn
from U(.70, .95); each answer comes from a worker drawn at random among those who have not
answered the item. Besides one-coin noise, a worker misreads the concept where the expert's
meaning differs from its name: with probability .3 per answer (unsure of the concept's
member classes) they answer from the *name*: an item is a "yes" to them when its class is
one of the classes the name evokes (the CIFAR-10 class names whose MiniLM vector lies
closest to the concept name's, down to the name's own nearest member; for a one-class
concept that is the class itself, so only noise remains). Then the one-coin flip.

Concepts are split into easy and hard by their zero-shot AUC-PR (median split), as the
study does. Cost: expert labels at ``--expert-price`` (default 1.00), crowd answers at
``--answer-price`` (0.05). AUC-PR is reported per arm as the mean over concepts x seeds with
a 95 % t interval, per group, against labels and against cost.

    AGILE_CACHE_DIR=... OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expert_vs_crowd.py \\
        [--concepts airplane,deer,pet,vehicle] [--seeds 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregation.engine.gtx import gtx_logits
from aggregation.engine.types import Answers
from benchmarks.agile_cifar10 import CIFAR_CONCEPTS, Dataset, json_safe, load_cifar
from modeling.engine.active import next_batch
from modeling.engine.simulation import (
    ConceptVectors,
    EvaluationArrays,
    LabelRater,
    LoopState,
    Simulation,
    SimulationConfig,
    phrases_from_classes,
)
from modeling.engine.zero_shot import concept_phrases

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ARMS = ("Expert-100", "Crowd-100", "Crowd-500", "Expert-100 + Crowd-500", "Crowd-GTX")
N_WORKERS, ACCURACY = 30, (0.70, 0.95)
MISREAD = 0.3
ANSWERS_PER_ITEM = 3
TAU, KAPPA, GOLDS = 0.95, 5, 20


@dataclass
class Crowd:
    """The simulated crowd of one concept x seed: who answers, how well, what they read."""

    accuracy: np.ndarray         # (W,) true one-coin accuracies
    estimated: np.ndarray        # (W,) accuracies estimated from GOLDS gold answers
    truth: np.ndarray            # (N,) bool: the expert's meaning, per pool row
    by_name: np.ndarray          # (N,) bool: what the concept's name says, per pool row
    rng: np.random.Generator
    answers: int = 0

    def answer(self, row: int, worker: int) -> int:
        self.answers += 1
        read = self.by_name[row] if self.rng.random() < MISREAD else self.truth[row]
        right = self.rng.random() < self.accuracy[worker]
        return int(read if right else not read)

    def workers_for(self, count: int) -> np.ndarray:
        return self.rng.choice(len(self.accuracy), size=count, replace=False)

    def majority(self, rows: np.ndarray) -> np.ndarray:
        """ANSWERS_PER_ITEM answers per row, majority vote (ties, impossible with 3, say no)."""
        out = np.empty(len(rows), dtype=np.int64)
        for i, row in enumerate(rows):
            votes = [self.answer(int(row), int(w)) for w in self.workers_for(ANSWERS_PER_ITEM)]
            out[i] = int(sum(votes) * 2 > len(votes))
        return out


def make_crowd(data: Dataset, classes: list[str], concept: str, seed: int) -> Crowd:
    rng = np.random.default_rng([seed, 17])
    accuracy = rng.uniform(*ACCURACY, size=N_WORKERS)
    correct = rng.binomial(GOLDS, accuracy)
    estimated = (correct + 1) / (GOLDS + 2)
    name_classes = classes_of_name(data, concept, classes)
    return Crowd(accuracy, estimated, np.isin(data.pool_labels, classes), np.isin(data.pool_labels, name_classes), rng)


def classes_of_name(data: Dataset, concept: str, classes: list[str]) -> list[str]:
    """The classes the concept's name evokes: every class at least as close to the name
    (MiniLM cosine of "a photo of a …") as the name's nearest member class."""
    vectors = data.encode_texts([f"a photo of a {c}" for c in (concept, *CLASSES)])
    cosine = vectors[1:] @ vectors[0]
    nearest_member = max(cosine[CLASSES.index(c)] for c in classes)
    return [c for c, s in zip(CLASSES, cosine) if s >= nearest_member - 1e-6]


def gtx_collect(crowd: Crowd, ranked: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """The confidence-threshold collection over ``ranked`` candidates until ``budget``
    answers are spent: rows settled (confident, or kappa answers) and their labels."""
    rows, labels, spent = [], [], 0
    for row in ranked:
        if spent >= budget:
            break
        workers = crowd.workers_for(KAPPA)
        votes: list[int] = []
        for worker in workers:
            if spent >= budget:
                break
            votes.append(crowd.answer(int(row), int(worker)))
            spent += 1
            answers = Answers.from_arrays(np.zeros(len(votes), np.int64), workers[:len(votes)], votes,
                                          n_tasks=1, n_workers=N_WORKERS, n_classes=2)
            logits, _ = gtx_logits(answers, crowd.estimated)
            posterior_yes = float(1 / (1 + np.exp(logits[0, 0] - logits[0, 1])))
            if max(posterior_yes, 1 - posterior_yes) >= TAU:
                break
        if len(votes) == KAPPA or max(posterior_yes, 1 - posterior_yes) >= TAU:
            rows.append(int(row))
            labels.append(int(posterior_yes > 0.5))
    return np.asarray(rows, dtype=np.int64), np.asarray(labels, dtype=np.int64)


def gtx_round(sim: Simulation, state: LoopState, crowd: Crowd, budget: int) -> LoopState:
    """One Crowd-GTX round. Uses the simulation's own rating and training steps (its private
    helpers): the number of items a round labels is known only after collecting."""
    round_no = len(state.rounds)
    probs = sim._pool_probs(state)
    ranked = next_batch("margin", probs, budget, np.asarray(state.rated, np.int64),
                        np.asarray(state.answers, np.int64), np.random.default_rng([sim.config.seed, round_no, 1]))
    rows, labels = gtx_collect(crowd, np.asarray(ranked, np.int64), budget)
    lookup = dict(zip(rows.tolist(), labels.tolist()))
    sim._rate(state, rows, lambda idx: np.asarray([lookup[int(i)] for i in idx], np.int64))
    return sim._train_and_measure(state, round_no, sim.config.later, probs)


def run_task(data: Dataset, concept: str, classes: list[str], seed: int, rounds: int, n_boot: int) -> dict[str, Any]:
    phrases = concept_phrases(concept, phrases_from_classes(classes))
    vectors = ConceptVectors(data.encode_texts(phrases), np.zeros((0, data.pool.vectors.shape[1]), np.float32))
    truth = np.isin(data.eval_labels, classes).astype(np.int64)
    config = SimulationConfig(seed=seed, n_boot=n_boot)
    sim = Simulation(data.pool, EvaluationArrays(data.evaluation, truth), vectors, data.calibration, config,
                     index=data.index)
    expert = LabelRater(np.isin(data.pool_labels, classes), rng=np.random.default_rng(seed))
    crowd = make_crowd(data, classes, concept, seed)
    out: dict[str, Any] = {"concept": concept, "seed": seed, "zero_shot": sim.zero_shot()["auc_pr"].value,
                           "name_classes": classes_of_name(data, concept, classes), "arms": {}}

    def record(name: str, state: LoopState, expert_labels: int, answers: int) -> None:
        final = state.rounds[-1]
        out["arms"][name] = {"labels": final.labels, "expert_labels": expert_labels, "crowd_answers": answers,
                             "auc_pr": final.metrics["auc_pr"].value, "low": final.metrics["auc_pr"].low,
                             "high": final.metrics["auc_pr"].high}

    state = sim.start(expert)
    for _ in range(rounds - 1):
        state = sim.step(state, expert, "margin", 100)
    record("Expert-100", state, state.rounds[-1].labels, 0)
    crowd.answers = 0
    both = sim.step(state.copy(), crowd.majority, "margin", 500)
    record("Expert-100 + Crowd-500", both, state.rounds[-1].labels, crowd.answers)

    crowd.answers = 0
    start = sim.start(crowd.majority)
    round0_answers = crowd.answers
    state = start.copy()
    for _ in range(rounds - 1):
        state = sim.step(state, crowd.majority, "margin", 100)
    record("Crowd-100", state, 0, crowd.answers)
    per_round = ANSWERS_PER_ITEM * 100

    crowd.answers = round0_answers
    state = start.copy()
    for _ in range(rounds - 1):
        state = sim.step(state, crowd.majority, "margin", 500)
    record("Crowd-500", state, 0, crowd.answers)

    crowd.answers = round0_answers
    state = start.copy()
    for _ in range(rounds - 1):
        state = gtx_round(sim, state, crowd, per_round)
    record("Crowd-GTX", state, 0, crowd.answers)
    return out


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def report(tasks: list[dict[str, Any]], expert_price: float, answer_price: float) -> dict[str, Any]:
    zero = np.asarray([t["zero_shot"] for t in tasks])
    cut = float(np.median([t["zero_shot"] for t in tasks]))
    groups = {"easy": [t for t in tasks if t["zero_shot"] > cut], "hard": [t for t in tasks if t["zero_shot"] <= cut],
              "all": tasks}
    print(f"\n## expert_vs_crowd: {len(tasks)} concept x seed runs; easy/hard split at zero-shot AUC-PR {cut:.3f}\n")
    print("| concept | seed | group | zero-shot | name reads as | " + " | ".join(ARMS) + " |")
    print("|---|---|---|---|---|" + "---|" * len(ARMS))
    for t in tasks:
        group = "easy" if t["zero_shot"] > cut else "hard"
        cells = " | ".join(f"{t['arms'][a]['auc_pr']:.3f} [{t['arms'][a]['low']:.3f}, {t['arms'][a]['high']:.3f}]"
                           for a in ARMS)
        print(f"| {t['concept']} | {t['seed']} | {group} | {t['zero_shot']:.3f} | {'+'.join(t['name_classes'])} | "
              f"{cells} |")
    summary: dict[str, Any] = {"split": cut, "zero_shot": float(zero.mean()), "groups": {}}
    for group, rows in groups.items():
        if not rows:
            continue
        print(f"\n### {group} concepts ({len(rows)} runs): AUC-PR mean [95 % t interval over runs]\n")
        print("| arm | labels | expert labels | crowd answers | cost | AUC-PR | vs Expert-100 |")
        print("|---|---|---|---|---|---|---|")
        base = np.asarray([r["arms"]["Expert-100"]["auc_pr"] for r in rows])
        summary["groups"][group] = {}
        for arm in ARMS:
            values = np.asarray([r["arms"][arm]["auc_pr"] for r in rows])
            mean, low, high = t_interval(values)
            labels = float(np.mean([r["arms"][arm]["labels"] for r in rows]))
            experts = float(np.mean([r["arms"][arm]["expert_labels"] for r in rows]))
            answers = float(np.mean([r["arms"][arm]["crowd_answers"] for r in rows]))
            cost = experts * expert_price + answers * answer_price
            diff, dlow, dhigh = t_interval(values - base)
            print(f"| {arm} | {labels:.0f} | {experts:.0f} | {answers:.0f} | {cost:.2f} | {mean:.3f} [{low:.3f}, "
                  f"{high:.3f}] | {diff:+.3f} [{dlow:+.3f}, {dhigh:+.3f}] |")
            summary["groups"][group][arm] = {"labels": labels, "expert_labels": experts, "crowd_answers": answers,
                                             "cost": cost, "auc_pr": mean, "low": low, "high": high,
                                             "minus_expert": diff, "minus_expert_low": dlow,
                                             "minus_expert_high": dhigh}
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--concepts", default="airplane,cat,deer,ship,pet,vehicle")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--rounds", type=int, default=5, help="expert rounds of 100, round 0 included")
    parser.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples per AUC-PR interval")
    parser.add_argument("--expert-price", type=float, default=1.0)
    parser.add_argument("--answer-price", type=float, default=0.05)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.concepts.split(",") if c.strip()]
    unknown = [c for c in names if c not in CIFAR_CONCEPTS]
    if unknown:
        raise SystemExit(f"unknown concept(s) {unknown}; known: {', '.join(CIFAR_CONCEPTS)}")
    data = load_cifar()
    started = time.perf_counter()
    tasks = [run_task(data, c, CIFAR_CONCEPTS[c], int(s), args.rounds, args.n_boot)
             for c in tqdm(names, desc="concepts", file=sys.stderr) for s in args.seeds.split(",")]
    summary = report(tasks, args.expert_price, args.answer_price)
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.0f} s for {len(tasks)} runs on {torch.get_num_threads()} threads "
          "(AMD EPYC Zen 3, AVX2, 2 cores shared)")
    if args.json:
        print(json.dumps(json_safe({"benchmark": "expert_vs_crowd", **summary, "seconds": seconds, "runs": tasks})))


if __name__ == "__main__":
    main()
