"""The runs table's bulk actions: delete, restore, move or tag the selected runs. Every
run must be of the page's project and the caller a writer there (and of the target
project, for a move); all are checked before any is changed. Each change is audited by
the store, as the signed-in user."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from assay.errors import InvalidInput
from assay.records import RunEdit
from assay.server.deps import AppState, require, require_run
from assay.store.sql.auth import Principal

ACTIONS = ("delete", "restore", "move", "tag", "untag")
MAX_RUNS = 500


@dataclass(frozen=True, kw_only=True)
class BulkAction:
    action: str
    runs: list[str]
    tag: str = ""
    to: str = ""

    @classmethod
    def parse(cls, form: Mapping[str, str]) -> BulkAction:
        action = form.get("action", "")
        if action not in ACTIONS:
            raise InvalidInput(f"bulk action {action!r} is not one of {', '.join(ACTIONS)}")
        runs = list(dict.fromkeys(r for r in form.get("runs", "").split(",") if r))
        if not 1 <= len(runs) <= MAX_RUNS:
            raise InvalidInput(f"select 1 to {MAX_RUNS} runs first")
        ask = cls(
            action=action,
            runs=runs,
            tag=form.get("tag", "").strip(),
            to=form.get("to", "").strip(),
        )
        if action in ("tag", "untag") and not ask.tag:
            raise InvalidInput("name the tag to add or remove")
        if action == "move" and not ask.to:
            raise InvalidInput("name the project to move the runs to")
        return ask


def apply(state: AppState, who: Principal, project: str, ask: BulkAction) -> None:
    require(state, who, project, "writer")
    if ask.action == "move":
        require(state, who, ask.to, "writer")
    for run_id in ask.runs:
        if require_run(state, who, run_id, "writer") != project:
            raise InvalidInput(f"run {run_id} is not of project {project!r}")
    actor = f"user:{who.user}"
    runs = state.store.runs
    for run_id in ask.runs:
        if ask.action == "delete":
            runs.delete(run_id, actor=actor)
        elif ask.action == "restore":
            runs.restore(run_id, actor=actor)
        elif ask.action == "move":
            runs.move(run_id, ask.to, actor=actor)
        elif ask.action == "tag":
            runs.update(run_id, RunEdit(add_tags=[ask.tag]), actor=actor)
        else:
            runs.update(run_id, RunEdit(remove_tags=[ask.tag]), actor=actor)
