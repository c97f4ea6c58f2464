"""The audit log: every mutation appends a record in the same transaction as the change.

A record holds its sequence number, time, actor, action, target, the BLAKE3 digest of
the change, the hash of the previous record, and its own hash over all of that. Editing,
deleting or reordering records breaks the chain at the first record touched, which
``verify`` names. Appends are serialised (SQLite: the write lock every Assay write
transaction takes; PostgreSQL: a transaction-scoped advisory lock), so concurrent writers
never fork the chain.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa

from assay import digests
from assay.store.sql.schema import audit_log

GENESIS = "0" * 64
_LOCK_KEY = 0x4A55A8
_encode = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    seq: int
    at: float
    actor: str
    action: str
    target: str
    digest: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    records: int
    first_bad: int | None = None
    reason: str = ""


def local_actor() -> str:
    """Who acts when there is no signed-in user: the operating-system user."""
    try:
        return f"local:{getpass.getuser()}"
    except Exception:
        return f"local:uid{os.getuid()}"


def digest_of(change: Mapping[str, Any]) -> str:
    return digests.of_bytes(_encode.encode(change))


def record_hash(
    prev_hash: str, seq: int, at: float, actor: str, action: str, *, target: str, digest: str
) -> str:
    body = _encode.encode([prev_hash, seq, repr(at), actor, action, target, digest])
    return digests.of_bytes(body)


def append(
    conn: sa.Connection, actor: str, action: str, target: str, change: Mapping[str, Any]
) -> AuditRecord:
    """Append one record inside the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = conn.execute(
        sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (0, GENESIS) if last is None else (last.seq + 1, last.hash)
    at = time.time()
    digest = digest_of(change)
    record = AuditRecord(
        seq=seq,
        at=at,
        actor=actor[:128],
        action=action,
        target=target[:256],
        digest=digest,
        prev_hash=prev,
        hash=record_hash(
            prev_hash=prev,
            seq=seq,
            at=at,
            actor=actor[:128],
            action=action,
            target=target[:256],
            digest=digest,
        ),
    )
    conn.execute(audit_log.insert(), [record.__dict__])
    return record


def records(
    engine: sa.Engine, target: str | None = None, limit: int | None = None, descending: bool = False
) -> list[AuditRecord]:
    query = sa.select(audit_log)
    if target is not None:
        query = query.where(audit_log.c.target == target)
    order = audit_log.c.seq.desc() if descending else audit_log.c.seq
    query = query.order_by(order)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [AuditRecord(**row._mapping) for row in conn.execute(query)]


def verify(engine: sa.Engine) -> ChainCheck:
    """Walk the chain from the start; name the first record that does not fit."""
    count = 0
    for expected_seq, (record, prev) in enumerate(_walk(engine)):
        count += 1
        if record.seq != expected_seq:
            return ChainCheck(
                False,
                count,
                expected_seq,
                f"record {expected_seq} is missing (found {record.seq} in its place)",
            )
        if record.prev_hash != prev:
            return ChainCheck(
                False,
                count,
                record.seq,
                f"record {record.seq} does not follow record {record.seq - 1}",
            )
        again = record_hash(
            prev_hash=record.prev_hash,
            seq=record.seq,
            at=record.at,
            actor=record.actor,
            action=record.action,
            target=record.target,
            digest=record.digest,
        )
        if again != record.hash:
            return ChainCheck(False, count, record.seq, f"record {record.seq} was edited")
    return ChainCheck(True, count)


def _walk(engine: sa.Engine) -> Iterator[tuple[AuditRecord, str]]:
    prev = GENESIS
    with engine.connect() as conn:
        for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)):
            record = AuditRecord(**row._mapping)
            yield record, prev
            prev = record.hash
