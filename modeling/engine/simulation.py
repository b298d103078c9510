"""Simulated users and the whole agile loop, run end to end on arrays.

The loop (Agile Modeling's recipe):

    phrases ──expand──▶ ~100 items ──rate──▶ round 0: 1x16 MLP
        └─ for each AL round: score pool ─▶ strategy picks ``batch`` unrated items
                                ─▶ rate ─▶ retrain a 3x128 MLP on everything rated
    every model (and the zero-shot scorer) is measured on the whole evaluation set.

A *rater* is any callable from pool indices (k,) to 0/1 answers (k,): the
:class:`LabelRater` answers from dataset labels (optionally flipping a fraction, to
stand in for a crowd worker); a later headless run can pass a callable that posts
the batch to the API's services and waits for answers. Nothing here knows the
class names: the rater is the only holder of the truth about the pool.

If the ratings hold no positive yet, no classifier can be trained: that round's
model is the zero-shot scorer (its pool scores drive active learning), which is
what an expert would see too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modeling.engine.active import next_batch
from modeling.engine.errors import DimensionMismatchError, InvalidLabelError, ModelingError
from modeling.engine.expansion import expand
from modeling.engine.index import VectorIndex, build_index
from modeling.engine.metrics import Estimate, evaluate
from modeling.engine.trainer import (
    TrainConfig,
    TrainedModel,
    initial_config,
    later_config,
    score_pool,
    train,
)
from modeling.engine.zero_shot import Calibration, concept_vector, zero_shot_scores

IntArray = NDArray[np.int64]
Rater = Callable[[IntArray], IntArray]
"""Answers (k,) in {0, 1} for pool indices (k,)."""
RoundCallback = Callable[["RoundResult"], None]


class RatedTwiceError(ModelingError):
    """The loop asked the rater about an item it had already rated (a strategy bug)."""


@dataclass
class LabelRater:
    """A simulated rater answering from dataset labels.

    ``truth`` (N,) bool: whether each pool item belongs to the concept. With
    ``error_rate`` e, each answer is flipped with probability e (a noisy crowd worker).
    ``asked`` keeps every index asked, in order, so tests can audit the loop.
    """

    truth: NDArray[np.bool_]
    error_rate: float = 0.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    asked: list[int] = field(default_factory=list)

    def __call__(self, indices: IntArray) -> IntArray:
        idx = np.asarray(indices, dtype=np.int64)
        self.asked.extend(idx.tolist())
        answers = self.truth[idx].astype(np.int64)
        if self.error_rate > 0:
            flip = self.rng.random(idx.size) < self.error_rate
            answers = np.where(flip, 1 - answers, answers)
        return answers

    def __repr__(self) -> str:
        return (
            f"LabelRater({int(self.truth.sum())}/{self.truth.size} positives, "
            f"error_rate={self.error_rate}, asked={len(self.asked)})"
        )


def phrases_from_classes(classes: Sequence[str]) -> list[str]:
    """Readable phrases from class names: ``"lost_or_stolen_card"`` → ``"lost or stolen card"``."""
    return [c.replace("_", " ").strip() for c in classes]


class UnknownClassError(ModelingError):
    """A positive class is not among the source's classes; the message lists them."""


def class_truth(labels: Sequence[str | None], positive_classes: Sequence[str]) -> NDArray[np.bool_]:
    """(n,) bool: whether each item's class is one of ``positive_classes``.

    Raises :class:`UnknownClassError` naming the known classes when a positive class
    does not occur, since a typo would otherwise simulate a concept with no positive.
    """
    known = sorted({label for label in labels if label is not None})
    unknown = [c for c in positive_classes if c not in known]
    if unknown:
        raise UnknownClassError(
            f"unknown class(es) {', '.join(unknown)}; known classes: {', '.join(known)}"
        )
    wanted = set(positive_classes)
    return np.fromiter((label in wanted for label in labels), dtype=bool, count=len(labels))


@dataclass(frozen=True)
class PoolArrays:
    """What the loop reads of a pool: ``vectors`` (N, d) shared-space, ``features`` (N, f)."""

    vectors: NDArray[np.floating]
    features: NDArray[np.floating]

    def __post_init__(self) -> None:
        if self.vectors.shape[0] != self.features.shape[0]:
            raise DimensionMismatchError(
                f"{self.vectors.shape[0]} vectors but {self.features.shape[0]} feature rows"
            )

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def __repr__(self) -> str:
        return f"PoolArrays(n={len(self)}, dim={self.vectors.shape[1]}, features={self.features.shape[1]})"


