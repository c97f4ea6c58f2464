"""Bradley-Terry: a ranking with intervals from pairwise preferences ``(a, b, winner)``.

P(a beats b) = 1 / (1 + exp(-(s_a - s_b))). Scores ``s`` maximise the log-likelihood
minus ``ridge / 2 * sum(s ** 2)`` (Newton's method with step halving): the small ridge
keeps the score of an item that never lost (or never won) finite, and makes the scores
sum to zero. Intervals are ``s ± z * se`` with ``se`` from the inverse of the penalised
Fisher information, restricted to scores that sum to zero (the likelihood cannot tell a
shift of all scores). A tie (winner empty, ``tie`` or ``draw``) counts half a win each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from assay.errors import InvalidInput
from assay.labeling.data import _sorted_codes, name_some, require_columns

if TYPE_CHECKING:
    import pandas as pd

RIDGE = 0.01
TIES = {"", "tie", "draw"}


@dataclass
class Ranking:
    """``table``: item, rank, score, low, high, wins, losses, comparisons; best first."""

    table: pd.DataFrame
    level: float
    groups: int  # connected groups of items in the comparison graph
    warnings: list[str] = field(default_factory=list)


def _outcomes(frame: pd.DataFrame) -> np.ndarray:
    """Per row, the share of the win that goes to ``a`` (1, 0 or 0.5 for a tie)."""
    a, b, winner = (frame[c].astype(str).to_numpy() for c in ("a", "b", "winner"))
    tie = frame["winner"].isna().to_numpy() | np.isin(np.char.lower(winner.astype(str)), list(TIES))
    bad = ~(tie | (winner == a) | (winner == b))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InvalidInput(
            f"preferences: the winner must be a, b or a tie; row(s) {name_some(rows.tolist())} "
            f"name {name_some(sorted(set(winner[bad].tolist())))}"
        )
    same = a == b
    if same.any():
        raise InvalidInput(
            f"preferences: row(s) {name_some(np.flatnonzero(same).tolist())} compare an item "
            "with itself"
        )
    return np.where(tie, 0.5, (winner == a).astype(float))


def _objective(scores: np.ndarray, i: np.ndarray, j: np.ndarray, won: np.ndarray) -> float:
    diff = scores[i] - scores[j]
    log_lik = won * -np.logaddexp(0, -diff) + (1 - won) * -np.logaddexp(0, diff)
    return float(log_lik.sum() - RIDGE / 2 * scores @ scores)


def _gradient_hessian(
    scores: np.ndarray, i: np.ndarray, j: np.ndarray, won: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = len(scores)
    p = 1 / (1 + np.exp(-(scores[i] - scores[j])))
    residual = won - p
    gradient = np.bincount(i, residual, n) - np.bincount(j, residual, n) - RIDGE * scores
    weight = p * (1 - p)
    info = np.zeros(n * n)
    np.add.at(info, i * n + i, weight)
    np.add.at(info, j * n + j, weight)
    np.add.at(info, i * n + j, -weight)
    np.add.at(info, j * n + i, -weight)
    return gradient, info.reshape(n, n) + RIDGE * np.eye(n)


def _fit(n: int, i: np.ndarray, j: np.ndarray, won: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.zeros(n)
    current = _objective(scores, i, j, won)
    for _ in range(100):
        gradient, info = _gradient_hessian(scores, i, j, won)
        step = np.linalg.solve(info, gradient)
        size = 1.0
        while size > 1e-8:
            value = _objective(scores + size * step, i, j, won)
            if value >= current - 1e-12:
                break
            size /= 2
        else:
            break  # no step improves the objective: at the optimum to rounding
        scores, current = scores + size * step, value
        if float(np.abs(size * step).max()) < 1e-10:
            break
    _, info = _gradient_hessian(scores, i, j, won)
    return scores, info


def bradley_terry(
    df: pd.DataFrame,
    a_column: str = "a",
    b_column: str = "b",
    winner_column: str = "winner",
    level: float = 0.95,
) -> Ranking:
    """Rank the items compared in ``df``; see the module for the model and the intervals."""
    import pandas as pd
    from scipy import sparse, stats
    from scipy.sparse.csgraph import connected_components

    require_columns(df, [a_column, b_column, winner_column], "preferences")
    frame = df[[a_column, b_column, winner_column]].copy()
    frame.columns = ["a", "b", "winner"]
    if frame[["a", "b"]].isna().any().any():
        raise InvalidInput("preferences: some rows have no a or no b")
    won = _outcomes(frame)
    codes, names = _sorted_codes(pd.concat([frame["a"], frame["b"]], ignore_index=True))
    n, rows = len(names), len(frame)
    i, j = codes[:rows], codes[rows:]
    order = np.lexsort((won, j, i))
    i, j, won = i[order], j[order], won[order]
    scores, info = _fit(n, i, j, won)
    covariance = np.linalg.inv(info) - np.ones((n, n)) / (RIDGE * n)
    se = np.sqrt(np.clip(np.diag(covariance), 0, None))
    z = float(stats.norm.ppf(0.5 + level / 2))
    graph = sparse.coo_matrix((np.ones(rows), (i, j)), shape=(n, n))
    groups = int(connected_components(graph, directed=False)[0])
    wins = np.bincount(i, won, n) + np.bincount(j, 1 - won, n)
    games = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    table = pd.DataFrame(
        {
            "item": names,
            "score": scores,
            "low": scores - z * se,
            "high": scores + z * se,
            "wins": wins,
            "losses": games - wins,
            "comparisons": games,
        }
    )
    table = table.iloc[np.lexsort((np.arange(n), -scores))].reset_index(drop=True)
    table.insert(1, "rank", np.arange(1, n + 1))
    notes = []
    if groups > 1:
        notes.append(
            f"the comparisons form {groups} separate groups: scores in different groups are "
            "not comparable (their intervals are very wide)"
        )
    return Ranking(table, level, groups, notes)
