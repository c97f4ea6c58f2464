"""One page of a project's runs under a filter, and how many runs match, for the runs table.

A filter's comparisons can be answered two ways (store/sql/filters.py): over the project's
cells, one index range per comparison, each built into a set in full and then probed for
every run of the project; or per run, the run's own cell looked up. Sets cost the same
whatever the page asked for; lookups cost per run examined. So a page at the top of an
order an index keeps (newest first, or one summary key) is first looked for by walking
that index with lookups, among its first ``WINDOW`` runs at most, stopping once the page
is full: the first pages of a broad filter cost a few hundred lookups instead of a pass
over every run of the project. A narrow filter, a deep page or another order leaves the
walk short, and the sets answer as before.

Counting works the same way: ``count_up_to`` matches are looked for among the newest
``WINDOW`` runs; when they are found, the count stops there ("more than"); else the sets
count exactly. A filter that keeps many runs is counted in a few thousand lookups, and
one that keeps few exactly; the exact count of a broad filter is a request of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from assay.query.filter import parse_order
from assay.store.sql.filters import FilterCompiler
from assay.store.sql.schema import run_cells, runs

WINDOW = 5000  # runs a walk looks at before the filter's sets answer instead


@dataclass(frozen=True)
class Scope:
    """The runs a table shows before its filter: a project's, deleted or not."""

    project: str
    clauses: tuple[sa.ColumnElement[bool], ...]


def walked(
    conn: sa.Connection,
    compiler: FilterCompiler,
    scope: Scope,
    *,
    where: Sequence[sa.ColumnElement[bool]],
    order_by: Sequence[str],
    page: tuple[int, int],
) -> list[str] | None:
    """The ids of the page (limit, offset), in order, when a walk of the order's index
    finds all of it (``where`` tests each run on its own cells); None when it does not."""
    limit, offset = page
    candidates = _candidates(compiler, scope, order_by)
    if candidates is None:
        return None
    for size in _windows(offset + limit):
        window = candidates.limit(size).subquery()
        query = (
            sa.select(runs.c.id)
            .select_from(window.join(runs, runs.c.id == window.c.id))
            .where(*where)
            .order_by(*_window_order(window, order_by))
            .limit(limit)
            .offset(offset)
        )
        found = [row[0] for row in conn.execute(query)]
        if len(found) == limit:
            return found
    return None


def counted(
    conn: sa.Connection, scope: Scope, where: Sequence[sa.ColumnElement[bool]], up_to: int
) -> int | None:
    """``up_to + 1`` when that many of the newest ``WINDOW`` runs match ``where`` (tested
    run by run); None when fewer do and only a full count can tell."""
    for size in _windows(up_to + 1):
        window = _newest(scope).limit(size).subquery()
        matches = (
            sa.select(sa.literal(1))
            .select_from(window.join(runs, runs.c.id == window.c.id))
            .where(*where)
            .limit(up_to + 1)
            .subquery()
        )
        found = int(conn.execute(sa.select(sa.func.count()).select_from(matches)).scalar_one())
        if found > up_to:
            return found
    return None


def _windows(wanted: int) -> list[int]:
    """How many runs each try of a walk looks at: eight times what it wants (a filter
    that keeps one run in eight is done at once), then WINDOW."""
    if wanted > WINDOW:
        return []
    return sorted({min(8 * wanted, WINDOW), WINDOW})


def _candidates(
    compiler: FilterCompiler, scope: Scope, order_by: Sequence[str]
) -> sa.Select[Any] | None:
    """The project's runs in the page's order, as an index walks them, or None when no
    index keeps that order: newest first, or by one summary (its runs without a number
    come last, so a walk of the cells stops before them)."""
    if not order_by or tuple(order_by) == ("-created",):
        return _newest(scope)
    if len(order_by) != 1:
        return None
    field, descending = parse_order(order_by[0])
    cell = compiler.sort_cell(field)
    if cell is None:
        return None
    c = run_cells.c
    number = c.num.desc() if descending else c.num.asc()
    return (
        sa.select(c.run_id.label("id"), c.num.label("key"))
        .where(c.project == scope.project, c.kind == cell[0], c.key == cell[1])
        .where(c.num.is_not(None))
        .order_by(number, c.run_id.desc())
    )


def _newest(scope: Scope) -> sa.Select[Any]:
    """The project's shown runs newest first (the index on runs keeps them so)."""
    return (
        sa.select(runs.c.id.label("id"), runs.c.created_at.label("key"))
        .where(*scope.clauses)
        .order_by(runs.c.created_at.desc(), runs.c.id.desc())
    )


def _window_order(window: Any, order_by: Sequence[str]) -> list[sa.ColumnElement[Any]]:
    descending = not order_by or parse_order(order_by[0])[1]
    key = window.c.key.desc() if descending else window.c.key.asc()
    return [key, window.c.id.desc()]
