"""Simulator of crowd labelling under a collection policy.

A world: ``n_labelers`` labelers with accuracies drawn from U(a, b); ``n_items`` items
with uniformly random true classes; each item is shown to labelers in its own random
order (drawn without replacement, so nobody answers an item twice); a labeler answers
correctly with their accuracy, otherwise a uniformly random other class.

The methods see either the true accuracies or accuracies estimated from an assessment
set: every labeler also answers ``assessment_frac * budget / n_labelers`` gold items
(10% of an average labeler's work on top of it; not charged to the budget), and
``accuracy.estimate_accuracies`` turns those answers into Beta(1, 1) posterior means.

Policies
    threshold    items are taken in order; each is asked until confidence >= tau or
                 kappa answers (``policies.ConfidenceThreshold``); the budget stops the
                 run at the first item it cannot finish (that item and later ones are
                 not labelled). Simulated in rounds over all open items at once.
    uncertainty  every item gets one label, then each label goes to the most uncertain
                 item (``policies.UncertaintySampling``), repetitions run side by side.

MV/WMV/SV/GTX use their per-vote form (``additive``), exact and fast. EM methods are
re-run on all answers collected so far after every round (threshold: a round asks all
open items once; uncertainty: a round is ``batch_size`` labels) -- an approximation
in which the policy sees answers beyond the budget cut for the threshold policy.

Report: error rate and MAE of the confidence (mean of 1 - P(true class), which is
|y - P(y = 1)| for binary tasks) over labelled items, labels per labelled item, items
labelled, labels used; means over repetitions and the per-repetition values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._core import decide
from .accuracy import beta_summary, estimate_accuracies
from .additive import ADDITIVE_METHODS, initial_scores, posteriors_from_scores, vote_increments
from .errors import InvalidAnswersError
from .policies import ConfidenceThreshold, UncertaintySampling, uncertainty_key
from .registry import aggregate, get_method
from .types import Answers, FloatArray, IntArray


@dataclass(frozen=True)
class SimulationConfig:
    method: str = "gtx"
    policy: str = "threshold"  # "threshold" or "uncertainty"
    n_items: int = 20_000
    n_labelers: int = 10
    accuracy_range: tuple[float, float] = (0.8, 1.0)
    n_classes: int = 2
    budget: int = 15_000
    tau: float = 0.95
    kappa: int = 5
    accuracies: str = "true"  # "true" or "assessment"
    assessment_frac: float = 0.1
    # How assessed accuracies are estimated: "uniform" (Beta(1, 1) posterior mean) or
    # "cohort" (the crowd app's: Beta prior with the mean of the other labelers'
    # estimates as its mean and 2 pseudo-answers, see aggregation/skills.py).
    assessment_prior: str = "uniform"
    repetitions: int = 10
    seed: int = 0
    curve_every: int = 0  # uncertainty: error recorded every this many labels (0: off)
    batch_size: int = 100  # uncertainty with an EM method: labels per re-aggregation


@dataclass(frozen=True)
class World:
    """One repetition's hidden truth and the answers labelers would give."""

    truth: IntArray  # (n_items,)
    order: IntArray  # (n_items, n_labelers): labeler asked r-th about item i
    answers: IntArray  # (n_items, n_labelers): answer of that r-th labeler
    true_acc: FloatArray  # (n_labelers,)
    used_acc: FloatArray  # (n_labelers,) what the methods are told


@dataclass(frozen=True, repr=False)
class SimulationReport:
    config: SimulationConfig
    error_rate: float
    mae: float
    labels_per_item: float
    items_labeled: float
    labels_used: float
    per_rep: dict[str, FloatArray] = field(default_factory=dict)
    curve: tuple[IntArray, FloatArray, FloatArray] | None = None  # labels, error, mae

    def __repr__(self) -> str:
        c = self.config
        return (
            f"SimulationReport(method={c.method!r}, policy={c.policy!r}, "
            f"error_rate={self.error_rate:.4f}, mae={self.mae:.4f}, "
            f"labels_per_item={self.labels_per_item:.3f}, items_labeled={self.items_labeled:.1f})"
        )


