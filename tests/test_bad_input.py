"""Every kind of bad input gets InvalidInput naming the key, path or value."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput
from assay.values import normalise_config
from tests.conftest import QUIET


@pytest.fixture
def run(store_uri: str) -> Any:
    r = assay.init(project="p", uri=store_uri, settings=QUIET)
    yield r
    r.finish()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"loss": "0.3"}, "'loss'"),
        ({"loss": {"a": 1}}, "'loss'"),
        ({"loss": None}, "'loss'"),
        ({"loss": [1.0, 2.0]}, "'loss'"),
        ({"vec": np.zeros(3)}, "'vec'"),
        ({3: 1.0}, "3"),
        ({"": 1.0}, "empty"),
        ({"a" * 300: 1.0}, "longer than 256"),
        ({"bad\nkey": 1.0}, "control character"),
        ({"train//loss": 1.0}, "empty namespace"),
    ],
)
def test_bad_metric_raises_naming_the_key(run: Any, data: dict, needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        run.log(data)
    assert needle in str(info.value)


def test_log_needs_a_mapping(run: Any) -> None:
    with pytest.raises(InvalidInput, match="dict of metrics"):
        run.log([("loss", 1.0)])


@pytest.mark.parametrize("step", [-1, 1.5, "3", True])
def test_bad_step(run: Any, step: Any) -> None:
    with pytest.raises(InvalidInput, match="step"):
        run.log({"x": 1.0}, step=step)


def test_accepted_values(run: Any) -> None:
    run.log(
        {
            "i": 1,
            "f": 1.5,
            "b": True,
            "np": np.float32(2.5),
            "npi": np.int64(3),
            "arr0": np.array(4.0),
            "nan": float("nan"),
            "inf": float("inf"),
        }
    )
    assert run.step == 1


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Opt:
    lr: float
    betas: tuple[float, float]


def test_config_conversions_follow_the_documented_rule() -> None:
    got = normalise_config(
        {
            "p": Path("/data"),
            "c": Colour.RED,
            "o": Opt(0.1, (0.9, 0.99)),
            "n": np.float64(0.5),
            "a": np.arange(3),
        }
    )
    assert got == {
        "p": "/data",
        "c": "red",
        "o": {"lr": 0.1, "betas": [0.9, 0.99]},
        "n": 0.5,
        "a": [0, 1, 2],
    }


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"model": {"act": object()}}, "config.model.act"),
        ({"layers": [1, {"f": lambda x: x}]}, "config.layers[1].f"),
        ({"model": {1: 2}}, "config.model"),
        ({"a.b": 1}, "config.a.b"),
    ],
)
def test_bad_config_names_the_path(store_uri: str, config: dict, path: str) -> None:
    with pytest.raises(InvalidInput) as info:
        assay.init(project="p", config=config, uri=store_uri, settings=QUIET)
    assert path in str(info.value)


def test_config_update_checks_too(run: Any) -> None:
    with pytest.raises(InvalidInput, match=r"config\.x"):
        run.config.update({"x": object()})


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"mode": "sometimes"}, "mode"),
        ({"project": ""}, "project name"),
        ({"project": "a/b"}, "project name"),
        ({"tags": "baseline"}, "tags must be a list"),
        ({"tags": [""]}, "tag ''"),
        ({"id": "../etc"}, "run id"),
        ({"name": ""}, "run name"),
        ({"notes": 3}, "notes"),
        ({"config": [1, 2]}, "config must be a mapping"),
    ],
)
def test_bad_init_arguments(store_uri: str, kwargs: dict, needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        assay.init(uri=store_uri, settings=QUIET, **kwargs)
    assert needle in str(info.value)


def test_bad_store_uri_scheme(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="scheme 'ftp'"):
        assay.Api("ftp://example")


def test_bad_input_leaves_stored_data_intact(store_uri: str) -> None:
    run = assay.init(project="p", uri=store_uri, settings=QUIET)
    run.log({"loss": 1.0})
    with pytest.raises(InvalidInput):
        run.log({"loss": 0.5, "oops": "text"})
    run.log({"loss": 0.25})
    run.finish()
    series = assay.Api(store_uri).run(run.id).history(["loss"], format="numpy")["loss"]
    assert list(series.values) == [1.0, 0.25]
