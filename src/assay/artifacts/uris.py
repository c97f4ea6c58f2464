"""Names that point at an artifact or model version:

- ``name``, ``name:latest``, ``name:v3``, ``name:production`` (in the current project),
  ``project/name:v3`` (anywhere);
- ``models:/name`` (latest), ``models:/name/3`` and ``models:/name@production``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.errors import InvalidInput
from assay.values import check_name, check_project

_ARTIFACT = re.compile(r"^(?:(?P<project>[^/:@]+)/)?(?P<name>[^/:@]+)(?::(?P<selector>[^/:@]+))?$")
_MODEL = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/@]+))?$")


@dataclass(frozen=True)
class ArtifactRef:
    project: str | None
    name: str
    selector: str


@dataclass(frozen=True)
class ModelRef:
    name: str
    selector: str  # a version number, "latest" or an alias


def parse_ref(text: object) -> ArtifactRef | ModelRef:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"artifact reference {text!r} must be a non-empty string")
    text = text.strip()
    if text.startswith("models:"):
        found = _MODEL.match(text)
        if not found:
            raise InvalidInput(
                f"model reference {text!r}: use models:/name, models:/name/3 or models:/name@alias"
            )
        name = check_name("model name", found["name"])
        return ModelRef(name, found["version"] or found["alias"] or "latest")
    found = _ARTIFACT.match(text)
    if not found:
        raise InvalidInput(
            f"artifact reference {text!r}: use name, name:v3, name:alias or project/name:v3"
        )
    project = check_project(found["project"]) if found["project"] else None
    return ArtifactRef(
        project, check_name("artifact name", found["name"]), found["selector"] or "latest"
    )
