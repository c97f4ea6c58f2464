"""A small simulated crowd labels part of the held-out test split; ``assay.labeling`` turns
their votes into one label per image, by majority vote and by its default method, and
estimates how good each annotator is. The true labels score both."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import assay
from assay.demo.common import PROJECT, quiet_settings, read_part
from assay.records import LabelItemDraft

ARTIFACT = "digits-crowd-labels"


@dataclass(frozen=True)
class Annotator:
    """Gives the true label with probability ``accuracy``; otherwise ``bias`` when set
    (without looking), else a wrong class at random."""

    name: str
    kind: str
    accuracy: float
    bias: int | None = None


CROWD = (
    Annotator("ana", "careful", 0.95),
    Annotator("ben", "careful", 0.90),
    Annotator("cleo", "good", 0.85),
    Annotator("dev", "good", 0.80),
    Annotator("eli", "noisy", 0.50),
    Annotator("fay", "says 1 on 60% of images", 0.40, bias=1),
)


@dataclass(frozen=True)
class AnnotatorQuality:
    name: str
    kind: str
    labels: int
    true_accuracy: float  # share of this annotator's labels that match the true label
    estimated_accuracy: float  # what the default method estimated, without the true labels


@dataclass(frozen=True)
class LabelsResult:
    run_id: str
    items: int
    votes: int
    per_item: tuple[int, int]  # fewest and most labels an image got
    method: str  # the one the default ("auto") chose
    reason: str
    majority_accuracy: float
    consensus_accuracy: float
    annotators: list[AnnotatorQuality]
    artifact: str  # the dataset version of the consensus labels
    project: ProjectResult | None = None  # the same crowd working through a label project

    def lines(self) -> list[str]:
        lines = [
            f"{self.items} test images, {len(self.annotators)} simulated annotators, "
            f"{self.votes} labels ({self.per_item[0]} to {self.per_item[1]} per image)",
            f"accuracy vs the true labels: majority vote {self.majority_accuracy:.3f}, "
            f"default ({self.method}) {self.consensus_accuracy:.3f}",
            f"  the default picked {self.method}{_GLOSS.get(self.method, '')}",
            f"  ({self.reason})",
            f"  {'annotator':<9}  {'kind':<23}  {'labels':>6}  {'true acc.':>9}  {'estimated':>9}",
        ]
        lines += [
            f"  {a.name:<9}  {a.kind:<23}  {a.labels:>6}  {a.true_accuracy:>9.3f}  "
            f"{a.estimated_accuracy:>9.3f}"
            for a in self.annotators
        ]
        lines.append(f"consensus labels (item,label,confidence): {self.artifact}")
        if self.project is not None:
            lines += self.project.lines()
        return lines


@dataclass(frozen=True)
class ProjectResult:
    """The crowd labelling through a label project's queue."""

    name: str
    items: int
    labels: int
    majority_accuracy: float
    consensus_accuracy: float
    method: str
    exported: str

    def lines(self) -> list[str]:
        return [
            f"label project {self.name}: {self.items} images, {self.labels} labels taken "
            "from its queue by the same crowd",
            f"  accuracy: majority vote {self.majority_accuracy:.3f}, "
            f"consensus ({self.method}) {self.consensus_accuracy:.3f}; exported as {self.exported}",
        ]


def _answer(annotator: Annotator, label: int, rng: Any) -> int:
    if rng.random() < annotator.accuracy:
        return label
    if annotator.bias is not None:
        return annotator.bias
    return int(rng.choice([c for c in range(10) if c != label]))


def run_project(
    truth: dict[int, int], uri: str | None, seed: int, overlap: int = 3
) -> ProjectResult:
    """The crowd takes turns, in a random order each round, at a label project's queue
    (``overlap`` labels per image); the consensus is exported as a dataset version whose
    metadata names the project, its annotators and the method."""
    import numpy as np

    from assay.sdk import labels
    from assay.store.base import open_store

    rng = np.random.default_rng(seed + 1)
    store = open_store(uri)
    try:
        name = f"digits-crowd-{seed}"
        made = labels.create(
            PROJECT,
            name,
            {"kind": "single", "choices": [str(c) for c in range(10)]},
            items=[
                LabelItemDraft(item_id=str(i), kind="row", data={"row": {"image": i}})
                for i in truth
            ],
            overlap=overlap,
            store=store,
        )
        busy = True
        while busy:
            busy = False
            for index in rng.permutation(len(CROWD)):
                annotator = CROWD[int(index)]
                task = store.labels.claim(made.id, annotator.name)
                if task is None:
                    continue
                busy = True
                value = _answer(annotator, truth[int(task.item_id)], rng)
                store.labels.submit(made.id, task.item_id, annotator.name, str(value))
        votes, _ = labels.tables(store, made.id)
        result = labels.consensus(made.id, store=store)
        from assay.labeling import aggregate

        majority = aggregate(votes, "mv")
        version = labels.export(made.id, store=store)
        return ProjectResult(
            name=name,
            items=len(truth),
            labels=len(votes),
            majority_accuracy=_accuracy(majority.labels, truth),
            consensus_accuracy=_accuracy(result.labels, truth),
            method=result.method,
            exported=version.ref,
        )
    finally:
        store.close()


