"""Opening a SQL store: SQLite files kept private (0600 files in a 0700 folder) or opened
read-only when they are not writable, and what a database says when it cannot be used,
translated: an outage (``StoreUnavailable``, worth retrying) is kept apart from a store
that cannot be used as given (``StoreUnusable``: a wrong password, a missing database, a
file that is not a store, a folder without permission)."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from assay.errors import AssayError, InvalidInput, StoreUnavailable, StoreUnusable
from assay.redact import redact_text
from assay.values import json_text

FOLDER_MODE = 0o700
FILE_MODE = 0o600

# What PostgreSQL says when retrying cannot help: it answered, and refused.
_UNUSABLE_STATES = frozenset({"28P01", "28000", "3D000", "42501", "3F000"})
_UNUSABLE_TEXT = (
    "password authentication failed",
    "no password supplied",
    "authentication failed",
    "does not exist",  # the role or the database
    "permission denied",
    "pg_hba.conf",
)
_TRANSIENT_TEXT = ("database is locked", "database table is locked", "disk i/o error")


def writable(path: Path) -> bool:
    """Whether Assay may write ``path``: the OS allows it and some write bit is set. The
    mode bits count even for root, who could write anyway: a store someone made
    read-only (``chmod a-w``) is opened read-only for everyone."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_folder(root: Path) -> None:
    """The store's folder, private to its owner when Assay creates it."""
    if root.is_dir():
        return
    try:
        root.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnusable(f"cannot create the store folder {root}: {exc.strerror}") from exc


def create_private(path: Path) -> None:
    """Create an empty file readable by its owner only, unless it exists. SQLite gives
    its -wal and -shm files the same mode as the database."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreUnusable(f"cannot create the store file {path}: {exc.strerror}") from exc


def read_only(db: Path) -> bool:
    """An existing database whose file or folder may not be written."""
    return db.exists() and not (writable(db) and writable(db.parent))


def sqlite_engine(url: str, db: Path | None = None, readonly: bool = False) -> sa.Engine:
    """A SQLite engine: WAL, a 60 s busy timeout, BEGIN IMMEDIATE for writes; for a
    read-only store, a ``mode=ro`` connection (``immutable`` when the folder is not
    writable and there is no WAL to read)."""
    if readonly and db is not None:
        engine = sa.create_engine(
            "sqlite://", creator=lambda: _connect_ro(db), json_serializer=json_text
        )
    else:
        engine = sa.create_engine(
            url,
            connect_args={"timeout": 60, "check_same_thread": False},
            json_serializer=json_text,
        )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        if not readonly:
            use_wal(cur)
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the lock up front (BEGIN IMMEDIATE): a deferred transaction that
        # later upgrades to a write lock fails with "database is locked" without waiting.
        mode = conn.get_execution_options().get("assay_tx", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def use_wal(cur: sqlite3.Cursor, patience: float = 60.0) -> None:
    """Put the database in WAL mode unless it already is (the usual case: no lock taken).
    The switch needs the file to itself; when another process is opening the same new
    file, SQLite can answer "database is locked" at once instead of waiting, so the
    switch is retried for as long as the busy timeout would have waited."""
    if cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + patience
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _connect_ro(db: Path) -> sqlite3.Connection:
    wal = Path(f"{db}-wal")
    shm = Path(f"{db}-shm")
    can_share = writable(db.parent) or (wal.exists() and shm.exists())
    flags = "mode=ro" if can_share else "mode=ro&immutable=1"
    uri = f"file:{quote(str(db.resolve()))}?{flags}"
    return sqlite3.connect(uri, uri=True, timeout=60, check_same_thread=False)


def open_error(exc: sa.exc.DBAPIError, shown: str) -> AssayError:
    """What a failure to open a store means, with ``shown`` (a redacted URI) named."""
    reason = redact_text(str(exc.orig)).strip()
    kind = StoreUnusable if unusable(exc) else StoreUnavailable
    return kind(f"cannot open the store at {shown}: {reason}")


def unusable(exc: sa.exc.DBAPIError) -> bool:
    """True when the database answered and refused (no use retrying). A SQLite file that
    cannot be opened is never an outage, short of a lock or an I/O error."""
    text = str(exc.orig).lower()
    if any(t in text for t in _TRANSIENT_TEXT):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        return True
    if getattr(exc.orig, "sqlstate", None) in _UNUSABLE_STATES:
        return True
    return any(t in text for t in _UNUSABLE_TEXT)


@contextmanager
def translating(doing: str) -> Iterator[None]:
    """Database errors that are the store's condition (an outage, a refused value) leave
    as Assay's errors naming what was being done; anything else (a bug) as it is."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if not translated(exc):
            raise
        raise runtime_error(exc, doing) from exc


def translated(exc: sa.exc.DBAPIError) -> bool:
    """Whether a database error while reading or writing is the store's condition or the
    input's (an outage, a refused value, missing privileges), not a bug to surface."""
    if isinstance(exc, sa.exc.OperationalError | sa.exc.DataError):
        return True
    return getattr(exc.orig, "sqlstate", None) == "42501"  # insufficient privilege


def runtime_error(exc: sa.exc.DBAPIError, doing: str) -> AssayError:
    """A database error while reading or writing, as Assay's error (no store path or
    URI in it: this text may reach users of a server)."""
    text = str(exc.orig).strip()
    reason = redact_text(text.splitlines()[0] if text else type(exc.orig).__name__)
    if isinstance(exc, sa.exc.DataError):  # SQLSTATE class 22: a value the store refused
        return InvalidInput(f"the store refused a value: {reason}")
    if "readonly database" in reason.lower():
        return StoreUnusable(f"the store is read-only: cannot {doing}")
    if not isinstance(exc.orig, sqlite3.Error) and unusable(exc):
        return StoreUnusable(f"the store refused to {doing}: {reason}")
    return StoreUnavailable(f"the store failed to {doing}: {reason}")
