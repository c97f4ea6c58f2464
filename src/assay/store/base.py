"""The Store protocol: everything Assay persists goes through its facets.

Two kinds implement it: ``SqlStore`` (SQLite or PostgreSQL plus a blob folder) and, for a
team server, an HTTP client. The SDK and every domain module talk to a Store only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from assay.errors import InvalidInput
from assay.redact import redact_uri
from assay.store.facets.alerts import Alerts
from assay.store.facets.artifacts import Artifacts
from assay.store.facets.blobs import Blobs
from assay.store.facets.evaluations import Evaluations
from assay.store.facets.labels import Labels
from assay.store.facets.media import Media
from assay.store.facets.models import Models
from assay.store.facets.prompts import Prompts
from assay.store.facets.requests import Requests
from assay.store.facets.runs import Runs
from assay.store.facets.sweeps import Sweeps
from assay.store.facets.traces import Traces

if TYPE_CHECKING:
    from assay.store.sql.store import SqlStore

DEFAULT_HOME = "~/.assay"


@runtime_checkable
class Store(Protocol):
    """A store is its facets (store/facets/), reached as attributes: ``store.runs``,
    ``store.blobs``, ``store.artifacts``, ``store.models``, ``store.evaluations``,
    ``store.media``, ``store.requests``, ``store.labels``, ``store.sweeps``,
    ``store.traces``, ``store.prompts``."""

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

    @property
    def media(self) -> Media: ...

    @property
    def alerts(self) -> Alerts: ...

    @property
    def requests(self) -> Requests: ...

    @property
    def labels(self) -> Labels: ...

    @property
    def sweeps(self) -> Sweeps: ...

    @property
    def traces(self) -> Traces: ...

    @property
    def prompts(self) -> Prompts: ...

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


class Scheme(NamedTuple):
    """What a URI scheme names: ``kind`` is "sql" (the database itself) or "http" (a
    server), and ``open`` makes the store."""

    kind: str
    open: Callable[[str, str | Path | None, bool | None], Store]


def _embedded(uri: str, blobs: str | Path | None, upgrade: bool | None) -> Store:
    from assay.store.sql.store import SqlStore

    root = local_root(uri)
    assert root is not None  # the file scheme: a path or file://
    return SqlStore.embedded(root)


def _database(uri: str, blobs: str | Path | None, upgrade: bool | None) -> Store:
    from assay.store.sql.store import SqlStore

    return SqlStore.from_url(uri, blobs=blobs, upgrade=upgrade)


def _server(uri: str, blobs: str | Path | None, upgrade: bool | None) -> Store:
    from assay.store.http.store import RemoteStore

    return RemoteStore(uri)


# The one table from a URI's scheme to a store (a bare path is "file"). A new backend is a
# row here; everything that opens a store by URI (SDK, CLI, server, serving) reads it.
SCHEMES: dict[str, Scheme] = {
    "file": Scheme("sql", _embedded),
    "sqlite": Scheme("sql", _database),
    "postgresql": Scheme("sql", _database),
    "postgresql+psycopg": Scheme("sql", _database),
    "http": Scheme("http", _server),
    "https": Scheme("http", _server),
}


def scheme_of(uri: str) -> str:
    """The URI's scheme: ``file`` for a path or file://, else what precedes ``://``."""
    return "file" if local_root(uri) is not None else uri.split("://", 1)[0]


def store_kind(uri: str) -> str | None:
    """ "sql" for a store opened directly, "http" for a server, None for an unknown scheme."""
    found = SCHEMES.get(scheme_of(uri))
    return found.kind if found is not None else None


def open_store(uri: str | os.PathLike[str] | None = None) -> Store:
    """Open the store a URI names (its scheme picks the kind: see SCHEMES)."""
    resolved = resolve_uri(uri)
    scheme = scheme_of(resolved)
    found = SCHEMES.get(scheme)
    if found is None:
        raise InvalidInput(
            f"store URI {resolved!r}: scheme {scheme!r} is not supported "
            "(use a path, file://, sqlite://, postgresql:// or http(s)://)"
        )
    return found.open(resolved, None, None)


def open_sql_store(
    uri: str | os.PathLike[str] | None = None,
    upgrade: bool | None = None,
    blobs: str | Path | None = None,
) -> SqlStore:
    """The SqlStore a URI names, for what needs the database itself (schema upgrades, users
    and keys, the audit log, gc, a server); a server's URL is refused. ``upgrade`` and
    ``blobs`` apply to a database URL (see ``SqlStore.from_url``)."""
    from assay.store.sql.store import SqlStore

    resolved = resolve_uri(uri)
    found = SCHEMES.get(scheme_of(resolved))
    if found is None or found.kind != "sql":
        raise InvalidInput(
            f"{redact_uri(resolved)!r}: this command needs direct database access, not a server URL"
        )
    store = found.open(resolved, blobs, upgrade)
    assert isinstance(store, SqlStore)
    return store
