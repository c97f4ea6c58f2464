"""What an export and an import carry from part to part (parts/): the store, the
folder, the counts, and the ids an import maps from the folder's to the target's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from assay.importers.bundle import Counts
from assay.records import ArtifactVersion, Run
from assay.store.base import Store


@dataclass(kw_only=True)
class Exporting:
    store: Store
    project: str
    root: Path
    counts: Counts
    runs: list[Run] = field(default_factory=list)
    versions: list[ArtifactVersion] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # the project's registered models


@dataclass(kw_only=True)
class Importing:
    store: Store
    root: Path
    project: str
    source: str
    progress: bool | None
    problems: list[str] = field(default_factory=list)
    found: Counts = field(default_factory=Counts)
    runs: set[str] = field(default_factory=set)
    versions: dict[str, ArtifactVersion] = field(default_factory=dict)  # old id -> new
    numbers: dict[tuple[str, int], int] = field(default_factory=dict)  # (name, old) -> new
    evaluations: dict[str, str] = field(default_factory=dict)  # old id -> new
    label_projects: dict[str, str] = field(default_factory=dict)  # old id -> new
    model_numbers: dict[tuple[str, int], int] = field(default_factory=dict)  # (model, old)
    media_blobs: set[str] = field(default_factory=set)  # blobs the imported media name

    def problem(self, what: str) -> None:
        self.problems.append(what)
