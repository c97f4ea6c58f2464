from __future__ import annotations

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput
from tests.conftest import QUIET


@pytest.fixture
def run_id(store_uri: str) -> str:
    with assay.init(
        project="p", config={"model": {"depth": 3}}, uri=store_uri, settings=QUIET
    ) as run:
        for i in range(3):
            run.log({"loss": 1.0 / (i + 1)})
        run.log({"acc": 0.9}, step=1)
    return run.id


def test_history_as_pandas_is_wide_by_step(store_uri: str, run_id: str) -> None:
    frame = assay.Api(store_uri).run(run_id).history()
    assert list(frame.index) == [0, 1, 2] and frame.index.name == "step"
    assert frame.loc[1, "acc"] == 0.9 and np.isnan(frame.loc[0, "acc"])
    assert frame["loss"].tolist() == [1.0, 0.5, 1.0 / 3]


def test_history_as_arrow_is_long(store_uri: str, run_id: str) -> None:
    table = assay.Api(store_uri).run(run_id).history(["loss"], format="arrow")
    assert table.column_names == ["key", "step", "time", "value"]
    assert table.num_rows == 3 and set(table.column("key").to_pylist()) == {"loss"}


def test_history_unknown_format(store_uri: str, run_id: str) -> None:
    with pytest.raises(InvalidInput, match="format"):
        assay.Api(store_uri).run(run_id).history(format="xml")


def test_run_view_fields(store_uri: str, run_id: str) -> None:
    run = assay.Api(store_uri).run(run_id)
    assert run.config_value("model.depth") == 3 and run.config_value("model.width", 7) == 7
    assert run.summary["acc"] == 0.9 and run.duration >= 0
    assert run.project == "p" and run.status == "finished"


def test_series_downsamples(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        for i in range(5000):
            run.log({"x": float(i % 100)})
    got = assay.Api(store_uri).series([run.id], ["x"], points=100)[(run.id, "x")]
    assert len(got) <= 100 and got.values.max() == 99.0 and got.values.min() == 0.0


def test_projects_and_count(store_uri: str, run_id: str) -> None:
    api = assay.Api(store_uri)
    assert [p.name for p in api.projects()] == ["p"]
    assert api.count_runs("p") == 1 and api.count_runs("p", "summary.acc < 0.5") == 0
