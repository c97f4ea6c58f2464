"""GLAD (Whitehill et al. 2009): worker ability and item difficulty, by EM.

A vote is right with probability sigmoid(ability_w * ease_i), with ease_i = exp(e_i) > 0
(difficulty = 1 / ease); a wrong vote is spread evenly over the other classes. Priors:
ability ~ N(1, 1), e ~ N(0, 1). M step: one Newton step on every worker's ability (the
objective is concave in it and separate per worker), then one Gauss-Newton step on every
item's e, each step capped at 1 in size. E step: as one-coin, with a weight per vote.
"""

from __future__ import annotations

import numpy as np

from assay.labeling.data import Encoded
from assay.labeling.methods import MAX_ITERATIONS, TOLERANCE, Fit, clamp, class_prior, softmax

STEP_CAP = 1.0


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(-np.logaddexp(0.0, -x))


def _slopes(enc: Encoded, a: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative (sign flipped) of each vote's log-likelihood in a."""
    p = 1 / (1 + np.exp(-a))
    return enc.weight * (right - p), enc.weight * p * (1 - p)


def _m_step(
    enc: Encoded, ability: np.ndarray, log_ease: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    ease = np.exp(log_ease)[enc.item]
    gradient, curvature = _slopes(enc, ability[enc.worker] * ease, right)
    step = (np.bincount(enc.worker, gradient * ease, enc.n_workers) - (ability - 1)) / (
        np.bincount(enc.worker, curvature * ease**2, enc.n_workers) + 1
    )
    ability = ability + np.clip(step, -STEP_CAP, STEP_CAP)
    a = ability[enc.worker] * ease
    gradient, curvature = _slopes(enc, a, right)
    step = (np.bincount(enc.item, gradient * a, enc.n_items) - log_ease) / (
        np.bincount(enc.item, curvature * a * a, enc.n_items) + 1
    )
    return ability, log_ease + np.clip(step, -STEP_CAP, STEP_CAP)


def _e_step(
    enc: Encoded, ability: np.ndarray, log_ease: np.ndarray, prior: np.ndarray
) -> np.ndarray:
    k = enc.n_classes
    a = ability[enc.worker] * np.exp(log_ease[enc.item])
    gain = _log_sigmoid(a) - (_log_sigmoid(-a) - np.log(max(k - 1, 1)))
    scores = np.bincount(enc.item * k + enc.label, enc.weight * gain, enc.n_items * k)
    return clamp(softmax(scores.reshape(enc.n_items, k) + np.log(prior)), enc)


def glad(
    enc: Encoded,
    init: np.ndarray,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float = TOLERANCE,
) -> Fit:
    posteriors = clamp(init.copy(), enc)
    ability, log_ease = np.ones(enc.n_workers), np.zeros(enc.n_items)
    converged, iteration = False, 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007
        right = posteriors[enc.item, enc.label]
        ability, log_ease = _m_step(enc, ability, log_ease, right)
        updated = _e_step(enc, ability, log_ease, class_prior(posteriors))
        change = float(np.abs(updated - posteriors).max())
        posteriors = updated
        if change < tolerance:
            converged = True
            break
    return Fit(
        posteriors=posteriors,
        confusion=None,
        iterations=iteration,
        converged=converged,
        ability=ability,
        difficulty=np.exp(-log_ease),
    )
