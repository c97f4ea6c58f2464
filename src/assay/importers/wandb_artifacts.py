"""W&B artifacts a run logged, from its run file's ``artifact`` records or from a W&B
server (``run.logged_artifacts()``): each becomes a version of the Assay artifact of the
same name and type, produced by the run, with its description, metadata and aliases
(W&B's ``latest`` is what Assay calls the newest). From a server, files are downloaded
by W&B's own client and checked against the manifest's MD5 digests.

A file's bytes are read where the W&B SDK left them on this machine: the ``local_path``
the record names (its staging copy, until the run is synced) or W&B's cache
(``$WANDB_CACHE_DIR``, default ``~/.cache/wandb``, under ``artifacts/obj/md5``); each is
checked against W&B's own digest (MD5, base64) before it is stored. A reference
(``add_reference``) is recorded as a reference with W&B's digest, never fetched. A
version with a file found nowhere is refused by name: it is never stored in part."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from assay.artifacts import transfer
from assay.errors import CorruptData
from assay.records import ArtifactDraft, ArtifactVersion, FileEntry
from assay.store.base import Store

LATEST = "latest"
_VERSION = re.compile(r"v\d+")


def import_artifact(store: Store, record: Any, project: str, run_id: str) -> ArtifactVersion:
    """Store the artifact version ``record`` describes, as produced by ``run_id``."""
    sources: list[transfer.Source] = []
    refs: list[FileEntry] = []
    for entry in record.manifest.contents:
        if entry.ref:
            refs.append(
                FileEntry(path=entry.path, size=entry.size, digest=entry.digest, ref=entry.ref)
            )
        else:
            sources.append(transfer.Source(entry.path, local_file(record, entry)))
    draft = ArtifactDraft(
        project=project,
        name=record.name,
        type=record.type,
        manifest=transfer.upload(store, sources, refs, progress=False),
        metadata=json.loads(record.metadata) if record.metadata else {},
        aliases=kept_aliases(record.aliases),
        run_id=run_id,
        description=record.description or None,
    )
    return store.artifacts.commit(draft)


def import_from_api(store: Store, artifact: Any, project: str, run_id: str) -> ArtifactVersion:
    """Store a version ``wandb.Api`` returns (``run.logged_artifacts()``): its files as
    W&B's client downloads them, each checked against the manifest's MD5."""
    entries = artifact.manifest.entries
    refs = [
        FileEntry(path=path, size=e.size or 0, digest=str(e.digest), ref=str(e.ref))
        for path, e in sorted(entries.items())
        if e.ref is not None
    ]
    with tempfile.TemporaryDirectory(prefix="assay-wandb-") as folder:
        sources = [
            transfer.Source(path, local) for path, local in downloaded(artifact, Path(folder))
        ]
        draft = ArtifactDraft(
            project=project,
            name=artifact.name.split(":", 1)[0],
            type=artifact.type,
            manifest=transfer.upload(store, sources, refs, progress=False),
            metadata=dict(artifact.metadata or {}),
            aliases=kept_aliases(artifact.aliases),
            run_id=run_id,
            description=artifact.description or None,
        )
        return store.artifacts.commit(draft)


def downloaded(artifact: Any, folder: Path) -> list[tuple[str, Path]]:
    """The files (not references) of a version ``wandb.Api`` returns, downloaded by W&B's
    client into ``folder`` and each checked against the manifest's MD5: (path, file)."""
    artifact.download(root=str(folder), allow_missing_references=True)
    found = []
    for path, entry in sorted(artifact.manifest.entries.items()):
        if entry.ref is not None:
            continue
        local = transfer.target_of(folder, path)
        if not local.is_file() or _md5(local) != entry.digest:
            raise CorruptData(
                f"artifact {artifact.name}: file {path} did not arrive as W&B recorded it "
                f"(MD5 {entry.digest})"
            )
        found.append((path, local))
    return found


def kept_aliases(aliases: Any) -> list[str]:
    """W&B's aliases but ``latest`` and the version names (``v3``), which Assay keeps
    itself."""
    return [a for a in aliases if a != LATEST and not _VERSION.fullmatch(a)]


def local_file(record: Any, entry: Any) -> Path:
    """Where the W&B SDK left the file of ``entry`` on this machine, checked (MD5)."""
    for path in (Path(entry.local_path) if entry.local_path else None, _cached(entry.digest)):
        if path is not None and path.is_file():
            if _md5(path) != entry.digest:
                raise CorruptData(
                    f"artifact {record.name}: {path} does not hold the bytes W&B recorded for "
                    f"{entry.path} (MD5 {entry.digest})"
                )
            return path
    raise CorruptData(
        f"artifact {record.name}: file {entry.path} is neither at {entry.local_path or '-'} "
        "nor in W&B's cache on this machine (a synced run's staged files are gone)"
    )


def _cached(digest: str) -> Path | None:
    try:
        hexed = base64.b64decode(digest, validate=True).hex()
    except ValueError:
        return None
    root = Path(os.environ.get("WANDB_CACHE_DIR") or Path.home() / ".cache" / "wandb")
    return root / "artifacts" / "obj" / "md5" / hexed[:2] / hexed[2:]


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()