@dataclass(frozen=True)
class EvaluationArrays:
    """The evaluation set: a pool's arrays plus its (n,) 0/1 ``labels``."""

    items: PoolArrays
    labels: IntArray

    def __post_init__(self) -> None:
        if self.labels.shape != (len(self.items),):
            raise DimensionMismatchError(f"{self.labels.shape} labels for {len(self.items)} items")
        if not np.isin(self.labels, (0, 1)).all():
            raise InvalidLabelError("evaluation labels must be 0 or 1")


@dataclass(frozen=True)
class ConceptVectors:
    """Encoded phrases: positives (p, d) — name first — and negatives (q, d), possibly empty."""

    positives: NDArray[np.floating]
    negatives: NDArray[np.floating]


@dataclass(frozen=True)
class SimulationConfig:
    """How to run the loop. ``batch`` items per AL round; ``rounds`` AL rounds after round 0.

    ``per_phrase``/``expansion_sample``: neighbours per phrase and items rated from them
    (paper: 100 and 100). ``threshold``: score for F1/accuracy of trained models.
    ``n_boot``: bootstrap resamples for the metrics' standard errors (0: none).
    """

    strategy: str = "margin"
    rounds: int = 5
    batch: int = 100
    seed: int = 0
    per_phrase: int = 100
    expansion_sample: int = 100
    threshold: float = 0.5
    n_boot: int = 0
    initial: TrainConfig = field(default_factory=initial_config)
    later: TrainConfig = field(default_factory=later_config)


@dataclass(frozen=True)
class RoundResult:
    """One model's metrics on the evaluation set after ``labels`` ratings.

    ``model`` is "mlp-16"-style or "zero-shot" when no positive had been rated;
    ``scores`` (n_eval,) float32 are its scores on the evaluation set, in [0, 1].
    """

    round: int
    labels: int
    positives: int
    model: str
    metrics: dict[str, Estimate]
    scores: NDArray[np.float32] = field(
        repr=False, compare=False, default_factory=lambda: np.empty(0, np.float32)
    )
    #: Pool rows rated so far (labels,) and their answers (labels,), in rating order.
    rated: IntArray = field(repr=False, compare=False, default_factory=lambda: np.empty(0, np.int64))
    answers: IntArray = field(repr=False, compare=False, default_factory=lambda: np.empty(0, np.int64))

    def to_json(self) -> dict[str, Any]:
        """``{"round", "labels", "auc_pr", "auc_roc", "f1", "accuracy"}`` as plain numbers."""
        out: dict[str, Any] = {"round": self.round, "labels": self.labels}
        out.update({k: _num(v.value) for k, v in self.metrics.items()})
        return out


@dataclass(frozen=True)
class SimulationResult:
    """Zero-shot metrics, one :class:`RoundResult` per round, and every rating in order."""

    zero_shot: dict[str, Estimate]
    rounds: list[RoundResult]
    rated: IntArray
    answers: IntArray

    def to_json(self) -> dict[str, Any]:
        """The ``manage.py simulate --json`` object."""
        return {
            "zero_shot": {k: _num(v.value) for k, v in self.zero_shot.items()},
            "rounds": [r.to_json() for r in self.rounds],
        }

    def __repr__(self) -> str:
        last = self.rounds[-1] if self.rounds else None
        tail = f", final auc_pr={last.metrics['auc_pr'].value:.3f}" if last else ""
        return f"SimulationResult({len(self.rounds)} rounds, {self.rated.size} ratings{tail})"


def _num(value: float) -> float | None:
    """JSON has no NaN: an undefined metric is null."""
    return round(float(value), 6) if np.isfinite(value) else None


@dataclass
class LoopState:
    """Everything rated so far, the current model, and the results up to now."""

    rated: list[int]
    answers: list[int]
    model: TrainedModel | None
    rounds: list[RoundResult]

    def copy(self) -> LoopState:
        """An independent copy (the model is immutable and shared)."""
        return LoopState(list(self.rated), list(self.answers), self.model, list(self.rounds))


