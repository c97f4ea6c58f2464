"""Run management beyond the facet's contract: purging deleted runs (what goes, what
stays), who may change a run on a server, the audit record of each change, the CLI and
the Python API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import assay
from assay.cli.main import cli
from assay.errors import Forbidden, NotFound
from assay.records import Batch, LogLines, RunEdit
from assay.store.sql import audit
from assay.store.sql.store import SqlStore
from tests.conftest import QUIET, StoreFactory, log_model, points
from tests.test_server import Team, new_run


def sql(store: object) -> SqlStore:
    assert isinstance(store, SqlStore)
    return store


def _with_data(store: SqlStore, run_id: str) -> None:
    ops = [points("loss", [0, 1], [1.0, 0.5]), LogLines(lines=[(1.0, "stdout", "hello")])]
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=ops))


def test_gc_purges_runs_deleted_before_the_retention_and_keeps_newer_ones(
    sql_store_factory: StoreFactory, tmp_path: Path
) -> None:
    store = sql(sql_store_factory())
    version = log_model(store, tmp_path, b"weights")
    old, young = version.run_id, log_model(store, tmp_path, b"other", name="m2").run_id
    assert old is not None and young is not None
    _with_data(store, old)
    store.runs.delete(old)
    with store.engine.begin() as conn:  # deleted 40 days ago
        conn.execute(
            sa.text("UPDATE runs SET deleted_at = deleted_at - 40 * 86400 WHERE id = :i"),
            {"i": old},
        )
    store.runs.delete(young)
    dry = store.runs.purge(dry_run=True)
    assert dry.runs == [old]
    store.runs.get(old)  # a dry run removes nothing
    done = store.runs.purge(dry_run=False)
    assert done.runs == [old]
    with pytest.raises(NotFound):
        store.runs.get(old)
    assert store.runs.history(old) == {}
    assert store.runs.log_lines(old) == []
    assert store.runs.get(young).deleted_at is not None  # within the retention: restorable
    kept = store.artifacts.version(
        "p", "digits-model", str(version.version)
    )  # without --with-artifacts
    assert kept.id == version.id and kept.run_id is None
    actions = [r.action for r in audit.records(store.engine, target=f"run:{old}")]
    assert actions[-2:] == ["run.deleted", "run.purged"]


def test_purging_with_artifacts_removes_the_versions_nothing_else_uses(
    sql_store_factory: StoreFactory, tmp_path: Path
) -> None:
    store = sql(sql_store_factory())
    lone = log_model(store, tmp_path, b"lone", name="lone")
    registered = log_model(store, tmp_path, b"reg", name="registered")
    store.models.register(registered.id, "prod-model")
    for version in (lone, registered):
        assert version.run_id is not None
        store.runs.delete(version.run_id, with_artifacts=True)
    report = store.runs.purge(older_than=0, dry_run=False)
    assert len(report.runs) == 2
    assert (report.artifact_versions, report.kept_versions) == (1, 1)
    assert [a.name for a in store.artifacts.list("p")] == ["registered"]
    assert store.models.version("prod-model", "1").version == 1
    gc = store.blobs.collect_garbage(grace=0, dry_run=False)
    assert gc.blobs == 1  # the lone version's file, now held by nobody


def test_a_run_restored_before_gc_is_not_purged(sql_store_factory: StoreFactory) -> None:
    store = sql(sql_store_factory())
    batch = new_run("p")
    store.runs.write_batch(batch)
    store.runs.delete(batch.run_id)
    store.runs.restore(batch.run_id)
    assert store.runs.purge(older_than=0, dry_run=False).runs == []
    assert store.runs.get(batch.run_id).deleted_at is None


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path / "server")
    yield t
    t.client.close()


def test_only_writers_of_the_runs_project_may_change_it(team: Team) -> None:
    batch = new_run("alpha")
    team.store("ann").runs.write_batch(batch)
    run_id = batch.run_id
    for user in ("vic", "bob"):  # alpha's viewer, and a writer of another project
        store = team.store(user)
        with pytest.raises(Forbidden):
            store.runs.delete(run_id)
        with pytest.raises(Forbidden):
            store.runs.update(run_id, RunEdit(name="x"))
        with pytest.raises(Forbidden):
            store.runs.move(run_id, "beta")
    ann = team.store("ann")
    assert ann.runs.update(run_id, RunEdit(name="renamed")).name == "renamed"
    ann.runs.delete(run_id)
    with pytest.raises(Forbidden):
        team.store("vic").runs.restore(run_id)
    ann.runs.restore(run_id)
    with pytest.raises(Forbidden, match="beta"):  # moving needs writer on both projects
        ann.runs.move(run_id, "beta")
    team.auth.grant("ann", "beta", "writer")
    assert ann.runs.move(run_id, "beta").project == "beta"
    assert [r.id for r in team.store("bob").runs.list("beta")] == [run_id]
    records = audit.records(team.app.state.assay.store.engine, target=f"run:{run_id}")
    assert [(r.action, r.actor) for r in records[1:]] == [
        ("run.edited", "user:ann"),
        ("run.deleted", "user:ann"),
        ("run.restored", "user:ann"),
        ("run.moved", "user:ann"),
    ]


def test_the_python_api_manages_a_run(store_uri: str) -> None:
    with assay.init(project="p", name="first", tags=["a"], uri=store_uri, settings=QUIET) as run:
        run.log({"x": 1.0})
    with assay.Api(store_uri) as api:
        found = api.run(run.id).rename("second").update(add_tags=["b"], notes="n")
        assert (found.name, found.tags, found.notes) == ("second", ["a", "b"], "n")
        assert found.delete().deleted
        assert api.runs("p") == []
        assert [r.id for r in api.runs("p", deleted=True)] == [run.id]
        assert not api.run(run.id).restore().deleted
        assert api.run(run.id).move("q").project == "q"
        assert [r.name for r in api.runs("q")] == ["second"]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cli_deletes_restores_moves_renames_and_tags(store_uri: str) -> None:
    ids = []
    for name in ("one", "two"):
        with assay.init(project="p", name=name, uri=store_uri, settings=QUIET) as run:
            run.log({"x": 1.0})
        ids.append(run.id)
    assert "deleted" in invoke("runs", "rm", ids[0], "--yes", "--uri", store_uri)
    listed = invoke("runs", "ls", "-p", "p", "--deleted", "--uri", store_uri)
    assert ids[0] in listed and ids[1] not in listed
    invoke("runs", "restore", ids[0], "--uri", store_uri)
    invoke("runs", "rename", ids[0], "uno", "--uri", store_uri)
    invoke("runs", "tag", *ids, "--add", "keep", "--add", "v2", "--uri", store_uri)
    invoke("runs", "tag", ids[1], "--remove", "v2", "--uri", store_uri)
    invoke("runs", "edit", ids[1], "--group", "sweep-1", "--job-type", "train", "--uri", store_uri)
    invoke("runs", "mv", ids[1], "--to", "archive", "--uri", store_uri)
    with assay.Api(store_uri) as api:
        first, second = api.run(ids[0]), api.run(ids[1])
        assert (first.name, first.tags, first.project) == ("uno", ["keep", "v2"], "p")
        assert (second.tags, second.group, second.job_type) == (["keep"], "sweep-1", "train")
        assert second.project == "archive"
    invoke("runs", "rm", ids[0], "-y", "--uri", store_uri)
    assert "assay runs restore" in invoke("runs", "show", ids[0], "--uri", store_uri)
    out = invoke("gc", "--runs-after", "0", "--delete", "--uri", store_uri)
    assert "purged 1 deleted runs" in out
    with assay.Api(store_uri) as api, pytest.raises(NotFound):
        api.run(ids[0])


def test_rm_asks_before_deleting(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log({"x": 1.0})
    result = CliRunner().invoke(cli, ["runs", "rm", run.id, "--uri", store_uri], input="n\n")
    assert result.exit_code != 0
    with assay.Api(store_uri) as api:
        assert not api.run(run.id).deleted


def test_the_tables_bulk_actions_need_the_writer_role(team: Team) -> None:
    batch = new_run("alpha")
    team.store("ann").runs.write_batch(batch)
    form = {"action": "delete", "runs": batch.run_id}

    def post(user: str) -> int:
        team.client.cookies.clear()
        team.client.cookies.update({"assay_key": team.keys[user], "assay_csrf": "t"})
        response = team.client.post(
            "/ui/projects/alpha/bulk", data=form, headers={"x-csrf-token": "t"}
        )
        return response.status_code

    assert post("vic") == 403  # alpha's viewer
    assert post("bob") == 403  # beta's writer
    assert team.store("root").runs.get(batch.run_id).deleted_at is None
    assert post("ann") == 200
    assert team.store("root").runs.get(batch.run_id).deleted_at is not None
