"""The aggregation methods, on encoded labels: majority vote, Dawid-Skene, one-coin.

Each returns a :class:`Fit`: posteriors (items x classes) and, for the EM methods, each
worker's confusion matrix (true class x given label). Sums run over rows sorted by (item,
worker, label), so results are identical whatever the order of the input rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assay.labeling.data import Encoded

SMOOTHING = 1.0  # Dirichlet pseudo-count on every cell of a confusion row (and on priors)
TOLERANCE = 1e-6  # stop when no posterior moves by more than this
MAX_ITERATIONS = 100
TIE = 1e-12  # posteriors closer than this are a tie, broken by _pick


@dataclass(frozen=True, kw_only=True)
class Fit:
    posteriors: np.ndarray  # items x classes
    confusion: np.ndarray | None  # workers x true x given, rows sum to 1
    iterations: int = 0
    converged: bool = True
    ability: np.ndarray | None = None  # GLAD: per worker (negative: worse than chance)
    difficulty: np.ndarray | None = None  # GLAD: per item, 1 / ease (higher: harder)


def priority(enc: Encoded) -> np.ndarray:
    """Per class, a tie-break rank: the class with more votes overall wins, then the first."""
    total = np.bincount(enc.label, enc.weight, enc.n_classes)
    order = np.lexsort((np.arange(enc.n_classes), -total))
    rank = np.empty(enc.n_classes, dtype=np.int64)
    rank[order] = np.arange(enc.n_classes)[::-1]
    return rank


def pick(posteriors: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Argmax per row; among classes within TIE of the best, the one of highest rank."""
    best = posteriors.max(axis=1, keepdims=True)
    tied = posteriors >= best - TIE
    return np.asarray(np.argmax(np.where(tied, rank[None, :], -1), axis=1), dtype=np.int64)


def clamp(posteriors: np.ndarray, enc: Encoded) -> np.ndarray:
    """Items with a gold label get all their mass on it; the others none on a class that
    no worker ever gave (only gold knows it, so no vote can point to it)."""
    unvoted = np.flatnonzero(np.bincount(enc.label, minlength=enc.n_classes) == 0)
    if len(unvoted):
        posteriors[:, unvoted] = 0.0
        with np.errstate(invalid="ignore"):  # gold items of such a class: set just below
            posteriors /= posteriors.sum(axis=1, keepdims=True)
    known = np.flatnonzero(enc.gold >= 0)
    if len(known):
        posteriors[known] = 0.0
        posteriors[known, enc.gold[known]] = 1.0
    return posteriors


def majority(enc: Encoded) -> Fit:
    """Vote shares; an item's votes always sum to one per worker."""
    counts = enc.counts()
    return Fit(posteriors=clamp(counts / counts.sum(axis=1, keepdims=True), enc), confusion=None)


def softmax(log_posteriors: np.ndarray) -> np.ndarray:
    shifted = np.exp(log_posteriors - log_posteriors.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def _design(enc: Encoded):  # type: ignore[no-untyped-def]
    """Sparse items x (worker, label) matrix of vote weights, and its transpose."""
    from scipy import sparse

    k = enc.n_classes
    shape = (enc.n_items, enc.n_workers * k)
    matrix = sparse.csr_matrix((enc.weight, (enc.item, enc.worker * k + enc.label)), shape=shape)
    return matrix, matrix.T.tocsr()


def class_prior(posteriors: np.ndarray) -> np.ndarray:
    counts = posteriors.sum(axis=0) + SMOOTHING
    return np.asarray(counts / counts.sum())


def dawid_skene(
    enc: Encoded,
    init: np.ndarray,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float = TOLERANCE,
) -> Fit:
    """Full confusion matrices by EM (Dawid & Skene 1979), starting from ``init``.

    M step: per worker, expected counts of (true, given) plus SMOOTHING in every cell,
    normalised per true class. E step: log prior plus the sum of each vote's log
    probability, as one sparse product.
    """
    k, w = enc.n_classes, enc.n_workers
    by_item, by_pair = _design(enc)
    posteriors = clamp(init.copy(), enc)
    confusion = np.empty((w, k, k))
    converged, iteration = False, 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007
        expected = np.asarray(by_pair @ posteriors).reshape(w, k, k)  # worker, given, true
        counts = expected.transpose(0, 2, 1) + SMOOTHING  # worker, true, given
        confusion = counts / counts.sum(axis=2, keepdims=True)
        log_votes = np.log(confusion).transpose(0, 2, 1).reshape(w * k, k)
        log_post = np.asarray(by_item @ log_votes) + np.log(class_prior(posteriors))
        updated = clamp(softmax(log_post), enc)
        change = float(np.abs(updated - posteriors).max())
        posteriors = updated
        if change < tolerance:
            converged = True
            break
    return Fit(
        posteriors=posteriors, confusion=confusion, iterations=iteration, converged=converged
    )


def one_coin(
    enc: Encoded,
    init: np.ndarray,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float = TOLERANCE,
) -> Fit:
    """One accuracy per worker, errors spread evenly over the other classes, by EM.

    M step: accuracy = (expected correct + SMOOTHING) / (labels + 2 SMOOTHING). E step: a
    vote for class c adds log(acc) - log((1 - acc) / (K - 1)) to c (a weighted vote).
    """
    k = enc.n_classes
    posteriors = clamp(init.copy(), enc)
    labels = np.bincount(enc.worker, enc.weight, enc.n_workers)
    accuracy = np.full(enc.n_workers, 1.0 / k)
    converged, iteration = False, 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007
        correct = np.bincount(
            enc.worker, enc.weight * posteriors[enc.item, enc.label], enc.n_workers
        )
        accuracy = (correct + SMOOTHING) / (labels + 2 * SMOOTHING)
        vote = np.log(accuracy) - np.log((1 - accuracy) / max(k - 1, 1))
        scores = np.bincount(
            enc.item * k + enc.label, enc.weight * vote[enc.worker], enc.n_items * k
        ).reshape(enc.n_items, k)
        updated = clamp(softmax(scores + np.log(class_prior(posteriors))), enc)
        change = float(np.abs(updated - posteriors).max())
        posteriors = updated
        if change < tolerance:
            converged = True
            break
    return Fit(
        posteriors=posteriors,
        confusion=_one_coin_confusion(accuracy, k),
        iterations=iteration,
        converged=converged,
    )


def _one_coin_confusion(accuracy: np.ndarray, k: int) -> np.ndarray:
    off = (1 - accuracy) / max(k - 1, 1)
    confusion = np.repeat(off[:, None, None], k, axis=1).repeat(k, axis=2)
    index = np.arange(k)
    confusion[:, index, index] = accuracy[:, None]
    return confusion
