"""The audit log: every mutation on record, hash-chained, tampering named, concurrency-safe."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from assay.cli.main import cli
from assay.ids import new_run_id
from assay.records import Batch, UpdateRun
from assay.store.sql import audit
from assay.store.sql.auth import SqlAuth
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory, create_op, create_run, points
from tests.test_processes import spawn


def engine(store: object) -> sa.Engine:
    assert isinstance(store, SqlStore)
    return store.engine


def test_runs_and_auth_changes_are_recorded_with_their_actor(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[points("x", [0], [1.0]), UpdateRun(at=time.time(), summary={"a": 1.0})],
        )
    )
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=2,
            ops=[UpdateRun(at=time.time(), notes="n", status="finished")],
        ),
        actor="user:ann",
    )
    auth = SqlAuth(engine(store))
    auth.add_user("ann")
    key_id, _ = auth.create_key("ann", actor="user:root")
    auth.grant("ann", "p", "writer")
    auth.revoke_key(key_id)
    got = [(r.action, r.target, r.actor.split(":")[0]) for r in audit.records(engine(store))]
    assert got == [
        ("run.created", f"run:{run_id}", "local"),
        ("run.status", f"run:{run_id}", "user"),
        ("run.notes", f"run:{run_id}", "user"),
        ("user.added", "user:ann", "local"),
        ("key.created", "user:ann", "user"),
        ("grant.set", "user:ann", "local"),
        ("key.revoked", "user:ann", "local"),
    ]  # points and summary updates are run data, not audited changes
    assert audit.verify(engine(store)).ok
    assert [r.action for r in audit.records(engine(store), target="user:ann", limit=2)] == [
        "user.added",
        "key.created",
    ]


def test_a_replayed_batch_is_not_recorded_twice(sql_store_factory: StoreFactory) -> None:
    store = sql_store_factory()
    batch = Batch(
        run_id=new_run_id(),
        writer="w",
        seq=0,
        ops=[create_op(name="n")],
    )
    store.runs.write_batch(batch)
    store.runs.write_batch(batch)
    assert len(audit.records(engine(store))) == 1


@pytest.fixture
def chained(sql_store_factory: StoreFactory) -> sa.Engine:
    store = sql_store_factory()
    for _ in range(5):
        create_run(store)
    return engine(store)


@pytest.mark.parametrize(
    ("tamper", "first_bad", "reason"),
    [
        ("update audit_log set actor = 'someone-else' where seq = 2", 2, "was edited"),
        ("delete from audit_log where seq = 3", 3, "missing"),
        (
            "update audit_log set target = 'run:forged', digest = '0', hash = 'x' where seq = 4",
            4,
            "edited",
        ),
    ],
)
def test_tampering_is_detected_at_the_first_bad_record(
    chained: sa.Engine, tamper: str, first_bad: int, reason: str
) -> None:
    assert audit.verify(chained).ok
    with chained.begin() as conn:
        conn.execute(sa.text(tamper))
    verdict = audit.verify(chained)
    assert not verdict.ok and verdict.first_bad == first_bad and reason in verdict.reason


def test_reordered_records_are_detected(chained: sa.Engine) -> None:
    rows = audit.records(chained)
    a, b = rows[1], rows[2]
    with chained.begin() as conn:  # swap the contents of records 1 and 2, keeping their seqs
        for mine, theirs in ((a, b), (b, a)):
            conn.execute(
                sa.text(
                    "update audit_log set at=:at, actor=:actor, action=:action, target=:target,"
                    " digest=:digest, prev_hash=:prev, hash=:hash where seq=:seq"
                ),
                {
                    "at": theirs.at,
                    "actor": theirs.actor,
                    "action": theirs.action,
                    "target": theirs.target,
                    "digest": theirs.digest,
                    "prev": theirs.prev_hash,
                    "hash": theirs.hash,
                    "seq": mine.seq,
                },
            )
    verdict = audit.verify(chained)
    assert not verdict.ok and verdict.first_bad == 1


def test_concurrent_writers_keep_one_chain_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    stores = [SqlStore.from_url(postgres_url, blobs=tmp_path) for _ in range(4)]
    errors: list[BaseException] = []

    def work(store: SqlStore) -> None:
        try:
            for _ in range(25):
                create_run(store)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    verdict = audit.verify(stores[0].engine)
    assert verdict.ok and verdict.records == 100
    for store in stores:
        store.close()


def test_concurrent_processes_keep_one_chain_on_sqlite(store_uri: str) -> None:
    children = [spawn(store_uri, "online", new_run_id(), "sweep", "10") for _ in range(6)]
    for child in children:
        with child:
            _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    store = SqlStore.embedded(Path(store_uri))
    verdict = audit.verify(store.engine)
    assert verdict.ok and verdict.records == 12  # created and finished, for each run
    store.close()


def test_audit_cli(store_uri: str) -> None:
    store = SqlStore.embedded(Path(store_uri))
    run_id = create_run(store)
    run = CliRunner().invoke
    listing = run(cli, ["audit", "ls", "--uri", store_uri])
    assert (
        listing.exit_code == 0 and "run.created" in listing.output and run_id[:8] in listing.output
    )
    ok = run(cli, ["audit", "verify", "--uri", store_uri])
    assert ok.exit_code == 0 and "intact: 1 records" in ok.output
    with store.engine.begin() as conn:
        conn.execute(sa.text("update audit_log set actor = 'x' where seq = 0"))
    bad = run(cli, ["audit", "verify", "--uri", store_uri])
    assert bad.exit_code == 1 and "broken at record 0" in bad.output
    store.close()
