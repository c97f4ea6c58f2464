"""Every MLflow write becomes one Assay batch, applied through ``store.runs.write_batch``
like the SDK's (validated, audited, in one transaction). Each request is its own writer
(a fresh writer id, sequence 0)."""

from __future__ import annotations

from assay.ids import new_writer_id
from assay.records import Batch, Op
from assay.server.deps import AppState, require, require_run
from assay.server.mlflow.protocol import actor
from assay.store.sql.auth import Principal


def apply(state: AppState, who: Principal, run_id: str, ops: list[Op]) -> None:
    """Write ``ops`` to an existing run (the caller needs the writer role on its project)."""
    require_run(state, who, run_id, "writer")
    write(state, who, run_id, ops)


def write(state: AppState, who: Principal, run_id: str, ops: list[Op]) -> None:
    if not ops:
        return
    batch = Batch(run_id=run_id, writer=new_writer_id(), seq=0, ops=ops)
    state.store.runs.write_batch(batch, actor=actor(who))


def create_in(state: AppState, who: Principal, project: str, run_id: str, ops: list[Op]) -> None:
    require(state, who, project, "writer")
    write(state, who, run_id, ops)
