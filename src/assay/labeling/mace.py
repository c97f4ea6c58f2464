"""MACE (Hovy et al. 2013, "Learning Whom to Trust with MACE"): each worker either knows
the true label (with probability ``competence``) or spams, drawing a label from their
own ``strategy`` (for instance always the first choice), whatever the item.

Fitted by EM to a MAP estimate, with SMOOTHING pseudo-counts on the competence (a Beta
prior) and on each strategy (a Dirichlet prior), from the majority-vote posteriors; the
sums run over the sorted votes, so the result does not depend on the order of the rows.
A worker's confusion matrix is ``competence * I + (1 - competence) * strategy``.
"""

from __future__ import annotations

import numpy as np

from assay.labeling.data import Encoded
from assay.labeling.methods import (
    MAX_ITERATIONS,
    SMOOTHING,
    TOLERANCE,
    Fit,
    clamp,
    class_prior,
    softmax,
)


def _m_step(
    enc: Encoded, posteriors: np.ndarray, competence: np.ndarray, strategy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """New competence and strategies from the expected share of each vote that was known."""
    th = competence[enc.worker]
    xi = strategy[enc.worker, enc.label]
    knew = posteriors[enc.item, enc.label] * th / (th + (1 - th) * xi)
    n, k = enc.n_workers, enc.n_classes
    votes = np.bincount(enc.worker, enc.weight, n)
    known = np.bincount(enc.worker, enc.weight * knew, n)
    spread = np.bincount(enc.worker * k + enc.label, enc.weight * (1 - knew), n * k)
    spam = spread.reshape(n, k).astype(float) + SMOOTHING
    return (known + SMOOTHING) / (votes + 2 * SMOOTHING), spam / spam.sum(axis=1, keepdims=True)


def _e_step(
    enc: Encoded, posteriors: np.ndarray, competence: np.ndarray, strategy: np.ndarray
) -> np.ndarray:
    """Each vote for class c adds log P(c | true c) - log P(c | true other) to c."""
    th = competence[enc.worker]
    spam = (1 - th) * strategy[enc.worker, enc.label]
    lift = enc.weight * (np.log(th + spam) - np.log(spam))
    k = enc.n_classes
    scores = np.bincount(enc.item * k + enc.label, lift, enc.n_items * k).reshape(enc.n_items, k)
    return clamp(softmax(scores + np.log(class_prior(posteriors))), enc)


def mace(
    enc: Encoded,
    init: np.ndarray,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float = TOLERANCE,
) -> Fit:
    k = enc.n_classes
    posteriors = clamp(init.copy(), enc)
    competence = np.full(enc.n_workers, 0.5)
    strategy = np.full((enc.n_workers, k), 1.0 / k)
    converged, iteration = False, 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007
        competence, strategy = _m_step(enc, posteriors, competence, strategy)
        updated = _e_step(enc, posteriors, competence, strategy)
        change = float(np.abs(updated - posteriors).max())
        posteriors = updated
        if change < tolerance:
            converged = True
            break
    confusion = (1 - competence)[:, None, None] * strategy[:, None, :] + competence[
        :, None, None
    ] * np.eye(k)[None, :, :]
    return Fit(
        posteriors=posteriors,
        confusion=confusion,
        iterations=iteration,
        converged=converged,
        ability=competence,
    )
