"""Label projects and feedback. ``label_projects.jsonl``: one label project per line,
with its items (gold answers too), every annotator's turn (claimed, done, skipped,
expired) and the consensus of its done labels when it has one (``assay labels
consensus``'s, for a reader without Assay). ``feedback.jsonl``: feedback on served
predictions and evaluation items. An image item's blob is written to ``blobs/``.

Read back, a label project the target has already (same name) gets only the items and
done labels it lacks; turns that are not done (a claim, a skip) are the queue's state
and are not replayed. Feedback routed into a label project for review became an item
of it (named by ``records.review_item_id``: ``feedback-`` and its id): that feedback is
stored again routed into the imported project where its item stood in the queue, so it
keeps its link and the new item (with the item's done labels) is named by the target's
feedback id and names the target's evaluation. Then items, done labels, the consensus
and feedback are compared with the export."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from assay import digests
from assay.errors import AssayError, CorruptData, InvalidInput, NotFound
from assay.importers import bundle
from assay.importers.job import Exporting, Importing
from assay.records import (
    Annotation,
    AnnotationDraft,
    Feedback,
    FeedbackDraft,
    LabelItem,
    LabelItemDraft,
    LabelProject,
    LabelProjectDraft,
    review_item_id,
)
from assay.store.base import Store

DONE = "done"
ALL_FEEDBACK = 1_000_000  # feedback read at once from a store
SERVER_PAGE = 1000  # what a server answers at most


class LabelProjectLine(msgspec.Struct, kw_only=True, frozen=True):
    project: LabelProject
    items: list[LabelItem]
    annotations: list[Annotation]
    consensus: list[dict[str, Any]] | None = None  # item, label, confidence


def write(ctx: Exporting) -> None:
    store = ctx.store
    lines = []
    for found in sorted(store.labels.list(ctx.project), key=lambda p: p.created_at):
        items = store.labels.items(found.id)
        for item in items:
            _write_blob(ctx, item)
        lines.append(
            LabelProjectLine(
                project=found,
                items=items,
                annotations=store.labels.annotations(found.id),
                consensus=_consensus(store, found.id),
            )
        )
    ctx.counts.label_projects = bundle.write_lines(ctx.root / bundle.LABEL_PROJECTS, lines)
    ctx.counts.label_items = sum(len(line.items) for line in lines)
    ctx.counts.labels_done = sum(1 for line in lines for a in line.annotations if a.status == DONE)
    ctx.counts.feedback = bundle.write_lines(ctx.root / bundle.FEEDBACK, _feedback(ctx))


def _write_blob(ctx: Exporting, item: LabelItem) -> None:
    digest = item.data.get("blob") if item.kind == "image" else None
    if isinstance(digest, str):
        path = ctx.root / bundle.BLOBS / digest
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(ctx.store.blobs.get(digest))


def _consensus(store: Store, project_id: str) -> list[dict[str, Any]] | None:
    from assay.sdk.labels import consensus

    try:
        result = consensus(project_id, store=store)
    except InvalidInput:  # free text, or no labels yet: no consensus
        return None
    frame = result.labels
    columns = (frame["item"].tolist(), frame["label"].tolist(), frame["confidence"].tolist())
    return [
        {"item": str(item), "label": label, "confidence": float(confidence)}
        for item, label, confidence in zip(*columns, strict=True)
    ]


def _feedback(ctx: Exporting) -> list[Feedback]:
    return sorted(_all_feedback(ctx.store, ctx.project), key=lambda f: (f.created_at, f.id))


def _all_feedback(store: Store, project: str) -> list[Feedback]:
    try:
        return store.labels.feedback(project, limit=ALL_FEEDBACK)
    except InvalidInput:  # a server answers a page of at most SERVER_PAGE
        found = store.labels.feedback(project, limit=SERVER_PAGE)
    if len(found) == SERVER_PAGE:
        raise InvalidInput(
            f"project {project} has more than {SERVER_PAGE} feedback records, more than a "
            "server answers at once: export from the database URI"
        )
    return found


# ---- reading back -------------------------------------------------------------------------


class _Target:
    """The feedback the target holds, by what it says: each found once, so identical
    feedback is matched one for one; the one linked to the label project asked for first."""

    def __init__(self, found: list[Feedback]) -> None:
        self.said: dict[str, list[Feedback]] = {}
        for f in found:
            self.said.setdefault(_said(f), []).append(f)

    def take(self, draft: FeedbackDraft) -> Feedback | None:
        there = self.said.get(_said(draft), [])
        for f in there:
            if f.label_project_id == draft.label_project_id:
                there.remove(f)
                return f
        return there.pop(0) if there else None


def read(job: Importing) -> None:
    """Label projects, then the feedback that was not routed into one of them. Routed
    feedback is stored again where its review item stood in the queue, routed into the
    imported project, so its review item is the target's (named by the new feedback id)."""
    feedback = list(bundle.read_lines(job.root / bundle.FEEDBACK, Feedback))
    target = _Target(_all_feedback(job.store, job.project))
    routed: set[str] = set()
    for line in bundle.read_lines(job.root / bundle.LABEL_PROJECTS, LabelProjectLine):
        items = {i.item_id for i in line.items}
        ours = {
            review_item_id(f.id): f
            for f in feedback
            if f.label_project_id == line.project.id and review_item_id(f.id) in items
        }
        routed.update(f.id for f in ours.values())
        try:
            _project(job, line, ours, target)
        except AssayError as exc:
            job.problem(f"label project {line.project.name}: {exc}")
    for old in feedback:
        if old.id in routed:
            continue
        if old.label_project_id is not None:
            job.problem(f"feedback {old.id}: its review item is not in an exported label project")
            continue
        _feedback_again(job, old, None, target)


