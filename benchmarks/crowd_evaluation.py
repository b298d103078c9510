"""Crowd-labelled evaluation sets on CIFAR-10: how far can a crowd's evaluation be trusted?

For each concept, three models are scored on the 10,000 test images (``test.zip``, offline
encoder): **zero-shot**, **expert-100** (1x16 MLP on 100 expert labels) and **expert-500**
(3x128 on 500), trained on pool (``train.zip``) items chosen as the loop would (half nearest
the concept's text, half at random). Their truth is AUC-PR and F1 at 0.5 on the whole test
set. Then, ``--reps`` times, the evaluation sampler draws its stratified SipHash sample over
the three models (k = ``--k`` per stratum; a fresh key prefix per repetition gives a fresh
sample) and each model's metrics are estimated from

- **expert**: the sample's true labels (the simulated expert is the class folder);
- **crowd-hard**: the crowd's aggregated labels (P(yes) > .5), the same estimator;
- **crowd-posterior**: the crowd's P(yes) per item, expected counts under each stratum's
  prevalence, intervals with the labels' uncertainty (``modeling.engine.posterior_eval``).

**The crowd**, in two arms on the same (concept, sample) pairs:

- **array arm** (every repetition, fast): the headless crowd's one-coin workers and the live
  step's rule, run as arrays: a cohort of 30 workers, every item first given ``--overlap``
  answers (default 2, the app's default for an evaluation batch), then asked until GTX's
  posterior reaches tau = .95 or kappa = 5 answers, no worker twice on an item; accuracies
  estimated as the app does, from 20 gold answers per worker on pool items with a Beta
  prior at the other workers' mean (2 pseudo-answers);
- **app arm** (the first ``--app-reps`` samples of ``--app-concepts``; ``_crowd_evaluation_app``):
  the same sample sent to the cohort through ``POST /api/concepts/{id}/crowd-batches/
  {"source": "evaluation"}`` (the view, in-process, no overlap given: the API's default),
  answered by ``aggregation.headless``'s simulated workers (the array arm's accuracies and
  golds) through the services the API uses, on a throwaway SQLite database, and the metrics
  read back from the app's metrics service (``evaluated_on: "crowd-posterior"``). Reported
  beside the array arm on the same pairs: coverage and bias per arm with 95 % intervals over
  pairs, and the paired difference ("agree" when its interval holds 0).

Cohorts:

- ``U(0.8,1.0)`` and ``U(0.6,0.9)``: one-coin accuracies (the GTX study's two ranges);
- ``misreading``: ``U(0.8, 1.0)`` plus benchmarks/expert_vs_crowd.py's misreading: with
  probability .3 per answer (golds included) a worker answers from the concept's *name*
  (the CIFAR-10 classes whose MiniLM vector is as close to the name as its nearest member
  class), then the one-coin flip.

Reported per cohort x label basis x metric: bias (estimate − truth, mean over concepts x
models x repetitions), mean absolute error, coverage of the 95 % interval and its mean
width; per cohort and concept, the crowd-posterior coverage and bias and the crowd − expert
difference a manager would see; and the (cohort, concept) pairs where crowd evaluation
cannot be trusted (crowd-posterior coverage below 90 % for AUC-PR or F1).

    AGILE_CACHE_DIR=... OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/crowd_evaluation.py \\
        [--concepts airplane,pet] [--reps 40] [--k 20] [--cohorts U(0.8,1.0),misreading] [--overlap 2] \\
        [--app-reps 2 --app-concepts airplane,cat,pet,vehicle] [--json]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregation.engine import ConfidenceThreshold, beta_summary  # noqa: E402
from aggregation.engine._core import one_coin_weights  # noqa: E402
from benchmarks._aggregation_common import emit_json, print_table  # noqa: E402
from benchmarks.agile_cifar10 import CIFAR_CONCEPTS, Dataset, json_safe, load_cifar  # noqa: E402
from benchmarks.expert_vs_crowd import classes_of_name  # noqa: E402
from modeling.engine.encoders.paths import default_cache_dir  # noqa: E402
from modeling.engine.metrics import average_precision, f1_at  # noqa: E402
from modeling.engine.posterior_eval import CROWD_HARD, CROWD_POSTERIOR, EXPERT, LABEL_BASES, posterior_estimate  # noqa: E402
from modeling.engine.sampler import stratified_sample, weighted_estimate  # noqa: E402
from modeling.engine.simulation import phrases_from_classes  # noqa: E402
from modeling.engine.trainer import initial_config, later_config, train  # noqa: E402
from modeling.engine.zero_shot import concept_phrases, concept_vector, zero_shot_scores  # noqa: E402

COHORTS: dict[str, tuple[tuple[float, float], float]] = {
    "U(0.8,1.0)": ((0.8, 1.0), 0.0), "U(0.6,0.9)": ((0.6, 0.9), 0.0), "misreading": ((0.8, 1.0), 0.3)}
WORKERS, GOLDS, KAPPA = 30, 20, 5
METRICS = ("auc_pr", "f1")
EVALUATION_OVERLAP = 2  # modeling.crowd.EVALUATION_OVERLAP (that module needs Django); the app arm checks it
TRUSTED = 0.9


@dataclass
class Crowd:
    """One cohort for one concept: true and estimated accuracies, what each item reads as."""

    accuracy: np.ndarray   # (W,)
    estimated: np.ndarray  # (W,) the app's estimate from golds
    misread: float
    rng: np.random.Generator
    tau: float = 0.95
    overlap: int = 2
    golds: np.ndarray | None = None  # train-pool rows every worker answered (the app arm's onboarding golds)

    def answers(self, truth: np.ndarray, by_name: np.ndarray, workers: np.ndarray) -> np.ndarray:
        """0/1 answers of ``workers`` (n,) to items with ``truth`` / ``by_name`` (n,) bool."""
        read = np.where(self.rng.random(truth.size) < self.misread, by_name, truth)
        right = self.rng.random(truth.size) < self.accuracy[workers]
        return np.where(right, read, ~read).astype(np.int64)

    def collect(self, truth: np.ndarray, by_name: np.ndarray) -> tuple[np.ndarray, int]:
        """P(yes) (n,) of each item after the confidence-threshold collection, and the answers spent."""
        n = truth.size
        order = np.argsort(self.rng.random((n, WORKERS)), axis=1)[:, :KAPPA]  # no worker twice on an item
        log_right, log_wrong = one_coin_weights(self.estimated, 2)
        weight = log_right - log_wrong
        log_odds, given = np.zeros(n), np.zeros(n, dtype=np.int64)
        rule, open_ = ConfidenceThreshold(self.tau, KAPPA, "gtx"), np.ones(n, dtype=bool)
        for slot in range(KAPPA):
            rows = np.flatnonzero(open_)
            workers = order[rows, slot]
            said = self.answers(truth[rows], by_name[rows], workers)
            log_odds[rows] += np.where(said == 1, weight[workers], -weight[workers])
            given[rows] += 1
            p = 1.0 / (1.0 + np.exp(-log_odds))
            open_ &= ~(rule.is_done(np.maximum(p, 1.0 - p), given) & (given >= self.overlap))
        return 1.0 / (1.0 + np.exp(-log_odds)), int(given.sum())


def make_crowd(cohort: str, pool_truth: np.ndarray, pool_by_name: np.ndarray, seed: int, tau: float = 0.95,
               overlap: int = 2) -> Crowd:
    bounds, misread = COHORTS[cohort]
    rng = np.random.default_rng([seed, zlib.crc32(cohort.encode())])
    crowd = Crowd(rng.uniform(*bounds, size=WORKERS), np.zeros(WORKERS), misread, rng, tau, overlap)
    golds = rng.choice(pool_truth.size, size=GOLDS, replace=False)
    crowd.golds = golds
    correct = np.zeros(WORKERS)
    for worker in range(WORKERS):  # every worker answers the same golds, misreading included
        said = crowd.answers(pool_truth[golds], pool_by_name[golds], np.full(GOLDS, worker))
        correct[worker] = np.sum(said == pool_truth[golds])
    raw = correct / GOLDS
    prior = np.clip((raw.sum() - raw) / (WORKERS - 1), 0.02, 0.98)
    crowd.estimated = np.asarray(beta_summary(correct, np.full(WORKERS, GOLDS), prior, 2.0).mean)
    return crowd


def train_models(data: Dataset, concept: str, classes: list[str], seed: int) -> dict[str, np.ndarray]:
    """Test-set scores (10,000,) of zero-shot, expert-100 and expert-500."""
    vector = concept_vector(data.encode_texts(concept_phrases(concept, phrases_from_classes(classes))))
    scores = {"zero-shot": zero_shot_scores(data.evaluation.vectors, vector, data.calibration)}
    pool_zero = zero_shot_scores(data.pool.vectors, vector, data.calibration)
    rng = np.random.default_rng([seed, zlib.crc32(concept.encode())])
    for name, size, config in (("expert-100", 100, initial_config(seed=seed)), ("expert-500", 500,
                                                                              later_config(seed=seed))):
        near = np.argpartition(-pool_zero, size // 2)[: size // 2]
        rest = np.setdiff1d(np.arange(pool_zero.size), near)
        rows = np.sort(np.concatenate([near, rng.choice(rest, size=size - near.size, replace=False)]))
        labels = np.isin(data.pool_labels[rows], classes).astype(np.float64)
        model = train(data.pool.features[rows], labels, data.pool.features, config, exclude=rows)
        scores[name] = np.asarray(model.predict_proba(data.evaluation.features), dtype=np.float64)
    return scores


def estimates(sample: Any, name: str, scores: np.ndarray, truth: np.ndarray, p_yes: np.ndarray, n_boot: int,
              rep: int) -> dict[str, dict[str, Any]]:
    rng = lambda: np.random.default_rng([rep, zlib.crc32(name.encode())])  # noqa: E731
    by_basis = {
        EXPERT: weighted_estimate(sample, name, scores, truth, n_boot=n_boot, rng=rng()),
        CROWD_HARD: weighted_estimate(sample, name, scores, (p_yes > 0.5).astype(np.int64), n_boot=n_boot, rng=rng()),
        CROWD_POSTERIOR: posterior_estimate(sample, name, scores, p_yes, n_boot=n_boot, rng=rng()),
    }
    return {basis: {m: (est[m].value, est[m].low, est[m].high) for m in METRICS} for basis, est in by_basis.items()}


def run_concept(data: Dataset, concept: str, classes: list[str], cohorts: list[str], args: argparse.Namespace,
                bar: tqdm, app: Any = None) -> dict[str, Any]:
    test_truth = np.isin(data.eval_labels, classes)
    name_classes = classes_of_name(data, concept, classes)
    test_by_name = np.isin(data.eval_labels, name_classes)
    scores = train_models(data, concept, classes, args.seed)
    truth = {m: {"auc_pr": average_precision(test_truth.astype(np.int64), s),
                 "f1": f1_at(test_truth.astype(np.int64), s, 0.5)} for m, s in scores.items()}
    crowds = {c: make_crowd(c, np.isin(data.pool_labels, classes), np.isin(data.pool_labels, name_classes),
                            args.seed, args.tau, args.overlap) for c in cohorts}
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in cohorts}
    for rep in range(args.reps):
        keys = [f"r{args.seed}-{rep}/{key}" for key in data.eval_keys]
        sample = stratified_sample(keys, scores, args.k)
        items = sample.indices
        for cohort, crowd in crowds.items():
            p_yes, spent = crowd.collect(test_truth[items], test_by_name[items])
            per_model = {m: estimates(sample, m, scores[m], test_truth[items].astype(np.int64), p_yes, args.n_boot,
                                      rep) for m in scores}
            runs[cohort].append({"items": int(items.size), "answers": spent,
                                 "label_error": float(np.mean((p_yes > 0.5) != test_truth[items])),
                                 "sample_rows": items.tolist() if rep < args.app_reps else None,
                                 "models": per_model})
            bar.update(1)
    app_runs: dict[str, list[dict[str, Any]]] = {c: [] for c in cohorts}
    if app is not None and concept in args.app_concept_list:
        phrases = concept_phrases(concept, phrases_from_classes(classes))
        pool_truth, pool_by_name = np.isin(data.pool_labels, classes), np.isin(data.pool_labels, name_classes)
        for rep in range(args.app_reps):
            for cohort, crowd in crowds.items():
                assert crowd.golds is not None
                run = app.run(concept_name=concept, phrases=phrases, cohort=cohort, rep=rep, scores=scores,
                              accuracy=crowd.accuracy, misread=crowd.misread, gold_rows=crowd.golds,
                              test_truth=test_truth, test_by_name=test_by_name, pool_truth=pool_truth,
                              pool_by_name=pool_by_name, k=args.k, tau=args.tau, kappa=KAPPA, overlap=args.overlap,
                              default_overlap=EVALUATION_OVERLAP, golds=GOLDS)
                run["same_sample"] = run["sample_rows"] == runs[cohort][rep]["sample_rows"]
                app_runs[cohort].append(run)
                bar.set_postfix_str(f"{concept} app r{rep} {cohort}: {run['answers_with_golds']} answers in "
                                    f"{run['seconds']:.0f} s")
                bar.update(1)
    return {"concept": concept, "name_classes": name_classes, "truth": truth, "runs": runs, "app": app_runs}


def cell_stats(results: list[dict[str, Any]], cohort: str, basis: str, metric: str) -> dict[str, float]:
    """Bias, MAE, coverage and width of one basis x metric over concepts x models x reps."""
    err, cov, width = [], [], []
    for res in results:
        for run in res["runs"][cohort]:
            for model, by_basis in run["models"].items():
                value, low, high = by_basis[basis][metric]
                true = res["truth"][model][metric]
                err.append(value - true)
                cov.append(low <= true <= high)
                width.append(high - low)
    e = np.asarray(err)
    return {"bias": float(e.mean()), "mae": float(np.abs(e).mean()), "coverage": float(np.mean(cov)),
            "width": float(np.mean(width)), "n": int(e.size)}


def concept_stats(res: dict[str, Any], cohort: str, metric: str) -> dict[str, float]:
    one = cell_stats([res], cohort, CROWD_POSTERIOR, metric)
    diffs = [run["models"][m][CROWD_POSTERIOR][metric][0] - run["models"][m][EXPERT][metric][0]
             for run in res["runs"][cohort] for m in run["models"]]
    expert = cell_stats([res], cohort, EXPERT, metric)
    return {**one, "crowd_minus_expert": float(np.mean(diffs)), "expert_coverage": expert["coverage"]}


def report(results: list[dict[str, Any]], cohorts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    summary: dict[str, Any] = {"overall": {}, "per_concept": {}, "untrusted": []}
    rows = []
    for cohort in cohorts:
        runs = [r for res in results for r in res["runs"][cohort]]
        answers = np.mean([r["answers"] / r["items"] for r in runs])
        error = np.mean([r["label_error"] for r in runs])
        for basis in LABEL_BASES:
            for metric in METRICS:
                s = cell_stats(results, cohort, basis, metric)
                summary["overall"].setdefault(cohort, {}).setdefault(basis, {})[metric] = s
                rows.append([cohort if basis == EXPERT and metric == METRICS[0] else "",
                             f"{answers:.2f} / {error:.3f}" if basis == EXPERT and metric == METRICS[0] else "",
                             basis, metric, f"{s['bias']:+.3f}", f"{s['mae']:.3f}", f"{100 * s['coverage']:.0f} %",
                             f"{s['width']:.3f}"])
    n = len(results) * 3 * args.reps
    print_table(f"crowd_evaluation: {len(results)} concepts x 3 models x {args.reps} samples (k = {args.k}) = {n} "
                "estimates per cell, against the truth on all 10,000 test images",
                ["cohort", "answers per item / label error", "labels", "metric", "bias", "MAE", "95 % coverage",
                 "mean width"], rows)
    rows = []
    for res in results:
        for cohort in cohorts:
            cells = {m: concept_stats(res, cohort, m) for m in METRICS}
            summary["per_concept"].setdefault(res["concept"], {})[cohort] = cells
            trusted = all(c["coverage"] >= TRUSTED for c in cells.values())
            if not trusted:
                summary["untrusted"].append({"concept": res["concept"], "cohort": cohort,
                                             **{f"{m}_coverage": cells[m]["coverage"] for m in METRICS}})
            rows.append([res["concept"], "+".join(res["name_classes"]), cohort,
                         *(f"{100 * cells[m]['coverage']:.0f} % ({100 * cells[m]['expert_coverage']:.0f} %)"
                           for m in METRICS),
                         *(f"{cells[m]['bias']:+.3f}" for m in METRICS),
                         *(f"{cells[m]['crowd_minus_expert']:+.3f}" for m in METRICS),
                         "yes" if trusted else "**no**"])
    print_table("per concept and cohort: crowd-posterior estimates (expert's coverage in brackets)",
                ["concept", "name reads as", "cohort", "AUC-PR coverage", "F1 coverage", "AUC-PR bias", "F1 bias",
                 "AUC-PR crowd − expert", "F1 crowd − expert", "trusted (coverage >= 90 %)"], rows)
    target = summary["overall"].get("U(0.8,1.0)", {}).get(CROWD_POSTERIOR)
    if target:
        met = all(target[m]["coverage"] >= TRUSTED for m in METRICS)
        print(f"\nTarget (crowd-posterior intervals cover the truth >= 90 % for U(0.8,1.0)): "
              f"AUC-PR {100 * target['auc_pr']['coverage']:.1f} %, F1 {100 * target['f1']['coverage']:.1f} %: "
              f"{'met' if met else 'MISSED'}")
        summary["target_met"] = met
    untrusted = ", ".join(f"{u['concept']} ({u['cohort']})" for u in summary["untrusted"]) or "none"
    print(f"Crowd evaluation not to be trusted (crowd-posterior coverage < 90 %): {untrusted}")
    return summary


def _mean_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95 % interval (mean +- 1.96 sd / sqrt(n)) over clusters."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean()) if v.size else float("nan")
    half = 1.96 * float(v.std(ddof=1)) / np.sqrt(v.size) if v.size > 1 else float("nan")
    return mean, mean - half, mean + half


def _fmt(cell: tuple[float, float, float], pct: bool = False, clip: tuple[float, float] | None = None) -> str:
    scale, spec = (100.0, ".0f") if pct else (1.0, "+.3f")
    mean, low, high = (scale * x for x in cell)
    if clip is not None:  # a coverage's normal interval, clipped to what a coverage can be
        low, high = max(low, scale * clip[0]), min(high, scale * clip[1])
    unit = " %" if pct else ""
    return f"{mean:{spec}}{unit} [{low:{spec}}, {high:{spec}}]"


def app_comparison(results: list[dict[str, Any]], cohorts: list[str]) -> dict[str, Any]:
    """The app arm beside the array arm on the same (concept, sample) pairs: bias and
    coverage per arm with 95 % intervals over the pairs (a pair's three models are one
    cluster), and the paired difference app − array; "agree" = its interval holds 0."""
    out: dict[str, Any] = {}
    rows = []
    for cohort in cohorts:
        pairs = [(res, app_run, res["runs"][cohort][app_run["rep"]]) for res in results
                 for app_run in res.get("app", {}).get(cohort, [])]
        if not pairs:
            continue
        same = np.mean([a["same_sample"] for _, a, _ in pairs])
        per_item = {arm: _mean_interval([run["answers"] / run["items"] for run in runs])
                    for arm, runs in (("app", [a for _, a, _ in pairs]), ("array", [r for _, _, r in pairs]))}
        errors = {arm: _mean_interval([run["label_error"] for run in runs])
                  for arm, runs in (("app", [a for _, a, _ in pairs]), ("array", [r for _, _, r in pairs]))}
        seconds = float(np.mean([a["seconds"] + a["metric_seconds"] for _, a, _ in pairs]))
        answers_per_second = float(np.mean([a["answers_with_golds"] / a["seconds"] for _, a, _ in pairs]))
        rests_on = sorted({m["evaluated_on"] or "none" for _, a, _ in pairs for m in a["models"].values()})
        cell: dict[str, Any] = {"pairs": len(pairs), "same_sample": float(same), "answers_per_item": per_item,
                                "label_error": errors, "seconds_per_run": seconds,
                                "answers_per_second": answers_per_second, "evaluated_on": rests_on}
        for basis in (CROWD_HARD, CROWD_POSTERIOR):
            for metric in METRICS:
                err: dict[str, list[float]] = {"app": [], "array": [], "diff": []}
                cov: dict[str, list[float]] = {"app": [], "array": [], "diff": []}
                missing = 0
                for res, app_run, array_run in pairs:
                    e_app, e_arr, c_app, c_arr = [], [], [], []
                    for model, by_basis in array_run["models"].items():
                        found = app_run["models"].get(model, {}).get(basis)
                        value, low, high = found[metric] if found else (None, None, None)
                        if value is None or low is None or high is None:
                            missing += 1
                            continue
                        true = res["truth"][model][metric]
                        a_value, a_low, a_high = by_basis[basis][metric]
                        e_app.append(value - true)
                        e_arr.append(a_value - true)
                        c_app.append(float(low <= true <= high))
                        c_arr.append(float(a_low <= true <= a_high))
                    if e_app:
                        err["app"].append(np.mean(e_app))
                        err["array"].append(np.mean(e_arr))
                        err["diff"].append(np.mean(e_app) - np.mean(e_arr))
                        cov["app"].append(np.mean(c_app))
                        cov["array"].append(np.mean(c_arr))
                        cov["diff"].append(np.mean(c_app) - np.mean(c_arr))
                stats = {"bias": {k: _mean_interval(v) for k, v in err.items()},
                         "coverage": {k: _mean_interval(v) for k, v in cov.items()}, "missing": missing}
                stats["agree"] = all(d[1] <= 0.0 <= d[2] or not np.isfinite(d[1])
                                     for d in (stats["bias"]["diff"], stats["coverage"]["diff"]))
                cell.setdefault(basis, {})[metric] = stats
                rows.append([cohort, basis, metric, str(len(pairs)), _fmt(stats["coverage"]["app"], True, (0, 1)),
                             _fmt(stats["coverage"]["array"], True, (0, 1)), _fmt(stats["coverage"]["diff"], True),
                             _fmt(stats["bias"]["app"]), _fmt(stats["bias"]["array"]), _fmt(stats["bias"]["diff"]),
                             "yes" if stats["agree"] else "NO"])
        out[cohort] = cell
    if not rows:
        return out
    print_table("app arm (the sample as a crowd batch through the API, the headless crowd through the services, "
                "metrics from the app's metrics service) beside the array arm on the same (concept, sample) pairs; "
                "95 % intervals over pairs", ["cohort", "labels", "metric", "pairs", "coverage, app",
                                              "coverage, array", "app − array", "bias, app", "bias, array",
                                              "app − array", "agree"], rows)
    lines = []
    for cohort, cell in out.items():
        lines.append([cohort, f"{100 * cell['same_sample']:.0f} %", _fmt(cell["answers_per_item"]["app"]),
                      _fmt(cell["answers_per_item"]["array"]), _fmt(cell["label_error"]["app"]),
                      _fmt(cell["label_error"]["array"]), ", ".join(cell["evaluated_on"]),
                      f"{cell['seconds_per_run']:.0f} s", f"{cell['answers_per_second']:.0f}"])
    print_table("app arm: the runs", ["cohort", "same sample as the array arm", "answers per item, app",
                                      "answers per item, array", "label error, app", "label error, array",
                                      "metrics rest on (app)", "seconds per run", "answers/s (services)"], lines)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Concepts: " + ", ".join(CIFAR_CONCEPTS) + ". Cohorts: "
                                            + ", ".join(COHORTS) + ".")
    parser.add_argument("--concepts", default=",".join(CIFAR_CONCEPTS), help="comma-separated (default: all 13)")
    parser.add_argument("--cohorts", default=",".join(COHORTS), help="comma-separated (default: all three)")
    parser.add_argument("--reps", type=int, default=40, help="evaluation samples per concept (default 40)")
    parser.add_argument("--k", type=int, default=20, help="sampled items per stratum per model (default 20)")
    parser.add_argument("--n-boot", type=int, default=200, help="bootstrap replicates per AUC-PR interval")
    parser.add_argument("--tau", type=float, default=0.95, help="crowd batch: confidence to stop asking (default .95)")
    parser.add_argument("--overlap", type=int, default=EVALUATION_OVERLAP,
                        help=f"crowd batch: answers every item gets before it may stop (default {EVALUATION_OVERLAP}, "
                             "the app's default for an evaluation batch)")
    parser.add_argument("--app-reps", type=int, default=0,
                        help="app arm: the first N samples of each concept also go through the app (default 0)")
    parser.add_argument("--app-concepts", default="",
                        help="app arm: comma-separated concepts (default: every concept run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object at the end")
    args = parser.parse_args(argv)
    args.concept_list = [c.strip() for c in args.concepts.split(",") if c.strip()]
    args.cohort_list = [c.strip() for c in re.split(r",(?![^()]*\))", args.cohorts) if c.strip()]
    args.app_concept_list = [c.strip() for c in args.app_concepts.split(",") if c.strip()] or args.concept_list
    unknown = [c for c in args.concept_list + args.app_concept_list if c not in CIFAR_CONCEPTS]
    if unknown:
        parser.error(f"unknown concept(s) {', '.join(unknown)}; known: {', '.join(CIFAR_CONCEPTS)}")
    bad = [c for c in args.cohort_list if c not in COHORTS]
    if bad:
        parser.error(f"unknown cohort(s) {', '.join(bad)}; known: {', '.join(COHORTS)}")
    if args.reps < 2 or args.k < 1 or args.n_boot < 2:
        parser.error("need --reps >= 2, --k >= 1 and --n-boot >= 2")
    if not 0 <= args.app_reps <= args.reps:
        parser.error("need 0 <= --app-reps <= --reps")
    if not 0.5 < args.tau <= 1.0 or not 1 <= args.overlap <= KAPPA:
        parser.error(f"need 0.5 < --tau <= 1 and 1 <= --overlap <= {KAPPA}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    data = load_cifar()
    app = None
    if args.app_reps:
        from benchmarks._crowd_evaluation_app import AppArm

        app = AppArm(default_cache_dir().parent / "pools" / "bench-cifar10-test-offline", data.eval_keys,
                     data.evaluation.vectors, args.seed)
    app_runs = len([c for c in args.concept_list if c in args.app_concept_list]) * args.app_reps
    total = (len(args.concept_list) * args.reps + app_runs) * len(args.cohort_list)
    timing: dict[str, float] = {"array": 0.0, "app": 0.0}
    with tqdm(total=total, desc="samples", unit="sample", file=sys.stderr) as bar:
        for concept in args.concept_list:
            bar.set_postfix_str(concept)
            results.append(run_concept(data, concept, CIFAR_CONCEPTS[concept], args.cohort_list, args, bar, app))
            for runs in results[-1]["app"].values():
                timing["app"] += sum(r["seconds"] + r["metric_seconds"] for r in runs)
    summary = report(results, args.cohort_list, args)
    summary["app"] = app_comparison(results, args.cohort_list)
    seconds = time.perf_counter() - started
    timing["array"] = seconds - timing["app"]
    print(f"\n{seconds:.0f} s in all; the app arm's crowd runs and metrics {timing['app']:.0f} s "
          f"({args.app_reps} samples x {app_runs // max(args.app_reps, 1)} concepts x {len(args.cohort_list)} cohorts); "
          f"CPU {cpu_name()}, load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    if args.json:
        for res in results:  # sample rows are for pairing only
            for runs in (*res["runs"].values(), *res["app"].values()):
                for run in runs:
                    run.pop("sample_rows", None)
        emit_json(json_safe({"benchmark": "crowd_evaluation", "seconds": seconds, "timing": timing,
                             "reps": args.reps, "app_reps": args.app_reps, "k": args.k, "overlap": args.overlap,
                             **summary, "truth": {r["concept"]: r["truth"] for r in results}}))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