class Simulation:
    """The loop over one pool, evaluation set and concept; see :func:`run_simulation`."""

    def __init__(
        self,
        pool: PoolArrays,
        evaluation: EvaluationArrays,
        concept: ConceptVectors,
        calibration: Calibration,
        config: SimulationConfig,
        index: VectorIndex | None = None,
    ) -> None:
        if pool.vectors.shape[1] != concept.positives.shape[1]:
            raise DimensionMismatchError(
                f"pool vectors are {pool.vectors.shape[1]}-d, phrases {concept.positives.shape[1]}-d"
            )
        self.pool, self.evaluation, self.concept = pool, evaluation, concept
        self.calibration, self.config = calibration, config
        self._concept_vector = concept_vector(concept.positives, concept.negatives)
        self._pool_zero_shot: NDArray[np.float32] | None = None
        self._index = index

    @property
    def index(self) -> VectorIndex:
        """The pool's k-NN index, built on first use (pass one in to share it across runs)."""
        if self._index is None:
            self._index = build_index(np.ascontiguousarray(self.pool.vectors, dtype=np.float32))
        return self._index

    def __repr__(self) -> str:
        return f"Simulation({self.pool!r}, eval n={len(self.evaluation.items)}, {self.config!r})"

    def zero_shot(self) -> dict[str, Estimate]:
        """Zero-shot metrics on the evaluation set (threshold = the calibration's centre)."""
        return self._measure(self.zero_shot_eval_scores())

    def zero_shot_eval_scores(self) -> NDArray[np.float32]:
        """Zero-shot scores (n_eval,) in [0, 1] of the evaluation items."""
        return zero_shot_scores(
            self.evaluation.items.vectors, self._concept_vector, self.calibration
        )

    def _measure(self, scores: NDArray[np.floating]) -> dict[str, Estimate]:
        rng = np.random.default_rng([self.config.seed, 7])
        return evaluate(self.evaluation.labels, scores, 0.5, n_boot=self.config.n_boot, rng=rng)

    def start(self, rater: Rater) -> LoopState:
        """Round 0: expand the phrases, rate the expansion batch, train the 1x16 model."""
        rng = np.random.default_rng([self.config.seed, 0])
        result = expand(
            self.index,
            np.asarray(self.concept.positives, dtype=np.float32),
            np.asarray(self.concept.negatives, dtype=np.float32),
            per_phrase=self.config.per_phrase,
            sample=self.config.expansion_sample,
            rng=rng,
        )
        state = LoopState([], [], None, [])
        self._rate(state, np.asarray(result.batch, dtype=np.int64), rater)
        return self._train_and_measure(state, 0, self.config.initial, self._pool_probs(state))

    def step(self, state: LoopState, rater: Rater, strategy: str, batch: int) -> LoopState:
        """One AL round: the strategy picks ``batch`` unrated items, rate, retrain 3x128."""
        round_no = len(state.rounds)
        rng = np.random.default_rng([self.config.seed, round_no, 1])
        rated = np.asarray(state.rated, dtype=np.int64)
        probs = self._pool_probs(state)
        picked = next_batch(
            strategy,
            probs,
            batch,
            rated,
            np.asarray(state.answers, dtype=np.int64),
            rng,
            embeddings=self.pool.vectors,
            represent=self._representation(state),
        )
        self._rate(state, np.asarray(picked, dtype=np.int64), rater)
        return self._train_and_measure(state, round_no, self.config.later, probs)

    def _representation(self, state: LoopState) -> Callable[[IntArray], NDArray[np.float32]] | None:
        """Pool rows -> the current model's last hidden layer (for ``badge``)."""
        model = state.model
        if model is None:
            return None
        return lambda rows: model.hidden(self.pool.features[rows])

    def _pool_probs(self, state: LoopState) -> NDArray[np.float32]:
        if state.model is not None:
            return score_pool(state.model, self.pool.features)
        if self._pool_zero_shot is None:
            self._pool_zero_shot = zero_shot_scores(
                self.pool.vectors, self._concept_vector, self.calibration
            )
        return self._pool_zero_shot

    def _rate(self, state: LoopState, indices: IntArray, rater: Rater) -> None:
        # Never re-ask: a repeat means a strategy or expansion bug, not a user choice.
        repeated = np.intersect1d(indices, np.asarray(state.rated, dtype=np.int64))
        if repeated.size or np.unique(indices).size != indices.size:
            raise RatedTwiceError(f"items asked twice: {sorted(set(repeated.tolist()))[:10]}")
        answers = np.asarray(rater(indices), dtype=np.int64)
        if answers.shape != indices.shape or not np.isin(answers, (0, 1)).all():
            raise InvalidLabelError("a rater must answer 0 or 1 for every item asked")
        state.rated.extend(indices.tolist())
        state.answers.extend(answers.tolist())

    def _train_and_measure(
        self, state: LoopState, round_no: int, base: TrainConfig, previous: NDArray[np.float32]
    ) -> LoopState:
        """Train on every answer so far (``previous``: the pool scores of the model, or
        zero-shot, that chose this round's items) and measure on the evaluation set."""
        answers = np.asarray(state.answers, dtype=np.int64)
        positives = int(answers.sum())
        if positives:
            rated = np.asarray(state.rated, dtype=np.int64)
            config = replace(base, seed=self.config.seed * 1000 + round_no)
            features = np.asarray(self.pool.features[np.sort(rated)], dtype=np.float32)
            labels = answers[np.argsort(rated)]
            state.model = train(
                features, labels, self.pool.features, config, exclude=rated, previous_scores=previous
            )
            scores = score_pool(state.model, self.evaluation.items.features)
            metrics, kind = self._measure_model(scores), _trained_name(state.model)
        else:
            scores = self.zero_shot_eval_scores()
            metrics, kind = self._measure(scores), "zero-shot"
        state.rounds.append(
            RoundResult(
                round_no, len(state.rated), positives, kind, metrics, scores,
                np.asarray(state.rated, dtype=np.int64), answers,
            )
        )
        return state

    def _measure_model(self, scores: NDArray[np.floating]) -> dict[str, Estimate]:
        rng = np.random.default_rng([self.config.seed, 7])
        return evaluate(
            self.evaluation.labels,
            scores,
            self.config.threshold,
            n_boot=self.config.n_boot,
            rng=rng,
        )