def _project(
    job: Importing, line: LabelProjectLine, routed: dict[str, Feedback], target: _Target
) -> None:
    """The project (found or created), its items in their order (a review item by
    routing its feedback again), its done labels; then all compared with the export."""
    store, old = job.store, line.project
    try:
        found = store.labels.find(job.project, old.name)
    except NotFound:
        leading = []
        for item in line.items:
            if item.item_id in routed:
                break
            leading.append(_item(job, item))
        found = store.labels.create(_draft(job, old, leading))
    job.label_projects[old.id] = found.id
    have = {i.item_id for i in store.labels.items(found.id)}
    renamed: dict[str, str] = {}  # a review item's id in the export -> in the target
    fresh: list[LabelItemDraft] = []
    for item in line.items:
        feedback = routed.get(item.item_id)
        if feedback is None:
            if item.item_id not in have:
                fresh.append(_item(job, item))
            continue
        if fresh:
            store.labels.add_items(found.id, fresh)
            fresh = []
        new = _feedback_again(job, feedback, found.id, target)
        if new is not None and new.label_project_id == found.id:
            renamed[item.item_id] = review_item_id(new.id)
    if fresh:
        store.labels.add_items(found.id, fresh)
    have = {i.item_id for i in store.labels.items(found.id)}
    for old_id, new_id in renamed.items():
        if new_id not in have:
            job.problem(
                f"feedback {routed[old_id].id}: the target holds it without its review item "
                f"in label project {old.name}"
            )
    done = {(a.item_id, a.annotator) for a in store.labels.annotations(found.id)}
    labels = [
        AnnotationDraft(item_id=item_id, annotator=a.annotator, value=a.value, comment=a.comment)
        for a in line.annotations
        for item_id in [renamed.get(a.item_id, a.item_id)]
        if a.status == DONE and (item_id, a.annotator) not in done
    ]
    if labels:
        store.labels.load(found.id, labels)
    _check(job, _as_imported(job, line, renamed), found.id)


def _as_imported(
    job: Importing, line: LabelProjectLine, renamed: dict[str, str]
) -> LabelProjectLine:
    """The exported project as the target should hold it: a review item under the id
    of its feedback there, naming the target's evaluation."""
    if not renamed:
        return line

    def item(i: LabelItem) -> LabelItem:
        if i.item_id not in renamed:
            return i
        source = dict(i.data.get("source") or {})
        if "evaluation_id" in source:
            source["evaluation_id"] = job.evaluations.get(source["evaluation_id"])
        data = {**i.data, "source": source}
        return msgspec.structs.replace(i, item_id=renamed[i.item_id], data=data)

    consensus = line.consensus
    if consensus is not None:
        consensus = [{**r, "item": renamed.get(r["item"], r["item"])} for r in consensus]
    return msgspec.structs.replace(
        line,
        items=[item(i) for i in line.items],
        annotations=[
            msgspec.structs.replace(a, item_id=renamed.get(a.item_id, a.item_id))
            for a in line.annotations
        ],
        consensus=consensus,
    )


