"""Artifacts in SQL: blob bookkeeping, versions and their manifests, aliases, lineage.

Every function works inside the caller's connection (and transaction, for writes), so a
version, its blob references, its lineage edge, its aliases and its audit record commit
together or not at all.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.digests import of_bytes
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_run_id
from assay.records import (
    ArtifactDraft,
    ArtifactInfo,
    ArtifactVersion,
    FileEntry,
    LineageEdge,
    Manifest,
)
from assay.store.sql import audit
from assay.store.sql.schema import (
    artifact_aliases,
    artifact_versions,
    artifacts,
    blob_refs,
    blobs,
    lineage,
    projects,
    runs,
)
from assay.store.sql.tx import Tx
from assay.values import RESERVED_ALIASES, artifact_path, check_alias, check_name, check_project

IN_CHUNK = 500  # values per IN (...) list
MAX_FILES = 1_000_000
MAX_VERSION = 2**31 - 1  # version numbers are 32-bit integer columns
_HEX = re.compile(r"^[0-9a-f]{64}$")
_encode = msgspec.msgpack.Encoder()
_decode = msgspec.msgpack.Decoder(Manifest)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), IN_CHUNK):
        yield items[i : i + IN_CHUNK]


# ---- blobs ---------------------------------------------------------------------------------


def record_blob(tx: Tx, digest: str, size: int) -> None:
    """Note a stored blob (after its bytes are written): an artifact may now name it."""
    now = time.time()
    stmt = tx.insert(blobs).values(digest=digest, size=size, stored_at=now)
    tx.conn.execute(stmt.on_conflict_do_update(index_elements=["digest"], set_={"stored_at": now}))


def record_blobs(tx: Tx, stored: Sequence[tuple[str, int]]) -> None:
    """Note many stored blobs (digest, size): one statement run for every row."""
    if not stored:
        return
    now = time.time()
    rows = list({d: (d, n, now) for d, n in stored}.values())
    # Plain SQL through the driver, as missing_blobs: a GiB of chunks is 65,000 rows.
    tx.conn.exec_driver_sql(
        f"INSERT INTO blobs (digest, size, stored_at) VALUES ({_marks(tx.conn, 3)}) "
        "ON CONFLICT (digest) DO UPDATE SET stored_at = excluded.stored_at",
        rows,
    )


def hold_blob(tx: Tx, owner: str, digest: str, size: int) -> None:
    record_blob(tx, digest, size)
    held = tx.insert(blob_refs).values(owner=owner, digest=digest)
    tx.conn.execute(held.on_conflict_do_nothing())


def missing_blobs(conn: sa.Connection, digests: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(digests))
    for digest in wanted:
        if not isinstance(digest, str) or not _HEX.match(digest):
            raise InvalidInput(f"blob digest {digest!r:.80} is not a BLAKE3 hex digest")
    known: set[str] = set()
    for part in _chunks(wanted):
        # Plain SQL through the driver: an artifact of a GiB names 65,000 chunks, and
        # compiling a select per 500 of them cost more than the database's look-ups.
        query = f"SELECT digest FROM blobs WHERE digest IN ({_marks(conn, len(part))})"
        known.update(row[0] for row in conn.exec_driver_sql(query, tuple(part)))
    return [d for d in wanted if d not in known]


def _marks(conn: sa.Connection, count: int) -> str:
    """``count`` positional placeholders in the driver's style (sqlite3: ?, psycopg: %s)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * count)


def unheld_blobs(conn: sa.Connection, before: float) -> list[str]:
    """Blobs no artifact version or run holds, stored before ``before``."""
    held = sa.select(blob_refs.c.digest).where(blob_refs.c.digest == blobs.c.digest)
    query = sa.select(blobs.c.digest).where(~held.exists(), blobs.c.stored_at < before)
    return list(conn.scalars(query))


def forget_blobs(conn: sa.Connection, digests: Sequence[str], before: float) -> list[str]:
    """Delete the rows of these blobs that are still unheld and old, locking them first
    (PostgreSQL) so a concurrent commit naming one waits and then fails cleanly."""
    held = sa.select(blob_refs.c.digest).where(blob_refs.c.digest == blobs.c.digest)
    gone: list[str] = []
    for part in _chunks(list(digests)):
        cond = [blobs.c.digest.in_(part), ~held.exists(), blobs.c.stored_at < before]
        query = sa.select(blobs.c.digest).where(*cond)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        doomed = list(conn.scalars(query))
        if doomed:
            conn.execute(blobs.delete().where(blobs.c.digest.in_(doomed)))
        gone.extend(doomed)
    return gone


