"""Metrics from crowd-labelled evaluation items: expected counts from each item's P(yes).

The evaluation sample (:mod:`modeling.engine.sampler`) may be labelled by a crowd, whose
aggregated labels carry a posterior ``P(yes)`` per item. Three label bases are named by
:data:`LABEL_BASES`: ``expert`` (the expert's 0/1 labels), ``crowd-hard`` (the crowd's
aggregated 0/1 labels, through :func:`modeling.engine.sampler.weighted_estimate` like the
expert's) and ``crowd-posterior`` (this module).

**Expected counts.** An item with posterior p counts p of a positive and 1 − p of a
negative: its true-positive indicator at the threshold becomes ``pred · p``, its false
positive ``pred · (1 − p)`` and so on, and AUC-PR / AUC-ROC use the weighted curve over
two twins of the item (a positive of weight w p and a negative of weight w (1 − p), at the
item's score). With every p in {0, 1} each item has one twin of weight 0 and the estimator
is the hard-label one exactly (same values, same standard errors, same random stream).

**The stratum's prior.** The crowd's P(yes) is a posterior under an equal class prior (GTX,
MV, WMV and SV of the live step all start from 1/2), which is far from the truth in a
stratum of a model's scores: in a low stratum standing for 8,000 items with 0.5 %
positives, twenty "no" items at P(yes) = .03 would add 8,000 × .03 = 240 expected positives
that are not there. So by default each stratum's prevalence pi_h is estimated from its own
items by EM (the one-coin mixture: each posterior's odds are the answers' likelihood
ratio, re-weighted by pi_h / (1 − pi_h); pi_h under a Jeffreys Beta(1/2, 1/2) prior, so a
stratum of confident "no"s does not collapse to exactly 0), and every posterior is
re-computed under it. Posteriors of 0 and 1 stay 0 and 1.

**Label uncertainty in the interval.** The items' true labels are unknown given the
posteriors. Precision, recall, F1 and accuracy add to the linearised stratified variance
(computed on the expected counts) the variance of the labels, Σ_i p_i (1 − p_i) (∂R/∂y_i)²;
AUC-PR and AUC-ROC draw, in every bootstrap replicate, each resampled item's label from its
posterior. The single-class floor of the sampler applies to strata whose items all fall on
one side of 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modeling.engine.errors import DimensionMismatchError, InvalidLabelError
from modeling.engine.metrics import Estimate, metric_rows
from modeling.engine.sampler import (
    _RATIO_PARTS,
    N_STRATA,
    EvaluationSample,
    _confusion,
    _ratio_estimate,
    _single_class,
    _stratified_boot_counts,
    ranking_from_bootstrap,
    stratum_weights,
    unseen_class_rate,
)

EXPERT, CROWD_HARD, CROWD_POSTERIOR = "expert", "crowd-hard", "crowd-posterior"
#: Which labels an evaluation rests on.
LABEL_BASES: tuple[str, ...] = (EXPERT, CROWD_HARD, CROWD_POSTERIOR)
PRIORS = ("stratum", "as-given")
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class PosteriorRows:
    """One model's labelled sample items: ``p`` (m,) P(yes), ``strata`` (m,), ``scores``
    (m,), ``weights`` (m,) N_h / n_h, ``stratum_sizes`` (10,)."""

    p: FloatArray
    strata: IntArray
    scores: FloatArray
    weights: FloatArray
    stratum_sizes: IntArray

    def __repr__(self) -> str:
        return f"PosteriorRows({self.p.size} items, mean P(yes) {float(np.mean(self.p)) if self.p.size else 0:.3f})"


def stratum_prior_posteriors(p_yes: FloatArray, strata: IntArray, max_iter: int = 200,
                             tol: float = 1e-10) -> FloatArray:
    """(m,) posteriors re-computed under each stratum's prevalence, estimated by EM.

    ``p_yes`` (m,) equal-prior posteriors, ``strata`` (m,) 0..9. In log-odds,
    ``logit p' = logit p + logit pi_h``; pi_h = (Σ p'_i + 1/2) / (n_h + 1) (Jeffreys).
    """
    p = np.asarray(p_yes, dtype=np.float64)
    with np.errstate(divide="ignore"):  # p of 0 or 1 is an infinite log-odds: it stays 0 or 1
        log_odds = np.log(p) - np.log1p(-p)
    counts = np.bincount(strata, minlength=N_STRATA).astype(np.float64)
    pi = np.full(N_STRATA, 0.5)
    out = p
    for _ in range(max_iter):
        shifted = log_odds + np.log(pi[strata]) - np.log1p(-pi[strata])
        out = 1.0 / (1.0 + np.exp(-shifted))
        new = (np.bincount(strata, weights=out, minlength=N_STRATA) + 0.5) / (counts + 1.0)
        if np.max(np.abs(new - pi)) < tol:
            break
        pi = new
    return out


def posterior_rows(sample: EvaluationSample, model: str, scores: NDArray[np.floating],
                   p_yes: NDArray[np.floating], prior: str = "stratum") -> PosteriorRows:
    """The labelled items of ``model``'s own sample; ``p_yes`` (u,) aligned with
    ``sample.indices``, NaN where an item has no label yet."""
    p_all = np.asarray(p_yes, dtype=np.float64)
    if p_all.shape != sample.indices.shape:
        raise DimensionMismatchError(
            f"posteriors {p_all.shape} must align with the union of {sample.indices.size} items")
    finite = p_all[np.isfinite(p_all)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise InvalidLabelError("posteriors P(yes) must lie in [0, 1] (NaN: not labelled)")
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
    own = sample.models[model]
    p_own = p_all[np.searchsorted(sample.indices, own.indices)]
    rows = np.flatnonzero(np.isfinite(p_own))
    strata = own.strata[rows]
    p = p_own[rows] if prior == "as-given" else stratum_prior_posteriors(p_own[rows], strata)
    s = np.asarray(scores, dtype=np.float64)[own.indices[rows]]
    return PosteriorRows(p, strata, s, stratum_weights(strata, own.stratum_sizes), own.stratum_sizes)


def expected_confusion(rows: PosteriorRows, threshold: float = 0.5) -> dict[str, float]:
    """Pool totals of expected (tp, fp, fn, tn) at ``score >= threshold``: linear in the
    posteriors, so unbiased whenever the posteriors are calibrated."""
    pred = (rows.scores >= threshold).astype(np.float64)
    tp, fp, fn = _confusion(pred, rows.p)
    tn = (1 - pred) * (1 - rows.p)
    return {name: float(rows.weights @ part) for name, part in (("tp", tp), ("fp", fp), ("fn", fn), ("tn", tn))}


def posterior_estimate(
    sample: EvaluationSample,
    model: str,
    scores: NDArray[np.floating],
    p_yes: NDArray[np.floating],
    threshold: float = 0.5,
    *,
    prior: str = "stratum",
    label_noise: bool = True,
    n_boot: int = 200,
    rng: np.random.Generator | None = None,
) -> dict[str, Estimate]:
    """Pool-level metrics of ``model`` from crowd posteriors on its evaluation sample.

    As :func:`modeling.engine.sampler.weighted_estimate`, with ``p_yes`` (u,) P(yes) per
    union item (NaN: not labelled) instead of 0/1/-1 labels; ``prior`` "stratum" (EM per
    stratum, the default) or "as-given". ``label_noise=False`` treats the expected counts as
    known values (the interval then holds the sampling error only: a reference, not for use).
    Returns precision, recall, f1, accuracy, auc_pr and
    auc_roc, each an :class:`Estimate` whose interval includes the labels' uncertainty.
    """
    rows = posterior_rows(sample, model, scores, p_yes, prior)
    hard = (rows.p >= 0.5).astype(np.int64)
    single = _single_class(hard, rows.strata)
    pred = (rows.scores >= threshold).astype(np.float64)
    counts, flipped = _confusion(pred, rows.p), _confusion(pred, (1 - hard).astype(np.float64))
    yes, no = _confusion(pred, np.ones_like(pred)), _confusion(pred, np.zeros_like(pred))
    out: dict[str, Estimate] = {}
    for name, parts in _RATIO_PARTS.items():
        est = _ratio_estimate(parts(*counts), parts(*flipped), rows.weights, rows.strata, rows.stratum_sizes, single)
        out[name] = _with_label_variance(est, parts(*yes), parts(*no), parts(*counts), rows) if label_noise else est
    out.update(_posterior_ranking(rows, hard, single, n_boot, rng, label_noise))
    return out


def _with_label_variance(est: Estimate, yes: tuple[FloatArray, FloatArray], no: tuple[FloatArray, FloatArray],
                         expected: tuple[FloatArray, FloatArray], rows: PosteriorRows) -> Estimate:
    """Add Σ p (1 − p) (w (Δnum − R Δden) / D)² to the estimate's variance: how far the
    ratio moves if an item's label is 1 rather than 0, squared, times its label variance."""
    den = float(rows.weights @ expected[1])
    if den <= 0 or not np.isfinite(est.se):
        return est
    d_num, d_den = yes[0] - no[0], yes[1] - no[1]
    grad = rows.weights * (d_num - est.value * d_den) / den
    label_var = float(np.sum(rows.p * (1.0 - rows.p) * grad**2))
    return Estimate.normal(est.value, float(np.sqrt(est.se**2 + label_var)))


