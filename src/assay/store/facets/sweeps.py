"""``store.sweeps``: hyperparameter sweeps and their trials (docs/sweeps.md). The store
keeps the search space and each trial's claim, parameters, state and value; agents
sample (sdk/sweeps.py) and race to claim the next trial number: one claim per number
wins, so two agents never run the same trial."""

from __future__ import annotations

from typing import Protocol

from assay.records import Sweep, SweepDraft, Trial, TrialClaim, TrialResult


class Sweeps(Protocol):
    def create(self, draft: SweepDraft, actor: str | None = None) -> Sweep: ...

    def get(self, sweep_id: str) -> Sweep:
        """The sweep, or NotFound."""

    def claim(self, sweep_id: str, claim: TrialClaim, actor: str | None = None) -> Trial:
        """Record trial ``claim.number`` as running: Conflict if another agent claimed
        that number first, InvalidInput past the sweep's ``max_trials``."""

    def finish(
        self, sweep_id: str, number: int, result: TrialResult, actor: str | None = None
    ) -> Trial:
        """Record a running trial's end (complete, pruned or failed) and its value."""

    def trials(self, sweep_id: str) -> list[Trial]:
        """Every trial of the sweep, by number."""

    def list(self, project: str) -> list[Sweep]:
        """The project's sweeps, newest first."""