def known_blobs(conn: sa.Connection) -> set[str]:
    return set(conn.scalars(sa.select(blobs.c.digest)))


# ---- manifests -----------------------------------------------------------------------------


def check_manifest(manifest: Manifest) -> Manifest:
    """Normalised paths (unique, sorted), sane sizes and digests; raises InvalidInput."""
    if not manifest.files:
        raise InvalidInput("an artifact needs at least one file")
    if len(manifest.files) > MAX_FILES:
        raise InvalidInput(f"an artifact holds at most {MAX_FILES} files")
    files: dict[str, FileEntry] = {}
    for entry in manifest.files:
        path = artifact_path(entry.path)
        if path in files:
            raise InvalidInput(f"artifact path {path!r} appears twice")
        if entry.size < 0:
            raise InvalidInput(f"file {path!r} has a negative size")
        if entry.ref is None:
            _check_content(path, entry)
        elif not entry.digest:
            raise InvalidInput(f"reference {path!r} has no digest or ETag")
        files[path] = msgspec.structs.replace(entry, path=path)
    return Manifest(files=[files[p] for p in sorted(files)])


def _check_content(path: str, entry: FileEntry) -> None:
    if not _HEX.match(entry.digest):
        raise InvalidInput(f"file {path!r}: digest {entry.digest!r:.80} is not BLAKE3 hex")
    if entry.chunks is None:
        return
    for digest, size in entry.chunks:
        if not _HEX.match(digest) or size <= 0:
            raise InvalidInput(f"file {path!r}: chunk {digest!r:.80} is malformed")
    if sum(size for _, size in entry.chunks) != entry.size:
        raise InvalidInput(f"file {path!r}: its chunks do not add up to its size")


def manifest_digest(manifest: Manifest) -> tuple[bytes, str]:
    body = _encode.encode(manifest)
    return body, of_bytes(body)


def manifest_of(conn: sa.Connection, version_id: str) -> Manifest:
    body = conn.scalar(
        sa.select(artifact_versions.c.manifest).where(artifact_versions.c.id == version_id)
    )
    if body is None:
        raise NotFound(f"artifact version {version_id} does not exist")
    return _decode.decode(body)


# ---- versions ------------------------------------------------------------------------------


def commit(tx: Tx, draft: ArtifactDraft) -> ArtifactVersion:
    """Create a version from a draft whose blobs are all stored, or return the version
    with identical content. Moves the draft's aliases; records the produced edge."""
    conn, actor = tx.conn, tx.actor
    project = check_project(draft.project)
    name = check_name("artifact name", draft.name)
    kind = check_name("artifact type", draft.type)
    aliases = [check_alias(a, user=False) for a in draft.aliases if a not in RESERVED_ALIASES]
    _check_metadata(draft.metadata)
    manifest = check_manifest(draft.manifest)
    if draft.run_id is not None:
        _require_run_in(conn, draft.run_id, project)
    body, digest = manifest_digest(manifest)
    now = time.time()
    artifact_id = _artifact_row(tx, project, name, kind, now)
    existing = conn.scalar(
        sa.select(artifact_versions.c.id).where(
            artifact_versions.c.artifact_id == artifact_id, artifact_versions.c.digest == digest
        )
    )
    target = f"artifact:{project}/{name}"
    if existing is None:
        version_id = _insert_version(
            conn, artifact_id, manifest, body, digest, draft=draft, actor=actor, now=now
        )
        for alias in aliases:
            _move_alias(tx, artifact_id, alias, version_id)
        number = conn.scalar(
            sa.select(artifact_versions.c.version).where(artifact_versions.c.id == version_id)
        )
        change = {"version": number, "digest": digest, "run": draft.run_id, "aliases": aliases}
        audit.append(conn, actor, "artifact.version_created", f"{target}:v{number}", change)
    else:
        version_id = existing
        moved = [a for a in aliases if _move_alias(tx, artifact_id, a, version_id)]
        if moved:
            audit.append(
                conn, actor, "artifact.alias_moved", target, {"to": version_id, "aliases": moved}
            )
    if draft.run_id is not None:
        _edge(tx, draft.run_id, version_id, "produced", now)
    conn.execute(artifacts.update().where(artifacts.c.id == artifact_id).values(updated_at=now))
    found = versions_by_id(conn, [version_id])[0]
    return msgspec.structs.replace(found, created=existing is None)


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise InvalidInput(f"artifact metadata must be a dict, not {type(metadata).__name__}")
    try:
        msgspec.json.encode(metadata)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"artifact metadata is not JSON-serialisable: {exc}") from exc


