"""MLflow tags sorted into the Assay fields that hold them (``convert.py`` says where)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from assay.records import Op, Run, UpdateRun
from assay.server.mlflow import convert
from assay.server.mlflow.protocol import MlflowError, NotSupported


def key_values(items: list[Any]) -> dict[str, str]:
    """``[{"key": k, "value": v}, ...]`` as a dict (the last of a key wins)."""
    found: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"{item!r:.80} is not a key and a value")
        value = item.get("value")
        found[item["key"]] = "" if value is None else str(value)
    return found


@dataclass
class TagChanges:
    """What a set of tags changes: the run's name and notes, its Assay tags (``key=value``)
    and its ``host`` (MLflow's own tags, and tags too long for an Assay tag)."""

    name: str | None = None
    notes: str | None = None
    tags: list[str] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)  # keys whose Assay tag is replaced
    host: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, tags: dict[str, str], current: Run | None = None) -> TagChanges:
        changes = cls()
        for key, value in tags.items():
            if key == convert.RUN_NAME:
                if current is not None and value != current.name:
                    raise NotSupported("Assay runs keep the name they were created with")
                changes.name = value
            elif key == convert.NOTE:
                changes.notes = value or None
            elif convert.is_host_tag(key, value):
                changes.host[convert.HOST_TAG + key] = value
                changes.replaced.add(key)
            else:
                changes.tags.append(convert.tag_text(key, value))
                changes.replaced.add(key)
        return changes

    def ops(self, run: Run) -> list[Op]:
        """The update that applies these changes to ``run``."""
        host = dict(self.host)
        for key in self.replaced:  # a key moves between a tag and host: drop the old one
            if convert.HOST_TAG + key in run.host and convert.HOST_TAG + key not in host:
                host[convert.HOST_TAG + key] = None
        tags = None
        if self.tags or any(convert.tag_key(t) in self.replaced for t in run.tags):
            kept = [t for t in run.tags if convert.tag_key(t) not in self.replaced]
            tags = [*kept, *self.tags]
        if tags is None and not host and self.notes is None:
            return []
        return [UpdateRun(at=time.time(), tags=tags, host=host or None, notes=self.notes)]
