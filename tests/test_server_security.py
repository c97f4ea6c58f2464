"""The server under attack: bad stored rows, oversized bodies, cross-site writes, project
boundaries, secrets in URLs. Each test reproduces a defect found by a deliberate attack."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from assay.store.sql.schema import log_lines, metric_summary, projects, runs
from tests.test_server import Team, new_run

BAD_TIMES = [1e18, -1e18, math.inf, -math.inf]


def _spoil(team: Team, run_id: str, bad: float) -> None:
    """Write an impossible time straight into the database, past every validation."""
    engine = team.app.state.assay.store.engine
    with engine.begin() as conn:
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(created_at=bad, updated_at=bad, heartbeat_at=bad, finished_at=bad)
        )
        conn.execute(projects.update().values(created_at=bad))
        conn.execute(
            metric_summary.update()
            .where(metric_summary.c.run_id == run_id)
            .values(last=1e308, min=-1e308, max=1e308, last_step=2**62)
        )
        conn.execute(log_lines.update().where(log_lines.c.run_id == run_id).values(at=bad))


@pytest.mark.parametrize("bad", BAD_TIMES, ids=repr)
def test_a_run_with_impossible_times_still_renders_every_page(tmp_path: Path, bad: float) -> None:
    _pages_render_with(Team(tmp_path / "server"), bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1e18], ids=repr)
def test_a_run_with_impossible_times_on_postgresql_still_renders(
    tmp_path: Path, postgres_url: str, bad: float
) -> None:
    """SQLite turns NaN into NULL (refused by NOT NULL); PostgreSQL stores it."""
    team = Team(tmp_path / "server", uri=postgres_url)
    try:
        _pages_render_with(team, bad)
    finally:
        team.client.close()
        team.app.state.assay.close()


def _pages_render_with(team: Team, bad: float) -> None:
    from assay.records import LogLines
    from tests.conftest import points

    batch = new_run("alpha")
    batch.ops.extend([points("loss", [0, 1], [1.0, 0.5]), LogLines([(time.time(), "stdout", "x")])])
    team.store("ann").write_batch(batch)
    _spoil(team, batch.run_id, bad)
    for user in ("root", "vic"):
        client = TestClient(
            team.app, base_url="http://assay.test", cookies={"assay_key": team.keys[user]}
        )
        for url in (
            "/",
            "/projects/alpha",
            f"/runs/{batch.run_id}",
            "/ui/projects/alpha/table",
            f"/ui/runs/{batch.run_id}/logs",
            f"/compare?runs={batch.run_id},{batch.run_id}",
        ):
            response = client.get(url, headers={"accept": "text/html"})
            assert response.status_code == 200, (user, url, response.text[:300])
        for url in (
            f"/api/v1/runs/{batch.run_id}",
            "/api/v1/projects/alpha/runs",
            "/api/v1/projects",
            f"/api/v1/runs/{batch.run_id}/logs",
        ):
            response = client.get(url, headers=team.headers(user))
            assert response.status_code == 200, (user, url, response.text[:300])
