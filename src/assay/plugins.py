"""Named registries of extensions (model flavours, scorers): built-ins and third-party ones.

A third-party package adds to a registry through an entry point in its group
(``assay.flavours``, ``assay.scorers``)::

    [project.entry-points."assay.flavours"]
    xgboost = "assay_xgboost:flavour"

Entry points are read only when a name is not among those registered so far (or when a
full listing is asked for), and each is imported only when its name is asked for, so
``import assay`` never scans installed packages. A plugin that fails to import is kept
with its error: asking for it names the plugin and the error, and ``assay plugins`` lists it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from assay.errors import InvalidInput

if TYPE_CHECKING:  # importlib.metadata is imported on the first scan, not with assay
    from importlib.metadata import EntryPoint

T = TypeVar("T")

BUILT_IN = "built-in"


@dataclass(frozen=True)
class Entry:
    """One name of a registry, as ``assay plugins`` shows it."""

    group: str
    name: str
    source: str  # "built-in", or "entry point <module:attr> (<distribution>)"
    error: str | None = None  # why a plugin could not be loaded


class Registry(Generic[T]):
    """Names to objects of one kind; ``group`` is the entry-point group third parties use,
    ``kind`` what an error calls one entry ("flavour", "scorer")."""

    def __init__(self, group: str, kind: str, adapt: Callable[[Any], T] | None = None) -> None:
        self.group = group
        self.kind = kind
        self._adapt = adapt  # turns what an entry point loads into a T (say, instantiates it)
        self._objects: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._pending: dict[str, EntryPoint] = {}
        self._errors: dict[str, str] = {}
        self._discovered = False

    def register(self, name: str, obj: T, *, source: str = BUILT_IN) -> None:
        self._objects[name] = obj
        self._sources[name] = source
        self._pending.pop(name, None)
        self._errors.pop(name, None)

    def get(self, name: str) -> T:
        """The object registered as ``name``; entry points are read on the first unknown
        name. An unknown or broken name is ``InvalidInput`` naming it."""
        if name not in self._objects:
            self.discover()
            self._load(name)
        found = self._objects.get(name)
        if found is not None:
            return found
        if name in self._errors:
            raise InvalidInput(
                f"the {self.kind} plugin {name!r} ({self._sources[name]}) failed to load: "
                f"{self._errors[name]}"
            )
        raise InvalidInput(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name not in self._objects:
            self.discover()
        return name in self._objects or name in self._pending or name in self._errors

    def names(self) -> list[str]:
        """Every name: registered, declared by entry points (loaded or not) and broken."""
        self.discover()
        return sorted({*self._objects, *self._pending, *self._errors})

    def loaded(self) -> list[T]:
        """The objects registered so far, in registration order (built-ins first)."""
        return list(self._objects.values())

    def entries(self) -> list[Entry]:
        """Every name with where it came from, after loading every plugin (what
        ``assay plugins`` lists)."""
        self.discover()
        for name in list(self._pending):
            self._load(name)
        return [
            Entry(self.group, name, self._sources[name], self._errors.get(name))
            for name in sorted({*self._objects, *self._errors})
        ]

    def discover(self) -> None:
        """Read this group's entry points, once; names already registered win."""
        if self._discovered:
            return
        self._discovered = True
        from importlib import metadata

        for point in metadata.entry_points(group=self.group):
            if point.name in self._objects or point.name in self._pending:
                continue
            self._pending[point.name] = point
            self._sources[point.name] = _source(point)

    def _load(self, name: str) -> None:
        point = self._pending.pop(name, None)
        if point is None:
            return
        try:
            loaded = point.load()
            obj: T = self._adapt(loaded) if self._adapt is not None else loaded
        except Exception as exc:  # a broken plugin is reported, never fatal
            self._errors[name] = f"{type(exc).__name__}: {exc}"
            return
        self._objects[name] = obj


def _source(point: EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    owner = f" ({dist.name} {dist.version})" if dist is not None else ""
    return f"entry point {point.value}{owner}"
