"""``assay.evaluate``: evaluate a model on a dataset, compare it with a baseline on the same
items, and keep the report.

    report = assay.evaluate(
        model="models:/digits-classifier@candidate",
        data="digits-split:latest/test.csv",
        scorers=["accuracy", assay.scorers.f1(average="macro")],
        label_column="label", id_column="id",
        baseline="models:/digits-classifier@production",
        tolerance={"accuracy": 0.01},
    )
    report.verdict.status      # "pass" | "fail" | "inconclusive"

The report and every item's result go to the store (``uri=``, else the active run's, else
``ASSAY_URI``, else ``~/.assay``), linked to the model and dataset versions and to the active
run; ``save=False`` keeps it in memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from assay.evaluation.evaluator import Options, Report
from assay.evaluation.evaluator import evaluate as run_evaluation
from assay.flavours.batching import batched
from assay.store.base import Store, open_store

__all__ = ["Report", "batched", "evaluate"]


def evaluate(
    model: Any,
    data: Any,
    scorers: Sequence[Any] = ("accuracy",),
    *,
    label_column: str | None = None,
    id_column: str | None = None,
    cluster_column: str | None = None,
    slices: Sequence[str] = (),
    repeats: int = 1,
    baseline: Any = None,
    tolerance: Mapping[str, float] | None = None,
    max_errors: float = 0.0,
    name: str | None = None,
    project: str | None = None,
    workers: int = 4,
    timeout: float | None = None,
    cache: bool = True,
    progress: bool | None = None,
    ray: bool = False,
    level: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
    trusted: Sequence[str] = (),
    allow_pickle: bool = False,
    constructor: Callable[[], Any] | None = None,
    save: bool = True,
    uri: str | os.PathLike[str] | None = None,
) -> Report:
    """Run ``model`` on every item of ``data``, score it, compare with ``baseline`` (a model,
    a stored evaluation as ``eval:<id>``, or a ``Report``) and decide pass / fail /
    inconclusive. See docs/evaluate.md for every option."""
    from assay.sdk.module import active_run

    options = Options(
        label_column=label_column,
        id_column=id_column,
        cluster_column=cluster_column,
        slices=tuple([slices] if isinstance(slices, str) else slices),
        repeats=repeats,
        tolerance={str(k): v for k, v in (tolerance or {}).items()},
        max_errors=max_errors,
        workers=workers,
        timeout=timeout,
        cache=cache,
        progress=progress,
        ray=ray,
        level=level,
        bootstrap=bootstrap,
        seed=seed,
        load_options={"trusted": trusted, "allow_pickle": allow_pickle, "constructor": constructor},
    )
    run = active_run()
    online = run is not None and run.mode == "online" and uri is None
    store: Store | None = None
    owned = False
    if online and run is not None:
        store = run.record_store()
    elif save or any(isinstance(x, str | os.PathLike) for x in (model, data, baseline)):
        store, owned = open_store(uri), True
    try:
        return run_evaluation(
            model,
            data,
            scorers,
            options,
            baseline=baseline,
            store=store,
            project=project,
            name=name,
            run_id=run.id if online and run is not None else None,
            run_project=run.project if run is not None else None,
            save=save,
        )
    finally:
        if owned and store is not None:
            store.close()
