"""What every integration shares: the version check, the run a callback logs to, the
guard that keeps a tracking failure out of training, and config/metric cleaning.

Only Assay's public SDK is used here (``assay.init``, ``assay.active_run`` and the
``Run`` they return)."""

from __future__ import annotations

import contextlib
import enum
import inspect
import logging
import math
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from importlib import import_module
from pathlib import Path, PurePath
from types import ModuleType
from typing import TYPE_CHECKING, Any

import assay
from assay.errors import InvalidInput

if TYPE_CHECKING:
    from assay import Run

log = logging.getLogger("assay")

_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")
_NAME_BAD = re.compile(r"[^A-Za-z0-9_.\-]+")
_INT_RANGE = (-(2**63), 2**63 - 1)
MAX_DEPTH = 8


def parse_version(text: str) -> tuple[int, ...]:
    """The leading numeric part of a version string: ``"3.15.1rc1"`` → (3, 15, 1)."""
    match = _VERSION.match(text)
    if match is None:
        return ()
    return tuple(int(part) for part in match.group(1).split("."))


def import_framework(
    module: str, framework: str, pip: str, integration: str, hint: str = ""
) -> ModuleType:
    """The framework's module, or InvalidInput saying how to install it."""
    try:
        return import_module(module)
    except ImportError as exc:
        raise InvalidInput(
            f"assay.integrations.{integration} needs {framework}, which could not be "
            f"imported ({exc}); install it with `pip install {pip}`{hint}"
        ) from None


def check_version(
    framework: str, found: object, minimum: str, below: str | None, integration: str
) -> str:
    """Return ``found`` if it lies in [minimum, below), else raise InvalidInput naming
    the version found and the versions supported."""
    text = str(found)
    parsed = parse_version(text)
    supported = f"{framework} >= {minimum}" + (f", < {below}" if below else "")
    if (
        not parsed
        or parsed < parse_version(minimum)
        or (below is not None and parsed >= parse_version(below))
    ):
        raise InvalidInput(
            f"assay.integrations.{integration} supports {supported}; found {framework} {text}"
        )
    return text


def check_init_kwargs(init: Mapping[str, Any], integration: str) -> dict[str, Any]:
    """``assay.init`` keyword arguments given to a callback, checked by name now (a typo
    is an error at construction, not a silent failure when training starts)."""
    accepted = set(inspect.signature(assay.init).parameters)
    unknown = sorted(set(init) - accepted)
    if unknown:
        raise InvalidInput(
            f"assay.integrations.{integration}: {', '.join(map(repr, unknown))} "
            f"{'is not an argument' if len(unknown) == 1 else 'are not arguments'} of "
            f"assay.init (accepted: {', '.join(sorted(accepted))})"
        )
    return {key: value for key, value in init.items() if value is not None}


class Tracking:
    """The run a callback logs to: the active run if there is one when training starts,
    else one it starts itself (with ``init`` as ``assay.init`` arguments) and finishes
    when training ends. Every tracking call goes through ``safely``: a failure is logged
    and training goes on."""

    def __init__(self, integration: str, init: Mapping[str, Any]) -> None:
        self.integration = integration
        self.init = check_init_kwargs(init, integration)
        self.run: Run | None = None
        self.owned = False
        self._warned: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        # A copy (scikit-learn's clone of an estimator holding a callback, a pickle for a
        # worker) gets the options, not the run: a run belongs to one process and fit.
        return {"integration": self.integration, "init": self.init}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["integration"], state["init"])  # type: ignore[misc]

    @property
    def active(self) -> bool:
        return self.run is not None and self.run.status == "running"

    def start(self, **overrides: Any) -> Run | None:
        """The run to log to (started if need be); None when it could not be started."""
        if self.active:
            return self.run
        with self.safely("starting a run"):
            current = assay.active_run()
            if current is not None:
                self.run, self.owned = current, False
            else:
                self.run = assay.init(**{**self.init, **overrides})
                self.owned = True
            return self.run
        self.run, self.owned = None, False
        return None

    def finish(self, status: str = "finished") -> None:
        """Finish the run if this callback started it; a run it found is left running."""
        run, owned = self.run, self.owned
        self.owned = False
        if run is not None and owned:
            with self.safely("finishing the run"):
                run.finish(status)

    @contextlib.contextmanager
    def safely(self, what: str) -> Iterator[None]:
        """Run a tracking step; an exception is logged (a warning with its traceback
        the first time for each step) and swallowed: training never stops for tracking."""
        try:
            yield
        except Exception:
            if what in self._warned:  # said once with its traceback: no flood per batch
                log.debug("assay.integrations.%s: %s failed again", self.integration, what)
                return
            self._warned.add(what)
            log.warning(
                "assay.integrations.%s: %s failed; training goes on without it",
                self.integration,
                what,
                exc_info=True,
            )

    def log(self, metrics: Mapping[str, Any], step: int | None) -> None:
        """Log the numeric entries of ``metrics`` at ``step`` (others are skipped)."""
        if self.run is None:
            return
        row = numbers(metrics)
        if row:
            with self.safely("logging metrics"):
                self.run.log(row, step=step)

    def update_config(self, values: Mapping[str, Any]) -> None:
        if self.run is None or not values:
            return
        with self.safely("recording the config"):
            self.run.config.update(config_tree(values))

    def update_summary(self, values: Mapping[str, Any]) -> None:
        if self.run is None or not values:
            return
        with self.safely("recording the summary"):
            self.run.summary.update(config_tree(values))


