"""Building, logging, resolving and downloading artifact versions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from assay.artifacts import folder, transfer
from assay.artifacts.references import resolve_reference
from assay.artifacts.uris import ArtifactRef, ModelRef, parse_ref
from assay.errors import Conflict, InvalidInput
from assay.records import ArtifactDraft, ArtifactVersion, FileEntry, Manifest
from assay.store.base import Store
from assay.values import artifact_path, check_name, check_text


class Artifact:
    """A version to be: files, directories and references, with a name and a type.

    >>> art = Artifact("digits-model", type="model")
    >>> art.add_file("model.skops"); art.add_dir("tokenizer/")
    """

    def __init__(
        self,
        name: str,
        type: str = "dataset",
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.name = check_name("artifact name", name)
        self.type = check_name("artifact type", type)
        self.description = check_text("description", description, limit=10_000)
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._files: dict[str, Path] = {}
        self._refs: dict[str, FileEntry] = {}

    def add_file(self, local: str | os.PathLike[str], name: str | None = None) -> str:
        """Add one file, stored as ``name`` (default: its file name)."""
        path = Path(local)
        if not path.is_file():
            raise InvalidInput(f"{path} is not a file")
        return self._add(artifact_path(name or path.name), path)

    def add_dir(
        self,
        local: str | os.PathLike[str],
        name: str | None = None,
        follow_symlinks: bool = False,
    ) -> list[str]:
        """Add every file under a directory, as ``name/relative/path`` (default: at the
        artifact's top level). Symbolic links inside the directory are followed; one that
        points outside it is refused unless ``follow_symlinks=True`` (see ``folder``)."""
        root = Path(local)
        if not root.is_dir():
            raise InvalidInput(f"{root} is not a directory")
        added = []
        for inner, path in folder.files_of(root, follow_symlinks):
            added.append(self._add(artifact_path(f"{name}/{inner}" if name else inner), path))
        if not added:
            raise InvalidInput(f"directory {root} has no files")
        return added

    def add_reference(self, uri: str, name: str | None = None) -> list[str]:
        """Record files by URI (``file://``, ``s3://``, ``http(s)://``; ``*`` globs) with
        their digest or ETag, without copying them."""
        added = []
        for entry in resolve_reference(uri, name):
            path = artifact_path(entry.path)
            self._check_new(path)
            self._refs[path] = FileEntry(
                path=path, size=entry.size, digest=entry.digest, ref=entry.ref
            )
            added.append(path)
        return added

    def _add(self, path: str, local: Path) -> str:
        self._check_new(path)
        self._files[path] = local
        return path

    def _check_new(self, path: str) -> None:
        if path in self._files or path in self._refs:
            raise InvalidInput(f"artifact {self.name!r} already has a file at {path!r}")

    def upload(self, store: Store, progress: bool | None = None) -> Manifest:
        if not self._files and not self._refs:
            raise InvalidInput(f"artifact {self.name!r} has no files; add some first")
        sources = [transfer.Source(p, local) for p, local in sorted(self._files.items())]
        return transfer.upload(store, sources, list(self._refs.values()), progress)


def from_path(
    local: str | os.PathLike[str], name: str | None, type: str, follow_symlinks: bool = False
) -> Artifact:
    path = Path(local)
    art = Artifact(name or _default_name(path), type=type)
    if path.is_dir():
        art.add_dir(path, follow_symlinks=follow_symlinks)
    elif path.is_file():
        art.add_file(path)
    else:
        raise InvalidInput(f"{path} is neither a file nor a directory")
    return art


def _default_name(path: Path) -> str:
    stem = path.name.split(".", 1)[0] if path.is_file() else path.name
    return stem or "artifact"


def log_artifact(
    store: Store,
    artifact: Artifact,
    project: str,
    *,
    run_id: str | None = None,
    aliases: list[str] | tuple[str, ...] = (),
    progress: bool | None = None,
) -> ArtifactVersion:
    """Upload what is missing, then commit the manifest. If garbage collection removed a
    blob between the two, upload again once."""
    for attempt in (1, 2):
        manifest = artifact.upload(store, progress)
        draft = ArtifactDraft(
            project=project,
            name=artifact.name,
            type=artifact.type,
            manifest=manifest,
            metadata=artifact.metadata,
            aliases=list(aliases),
            run_id=run_id,
            description=artifact.description,
        )
        try:
            return store.artifacts.commit(draft)
        except Conflict:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def resolve(store: Store, ref: str | ArtifactVersion, project: str | None) -> ArtifactVersion:
    """The version a reference names (``name:v3``, ``project/name:alias``, ``models:/...``)."""
    if isinstance(ref, ArtifactVersion):
        return ref
    parsed = parse_ref(ref)
    if isinstance(parsed, ModelRef):
        return store.models.version(parsed.name, parsed.selector).artifact
    assert isinstance(parsed, ArtifactRef)
    where = parsed.project or project
    if where is None:
        raise InvalidInput(f"artifact reference {ref!r} needs a project: write project/{ref}")
    return store.artifacts.version(where, parsed.name, parsed.selector)


def cache_root() -> Path:
    base = os.environ.get("ASSAY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "assay"
    )
    return Path(base) / "artifacts"


def download(
    store: Store,
    version: ArtifactVersion,
    root: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> Path:
    """The version's files under ``root`` (default: a cache folder per version, reused
    once complete). Every file is checked against its digest."""
    cached = root is None
    target = cache_root() / version.id if root is None else Path(root)
    marker = target.with_name(target.name + ".complete")
    if cached and marker.exists() and marker.read_text() == version.digest:
        return target
    transfer.download(store, store.artifacts.manifest(version.id), target, progress)
    if cached:
        marker.write_text(version.digest)
    return target


class UsedArtifact:
    """An artifact version a run (or a reader) has in hand: its record and its files."""

    def __init__(self, store: Store, version: ArtifactVersion) -> None:
        self._store = store
        self.version = version

    def __getattr__(self, name: str) -> Any:
        return getattr(self.version, name)

    def __repr__(self) -> str:
        return f"<UsedArtifact {self.version.ref} ({self.version.type})>"

    def manifest(self) -> Manifest:
        return self._store.artifacts.manifest(self.version.id)

    def download(
        self, root: str | os.PathLike[str] | None = None, progress: bool | None = None
    ) -> Path:
        return download(self._store, self.version, root, progress)

    def file(self, path: str) -> Path:
        """One file's local path (downloading the version if needed)."""
        root = self.download()
        return transfer.target_of(root, path)
