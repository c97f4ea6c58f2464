"""``store.sweeps`` on SQL: a sweep's row, and one row per trial whose primary key
(sweep, number) is the claim agents race for (docs/sweeps.md)."""

from __future__ import annotations

import math
import time
from typing import Any

import sqlalchemy as sa

from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_run_id
from assay.records import (
    SWEEP_METHODS,
    TRIAL_STATES,
    Sweep,
    SweepDraft,
    Trial,
    TrialClaim,
    TrialResult,
)
from assay.store.sql import audit
from assay.store.sql.schema import projects, sweep_trials, sweeps
from assay.store.sql.tx import Database
from assay.store.validate import user_strings
from assay.values import check_project, check_text

MAX_TRIALS = 1_000_000


def _sweep(row: Any) -> Sweep:
    return Sweep(
        id=row.id,
        project=row.project,
        name=row.name,
        method=row.method,
        spec=row.spec,
        max_trials=row.max_trials,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _trial(row: Any) -> Trial:
    return Trial(
        sweep_id=row.sweep_id,
        number=row.number,
        run_id=row.run_id,
        params=row.params,
        state=row.state,
        value=row.value,
        worker=row.worker,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def check_draft(draft: SweepDraft) -> None:
    check_project(draft.project)
    check_text("sweep name", draft.name, single_line=True)
    if draft.method not in SWEEP_METHODS:
        raise InvalidInput(
            f"sweep method {draft.method!r} is not one of {', '.join(SWEEP_METHODS)}"
        )
    if draft.max_trials is not None and not 1 <= draft.max_trials <= MAX_TRIALS:
        raise InvalidInput(f"max_trials must be 1..{MAX_TRIALS}, not {draft.max_trials}")
    user_strings("spec", draft.spec)


class SqlSweeps:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, draft: SweepDraft, actor: str | None = None) -> Sweep:
        check_draft(draft)
        now = time.time()
        sweep_id = new_run_id()
        with self.db.write("create a sweep", actor) as tx:
            tx.conn.execute(
                tx.insert(projects).on_conflict_do_nothing(),
                {"name": draft.project, "created_at": now},
            )
            row = {
                "id": sweep_id,
                "project": draft.project,
                "name": draft.name,
                "method": draft.method,
                "spec": draft.spec,
                "max_trials": draft.max_trials,
                "created_at": now,
                "created_by": tx.actor,
            }
            tx.conn.execute(sweeps.insert(), row)
            change = {"project": draft.project, "name": draft.name, "method": draft.method}
            audit.append(tx.conn, tx.actor, "sweep.created", f"sweep:{sweep_id}", change)
        return self.get(sweep_id)

    def get(self, sweep_id: str) -> Sweep:
        with self.db.read() as conn:
            row = conn.execute(sa.select(sweeps).where(sweeps.c.id == sweep_id)).first()
        if row is None:
            raise NotFound(f"no sweep with id {sweep_id!r}")
        return _sweep(row)

    def claim(self, sweep_id: str, claim: TrialClaim, actor: str | None = None) -> Trial:
        sweep = self.get(sweep_id)
        if type(claim.number) is not int or claim.number < 0:
            raise InvalidInput(f"trial number must be a whole number >= 0, not {claim.number!r}")
        if sweep.max_trials is not None and claim.number >= sweep.max_trials:
            raise InvalidInput(
                f"sweep {sweep_id} holds {sweep.max_trials} trials: it has no trial {claim.number}"
            )
        check_text("run id", claim.run_id, 32, single_line=True)
        check_text("worker", claim.worker, 64, single_line=True)
        user_strings("params", claim.params)
        row = {
            "sweep_id": sweep_id,
            "number": claim.number,
            "run_id": claim.run_id,
            "params": claim.params,
            "state": "running",
            "value": None,
            "worker": claim.worker,
            "started_at": time.time(),
            "finished_at": None,
        }
        with self.db.write("claim a trial", actor) as tx:
            query = (
                tx.insert(sweep_trials).on_conflict_do_nothing().returning(sweep_trials.c.number)
            )
            if tx.conn.execute(query, row).first() is None:
                raise Conflict(f"trial {claim.number} of sweep {sweep_id} is claimed already")
        return self._trial(sweep_id, claim.number)

    def finish(
        self, sweep_id: str, number: int, result: TrialResult, actor: str | None = None
    ) -> Trial:
        if result.state not in TRIAL_STATES or result.state == "running":
            raise InvalidInput(f"a trial ends complete, pruned or failed, not {result.state!r}")
        value = result.value
        if value is not None and not math.isfinite(value):
            value = None  # a diverged trial has no value to compare
        where = (sweep_trials.c.sweep_id == sweep_id, sweep_trials.c.number == number)
        with self.db.write("finish a trial", actor) as tx:
            done = tx.conn.execute(
                sweep_trials.update()
                .where(*where, sweep_trials.c.state == "running")
                .values(state=result.state, value=value, finished_at=time.time())
            )
            if done.rowcount == 0:
                current = self._trial(sweep_id, number)  # NotFound if there is no such trial
                raise Conflict(f"trial {number} of sweep {sweep_id} is {current.state} already")
        return self._trial(sweep_id, number)

    def _trial(self, sweep_id: str, number: int) -> Trial:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(sweep_trials).where(
                    sweep_trials.c.sweep_id == sweep_id, sweep_trials.c.number == number
                )
            ).first()
        if row is None:
            raise NotFound(f"sweep {sweep_id} has no trial {number}")
        return _trial(row)

    def trials(self, sweep_id: str) -> list[Trial]:
        self.get(sweep_id)
        query = (
            sa.select(sweep_trials)
            .where(sweep_trials.c.sweep_id == sweep_id)
            .order_by(sweep_trials.c.number)
        )
        with self.db.read() as conn:
            return [_trial(r) for r in conn.execute(query)]

    def project_of(self, sweep_id: str) -> str:
        return self.get(sweep_id).project

    def list(self, project: str) -> list[Sweep]:
        query = (
            sa.select(sweeps)
            .where(sweeps.c.project == project)
            .order_by(sweeps.c.created_at.desc(), sweeps.c.id.desc())
        )
        with self.db.read() as conn:
            return [_sweep(r) for r in conn.execute(query)]