def number(value: Any) -> float | int | None:
    """``value`` as a Python number (numpy scalars, 0-d arrays and one-element tensors
    included), or None when it is not one."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    item = getattr(value, "item", None)
    if item is None or isinstance(value, str | bytes):
        return None
    try:
        shape = tuple(getattr(value, "shape", ()))
        if shape not in ((), (1,)):
            return None
        result = item()
    except Exception:
        return None
    if isinstance(result, bool):
        return int(result)
    return result if isinstance(result, int | float) else None


def numbers(metrics: Mapping[str, Any]) -> dict[str, float | int]:
    """The entries of ``metrics`` with string keys and numeric values."""
    row: dict[str, float | int] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            continue
        converted = number(value)
        if converted is not None:
            row[key] = converted
    return row


def config_tree(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that Assay's config accepts: mappings with clean string keys
    (``.`` becomes ``_``), leaves None/bool/int/float/str or lists of those; anything
    else becomes its ``str``."""
    if isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            return _text(value)
        tree: dict[str, Any] = {}
        for key, item in value.items():
            tree[config_key(key)] = config_tree(item, depth + 1)
        return tree
    leaf = _leaf(value)
    if leaf is not _NOT_A_LEAF:
        return leaf
    if isinstance(value, list | tuple | set | frozenset):
        items = [_leaf(item) for item in value]
        if all(item is not _NOT_A_LEAF for item in items):
            return items
        return _text(value)
    if hasattr(value, "__dict__") and type(value).__module__ == "argparse":
        return config_tree(vars(value), depth)
    return _text(value)


_NOT_A_LEAF = object()


def _leaf(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return _text(value) if isinstance(value, str) else None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value) if _INT_RANGE[0] <= value <= _INT_RANGE[1] else str(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return _leaf(value.value)
    if isinstance(value, PurePath):
        return str(value)
    converted = number(value)
    if converted is not None and not isinstance(value, list | tuple):
        return _leaf(converted)
    return _NOT_A_LEAF


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value) if _plain_repr(value) else str(value)
    text = text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return text[:4096]


def _plain_repr(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple | set | frozenset)


def config_key(key: Any) -> str:
    text = str(key).replace(".", "_").replace("\x00", "") or "_"
    return text


def artifact_name(text: str, default: str) -> str:
    """A valid artifact name made from ``text`` (letters, digits, ``_-.``, starting with
    a letter or digit, at most 128 characters)."""
    cleaned = _NAME_BAD.sub("-", text).strip("-._")[:128]
    return cleaned or default


def log_saved_model(
    run: Run, filename: str, save: Callable[[str], Any], *, name: str, metadata: dict[str, Any]
) -> None:
    """Save a model into one file (``save(path)``, a ``str`` path in a temporary folder,
    as XGBoost's and LightGBM's ``save_model`` take it) and log that file as the run's
    ``model`` artifact ``name``."""
    with tempfile.TemporaryDirectory(prefix="assay-model-") as tmp:
        path = Path(tmp) / filename
        save(str(path))
        run.log_artifact(path, name=name, type="model", metadata=metadata)
