"""Train SGD classifiers on the digits data epoch by epoch, logging every epoch."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.sdk.init import init
from assay.sdk.models import register_model, set_alias
from assay.sdk.settings import Settings

PROJECT = "digits"
DATASET = "digits-split"
MODEL = "digits-model"
REGISTERED = "digits-classifier"


@dataclass(frozen=True)
class DemoResult:
    project: str
    run_ids: list[str]
    best_run_id: str
    best_val_acc: float
    dataset: str = ""  # the dataset version every run used, e.g. digits/digits-split:v0
    model_version: int = 0  # the registered version @production points at


def _write_split(folder: Path, x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> None:
    import numpy as np

    header = ",".join([f"pixel{i}" for i in range(x_train.shape[1])] + ["label"])
    for name, x, y in (("train.csv", x_train, y_train), ("val.csv", x_val, y_val)):
        table = np.column_stack([x, y]).astype(int)
        np.savetxt(folder / name, table, fmt="%d", delimiter=",", header=header, comments="")


def _log_dataset(uri: str | None, settings: Settings, split: tuple[Any, ...], seed: int) -> str:
    """A "prepare" run logs the train/validation split as a dataset artifact."""
    with (
        tempfile.TemporaryDirectory(prefix="assay-demo-") as tmp,
        init(
            project=PROJECT,
            job_type="prepare",
            tags=["demo"],
            uri=uri,
            settings=settings,
            config={"test_size": 0.25, "seed": seed},
        ) as run,
    ):
        _write_split(Path(tmp), *split)
        version = run.log_artifact(
            tmp,
            name=DATASET,
            type="dataset",
            metadata={
                "train_rows": len(split[1]),
                "val_rows": len(split[3]),
                "source": "sklearn digits",
            },
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
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    settings = Settings(system_metrics_interval=system_metrics_interval, capture_console=False)
    dataset = _log_dataset(uri, settings, (x_train, y_train, x_val, y_val), seed)
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
                run.log(metrics)
                best_acc = max(best_acc, float(metrics["val/acc"]))
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
    set_alias(
        REGISTERED,
        "production",
        registered.version,
        reason=f"best val/acc ({best[1]:.4f}) of {len(run_ids)} demo runs",
        uri=uri,
    )
    return DemoResult(PROJECT, run_ids, best[0], best[1], dataset, registered.version)