def _require_run_in(conn: sa.Connection, run_id: str, project: str) -> None:
    found = conn.scalar(sa.select(runs.c.project).where(runs.c.id == run_id))
    if found is None:
        raise NotFound(f"run {run_id} does not exist")
    if found != project:
        raise InvalidInput(f"run {run_id} belongs to project {found!r}, not {project!r}")


def _artifact_row(tx: Tx, project: str, name: str, kind: str, now: float) -> int:
    conn, insert = tx.conn, tx.insert
    conn.execute(insert(projects).on_conflict_do_nothing(), {"name": project, "created_at": now})
    conn.execute(
        insert(artifacts).on_conflict_do_nothing(),
        {"project": project, "name": name, "type": kind, "created_at": now, "updated_at": now},
    )
    query = sa.select(artifacts.c.id, artifacts.c.type).where(
        artifacts.c.project == project, artifacts.c.name == name
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # version numbers are handed out one at a time
    row = conn.execute(query).one()
    if row.type != kind:
        raise InvalidInput(f"artifact {project}/{name} is of type {row.type!r}, not {kind!r}")
    return int(row.id)


def _insert_version(
    conn: sa.Connection,
    artifact_id: int,
    manifest: Manifest,
    body: bytes,
    digest: str,
    *,
    draft: ArtifactDraft,
    actor: str,
    now: float,
) -> str:
    wanted = manifest.blobs()
    missing = missing_blobs(conn, wanted)
    if missing:
        raise Conflict(
            f"{len(missing)} of the {len(wanted)} blobs this manifest names are not stored "
            f"(first: {missing[0]}); upload them, then commit again"
        )
    last = conn.scalar(
        sa.select(sa.func.max(artifact_versions.c.version)).where(
            artifact_versions.c.artifact_id == artifact_id
        )
    )
    version_id = new_run_id()
    conn.execute(
        artifact_versions.insert(),
        {
            "id": version_id,
            "artifact_id": artifact_id,
            "version": 0 if last is None else last + 1,
            "digest": digest,
            "size": manifest.size,
            "file_count": len(manifest.files),
            "manifest": body,
            "metadata": draft.metadata,
            "run_id": draft.run_id,
            "created_at": now,
            "created_by": actor[:128],
            "description": draft.description,
        },
    )
    if wanted:
        try:
            # One executemany of plain rows through the driver (as missing_blobs reads).
            conn.exec_driver_sql(
                f"INSERT INTO blob_refs (owner, digest) VALUES ({_marks(conn, 2)})",
                [(version_id, d) for d in wanted],
            )
        except sa.exc.IntegrityError as exc:  # gc removed a blob between the check and here
            raise Conflict(
                f"a blob of this manifest was just removed; upload again ({exc.orig})"
            ) from exc
    return version_id


def _move_alias(tx: Tx, artifact_id: int, alias: str, version_id: str) -> bool:
    """Point an alias at a version; False if it already pointed there."""
    conn = tx.conn
    current = conn.scalar(
        sa.select(artifact_aliases.c.version_id).where(
            artifact_aliases.c.artifact_id == artifact_id, artifact_aliases.c.alias == alias
        )
    )
    if current == version_id:
        return False
    stmt = tx.insert(artifact_aliases).values(
        artifact_id=artifact_id, alias=alias, version_id=version_id
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["artifact_id", "alias"], set_={"version_id": version_id}
        )
    )
    return True


