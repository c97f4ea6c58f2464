"""``assay.Api``: read what runs recorded (same URI rules as ``assay.init``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.extras import need
from assay.records import (
    ArtifactInfo,
    ArtifactVersion,
    Columns,
    LogLine,
    MediaKey,
    MetricSummary,
    ModelServer,
    ModelVersion,
    Project,
    RegisteredModel,
    RunEdit,
    duration,
    summary_of,
)
from assay.records import Run as RunRecord
from assay.store.base import Store, open_store
from assay.values import dotted

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    import pyarrow as pa

    from assay.artifacts.artifact import UsedArtifact
    from assay.artifacts.lineage import Direction, Lineage
    from assay.prompting.compare import ABReport
    from assay.records import PromptLabel
    from assay.sdk.prompts import Prompt, PromptInfo
    from assay.sdk.traces import ApiTrace, TraceSet


class ApiRun:
    """A stored run: its fields, plus history and logs read on demand."""

    def __init__(self, record: RunRecord, store: Store) -> None:
        self.record = record
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.record, name)

    @property
    def summary(self) -> dict[str, Any]:
        """Each metric's last value, overridden by what the run set in ``run.summary``."""
        return summary_of(self.record)

    @property
    def metrics(self) -> dict[str, MetricSummary]:
        return self.record.metrics

    @property
    def duration(self) -> float:
        return duration(self.record)

    def config_value(self, path: str, default: Any = None) -> Any:
        """A config value by dotted path, e.g. ``"model.depth"``."""
        return dotted(self.record.config).get(path, default)

    def history(self, keys: Sequence[str] | None = None, format: str = "pandas") -> Any:
        """Full-resolution series.

        ``format``: "pandas" (wide DataFrame indexed by step, one column per key),
        "arrow" (long pyarrow Table: key, step, time, value) or "numpy" ({key: Columns}).
        """
        data = self._store.runs.history(self.record.id, keys)
        if format == "numpy":
            return data
        if format == "pandas":
            return _to_pandas(data)
        if format == "arrow":
            return _to_arrow(data)
        raise InvalidInput(f"format {format!r} is not one of pandas, arrow, numpy")

    def log_lines(self, tail: int | None = None) -> list[LogLine]:
        return self._store.runs.log_lines(self.record.id, tail)

    def media(
        self, key: str, start: int | None = None, end: int | None = None
    ) -> list[tuple[int, Any]]:
        """The rich values logged under ``key`` (within steps [start, end] if given), as
        (step, value) by step: ``assay.Image`` (``.to_numpy()``), ``assay.Table``
        (``.to_pandas()``), ``assay.Histogram`` (``.edges``, ``.counts``), ``assay.Plot``,
        ``assay.Audio``, ``assay.Text``, ``assay.Html`` (``.html``), ``assay.Video``
        (``.data``, ``.format``); a list of them where a list was logged."""
        from assay.sdk import media

        return list(media.read(self._store, self.record.id, key, start, end))

    def media_keys(self) -> list[MediaKey]:
        """The run's media keys: kind, how many steps, first and last step."""
        return self._store.media.keys(self.record.id)

    # ---- management: each change is permission-checked by a server and audited ----------

    @property
    def deleted(self) -> bool:
        return self.record.deleted_at is not None

    def update(
        self,
        *,
        name: str | None = None,
        notes: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        tags: Sequence[str] | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
    ) -> ApiRun:
        """Change descriptive fields; None leaves one as it is, "" clears notes, group or
        job type. ``tags`` replaces the tags, ``add_tags``/``remove_tags`` edit them."""
        edit = RunEdit(
            name=name,
            notes=notes,
            group=group,
            job_type=job_type,
            tags=None if tags is None else list(tags),
            add_tags=list(add_tags),
            remove_tags=list(remove_tags),
        )
        self.record = self._store.runs.update(self.record.id, edit)
        return self

    def rename(self, name: str) -> ApiRun:
        return self.update(name=name)

    def delete(self, with_artifacts: bool = False) -> ApiRun:
        """Delete the run softly: hidden from lists, restorable with ``restore()`` until
        ``assay gc`` purges it (after 30 days by default). The artifact versions it
        produced stay unless ``with_artifacts`` (then the purge removes those nothing
        else uses)."""
        self.record = self._store.runs.delete(self.record.id, with_artifacts=with_artifacts)
        return self

    def restore(self) -> ApiRun:
        self.record = self._store.runs.restore(self.record.id)
        return self

    def move(self, project: str) -> ApiRun:
        """Move the run to another project (its artifacts stay in theirs)."""
        self.record = self._store.runs.move(self.record.id, project)
        return self

    def __repr__(self) -> str:
        r = self.record
        return f"<ApiRun {r.id} {r.project}/{r.name} {r.status}>"


