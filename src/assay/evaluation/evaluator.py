"""``evaluate``: run a model over a dataset, score every item, compare with a baseline on the
same items, decide, and store the per-item results and the report."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from assay.errors import EvaluationFailed, InvalidInput, NotFound
from assay.evaluation import report as rep
from assay.evaluation import runner
from assay.evaluation.data import Dataset, digested, plain, prepare
from assay.evaluation.scorers import ItemScorer, Scored, Scorer, reference_of, resolve_all
from assay.flavours.targets import Target, target
from assay.records import EvalItem, EvaluationDraft
from assay.store.base import Store
from assay.values import DEFAULT_PROJECT


@dataclass(frozen=True)
class Options:
    """How an evaluation runs and how sure its statistics are."""

    label_column: str | None = None
    id_column: str | None = None
    cluster_column: str | None = None
    slices: tuple[str, ...] = ()
    repeats: int = 1
    tolerance: dict[str, float] = field(default_factory=dict)
    max_errors: float = 0.0  # fraction of items the candidate may raise on before it fails
    workers: int = 4
    timeout: float | None = None
    cache: bool = True
    progress: bool | None = None
    ray: bool = False
    level: float = 0.95
    bootstrap: int = 1000
    seed: int = 0
    load_options: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.repeats < 1:
            raise InvalidInput(f"repeats must be at least 1, got {self.repeats}")
        if not 0 < self.level < 1:
            raise InvalidInput(f"level must be between 0 and 1, got {self.level}")
        if self.bootstrap < 100:
            raise InvalidInput(f"bootstrap needs at least 100 resamples, got {self.bootstrap}")
        if not 0 <= self.max_errors <= 1:
            raise InvalidInput(f"max_errors is a fraction of items, got {self.max_errors}")
        for metric, tol in self.tolerance.items():
            if not isinstance(tol, int | float) or not math.isfinite(tol) or tol < 0:
                raise InvalidInput(f"tolerance for {metric!r} must be a number >= 0, got {tol!r}")


class Report:
    """What an evaluation found. ``summary()`` for the metrics, ``compare`` for the paired
    differences with the baseline, ``verdict`` for the gate's decision."""

    def __init__(
        self,
        name: str,
        model: str,
        dataset: str,
        items: list[EvalItem],
        metrics: list[rep.MetricResult],
        *,
        compare: list[rep.Comparison],
        verdict: rep.Verdict,
        shared: rep.Shared | None,
        config: dict[str, Any],
        baseline: Report | None = None,
        baseline_model: str | None = None,
        baseline_id: str | None = None,
    ) -> None:
        self.name, self.model, self.dataset = name, model, dataset
        self.items, self.metrics, self.compare = items, metrics, compare
        self.verdict, self.shared, self.config = verdict, shared, config
        self.baseline = baseline  # when the baseline was evaluated by this call
        self.baseline_model, self.baseline_id = baseline_model, baseline_id
        self.id: str | None = None
        self.project: str | None = None

    @property
    def errors(self) -> list[EvalItem]:
        return [item for item in self.items if item.error is not None]

    def summary(self) -> list[dict[str, Any]]:
        """One row per metric and slice: value, standard error, CI, items, method."""
        return [rep.to_dict(m) for m in self.metrics]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what ``--json`` writes and the store keeps)."""
        items = len({i.item_id for i in self.items})
        errors = self.errors
        errored = len({e.item_id for e in errors})
        return {
            "name": self.name,
            "model": self.model,
            "dataset": self.dataset,
            "items": items,
            "errors": {
                "count": len(errors),
                "items": errored,
                "within_limit": rep.errors_allowed(
                    errored, items, self.config.get("max_errors", 0.0)
                ),
                "examples": [{"item_id": e.item_id, "error": e.error} for e in errors[:20]],
            },
            "metrics": rep.to_dict(self.metrics),
            "compare": rep.to_dict(self.compare),
            "shared": rep.to_dict(self.shared),
            "verdict": rep.to_dict(self.verdict),
            "config": self.config,
            "baseline": self.baseline_model,
            "baseline_id": self.baseline_id,
        }

    def __repr__(self) -> str:
        return f"<Report {self.name}: {self.model} on {self.dataset}: {self.verdict.status}>"


# ---- running one model -------------------------------------------------------------------------


@contextmanager
def _paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while tens of thousands of small, acyclic records
    are built, scored and summarised: each full collection walks every live object, the
    caller's rows included, and that took a third of an evaluation's own time. The model and
    slow scorers (judges) never run inside; what a quick scorer leaves is collected after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _score(
    scorers: Sequence[Scorer], item: dict[str, Any], output: Any, label_column: str | None
) -> tuple[dict[str, float | None], dict[str, Any]]:
    scores: dict[str, float | None] = {}
    details: dict[str, Any] = {}
    for scorer in scorers:
        if not isinstance(scorer, ItemScorer):
            continue
        try:
            scored = scorer.score(item, output, label_column)
        except InvalidInput:
            raise
        except Exception as exc:  # a scorer failing on one item leaves that score empty
            scored = Scored(None, {"error": runner.describe(exc)})
        scores[scorer.name] = scored.value
        if scored.details:
            details[scorer.name] = plain(scored.details)
    return scores, details


def _items(
    dataset: Dataset,
    stored: list[Any],  # each item's inputs as plain data
    digests: list[str],
    calls: list[list[runner.Call]],
    scorers: Sequence[Scorer],
    *,
    options: Options,
) -> list[EvalItem]:
    pairs = [(index, repeat) for index, outs in enumerate(calls) for repeat in range(len(outs))]

    def scored(pair: tuple[int, int]) -> tuple[dict[str, float | None], dict[str, Any]]:
        index, repeat = pair
        call = calls[index][repeat]
        if call.error:
            return {}, {}
        return _score(scorers, dataset.items[index], call.output, options.label_column)

    slow = any(getattr(s, "slow", False) for s in scorers)
    if slow:  # judges wait: ask them in parallel
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
            results = list(pool.map(scored, pairs))
    with _paused_gc():
        if not slow:
            results = [scored(pair) for pair in pairs]
        return list(
            _records(
                dataset=dataset,
                stored=stored,
                digests=digests,
                calls=calls,
                pairs=pairs,
                results=results,
                options=options,
            )
        )


def _records(
    dataset: Dataset,
    stored: list[Any],  # each item's inputs as plain data
    digests: list[str],
    calls: list[list[runner.Call]],
    pairs: list[tuple[int, int]],
    *,
    results: list[tuple[dict[str, float | None], dict[str, Any]]],
    options: Options,
) -> Iterator[EvalItem]:
    for (index, repeat), (scores, details) in zip(pairs, results, strict=True):
        row, call = dataset.items[index], calls[index][repeat]
        label = row.get(options.label_column) if options.label_column else None
        yield EvalItem(
            item_id=dataset.ids[index],
            repeat=repeat,
            cluster=dataset.clusters[index] if dataset.clusters else None,
            slices={column: str(row[column]) for column in options.slices},
            inputs=stored[index],
            label=plain(label),
            inputs_digest=digests[index],
            output=plain(call.output),
            scores=scores,
            latency_ms=call.latency_ms,
            error=call.error,
            details=details,
            cached=call.cached,
        )


def _run(
    model: Any,
    dataset: Dataset,
    scorers: Sequence[Scorer],
    options: Options,
    store: Store | None,
    *,
    project: str | None,
) -> tuple[Target, list[EvalItem]]:
    meta = {c for c in (options.label_column, options.id_column, options.cluster_column) if c}
    slices = set(options.slices) - meta
    chosen = target(
        model=model,
        store=store,
        project=project,
        skip=meta,
        load_options=options.load_options,
        optional=slices,
    )
    with _paused_gc():
        inputs = [
            {k: v for k, v in row.items() if k != options.label_column} for row in dataset.items
        ]
        digests, stored = digested(inputs)
    cache = None
    if options.cache and options.repeats == 1:
        cache = runner.OutputCache(runner.cache_dir(), chosen.key, {"batch": chosen.batch_size})
    calls = runner.run(
        target=chosen,
        inputs=inputs,
        digests=digests,
        repeats=options.repeats,
        workers=options.workers,
        timeout=options.timeout,
        cache=cache,
        progress=options.progress,
        use_ray=options.ray,
    )
    items = _items(
        dataset=dataset,
        stored=stored,
        digests=digests,
        calls=calls,
        scorers=scorers,
        options=options,
    )
    if all(item.error is not None for item in items):
        first = items[0]
        raise EvaluationFailed(
            f"{chosen.name} raised on every item ({len(items)} calls); "
            f"the first, on item {first.item_id}: {first.error}"
        )
    return chosen, items


# ---- baselines ---------------------------------------------------------------------------------


def _stored_baseline(store: Store, evaluation_id: str) -> tuple[str, str | None, list[EvalItem]]:
    try:
        found = store.evaluations.get(evaluation_id)
    except NotFound:
        raise InvalidInput(f"baseline evaluation {evaluation_id} does not exist") from None
    return found.model, found.id, store.evaluations.items(found.id)


def _rescored(
    items: list[EvalItem], scorers: Sequence[Scorer], label_column: str | None
) -> list[EvalItem]:
    """A stored baseline's items, with any item scorer it lacks computed from its outputs."""
    names = [s.name for s in scorers if isinstance(s, ItemScorer)]
    out = []
    for item in items:
        if item.error is not None or all(n in item.scores for n in names):
            out.append(item)
            continue
        row = {**item.inputs, **({label_column: item.label} if label_column else {})}
        missing = [s for s in scorers if isinstance(s, ItemScorer) and s.name not in item.scores]
        scores, details = _score(missing, row, item.output, label_column)
        out.append(
            _replace(item, scores={**item.scores, **scores}, details={**item.details, **details})
        )
    return out


