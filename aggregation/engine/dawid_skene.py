"""Dawid-Skene EM: every worker has a full class-confusion matrix.

    confusion[j, k, l] = P(worker j answers l | true class k)

Initialised from majority-vote shares, as crowd-kit does. By default every confusion
row gets ``diagonal_prior`` = 0.5 pseudo-answers on its diagonal: the MAP estimate under
a Dirichlet(1 + 0.5 on the diagonal, 1 off it) prior, "a worker is right a little more
often than not" worth half an answer. It matters only for workers with few answers:
maximum likelihood gives a worker seen 3 times a confusion row of exact 0s and 1s, and
on sparse data (about 3 answers per task, most workers answering a handful) the EM then
converges to labels a few tasks worse than an early stop (docs/aggregation.md has the
measurements). With ``diagonal_prior=0`` the M-step normalises the expected counts with
crowd-kit's floor (1e-10, on the (worker, answered class) pairs the worker used), so on
the same data it converges to crowd-kit's ``DawidSkene`` fixed point, and with
``stopping="crowdkit"`` it stops where crowd-kit stops. Optional gold labels are clamped
in every E-step; optional known accuracies add Dirichlet pseudo-counts
``prior_strength * (a_j on the diagonal, (1 - a_j)/(K - 1) off it)`` to each worker's rows.

The sums over answers are sparse products with the (n_tasks, n_workers*K) answer
indicator matrix A: E-step logits = A @ log(confusion), M-step counts = A.T @ posteriors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._core import (
    PROB_FLOOR,
    check_accuracies,
    clamp_gold,
    clip_accuracy,
    em_loop,
    finish,
    gold_vector,
    normalize_scores,
    softmax_rows,
    tally,
)
from .types import AggregationResult, Answers, BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class DSParams:
    confusion: FloatArray  # (n_workers, K true, K answered), rows sum to 1
    class_prior: FloatArray  # (K,)


@dataclass(frozen=True)
class DSDesign:
    """Sparse answer indicators, built once per run."""

    a: sp.csr_matrix  # (n_tasks, n_workers*K): 1 where worker j answered l on task t
    a_t: sp.csc_matrix  # its transpose: a CSC view of the same arrays, no copy
    observed: BoolArray  # (n_workers, K answered): pairs the worker used at least once
    n_answers: int


def design(answers: Answers) -> DSDesign:
    """Build the indicator matrices (duplicate answers add up).

    The CSR arrays are built directly (rows counted with ``bincount``, answers put in
    task order only if they are not already), skipping the COO -> CSR conversion's
    duplicate summing and index sorting: a sparse product does not need either.
    """
    k, w, n = answers.n_classes, answers.n_workers, answers.n_tasks
    col = (answers.workers * k + answers.labels).astype(np.int32 if w * k < 2**31 else np.int64)
    tasks = answers.tasks
    if tasks.size > 1 and not bool(np.all(tasks[1:] >= tasks[:-1])):
        col = col[np.argsort(tasks, kind="stable")]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tasks, minlength=n), out=indptr[1:])
    ones = np.ones(answers.n_answers, dtype=np.float64)
    a = sp.csr_matrix((ones, col, indptr), shape=(n, w * k))
    observed = np.bincount(col, minlength=w * k).reshape(w, k) > 0
    return DSDesign(a, a.T, observed, max(answers.n_answers, 1))


def pseudo_counts(accuracies: FloatArray, n_classes: int, strength: float) -> FloatArray:
    """Dirichlet pseudo-counts (n_workers, K, K) centred on a one-coin matrix."""
    a = clip_accuracy(accuracies)[:, None, None]
    eye = np.eye(n_classes)[None]
    off = (1.0 - a) / max(n_classes - 1, 1)
    out: FloatArray = strength * (eye * a + (1.0 - eye) * off)
    return out


def m_step(
    dsn: DSDesign,
    posteriors: FloatArray,
    pseudo: FloatArray | None = None,
) -> DSParams:
    """Confusion matrices from expected counts; prior = mean posterior."""
    w, k = dsn.observed.shape
    counts = np.asarray(dsn.a_t @ posteriors).reshape(w, k, k).transpose(0, 2, 1)
    if pseudo is not None:
        counts = counts + pseudo
    # Floor the pairs a worker used so no log(0); pairs never used stay 0 (they never
    # enter a likelihood), which is crowd-kit's normalisation over observed labels.
    used = dsn.observed[:, None, :] | (pseudo is not None)
    counts = np.where(used, np.maximum(counts, PROB_FLOOR), 0.0)
    totals = counts.sum(axis=2, keepdims=True)
    confusion = counts / np.where(totals > 0, totals, 1.0)
    prior = np.maximum(posteriors.mean(axis=0), PROB_FLOOR)
    return DSParams(confusion, prior)


def e_step(dsn: DSDesign, params: DSParams, gold: IntArray | None) -> tuple[FloatArray, float]:
    """Posteriors (n_tasks, K) and mean per-answer log-likelihood of ``params``."""
    w, k, _ = params.confusion.shape
    with np.errstate(divide="ignore"):
        log_conf = np.log(params.confusion)
    # Unused pairs are -inf but A has no entry in their column; zero them anyway so
    # the sparse product never sees an inf.
    log_conf = np.where(np.isfinite(log_conf), log_conf, 0.0)
    flat = log_conf.transpose(0, 2, 1).reshape(w * k, k)  # row (j, answered) -> true k
    logits = np.asarray(dsn.a @ flat) + np.log(params.class_prior)
    posteriors, lse = softmax_rows(logits)
    if gold is not None:
        rows = np.flatnonzero(gold >= 0)
        lse[rows] = logits[rows, gold[rows]]
    return clamp_gold(posteriors, gold), float(lse.sum()) / dsn.n_answers


def _with_log_prior(
    step: tuple[FloatArray, float], params: DSParams, pseudo: FloatArray | None, n_answers: int
) -> tuple[FloatArray, float]:
    """The E-step's result with the Dirichlet log prior of ``params`` (per answer) added to
    its log-likelihood: MAP-EM increases that sum, the log posterior, at every iteration."""
    posteriors, ll = step
    if pseudo is None:
        return posteriors, ll
    with np.errstate(divide="ignore"):
        log_conf = np.log(params.confusion)
    prior = float(np.sum(np.where(pseudo > 0, pseudo * log_conf, 0.0)))
    return posteriors, ll + prior / n_answers


def crowdkit_elbo(dsn: DSDesign, posteriors: FloatArray, params: DSParams) -> float:
    """crowd-kit's ``_evidence_lower_bound`` / n_answers, reproduced for ``stopping=
    "crowdkit"``: E_T[log p(answers, y)] + H(T) with the log prior counted once per
    *answer* (not per task) and T floored at 1e-10 in the entropy."""
    w, k, _ = params.confusion.shape
    with np.errstate(divide="ignore"):
        log_conf = np.log(params.confusion)
    flat = np.where(np.isfinite(log_conf), log_conf, 0.0).transpose(0, 2, 1).reshape(w * k, k)
    votes = np.asarray(dsn.a.sum(axis=1))[:, 0]
    joint = float((posteriors * np.asarray(dsn.a @ flat)).sum())
    joint += float(votes @ posteriors @ np.log(params.class_prior))
    t = np.maximum(posteriors, PROB_FLOOR)
    return (joint - float((t * np.log(t)).sum())) / max(float(votes.sum()), 1.0)


def ds_skills(params: DSParams) -> FloatArray:
    """Worker accuracy implied by a confusion matrix: sum_k prior_k * P(l = k | k)."""
    diag = np.diagonal(params.confusion, axis1=1, axis2=2)
    out: FloatArray = diag @ params.class_prior
    return out


def dawid_skene(
    answers: Answers,
    *,
    gold: IntArray | None = None,
    accuracies: FloatArray | None = None,
    prior_strength: float = 10.0,
    diagonal_prior: float = 0.5,
    max_iter: int = 100,
    tol: float = 1e-5,
    stopping: str = "loglik",
    seed: int = 0,
) -> AggregationResult:
    """Dawid-Skene EM. ``gold`` (n_tasks,) holds a class code or -1; ``accuracies``
    (n_workers,) give Dirichlet pseudo-counts of total ``prior_strength`` per row;
    ``diagonal_prior`` pseudo-answers are added to every confusion row's diagonal
    (0: maximum likelihood, crowd-kit's estimate).

    ``stopping="loglik"`` (default) stops when the observed-data log posterior (the
    log-likelihood plus the Dirichlet log prior of the pseudo-counts) gains less than
    ``tol`` nats per answer. ``stopping="crowdkit"`` uses crowd-kit 1.4.2's
    ELBO instead, which reproduces its iteration count and labels exactly; that ELBO
    is not monotone under EM and stops bluebirds after 2 iterations."""
    g = gold_vector(gold, answers.n_tasks, answers.n_classes)
    pseudo = None
    if accuracies is not None:
        acc = check_accuracies(accuracies, answers.n_workers)
        pseudo = pseudo_counts(acc, answers.n_classes, prior_strength)
    if diagonal_prior > 0:
        diagonal = np.broadcast_to(diagonal_prior * np.eye(answers.n_classes), (answers.n_workers,) + (answers.n_classes,) * 2)
        pseudo = diagonal.copy() if pseudo is None else pseudo + diagonal
    dsn = design(answers)
    init = clamp_gold(normalize_scores(tally(answers)), g)
    posteriors, params, n_iter, converged, history = em_loop(
        init,
        lambda post: m_step(dsn, post, pseudo),
        lambda prm: _with_log_prior(e_step(dsn, prm, g), prm, pseudo, dsn.n_answers),
        max_iter,
        tol,
        (lambda post, prm: crowdkit_elbo(dsn, post, prm)) if stopping == "crowdkit" else None,
    )
    return finish(
        "dawid-skene",
        posteriors,
        answers,
        seed,
        g,
        skills=ds_skills(params),
        confusion=params.confusion,
        class_prior=params.class_prior,
        n_iter=n_iter,
        converged=converged,
        log_likelihood=history,
    )
