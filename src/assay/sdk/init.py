"""``assay.init``: start a run (or resume one) and its background machinery."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from assay.errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from assay.ids import new_run_id, new_run_name, new_writer_id
from assay.records import CreateRun, UpdateRun
from assay.records import Run as StoredRun
from assay.redact import redact_text, redact_uri
from assay.sdk import capture, state
from assay.sdk import journal as jnl
from assay.sdk.console import ConsoleCapture
from assay.sdk.contact import OUTAGE, bounded, refusal
from assay.sdk.journal import JournalWriter
from assay.sdk.run import Run
from assay.sdk.settings import Settings
from assay.sdk.system import SystemMonitor
from assay.sdk.trial import take_trial, with_params
from assay.sdk.writer import Writer, journal_path
from assay.store.base import Store, journal_root, local_root, open_store, resolve_uri
from assay.values import (
    DEFAULT_PROJECT,
    check_project,
    check_string,
    check_tags,
    check_text,
    normalise_config,
    scrub_text,
)

log = logging.getLogger("assay")

MODES = ("online", "offline", "disabled")
_RUN_ID = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")


REINIT = ("finish_previous", "return_previous", "create_new")


def init(  # noqa: PLR0917 - public API: positional calls keep working
    project: str | None = None,
    name: str | None = None,
    config: Any = None,
    tags: list[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    uri: str | Path | None = None,
    mode: str | None = None,
    id: str | None = None,
    resume: bool | str = False,
    settings: Settings | None = None,
    reinit: str = "finish_previous",
) -> Run:
    """Start a run. ``mode`` (default: ``ASSAY_MODE``, else "online"): "online" (deliver
    to the store), "offline" (journal only; ``assay sync`` delivers later) or "disabled"
    (a run whose calls are checked and do nothing else: no disk, no network, no thread).
    ``id`` with ``resume=True`` continues an existing run's steps ("must": it must exist).

    Online, the store is contacted before this returns (within
    ``Settings.connect_timeout``): a store that refuses the run (an unknown or revoked
    key, a key without a role on the project, a store that cannot be opened or has
    another schema) raises here; one that cannot be reached leaves the run logging to
    its journal while delivery is retried in the background.

    ``project``: "default" when None, and a resumed run's own project (naming another
    is an error). ``reinit``, when this process has a run that is not finished yet:
    "finish_previous" (finish it first, with a warning), "return_previous" (return it;
    naming another project is an error) or "create_new" (both run side by side)."""
    mode = chosen_mode(mode)
    previous = _previous_run(reinit, project)
    if previous is not None:
        return previous
    trial = take_trial() if id is None else None  # a sweep agent's trial: docs/sweeps.md
    if trial is not None:  # the trial's run is in its sweep's project and group
        if project not in (None, trial.project):
            log.warning(
                "assay: this run is trial %d of sweep %s: it goes to the sweep's project %r, "
                "not %r",
                trial.number,
                trial.sweep_id,
                trial.project,
                project,
            )
        project, id, group = trial.project, trial.run_id, trial.group
        job_type = job_type or "sweep-trial"
    chosen = check_project(DEFAULT_PROJECT if project is None else project)
    check_text("run name", name, single_line=True)
    check_text("group", group, single_line=True)
    check_text("job type", job_type, 64, single_line=True)
    if id is not None and (not isinstance(id, str) or not _RUN_ID.match(id)):
        raise InvalidInput(f"run id {id!r} must be 1-32 letters, digits, '_' or '-'")
    check_notes(notes)
    cfg = normalise_config(config or {}, "config")
    if not isinstance(cfg, dict):
        raise InvalidInput(f"config must be a mapping, not {type(config).__name__}")
    if trial is not None:
        cfg = with_params(cfg, normalise_config(trial.config, "config"))
    tag_list = check_tags(tags or [])
    settings = settings or Settings()
    run_id = id or new_run_id()
    run_name = name or new_run_name()
    fields: dict[str, Any] = dict(
        id=run_id,
        project=chosen,
        name=run_name,
        mode=mode,
        config=cfg,
        tags=tag_list,
        notes=notes,
        settings=settings,
    )
    if mode == "disabled":
        run = Run(writer=None, **fields)
        state.remember(run)  # assay.log() reaches it, as it would an online run
        return run

    resolved = resolve_uri(uri)
    timeout = settings.connect_timeout
    store, start_step, resumed = _resume_point(resolved, mode, run_id, id, resume, timeout=timeout)
    if resumed is not None:
        fields["project"] = _resumed_project(store, run_id, resumed, project)
    try:
        writer = _writer(resolved, run_id, fields["project"], mode, settings)
    except BaseException:
        if store is not None:
            store.close()
        raise
    writer._store = store
    if resumed is not None:
        writer.add_op(UpdateRun(at=time.time(), config=cfg or None, status="running"))
    else:
        writer.add_op(_creation(fields, group, job_type))
    _first_delivery(writer, resolved, timeout)
    run = Run(writer=writer, start_step=start_step, uri=resolved, **fields)
    _start(run, writer, settings)
    return run


def chosen_mode(mode: str | None) -> str:
    """The mode ``init`` runs in: the argument, else ``ASSAY_MODE``, else "online"."""
    if mode is None:
        mode = os.environ.get("ASSAY_MODE", "").strip().lower() or "online"
        if mode not in MODES:
            raise InvalidInput(f"ASSAY_MODE={mode!r} is not one of {', '.join(MODES)}")
    if mode not in MODES:
        raise InvalidInput(f"mode {mode!r} is not one of {', '.join(MODES)}")
    return mode


def _creation(fields: dict[str, Any], group: str | None, job_type: str | None) -> CreateRun:
    return CreateRun(
        project=fields["project"],
        name=fields["name"],
        created_at=time.time(),
        config=fields["config"],
        tags=fields["tags"],
        notes=fields["notes"],
        group=group,
        job_type=job_type,
        host=_scrubbed(capture.host_basics()),
    )


def check_notes(notes: object) -> str | None:
    """Notes are free text (several lines are fine), but never NUL or a lone surrogate."""
    if notes is None:
        return None
    if not isinstance(notes, str):
        raise InvalidInput(f"notes must be a string, not {type(notes).__name__}")
    return check_string("notes", notes)


def _writer(uri: str, run_id: str, project: str, mode: str, settings: Settings) -> Writer:
    """The run's writer, its journal created (0600, in a 0700 folder) with a meta file
    naming the store it is meant for."""
    writer_id = new_writer_id()
    journal = JournalWriter(journal_path(journal_root(uri), run_id, writer_id))
    try:
        jnl.write_meta(journal.path, destination(uri), run_id, project)
    except OSError as exc:  # a full disk: the run goes on (its writer keeps data in memory)
        log.warning(
            "assay: cannot record the store of journal %s (%s); if it is left for "
            "`assay sync`, name the store with --to",
            journal.path,
            exc.strerror or exc,
        )
    except BaseException:
        journal.close()
        jnl.remove(journal.path)
        raise
    return Writer(
        run_id,
        writer_id,
        journal,
        (lambda: open_store(uri)) if mode == "online" else None,
        interval=settings.flush_interval,
    )


def destination(uri: str) -> str:
    """The store URI as ``assay sync`` must read it from anywhere: a relative path (or
    ``sqlite:///relative.db``) made absolute."""
    root = local_root(uri)
    if root is not None:
        return str(root.resolve())
    path = uri[len("sqlite:///") :]
    if uri.startswith("sqlite:///") and path and path[0] not in "/:" and "?" not in path:
        return "sqlite:///" + str(Path(path).resolve())
    return uri


def _first_delivery(writer: Writer, uri: str, timeout: float) -> None:
    """Deliver the run's first batch now, so that a store refusing it raises here."""
    try:
        writer.deliver_first(timeout)
    except BaseException as exc:
        writer.abandon()
        if isinstance(exc, Exception):
            raise refusal(exc, uri) from None
        raise


def _resume_point(
    uri: str, mode: str, run_id: str, explicit: str | None, resume: bool | str, *, timeout: float
) -> tuple[Store | None, int, str | None]:
    """(open store or None, first step, the project of the existing run resumed or None
    when the run is new)."""
    if mode != "online":
        return None, 0, None
    store = _open(uri, timeout)
    if explicit is None:
        return store, 0, None
    if store is None:
        if resume:
            raise StoreUnavailable(
                f"cannot resume run {run_id}: the store at {redact_uri(uri)} cannot be reached, "
                "so where the run stopped is unknown; try again when it is reachable"
            )
        return None, 0, None
    try:
        return _resume_from(store, run_id, resume, timeout)
    except BaseException:
        store.close()
        raise


def _open(uri: str, timeout: float) -> Store | None:
    """The store, or None when it cannot be reached now (delivery is retried later)."""
    try:
        return bounded(lambda: open_store(uri), timeout, f"opening {redact_uri(uri)}")
    except OUTAGE as exc:
        log.warning(
            "assay: store %s unreachable (%s); logging to the journal for now",
            redact_uri(uri),
            redact_text(str(exc)),
        )
        return None
    except Exception as exc:
        raise refusal(exc, uri) from None


def _resume_from(
    store: Store, run_id: str, resume: bool | str, timeout: float
) -> tuple[Store | None, int, str | None]:
    try:
        existing = bounded(lambda: store.runs.get(run_id), timeout, f"reading run {run_id}")
    except NotFound:
        if resume == "must":
            raise
        return store, 0, None
    except OUTAGE as exc:
        raise StoreUnavailable(
            f"cannot resume run {run_id}: the store did not answer ({redact_text(str(exc))}); "
            "try again when it is reachable"
        ) from None
    if not resume:
        raise Conflict(f"run {run_id} exists already; pass resume=True to continue it")
    _refuse_a_second_writer(existing)
    last = max((m.last_step for m in existing.metrics.values() if not m.last_step < 0), default=-1)
    return store, last + 1, existing.project


def _previous_run(reinit: str, project: str | None) -> Run | None:
    """What ``reinit`` says to do with this process's unfinished run, if it has one."""
    if reinit not in REINIT:
        raise InvalidInput(f"reinit {reinit!r} is not one of {', '.join(REINIT)}")
    previous = state.current()
    if previous is None or reinit == "create_new":
        return None
    if reinit == "return_previous":
        if project is not None and project != previous.project:
            raise InvalidInput(
                f"run {previous.id} of project {previous.project!r} is still running here; "
                f"finish it, or pass reinit='create_new', to start one in {project!r}"
            )
        return previous
    log.warning(
        "assay: run %s was not finished; finishing it before starting a new one "
        "(reinit='create_new' keeps both running)",
        previous.id,
    )
    previous.finish()
    return None


def _resumed_project(store: Store | None, run_id: str, stored: str, asked: str | None) -> str:
    """A resumed run stays in its project: naming another is an error."""
    if asked is not None and asked != stored:
        if store is not None:
            store.close()
        raise InvalidInput(
            f"run {run_id} belongs to project {stored!r}, not {asked!r}: resume it without "
            "project= (or with its own)"
        )
    return stored


def _refuse_a_second_writer(existing: StoredRun) -> None:
    """Two processes writing one run overwrite each other's steps. The store says whether
    a run's writer is alive: "running" until it has not heard from it for its heartbeat
    timeout (by the store's own clock, so a client clock that is off changes nothing),
    "crashed" after."""
    if existing.status == "running":
        silent = max(time.time() - existing.heartbeat_at, 0.0)
        raise Conflict(
            f"run {existing.id} is running and its writer was heard from about {silent:.0f} s "
            "ago: another process is writing it, and two writers would overwrite each "
            "other's steps. Resume it once that process has ended (or once the store marks "
            "it crashed, after its heartbeat timeout: ASSAY_HEARTBEAT_TIMEOUT on the store)"
        )


def _start(run: Run, writer: Writer, settings: Settings) -> None:
    writer.start()
    capturing = threading.Thread(
        target=_capture_host, args=(run, writer, settings), name="assay-capture", daemon=True
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


def _capture_host(run: Run, writer: Writer, settings: Settings) -> None:
    """The slower facts (git, environment, packages, the code), gathered off the
    training thread."""
    try:
        host: dict[str, Any] = {}
        if settings.capture_git:
            host["git"] = capture.git_info()
        if settings.capture_env:
            host["env"] = capture.environment(settings.env_prefixes)
        if settings.capture_packages:
            host["packages"] = capture.packages()
        if host:
            writer.add_op(UpdateRun(at=time.time(), host=_scrubbed(host)))
    except Exception:
        log.warning("assay: could not capture the host environment", exc_info=True)
    if settings.capture_code and run.mode == "online" and run.uri is not None:
        _capture_code(run, writer, settings)


def _capture_code(run: Run, writer: Writer, settings: Settings) -> None:
    """Store the code as an artifact the run produced (the run is in the store already:
    init delivered its creation); a store that cannot take it now costs only a warning."""
    from assay.sdk.code import capture_code

    assert run.uri is not None
    try:
        store = open_store(run.uri)
        try:
            version = capture_code(
                store,
                project=run.project,
                run_id=run.id,
                root=Path.cwd(),
                globs=settings.code_globs,
            )
        finally:
            store.close()
    except Exception as exc:
        log.warning("assay: could not capture the code of run %s (%s)", run.id, exc)
        return
    if version is not None:
        ref = f"{version.project}/{version.name}:v{version.version}"
        code = {"artifact": ref, "files": version.file_count}
        writer.add_op(UpdateRun(at=time.time(), host={"code": code}))


def _scrubbed(value: Any) -> Any:
    """Captured host facts, storable: NUL and lone surrogates in any text become U+FFFD
    (a git diff or an environment value is not the user's input to refuse)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_text(str(k)): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value