def _replace(item: EvalItem, **changes: Any) -> EvalItem:
    return msgspec.structs.replace(item, **changes)


# ---- the whole evaluation ----------------------------------------------------------------------


def _config(scorers: Sequence[Scorer], options: Options) -> dict[str, Any]:
    return {
        "scorers": [
            {"name": s.name, "kind": s.kind, "higher_is_better": s.higher_is_better}
            for s in scorers
        ],
        "label_column": options.label_column,
        "id_column": options.id_column,
        "cluster_column": options.cluster_column,
        "slices": list(options.slices),
        "repeats": options.repeats,
        "tolerance": options.tolerance,
        "max_errors": options.max_errors,
        "level": options.level,
        "bootstrap": options.bootstrap,
    }


def _model_project(model: Any, store: Store | None) -> str | None:
    """The project of a registered model, so ``digits-split:latest`` needs no project when
    the model is ``models:/digits-classifier@candidate``."""
    if store is None or not isinstance(model, str) or not model.startswith("models:/"):
        return None
    from assay.artifacts.artifact import resolve

    return resolve(store, model, None).project


def _project(
    project: str | None, dataset: Dataset, chosen: Target, store: Store, run_project: str | None
) -> str:
    if project:
        return project
    for version_id in (dataset.version_id, chosen.version.id if chosen.version else None):
        if version_id:
            return store.artifacts.versions_by_id([version_id])[0].project
    return run_project or DEFAULT_PROJECT  # as assay.init's runs


