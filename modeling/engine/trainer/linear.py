"""The linear head: L2-regularised logistic regression on standardised features.

scikit-learn's ``LogisticRegression`` (L-BFGS) does the fitting; it is the well-kept
reference implementation of the linear probe that frozen-feature papers (CLIP among
them) report. A regularisation *path* over increasing C is fitted with warm starts, so
each further C costs a few L-BFGS iterations from the previous solution.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

#: L-BFGS iteration cap per C (warm-started, a path step rarely needs 50).
MAX_ITER = 300


def fit_path(
    z: np.ndarray, y: np.ndarray, weights: np.ndarray, cs: tuple[float, ...]
) -> list[tuple[np.ndarray, float]]:
    """``(coef (d,) float32, intercept)`` for each C of ``cs`` (ascending), on standardised
    rows ``z`` (n, d), labels ``y`` (n,) in {0, 1} and ``weights`` (n,) > 0.

    sklearn minimises ``C * sum_i w_i loss_i + ||coef||^2 / 2``; callers scale weights to
    sum to n so C means what it means for unweighted data.
    """
    model = LogisticRegression(C=cs[0], max_iter=MAX_ITER, tol=1e-4, warm_start=True)
    out = []
    with warnings.catch_warnings():
        # A capped path step is still a usable, regularised solution: no warning spam.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for c in cs:
            model.set_params(C=c)
            model.fit(z, y, sample_weight=weights)
            out.append((model.coef_[0].astype(np.float32), float(model.intercept_[0])))
    return out


def linear_logits(z: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    """Logits (n,) float64 of standardised rows ``z`` (n, d)."""
    out: np.ndarray = z @ coef.astype(np.float64) + intercept
    return out
