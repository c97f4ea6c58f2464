"""MLflow's run search language translated into Assay's (assay/query/mlflow.py): each
translation parses as an Assay filter and picks the runs MLflow would, on every store
backend; what Assay cannot answer exactly is refused, never answered differently."""

from __future__ import annotations

import time

import numpy as np
import pytest

from assay.errors import InvalidInput
from assay.query.filter import parse_filter
from assay.query.mlflow import parse_search, to_assay_filter, to_assay_order
from assay.records import FLOAT, STEP, Batch, Points, UpdateRun
from assay.store.base import Store
from tests.conftest import StoreFactory, create_op


@pytest.mark.parametrize(
    ("mlflow", "assay"),
    [
        ("metrics.acc > 0.9", "metrics.acc.last > 0.9"),
        ("metrics.`val loss` <= 1", "metrics.`val loss`.last <= 1.0"),
        ('metrics."val/loss" != 2.5', "metrics.val/loss.last != 2.5"),
        ("params.opt = 'adam'", "(config.opt == 'adam')"),
        ("params.lr = '0.01'", "(config.lr == '0.01' or config.lr == 0.01)"),
        ("tags.team = 'vision'", "('team=vision' in tags)"),
        ("tags.team != 'vision'", "not 'team=vision' in tags"),
        ("tags.mlflow.runName = 'a'", "name == 'a'"),
        ("attributes.status = 'FINISHED'", "status == 'finished'"),
        ("attributes.run_name LIKE '%base%'", "name ~ 'base'"),
        ("attributes.start_time >= 1700000000000", "created >= 1700000000.0"),
        ("attributes.run_id IN ('a', 'b')", "id in ['a', 'b']"),
        ("attributes.lifecycle_stage = 'active'", None),
        ("metrics.a > 1 AND params.b = 'x'", "metrics.a.last > 1.0 and (config.b == 'x')"),
        ("", None),
    ],
)
def test_mlflow_filters_translate_into_assay_filters_that_parse(
    mlflow: str, assay: str | None
) -> None:
    translated = to_assay_filter(mlflow)
    assert translated == assay
    if translated is not None:
        parse_filter(translated)


@pytest.mark.parametrize(
    "mlflow",
    [
        "tags.team LIKE 'vis%'",  # Assay tags are matched whole
        "attributes.run_name LIKE 'base%'",  # a prefix is not a substring
        "datasets.name = 'x'",
        "metrics.acc > 'high'",
        "metrics.acc > 1 OR metrics.b > 1",  # MLflow has no OR either
        "attributes.artifact_uri = 'x'",
        "tags.mlflow.source.name = 'train.py'",
        "metrics.acc >",
        "params.x = 'it''s \"quoted\"'",
    ],
)
def test_what_assay_cannot_answer_exactly_is_refused(mlflow: str) -> None:
    with pytest.raises(InvalidInput):
        to_assay_filter(mlflow)


def test_quoted_strings_keep_doubled_quotes_and_keys_keep_dots() -> None:
    [clause] = parse_search("params.`model.depth` = 'it''s'")
    assert (clause.entity, clause.key, clause.value) == ("params", "model.depth", "it's")
    assert to_assay_filter("params.model.depth = '3'") == (
        "(config.`model.depth` == '3' or config.model.depth == '3' or "
        "config.`model.depth` == 3.0 or config.model.depth == 3.0)"
    )


def test_order_by_translates_with_newest_first_and_id_as_tie_break() -> None:
    assert to_assay_order([]) == ["-created", "id"]
    assert to_assay_order(["metrics.acc DESC", "params.lr"]) == [
        "-metrics.acc.last",
        "config.lr",
        "-created",
        "id",
    ]
    assert to_assay_order(["attributes.start_time ASC"]) == ["created", "id"]
    with pytest.raises(InvalidInput):
        to_assay_order(["tags.team DESC"])