Baseline = tuple["Report | None", str, "str | None", "list[EvalItem] | None"]


def _baseline(
    baseline: Any,
    data: Any,
    scorers: Sequence[Scorer],
    options: Options,
    store: Store | None,
    *,
    project: str | None,
    run_id: str | None,
    run_project: str | None,
    save: bool,
) -> Baseline:
    """(the baseline's report if this call made it, its model, its evaluation id, its items)."""
    if baseline is None:
        return None, "", None, None
    if isinstance(baseline, Report):
        return baseline, baseline.model, baseline.id, baseline.items
    if isinstance(baseline, str) and baseline.startswith("eval:"):
        if store is None:
            raise InvalidInput("a stored baseline needs a store")
        return None, *_stored_baseline(store, baseline.removeprefix("eval:"))
    made = evaluate(
        model=baseline,
        data=data,
        scorers=scorers,
        options=replace(options, tolerance={}),
        baseline=None,
        store=store,
        project=project,
        name=None,
        run_id=run_id,
        run_project=run_project,
        save=save,
    )
    return made, made.model, made.id, made.items


def evaluate(
    model: Any,
    data: Any,
    scorers: Sequence[Any],
    options: Options,
    *,
    baseline: Any = None,
    store: Store | None = None,
    project: str | None = None,
    name: str | None = None,
    run_id: str | None = None,
    run_project: str | None = None,
    save: bool = True,
) -> Report:
    options.check()
    chosen_scorers = resolve_all(list(scorers))
    run_project = run_project or _model_project(model, store)
    with _paused_gc():
        dataset = prepare(
            data=data,
            store=store,
            project=project or run_project,
            id_column=options.id_column,
            cluster_column=options.cluster_column,
            label_column=options.label_column,
            slices=options.slices,
        )
    for scorer in chosen_scorers:
        if scorer.needs_reference:  # a missing ground truth is named before any model call
            reference_of(scorer, dataset.items[0], options.label_column)
    config = _config(chosen_scorers, options)
    base_report, base_model, base_id, base_items = _baseline(
        baseline=baseline,
        data=data,
        scorers=chosen_scorers,
        options=options,
        store=store,
        project=project,
        run_id=run_id,
        run_project=run_project,
        save=save,
    )
    chosen, items = _run(
        model=model,
        dataset=dataset,
        scorers=chosen_scorers,
        options=options,
        store=store,
        project=project or run_project,
    )
    with _paused_gc():  # the model has run: what follows only builds records
        candidate = rep.side_of(items, chosen_scorers)
        metrics = rep.metrics(
            side=candidate,
            scorers=chosen_scorers,
            slices=options.slices,
            level=options.level,
            draws=options.bootstrap,
            seed=options.seed,
        )
        comparisons: list[rep.Comparison] = []
        shared = None
        if base_items is not None:
            base_items = _rescored(base_items, chosen_scorers, options.label_column)
            base_side = rep.side_of(base_items, chosen_scorers)
            comparisons, shared = rep.compare(
                candidate=candidate,
                baseline=base_side,
                scorers=chosen_scorers,
                slices=options.slices,
                tolerance=options.tolerance,
                level=options.level,
                draws=options.bootstrap,
                seed=options.seed,
            )
            if shared.items == 0:
                raise InvalidInput(
                    f"the baseline ({base_model}) shares no item ids with this data; "
                    "evaluate both on the same items (set id_column= to pair them)"
                )
        verdict = rep.verdict(comparisons, candidate, options.max_errors, base_items is not None)
        report = Report(
            name=name or chosen.name,
            model=chosen.name,
            dataset=dataset.source,
            items=items,
            metrics=metrics,
            compare=comparisons,
            verdict=verdict,
            shared=shared,
            config=config,
            baseline=base_report,
            baseline_model=base_model or None,
            baseline_id=base_id,
        )
        if store is not None and save:
            stored = store.evaluations.save(
                EvaluationDraft(
                    project=_project(project, dataset, chosen, store, run_project),
                    name=report.name,
                    model=chosen.name,
                    model_key=chosen.key,
                    model_version_id=chosen.version.id if chosen.version else None,
                    dataset=dataset.source,
                    dataset_digest=dataset.digest,
                    dataset_version_id=dataset.version_id,
                    baseline_id=base_id,
                    run_id=run_id,
                    verdict=verdict.status,
                    report=plain(report.to_dict()),
                    items=items,
                )
            )
            report.id, report.project = stored.id, stored.project
    return report
