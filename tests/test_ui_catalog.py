"""Artifact, lineage and registry pages over ASGI: content, previews and roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.artifacts.artifact import Artifact, log_artifact
from assay.server.ui import catalog_views as cv
from tests.test_server import Team


@pytest.fixture
def site(tmp_path: Path) -> Team:
    return Team(tmp_path / "server")


def _seed(team: Team, tmp_path: Path) -> str:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "m" / "notes.json").write_text('{"b": 1, "a": [1, 2]}')
    art = Artifact("digits-model", type="model", metadata={"acc": 0.97})
    art.add_dir(tmp_path / "m")
    ann = team.store("ann")
    version = log_artifact(ann, art, "alpha")
    ann.models.register(version.id, "clf")
    ann.models.set_alias("clf", "production", 1, reason="<b>because</b>")
    return version.id


def _get(team: Team, user: str, path: str) -> tuple[int, str]:
    from starlette.testclient import TestClient

    client = TestClient(
        team.app, base_url="http://assay.test", cookies={"assay_key": team.keys[user]}
    )
    response = client.get(path)
    return response.status_code, response.text


def test_pages_show_versions_files_and_alias_history(site: Team, tmp_path: Path) -> None:
    version_id = _seed(site, tmp_path)
    code, html = _get(site, "vic", "/projects/alpha/artifacts")
    assert code == 200 and "digits-model" in html and "clf" in html
    code, html = _get(site, "vic", "/projects/alpha/artifacts/digits-model?v=0")
    assert code == 200 and "table.csv" in html and '"acc": 0.97' in html and "clf v1" in html
    code, html = _get(site, "vic", f"/ui/artifact-versions/{version_id}/preview?path=table.csv")
    assert code == 200 and 'data-kind="table"' in html and "<td>1</td>" in html
    code, html = _get(site, "vic", f"/ui/artifact-versions/{version_id}/preview?path=notes.json")
    assert code == 200 and '"a": [' in html.replace("&#34;", '"')
    code, raw = _get(site, "vic", f"/artifact-versions/{version_id}/raw?path=table.csv")
    assert code == 200 and raw == "a,b\n1,2\n"
    code, html = _get(site, "vic", "/models/clf")
    assert code == 200 and "&lt;b&gt;because&lt;/b&gt;" in html and "<b>because" not in html
    code, html = _get(site, "vic", f"/lineage?node=artifact:{version_id}")
    assert code == 200 and 'data-node="artifact:' in html


def test_other_projects_pages_are_forbidden(site: Team, tmp_path: Path) -> None:
    version_id = _seed(site, tmp_path)
    for path in (
        "/projects/alpha/artifacts",
        "/projects/alpha/artifacts/digits-model",
        f"/ui/artifact-versions/{version_id}/preview?path=table.csv",
        f"/artifact-versions/{version_id}/raw?path=table.csv",
        "/models/clf",
        f"/lineage?node=artifact:{version_id}",
    ):
        assert _get(site, "bob", path)[0] == 403, path
    code, html = _get(site, "bob", "/models")
    assert code == 200 and "clf" not in html
    assert _get(site, "vic", f"/artifact-versions/{version_id}/raw?path=../x")[0] == 404
    assert _get(site, "vic", "/lineage?node=bogus")[0] == 400


def test_previews_pick_a_readable_form() -> None:
    assert cv.preview("a.png", b"\x89PNG", False).kind == "image"
    assert cv.preview("x.bin", b"\x00\x01", False).kind == "none"
    table = cv.preview("t.tsv", b"a\tb\n1\t2\n", False)
    assert (table.kind, table.header, table.rows) == ("table", ("a", "b"), (("1", "2"),))
    assert cv.preview("j.json", b'{"a":1}', False).text == '{\n  "a": 1\n}'
    assert cv.preview("j.json", b"{broken", False).kind == "text"
    assert cv.preview("big.txt", b"x" * 10, True).note == "first 256 KiB"


def test_parquet_previews_show_the_head(tmp_path: Path) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(50)), "y": ["a"] * 50}), sink)
    shown = cv.preview("d.parquet", sink.getvalue(), False)
    assert shown.header == ("x", "y") and len(shown.rows) == 20 and shown.rows[0] == (0, "a")


def test_serving_stats_count_requests_and_their_rows_per_version_and_arm() -> None:
    from assay.records import LoggedRequest

    now = 100_000.0

    def logged(rid: str, ago: float, rows: int, **changes: object) -> LoggedRequest:
        fields: dict[str, object] = {
            "model": "clf",
            "request_id": rid,
            "time": now - ago,
            "version": "1",
            "arm": "production",
            "status": 200,
            "latency_ms": 2.0,
            "rows": rows,
            "inputs": {"x": list(range(rows))},
            "outputs": {},
            **changes,
        }
        return LoggedRequest(**fields)  # type: ignore[arg-type]

    entries = [
        logged("a", 7200, 100),
        logged("b", 60, 1, latency_ms=4.0),
        logged("c", 30, 0, status=400),
        logged("d", 30, 2, version="2", arm="candidate"),
    ]
    production, candidate = cv.serving_stats(entries, now)
    assert (production.version, production.requests, production.rows) == ("1", 3, 102)
    assert (production.errors, production.p50_ms) == (1, 2.0)
    assert production.hourly[-2] == 1 and production.hourly[-1] == 2 and production.peak == 2
    assert (candidate.arm, candidate.requests, candidate.rows) == ("candidate", 1, 2)
    assert cv.serving_stats([], now) == []