def _item(job: Importing, item: LabelItem) -> LabelItemDraft:
    digest = item.data.get("blob") if item.kind == "image" else None
    if isinstance(digest, str) and job.store.blobs.missing([digest]):
        path = job.root / bundle.BLOBS / digest
        if not path.is_file():
            raise CorruptData(f"item {item.item_id}: blob {digest} is missing from the export")
        data = path.read_bytes()
        if digests.of_bytes(data) != digest:
            raise CorruptData(f"{bundle.BLOBS}/{digest} does not hold the bytes of that digest")
        job.store.blobs.put(data)
    return LabelItemDraft(item_id=item.item_id, kind=item.kind, data=item.data, gold=item.gold)


def _draft(job: Importing, old: LabelProject, items: list[LabelItemDraft]) -> LabelProjectDraft:
    version = job.versions.get(old.source_version_id or "")
    return LabelProjectDraft(
        project=job.project,
        name=old.name,
        schema=old.schema,
        items=items,
        overlap=old.overlap,
        routing=old.routing,
        min_labels=old.min_labels,
        confidence=old.confidence,
        gold_rate=old.gold_rate,
        source=old.source,
        source_version_id=version.id if version is not None else None,
        budget=old.budget,
    )


def _check(job: Importing, line: LabelProjectLine, project_id: str) -> None:
    store, name = job.store, line.project.name

    def item(i: LabelItem) -> tuple[Any, ...]:
        return (i.item_id, i.kind, i.data, i.gold)

    def label(a: Annotation) -> tuple[Any, ...]:
        return (a.item_id, a.annotator, a.value, a.comment)

    items = sorted(item(i) for i in store.labels.items(project_id))
    if items != sorted(item(i) for i in line.items):
        job.problem(f"label project {name}: its items differ in the target")
    done = [label(a) for a in store.labels.annotations(project_id) if a.status == DONE]
    expected = [label(a) for a in line.annotations if a.status == DONE]
    if sorted(map(repr, done)) != sorted(map(repr, expected)):
        job.problem(f"label project {name}: its done labels differ in the target")
    if line.consensus is not None and not _same_consensus(
        line.consensus, _consensus(store, project_id)
    ):
        job.problem(f"label project {name}: the consensus of its labels differs in the target")
    job.found.label_projects += 1
    job.found.label_items += len(items)
    job.found.labels_done += len(done)


def _same_consensus(a: list[dict[str, Any]], b: list[dict[str, Any]] | None) -> bool:
    if b is None or len(a) != len(b):
        return False
    by_item = {r["item"]: r for r in b}
    return all(
        r["item"] in by_item
        and by_item[r["item"]]["label"] == r["label"]
        and math.isclose(by_item[r["item"]]["confidence"], r["confidence"], abs_tol=1e-9)
        for r in a
    )


def _feedback_again(
    job: Importing, old: Feedback, label_project_id: str | None, target: _Target
) -> Feedback | None:
    """Exported feedback as the target holds it: found, else stored again (routed into
    ``label_project_id``, a new review item); None when it could not be."""
    evaluation = job.evaluations.get(old.evaluation_id or "")
    if old.evaluation_id is not None and evaluation is None:
        job.problem(f"feedback {old.id}: its evaluation {old.evaluation_id} was not imported")
        return None
    draft = FeedbackDraft(
        project=job.project,
        kind=old.kind,
        value=old.value,
        request_id=old.request_id,
        evaluation_id=evaluation,
        item_id=old.item_id,
        comment=old.comment,
        data=old.data,
        label_project_id=label_project_id,
        model=old.model,
    )
    found = target.take(draft)
    if found is None:
        try:
            found = job.store.labels.add_feedback(draft)
        except AssayError as exc:
            job.problem(f"feedback {old.id}: {exc}")
            return None
    elif label_project_id is not None and found.label_project_id != label_project_id:
        job.problem(
            f"feedback {old.id}: the target holds it as feedback {found.id}, not routed into "
            f"label project {label_project_id}"
        )
    job.found.feedback += 1
    return found


def _said(f: Feedback | FeedbackDraft) -> str:
    """What feedback says, as one comparable string (not its id, time or routing)."""
    fields = (f.kind, f.value, f.request_id, f.evaluation_id, f.item_id, f.comment, f.data, f.model)
    return msgspec.json.encode(fields, order="sorted").decode()