def _posterior_ranking(rows: PosteriorRows, hard: IntArray, single: NDArray[np.bool_], n_boot: int,
                       rng: np.random.Generator | None, label_noise: bool = True) -> dict[str, Estimate]:
    """Weighted AUC-PR / AUC-ROC over each item's two twins; bootstrap replicates resample
    within strata and draw each resampled item's label from its posterior.

    Twins are laid out as [the item with its hard label, the item with the other label],
    so with posteriors of 0 and 1 the arrays, weights and random draws are those of the
    hard-label estimator (its floor twins are the second block)."""
    p_hard = np.where(hard == 1, rows.p, 1.0 - rows.p)  # chance the hard label is right
    y = np.concatenate([hard, 1 - hard])
    s = np.concatenate([rows.scores, rows.scores])
    w = np.concatenate([rows.weights, rows.weights])
    point = metric_rows(y, s, 0.5, (w * np.concatenate([p_hard, 1.0 - p_hard]))[None, :])
    gen = rng if rng is not None else np.random.default_rng(0)
    counts = _stratified_boot_counts(rows.strata, n_boot, gen)
    other = np.zeros_like(counts)
    unsure = np.flatnonzero(p_hard < 1.0) if label_noise else np.empty(0, dtype=np.int64)
    if unsure.size and counts.shape[0]:  # each replicate's label of an unsure item, from its posterior
        flip = gen.random((counts.shape[0], unsure.size)) >= p_hard[unsure]
        other[:, unsure] = np.where(flip, counts[:, unsure], 0)
        counts[:, unsure] -= other[:, unsure]
    twins = np.flatnonzero(single)
    if twins.size:  # the sampler's floor: a draw of the seen class moves to the unseen one w.p. q
        q = unseen_class_rate(np.bincount(rows.strata, minlength=N_STRATA)[rows.strata[twins]])
        moved = gen.binomial(counts[:, twins], q)
        counts[:, twins] -= moved
        other[:, twins] += moved
    draws = np.concatenate([counts, other], axis=1).astype(np.float64)
    if not label_noise:  # the replicate's weights are the expected counts of its draws
        draws = np.concatenate([counts * p_hard, counts * (1.0 - p_hard) + other], axis=1)
    return ranking_from_bootstrap(point, metric_rows(y, s, 0.5, draws * w))
