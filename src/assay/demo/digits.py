"""Train SGD classifiers on the digits data epoch by epoch, logging every epoch."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from assay.errors import NotFound
from assay.media import Histogram, Html, Image, Table, Video
from assay.sdk.init import init
from assay.sdk.models import get, register_model, set_alias
from assay.sdk.settings import Settings

PROJECT = "digits"
DATASET = "digits-split"
MODEL = "digits-model"
REGISTERED = "digits-classifier"


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    project: str
    run_ids: list[str]
    best_run_id: str
    best_val_acc: float
    dataset: str = ""  # the dataset version every run used, e.g. digits/digits-split:v0
    model_version: int = 0  # the version registered from the best run
    evaluation_id: str = ""  # its evaluation on the held-out test split
    verdict: str = ""  # pass | fail | inconclusive, against the previous production model
    reason: str = ""
    promoted: bool = False  # whether @production moved to model_version
    baseline_version: int | None = None  # the production version it was compared with


INK_GROUPS = ("light", "medium", "heavy")


def ink_groups(x: Any, cuts: Any) -> list[str]:
    """How much ink each image has (the sum of its pixels), as light, medium or heavy by
    the given cut points: a slice in which every digit occurs, unlike one by label."""
    import numpy as np

    return [INK_GROUPS[i] for i in np.searchsorted(cuts, x.sum(axis=1), side="right")]


def _write_split(folder: Path, parts: dict[str, tuple[Any, Any, Any]]) -> None:
    """One CSV per part (train, val, test): an id (the row of the digits data), 64 pixels,
    the ink group (terciles of the training images' ink) and the label."""
    import csv

    import numpy as np

    cuts = np.quantile(parts["train"][1].sum(axis=1), [1 / 3, 2 / 3])
    for name, (ids, x, y) in parts.items():
        with (folder / f"{name}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", *[f"pixel{i}" for i in range(x.shape[1])], "ink", "label"])
            for row_id, pixels, ink, label in zip(ids, x, ink_groups(x, cuts), y, strict=True):
                writer.writerow([int(row_id), *pixels.astype(int).tolist(), ink, int(label)])


SAMPLES = 16  # validation digits each run logs as images, with its predictions


def _log_samples(run: Any, model: Any, pixels: Any, scaled: Any, labels: Any) -> None:
    """A few validation digits as images, a table of them with the predictions, the
    same digits as a video (one a frame) and scikit-learn's report on them as html."""
    import numpy as np
    from sklearn.metrics import classification_report

    images = [Image(p.reshape(8, 8) / 16.0) for p in pixels]  # digits' pixels are 0-16
    frames = np.kron(pixels.reshape(-1, 8, 8) * 15.9, np.ones((1, 8, 8))).astype(np.uint8)
    predicted = model.predict(scaled)
    report = classification_report(labels, predicted, output_dict=False, zero_division=0)
    confidence = model.predict_proba(scaled).max(axis=1)
    rows = [
        [image, int(y), int(p), round(float(c), 3)]
        for image, y, p, c in zip(images, labels, predicted, confidence, strict=True)
    ]
    run.log(
        {
            "val/samples": images[:4],
            "val/predictions": Table(rows, columns=["digit", "label", "predicted", "confidence"]),
            "val/digits": Video(frames, fps=2, caption="the validation digits, one a frame"),
            "val/report": Html(f"<h3>Validation samples</h3><pre>{escape(report)}</pre>"),
        }
    )


def _log_dataset(
    uri: str | None, settings: Settings, parts: dict[str, tuple[Any, Any, Any]], seed: int
) -> str:
    """A "prepare" run logs the train/validation/test split as a dataset artifact."""
    with (
        tempfile.TemporaryDirectory(prefix="assay-demo-") as tmp,
        init(
            project=PROJECT,
            job_type="prepare",
            tags=["demo"],
            uri=uri,
            settings=settings,
            config={"val_size": 0.2, "test_size": 0.2, "seed": seed},
        ) as run,
    ):
        _write_split(Path(tmp), parts)
        version = run.log_artifact(
            tmp,
            name=DATASET,
            type="dataset",
            metadata={f"{name}_rows": len(part[0]) for name, part in parts.items()}
            | {"source": "sklearn digits"},
        )
        assert version is not None
        return version.ref


def grid(
    learning_rates: tuple[float, ...] = (0.001, 0.01, 0.1), alphas: tuple[float, ...] = (1e-4, 1e-2)
) -> list[dict[str, Any]]:
    return [
        {
            "optimizer": {"lr": lr, "schedule": "constant"},
            "model": {"kind": "sgd-logreg", "alpha": alpha},
        }
        for lr, alpha in itertools.product(learning_rates, alphas)
    ]


