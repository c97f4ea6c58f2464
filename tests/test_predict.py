"""``assay.predict``: in this process (loaded through the flavour, kept per version,
following alias moves) and over HTTP against a real ``assay serve`` process, answering
the same arrays either way; errors as Assay's exceptions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput, NotFound, ServerUnavailable
from tests.test_serving import PICKY_META, Picky, log_and_register, pipeline, table
from tests.test_serving_process import free_port, serving


@pytest.fixture
def uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("ASSAY_SERVE_URL", raising=False)
    found = str(tmp_path / "store")
    x, _ = table()
    log_and_register(
        found, pipeline(), "clf", metadata={"input_example": x.head(2).to_dict(orient="list")}
    )
    return found


def test_predict_in_process_takes_frames_columns_records_and_arrays(uri: str) -> None:
    x, _ = table()
    rows = x.head(6)
    expected = pipeline().predict(rows)
    for inputs in (rows, rows.to_dict(orient="list"), rows.to_dict("records"), rows.to_numpy()):
        found = assay.predict("models:/clf@production", inputs, uri=uri)
        assert isinstance(found, np.ndarray) and found.tolist() == expected.tolist()
    both = assay.predict("models:/clf/1", rows, outputs=["predict", "predict_proba"], uri=uri)
    assert isinstance(both, dict) and set(both) == {"predict", "predict_proba"}
    assert np.allclose(both["predict_proba"], pipeline().predict_proba(rows))


def test_predict_in_process_follows_an_alias_move_on_the_next_call(uri: str) -> None:
    x, _ = table()
    rows = x.head(20)
    first = assay.predict("models:/clf@production", rows, uri=uri)
    v2 = log_and_register(uri, pipeline(seed=1), "clf", alias=None)
    assert assay.predict("models:/clf@production", rows, uri=uri).tolist() == first.tolist()
    assay.models.set_alias("clf", "production", v2, uri=uri)
    moved = assay.predict("models:/clf@production", rows, uri=uri)
    assert moved.tolist() == pipeline(seed=1).predict(rows).tolist() != first.tolist()


def test_predict_in_process_names_bad_inputs_and_unknown_models(uri: str) -> None:
    x, _ = table()
    with pytest.raises(InvalidInput, match="missing input 'd'"):
        assay.predict("models:/clf@production", x.head(2).drop(columns="d"), uri=uri)
    with pytest.raises(InvalidInput, match="unknown output 'scores'"):
        assay.predict("models:/clf@production", x.head(2), outputs=["scores"], uri=uri)
    with pytest.raises(InvalidInput, match="inputs must be"):
        assay.predict("models:/clf@production", 3, uri=uri)
    with pytest.raises(NotFound):
        assay.predict("models:/nope@production", x.head(2), uri=uri)
    with pytest.raises(NotFound):
        assay.predict("models:/clf@staging", x.head(2), uri=uri)


@pytest.mark.slow
def test_predict_over_http_answers_what_the_process_answers(uri: str) -> None:
    log_and_register(uri, Picky(), "picky", flavour="python", metadata=PICKY_META)
    x, _ = table()
    rows = x.head(7)
    local = assay.predict("models:/clf@production", rows, uri=uri)
    local_both = assay.predict(
        "models:/clf@production", rows, outputs=["predict", "predict_proba"], uri=uri
    )
    local_picky = assay.predict("models:/picky@production", {"x": [1.0, 2.5]}, uri=uri)
    with serving(uri, "models:/clf@production", "--model", "models:/picky@production") as base:
        remote = assay.predict("models:/clf@production", rows, url=base)
        both = assay.predict(
            "models:/clf@production",
            rows.to_numpy(),
            outputs=["predict", "predict_proba"],
            url=base,
        )
        pinned = assay.predict("models:/clf/1", rows.to_dict("records"), url=base)
        picky = assay.predict("models:/picky@production", {"x": [1.0, 2.5]}, url=base)
        with pytest.raises(InvalidInput, match="x must not be negative"):
            assay.predict("models:/picky@production", {"x": [-1.0]}, url=base)
        with pytest.raises(InvalidInput, match="missing input 'd'"):
            assay.predict("models:/clf@production", rows.drop(columns="d"), url=base)
        with pytest.raises(NotFound, match="'nope' is not served"):
            assay.predict("models:/nope@production", rows, url=base)
        with pytest.raises(NotFound, match="version 9"):
            assay.predict("models:/clf/9", rows, url=base)
    for a, b in ((remote, local), (pinned, local), (picky, local_picky)):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype and a.tolist() == b.tolist()
    assert isinstance(both, dict) and isinstance(local_both, dict)
    assert both["predict"].tolist() == local_both["predict"].tolist()
    assert np.allclose(both["predict_proba"], local_both["predict_proba"])
    assert both["predict_proba"].shape == local_both["predict_proba"].shape == (7, 2)


def test_predict_against_no_server_is_server_unavailable(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_SERVE_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServerUnavailable, match="cannot be reached"):
        assay.predict("models:/clf@production", table()[0].head(1))
