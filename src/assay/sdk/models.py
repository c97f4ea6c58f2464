"""``assay.models``: the model registry from Python.

    mv = assay.register_model("digits-model:v2", name="digits-classifier")
    assay.models.set_alias("digits-classifier", "production", version=mv.version,
                           reason="beats v1 on eval #12")
    clf = assay.models.load("models:/digits-classifier@production")

Each function takes ``uri=`` (default: the active run's store, else ``ASSAY_URI``, else
``~/.assay``).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assay.artifacts.artifact import download, resolve
from assay.artifacts.uris import ModelRef, parse_ref
from assay.errors import InvalidInput
from assay.flavours import saved as flavours
from assay.records import AliasMove, LabelResult, ModelVersion, RegisteredModel
from assay.sdk import state
from assay.store.base import Store, open_store

Uri = str | os.PathLike[str] | None


@contextmanager
def _store(uri: Uri) -> Iterator[Store]:
    run = state.current()
    chosen = uri if uri is not None else (run.uri if run is not None else None)
    store = open_store(chosen)
    try:
        yield store
    finally:
        store.close()


def _model_ref(uri: str) -> ModelRef:
    parsed = parse_ref(uri)
    if not isinstance(parsed, ModelRef):
        raise InvalidInput(f"{uri!r} is not a model URI: use models:/name@alias or models:/name/3")
    return parsed


def register_model(  # noqa: PLR0917 - public API: positional calls keep working
    artifact: str,
    name: str,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    project: str | None = None,
    uri: Uri = None,
) -> ModelVersion:
    """Register a model artifact version (``digits-model:v2``) as the next version of
    ``name``; registering the same artifact version again returns its model version."""
    run = state.current()
    where = project or (run.project if run is not None else None)
    with _store(uri) as store:
        version = resolve(store, artifact, where)
        return store.models.register(version.id, name, description, tags)


def set_alias(  # noqa: PLR0917 - public API: positional calls keep working
    name: str,
    alias: str,
    version: int | None,
    reason: str | None = None,
    evidence: str | None = None,
    uri: Uri = None,
) -> AliasMove:
    """Point ``alias`` at a version (None removes it); the move is recorded with who,
    when, ``reason`` and ``evidence`` (say, an evaluation id)."""
    with _store(uri) as store:
        return store.models.set_alias(name, alias, version, reason=reason, evidence=evidence)


def get(model_uri: str, uri: Uri = None) -> ModelVersion:
    """The model version ``models:/name@alias`` (or ``/3``, or latest) names."""
    ref = _model_ref(model_uri)
    with _store(uri) as store:
        return store.models.version(ref.name, ref.selector)


def ls(project: str | None = None, uri: Uri = None) -> list[RegisteredModel]:
    with _store(uri) as store:
        return store.models.list(project)


def versions(name: str, uri: Uri = None) -> list[ModelVersion]:
    with _store(uri) as store:
        return store.models.versions(name)


def history(name: str, alias: str | None = None, uri: Uri = None) -> list[AliasMove]:
    with _store(uri) as store:
        return store.models.alias_history(name, alias)


def log_labels(
    name: str, ids: Sequence[str], labels: Sequence[Any], uri: Uri = None
) -> LabelResult:
    """Join labels that arrived later to model ``name``'s request log, ``labels[i]`` to
    request id ``ids[i]`` (a later label replaces an earlier one). Ids the log does not
    hold (yet: entries are delivered asynchronously) are not stored; they are returned in
    ``result.unknown`` (with ``result.matched`` counting the rest) and named in a warning."""
    from assay.sdk.requests import log_labels as join

    with _store(uri) as store:
        result = join(store, name, ids, labels)
    if result.unknown:
        shown = ", ".join(result.unknown[:5]) + (", ..." if len(result.unknown) > 5 else "")
        warnings.warn(
            f"{len(result.unknown)} request id(s) are not in {name!r}'s request log: {shown}",
            UnknownRequestIds,
            stacklevel=2,
        )
    return result


class UnknownRequestIds(UserWarning):
    """Labels were given for request ids the request log does not hold."""


def save(model: Any, folder: str | os.PathLike[str], flavour: str | None = None) -> Path:
    """Write a model and its flavour descriptor to a folder (what ``run.log_model`` logs)."""
    target = Path(folder)
    flavours.save(model, target, flavour)
    return target


def load(
    model_uri: str,
    *,
    constructor: Callable[[], Any] | None = None,
    trusted: Sequence[str] = (),
    allow_pickle: bool = False,
    cls: type | None = None,
    uri: Uri = None,
) -> Any:
    """A ready-to-use model object for ``models:/...`` (or an artifact reference): files
    downloaded and verified, then loaded by the flavour recorded when it was logged.
    Never unpickles unless ``allow_pickle=True``."""
    run = state.current()
    with _store(uri) as store:
        version = resolve(store, model_uri, run.project if run is not None else None)
        folder = download(store, version)
    return flavours.load(
        folder, constructor=constructor, trusted=trusted, allow_pickle=allow_pickle, cls=cls
    )


def log_model(  # noqa: PLR0917 - public API: positional calls keep working
    run: Any,
    model: Any,
    name: str,
    flavour: str | None = None,
    aliases: Sequence[str] = (),
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Save ``model`` by flavour and log it as a ``model`` artifact of ``run``."""
    from assay.artifacts.artifact import Artifact

    with tempfile.TemporaryDirectory(prefix="assay-model-") as tmp:
        descriptor = flavours.save(model, Path(tmp), flavour)
        art = Artifact(name, type="model", metadata={**(metadata or {}), **descriptor})
        art.add_dir(tmp)
        return run.log_artifact(art, aliases=list(aliases))
