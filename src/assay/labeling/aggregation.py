"""``consensus`` and ``aggregate``: one label per item from many workers' labels.

Methods: ``mv`` (majority vote), ``ds`` (Dawid-Skene, a confusion matrix per worker),
``one-coin`` (Dawid-Skene with one accuracy per worker), ``glad`` (worker ability and item
difficulty), ``mace`` (each worker knows or spams with a strategy of their own) and
``auto``, which picks among the first three by the rule in :func:`choose_method`, or,
given enough gold items, among all of them by held-out gold accuracy
(:func:`select_by_gold`). Gold
labels, when given, are fixed in every EM step, so they teach the method how each worker
errs, and the known items keep their gold label.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import InvalidInput
from assay.labeling import methods
from assay.labeling.data import Encoded, encode

if TYPE_CHECKING:
    import pandas as pd

METHODS = ("auto", "mv", "ds", "one-coin", "glad", "mace")
ALIASES = {
    "majority": "mv",
    "majority-vote": "mv",
    "dawid-skene": "ds",
    "onecoin": "one-coin",
    "one_coin": "one-coin",
}
PER_PARAMETER = 5  # labels a worker needs per free parameter of its error model
GOLD_FOLDS = 5
SELECT_GOLD = 20  # gold items (with labels) before auto picks its method by held-out accuracy
CANDIDATES = ("mv", "one-coin", "ds", "mace", "glad")  # simplest first: ties go to the first


@dataclass
class ConsensusResult:
    """What ``aggregate`` found.

    - ``labels``: one row per item: ``item, label, confidence`` (the posterior
      probability of the chosen label; under majority vote, its share of the votes).
    - ``posteriors``: items x classes, indexed by item.
    - ``workers``: per worker: ``labels`` (votes given), ``accuracy`` (expected share of
      votes that match the true label under the fitted posteriors) and, with gold,
      ``gold_labels`` and ``gold_accuracy`` (on the gold items only).
    - ``confusion``: workers x true class x given label (None for majority vote and
      GLAD); see :meth:`confusion_matrix`.
    - MACE: the ``workers`` table has ``competence`` (the chance a label is known rather
      than drawn from the worker's own spamming strategy).
    - ``difficulty``: GLAD only, per item (1 / ease: higher is harder; 1 is typical); the
      ``workers`` table then has ``ability`` too (0 is chance, negative is adversarial).
    - ``gold_accuracy``: with gold, accuracy on the gold items when each fifth of them is
      hidden in turn and the rest are used (a held-out estimate; None without gold).
    """

    labels: pd.DataFrame
    posteriors: pd.DataFrame
    workers: pd.DataFrame
    confusion: np.ndarray | None
    classes: list[Any]
    method: str
    requested: str
    reason: str
    iterations: int = 0
    converged: bool = True
    gold_accuracy: float | None = None
    warnings: list[str] = field(default_factory=list)
    difficulty: pd.Series | None = None

    def confusion_matrix(self, worker: Any) -> pd.DataFrame:
        """One worker's confusion matrix: rows are true classes, columns the labels given."""
        import pandas as pd

        if self.confusion is None:
            raise InvalidInput(f"method {self.method!r} estimates no confusion matrices")
        names = self.workers["worker"].tolist()
        if worker not in names:
            raise InvalidInput(f"unknown worker {worker!r}")
        matrix = self.confusion[names.index(worker)]
        return pd.DataFrame(matrix, index=self.classes, columns=self.classes)


def normalise_method(method: str) -> str:
    name = ALIASES.get(method.lower(), method.lower())
    if name not in METHODS:
        raise InvalidInput(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return name


def choose_method(enc: Encoded) -> tuple[str, str]:
    """The ``auto`` rule without enough gold (see select_by_gold), with the reason.

    - fewer than two workers, or no item with two votes: ``mv`` (nothing to compare);
    - at least half of the votes come from workers with 5 votes per free parameter of a
      confusion matrix (5 K (K - 1)) and items have a median of 3 or more votes: ``ds``;
    - at least half of the votes come from workers with 5 or more votes: ``one-coin``;
    - otherwise ``mv``.
    """
    per_worker = np.bincount(enc.worker, enc.weight, enc.n_workers)
    per_item = np.bincount(enc.item, enc.weight, enc.n_items)
    total = float(per_worker.sum())
    k = enc.n_classes
    if enc.n_workers < 2 or per_item.max() < 2:
        return "mv", "fewer than two workers or votes per item: no worker quality to learn"
    need = PER_PARAMETER * k * (k - 1)
    full = float(per_worker[per_worker >= need].sum()) / total
    if full >= 0.5 and float(np.median(per_item)) >= 3:
        return "ds", f"{full:.1%} of votes from workers with >= {need} votes, >= 3 per item"
    coin = float(per_worker[per_worker >= PER_PARAMETER].sum()) / total
    if coin >= 0.5:
        return "one-coin", f"{coin:.1%} of votes from workers with >= {PER_PARAMETER} votes"
    return "mv", "most votes come from workers with too few votes to rate them"


def select_by_gold(
    enc: Encoded, rule: str, max_iterations: int, tolerance: float
) -> tuple[str, str, float]:
    """With SELECT_GOLD gold items or more, ``auto`` fits every method in CANDIDATES with
    each fifth of the gold hidden in turn and keeps the one with the best accuracy on the
    hidden gold (model selection by held-out gold accuracy); a tie goes to the rule's
    choice (choose_method), then to the simpler method. Returns (method, reason, its
    held-out accuracy)."""
    scores = {m: _held_out_accuracy(enc, m, max_iterations, tolerance) or 0.0 for m in CANDIDATES}
    best = max(scores.values())
    tied = [m for m in CANDIDATES if scores[m] == best]
    chosen = rule if rule in tied else tied[0]
    shown = ", ".join(f"{m} {scores[m]:.4f}" for m in CANDIDATES)
    count = int((enc.gold >= 0).sum())
    return chosen, f"best held-out accuracy on {count} gold items ({shown})", scores[chosen]


def fit(enc: Encoded, method: str, max_iterations: int, tolerance: float) -> methods.Fit:
    from assay.labeling.glad import glad
    from assay.labeling.mace import mace

    start = methods.majority(enc)
    if method == "mv":
        return start
    algorithm = {
        "ds": methods.dawid_skene,
        "one-coin": methods.one_coin,
        "glad": glad,
        "mace": mace,
    }[method]
    return algorithm(enc, start.posteriors, max_iterations, tolerance)


def aggregate(  # noqa: PLR0917 - public API: positional calls keep working
    df: pd.DataFrame,
    method: str = "auto",
    gold: pd.DataFrame | None = None,
    item_column: str = "item",
    worker_column: str = "worker",
    label_column: str = "label",
    max_iterations: int = methods.MAX_ITERATIONS,
    tolerance: float = methods.TOLERANCE,
) -> ConsensusResult:
    """Consensus labels, posteriors and worker quality from a long table of labels.

    ``df`` has one row per (item, worker, label); ``gold`` (optional) has ``item_column``
    and ``label_column``. Raises InvalidInput naming the problem for a bad table.
    """
    requested = normalise_method(method)
    if max_iterations < 1:
        raise InvalidInput(f"max_iterations must be at least 1, not {max_iterations}")
    enc = encode(df, gold, item_column, worker_column, label_column)
    chosen, reason = choose_method(enc) if requested == "auto" else (requested, "asked for")
    held_out: float | None = None
    if requested == "auto" and int((enc.gold >= 0).sum()) >= SELECT_GOLD:
        chosen, reason, held_out = select_by_gold(enc, chosen, max_iterations, tolerance)
    result = fit(enc, chosen, max_iterations, tolerance)
    notes = list(enc.warnings)
    if enc.n_workers == 1:
        notes.append("only one worker: the labels are that worker's, with nothing to check them")
    if not result.converged:
        notes.append(f"EM did not converge in {max_iterations} iterations")
    if held_out is None:
        held_out = _held_out_accuracy(enc, chosen, max_iterations, tolerance)
    return _result(
        enc=enc,
        fitted=result,
        method=chosen,
        requested=requested,
        reason=reason,
        gold_accuracy=held_out,
        notes=notes,
    )


def consensus(  # noqa: PLR0917 - public API: positional calls keep working
    df: pd.DataFrame,
    method: str = "auto",
    gold: pd.DataFrame | None = None,
    item_column: str = "item",
    worker_column: str = "worker",
    label_column: str = "label",
) -> pd.DataFrame:
    """One row per item: ``item, label, confidence``. See :func:`aggregate` for the rest."""
    return aggregate(df, method, gold, item_column, worker_column, label_column).labels


def _held_out_accuracy(
    enc: Encoded, method: str, max_iterations: int, tolerance: float
) -> float | None:
    """Accuracy on gold items, each fold of them hidden while the others are used."""
    known = np.flatnonzero(enc.gold >= 0)
    if len(known) == 0:
        return None
    correct = 0
    rank = methods.priority(enc)
    for fold in range(min(GOLD_FOLDS, len(known))):
        hidden = known[fold::GOLD_FOLDS]
        gold = enc.gold.copy()
        gold[hidden] = -1
        trial = replace(enc, gold=gold)
        posteriors = fit(trial, method, max_iterations, tolerance).posteriors[hidden]
        correct += int((methods.pick(posteriors, rank) == enc.gold[hidden]).sum())
    return correct / len(known)


def _result(
    enc: Encoded,
    fitted: methods.Fit,
    method: str,
    requested: str,
    reason: str,
    *,
    gold_accuracy: float | None,
    notes: list[str],
) -> ConsensusResult:
    import pandas as pd

    chosen = methods.pick(fitted.posteriors, methods.priority(enc))
    confidence = fitted.posteriors[np.arange(enc.n_items), chosen]
    labels = pd.DataFrame(
        {"item": enc.items, "label": enc.classes[chosen], "confidence": confidence}
    )
    index = pd.Index(enc.items, name="item")
    posteriors = pd.DataFrame(fitted.posteriors, index=index, columns=list(enc.classes))
    workers = _workers(enc, fitted.posteriors)
    difficulty = None
    if method == "mace" and fitted.ability is not None:
        workers["competence"] = fitted.ability  # the chance a label is known, not spam
    if fitted.difficulty is not None and fitted.ability is not None:
        workers["ability"] = fitted.ability
        difficulty = pd.Series(fitted.difficulty, index=index, name="difficulty")
    return ConsensusResult(
        labels=labels,
        posteriors=posteriors,
        workers=workers,
        confusion=fitted.confusion,
        classes=list(enc.classes),
        method=method,
        requested=requested,
        reason=reason,
        iterations=fitted.iterations,
        converged=fitted.converged,
        gold_accuracy=gold_accuracy,
        warnings=notes,
        difficulty=difficulty,
    )


def _workers(enc: Encoded, posteriors: np.ndarray) -> pd.DataFrame:
    import pandas as pd

    n = enc.n_workers
    votes = np.bincount(enc.worker, enc.weight, n)
    agree = np.bincount(enc.worker, enc.weight * posteriors[enc.item, enc.label], n)
    table = pd.DataFrame({"worker": enc.workers, "labels": votes, "accuracy": agree / votes})
    if (enc.gold >= 0).any():
        on_gold = enc.gold[enc.item] >= 0
        right = on_gold & (enc.gold[enc.item] == enc.label)
        gold_votes = np.bincount(enc.worker, enc.weight * on_gold, n)
        gold_right = np.bincount(enc.worker, enc.weight * right, n)
        table["gold_labels"] = gold_votes
        with np.errstate(invalid="ignore", divide="ignore"):
            table["gold_accuracy"] = np.where(gold_votes > 0, gold_right / gold_votes, np.nan)
    return table