def set_alias(tx: Tx, project: str, name: str, alias: str, version: int | None) -> None:
    """Point ``alias`` at version ``version`` of an artifact, or remove it (None)."""
    conn, actor = tx.conn, tx.actor
    check_alias(alias)
    artifact_id = _artifact_id(conn, project, name)
    target = f"artifact:{project}/{name}"
    if version is None:
        conn.execute(
            artifact_aliases.delete().where(
                artifact_aliases.c.artifact_id == artifact_id, artifact_aliases.c.alias == alias
            )
        )
        audit.append(conn, actor, "artifact.alias_removed", target, {"alias": alias})
        return
    found = select_version(conn, project, name, f"v{version}")
    if _move_alias(tx, artifact_id, alias, found.id):
        audit.append(
            conn, actor, "artifact.alias_moved", target, {"alias": alias, "version": version}
        )


def _artifact_id(conn: sa.Connection, project: str, name: str) -> int:
    found = conn.scalar(
        sa.select(artifacts.c.id).where(artifacts.c.project == project, artifacts.c.name == name)
    )
    if found is None:
        raise NotFound(f"artifact {project}/{name} does not exist")
    return int(found)


# ---- reads ---------------------------------------------------------------------------------


def _version_select() -> sa.Select[Any]:
    return sa.select(
        artifact_versions.c.id,
        artifacts.c.project,
        artifacts.c.name,
        artifacts.c.type,
        artifact_versions.c.version,
        artifact_versions.c.digest,
        artifact_versions.c.size,
        artifact_versions.c.file_count,
        artifact_versions.c.metadata,
        artifact_versions.c.run_id,
        artifact_versions.c.created_at,
        artifact_versions.c.created_by,
        artifact_versions.c.description,
        artifact_versions.c.artifact_id,
    ).join(artifacts, artifacts.c.id == artifact_versions.c.artifact_id)


def _hydrate(conn: sa.Connection, rows: Sequence[sa.Row[Any]]) -> list[ArtifactVersion]:
    ids = sorted({r.artifact_id for r in rows})
    aliases: dict[str, list[str]] = {}
    latest: dict[int, int] = {}
    if ids:
        query = sa.select(artifact_aliases.c.version_id, artifact_aliases.c.alias).where(
            artifact_aliases.c.artifact_id.in_(ids)
        )
        for version_id, alias in conn.execute(query.order_by(artifact_aliases.c.alias)):
            aliases.setdefault(version_id, []).append(alias)
        query2 = (
            sa.select(artifact_versions.c.artifact_id, sa.func.max(artifact_versions.c.version))
            .where(artifact_versions.c.artifact_id.in_(ids))
            .group_by(artifact_versions.c.artifact_id)
        )
        latest = {a: v for a, v in conn.execute(query2)}
    out = []
    for r in rows:
        names = list(aliases.get(r.id, []))
        if latest.get(r.artifact_id) == r.version:
            names.insert(0, "latest")
        out.append(
            ArtifactVersion(
                id=r.id,
                project=r.project,
                name=r.name,
                type=r.type,
                version=r.version,
                digest=r.digest,
                size=r.size,
                file_count=r.file_count,
                metadata=r.metadata or {},
                aliases=names,
                run_id=r.run_id,
                created_at=r.created_at,
                created_by=r.created_by,
                description=r.description,
            )
        )
    return out


def versions_by_id(conn: sa.Connection, ids: Sequence[str]) -> list[ArtifactVersion]:
    rows: list[sa.Row[Any]] = []
    for part in _chunks(list(ids)):
        rows.extend(conn.execute(_version_select().where(artifact_versions.c.id.in_(part))))
    order = {v: i for i, v in enumerate(ids)}
    return sorted(_hydrate(conn, rows), key=lambda v: order.get(v.id, 0))


def versions_of(conn: sa.Connection, project: str, name: str) -> list[ArtifactVersion]:
    artifact_id = _artifact_id(conn, project, name)
    query = _version_select().where(artifact_versions.c.artifact_id == artifact_id)
    rows = conn.execute(query.order_by(artifact_versions.c.version.desc())).all()
    return _hydrate(conn, rows)


def by_selector(
    query: sa.Select[Any],
    selector: str,
    number: sa.ColumnElement[int],
    aliased: Callable[[str], sa.ColumnElement[bool]],
) -> sa.Select[Any]:
    """Narrow ``query`` to the version a selector names: ``v3`` (or ``3``), ``latest``, or
    an alias (shared by artifact versions and model versions)."""
    text = selector.strip()
    if re.fullmatch(r"v?\d+", text):
        wanted = int(text.lstrip("v"))
        if wanted > MAX_VERSION:  # no column holds it: such a version cannot exist
            return query.where(sa.false())
        return query.where(number == wanted)
    if text == "latest":
        return query.order_by(number.desc()).limit(1)
    return query.where(aliased(text))


