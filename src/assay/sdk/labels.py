"""Label projects from Python, over ``store.labels`` (docs/labeling.md)::

    from assay.sdk import labels
    project = labels.create("reviews", "sentiment", {"kind": "single", "choices": ["pos", "neg"]},
                            data="reviews.csv", text_column="text", overlap=3)
    task = store.labels.claim(project.id, "ann")
    store.labels.submit(project.id, task.item_id, "ann", "pos")
    labels.export(project.id, name="reviews-labelled")

Every function takes ``uri=`` (a path, a database URL or a server) or ``store=``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from assay.errors import InvalidInput
from assay.records import (
    ArtifactVersion,
    Feedback,
    FeedbackDraft,
    LabelItemDraft,
    LabelProject,
    LabelProjectDraft,
    LabelSchema,
    LoggedRequest,
)
from assay.store.base import Store, open_store
from assay.store.sql.label_checks import check_items

if TYPE_CHECKING:
    import pandas as pd

    from assay.labeling.aggregation import ConsensusResult
    from assay.labeling.routing import Plan

Uri = str | os.PathLike[str] | None
CATEGORICAL = ("single", "rating", "pairwise", "multi")
BATCH = 5000  # items per request when a project is created


@contextmanager
def _opened(uri: Uri, store: Store | None) -> Iterator[Store]:
    if store is not None:
        yield store
        return
    opened = open_store(uri)
    try:
        yield opened
    finally:
        opened.close()


def _schema(schema: LabelSchema | dict[str, Any]) -> LabelSchema:
    if isinstance(schema, LabelSchema):
        return schema
    try:
        return msgspec.convert(schema, LabelSchema)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"label schema: {exc}") from None


def _dataset_items(
    store: Store, ref: str, project: str, columns: dict[str, Any]
) -> tuple[list[LabelItemDraft], str]:
    """Items from the one table file of a dataset artifact version."""
    from assay.artifacts.artifact import download, resolve
    from assay.labeling.items import TABLE_SUFFIXES, items_from_frame, read_table

    version = resolve(store, ref, project)
    manifest = store.artifacts.manifest(version.id)
    tables = [f.path for f in manifest.files if Path(f.path).suffix.lower() in TABLE_SUFFIXES]
    if len(tables) != 1:
        raise InvalidInput(
            f"artifact {version.ref} holds {len(tables)} table files (.csv, .jsonl, .parquet): "
            "a label project is made from exactly one"
        )
    with tempfile.TemporaryDirectory() as folder:
        root = download(store, version, folder)
        frame = read_table(root / tables[0])
    items = items_from_frame(frame, **columns)
    held = {f.path for f in manifest.files}
    for item in items:
        path = item.data.get("path") if item.kind == "image" else None
        if path is not None and path not in held:
            raise InvalidInput(f"item {item.item_id!r}: {version.ref} holds no image {path!r}")
    return [_in_version(i, version.id) for i in items], version.id


def _in_version(item: LabelItemDraft, version_id: str) -> LabelItemDraft:
    """An image item names the dataset version whose file it shows."""
    if item.kind != "image" or "path" not in item.data:
        return item
    return msgspec.structs.replace(item, data={**item.data, "version": version_id})


def create(
    project: str,
    name: str,
    schema: LabelSchema | dict[str, Any],
    *,
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    dataset: str | None = None,
    items: list[LabelItemDraft] | None = None,
    overlap: int = 3,
    routing: str = "fixed",
    min_labels: int = 1,
    confidence: float = 0.95,
    gold_rate: float = 0.0,
    budget: float | None = None,
    uri: Uri = None,
    store: Store | None = None,
    **columns: Any,
) -> LabelProject:
    """A label project over ``items``, the rows of ``data`` (a CSV/JSONL/Parquet file or a
    data frame) or of ``dataset`` (an artifact reference such as ``reviews:v2``, whose
    version the project's lineage names). ``columns``: id_column, text_column,
    image_column, input_column, output_column, pair_columns, gold_column, group_column
    (the kind of item annotator quality is estimated for). ``budget``: adaptive routing
    spends at most this share of overlap x items labels."""
    from assay.labeling.items import items_from_frame, read_table

    chosen = _schema(schema)
    if routing == "adaptive" and chosen.kind not in CATEGORICAL:
        raise InvalidInput(f"adaptive routing needs labels with a consensus, not {chosen.kind!r}")
    if sum(x is not None for x in (data, dataset, items)) != 1:
        raise InvalidInput("give exactly one of data=, dataset= or items=")
    with _opened(uri, store) as opened:
        source, version_id = "", None
        if dataset is not None:
            items, version_id = _dataset_items(opened, dataset, project, columns)
            source = dataset
        elif data is not None:
            if isinstance(data, str | os.PathLike):
                frame, source = read_table(os.fspath(data)), os.fspath(data)
            else:
                frame, source = data, "data frame"
            items = items_from_frame(frame, **columns)
            if any(i.kind == "image" and "path" in i.data for i in items):
                raise InvalidInput(
                    "image items from a file are URLs; to label image files, put them and "
                    "the table in a dataset artifact and use dataset="
                )
        assert items is not None
        check_items(chosen, items)  # all of them, before the first batch is stored
        draft = LabelProjectDraft(
            project=project,
            name=name,
            schema=chosen,
            items=items[:BATCH],
            overlap=overlap,
            routing=routing,
            min_labels=min_labels,
            confidence=confidence,
            gold_rate=gold_rate,
            budget=budget,
            source=source[:1024],
            source_version_id=version_id,
        )
        made = opened.labels.create(draft)
        for start in range(BATCH, len(items), BATCH):  # one request body per batch
            made = opened.labels.add_items(made.id, items[start : start + BATCH])
        return made


def _key(value: Any) -> Any:
    """A label as the consensus methods compare it (a multiple choice as one string)."""
    return "|".join(value) if isinstance(value, list) else value


def tables(store: Store, project_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(done labels as item, worker, label; gold as item, label)."""
    import pandas as pd

    done = [a for a in store.labels.annotations(project_id) if a.status == "done"]
    labels = pd.DataFrame(
        {
            "item": [a.item_id for a in done],
            "worker": [a.annotator for a in done],
            "label": [_key(a.value) for a in done],
        },
        dtype=object,
    )
    gold_items = [i for i in store.labels.items(project_id) if i.gold is not None]
    gold = pd.DataFrame(
        {"item": [i.item_id for i in gold_items], "label": [_key(i.gold) for i in gold_items]},
        dtype=object,
    )
    return labels, gold


def kinds(store: Store, project_id: str) -> dict[str, str]:
    """Each item's kind for annotator quality (labeling/routing.py ``item_kind``)."""
    from assay.labeling.routing import item_kind

    return {i.item_id: item_kind(i.kind, i.data) for i in store.labels.items(project_id)}


def reroute(store: Store, project_id: str) -> Plan:
    """Adaptive routing's next decisions (labeling/routing.py), written to the store."""
    from assay.labeling.routing import item_kind, plan

    found = store.labels.get(project_id)
    labels, gold = tables(store, project_id)
    items = store.labels.items(project_id)
    needs = {i.item_id: i.needed for i in items if i.gold is None}
    decided = plan(
        labels,
        needs,
        min_labels=found.min_labels,
        overlap=found.overlap,
        confidence=found.confidence,
        gold=gold[gold["item"].isin(labels["item"])] if len(labels) else None,
        kinds={i.item_id: item_kind(i.kind, i.data) for i in items},
        budget=found.budget,
    )
    if decided.needed or decided.quality:
        store.labels.route(
            project_id,
            decided.needed,
            decided.min_quality,
            decided.quality,
            kind_quality=decided.kind_quality,
        )
    return decided


def consensus(
    project_id: str, method: str = "auto", *, uri: Uri = None, store: Store | None = None
) -> ConsensusResult:
    """The consensus of a project's done labels (gold items given as gold)."""
    from assay.labeling.aggregation import aggregate

    with _opened(uri, store) as opened:
        kind = opened.labels.get(project_id).schema.kind
        if kind == "text":
            raise InvalidInput("free-text labels have no consensus: export them as they are")
        labels, gold = tables(opened, project_id)
        if labels.empty:
            raise InvalidInput("the project has no labels yet")
        gold = gold[gold["item"].isin(labels["item"])]
        return aggregate(labels, method, gold if len(gold) else None)


@dataclass(frozen=True, kw_only=True)
class Progress:
    items: int
    gold: int
    complete: int
    labels: int
    claimed: int
    skipped: int
    annotators: int


def progress(store: Store, project_id: str) -> Progress:
    items = store.labels.items(project_id)
    turns = store.labels.annotations(project_id)
    done_per: dict[str, int] = {}
    for a in turns:
        if a.status == "done":
            done_per[a.item_id] = done_per.get(a.item_id, 0) + 1
    regular = [i for i in items if i.gold is None]
    return Progress(
        items=len(regular),
        gold=len(items) - len(regular),
        complete=sum(1 for i in regular if done_per.get(i.item_id, 0) >= i.needed),
        labels=sum(1 for a in turns if a.status == "done"),
        claimed=sum(1 for a in turns if a.status == "claimed"),
        skipped=sum(1 for a in turns if a.status == "skipped"),
        annotators=len({a.annotator for a in turns}),
    )


def export(
    project_id: str,
    name: str | None = None,
    method: str = "auto",
    *,
    uri: Uri = None,
    store: Store | None = None,
) -> ArtifactVersion:
    """The consensus as a new version of a dataset artifact (``name``, default the label
    project's): ``labels.csv`` with item, label, confidence, n_labels, and the lineage
    in its metadata: the label project, its source version, the method, the annotators
    and their estimated quality."""
    from assay.artifacts.artifact import Artifact, log_artifact

    with _opened(uri, store) as opened:
        found = opened.labels.get(project_id)
        result = consensus(project_id, method, store=opened)
        labels, _ = tables(opened, project_id)
        counts = labels.groupby("item").size()
        out = result.labels.copy()
        out["n_labels"] = out["item"].map(counts).fillna(0).astype(int)
        quality = dict(
            zip(result.workers["worker"], result.workers["accuracy"].round(4), strict=True)
        )
        metadata = {
            "label_project": {"id": found.id, "name": found.name},
            "source_version_id": found.source_version_id,
            "method": result.method,
            "method_reason": result.reason,
            "annotators": {str(k): float(v) for k, v in quality.items()},
            "items": len(out),
            "labels": len(labels),
        }
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "labels.csv"
            out.to_csv(path, index=False)
            artifact = Artifact(name or found.name, type="dataset", metadata=metadata)
            artifact.add_file(path)
            return log_artifact(opened, artifact, found.project)


def feedback(
    project: str,
    kind: str,
    value: Any,
    *,
    request_id: str | None = None,
    evaluation_id: str | None = None,
    item_id: str | None = None,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
    label_project: str | None = None,
    model: str | None = None,
    uri: Uri = None,
    store: Store | None = None,
) -> Feedback:
    """Attach a rating, a correction or a preference to a served prediction (its request
    id, found in the request log of ``model``, or of the one model that served that id)
    or to an evaluation's item; ``label_project`` (an id or a name in ``project``)
    routes it into that label project for review. A correction on a served prediction
    also becomes that request's label in the request log (what monitoring reads)."""
    with _opened(uri, store) as opened:
        target = None
        if label_project is not None:
            target = _label_project_id(opened, project, label_project)
        draft = FeedbackDraft(
            project=project,
            kind=kind,
            value=value,
            request_id=request_id,
            evaluation_id=evaluation_id,
            item_id=item_id,
            comment=comment,
            data=data or {},
            label_project_id=target,
            model=model,
        )
        return opened.labels.add_feedback(draft)


FEEDBACK_LIMIT = 1000  # the most feedback rows one read returns (the facet's page bound)


def predictions_with_feedback(
    model: str,
    *,
    since: float | None = None,
    until: float | None = None,
    uri: Uri = None,
    store: Store | None = None,
) -> pd.DataFrame:
    """The request log of ``model`` (``since <= time < until``) with the feedback given on
    each prediction: one row per (request, feedback), ``request_id, time, version, arm,
    inputs, outputs, label`` from the log, then ``feedback_kind, feedback_value,
    feedback_comment, feedback_at`` (empty for a request nobody gave feedback on)."""
    import pandas as pd

    with _opened(uri, store) as opened:
        logged = opened.requests.list(model, since=since, until=until)
        given = opened.labels.feedback(model=model, limit=FEEDBACK_LIMIT)
    served = _served_rows(logged)
    said = pd.DataFrame(
        {
            "request_id": [f.request_id for f in given],
            "feedback_kind": [f.kind for f in given],
            "feedback_value": [f.value for f in given],
            "feedback_comment": [f.comment for f in given],
            "feedback_at": [f.created_at for f in given],
        }
    )
    joined = served.merge(said, on="request_id", how="left")
    return joined.sort_values(["time", "request_id", "feedback_at"], kind="stable").reset_index(
        drop=True
    )


def _served_rows(logged: list[LoggedRequest]) -> pd.DataFrame:
    """``request_id, time, version, arm, inputs, outputs, label``: one row per input row
    of the requests, its inputs and outputs as ``{name: value}`` (``{}`` for a request
    refused before its rows were read)."""
    import numpy as np
    import pandas as pd

    from assay.sdk.requests import frame

    rows = frame(logged)
    counts = np.array([max(e.rows, 1) for e in logged], dtype="int64")
    read = np.repeat(np.array([e.rows > 0 for e in logged], dtype=bool), counts)
    answered = np.repeat(np.array([bool(e.outputs) for e in logged], dtype=bool), counts)

    def maps(prefix: str, kept: Any) -> pd.Series:
        names = [c for c in rows.columns if str(c).startswith(prefix)]
        table = rows[names].rename(columns={c: str(c)[len(prefix) :] for c in names})
        found = pd.Series(table.to_dict("records"), dtype=object)
        found[~kept] = pd.Series([{} for _ in range(int((~kept).sum()))], dtype=object).values
        return found

    return pd.DataFrame(
        {
            "request_id": rows["request_id"],
            "time": np.repeat(np.array([e.time for e in logged], dtype="float64"), counts),
            "version": rows["version"],
            "arm": rows["arm"],
            "inputs": maps("input.", read),
            "outputs": maps("output.", answered),
            "label": rows["label"],
        }
    )


def _label_project_id(store: Store, project: str, ref: str) -> str:
    from assay.errors import NotFound

    try:
        return store.labels.find(project, ref).id
    except NotFound:
        return store.labels.get(ref).id


def _disagreements(labels: pd.DataFrame, decided: pd.DataFrame, limit: int) -> list[dict[str, Any]]:
    """Items whose annotators gave different labels, least certain first."""
    votes: dict[str, dict[str, int]] = {}
    for item, label in zip(labels["item"], labels["label"], strict=True):
        counts = votes.setdefault(str(item), {})
        counts[str(label)] = counts.get(str(label), 0) + 1
    split = decided[decided["item"].map(lambda i: len(votes.get(str(i), {})) > 1)]
    shaky = split.sort_values(["confidence", "item"]).head(limit)
    return [
        {"item": str(i), "label": lab, "confidence": float(c), "votes": votes[str(i)]}
        for i, lab, c in zip(shaky["item"], shaky["label"], shaky["confidence"], strict=True)
    ]


def _annotators(
    result: ConsensusResult, labels: pd.DataFrame, by_item: dict[str, str]
) -> list[dict[str, Any]]:
    """The consensus's per-annotator table as rows; with items of more than one kind,
    each row's ``by_kind`` holds the annotator's quality per kind (labeling/routing.py)."""
    from assay.labeling.routing import kind_quality_of, overall_quality

    rows = [{str(k): v for k, v in r.items()} for r in result.workers.to_dict("records")]
    per_kind = kind_quality_of(labels, result, overall_quality(result.workers), by_item)
    if len(per_kind) > 1:
        for row in rows:
            worker = str(row["worker"])
            row["by_kind"] = {k: q[worker] for k, q in per_kind.items() if worker in q}
    return rows


@dataclass(frozen=True, kw_only=True)
class Report:
    """What a project's page and ``assay labels show`` tell: progress, agreement (None
    before any item has two labels), per annotator quality (with gold accuracy when
    they answered gold items, and per kind of item when items are of several kinds),
    and the items the annotators disagree on most."""

    project: LabelProject
    progress: Progress
    alpha: float | None
    kappa: float | None
    annotators: list[dict[str, Any]]
    disagreements: list[dict[str, Any]]
    method: str | None


def report(
    project_id: str, *, limit: int = 20, uri: Uri = None, store: Store | None = None
) -> Report:
    from assay.labeling.stats import agreement

    with _opened(uri, store) as opened:
        found = opened.labels.get(project_id)
        done = progress(opened, project_id)
        labels, _ = tables(opened, project_id)
        alpha = kappa = None
        annotators: list[dict[str, Any]] = []
        disagreements: list[dict[str, Any]] = []
        method = None
        if not labels.empty and found.schema.kind != "text":
            try:
                stats = agreement(labels)
                alpha, kappa = stats.krippendorff_alpha, stats.fleiss_kappa
            except InvalidInput:
                pass  # no item with two labels yet
            result = consensus(project_id, store=opened)
            method = result.method
            annotators = _annotators(result, labels, kinds(opened, project_id))
            disagreements = _disagreements(labels, result.labels, limit)
        return Report(
            project=found,
            progress=done,
            alpha=alpha,
            kappa=kappa,
            annotators=annotators,
            disagreements=disagreements,
            method=method,
        )
