"""W&B artifacts a run logged, from its run file's ``artifact`` records: each becomes a
version of the Assay artifact of the same name and type, produced by the run, with its
description, metadata and aliases (W&B's ``latest`` is what Assay calls the newest).

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
from pathlib import Path
from typing import Any

from assay.artifacts import transfer
from assay.errors import CorruptData
from assay.records import ArtifactDraft, ArtifactVersion, FileEntry
from assay.store.base import Store

LATEST = "latest"


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
            sources.append(transfer.Source(entry.path, _local(record, entry)))
    manifest = transfer.upload(store, sources, refs, progress=False)
    metadata = json.loads(record.metadata) if record.metadata else {}
    draft = ArtifactDraft(
        project=project,
        name=record.name,
        type=record.type,
        manifest=manifest,
        metadata=metadata,
        aliases=[a for a in record.aliases if a != LATEST],
        run_id=run_id,
        description=record.description or None,
    )
    return store.artifacts.commit(draft)


def _local(record: Any, entry: Any) -> Path:
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