def _log(
    store: Store, run_id: str, *, tags: list[str], config: dict[str, object], acc: float
) -> None:
    now = time.time()
    points = Points(
        key="acc",
        steps=np.array([0], dtype=STEP).tobytes(),
        times=np.array([now], dtype=FLOAT).tobytes(),
        values=np.array([acc], dtype=FLOAT).tobytes(),
    )
    ops = [
        create_op(project="m", name=run_id, tags=tags, config=config, created_at=now),
        points,
        UpdateRun(at=now, status="finished"),
    ]
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=ops))


@pytest.mark.parametrize(
    ("mlflow", "expected"),
    [
        ("metrics.acc > 0.8", {"r1", "r3"}),
        ("tags.team = 'vision'", {"r1", "r2"}),
        ("tags.team != 'vision'", {"r3"}),
        ("params.lr = '0.01'", {"r1", "r3"}),  # a string param, and a number in a config
        ("params.model.depth = '3'", {"r2"}),  # a nested config key
        ("tags.team = 'vision' and metrics.acc > 0.8", {"r1"}),
        ("attributes.run_name LIKE '%2%'", {"r2"}),
        ("attributes.status = 'FINISHED' and attributes.run_id IN ('r1', 'r3')", {"r1", "r3"}),
        ("tags.team IN ('nlp', 'vision')", {"r1", "r2", "r3"}),
    ],
)
def test_translated_filters_pick_the_runs_mlflow_would(
    sql_store_factory: StoreFactory, mlflow: str, expected: set[str]
) -> None:
    store = sql_store_factory()
    _log(store, "r1", tags=["team=vision"], config={"lr": "0.01"}, acc=0.9)
    _log(store, "r2", tags=["team=vision"], config={"model": {"depth": 3}}, acc=0.5)
    _log(store, "r3", tags=["team=nlp"], config={"lr": 0.01}, acc=0.95)
    found = store.runs.list("m", to_assay_filter(mlflow), to_assay_order([]))
    assert {r.id for r in found} == expected


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (None, ["clf", "reg-big"]),
        ("name = 'clf'", ["clf"]),
        ("name LIKE 'reg%'", ["reg-big"]),
        # what MLflow 3's client sends for search_registered_models(), with and without a name
        ("tag.`mlflow.prompt.is_prompt` != 'true'", ["clf", "reg-big"]),
        ("name='clf' AND tag.`mlflow.prompt.is_prompt` != 'true'", ["clf"]),
        ("tags.`mlflow.prompt.is_prompt` != 'true' and name ILIKE 'REG%'", ["reg-big"]),
        ("tag.`mlflow.prompt.is_prompt` = 'true'", []),  # Assay's registry holds no prompts
    ],
)
def test_registered_model_search_keeps_what_mlflow_3s_client_asks_for(
    text: str | None, kept: list[str]
) -> None:
    from assay.server.mlflow.registry import name_filter

    keep = name_filter(text)
    assert [name for name in ("clf", "reg-big") if keep(name)] == kept


def test_registered_model_search_refuses_what_it_cannot_answer() -> None:
    from assay.server.mlflow.protocol import MlflowError
    from assay.server.mlflow.registry import name_filter

    with pytest.raises(MlflowError, match="filtered by name only"):
        name_filter("name = 'clf' AND tag.owner = 'ann'")


@pytest.mark.parametrize(
    ("text", "conditions"),
    [
        (None, {}),
        ("name='clf'", {"name": "clf"}),  # what the MLflow client sends for a model's versions
        ("name = \"clf\" AND run_id = 'abc'", {"name": "clf", "run_id": "abc"}),
        ("run_id='abc'", {"run_id": "abc"}),
    ],
)
def test_model_version_search_reads_the_name_and_run_id_asked_for(
    text: str | None, conditions: dict[str, str]
) -> None:
    from assay.server.mlflow.registry import version_conditions

    assert version_conditions(text) == conditions


@pytest.mark.parametrize("text", ["name LIKE 'c%'", "name='clf' AND version_number > 2"])
def test_model_version_search_refuses_what_it_cannot_answer(text: str) -> None:
    from assay.server.mlflow.protocol import MlflowError
    from assay.server.mlflow.registry import version_conditions

    with pytest.raises(MlflowError, match="name = and run_id = only"):
        version_conditions(text)
