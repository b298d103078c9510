"""Pure aggregation engine: integer-coded answers in, labels and confidences out.

numpy/scipy only, never Django. Entry point: ``aggregate(method, answers, ...)`` over
the ``METHODS`` registry; see ``docs/aggregation.md`` for the methods, the tie rule,
the accuracy epsilon and the benchmarks.
"""

from ._core import ACCURACY_EPS, PROB_FLOOR, TIE_ATOL, decide
from .accuracy import AccuracyEstimate, BetaSummary, beta_summary, estimate_accuracies
from .encoding import AnswerKinds, EncodedAnswers, encode, read_answers_csv, read_labels_csv
from .errors import (
    AggregationError,
    DimensionMismatchError,
    EmptyAnswersError,
    InvalidAnswersError,
    MalformedCSVError,
    UnknownMethodError,
)
from .policies import ConfidenceThreshold, StepDecision, UncertaintySampling, next_worker
from .registry import METHODS, aggregate, get_method
from .simulate import SimulationConfig, SimulationReport, simulate
from .types import AggregationResult, Answers

__all__ = [
    "ACCURACY_EPS",
    "METHODS",
    "PROB_FLOOR",
    "TIE_ATOL",
    "AccuracyEstimate",
    "AggregationError",
    "AggregationResult",
    "AnswerKinds",
    "BetaSummary",
    "Answers",
    "ConfidenceThreshold",
    "DimensionMismatchError",
    "EmptyAnswersError",
    "EncodedAnswers",
    "InvalidAnswersError",
    "MalformedCSVError",
    "SimulationConfig",
    "SimulationReport",
    "StepDecision",
    "UncertaintySampling",
    "UnknownMethodError",
    "aggregate",
    "beta_summary",
    "decide",
    "encode",
    "estimate_accuracies",
    "get_method",
    "next_worker",
    "read_answers_csv",
    "read_labels_csv",
    "simulate",
]
