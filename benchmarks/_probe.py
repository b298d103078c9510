"""The strongest simple baseline for frozen features: a linear probe.

scikit-learn ``LogisticRegression`` on standardised features, its C chosen by stratified
5-fold cross-validation (log-loss) over half-decades 1e-4 .. 10 on the probe's own
labels: the evaluation CLIP's paper uses for its features, and what a new user would
try first. The agile benchmarks measure it on the loop's own labels and on the same
number of labels drawn uniformly at random from the pool.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

PROBE_CS = 10.0 ** np.arange(-4.0, 1.01, 0.5)
#: C used when there are too few positives to cross-validate (the issue's measured range).
FALLBACK_C = 0.01


def probe_scores(features: np.ndarray, labels: np.ndarray, evaluation: np.ndarray, seed: int) -> np.ndarray:
    """Positive-class scores (n_eval,) of a linear probe trained on ``features`` (n, d) with
    0/1 ``labels`` (n,); constant scores when the labels hold a single class."""
    y = np.asarray(labels, dtype=np.int64)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        return np.full(len(evaluation), float(n_pos > 0), dtype=np.float64)
    folds = min(5, n_pos, n_neg)
    if folds >= 2:
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        head = LogisticRegressionCV(Cs=PROBE_CS, cv=cv, scoring="neg_log_loss", max_iter=1000)
    else:
        head = LogisticRegression(C=FALLBACK_C, max_iter=1000)
    model = make_pipeline(StandardScaler(), head)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(np.asarray(features, dtype=np.float32), y)
        out: np.ndarray = model.predict_proba(np.asarray(evaluation, dtype=np.float32))[:, 1]
    return out
