"""The Store protocol: everything Assay persists goes through its facets.

Two kinds implement it: ``SqlStore`` (SQLite or PostgreSQL plus a blob folder) and, for a
team server, an HTTP client. The SDK and every domain module talk to a Store only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from assay.errors import InvalidInput
from assay.store.facets.artifacts import Artifacts
from assay.store.facets.blobs import Blobs
from assay.store.facets.evaluations import Evaluations
from assay.store.facets.models import Models
from assay.store.facets.runs import Runs

DEFAULT_HOME = "~/.assay"


@runtime_checkable
class Store(Protocol):
    """A store is its facets (store/facets/), reached as attributes: ``store.runs``,
    ``store.blobs``, ``store.artifacts``, ``store.models``, ``store.evaluations``."""

    uri: str

    @property
    def runs(self) -> Runs: ...

    @property
    def blobs(self) -> Blobs: ...

    @property
    def artifacts(self) -> Artifacts: ...

    @property
    def models(self) -> Models: ...

    @property
    def evaluations(self) -> Evaluations: ...

    def close(self) -> None: ...


def resolve_uri(uri: str | os.PathLike[str] | None = None) -> str:
    """The URI to use: the argument, else ``ASSAY_URI``, else ``~/.assay``."""
    chosen = os.fspath(uri) if uri is not None else os.environ.get("ASSAY_URI") or DEFAULT_HOME
    if not chosen.strip():
        raise InvalidInput("store URI must not be empty")
    return chosen


def local_root(uri: str) -> Path | None:
    """The folder of an embedded store URI (a path or file://), else None."""
    if uri.startswith("file://"):
        return Path(uri[len("file://") :]).expanduser()
    if "://" in uri:
        return None
    return Path(uri).expanduser()


def journal_root(uri: str) -> Path:
    """Where runs writing to ``uri`` keep their journals: ``<store>/journal`` for an
    embedded store, else ``ASSAY_JOURNAL_DIR`` or ``~/.assay/journal``."""
    override = os.environ.get("ASSAY_JOURNAL_DIR")
    if override:
        return Path(override).expanduser()
    root = local_root(uri)
    return (root if root is not None else Path(DEFAULT_HOME).expanduser()) / "journal"


def open_store(uri: str | os.PathLike[str] | None = None) -> Store:
    """Open the store a URI names (see DESIGN.md: the URI picks the store)."""
    resolved = resolve_uri(uri)
    root = local_root(resolved)
    if root is not None:
        from assay.store.sql.store import SqlStore

        return SqlStore.embedded(root)
    if resolved.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        from assay.store.sql.store import SqlStore

        return SqlStore.from_url(resolved)
    if resolved.startswith(("http://", "https://")):
        from assay.store.http.store import RemoteStore

        return RemoteStore(resolved)
    scheme = resolved.split("://", 1)[0]
    raise InvalidInput(
        f"store URI {resolved!r}: scheme {scheme!r} is not supported "
        "(use a path, file://, sqlite://, postgresql:// or http(s)://)"
    )