def _model_name(config: TrainConfig) -> str:
    return "mlp-" + "x".join(str(h) for h in config.hidden) if config.hidden else "mlp-linear"


def _trained_name(model: TrainedModel) -> str:
    """``"linear"`` or ``"mlp-128x128x128"``: the head cross-validation kept."""
    return "linear" if model.head == "linear" else _model_name(model.config)


def run_simulation(
    pool: PoolArrays,
    evaluation: EvaluationArrays,
    concept: ConceptVectors,
    rater: Rater,
    calibration: Calibration,
    config: SimulationConfig,
    on_round: RoundCallback | None = None,
    on_zero_shot: Callable[[dict[str, Estimate]], None] | None = None,
) -> SimulationResult:
    """Zero-shot, round 0 and ``config.rounds`` AL rounds; metrics on all of ``evaluation``.

    ``on_zero_shot`` and ``on_round`` are called with each result as soon as it is measured.
    """
    sim = Simulation(pool, evaluation, concept, calibration, config)
    zero_shot = sim.zero_shot()
    if on_zero_shot is not None:
        on_zero_shot(zero_shot)
    state = sim.start(rater)
    if on_round is not None:
        on_round(state.rounds[-1])
    for _ in range(config.rounds):
        state = sim.step(state, rater, config.strategy, config.batch)
        if on_round is not None:
            on_round(state.rounds[-1])
    return SimulationResult(
        zero_shot,
        state.rounds,
        np.asarray(state.rated, dtype=np.int64),
        np.asarray(state.answers, dtype=np.int64),
    )


@dataclass(frozen=True)
class Arm:
    """One branch of a comparison: ``rounds`` AL rounds of ``batch`` items by ``strategy``."""

    strategy: str
    batch: int
    rounds: int


def compare_arms(
    sim: Simulation, rater: Rater, arms: dict[str, Arm]
) -> tuple[RoundResult, dict[str, list[RoundResult]]]:
    """Run several AL arms from one shared round 0 (same expansion, ratings and 1x16 model).

    Sharing round 0 makes the arms' differences those of the strategies alone, and
    saves one expansion and one training per arm. Returns round 0 and, per arm name,
    its AL rounds 1..rounds. The rater may be asked about the same item in two arms
    (each arm is a separate expert), never twice within one arm.
    """
    start = sim.start(rater)
    out: dict[str, list[RoundResult]] = {}
    for name, arm in arms.items():
        state = start.copy()
        for _ in range(arm.rounds):
            state = sim.step(state, rater, arm.strategy, arm.batch)
        out[name] = state.rounds[1:]
    return start.rounds[0], out
