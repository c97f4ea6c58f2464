"""Profiles kept in the store: artifacts of type ``profile`` holding ``profile.json``.

A profile made from a dataset artifact is produced by a run that used that dataset, so
lineage leads from the profile to its data (``run.log_profile("train:v3")``, and every
monitor's reference profile).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput

if TYPE_CHECKING:
    from assay.monitoring import Profile
    from assay.records import ArtifactVersion
    from assay.store import Store

FILE = "profile.json"
TYPE = "profile"


def profile_of(
    store: Store | None, data: Any, project: str | None
) -> tuple[Profile, str, str | None]:
    """(the profile, what it was made from, the dataset version id) of a DataFrame, an Arrow
    table, a Profile, a data file or a dataset artifact reference (``train:v3``)."""
    from assay.monitoring import Profile, profile

    if isinstance(data, Profile):
        return data, "profile", None
    if _is_table(data):
        return profile(data), type(data).__name__, None
    if isinstance(data, str):
        import pandas as pd

        from assay.evaluation.data import read

        rows, source, version_id = read(data, store, project)
        if not rows:
            raise InvalidInput(f"{data} holds no rows to profile")
        return profile(pd.DataFrame(rows)), source, version_id
    raise InvalidInput(
        f"cannot profile a {type(data).__name__}: give a DataFrame, an Arrow table, a data "
        "file or a dataset artifact reference"
    )


def save_profile(
    store: Store,
    prof: Profile,
    *,
    name: str,
    project: str,
    run_id: str | None,
    source: str,
    used: str | None = None,
    aliases: tuple[str, ...] = (),
) -> ArtifactVersion:
    """Store ``prof`` as a version of the ``profile`` artifact ``name``, produced by
    ``run_id`` (which is recorded as using the dataset version ``used``)."""
    from assay.artifacts.artifact import Artifact, log_artifact

    if used is not None and run_id is not None:
        store.artifacts.record_use(run_id, used)
    meta = {"rows": prof.rows, "columns": list(prof.columns), "source": source}
    art = Artifact(name, type=TYPE, metadata=meta)
    with tempfile.TemporaryDirectory(prefix="assay-profile-") as tmp:
        path = Path(tmp) / FILE
        path.write_bytes(prof.to_bytes())
        art.add_file(path)
        return log_artifact(store, art, project, run_id=run_id, aliases=list(aliases))


def load_profile(store: Store, ref: str, project: str | None) -> Profile:
    """The profile stored at ``ref`` (an artifact of type ``profile``)."""
    from assay.artifacts.artifact import download, resolve
    from assay.monitoring import Profile

    version = resolve(store, ref, project)
    if version.type != TYPE:
        raise InvalidInput(f"{version.ref} is a {version.type}, not a {TYPE}")
    return Profile.from_bytes((download(store, version) / FILE).read_bytes())


def _is_table(data: Any) -> bool:
    kind = type(data).__module__.split(".")[0], type(data).__name__
    return kind in {("pandas", "DataFrame"), ("pyarrow", "Table")}
