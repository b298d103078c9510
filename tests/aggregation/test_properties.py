"""Property tests (hypothesis) of every method."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregation.engine import METHODS, Answers, aggregate
from aggregation.engine.additive import (
    ADDITIVE_METHODS,
    initial_scores,
    posteriors_from_scores,
    vote_increments,
)
from aggregation.engine.gtx import gtx

from .conftest import answer_sets

ALL = sorted(METHODS)
ACCURACY_METHODS = ("wmv", "sv", "gtx")


def _accuracies(data: st.DataObject, n: int, low: float = 0.55) -> np.ndarray:
    return np.array(data.draw(st.lists(st.floats(low, 0.99), min_size=n, max_size=n)))


def _clear(post: np.ndarray) -> np.ndarray:
    """Rows whose top two posteriors differ enough that the argmax is not a tie."""
    top = np.sort(post, axis=1)
    return top[:, -1] - top[:, -2] > 1e-6


@settings(max_examples=40, deadline=None)
@given(answers=answer_sets(), data=st.data(), method=st.sampled_from(ALL))
def test_it_is_invariant_to_permuting_answers(
    answers: Answers, data: st.DataObject, method: str
) -> None:
    perm = np.array(data.draw(st.permutations(range(answers.n_answers))))
    acc = _accuracies(data, answers.n_workers)
    kwargs = {"accuracies": acc} if method in ACCURACY_METHODS else {}
    base = aggregate(method, answers, **kwargs)
    shuffled = Answers.from_arrays(
        answers.tasks[perm],
        answers.workers[perm],
        answers.labels[perm],
        n_tasks=answers.n_tasks,
        n_workers=answers.n_workers,
        n_classes=answers.n_classes,
    )
    other = aggregate(method, shuffled, **kwargs)
    np.testing.assert_allclose(other.posteriors, base.posteriors, atol=1e-7)
    clear = _clear(base.posteriors)
    np.testing.assert_array_equal(other.labels[clear], base.labels[clear])


@settings(max_examples=40, deadline=None)
@given(answers=answer_sets(), data=st.data(), method=st.sampled_from(ALL))
def test_it_is_equivariant_to_renaming_classes(
    answers: Answers, data: st.DataObject, method: str
) -> None:
    k = answers.n_classes
    rename = np.array(data.draw(st.permutations(range(k))))
    acc = _accuracies(data, answers.n_workers)
    kwargs = {"accuracies": acc} if method in ACCURACY_METHODS else {}
    base = aggregate(method, answers, **kwargs)
    renamed = Answers.from_arrays(
        answers.tasks,
        answers.workers,
        rename[answers.labels],
        n_tasks=answers.n_tasks,
        n_workers=answers.n_workers,
        n_classes=k,
    )
    other = aggregate(method, renamed, **kwargs)
    np.testing.assert_allclose(other.posteriors[:, rename], base.posteriors, atol=1e-7)
    clear = _clear(base.posteriors)
    np.testing.assert_array_equal(other.labels[clear], rename[base.labels[clear]])


@settings(max_examples=40, deadline=None)
@given(answers=answer_sets(), data=st.data(), method=st.sampled_from(ALL))
def test_posteriors_are_distributions(answers: Answers, data: st.DataObject, method: str) -> None:
    kwargs = (
        {"accuracies": _accuracies(data, answers.n_workers)} if method in ACCURACY_METHODS else {}
    )
    res = aggregate(method, answers, **kwargs)
    np.testing.assert_allclose(res.posteriors.sum(axis=1), 1.0, atol=1e-9)
    assert ((res.posteriors >= 0) & (res.posteriors <= 1 + 1e-12)).all()
    np.testing.assert_allclose(res.confidence, res.posteriors.max(axis=1))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), method=st.sampled_from(ALL), k=st.integers(2, 4))
def test_unanimous_answers_give_that_label(data: st.DataObject, method: str, k: int) -> None:
    n_tasks, n_workers = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5))
    label = data.draw(st.integers(0, k - 1))
    pairs = [(t, w) for t in range(n_tasks) for w in range(n_workers)]
    t, w = np.array(pairs).T
    answers = Answers.from_arrays(t, w, np.full(t.size, label), n_classes=k)
    kwargs = {"accuracies": _accuracies(data, n_workers)} if method in ACCURACY_METHODS else {}
    assert (aggregate(method, answers, **kwargs).labels == label).all()


@settings(max_examples=40, deadline=None)
@given(data=st.data(), method=st.sampled_from(ACCURACY_METHODS))
def test_unanimity_within_a_task_wins_for_known_accuracy_methods(
    data: st.DataObject, method: str
) -> None:
    answers = data.draw(answer_sets())
    acc = _accuracies(data, answers.n_workers)
    res = aggregate(method, answers, accuracies=acc)
    for task in range(answers.n_tasks):
        labels = set(answers.labels[answers.tasks == task].tolist())
        if len(labels) == 1:
            assert res.labels[task] == labels.pop()


@settings(max_examples=60, deadline=None)
@given(answers=answer_sets(), data=st.data())
def test_gtx_equals_its_closed_form(answers: Answers, data: st.DataObject) -> None:
    k = answers.n_classes
    acc = _accuracies(data, answers.n_workers, low=0.01)
    prior = np.array(data.draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k)))
    prior = prior / prior.sum()
    res = gtx(answers, acc, class_prior=prior)
    a = np.clip(acc, 1e-3, 1 - 1e-3)
    for task in range(answers.n_tasks):
        rows = answers.tasks == task
        if not rows.any():  # no vote: uniform in every method, by contract
            np.testing.assert_allclose(res.posteriors[task], 1 / k)
            continue
        like = np.array(
            [
                prior[y]
                * np.prod(
                    [
                        a[j] if lab == y else (1 - a[j]) / (k - 1)
                        for j, lab in zip(answers.workers[rows], answers.labels[rows])
                    ]
                )
                for y in range(k)
            ]
        )
        np.testing.assert_allclose(res.posteriors[task], like / like.sum(), rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(answers=answer_sets(max_workers=4), data=st.data(), method=st.sampled_from(ACCURACY_METHODS))
def test_a_more_accurate_worker_moves_the_posterior_more(
    answers: Answers, data: st.DataObject, method: str
) -> None:
    task = data.draw(st.integers(0, answers.n_tasks - 1))
    label = data.draw(st.integers(0, answers.n_classes - 1))
    low, high = sorted(
        data.draw(st.lists(st.floats(0.55, 0.99), min_size=2, max_size=2, unique=True))
    )
    acc = np.concatenate([_accuracies(data, answers.n_workers), [low, high]])
    after = []
    for newcomer in (answers.n_workers, answers.n_workers + 1):
        extended = Answers.from_arrays(
            np.append(answers.tasks, task),
            np.append(answers.workers, newcomer),
            np.append(answers.labels, label),
            n_tasks=answers.n_tasks,
            n_workers=answers.n_workers + 2,
            n_classes=answers.n_classes,
        )
        after.append(aggregate(method, extended, accuracies=acc).posteriors[task, label])
    assert after[1] >= after[0] - 1e-12


@settings(max_examples=40, deadline=None)
@given(answers=answer_sets(), data=st.data(), method=st.sampled_from(ADDITIVE_METHODS))
def test_votes_folded_in_one_by_one_match_the_batch_method(
    answers: Answers, data: st.DataObject, method: str
) -> None:
    acc = _accuracies(data, answers.n_workers)
    k = answers.n_classes
    scores = initial_scores(method, (answers.n_tasks,), k)
    for t, w, y in zip(answers.tasks, answers.workers, answers.labels):
        scores[t] += vote_increments(method, np.array([y]), acc[[w]], k)[0]
    kwargs = {"accuracies": acc} if method != "mv" else {}
    batch = aggregate(method, answers, **kwargs)
    np.testing.assert_allclose(posteriors_from_scores(method, scores), batch.posteriors, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(answers=answer_sets(), method=st.sampled_from(["one-coin", "dawid-skene"]))
def test_em_log_likelihood_never_decreases(answers: Answers, method: str) -> None:
    history = aggregate(method, answers, max_iter=30, tol=-1.0).log_likelihood
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(history))
