"""Every kind of bad input gets InvalidInput naming the key, path or value."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput
from assay.values import normalise_config
from tests.conftest import QUIET, create_op


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


# ---- over HTTP: bad input is a 4xx, never a 500 ------------------------------------------------

HUGE = 10**20


@pytest.fixture
def site(tmp_path: Path) -> Any:
    """A local server over ASGI with one run (id ``r1``) in project ``p``."""

    from starlette.testclient import TestClient

    from assay.records import Batch
    from assay.server.app import create_app
    from assay.server.config import ServerConfig
    from tests.conftest import points

    app = create_app(ServerConfig(str(tmp_path / "s"), local=True))
    op = create_op(name="run", config={"lr": 0.1})
    app.state.assay.store.runs.write_batch(
        Batch(run_id="r1", writer="w", seq=0, ops=[op, points("loss", [0, 1], [1.0, 0.5])])
    )
    with TestClient(app, base_url="http://localhost") as client:
        yield client


def _batch(seq: Any = 1, **op: Any) -> dict[str, Any]:
    return {"batches": [{"run_id": "r1", "writer": "w", "seq": seq, "ops": [op] if op else []}]}


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


EIGHT = _b64(b"\0" * 8)


# a config nested 5,000 levels deep, pasted into the body (json.dumps would refuse it)
NESTED_JSON = '{"a":' * 5000 + "1" + "}" * 5000


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/projects/p/runs?order_by=name is null or id", None),
        ("/api/v1/projects/p/runs?order_by=config.lr desc; drop table runs", None),
        (f"/api/v1/projects/p/runs?limit={HUGE}", None),
        (f"/api/v1/projects/p/runs?offset={HUGE}", None),
        (f"/api/v1/runs/r1/logs?tail={HUGE}", None),
        (f"/api/v1/evaluations?limit={HUGE}", None),
        (f"/ui/api/series?runs=r1&start={HUGE}", None),
        (f"/ui/api/series?runs=r1&end=-{HUGE}", None),
        (f"/ui/api/series?runs=r1&points={HUGE}", None),
        ("/api/v1/series", {"run_ids": ["r1"], "keys": ["loss"], "start": 2**63}),
        ("/api/v1/series", {"run_ids": ["r1"], "keys": ["loss"], "end": -(2**64)}),
        ("/api/v1/series", {"run_ids": ["r1"], "keys": ["loss"], "points": HUGE}),
        ("/api/v1/batches", _batch(seq=2**63)),
        ("/api/v1/batches", _batch(seq=2**64 + 1)),
        ("/api/v1/batches", _batch(seq=-1)),
        (
            "/api/v1/batches",
            _batch(type="points", key="x", steps=_b64(b"\0" * 7), times=EIGHT, values=EIGHT),
        ),
        (
            "/api/v1/batches",
            _batch(type="points", key="x", steps=EIGHT, times=EIGHT, values=_b64(b"\0" * 16)),
        ),
        ("/api/v1/batches", _batch(type="update_run", at="1e999", status="finished")),
        (
            "/api/v1/batches",
            _batch(
                type="create_run",
                project="p",
                name="n",
                created_at=1e18,
                config={},
                tags=[],
                notes=None,
                group=None,
                job_type=None,
                host={},
            ),
        ),
        ("/api/v1/batches", _batch(type="log_lines", lines=[[HUGE, "stdout", "x"]])),
        ("/api/v1/projects/p/runs?filter=config.lr > true", None),
        ("/api/v1/projects/p/runs/count?filter=summary.s <= false", None),
        ("/api/v1/batches", _batch(type="update_run", at=1.0, config="NESTED")),
        ("/api/v1/artifact-versions", {"ids": [HUGE]}),
        ("/api/v1/blobs/missing", {"digests": ["nothex"]}),
        ("/api/v1/lineage", {"run_ids": [HUGE]}),
    ],
    ids=lambda v: str(v)[:60] if isinstance(v, str) else None,
)
def test_bad_http_input_is_a_4xx(site: Any, url: str, body: Any) -> None:
    if body is None:
        response = site.get(url)
    else:  # "1e999" stands for a number JSON can carry and a float cannot
        text = json.dumps(body).replace('"1e999"', "1e999").replace('"NESTED"', NESTED_JSON)
        response = site.post(url, content=text, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text[:300]
    assert "error" in response.json()


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/projects/p/runs?filter=config.lr > {HUGE}{HUGE}",
        "/api/v1/projects/p/runs?filter=config.lr > 1e999",
        "/api/v1/projects/p/runs?filter=config.lr > -1e999 and name = 'x'",
    ],
)
def test_huge_numbers_in_a_filter_are_an_answer_or_a_4xx(site: Any, url: str) -> None:
    response = site.get(url)
    assert response.status_code < 500, response.text[:300]


@pytest.mark.parametrize("page", [HUGE, 10**6, -1, "x", "\u00b2", "\u0663"])
def test_a_runs_page_number_out_of_range_is_not_a_500(site: Any, page: Any) -> None:
    for url in (f"/projects/p?page={page}", f"/ui/projects/p/table?page={page}"):
        response = site.get(url, headers={"accept": "text/html"})
        assert response.status_code == 200, (url, response.text[:300])


def test_a_file_with_a_non_latin_name_downloads(site: Any, tmp_path: Path) -> None:
    from urllib.parse import quote

    from assay.artifacts.artifact import Artifact, log_artifact

    (tmp_path / "名前.txt").write_text("内容")
    art = Artifact("names", type="dataset")
    art.add_file(tmp_path / "名前.txt")
    version = log_artifact(site.app.state.assay.store, art, "p")
    response = site.get(f"/artifact-versions/{version.id}/raw", params={"path": "名前.txt"})
    assert response.status_code == 200 and response.content.decode() == "内容"
    disposition = response.headers["content-disposition"]
    assert f"filename*=UTF-8''{quote('名前.txt')}" in disposition
    assert disposition.isascii()


@pytest.mark.parametrize(
    "report",
    [
        {},
        {"metrics": [{}]},
        {"metrics": "x", "compare": 3, "errors": [], "verdict": "pass"},
        {"verdict": {"reason": None}, "errors": {"count": 2}, "compare": [{"metric": "a"}]},
        {"compare": [{}], "shared": None},
    ],
    ids=str,
)
def test_an_evaluation_whose_report_lacks_keys_is_refused_or_shown(
    site: Any, report: dict[str, Any]
) -> None:
    draft = {
        "project": "p",
        "name": "e",
        "model": "m",
        "model_key": "k",
        "model_version_id": None,
        "dataset": "d",
        "dataset_digest": "0" * 64,
        "dataset_version_id": None,
        "baseline_id": None,
        "run_id": None,
        "verdict": None,
        "report": report,
        "items": [{"item_id": "1", "scores": {"acc": 1.0}}],
    }
    response = site.post("/api/v1/evaluations", json=draft)
    assert response.status_code < 500, response.text[:300]
    if response.status_code < 300:
        page = site.get(f"/evaluations/{response.json()['id']}", headers={"accept": "text/html"})
        assert page.status_code == 200, page.text[:300]
        assert site.get("/projects/p/evaluations").status_code == 200


@pytest.fixture
def catalog(site: Any, tmp_path: Path) -> Any:
    """The site with an artifact ``x`` (v0) in project ``p``, registered as model ``mdl``."""
    from assay.artifacts.artifact import Artifact, log_artifact

    store = site.app.state.assay.store
    (tmp_path / "f.txt").write_text("x")
    art = Artifact("x", type="model")
    art.add_file(tmp_path / "f.txt")
    store.models.register(log_artifact(store, art, "p").id, "mdl")
    return site


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("PUT", "/api/v1/projects/p/artifacts/x/aliases/a", {"version": 2**63}),
        ("PUT", "/api/v1/projects/p/artifacts/x/aliases/a", {"version": 2**31}),
        ("PUT", "/api/v1/models/mdl/aliases/a", {"version": 2**63, "reason": "r"}),
        ("GET", f"/api/v1/models/mdl/versions/{HUGE}", None),
        ("GET", f"/api/v1/projects/p/artifacts/x/versions/v{HUGE}", None),
        ("GET", f"/projects/p/artifacts/x?v=v{HUGE}", None),
    ],
    ids=lambda v: str(v)[:60] if isinstance(v, str) else None,
)
def test_version_numbers_out_of_range_are_a_4xx(
    catalog: Any, method: str, url: str, body: Any
) -> None:
    response = catalog.request(method, url, json=body) if body else catalog.request(method, url)
    assert 400 <= response.status_code < 500, response.text[:300]
