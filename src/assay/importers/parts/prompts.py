"""Prompt labels: every move of every label of the project's prompts, oldest first, in
``prompt_labels.jsonl``. A prompt's versions are artifact versions of type ``prompt``
and travel with the artifacts; read back, each move the target's history lacks is
replayed in order (its version numbers mapped to the target's), and the labels the
target then holds are compared with the exported ones."""

from __future__ import annotations

from collections import defaultdict

from assay.errors import AssayError, NotFound
from assay.importers import bundle
from assay.importers.job import Exporting, Importing
from assay.records import PromptLabel

PROMPT = "prompt"


def write(ctx: Exporting) -> None:
    prompts = sorted(
        info.name for info in ctx.store.artifacts.list(ctx.project) if info.type == PROMPT
    )
    moves = [m for p in prompts for m in ctx.store.prompts.history(ctx.project, p)[::-1]]
    ctx.counts.prompt_label_moves = bundle.write_lines(ctx.root / bundle.PROMPT_LABELS, moves)


def read(job: Importing) -> None:
    by_prompt: dict[str, list[PromptLabel]] = defaultdict(list)
    for move in bundle.read_lines(job.root / bundle.PROMPT_LABELS, PromptLabel):
        by_prompt[move.prompt].append(move)
    for prompt, moves in by_prompt.items():
        try:
            _replay(job, prompt, moves)
        except AssayError as exc:
            job.problem(f"prompt {prompt}: {exc}")


def _key(move: PromptLabel) -> tuple[object, ...]:
    return (move.label, sorted(move.split.items()), move.reason, move.evidence)


def _replay(job: Importing, prompt: str, moves: list[PromptLabel]) -> None:
    store = job.store
    there = [_key(m) for m in store.prompts.history(job.project, prompt)[::-1]]
    final: dict[str, dict[str, float]] = {}
    for old in moves:
        split = {str(_number(job, prompt, int(v))): w for v, w in old.split.items()}
        move = PromptLabel(
            project=job.project,
            prompt=prompt,
            label=old.label,
            split=split,
            actor=old.actor,
            reason=old.reason,
            evidence=old.evidence,
            at=old.at,
        )
        if _key(move) in there:
            there.remove(_key(move))
        else:
            store.prompts.set_label(
                job.project,
                prompt,
                old.label,
                split or None,
                reason=old.reason,
                evidence=old.evidence,
                actor=old.actor,
            )
        final[old.label] = split
        job.found.prompt_label_moves += 1
    now = {label.label: label.split for label in store.prompts.labels(job.project, prompt)}
    wanted = {label: split for label, split in final.items() if split}
    if now != wanted:
        job.problem(f"prompt {prompt}: its labels are {now}, the export's {wanted}")


def _number(job: Importing, prompt: str, old: int) -> int:
    new = job.numbers.get((prompt, old))
    if new is None:
        raise NotFound(f"version v{old} of the prompt was not imported")
    return new