def _wrong(truth: IntArray, k: int, rng: np.random.Generator) -> IntArray:
    out: IntArray = (truth + rng.integers(1, max(k, 2), size=truth.shape)) % k
    return out


def make_world(
    cfg: SimulationConfig, rng: np.random.Generator, assess_rng: np.random.Generator | None = None
) -> World:
    """Draw labelers, items, per-item labeler orders, answers and accuracies. The
    assessment set is drawn from ``assess_rng`` (default: ``rng``), so that the same
    world can be told true or estimated accuracies."""
    n, m, k = cfg.n_items, cfg.n_labelers, cfg.n_classes
    acc = rng.uniform(*cfg.accuracy_range, size=m)
    truth = rng.integers(k, size=n)
    order = np.argsort(rng.random((n, m)), axis=1)
    right = rng.random((n, m)) < acc[order]
    answers = np.where(right, truth[:, None], _wrong(np.repeat(truth[:, None], m, 1), k, rng))
    used = acc if cfg.accuracies == "true" else _assessed(cfg, acc, assess_rng or rng)
    return World(truth, order, answers.astype(np.int64), acc, used)


def _assessed(cfg: SimulationConfig, acc: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Accuracies estimated from every labeler answering the same gold items."""
    g, m, k = (
        max(1, round(cfg.assessment_frac * cfg.budget / cfg.n_labelers)),
        acc.size,
        cfg.n_classes,
    )
    truth = rng.integers(k, size=g)
    tasks = np.repeat(np.arange(g), m)
    workers = np.tile(np.arange(m), g)
    right = rng.random(g * m) < acc[workers]
    labels = np.where(right, truth[tasks], _wrong(truth[tasks], k, rng))
    ans = Answers.from_arrays(tasks, workers, labels, n_tasks=g, n_workers=m, n_classes=k)
    uniform = estimate_accuracies(ans, truth).value
    if cfg.assessment_prior == "uniform":
        return uniform
    if cfg.assessment_prior != "cohort":
        raise ValueError(f"assessment_prior must be 'uniform' or 'cohort', got {cfg.assessment_prior!r}")
    correct = np.bincount(workers[right], minlength=m)
    others = (uniform.sum() - uniform) / max(m - 1, 1) if m > 1 else np.full(m, 0.5)
    prior = np.clip(others, 0.02, 0.98)
    return beta_summary(correct, np.full(m, g), prior, 2.0).mean


def _score(post: FloatArray, truth: IntArray, seed: int, codes: IntArray) -> tuple[float, float]:
    if truth.size == 0:
        return float("nan"), float("nan")
    labels = decide(post, seed, codes)
    p_true = post[np.arange(truth.size), truth]
    return float(np.mean(labels != truth)), float(np.mean(1.0 - p_true))


def _threshold_additive(cfg: SimulationConfig, w: World) -> tuple[IntArray, FloatArray]:
    """(answers per item, final posteriors) with every item run to its stop."""
    policy = ConfidenceThreshold(cfg.tau, min(cfg.kappa, cfg.n_labelers), cfg.method)
    n_items, k = w.truth.size, cfg.n_classes
    scores = initial_scores(cfg.method, (n_items,), k)
    count = np.zeros(n_items, np.int64)
    is_open = np.ones(n_items, bool)
    for r in range(policy.kappa):
        idx = np.flatnonzero(is_open)
        if idx.size == 0:
            break
        scores[idx] += vote_increments(
            cfg.method, w.answers[idx, r], w.used_acc[w.order[idx, r]], k
        )
        count[idx] += 1
        conf = posteriors_from_scores(cfg.method, scores[idx]).max(axis=1)
        is_open[idx[policy.is_done(conf, count[idx])]] = False
    return count, posteriors_from_scores(cfg.method, scores)


def _answers_upto(w: World, count: IntArray, k: int) -> Answers:
    """Coded answers of the first count[i] labelers of every item."""
    m = w.order.shape[1]
    mask = np.arange(m)[None, :] < count[:, None]
    items = np.broadcast_to(np.arange(count.size)[:, None], mask.shape)[mask]
    return Answers.from_arrays(
        items, w.order[mask], w.answers[mask], n_tasks=count.size, n_workers=m, n_classes=k
    )


def _threshold_em(cfg: SimulationConfig, w: World) -> tuple[IntArray, FloatArray]:
    policy = ConfidenceThreshold(cfg.tau, min(cfg.kappa, cfg.n_labelers), cfg.method)
    count = np.zeros(w.truth.size, np.int64)
    is_open = np.ones(w.truth.size, bool)
    post = np.full((w.truth.size, cfg.n_classes), 1.0 / cfg.n_classes)
    for _ in range(policy.kappa):
        if not is_open.any():
            break
        count[is_open] += 1
        res = aggregate(cfg.method, _answers_upto(w, count, cfg.n_classes), accuracies=w.used_acc)
        post = res.posteriors
        is_open &= ~policy.is_done(res.confidence, count)
    return count, post


def _run_threshold(cfg: SimulationConfig, w: World, rep_seed: int) -> dict[str, float]:
    additive = cfg.method in ADDITIVE_METHODS
    count, post = (_threshold_additive if additive else _threshold_em)(cfg, w)
    labeled = np.cumsum(count) <= cfg.budget
    labeled &= np.cumsum(~labeled) == 0  # stop at the first item the budget cannot finish
    if not additive and labeled.any():
        # Re-aggregate on the answers inside the budget only.
        sub = _answers_upto(w, np.where(labeled, count, 0), cfg.n_classes)
        post = aggregate(cfg.method, sub, accuracies=w.used_acc).posteriors
    idx = np.flatnonzero(labeled)
    err, mae = _score(post[idx], w.truth[idx], rep_seed, idx)
    used = int(count[idx].sum())
    return {
        "error_rate": err,
        "mae": mae,
        "items_labeled": float(idx.size),
        "labels_used": float(used),
        "labels_per_item": used / max(idx.size, 1),
    }


def make_worlds(cfg: SimulationConfig) -> list[World]:
    """The ``cfg.repetitions`` worlds ``simulate(cfg)`` draws from ``cfg.seed``.

    Repetition i uses its own streams (seed, i) and (seed, i, 1) for the assessment set,
    so configurations differing only in the accuracy source see identical items,
    labelers and answers."""
    return [
        make_world(
            cfg, np.random.default_rng([cfg.seed, i]), np.random.default_rng([cfg.seed, i, 1])
        )
        for i in range(cfg.repetitions)
    ]


def simulate(cfg: SimulationConfig, worlds: list[World] | None = None) -> SimulationReport:
    """Run ``cfg.repetitions`` independent worlds under the configured policy.

    ``worlds`` (from ``make_worlds``) lets several methods or settings share the same
    labelers, items and answers (common random numbers); they must match ``cfg``."""
    get_method(cfg.method)
    if cfg.policy not in ("threshold", "uncertainty"):
        raise InvalidAnswersError(f"unknown policy {cfg.policy!r}: threshold or uncertainty")
    if worlds is None:
        worlds = make_worlds(cfg)
    elif any(w.truth.size != cfg.n_items or w.order.shape[1] != cfg.n_labelers for w in worlds):
        raise InvalidAnswersError("worlds do not match the configuration (items, labelers)")
    curve = None
    if cfg.policy == "threshold":
        rows = [_run_threshold(cfg, w, cfg.seed + i) for i, w in enumerate(worlds)]
    elif cfg.method in ADDITIVE_METHODS:
        rows, curve = _uncertainty_additive(cfg, worlds)
    else:
        rows = [_uncertainty_em(cfg, w, cfg.seed + i) for i, w in enumerate(worlds)]
    per_rep = {key: np.array([r[key] for r in rows]) for key in rows[0]} if rows else {}
    means = {key: float(np.mean(v)) for key, v in per_rep.items()}
    return SimulationReport(cfg, curve=curve, per_rep=per_rep, **means)


def _uncertainty_additive(
    cfg: SimulationConfig, worlds: list[World]
) -> tuple[list[dict[str, float]], tuple[IntArray, FloatArray, FloatArray] | None]:
    """All repetitions side by side: one label per repetition per step."""
    policy = UncertaintySampling(cfg.budget)
    r_n, n, m, k = len(worlds), cfg.n_items, cfg.n_labelers, cfg.n_classes
    truth = np.stack([w.truth for w in worlds])
    order = np.stack([w.order for w in worlds])
    answers = np.stack([w.answers for w in worlds])
    acc = np.stack([w.used_acc for w in worlds])
    reps = np.arange(r_n)
    first = min(n, policy.budget)
    scores = initial_scores(cfg.method, (r_n, n), k)
    count = np.zeros((r_n, n), np.int64)
    scores[:, :first] += vote_increments(
        cfg.method, answers[:, :first, 0], np.take_along_axis(acc, order[:, :first, 0], 1), k
    )
    count[:, :first] = 1
    key = uncertainty_key(posteriors_from_scores(cfg.method, scores), count)
    key[:, first:] = -np.inf  # beyond the budget's first pass: never labelled
    points: list[tuple[int, float, float]] = []

    def record(spent: int) -> None:
        post = posteriors_from_scores(cfg.method, scores[:, :first])
        scored = [
            _score(post[i], truth[i, :first], cfg.seed + int(i), np.arange(first)) for i in reps
        ]
        points.append(
            (spent, float(np.mean([s[0] for s in scored])), float(np.mean([s[1] for s in scored])))
        )

    record(first)
    for spent in range(first + 1, policy.budget + 1):
        key = np.where(count < m, key, -np.inf)
        item = key.argmax(axis=1)
        live = np.isfinite(key[reps, item])
        if not live.any():
            break
        rr, ii = reps[live], item[live]
        step = count[rr, ii]
        scores[rr, ii] += vote_increments(
            cfg.method, answers[rr, ii, step], acc[rr, order[rr, ii, step]], k
        )
        count[rr, ii] += 1
        key[rr, ii] = uncertainty_key(
            posteriors_from_scores(cfg.method, scores[rr, ii]), count[rr, ii]
        )
        if cfg.curve_every and (spent - first) % cfg.curve_every == 0:
            record(spent)
    if not points or points[-1][0] != int(count[0].sum()):
        record(int(count[0].sum()))
    post = posteriors_from_scores(cfg.method, scores[:, :first])
    rows = []
    for i in reps:
        err, mae = _score(post[i], truth[i, :first], cfg.seed + int(i), np.arange(first))
        used = int(count[i].sum())
        rows.append(
            {
                "error_rate": err,
                "mae": mae,
                "items_labeled": float(first),
                "labels_used": float(used),
                "labels_per_item": used / max(first, 1),
            }
        )
    arr = np.array(points)
    curve = (arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2]) if cfg.curve_every else None
    return rows, curve


def _uncertainty_em(cfg: SimulationConfig, w: World, rep_seed: int) -> dict[str, float]:
    """Uncertainty sampling with an EM method: re-aggregate every ``batch_size`` labels."""
    policy = UncertaintySampling(cfg.budget)
    n, m = cfg.n_items, cfg.n_labelers
    first = min(n, policy.budget)
    count = np.zeros(n, np.int64)
    count[:first] = 1
    spent = first

    def run() -> FloatArray:
        res = aggregate(cfg.method, _answers_upto(w, count, cfg.n_classes), accuracies=w.used_acc)
        return res.posteriors

    post = run()
    can = np.arange(n) < first
    while spent < policy.budget:
        can &= count < m
        if not can.any():
            break
        pick = policy.select(post, count, can, min(cfg.batch_size, policy.budget - spent))
        count[pick] += 1
        spent += pick.size
        post = run()
    idx = np.arange(first)
    err, mae = _score(post[idx], w.truth[idx], rep_seed, idx)
    return {
        "error_rate": err,
        "mae": mae,
        "items_labeled": float(first),
        "labels_used": float(spent),
        "labels_per_item": spent / max(first, 1),
    }
