"""The model registry in SQL: registered models, versions pointing at model artifact
versions, aliases, and the history of every alias move (who, when, why, evidence)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput, NotFound
from assay.records import AliasMove, ModelVersion, RegisteredModel
from assay.store.sql import audit, catalog
from assay.store.sql.schema import alias_moves, model_aliases, model_versions, registered_models
from assay.store.sql.tx import Tx
from assay.values import check_alias, check_name, check_text


def register(
    tx: Tx, version_id: str, name: str, description: str | None, tags: dict[str, str]
) -> ModelVersion:
    """Register a model artifact version under ``name`` (a new version number), or return
    the model version that already points at it."""
    conn, actor = tx.conn, tx.actor
    check_name("model name", name)
    check_text("description", description, limit=10_000)
    _check_tags(tags)
    found = catalog.versions_by_id(conn, [version_id])
    if not found:
        raise NotFound(f"artifact version {version_id} does not exist")
    artifact = found[0]
    if artifact.type != "model":
        raise InvalidInput(
            f"{artifact.ref} is a {artifact.type!r} artifact; "
            "only 'model' artifacts can be registered"
        )
    now = time.time()
    project = _model_row(
        conn=conn, name=name, project=artifact.project, description=description, tags=tags, now=now
    )
    if project != artifact.project:
        raise InvalidInput(
            f"model {name!r} belongs to project {project!r}; "
            f"{artifact.ref} is in {artifact.project!r}"
        )
    existing = conn.scalar(
        sa.select(model_versions.c.version).where(
            model_versions.c.model == name, model_versions.c.artifact_version_id == version_id
        )
    )
    if existing is not None:
        return version_of(conn, name, str(existing))
    last = conn.scalar(
        sa.select(sa.func.max(model_versions.c.version)).where(model_versions.c.model == name)
    )
    number = 1 if last is None else last + 1
    conn.execute(
        model_versions.insert(),
        {
            "model": name,
            "version": number,
            "artifact_version_id": version_id,
            "description": description,
            "created_at": now,
            "created_by": actor[:128],
        },
    )
    conn.execute(
        registered_models.update().where(registered_models.c.name == name).values(updated_at=now)
    )
    change = {"version": number, "artifact": artifact.ref, "artifact_version": version_id}
    audit.append(conn, actor, "model.registered", f"model:{name}/{number}", change)
    return msgspec.structs.replace(version_of(conn, name, str(number)), created=True)


def _check_tags(tags: Any) -> None:
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise InvalidInput("model tags must be a dict of strings to strings")


def _model_row(
    conn: sa.Connection,
    name: str,
    project: str,
    description: str | None,
    tags: dict[str, str],
    *,
    now: float,
) -> str:
    query = sa.select(registered_models.c.project).where(registered_models.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = conn.scalar(query)
    if found is not None:
        return str(found)
    conn.execute(
        registered_models.insert(),
        {
            "name": name,
            "project": project,
            "description": description,
            "tags": tags,
            "created_at": now,
            "updated_at": now,
        },
    )
    return project


def set_alias(
    tx: Tx, name: str, alias: str, version: int | None, *, reason: str | None, evidence: str | None
) -> AliasMove:
    """Point ``alias`` at a version (None removes it) and record the move."""
    conn, actor = tx.conn, tx.actor
    check_alias(alias)
    check_text("reason", reason, limit=10_000)
    check_text("evidence", evidence)
    model(conn, name)
    if version is not None:
        version_of(conn, name, str(version))
    previous = conn.scalar(
        sa.select(model_aliases.c.version).where(
            model_aliases.c.model == name, model_aliases.c.alias == alias
        )
    )
    if version is None:
        if previous is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        conn.execute(
            model_aliases.delete().where(
                model_aliases.c.model == name, model_aliases.c.alias == alias
            )
        )
    else:
        stmt = tx.insert(model_aliases).values(model=name, alias=alias, version=version)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["model", "alias"], set_={"version": version})
        )
    move = AliasMove(
        model=name,
        alias=alias,
        version=version,
        previous=previous,
        actor=actor[:128],
        reason=reason,
        evidence=evidence,
        at=time.time(),
    )
    row = msgspec.structs.asdict(move)
    conn.execute(alias_moves.insert(), [row])
    conn.execute(
        registered_models.update()
        .where(registered_models.c.name == name)
        .values(updated_at=move.at)
    )
    change = {"version": version, "previous": previous, "reason": reason, "evidence": evidence}
    audit.append(conn, actor, "model.alias_moved", f"model:{name}@{alias}", change)
    return move


# ---- reads ---------------------------------------------------------------------------------


def models(conn: sa.Connection, project: str | None = None) -> list[RegisteredModel]:
    query = sa.select(registered_models).order_by(registered_models.c.updated_at.desc())
    if project is not None:
        query = query.where(registered_models.c.project == project)
    return _hydrate_models(conn, conn.execute(query).all())


def model(conn: sa.Connection, name: str) -> RegisteredModel:
    rows = conn.execute(sa.select(registered_models).where(registered_models.c.name == name)).all()
    if not rows:
        raise NotFound(f"registered model {name!r} does not exist")
    return _hydrate_models(conn, rows)[0]


def _hydrate_models(conn: sa.Connection, rows: Sequence[sa.Row[Any]]) -> list[RegisteredModel]:
    names = [r.name for r in rows]
    if not names:
        return []
    latest = dict(
        conn.execute(
            sa.select(model_versions.c.model, sa.func.max(model_versions.c.version))
            .where(model_versions.c.model.in_(names))
            .group_by(model_versions.c.model)
        ).all()
    )
    aliases: dict[str, dict[str, int]] = {}
    for m, alias, version in conn.execute(
        sa.select(model_aliases)
        .where(model_aliases.c.model.in_(names))
        .order_by(model_aliases.c.alias)
    ):
        aliases.setdefault(m, {})[alias] = version
    return [
        RegisteredModel(
            name=r.name,
            project=r.project,
            description=r.description,
            tags=r.tags or {},
            created_at=r.created_at,
            updated_at=r.updated_at,
            latest=latest.get(r.name, 0),
            aliases=aliases.get(r.name, {}),
        )
        for r in rows
    ]


def versions(conn: sa.Connection, name: str) -> list[ModelVersion]:
    model(conn, name)
    rows = conn.execute(
        sa.select(model_versions)
        .where(model_versions.c.model == name)
        .order_by(model_versions.c.version.desc())
    ).all()
    return _hydrate_versions(conn, name, rows)


def version_of(conn: sa.Connection, name: str, selector: str) -> ModelVersion:
    """``selector``: a version number (``3`` or ``v3``), ``latest``, or an alias."""
    model(conn, name)

    def aliased(alias: str) -> sa.ColumnElement[bool]:
        target = sa.select(model_aliases.c.version).where(
            model_aliases.c.model == name, model_aliases.c.alias == alias
        )
        return model_versions.c.version == target.scalar_subquery()

    query = sa.select(model_versions).where(model_versions.c.model == name)
    query = catalog.by_selector(query, selector, model_versions.c.version, aliased)
    rows = conn.execute(query).all()
    if not rows:
        raise NotFound(f"model {name!r} has no version {selector!r}")
    return _hydrate_versions(conn, name, rows)[0]


def _hydrate_versions(
    conn: sa.Connection, name: str, rows: Sequence[sa.Row[Any]]
) -> list[ModelVersion]:
    artifacts = {
        a.id: a for a in catalog.versions_by_id(conn, [r.artifact_version_id for r in rows])
    }
    aliases: dict[int, list[str]] = {}
    for alias, version in conn.execute(
        sa.select(model_aliases.c.alias, model_aliases.c.version)
        .where(model_aliases.c.model == name)
        .order_by(model_aliases.c.alias)
    ):
        aliases.setdefault(version, []).append(alias)
    return [
        ModelVersion(
            model=name,
            version=r.version,
            artifact=artifacts[r.artifact_version_id],
            description=r.description,
            created_at=r.created_at,
            created_by=r.created_by,
            aliases=aliases.get(r.version, []),
        )
        for r in rows
    ]


def history(conn: sa.Connection, name: str, alias: str | None = None) -> list[AliasMove]:
    model(conn, name)
    query = sa.select(alias_moves).where(alias_moves.c.model == name)
    if alias is not None:
        query = query.where(alias_moves.c.alias == alias)
    rows = conn.execute(query.order_by(alias_moves.c.id.desc())).all()
    return [
        AliasMove(
            model=r.model,
            alias=r.alias,
            version=r.version,
            previous=r.previous,
            actor=r.actor,
            reason=r.reason,
            evidence=r.evidence,
            at=r.at,
        )
        for r in rows
    ]