class Api:
    def __init__(
        self, uri: str | os.PathLike[str] | None = None, store: Store | None = None
    ) -> None:
        self.store = store if store is not None else open_store(uri)

    def projects(self) -> list[Project]:
        return self.store.runs.projects()

    def runs(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        deleted: bool = False,
    ) -> list[ApiRun]:
        """Runs of a project; ``filter`` and ``order_by`` use the language of docs/query.md.
        ``deleted=True`` lists the deleted runs not purged yet instead."""
        if isinstance(order_by, str):
            order_by = [order_by]
        records = self.store.runs.list(
            project, filter, tuple(order_by or ()), limit, offset, deleted=deleted
        )
        return [ApiRun(r, self.store) for r in records]

    def count_runs(self, project: str, filter: str | None = None, *, deleted: bool = False) -> int:
        return self.store.runs.count(project, filter, deleted=deleted)

    def run(self, run_id: str) -> ApiRun:
        return ApiRun(self.store.runs.get(run_id), self.store)

    def series(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str],
        points: int = 1000,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[tuple[str, str], Columns]:
        """Each (run, key) series, within steps [start, end] if given, downsampled to at
        most ``points`` points with spikes kept."""
        return self.store.runs.series(list(run_ids), list(keys), points, start, end)

    # ---- artifacts, lineage, registry --------------------------------------------------------

    def artifact(self, ref: str, project: str | None = None) -> UsedArtifact:
        """The version ``ref`` names (``project/name:v3``, ``name:alias`` with ``project=``,
        ``models:/name@alias``), to inspect or ``.download()``; no lineage is recorded."""
        from assay.artifacts.artifact import UsedArtifact, resolve

        return UsedArtifact(self.store, resolve(self.store, ref, project))

    def artifacts(self, project: str, type: str | None = None) -> list[ArtifactInfo]:
        return self.store.artifacts.list(project, type)

    def artifact_versions(self, project: str, name: str) -> list[ArtifactVersion]:
        return self.store.artifacts.versions(project, name)

    def lineage(
        self,
        ref: str,
        direction: Direction = "both",
        depth: int = 3,
        project: str | None = None,
    ) -> Lineage:
        """The DAG of runs and artifact versions around ``ref`` (an artifact reference,
        or ``run:<id>``): "up" towards its sources, "down" towards what came of it."""
        from assay.artifacts.artifact import resolve
        from assay.artifacts.lineage import lineage

        if ref.startswith("run:"):
            return lineage(self.store, self.store.runs.get(ref[4:]), direction, depth)
        return lineage(self.store, resolve(self.store, ref, project), direction, depth)

    def models(self, project: str | None = None) -> list[RegisteredModel]:
        return self.store.models.list(project)

    def model_versions(self, name: str) -> list[ModelVersion]:
        return self.store.models.versions(name)

    def model_servers(self, name: str | None = None) -> list[ModelServer]:
        """Running ``assay serve`` workers (those serving ``name``, if given) as they
        announced themselves: URL, pid, each arm's version, last heartbeat; ``live`` False
        for one silent too long (it died without withdrawing)."""
        return self.store.models.servers(name)

    def requests(
        self,
        model: str,
        *,
        version: str | int | None = None,
        arm: str | None = None,
        since: float | datetime | str | None = None,
        until: float | datetime | str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """A model's request log (docs/serving.md), oldest first: one row per logged
        prediction, ``since <= time < until`` (unix seconds, datetimes or ISO 8601 text;
        naive means UTC), the newest
        ``limit`` rows when given."""
        from assay.sdk.requests import read

        return read(
            self.store, model, version=version, arm=arm, since=since, until=until, limit=limit
        )

    def traces(
        self, project: str, filter: str | None = None, limit: int = 100, offset: int = 0
    ) -> TraceSet:
        """A project's traces, newest first; ``filter`` in the traces' filter language
        (docs/traces.md), such as ``"latency > 2 and model == 'gpt-4o'"``. The list also
        judges its traces (``.judge``) and makes a dataset of them (``.to_dataset``)."""
        from assay.sdk.traces import traces

        return traces(self.store, project, filter, limit, offset)

    def trace(self, trace_id: str, project: str | None = None) -> ApiTrace:
        """One trace with all its spans."""
        from assay.sdk.traces import trace

        return trace(self.store, trace_id, project)

    def prompts(self, project: str) -> list[PromptInfo]:
        """A project's prompts: versions, latest, and labels now (docs/llm.md)."""
        from assay.sdk.prompts import listing

        return listing(self.store, project)

    def prompt(self, ref: str, project: str | None = None, key: str | None = None) -> Prompt:
        """The prompt version ``ref`` names (``name@label``, ``name:v3``, ``name``), read
        now; ``key`` picks its arm of a split as ``assay.prompts.get`` would."""
        from assay.sdk.prompts import read

        return read(self.store, ref, key=key, project=project)

    def prompt_versions(self, name: str, project: str) -> list[Prompt]:
        """Every version of a prompt, newest first."""
        from assay.sdk.prompts import stored_versions

        return stored_versions(self.store, project, name)

    def prompt_labels(self, name: str, project: str, history: bool = False) -> list[PromptLabel]:
        """A prompt's labels now, or (``history``) every move, newest first."""
        if history:
            return self.store.prompts.history(project, name)
        return self.store.prompts.labels(project, name)

    def compare_prompt(self, ref: str, **options: Any) -> ABReport:
        """How the arms of ``name@label``'s split compare (``assay.prompts.compare``)."""
        from assay.sdk.prompts import compare_in

        return compare_in(self.store, ref, **options)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _to_pandas(data: dict[str, Columns]) -> pd.DataFrame:
    need("pandas", "a history as a DataFrame")
    import pandas as pd

    frames = [
        pd.Series(c.values, index=pd.Index(c.steps, name="step"), name=key)
        for key, c in data.items()
    ]
    if not frames:
        return pd.DataFrame(index=pd.Index([], name="step", dtype="int64"))
    return pd.concat(frames, axis=1).sort_index()


def _to_arrow(data: dict[str, Columns]) -> pa.Table:
    import numpy as np

    need("pyarrow", "a history as an Arrow table")
    import pyarrow as pa

    keys = [np.full(len(c), k, dtype=object) for k, c in data.items()]
    columns = {
        "key": np.concatenate(keys) if keys else np.empty(0, dtype=object),
        "step": np.concatenate([c.steps for c in data.values()]) if data else np.empty(0, np.int64),
        "time": np.concatenate([c.times for c in data.values()]) if data else np.empty(0),
        "value": np.concatenate([c.values for c in data.values()]) if data else np.empty(0),
    }
    return pa.table({k: pa.array(v) for k, v in columns.items()})