def select_version(conn: sa.Connection, project: str, name: str, selector: str) -> ArtifactVersion:
    """``selector``: ``v3`` (or ``3``), ``latest``, or an alias."""
    artifact_id = _artifact_id(conn, project, name)

    def aliased(alias: str) -> sa.ColumnElement[bool]:
        target = sa.select(artifact_aliases.c.version_id).where(
            artifact_aliases.c.artifact_id == artifact_id, artifact_aliases.c.alias == alias
        )
        return artifact_versions.c.id == target.scalar_subquery()

    query = _version_select().where(artifact_versions.c.artifact_id == artifact_id)
    query = by_selector(query, selector, artifact_versions.c.version, aliased)
    rows = conn.execute(query).all()
    if not rows:
        raise NotFound(f"artifact {project}/{name} has no version {selector!r}")
    return _hydrate(conn, rows)[0]


def artifacts_of(conn: sa.Connection, project: str, kind: str | None = None) -> list[ArtifactInfo]:
    counts = (
        sa.select(
            artifact_versions.c.artifact_id,
            sa.func.count().label("n"),
            sa.func.max(artifact_versions.c.version).label("latest"),
        )
        .group_by(artifact_versions.c.artifact_id)
        .subquery()
    )
    query = (
        sa.select(artifacts, counts.c.n, counts.c.latest)
        .join(counts, counts.c.artifact_id == artifacts.c.id)
        .where(artifacts.c.project == project)
        .order_by(artifacts.c.updated_at.desc())
    )
    if kind is not None:
        query = query.where(artifacts.c.type == kind)
    rows = conn.execute(query).all()
    versions: dict[int, dict[str, int]] = {}
    if rows:
        alias_query = (
            sa.select(
                artifact_aliases.c.artifact_id,
                artifact_aliases.c.alias,
                artifact_versions.c.version,
            )
            .join(artifact_versions, artifact_versions.c.id == artifact_aliases.c.version_id)
            .where(artifact_aliases.c.artifact_id.in_([r.id for r in rows]))
        )
        for artifact_id, alias, number in conn.execute(alias_query):
            versions.setdefault(artifact_id, {})[alias] = number
    return [
        ArtifactInfo(
            project=r.project,
            name=r.name,
            type=r.type,
            created_at=r.created_at,
            updated_at=r.updated_at,
            versions=r.n,
            latest=r.latest,
            aliases={"latest": r.latest, **versions.get(r.id, {})},
        )
        for r in rows
    ]


# ---- lineage -------------------------------------------------------------------------------


def _edge(tx: Tx, run_id: str, version_id: str, kind: str, at: float) -> None:
    tx.conn.execute(
        tx.insert(lineage).on_conflict_do_nothing(),
        {"run_id": run_id, "version_id": version_id, "kind": kind, "at": at},
    )


def record_use(tx: Tx, run_id: str, version_id: str) -> None:
    conn = tx.conn
    found = versions_by_id(conn, [version_id])
    if not found:
        raise NotFound(f"artifact version {version_id} does not exist")
    if conn.scalar(sa.select(runs.c.id).where(runs.c.id == run_id)) is None:
        raise NotFound(f"run {run_id} does not exist")
    _edge(tx, run_id, version_id, "used", time.time())


def edges(
    conn: sa.Connection, run_ids: Sequence[str], version_ids: Sequence[str]
) -> list[LineageEdge]:
    """Every edge touching one of the runs or versions."""
    found: dict[tuple[str, str, str], LineageEdge] = {}
    for column, ids in ((lineage.c.run_id, run_ids), (lineage.c.version_id, version_ids)):
        for part in _chunks(list(ids)):
            for r in conn.execute(sa.select(lineage).where(column.in_(part))):
                found[(r.run_id, r.version_id, r.kind)] = LineageEdge(
                    run_id=r.run_id, version_id=r.version_id, kind=r.kind, at=r.at
                )
    return sorted(found.values(), key=lambda e: (e.at, e.run_id, e.version_id))
