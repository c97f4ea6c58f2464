"""``assay.init``: start a run (or resume one) and its background machinery."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from assay.errors import AssayError, Conflict, InvalidInput, NotFound
from assay.ids import new_run_id, new_run_name, new_writer_id
from assay.records import CreateRun, UpdateRun
from assay.sdk import capture, state
from assay.sdk.console import ConsoleCapture
from assay.sdk.journal import JournalWriter
from assay.sdk.run import Run
from assay.sdk.settings import Settings
from assay.sdk.system import SystemMonitor
from assay.sdk.writer import Writer, journal_path
from assay.store.base import Store, journal_root, open_store, resolve_uri
from assay.values import check_project, check_tags, check_text, normalise_config

log = logging.getLogger("assay")

MODES = ("online", "offline", "disabled")
_RUN_ID = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")


def init(
    project: str = "default",
    name: str | None = None,
    config: Any = None,
    tags: list[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    uri: str | Path | None = None,
    mode: str = "online",
    id: str | None = None,
    resume: bool | str = False,
    settings: Settings | None = None,
) -> Run:
    """Start a run. ``mode``: "online" (deliver to the store), "offline" (journal only;
    ``assay sync`` delivers later) or "disabled" (log calls are checked, nothing is kept).
    ``id`` with ``resume=True`` continues an existing run's steps ("must": it must exist)."""
    if mode not in MODES:
        raise InvalidInput(f"mode {mode!r} is not one of {', '.join(MODES)}")
    check_project(project)
    check_text("run name", name)
    if id is not None and (not isinstance(id, str) or not _RUN_ID.match(id)):
        raise InvalidInput(f"run id {id!r} must be 1-32 letters, digits, '_' or '-'")
    if notes is not None and not isinstance(notes, str):
        raise InvalidInput(f"notes must be a string, not {type(notes).__name__}")
    cfg = normalise_config(config or {}, "config")
    if not isinstance(cfg, dict):
        raise InvalidInput(f"config must be a mapping, not {type(config).__name__}")
    tag_list = check_tags(tags or [])
    settings = settings or Settings()
    run_id = id or new_run_id()
    run_name = name or new_run_name()
    fields: dict[str, Any] = dict(
        id=run_id,
        project=project,
        name=run_name,
        mode=mode,
        config=cfg,
        tags=tag_list,
        notes=notes,
        settings=settings,
    )
    if mode == "disabled":
        return Run(writer=None, **fields)

    resolved = resolve_uri(uri)
    store, start_step, resumed = _resume_point(resolved, mode, run_id, id is not None, resume)
    writer_id = new_writer_id()
    writer = Writer(
        run_id,
        writer_id,
        JournalWriter(journal_path(journal_root(resolved), run_id, writer_id)),
        (lambda: open_store(resolved)) if mode == "online" else None,
        interval=settings.flush_interval,
    )
    writer._store = store
    if resumed:
        writer.add_op(UpdateRun(time.time(), config=cfg or None, status="running"))
    else:
        writer.add_op(
            CreateRun(
                project,
                run_name,
                time.time(),
                cfg,
                tag_list,
                notes,
                group,
                job_type,
                capture.host_basics(),
            )
        )
    run = Run(writer=writer, start_step=start_step, uri=resolved, **fields)
    _start(run, writer, settings)
    return run


def _resume_point(
    uri: str, mode: str, run_id: str, explicit_id: bool, resume: bool | str
) -> tuple[Store | None, int, bool]:
    """(open store or None, first step, whether an existing run is resumed)."""
    if mode != "online":
        return None, 0, False
    try:
        store = open_store(uri)
    except AssayError as exc:
        if isinstance(exc, InvalidInput):
            raise
        log.warning("assay: store %s unreachable (%s); logging to the journal for now", uri, exc)
        return None, 0, False
    if not explicit_id:
        return store, 0, False
    try:
        existing = store.run(run_id)
    except NotFound:
        if resume == "must":
            store.close()
            raise
        return store, 0, False
    if not resume:
        store.close()
        raise Conflict(f"run {run_id} exists already; pass resume=True to continue it")
    last = max((m.last_step for m in existing.metrics.values() if not m.last_step < 0), default=-1)
    return store, last + 1, True


def _start(run: Run, writer: Writer, settings: Settings) -> None:
    writer.start()
    capturing = threading.Thread(
        target=_capture_host, args=(writer, settings), name="assay-capture", daemon=True
    )
    capturing.start()
    run._capturing = capturing
    console = ConsoleCapture() if settings.capture_console else None
    monitor = None
    if settings.system_metrics_interval > 0:
        monitor = SystemMonitor(
            lambda s, t, d: writer.add_points((s, t, d)), settings.system_metrics_interval
        )
    run._start_capture(console, monitor)
    state.activate(run, settings.handle_signals)


def _capture_host(writer: Writer, settings: Settings) -> None:
    """The slower facts (git, environment, packages), gathered off the training thread."""
    try:
        host: dict[str, Any] = {}
        if settings.capture_git:
            host["git"] = capture.git_info()
        if settings.capture_env:
            host["env"] = capture.environment(settings.env_prefixes)
        if settings.capture_packages:
            host["packages"] = capture.packages()
        if host:
            writer.add_op(UpdateRun(time.time(), host=host))
    except Exception:
        log.warning("assay: could not capture the host environment", exc_info=True)
