"""SqlStore: the Store protocol on SQLAlchemy Core (SQLite or PostgreSQL, plus a blob folder
or bucket). It opens the database and holds one object per facet (sql/<facet>.py), all
sharing one ``Database`` (sql/tx.py)."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from assay.errors import SchemaMismatch, StoreUnusable
from assay.redact import redact_uri
from assay.store.blobs import BlobStore, LocalBlobStore, open_blobs
from assay.store.sql import audit, migrate, opening
from assay.store.sql.alerts import SqlAlerts
from assay.store.sql.artifacts import SqlArtifacts
from assay.store.sql.blobs import SqlBlobs
from assay.store.sql.checkpoint import Checkpointer
from assay.store.sql.evaluations import SqlEvaluations
from assay.store.sql.labels import SqlLabels
from assay.store.sql.media import SqlMedia
from assay.store.sql.models import SqlModels
from assay.store.sql.prompts import SqlPrompts
from assay.store.sql.requests import SqlRequests
from assay.store.sql.runs import SqlRuns
from assay.store.sql.sweeps import SqlSweeps
from assay.store.sql.traces import SqlTraces
from assay.store.sql.tx import Database
from assay.values import json_text


class SqlStore:
    """Metadata in SQL, series as columnar chunks, big values in a content-addressed folder.
    ``blobs`` here is where bytes go (a BlobStore); ``self.blobs`` is the facet over it."""

    def __init__(
        self,
        engine: sa.Engine,
        blobs: BlobStore,
        uri: str,
        upgrade: bool | None = None,
        *,
        read_only: bool = False,
        checkpoints: Checkpointer | None = None,
    ) -> None:
        """``upgrade``: bring an older schema to this version. None: yes for SQLite (one
        user's store), only for an empty database on PostgreSQL, where a shared schema is
        changed only by ``assay db upgrade``. ``read_only``: a store whose files may not
        be written; it is read and audited, never migrated, and refuses every write.
        ``checkpoints``: the WAL checkpointer of a SQLite file this store writes, attached
        to ``engine`` and stopped by ``close``."""
        self.uri = uri
        self.shown = redact_uri(uri)  # what error messages name: never a password
        self.dialect = engine.dialect.name
        self.read_only = read_only
        self.checkpoints = checkpoints
        self._upgrade = upgrade
        gate = None if checkpoints is None else checkpoints.gate
        self.db = Database(engine, audit.local_actor(), read_only, gate)
        self.runs = SqlRuns(self.db, blobs)
        self.blobs = SqlBlobs(self.db, blobs)
        self.artifacts = SqlArtifacts(self.db)
        self.models = SqlModels(self.db)
        self.evaluations = SqlEvaluations(self.db)
        self.alerts = SqlAlerts(self.db)
        self.requests = SqlRequests(self.db)
        self.labels = SqlLabels(self.db)
        self.media = SqlMedia(self.db)
        self.sweeps = SqlSweeps(self.db)
        self.traces = SqlTraces(self.db)
        self.prompts = SqlPrompts(self.db)
        try:
            self._prepare()
        except BaseException:
            self.close()  # a store that failed to open holds no connection, no thread
            raise

    @classmethod
    def embedded(cls, root: Path) -> SqlStore:
        """The store in a local folder: ``assay.db`` (0600) and ``blobs/``, in a folder
        only its owner may enter (0700) when Assay creates it."""
        db = root / "assay.db"
        try:
            opening.make_folder(root)
            readonly = opening.read_only(db)
            if not readonly:
                if not opening.writable(root):
                    raise StoreUnusable(
                        f"the store folder {root} is not writable and holds no store"
                    )
                opening.create_private(db)
                opening.make_folder(root / "blobs")
        except OSError as exc:  # a folder we may not even look into
            raise StoreUnusable(f"cannot use the store folder {root}: {exc.strerror}") from exc
        engine = opening.sqlite_engine(f"sqlite:///{db}", db, readonly)
        checkpoints = None if readonly else _checkpointed(engine, db)
        return cls(
            engine,
            LocalBlobStore(root / "blobs"),
            str(root),
            read_only=readonly,
            checkpoints=checkpoints,
        )

    @classmethod
    def from_url(
        cls, url: str, blobs: str | Path | None = None, upgrade: bool | None = None
    ) -> SqlStore:
        """A SQLite or PostgreSQL URL; ``blobs`` is a folder or ``s3://bucket/prefix``
        (default: ``blobs/`` beside a SQLite file, ``~/.assay/blobs`` for PostgreSQL)."""
        readonly = False
        checkpoints = None
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1] if "///" in url else ""
            db = Path(path) if path and path != ":memory:" and "?" not in path else None
            if db is not None:
                readonly = opening.read_only(db)
                if not readonly and db.parent.is_dir():
                    opening.create_private(db)
            engine = opening.sqlite_engine(url, db, readonly)
            if db is not None and not readonly:
                checkpoints = _checkpointed(engine, db)
            default = Path(path).parent / "blobs"
        else:
            engine = sa.create_engine(
                url.replace("postgresql://", "postgresql+psycopg://", 1),
                pool_pre_ping=True,
                json_serializer=json_text,
            )
            default = Path(os.path.expanduser("~/.assay/blobs"))
        return cls(
            engine,
            open_blobs(blobs or default),
            url,
            upgrade,
            read_only=readonly,
            checkpoints=checkpoints,
        )

    def _prepare(self) -> None:
        try:
            with self.engine.connect() as conn:
                current = migrate.current_revision(conn)
            if migrate.check_revision(current, self.shown):
                return
            if self.read_only:
                raise StoreUnusable(
                    f"the store at {self.shown} is read-only and at schema revision "
                    f"{current or 'none'}, not {migrate.SCHEMA_REVISION}: open a writable "
                    "copy to upgrade it"
                )
            upgrade = self._upgrade
            if upgrade is None:
                upgrade = self.dialect == "sqlite" or current is None
            if not upgrade:
                raise SchemaMismatch(
                    f"the store at {self.shown} has schema revision {current}, older than "
                    f"this Assay's {migrate.SCHEMA_REVISION}: run `assay db upgrade --uri ...` "
                    "first"
                )
            migrate.upgrade(self.engine.execution_options(assay_tx="IMMEDIATE"))
        except sa.exc.DBAPIError as exc:
            if not isinstance(exc, sa.exc.OperationalError | sa.exc.DatabaseError):
                raise
            raise opening.open_error(exc, self.shown) from exc

    @property
    def engine(self) -> sa.Engine:
        """The database (auth, access and the audit log work on it directly)."""
        return self.db.engine

    def close(self) -> None:
        self.engine.dispose()
        if self.checkpoints is not None:
            self.checkpoints.close()


def _checkpointed(engine: sa.Engine, db: Path) -> Checkpointer:
    """The checkpointer of a SQLite file written through ``engine``: its writers no
    longer checkpoint the WAL themselves (see ``checkpoint.py``)."""
    checkpoints = Checkpointer(db)
    checkpoints.attach(engine)
    return checkpoints
