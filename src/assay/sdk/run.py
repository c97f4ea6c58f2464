"""The Run: what ``assay.init`` returns and the training loop talks to."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback as tb
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput, StoreUnavailable
from assay.media.codec import Logged
from assay.media.codec import check as media_check
from assay.records import FINAL_STATUSES, UpdateRun
from assay.sdk import journal as jnl
from assay.sdk import state
from assay.sdk.console import ConsoleCapture
from assay.sdk.settings import Settings
from assay.sdk.system import SystemMonitor
from assay.sdk.writer import Writer
from assay.values import (
    check_key,
    check_string,
    check_tags,
    normalise_config,
    scrub_text,
    to_number,
)

if TYPE_CHECKING:
    from assay.artifacts.artifact import Artifact, UsedArtifact
    from assay.records import ArtifactVersion
    from assay.store.base import Store

log = logging.getLogger("assay")

CAPTURE_WAIT = 10.0  # seconds finish() waits for the host snapshot (git, packages) to land


class _Section(MutableMapping[str, Any]):
    """``run.config`` / ``run.summary``: a dict whose changes are recorded."""

    def __init__(self, run: Run, field: str, initial: dict[str, Any]) -> None:
        self._run = run
        self._field = field
        self._data = dict(initial)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        raise InvalidInput(f"run.{self._field}: keys cannot be deleted once recorded ({key!r})")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        changes = normalise_config({**dict(other), **kwargs}, self._field)
        self._data.update(changes)
        self._run._record(UpdateRun(at=time.time(), **{self._field: changes}))

    def __repr__(self) -> str:
        return f"{self._field}({self._data!r})"


class Run:
    """One execution of a training script. Use ``assay.init`` to make one."""

    def __init__(
        self,
        *,
        id: str,
        project: str,
        name: str,
        mode: str,
        config: dict[str, Any],
        tags: list[str],
        notes: str | None,
        writer: Writer | None,
        settings: Settings,
        start_step: int = 0,
        uri: str | None = None,
    ) -> None:
        self.id = id
        self.uri = uri
        self.project = project
        self.name = name
        self.mode = mode
        self.settings = settings
        self.config = _Section(self, "config", config)
        self.summary = _Section(self, "summary", {})
        self._tags = list(tags)
        self._notes = notes
        self._writer = writer
        self._step = start_step
        self._known: set[str] = set()
        self._media_kinds: dict[str, str] = {}  # media key -> the kind it holds
        self._status: str = "running"
        self._console: ConsoleCapture | None = None
        self._monitor: SystemMonitor | None = None
        self._capturing: threading.Thread | None = None
        self._warned_finished = False
        self._finished_well = True
        self._artifact_store: Store | None = None

    # ---- the hot path ------------------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Record metric values at a step (the next one when ``step`` is None).

        Costs microseconds: values are checked here (a bad key or value raises
        InvalidInput naming it), then the row waits in memory for the writer thread.
        Rich values (``assay.Image``, ``Table``, ``Histogram``, ``Plot``, ``Audio``,
        ``Text``, ``Html``, ``Video``, or a list of one kind of them) are logged beside
        the numbers; the writer thread encodes and stores them (docs/tracking.md).
        """
        if type(data) is dict:
            row = data.copy()
        elif isinstance(data, Mapping):
            row = dict(data)
        else:
            raise InvalidInput(f"run.log() takes a dict of metrics, not {type(data).__name__}")
        known = self._known
        rich: list[tuple[str, Logged]] | None = None
        for key, value in row.items():
            if key not in known:
                known.add(check_key(key))
            kind = type(value)
            if kind is not float and kind is not int and kind is not bool:
                logged = media_check(key, value)
                if logged is None:
                    row[key] = to_number(key, value)
                elif rich is None:
                    rich = [(key, logged)]
                else:
                    rich.append((key, logged))
        if rich is not None:
            self._check_kinds(rich)
            for key, _ in rich:
                del row[key]
        if step is None:
            step = self._step
        elif type(step) is not int or step < 0:
            step = _check_step(step)
        if step >= self._step:
            self._step = step + 1
        if self._status != "running":
            self._logged_after_finish()
        elif self._writer is not None:
            if rich is None:
                self._writer.add_points((step, time.time(), row))
            else:
                self._log_rich(step, row, rich)

    def _check_kinds(self, rich: list[tuple[str, Logged]]) -> None:
        """A key keeps the kind of value it was first logged with, in this process."""
        kinds = self._media_kinds
        found = {key: (v[0] if isinstance(v, list) else v).kind for key, v in rich}
        for key, kind in found.items():
            if kinds.get(key, kind) != kind:
                raise InvalidInput(
                    f"{key!r} holds {kinds[key]} values in this run; a {kind} cannot be logged "
                    "under it (use another key)"
                )
        kinds.update(found)

    def _log_rich(self, step: int, row: dict[str, Any], rich: list[tuple[str, Logged]]) -> None:
        assert self._writer is not None
        now = time.time()
        if row:
            self._writer.add_points((step, now, row))
        self._writer.add_media(step, now, rich)

    def _logged_after_finish(self) -> None:
        if not self._warned_finished:
            self._warned_finished = True
            log.warning(
                "assay: run %s is %s; log() after finish() is not recorded", self.id, self._status
            )

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` will use."""
        return self._step

    # ---- metadata --------------------------------------------------------------------------

    @property
    def tags(self) -> list[str]:
        return list(self._tags)

    @tags.setter
    def tags(self, tags: list[str]) -> None:
        self._tags = check_tags(tags)
        self._record(UpdateRun(at=time.time(), tags=self._tags))

    @property
    def notes(self) -> str | None:
        return self._notes

    @notes.setter
    def notes(self, notes: str) -> None:
        if not isinstance(notes, str):
            raise InvalidInput(f"run notes must be a string, not {type(notes).__name__}")
        notes = check_string("notes", notes)
        self._notes = notes
        self._record(UpdateRun(at=time.time(), notes=notes))

    @property
    def status(self) -> str:
        return self._status

    def _record(self, op: UpdateRun) -> None:
        if self._writer is not None:
            self._writer.add_op(op)

    # ---- lifecycle -------------------------------------------------------------------------

    def _start_capture(self, console: ConsoleCapture | None, monitor: SystemMonitor | None) -> None:
        self._console, self._monitor = console, monitor
        if console is not None and self._writer is not None:
            self._writer.sources.append(console.drain)
            console.start()
        if monitor is not None:
            monitor.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Return once all logged so far is durable: in the store (True), or in the local
        journal when the store cannot be reached (False; delivery goes on). False also
        when something could not be kept (an error said so; see docs/tracking.md)."""
        if self._writer is None:
            return True
        if self._status != "running":  # finish() already flushed and closed the writer
            return self._finished_well
        return self._writer.flush(timeout)

    def finish(self, status: str = "finished", traceback: str | None = None) -> bool:
        """Mark the run ended and wait until its data is delivered (or journaled).

        True when everything logged is in the store (offline: in the journal); False when
        some of it waits in the journal for ``assay sync``, or was lost (an error says
        how much, and the run's summary records it as ``_assay/dropped_points``)."""
        if status not in FINAL_STATUSES:
            raise InvalidInput(f"status {status!r} is not one of {sorted(FINAL_STATUSES)}")
        if self._status != "running":
            return self._finished_well
        self._status = status
        state.forget(self)
        if self._monitor is not None:
            self._monitor.stop()
        if self._console is not None:
            self._console.stop()
        if self._artifact_store is not None:
            self._artifact_store.close()
            self._artifact_store = None
        if self._writer is None:
            return True
        if self._capturing is not None:
            self._capturing.join(timeout=CAPTURE_WAIT)
        if traceback is not None:
            traceback = scrub_text(traceback)
        self._writer.add_op(UpdateRun(at=time.time(), status=status, traceback=traceback))
        self._finished_well = self._close_writer(self._writer)
        return self._finished_well

    def _close_writer(self, writer: Writer) -> bool:
        online = writer._connect is not None
        delivered = writer.close(timeout=self.settings.finish_timeout)
        if online and delivered:
            jnl.remove(writer.journal.path)
        elif online:
            log.warning(
                "assay: run %s finished but the store did not take all of it; the rest waits "
                "in %s: run `assay sync` to deliver it",
                self.id,
                writer.journal.path.parent,
            )
        kept = delivered if online else writer.journaled
        return kept and writer.dropped_points == 0

    # ---- artifacts (synchronous: they return the version they made or used) ------------------

    def record_store(self) -> Store | None:
        """The store, once this run's own record is in it (artifact versions and
        evaluations name their run); None for a disabled run."""
        if self.mode == "disabled":
            return None
        if self.mode == "offline" or self.uri is None:
            raise InvalidInput(
                "artifacts are stored when they are logged, so they need a reachable store: "
                "this run is offline"
            )
        if self._status == "running" and not self.flush(timeout=self.settings.finish_timeout):
            raise StoreUnavailable(
                f"the store at {self.uri} has not taken run {self.id} yet, so artifacts "
                "cannot name it; try again when it is reachable"
            )
        if self._artifact_store is None:
            from assay.store.base import open_store

            self._artifact_store = open_store(self.uri)
        return self._artifact_store

    def log_artifact(  # noqa: PLR0917 - public API: positional calls keep working
        self,
        artifact: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str = "dataset",
        metadata: dict[str, Any] | None = None,
        aliases: Sequence[str] = (),
        description: str | None = None,
        progress: bool | None = None,
    ) -> ArtifactVersion | None:
        """Store a file, a directory or an ``assay.Artifact`` as a new version of the
        named artifact (or return the version with identical content), produced by this
        run. Returns None for a disabled run."""
        from assay.artifacts.artifact import Artifact, from_path, log_artifact

        store = self.record_store()
        if store is None:
            return None
        art = artifact if isinstance(artifact, Artifact) else from_path(artifact, name, type)
        if metadata:
            art.metadata.update(metadata)
        if description is not None:
            art.description = description
        return log_artifact(
            store=store,
            artifact=art,
            project=self.project,
            run_id=self.id,
            aliases=list(aliases),
            progress=progress,
        )

    def use_artifact(self, ref: str) -> UsedArtifact | None:
        """The version ``ref`` names (``name:latest``, ``name:v3``, ``project/name:alias``,
        ``models:/name@alias``), recorded as used by this run; ``.download()`` its files."""
        from assay.artifacts.artifact import UsedArtifact, resolve

        store = self.record_store()
        if store is None:
            return None
        version = resolve(store, ref, self.project)
        store.artifacts.record_use(self.id, version.id)
        return UsedArtifact(store, version)

    def log_profile(
        self, data: Any, name: str | None = None, aliases: Sequence[str] = ()
    ) -> ArtifactVersion | None:
        """Profile ``data`` (a DataFrame, an Arrow table, a data file or a dataset artifact
        reference, recorded as used) and store it as an artifact of type ``profile``
        produced by this run (docs/monitoring.md). Returns None for a disabled run."""
        from assay.sdk.profiles import profile_of, save_profile

        store = self.record_store()
        if store is None:
            return None
        prof, source, used = profile_of(store, data, self.project)
        default = source.split(":")[0].split("/")[-1] if isinstance(data, str) else "profile"
        return save_profile(
            store,
            prof,
            name=name or f"{default}-profile",
            project=self.project,
            run_id=self.id,
            source=source,
            used=used,
            aliases=tuple(aliases),
        )

    def log_model(
        self,
        model: Any,
        name: str,
        flavour: str | None = None,
        aliases: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
    ) -> ArtifactVersion | None:
        """Save ``model`` by its flavour (sklearn via skops, torch, onnx, python) and log
        it as a ``model`` artifact that ``assay.models.load`` can bring back."""
        from assay.sdk.models import log_model

        if self.mode == "disabled":
            return None
        result: ArtifactVersion | None = log_model(self, model, name, flavour, aliases, metadata)
        return result

    @property
    def journal_dir(self) -> Path | None:
        return None if self._writer is None else self._writer.journal.path.parent

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.finish()
        elif issubclass(kind, KeyboardInterrupt):
            self.finish("killed")
        else:
            self.finish("failed", traceback="".join(tb.format_exception(kind, exc, trace)))

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.project}/{self.name} {self._status}>"


def _check_step(step: object) -> int:
    if type(step) is bool or not isinstance(step, int):
        if hasattr(step, "__index__") and not isinstance(step, bool):
            step = int(step)
        else:
            raise InvalidInput(f"step must be an int, not {type(step).__name__}")
    assert isinstance(step, int)
    if step < 0:
        raise InvalidInput(f"step must not be negative, got {step}")
    return step
