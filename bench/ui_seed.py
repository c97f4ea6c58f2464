"""Bulk seeding for the UI benchmark: 100,000 runs in a minute instead of half an hour.

``store.runs.write_batch`` applies one batch per transaction (claim, lock, audit, points,
summaries): about 10 ms a run here, so 100,000 runs would take 17 minutes before a single
page is measured. These helpers write the same rows the write path leaves for a run
created with its config and one point of each metric (``runs``, ``projects``,
``metric_chunks``, ``metric_summary``, ``run_cells``, through Assay's own schema tables,
series codec and cells) thousands at a time, one transaction per slice. They skip what
the pages never read (the audit record of each creation, the batch claims).
``check_assay`` compares a bulk run with one written through ``write_batch``, so the
shortcut cannot drift from the write path unnoticed.

MLflow's runs are written the same way into the tables its SQLAlchemy store reads
(``runs``, ``tags`` with ``mlflow.runName``, ``params``, ``metrics``,
``latest_metrics``), after MLflow itself has created the database and the experiment.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

SLICE = 5_000  # runs a transaction

RunSpec = tuple[str, dict[str, Any], dict[str, float]]  # (name, config, metric -> value)


def slices(count: int) -> Iterator[range]:
    for start in range(0, count, SLICE):
        yield range(start, min(count, start + SLICE))


def bulk_assay(
    store: Any, project: str, count: int, spec: Callable[[int], RunSpec], created: float
) -> list[str]:
    """``count`` finished runs in ``project`` of a SqlStore, run ``i`` made by ``spec(i)``
    and created at ``created + i``; their ids, in that order."""
    from assay.ids import new_run_id
    from assay.store.sql import cells
    from assay.store.sql.schema import metric_chunks, metric_summary, projects, run_cells, runs

    step = np.zeros(1, dtype="<i8").tobytes()
    stamp = np.full(1, created, dtype="<f8").tobytes()
    ids: list[str] = []
    with store.engine.begin() as conn:
        conn.execute(projects.insert(), {"name": project, "created_at": created})
    for part in slices(count):
        run_rows, chunk_rows, summary_rows, cell_rows = [], [], [], []
        for i in part:
            run_id = new_run_id()
            ids.append(run_id)
            name, config, metrics = spec(i)
            at = created + i
            run_rows.append(
                {
                    "id": run_id,
                    "project": project,
                    "name": name,
                    "status": "finished",
                    "created_at": at,
                    "updated_at": at,
                    "heartbeat_at": at,
                    "seen_at": at,
                    "finished_at": at,
                    "config": config,
                    "summary": {},
                    "host": {},
                }
            )
            cell_rows += cells.config_rows(run_id, project, config)
            cell_rows += cells.metric_rows(run_id, project, metrics)
            for key, value in metrics.items():
                chunk_rows.append(
                    {
                        "run_id": run_id,
                        "key": key,
                        "n": 1,
                        "step_min": 0,
                        "step_max": 0,
                        "steps": step,
                        "times": stamp,
                        "values": np.array([value], dtype="<f8").tobytes(),
                    }
                )
                summary_rows.append(
                    {
                        "run_id": run_id,
                        "key": key,
                        "last": value,
                        "min": value,
                        "max": value,
                        "count": 1,
                        "last_step": 0,
                        "open_chunks": 1,
                    }
                )
        with store.engine.begin() as conn:
            conn.execute(runs.insert(), run_rows)
            conn.execute(metric_chunks.insert(), chunk_rows)
            conn.execute(metric_summary.insert(), summary_rows)
            conn.execute(run_cells.insert(), cell_rows)
    return ids


def check_assay(store: Any, project: str, spec: Callable[[int], RunSpec], created: float) -> None:
    """A bulk run reads back like one written through ``write_batch`` with the same
    config and points (AssertionError if not)."""
    from assay.ids import new_run_id
    from assay.records import Batch, CreateRun, Points, UpdateRun

    [bulk] = bulk_assay(store, project, 1, spec, created)
    name, config, metrics = spec(0)
    run_id = new_run_id()
    step = np.zeros(1, dtype="<i8").tobytes()
    stamp = np.full(1, created, dtype="<f8").tobytes()
    ops: list[Any] = [
        CreateRun(
            project=project + "-check",
            name=name,
            created_at=created,
            config=config,
            tags=[],
            notes=None,
            group=None,
            job_type=None,
            host={},
        ),
        *[
            Points(key=k, steps=step, times=stamp, values=np.array([v], "<f8").tobytes())
            for k, v in metrics.items()
        ],
        UpdateRun(at=created, status="finished"),
    ]
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=ops))
    a, b = store.runs.get(bulk), store.runs.get(run_id)
    assert (a.config, a.metrics, a.summary, a.status) == (b.config, b.metrics, b.summary, b.status)
    assert cells_of(store, bulk) == cells_of(store, run_id)
    ours, theirs = store.runs.history(bulk), store.runs.history(run_id)
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        assert ours[key].to_bytes() == theirs[key].to_bytes(), key


def cells_of(store: Any, run_id: str) -> list[tuple[Any, ...]]:
    """A run's cells (run_cells), without its id and project."""
    import sqlalchemy as sa

    from assay.store.sql.schema import run_cells

    c = run_cells.c
    query = (
        sa.select(c.kind, c.key, c.num, c.text, c.value)
        .where(c.run_id == run_id)
        .order_by(c.kind, c.key)
    )
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def bulk_mlflow(
    path: str, experiment_id: str, count: int, spec: Callable[[int], RunSpec], created: float
) -> list[str]:
    """The same runs in MLflow's SQLite database at ``path`` (the experiment made by
    MLflow's client first, so its schema is MLflow's own): params as text, each metric
    one point at step 0 and its latest value."""
    ids: list[str] = []
    db = sqlite3.connect(path)
    try:
        for part in slices(count):
            runs, tags, params, metrics, latest = [], [], [], [], []
            for i in part:
                run_id = uuid.uuid4().hex
                ids.append(run_id)
                name, config, values = spec(i)
                ms = int((created + i) * 1000)
                runs.append(
                    (run_id, name, "UNKNOWN", "", "", "bench", "FINISHED", ms, ms, "",
                     "active", f"mlruns/{experiment_id}/{run_id}/artifacts", int(experiment_id))
                )  # fmt: skip
                tags.append(("mlflow.runName", name, run_id))
                params += [(k, str(v), run_id) for k, v in config.items()]
                metrics += [(k, v, ms, run_id, 0, 0) for k, v in values.items()]
                latest += [(k, v, ms, 0, 0, run_id) for k, v in values.items()]
            with db:
                db.executemany(
                    "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name,"
                    " user_id, status, start_time, end_time, source_version, lifecycle_stage,"
                    " artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    runs,
                )
                db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
                db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
                db.executemany(
                    "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                    " VALUES (?,?,?,?,?,?)",
                    metrics,
                )
                db.executemany(
                    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                    " VALUES (?,?,?,?,?,?)",
                    latest,
                )
    finally:
        db.close()
    return ids


def mlflow_series(path: str, run_id: str, key: str, values: np.ndarray, created: float) -> None:
    """One long series of a run in MLflow's database (steps 0..n-1), as log_batch leaves it."""
    start = int(created * 1000)
    rows = [(key, float(v), start + s, run_id, s, 0) for s, v in enumerate(values)]
    db = sqlite3.connect(path)
    try:
        with db:
            db.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                " VALUES (?,?,?,?,?,?)",
                rows,
            )
            last = rows[-1]
            db.execute(
                "INSERT OR REPLACE INTO latest_metrics"
                " (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)",
                (key, last[1], last[2], last[4], 0, run_id),
            )
    finally:
        db.close()


def elapsed(t0: float) -> str:
    return f"{time.perf_counter() - t0:.1f} s"