_GLOSS = {
    "one-coin": " (an accuracy per annotator, learned)",
    "ds": " (a confusion matrix per annotator)",
    "mv": " (majority vote)",
}


def simulate(truth: dict[int, int], seed: int) -> list[tuple[int, str, int]]:
    """(item, annotator, label) votes: each item gets 3 to 5 annotators at random."""
    import numpy as np

    rng = np.random.default_rng(seed)
    votes = []
    for item, label in truth.items():
        chosen = rng.choice(len(CROWD), size=int(rng.integers(3, 6)), replace=False)
        for index in sorted(int(i) for i in chosen):
            annotator = CROWD[index]
            if rng.random() < annotator.accuracy:
                given = label
            elif annotator.bias is not None:
                given = annotator.bias
            else:
                given = int(rng.choice([c for c in range(10) if c != label]))
            votes.append((item, annotator.name, given))
    return votes


def run_labels(
    dataset: str,
    uri: str | None = None,
    items: int = 150,
    seed: int = 0,
    settings: assay.Settings | None = None,
) -> LabelsResult:
    """A "labels" run: ``items`` images of the test split of ``dataset`` labelled by the
    crowd, aggregated twice; logs the figures and the consensus labels."""
    import pandas as pd

    from assay.labeling import aggregate

    config: dict[str, Any] = {
        "items": items,
        "seed": seed,
        "annotators": {
            a.name: {"kind": a.kind, "accuracy": a.accuracy, "bias": a.bias} for a in CROWD
        },
    }
    with assay.init(
        project=PROJECT,
        job_type="labels",
        tags=["demo"],
        config=config,
        uri=uri,
        settings=settings or quiet_settings(),
    ) as run:
        test = read_part(run, dataset, "test").sample(n=items, random_state=seed)
        truth = dict(zip(test["id"].astype(int), test["label"].astype(int), strict=True))
        votes = pd.DataFrame(simulate(truth, seed), columns=["item", "worker", "label"])
        majority = aggregate(votes, method="mv")
        default = aggregate(votes)
        true_label = votes["item"].map(truth)
        annotators = []
        estimated = default.workers.set_index("worker")["accuracy"]
        for a in CROWD:
            mine = votes["worker"] == a.name
            annotators.append(
                AnnotatorQuality(
                    a.name,
                    a.kind,
                    int(mine.sum()),
                    float((votes["label"][mine] == true_label[mine]).mean()),
                    float(estimated[a.name]),
                )
            )
        labels = default.labels
        per_item = votes.groupby("item").size()
        majority_accuracy = _accuracy(majority.labels, truth)
        consensus_accuracy = _accuracy(labels, truth)
        run.summary.update(
            {
                "items": items,
                "votes": len(votes),
                "method": default.method,
                "majority_vote_accuracy": majority_accuracy,
                "consensus_accuracy": consensus_accuracy,
                "workers": {  # after the other keys, as `assay runs ls` sorts them
                    a.name: {
                        "labels": a.labels,
                        "true_accuracy": a.true_accuracy,
                        "estimated_accuracy": a.estimated_accuracy,
                    }
                    for a in annotators
                },
            }
        )
        with tempfile.TemporaryDirectory(prefix="assay-demo-") as tmp:
            labels[["item", "label", "confidence"]].to_csv(Path(tmp) / "consensus.csv", index=False)
            votes.to_csv(Path(tmp) / "votes.csv", index=False)
            version = run.log_artifact(
                tmp,
                name=ARTIFACT,
                type="dataset",
                metadata={"items": items, "votes": len(votes), "method": default.method},
                description="Consensus labels of simulated annotators on digits test images "
                "(consensus.csv: item, label, confidence; votes.csv: every label given).",
            )
        assert version is not None
        return LabelsResult(
            run_id=run.id,
            items=items,
            votes=len(votes),
            per_item=(int(per_item.min()), int(per_item.max())),
            method=str(default.method),
            reason=str(default.reason),
            majority_accuracy=majority_accuracy,
            consensus_accuracy=consensus_accuracy,
            annotators=annotators,
            artifact=version.ref,
            project=run_project(truth, uri, seed),
        )


def _accuracy(labels: Any, truth: dict[int, int]) -> float:
    """Share of consensus labels (a frame of item, label) equal to the true label."""
    return float((labels["label"].astype(int) == labels["item"].astype(int).map(truth)).mean())