def run_demo(
    uri: str | None = None,
    *,
    configs: list[dict[str, Any]] | None = None,
    epochs: int = 30,
    seed: int = 0,
    system_metrics_interval: float = 1.0,
    on_run: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Train one run per config; returns the runs and the best by validation accuracy."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    ids = np.arange(len(y))
    rest, test = train_test_split(ids, test_size=0.2, random_state=seed, stratify=y)
    train, val = train_test_split(rest, test_size=0.25, random_state=seed, stratify=y[rest])
    parts = {
        name: (part, x[part], y[part])
        for name, part in (("train", train), ("val", val), ("test", test))
    }
    x_train, y_train, x_val, y_val = x[train], y[train], x[val], y[val]
    settings = Settings(system_metrics_interval=system_metrics_interval, capture_console=False)
    dataset = _log_dataset(uri, settings, parts, seed)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    classes = np.unique(y)
    configs = configs if configs is not None else grid()
    run_ids: list[str] = []
    models: dict[str, str] = {}
    best = ("", -1.0)
    for index, config in enumerate(configs):
        rng = np.random.default_rng(seed + index)
        with init(
            project=PROJECT,
            config={**config, "epochs": epochs, "seed": seed},
            tags=["demo", "sgd"],
            job_type="train",
            uri=uri,
            settings=settings,
        ) as run:
            run.use_artifact(dataset)
            model = SGDClassifier(
                loss="log_loss",
                alpha=config["model"]["alpha"],
                learning_rate="constant",
                eta0=config["optimizer"]["lr"],
                random_state=seed,
            )
            best_acc = 0.0
            for _epoch in range(epochs):
                order = rng.permutation(len(x_train))
                model.partial_fit(x_train[order], y_train[order], classes=classes)
                metrics = {
                    "train/loss": log_loss(y_train, model.predict_proba(x_train), labels=classes),
                    "train/acc": accuracy_score(y_train, model.predict(x_train)),
                    "val/loss": log_loss(y_val, model.predict_proba(x_val), labels=classes),
                    "val/acc": accuracy_score(y_val, model.predict(x_val)),
                }
                run.log({**metrics, "weights": Histogram(model.coef_)})
                best_acc = max(best_acc, float(metrics["val/acc"]))
            _log_samples(run, model, x[val][:SAMPLES], x_val[:SAMPLES], y_val[:SAMPLES])
            run.summary["best_val_acc"] = best_acc
            logged = run.log_model(
                make_pipeline(scaler, model), MODEL, metadata={"val_acc": best_acc}
            )
            assert logged is not None
            models[run.id] = logged.ref
            run_ids.append(run.id)
            if best_acc > best[1]:
                best = (run.id, best_acc)
        if on_run is not None:
            on_run(index + 1, len(configs))
    registered = register_model(models[best[0]], REGISTERED, uri=uri)
    result = DemoResult(
        project=PROJECT,
        run_ids=run_ids,
        best_run_id=best[0],
        best_val_acc=best[1],
        dataset=dataset,
        model_version=registered.version,
    )
    return _evaluate_and_promote(uri, settings, result)


def _evaluate_and_promote(uri: str | None, settings: Settings, result: DemoResult) -> DemoResult:
    """An "evaluate" run compares the new model with the one @production on the held-out
    test split; @production moves only on a pass, citing the evaluation."""
    from dataclasses import replace

    from assay.evaluation.report import percent
    from assay.evaluation.scorers import f1
    from assay.sdk.evaluation import evaluate

    try:
        previous: int | None = get(f"models:/{REGISTERED}@production", uri=uri).version
    except NotFound:
        previous = None
    candidate = f"models:/{REGISTERED}/{result.model_version}"
    with init(
        project=PROJECT, job_type="evaluate", tags=["demo"], uri=uri, settings=settings
    ) as run:
        run.use_artifact(result.dataset)
        run.use_artifact(candidate)
        report = evaluate(
            candidate,
            f"{result.dataset}/test.csv",
            ["accuracy", f1(average="macro")],
            label_column="label",
            id_column="id",
            slices=["ink"],
            baseline=None if previous is None else f"models:/{REGISTERED}/{previous}",
            tolerance={"accuracy": 0.01, "f1": 0.01},
            name="digits-holdout",
            progress=False,
        )
        accuracy = next(m for m in report.metrics if m.metric == "accuracy" and m.slice is None)
        run.summary.update({"test_acc": accuracy.value, "verdict": report.verdict.status})
    promoted = report.verdict.status == "pass"
    if promoted:
        first = "first production model" if previous is None else f"replaces v{previous}"
        set_alias(
            REGISTERED,
            "production",
            result.model_version,
            reason=(
                f"{first}: held-out accuracy {accuracy.value:.4f} "
                f"({percent(report.config['level'])} CI {accuracy.low:.4f} to "
                f"{accuracy.high:.4f}); {report.verdict.reason}"
            ),
            evidence=f"eval:{report.id}",
            uri=uri,
        )
    return replace(
        result,
        evaluation_id=report.id or "",
        verdict=report.verdict.status,
        reason=report.verdict.reason,
        promoted=promoted,
        baseline_version=previous,
    )
