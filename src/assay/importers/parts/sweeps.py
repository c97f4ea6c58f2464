"""Sweeps: each sweep of the project with its search space and every trial (number,
parameters, run id, worker, state, value) in ``sweeps.jsonl``. Read back, a sweep the
target holds already (same name, method and space) is kept, each trial it lacks is
claimed again under its number and finished as it ended; the trials are then compared."""

from __future__ import annotations

import msgspec

from assay.errors import AssayError
from assay.importers import bundle
from assay.importers.job import Exporting, Importing
from assay.records import Sweep, SweepDraft, Trial, TrialClaim, TrialResult

RUNNING = "running"


class SweepLine(msgspec.Struct, kw_only=True, frozen=True):
    sweep: Sweep
    trials: list[Trial]


def write(ctx: Exporting) -> None:
    sweeps = ctx.store.sweeps.list(ctx.project)[::-1]  # oldest first
    lines = [SweepLine(sweep=s, trials=ctx.store.sweeps.trials(s.id)) for s in sweeps]
    ctx.counts.sweeps = bundle.write_lines(ctx.root / bundle.SWEEPS, lines)
    ctx.counts.trials = sum(len(line.trials) for line in lines)


def read(job: Importing) -> None:
    for line in bundle.read_lines(job.root / bundle.SWEEPS, SweepLine):
        try:
            _sweep(job, line)
        except AssayError as exc:
            job.problem(f"sweep {line.sweep.name} ({line.sweep.id}): {exc}")


def _sweep(job: Importing, line: SweepLine) -> None:
    store, old = job.store, line.sweep
    same = [
        s
        for s in store.sweeps.list(job.project)
        if (s.name, s.method, s.spec, s.max_trials)
        == (old.name, old.method, old.spec, old.max_trials)
    ]
    sweep = (
        same[-1]
        if same
        else store.sweeps.create(
            SweepDraft(
                project=job.project,
                name=old.name,
                method=old.method,
                spec=old.spec,
                max_trials=old.max_trials,
            )
        )
    )
    have = {t.number: t for t in store.sweeps.trials(sweep.id)}
    for trial in line.trials:
        there = have.get(trial.number)
        if there is None:
            claim = TrialClaim(
                number=trial.number, params=trial.params, run_id=trial.run_id, worker=trial.worker
            )
            there = store.sweeps.claim(sweep.id, claim)
        if there.state == RUNNING and trial.state != RUNNING:
            result = TrialResult(state=trial.state, value=trial.value)
            there = store.sweeps.finish(sweep.id, trial.number, result)
        if _fields(there) != _fields(trial):
            job.problem(f"sweep {old.name}: trial {trial.number} differs in the target")
            continue
        job.found.trials += 1
    job.found.sweeps += 1


def _fields(trial: Trial) -> tuple[object, ...]:
    return (trial.number, trial.run_id, trial.params, trial.state, trial.value, trial.worker)
