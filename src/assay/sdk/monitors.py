"""Monitors on served models: what ``assay monitor add/ls/show/rm/run`` and the server's
scheduler call (docs/monitoring.md).

A monitor is a run in its model's project: job type ``monitor``, tags ``monitor`` and
``model:<name>``, its definition (``MonitorSpec``) as config. Each closed window of the
request log is logged at step = window index (assay.monitoring.windows names the
series), so the run pages and charts show them. A window's batch is claimed as
(run, "windows", step): two schedulers never log a window twice. Late labels are joined
on later passes over the last ``label_horizon`` windows. Incidents of alert rules are
kept by ``store.alerts``; each pass attempts the webhook deliveries that are due, new
and failed ones alike (sdk/alerting.py).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import AssayError, InvalidInput, NotFound
from assay.ids import new_run_id
from assay.monitoring.spec import MonitorSpec, aligned_origin, parse_duration
from assay.records import Batch, CreateRun, Points, UpdateRun

if TYPE_CHECKING:
    from assay.monitoring.profile import Profile
    from assay.monitoring.requests import RequestSource
    from assay.records import Run
    from assay.sdk.alerting import Change, Delivery
    from assay.store import Store

log = logging.getLogger("assay.monitoring")
JOB_TYPE = "monitor"
TAG = "monitor"
REMOVED_TAG = "monitor-removed"
WINDOWS_WRITER = "windows"
LABELS_WRITER = "labels"
EDITS_WRITER = "edits"
PAGE = 1000  # monitors listed per request
MAX_CATCH_UP = 168  # windows logged per pass at most (a week of hours)
BASELINE_KEY = "prediction_baseline"
LABELS_EVERY = 600.0  # seconds: the longest a pass waits to look for late labels again
_LABELS_CHECKED: dict[str, float] = {}  # monitor id -> when this process last looked
_LABELS_LOCK = threading.Lock()


@dataclass(kw_only=True)
class Pass:
    """What one pass over a monitor did."""

    monitor: str
    windows: list[int] = field(default_factory=list)  # steps logged by this pass
    relabelled: list[int] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    error: str | None = None


def model_name(model_ref: str) -> tuple[str, str | None]:
    """``models:/name@alias`` / ``models:/name/3`` / ``name`` -> (name, selector)."""
    from assay.artifacts.uris import ModelRef, parse_ref

    if not model_ref.startswith("models:"):
        return model_ref, None
    parsed = parse_ref(model_ref)
    if not isinstance(parsed, ModelRef):
        raise InvalidInput(f"{model_ref!r} is not a model URI: use models:/name@alias")
    return parsed.name, parsed.selector


def add(
    store: Store,
    model_ref: str,
    *,
    window: str | float = "1h",
    reference: Any = None,
    alerts: list[str] | None = None,
    webhook: str | None = None,
    features: list[str] | None = None,
    prediction: str | None = None,
    scorer: str = "accuracy",
    alpha: float = 0.01,
    start: float | None = None,
    name: str | None = None,
) -> Run:
    """Create a monitor of a registered model; ``reference`` (a dataset artifact, a data
    file or a profile artifact) is profiled into a ``profile`` artifact produced by the
    monitor's run, with lineage to the dataset."""
    model, selector = model_name(model_ref)
    registered = store.models.get(model)  # NotFound names an unknown model
    seconds = parse_duration(window)
    spec = MonitorSpec(
        model=model,
        selector=selector,
        window=seconds,
        origin=aligned_origin(time.time() if start is None else start, seconds),
        features=features,
        prediction=prediction,
        scorer=scorer,
        alpha=alpha,
        alerts=list(alerts or []),
        webhook=webhook,
    )
    run_id = new_run_id()
    label = name or f"monitor-{model}{'@' + selector if selector else ''}"
    _create(store, run_id, registered.project, label, spec)
    if reference is not None:
        spec.reference, spec.reference_data = _reference(
            store, reference, registered.project, run_id, model
        )
        _edit(store, run_id, UpdateRun(at=time.time(), config=spec.to_config()))
    return store.runs.get(run_id)


def _create(store: Store, run_id: str, project: str, name: str, spec: MonitorSpec) -> None:
    now = time.time()
    create = CreateRun(
        project=project,
        name=name,
        created_at=now,
        config=spec.to_config(),
        tags=[TAG, f"model:{spec.model}"],
        notes=None,
        group=None,
        job_type=JOB_TYPE,
        host={},
    )
    # finished at once: a monitor's run is a record of windows, not a live process
    _write(store, run_id, "create", 0, [create, UpdateRun(at=now, status="finished")])


