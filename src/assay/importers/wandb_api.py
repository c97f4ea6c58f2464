"""`assay import wandb --from-api [ENTITY/]PROJECT[/RUN_ID]`: W&B runs from a W&B server,
read through W&B's own public API client (``wandb.Api``), which finds the API key and host
as the W&B SDK does (``WANDB_API_KEY`` and ``WANDB_BASE_URL``, or what ``wandb login``
saved); without an entity, the key's default entity.

Each finished run keeps its id (``wb-<id>``, as from an offline folder), display name,
config, summary, tags, notes, group, job type, state and times, and every history point
with its step and time: history is read with ``run.scan_history()`` (every row), never
``run.history()`` (a sample), and never from W&B's local history cache (a download that
failed leaves an empty file there). The number of rows read is checked against the number
W&B counts. The run's files (``output.log``, ``wandb-metadata.json``, media files...)
become the artifact ``wandb-<id>`` (type ``wandb-run``) produced by the run. Images
(with their masks and box layers), tables, audio, html and video (one or a list) and
histograms in the history become Assay values at their steps, read from the run's files
as W&B's client downloads them (wandb_media.py; a table's image cells, with their boxes
and masks, from the run-table artifact the value names, among the run's logged
artifacts); other media kinds are counted and named. Runs still running are named and left for a
later import. System metrics (W&B's ``system.<name>``
events) become ``system/<name>`` series as from a run file, one point per event the
server returns (up to SYSTEM_SAMPLES; W&B's server may sample a long run's events below
that, which the public API gives no way around). The artifacts a run logged come in
as versions produced by it, their files downloaded by W&B's client and checked against
W&B's MD5 digests (wandb_artifacts.py).

A server that cannot be reached, a key it refuses and a project or run it does not have
fail at once, by name. A history file the server fails to serve is retried as W&B's client
retries every file (``WANDB__FILE_TRANSFER_RETRY_MAX`` bounds it), then named.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.artifacts.artifact import Artifact, log_artifact
from assay.errors import (
    AssayError,
    CorruptData,
    ImportIncomplete,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from assay.extras import need
from assay.importers.runs import MediaPoint, RunData, write_checked
from assay.importers.wandb import (
    WandbImport,
    assay_id,
    columns,
    files_under,
    media_point,
    not_imported,
    sampled,
    summary_kept,
)
from assay.importers.wandb_artifacts import downloaded, import_from_api
from assay.importers.wandb_media import (
    KINDS,
    ClassLabels,
    Files,
    box_labels,
    checked,
    mask_labels,
)
from assay.progress import track
from assay.store.base import Store
from assay.values import finite

PAGE = 1000  # history rows per request
STATUS = {"finished": "finished", "failed": "failed", "crashed": "crashed", "killed": "killed"}
PROBE_SECONDS = 10.0  # to learn whether the W&B server answers at all
_RESERVED = ("_step", "_timestamp", "_runtime")
SYSTEM = "system."  # the prefix of W&B's system metrics in a run's events
SYSTEM_SAMPLES = 100_000  # events asked of the server
_NOT_FINISHED = ("running", "pending", "preempting")


def import_wandb_api(
    store: Store,
    path: str,
    project: str | None = None,
    progress: bool | None = None,
) -> WandbImport:
    """Import the runs of ``path`` (``[ENTITY/]PROJECT`` or ``ENTITY/PROJECT/RUN_ID``)
    from the W&B server the W&B SDK is configured for (into ``project``, default the W&B
    project's name); ImportIncomplete listing any run that did not come in whole."""
    need("wandb", "wandb")
    entity, source, run_id = _parse(path)
    done = WandbImport()
    problems: list[str] = []
    with _translated(f"W&B {path}"):
        api = _api()
        entity = entity or str(api.default_entity)
        where = f"{entity}/{source}"
        found = _found(api, where, run_id)
        total = len(found)
    with track(source, total, "runs", progress) as advance:
        for run in _each(found, f"W&B {where}", problems):
            try:
                with _translated(f"W&B run {run.id}"):
                    _import_run(store, run, where, project or source, done)
            except (AssayError, OSError) as exc:
                problems.append(f"run {run.id}: {exc}")
            advance(1)
    if problems:
        listed = "\n  ".join(problems + not_imported(done.skipped))
        raise ImportIncomplete(f"the import of W&B {where} is incomplete:\n  {listed}")
    return done


def _parse(path: str) -> tuple[str | None, str, str | None]:
    parts = path.strip("/").split("/")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise InvalidInput(f"{path!r} is not [ENTITY/]PROJECT or ENTITY/PROJECT/RUN_ID")
    if len(parts) == 1:
        return None, parts[0], None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _api() -> Any:
    """W&B's client, once its server has answered and accepted the key."""
    import wandb
    import wandb.errors

    url = _reachable()
    try:
        return wandb.Api(timeout=60)
    except wandb.errors.UsageError as exc:  # no key anywhere W&B looks
        raise Unauthorized(
            f"no W&B API key for {url}: set WANDB_API_KEY or run `wandb login` ({exc})"
        ) from None
    except wandb.errors.AuthenticationError as exc:
        raise Unauthorized(f"the W&B server at {url} refuses the API key: {exc}") from None


def _reachable() -> str:
    """The W&B server's address, once it has answered anything at all (W&B's own client
    retries a refused connection for as long as its timeout)."""
    import requests
    from wandb import env
    from wandb.sdk import wandb_setup

    url = str(env.get_base_url(wandb_setup.singleton().settings.base_url)).rstrip("/")
    try:
        requests.get(url, timeout=PROBE_SECONDS).close()
    except requests.RequestException as exc:
        raise InvalidInput(f"the W&B server at {url} cannot be reached: {exc}") from None
    return url


def _found(api: Any, where: str, run_id: str | None) -> Any:
    """The runs to import: one (``run_id``), or the project's, listed page by page."""
    import wandb.errors
    from wandb.apis.public.runs import RunNotFoundError

    if run_id:
        try:
            return [api.run(f"{where}/{run_id}")]
        except (RunNotFoundError, wandb.errors.CommError) as exc:
            cause = exc.exc if isinstance(exc, wandb.errors.CommError) else exc  # as W&B wraps it
            if not isinstance(cause, RunNotFoundError):
                raise
            raise NotFound(f"W&B has no run {where}/{run_id} (that the key can see)") from None
    try:
        runs = api.runs(where, per_page=100)
        len(runs)  # the first page: does the project exist?
    except ValueError:  # W&B's Runs: the project is not there
        raise NotFound(f"W&B has no project {where} (that the key can see)") from None
    return runs


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """W&B's errors (and those of the HTTP client beneath it) as ImportIncomplete naming
    what could not be read."""
    import requests
    import wandb.errors

    try:
        yield
    except AssayError:
        raise
    except (wandb.errors.Error, requests.RequestException, ValueError) as exc:
        raise ImportIncomplete(f"{what} could not be read: {exc}") from None


def _each(found: Any, what: str, problems: list[str]) -> Iterator[Any]:
    """The runs, page by page; a page that cannot be read ends the list, named."""
    try:
        with _translated(what):
            yield from found
    except ImportIncomplete as exc:
        problems.append(str(exc))


# ---- one run ------------------------------------------------------------------------------


def _import_run(store: Store, run: Any, origin: str, project: str, done: WandbImport) -> None:
    if run.state in _NOT_FINISHED:
        done.skipped[f"runs still {run.state} (import them once they end)"] += 1
        return
    logged = list(run.logged_artifacts())
    with tempfile.TemporaryDirectory(prefix="assay-wandb-") as folder:
        root = Path(folder)
        for file in run.files():
            file.download(root=str(root / "files"), replace=True, exist_ok=True).close()
        own = _own_config(run).get("_wandb")
        source = _Source(
            files=files_under(root / "files"),
            logged=logged,
            root=root,
            mask_labels=mask_labels(own),
            box_labels=box_labels(own),
        )
        data = _data(run, origin, project, done, source)
        write_checked(store, data, f"wandb-api:{origin}/{run.id}")
        done.runs += 1
        done.points += data.points
        done.media += len(data.media)
        done.files += _import_files(store, root / "files", data)
    for artifact in logged:
        version = import_from_api(store, artifact, data.project, data.id)
        done.artifact_versions += 1
        done.files += version.file_count


def _own_config(run: Any) -> dict[str, Any]:
    """The run's config with W&B's own keys (``_wandb``), which ``run.config`` leaves out
    in W&B's newer clients (they keep them in ``run.rawconfig``)."""
    return dict(getattr(run, "rawconfig", None) or run.config or {})


@dataclass
class _Source:
    """Where a run's media files are: its files, downloaded under ``root``/files, and the
    artifacts it logged (a table's images are in its run-table artifact)."""

    files: Files
    logged: list[Any]
    root: Path
    mask_labels: ClassLabels
    box_labels: ClassLabels
    tables: dict[str, tuple[dict[str, Any], Files]] = field(default_factory=dict)

    def table(self, artifact_path: str) -> tuple[dict[str, Any], Files] | None:
        """The table ``wandb-artifact://_id/<artifact id>/<file>`` names, with the files of
        its artifact (downloaded once, checked against W&B's MD5s)."""
        if not artifact_path.startswith(_SERVER_ARTIFACT):
            return None
        artifact_id, _, name = artifact_path.removeprefix(_SERVER_ARTIFACT).partition("/")
        if artifact_path not in self.tables:
            found = next((a for a in self.logged if a.id == artifact_id), None)
            if found is None:
                return None
            folder = self.root / "artifacts" / str(len(self.tables))
            local = dict(downloaded(found, folder))

            def files(path: str, sha256: str | None) -> Path:
                if path not in local:
                    raise CorruptData(f"W&B artifact {found.name} holds no file {path}")
                return checked(local[path], path, sha256)

            try:
                body = json.loads(files(name, None).read_text())
            except (ValueError, UnicodeDecodeError) as exc:
                raise CorruptData(f"W&B table {name} of {found.name} is not JSON: {exc}") from None
            self.tables[artifact_path] = body, files
        return self.tables[artifact_path]


_SERVER_ARTIFACT = "wandb-artifact://_id/"


def _data(run: Any, origin: str, project: str, done: WandbImport, source: _Source) -> RunData:
    created = _time(run.created_at)
    points, last, rows, media = _history(run, created, done, source)
    counted = run._attrs.get("historyLineCount")  # W&B's own count of the run's rows
    if counted is not None and rows != counted:
        raise ImportIncomplete(f"W&B counts {counted} history rows; {rows} were read")
    series = {key: columns(p) for key, p in points.items()}
    for key, samples in _system(run).items():
        series.setdefault(key, sampled(samples))
    summary = dict(run.summary_metrics)
    runtime = summary.get("_runtime")
    end = max(last, created + float(runtime) if isinstance(runtime, int | float) else created)
    heartbeat = _time(run.heartbeat_at) if run.heartbeat_at else end
    return RunData(
        id=assay_id(run.id, f"{origin}/{run.id}"),
        project=project,
        name=run.name or run.id,
        created_at=created,
        status=STATUS.get(run.state, "crashed"),
        finished_at=end,
        heartbeat_at=max(heartbeat, end),
        config=finite({k: v for k, v in dict(run.config).items() if not k.startswith("_")}),
        summary=finite(summary_kept(summary, series)),
        tags=list(run.tags or []),
        notes=run.notes or None,
        group=run.group or None,
        job_type=run.job_type or None,
        host={"imported_from": f"wandb:{origin}/{run.id}", "wandb_state": run.state},
        series=series,
        media=media,
    )


def _time(iso: str) -> float:
    """A W&B timestamp (ISO 8601, UTC when no zone is given) in seconds."""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _history(
    run: Any, created: float, done: WandbImport, source: _Source
) -> tuple[dict[str, dict[int, tuple[float, float]]], float, int, list[MediaPoint]]:
    """Every history row: the points by key and step, the last time, the rows read, and
    the media values (their files read now)."""
    points: dict[str, dict[int, tuple[float, float]]] = {}
    media: list[MediaPoint] = []
    last, rows = created, 0
    for row in run.scan_history(page_size=PAGE, use_cache=False):
        rows += 1
        step = int(row.get("_step", rows - 1))
        at = row.get("_timestamp")
        at = float(at) if isinstance(at, int | float) else last
        last = max(last, at)
        for key, value in _flat(row):
            if key in _RESERVED or value is None:
                continue
            if isinstance(value, bool | int | float):
                points.setdefault(key, {})[step] = (at, float(value))
            elif isinstance(value, dict) and value.get("_type") in KINDS:
                point = media_point(
                    key,
                    step,
                    at,
                    value,
                    files=source.files,
                    tables=source.table,
                    skipped=done.skipped,
                    labels=source.mask_labels.get(key, {}),
                    box_labels=source.box_labels.get(key, {}),
                )
                media.append(point)
            else:
                kind = value.get("_type", "object") if isinstance(value, dict) else None
                done.skipped[f"history {kind or type(value).__name__}"] += 1
    return points, last, rows, media


def _system(run: Any) -> dict[str, list[tuple[float, float]]]:
    """The run's system metrics (W&B's ``system.<name>`` events) as ``system/<name>``
    samples in time order, named as a run file's ``stats`` records are."""
    events = run.history(samples=SYSTEM_SAMPLES, stream="system", pandas=False)
    samples: dict[str, list[tuple[float, float]]] = {}
    timed = [e for e in events if isinstance(e.get("_timestamp"), int | float)]
    for event in sorted(timed, key=lambda e: float(e["_timestamp"])):
        at = float(event["_timestamp"])
        for key, value in event.items():
            if key.startswith(SYSTEM) and isinstance(value, int | float) and value is not True:
                samples.setdefault(f"system/{key.removeprefix(SYSTEM)}", []).append(
                    (at, float(value))
                )
    return samples


def _flat(row: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """A row's values, nested dicts of numbers as ``outer/inner`` keys; a dict holding
    ``_type`` (a W&B media value) whole."""
    for key, value in row.items():
        if isinstance(value, dict) and "_type" not in value:
            yield from _flat(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", value


def _import_files(store: Store, folder: Path, data: RunData) -> int:
    """The run's files (downloaded into ``folder``) as the artifact ``wandb-<id>``."""
    if not folder.is_dir() or not any(folder.iterdir()):
        return 0
    art = Artifact("wandb-" + data.id.removeprefix("wb-"), type="wandb-run")
    art.add_dir(folder)
    version = log_artifact(store, art, data.project, run_id=data.id, progress=False)
    return version.file_count
