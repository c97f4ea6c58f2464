"""``store.sweeps`` over HTTP (server/api/sweeps.py answers)."""

from __future__ import annotations

from assay.records import Sweep, SweepDraft, Trial, TrialClaim, TrialResult
from assay.store.http.transport import Transport, decode, seg


class HttpSweeps:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def create(self, draft: SweepDraft, actor: str | None = None) -> Sweep:
        return decode(self.http.send("POST", "/api/v1/sweeps", draft), Sweep)

    def get(self, sweep_id: str) -> Sweep:
        return self.http.get(f"/api/v1/sweeps/{seg(sweep_id)}", Sweep)

    def claim(self, sweep_id: str, claim: TrialClaim, actor: str | None = None) -> Trial:
        response = self.http.send("POST", f"/api/v1/sweeps/{seg(sweep_id)}/trials", claim)
        return decode(response, Trial)

    def finish(
        self, sweep_id: str, number: int, result: TrialResult, actor: str | None = None
    ) -> Trial:
        path = f"/api/v1/sweeps/{seg(sweep_id)}/trials/{number}"
        return decode(self.http.send("PUT", path, result), Trial)

    def trials(self, sweep_id: str) -> list[Trial]:
        return self.http.get(f"/api/v1/sweeps/{seg(sweep_id)}/trials", list[Trial])

    def list(self, project: str) -> list[Sweep]:
        return self.http.get(f"/api/v1/projects/{seg(project)}/sweeps", list[Sweep])