def _reference(
    store: Store, reference: Any, project: str, run_id: str, model: str
) -> tuple[str, str]:
    """(the reference profile's ref, what it was made from). A profile artifact is used
    as it is; anything else is profiled and stored, produced by the monitor's run."""
    from assay.artifacts.artifact import resolve
    from assay.sdk.profiles import TYPE, profile_of, save_profile

    version = None
    if isinstance(reference, str):
        # a data file, or a dataset named with its file (train:v3/a.csv), does not resolve
        with contextlib.suppress(NotFound, InvalidInput):
            version = resolve(store, reference, project)
    if version is not None and version.type == TYPE:
        store.artifacts.record_use(run_id, version.id)
        return _pinned(version), version.metadata.get("source", version.ref)
    prof, source, used = profile_of(store, reference, project)
    saved = save_profile(
        store,
        prof,
        name=f"{model}-reference",
        project=project,
        run_id=run_id,
        source=source,
        used=used,
    )
    return _pinned(saved), source


def _pinned(version: Any) -> str:
    return f"{version.project}/{version.name}:v{version.version}"


def _edit(store: Store, run_id: str, op: UpdateRun) -> None:
    _write(store, run_id, EDITS_WRITER, time.time_ns(), [op])


def _write(store: Store, run_id: str, writer: str, seq: int, ops: list[Any]) -> bool:
    return store.runs.write_batch(Batch(run_id=run_id, writer=writer, seq=seq, ops=ops))


def monitors(store: Store, model: str | None = None, project: str | None = None) -> list[Run]:
    """Active monitors, of one model or project if named."""
    projects = [project] if project else [p.name for p in store.runs.projects()]
    found: list[Run] = []
    where = f"job_type == '{JOB_TYPE}' and '{TAG}' in tags"
    if model is not None:
        where += f" and 'model:{_quoted(model)}' in tags"
    for name in projects:
        offset = 0
        while page := store.runs.list(
            name, filter=where, order_by=["created"], limit=PAGE, offset=offset
        ):
            found.extend(page)
            offset += len(page)
            if len(page) < PAGE:
                break
    return found


def get(store: Store, monitor_id: str) -> tuple[Run, MonitorSpec]:
    run = store.runs.get(monitor_id)
    if run.job_type != JOB_TYPE:
        raise NotFound(f"run {monitor_id} is not a monitor")
    return run, MonitorSpec.from_config(run.config)


def remove(store: Store, monitor_id: str) -> Run:
    """Stop a monitor: it is no longer run or listed; its series and alerts are kept."""
    run, _ = get(store, monitor_id)
    tags = [t for t in run.tags if t != TAG] + [REMOVED_TAG]
    _edit(store, run.id, UpdateRun(at=time.time(), tags=tags, status="killed"))
    return store.runs.get(run.id)


# ---- passes ---------------------------------------------------------------------------------


def run_all(store: Store, source: RequestSource, now: float | None = None) -> list[Pass]:
    """One pass over every active monitor (what the scheduler does each interval)."""
    done = []
    for run in monitors(store):
        try:
            done.append(run_one(store, run.id, source, now))
        except AssayError as exc:  # one broken monitor must not stop the others
            log.warning("monitor %s: %s", run.id, exc)
            done.append(Pass(monitor=run.id, error=str(exc)))
    return done


def run_one(store: Store, monitor_id: str, source: RequestSource, now: float | None = None) -> Pass:
    """Log every window closed by ``now`` not logged yet, join late labels, check rules,
    attempt the webhook deliveries due."""
    from assay.sdk.alerting import check_rules, deliver_due

    run, spec = get(store, monitor_id)
    now = time.time() if now is None else now
    done = Pass(monitor=run.id)
    closed = spec.last_closed(now)
    traffic = run.metrics.get("traffic")
    first = traffic.last_step + 1 if traffic is not None else 0
    first = max(first, closed - MAX_CATCH_UP + 1)
    reference = _load_reference(store, spec, run.project)
    baseline = _baseline(run)
    for step in range(first, closed + 1):
        logged, outputs = _log_window(store, run, spec, step, source, reference, baseline)
        if logged:
            done.windows.append(step)
        if baseline is None and outputs is not None:
            baseline = outputs
    if _labels_due(run.id, now, spec.window):
        done.relabelled = _join_labels(store, run, spec, source, first)
    latest = store.runs.get(run.id)
    done.changes = check_rules(store, latest, spec, done.windows)
    done.deliveries = deliver_due(store, latest, spec, now)
    return done


def _load_reference(store: Store, spec: MonitorSpec, project: str) -> Profile | None:
    from assay.sdk.profiles import load_profile

    return None if spec.reference is None else load_profile(store, spec.reference, project)


def _baseline(run: Run) -> Profile | None:
    from assay.monitoring.profile import Profile

    text = run.summary.get(BASELINE_KEY)
    return Profile.from_bytes(text.encode()) if isinstance(text, str) else None


def _log_window(  # noqa: PLR0917 - one window's inputs
    store: Store,
    run: Run,
    spec: MonitorSpec,
    step: int,
    source: RequestSource,
    reference: Profile | None,
    baseline: Profile | None,
) -> tuple[bool, Profile | None]:
    from assay.monitoring.windows import evaluate_window

    since, until = spec.bounds(step)
    frame = source.read(spec.model, since=since, until=until)
    result = evaluate_window(frame, spec, step, reference, baseline)
    ops: list[Any] = _points(result.metrics, step, until.timestamp())
    if baseline is None and result.outputs is not None:
        ops.append(
            UpdateRun(at=time.time(), summary={BASELINE_KEY: result.outputs.to_bytes().decode()})
        )
    claimed = _write(store, run.id, WINDOWS_WRITER, step, ops)
    return claimed, result.outputs if claimed else None


def _labels_due(monitor_id: str, now: float, window: float) -> bool:
    """Whether to look for late labels now: at most once per window (and at least every
    LABELS_EVERY seconds) per process, since it reads the whole label horizon."""
    with _LABELS_LOCK:
        last = _LABELS_CHECKED.get(monitor_id)
        if last is not None and 0 <= now - last < min(window, LABELS_EVERY):
            return False
        _LABELS_CHECKED[monitor_id] = now
        return True


def _join_labels(
    store: Store, run: Run, spec: MonitorSpec, source: RequestSource, first: int
) -> list[int]:
    """Recompute performance of the already logged windows of the label horizon whose
    labelled count changed (labels arrive after their requests)."""
    from assay.monitoring.windows import performance, slices

    steps = [s for s in range(first - spec.label_horizon, first) if s >= 0]
    if not steps:
        return []
    stored = store.runs.history(run.id, ["labelled", "traffic"])
    counts = _by_step(stored.get("labelled"))
    logged = _by_step(stored.get("traffic"))
    since, _ = spec.bounds(steps[0])
    _, until = spec.bounds(steps[-1])
    frame = source.read(spec.model, since=since, until=until)
    if len(frame) == 0 or "label" not in frame.columns:
        return []
    changed = []
    for step, rows in _windows_of(frame, spec, steps):
        labelled = float(rows["label"].notna().sum())
        if step not in logged or labelled == counts.get(step, 0.0):
            continue
        metrics: dict[str, float] = {}
        for prefix, part in slices(rows):
            metrics.update({f"{prefix}{k}": v for k, v in performance(part, spec).items()})
        _, end = spec.bounds(step)
        if _write(
            store, run.id, LABELS_WRITER, time.time_ns(), _points(metrics, step, end.timestamp())
        ):
            changed.append(step)
    return changed


def _windows_of(frame: Any, spec: MonitorSpec, steps: list[int]) -> Iterator[tuple[int, Any]]:
    seconds = frame["time"].map(lambda t: t.timestamp()).to_numpy(dtype=float)
    index = np.floor((seconds - spec.origin) / spec.window).astype(int)
    for step in steps:
        yield step, frame[index == step]


def _by_step(series: Any) -> dict[int, float]:
    if series is None:
        return {}
    return dict(zip(series.steps.tolist(), series.values.tolist(), strict=True))


def _points(metrics: dict[str, float], step: int, at: float) -> list[Any]:
    ops = []
    for key, value in sorted(metrics.items()):
        if value is None or not math.isfinite(value):
            continue  # no value this window (no traffic, no labels): no point
        ops.append(
            Points(
                key=key,
                steps=np.array([step], dtype="<i8").tobytes(),
                times=np.array([at], dtype="<f8").tobytes(),
                values=np.array([value], dtype="<f8").tobytes(),
            )
        )
    return ops


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


class StoreRequests:
    """The serving request log kept by the store (``store.requests``, docs/serving.md)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self, model: str, *, since: datetime, until: datetime) -> Any:
        from assay.sdk.requests import read

        return read(self.store, model, since=since, until=until)
