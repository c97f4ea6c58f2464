"""Prompts in the user's process (docs/llm.md): ``assay.prompts.create``, ``get``,
``label``, ``split``, ``compare``.

    assay.prompts.create("support", [{"role": "system", "content": "You help with {{ product }}."},
                                     {"role": "user", "content": "{{ question }}"}],
                         params={"model": "gpt-4o-mini", "temperature": 0.2})
    prompt = assay.prompts.get("support@production", key=user_id)
    messages = prompt.format(product="Assay", question=q)

A version is an artifact version of type ``prompt``: immutable, numbered, named by its
content (creating the same template twice gives the same version). A label points at one
version or at a weighted split (``store.prompts``); ``get`` with a ``key`` keeps a key on
one arm of a split for as long as the split stays the same.

``get`` keeps what it read in memory and in a file under the cache folder for ``ttl``
seconds (``ASSAY_PROMPT_TTL``, default 60): a label moved on the server reaches the app
within that time, without a redeploy. When the store cannot be reached, ``get`` serves
the last version it knows (from memory, or from the file after a restart), says so in a
log line, and tries the store again after another ``ttl``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from assay.errors import InvalidInput, StoreUnavailable, StoreUnusable
from assay.prompting import PromptBody, body_of, choose, format_body, is_version, parse_ref
from assay.prompting.compare import ABReport, compare_arms
from assay.records import (
    ArtifactDraft,
    ArtifactVersion,
    FileEntry,
    Manifest,
    PromptLabel,
)
from assay.sdk import state
from assay.sdk.tracing import current_span
from assay.store.base import Store, open_store, resolve_uri

log = logging.getLogger("assay")

PROMPT_TYPE = "prompt"
PROMPT_FILE = "prompt.json"
DEFAULT_TTL = 60.0
Uri = str | os.PathLike[str] | None


# ---- what get returns ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """One version of a prompt, as ``get`` chose it: its template, variables and model
    parameters. ``label`` is the label it was reached through (None for ``name:v3``);
    ``stale`` is True when the store could not be reached and this is the last version
    known."""

    project: str
    name: str
    version: int
    type: str  # "text" or "chat"
    template: str | list[dict[str, str]]
    variables: list[str]
    params: dict[str, Any]
    label: str | None = None
    stale: bool = False

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.name}:v{self.version}"

    def format(self, **variables: Any) -> str | list[dict[str, str]]:
        """The template filled in: a string, or chat messages ({role, content}). Every
        variable must be given, and only those (InvalidInput names the one that is not).
        The version is recorded on the span open now, if any."""
        body = PromptBody(
            type=self.type, template=self.template, variables=self.variables, params=self.params
        )
        filled = format_body(body, self.name, variables)
        record_use(self)
        return filled

    def __repr__(self) -> str:
        via = f" via @{self.label}" if self.label else ""
        return f"<Prompt {self.ref}{via} {self.type} variables={self.variables}>"


def record_use(prompt: Prompt) -> None:
    """The prompt version on the span open in this thread or task (docs/llm.md): what
    ``assay prompts compare`` groups traces by."""
    span = current_span()
    if span is None:
        return
    span.set_attributes(
        {
            "assay.prompt.project": prompt.project,
            "assay.prompt.name": prompt.name,
            "assay.prompt.version": prompt.version,
        }
    )
    if prompt.label is not None:
        span.set("assay.prompt.label", prompt.label)


def _prompt(found: ArtifactVersion, label: str | None = None, stale: bool = False) -> Prompt:
    body = msgspec.convert(found.metadata.get("prompt"), PromptBody)
    return Prompt(
        project=found.project,
        name=found.name,
        version=found.version,
        type=body.type,
        template=body.template,
        variables=list(body.variables),
        params=dict(body.params),
        label=label,
        stale=stale,
    )


# ---- the store ------------------------------------------------------------------------------


@contextmanager
def _store(uri: Uri) -> Iterator[Store]:
    store = open_store(_uri(uri))
    try:
        yield store
    finally:
        store.close()


def _uri(uri: Uri) -> str:
    run = state.current()
    return resolve_uri(uri if uri is not None else (run.uri if run is not None else None))


def _project(project: str | None) -> str:
    if project is not None:
        return project
    run = state.current()
    if run is not None:
        return run.project
    return os.environ.get("ASSAY_PROJECT") or "default"


def _split_ref(ref: str, project: str | None) -> tuple[str, str, str]:
    given, name, selector = parse_ref(ref)
    if given is not None and project is not None and given != project:
        raise InvalidInput(f"prompt {ref!r} names project {given!r} but project={project!r}")
    return given or _project(project), name, selector


def _versions_of(store: Store, project: str, name: str) -> list[ArtifactVersion]:
    found = store.artifacts.versions(project, name)
    if found and found[0].type != PROMPT_TYPE:
        raise InvalidInput(
            f"{project}/{name} is an artifact of type {found[0].type!r}, not a prompt"
        )
    return found


# ---- writes ---------------------------------------------------------------------------------


def commit(
    store: Store,
    project: str,
    name: str,
    template: str | list[dict[str, str]],
    *,
    params: Mapping[str, Any] | None = None,
    description: str | None = None,
    run_id: str | None = None,
) -> Prompt:
    """Store a prompt version in ``store``: its body as the artifact's one file and as its
    metadata (so one read gives the whole version)."""
    body = body_of(template, dict(params) if params is not None else None)
    data = msgspec.json.encode(body)
    digest = store.blobs.put(data)
    draft = ArtifactDraft(
        project=project,
        name=name,
        type=PROMPT_TYPE,
        manifest=Manifest(files=[FileEntry(path=PROMPT_FILE, size=len(data), digest=digest)]),
        metadata={"prompt": msgspec.to_builtins(body)},
        run_id=run_id,
        description=description,
    )
    return _prompt(store.artifacts.commit(draft))


def create(
    name: str,
    template: str | list[dict[str, str]],
    *,
    params: Mapping[str, Any] | None = None,
    project: str | None = None,
    description: str | None = None,
    labels: list[str] | None = None,
    reason: str | None = None,
    uri: Uri = None,
) -> Prompt:
    """A new version of prompt ``name`` (the existing one when the content is the same):
    a text template (a string) or a chat template (a list of {role, content} messages),
    with ``{{ variable }}`` placeholders, and model ``params``. ``labels``: point these
    labels at the version (audited, with ``reason``)."""
    chosen = _project(project)
    with _store(uri) as store:
        made = commit(store, chosen, name, template, params=params, description=description)
        for label_name in labels or []:
            split_ = {str(made.version): 100.0}
            store.prompts.set_label(chosen, name, label_name, split_, reason=reason)
    return made


def label(
    ref: str,
    label: str,
    version: int | None,
    *,
    reason: str | None = None,
    evidence: str | None = None,
    project: str | None = None,
    uri: Uri = None,
) -> PromptLabel:
    """Point ``label`` of prompt ``ref`` at one version (None removes it), with a reason
    and evidence (an evaluation id, a comparison, a link); audited."""
    chosen, name, _ = _split_ref(ref, project)
    split = None if version is None else {str(version).lstrip("v"): 100.0}
    with _store(uri) as store:
        return store.prompts.set_label(chosen, name, label, split, reason=reason, evidence=evidence)


def split(
    ref: str,
    label: str,
    weights: Mapping[int, float] | Mapping[str, float],
    *,
    reason: str | None = None,
    evidence: str | None = None,
    project: str | None = None,
    uri: Uri = None,
) -> PromptLabel:
    """Point ``label`` at a weighted split of versions, ``{7: 90, 8: 10}`` (percentages
    adding up to 100): callers of ``get(name@label, key=...)`` are shared between them,
    each key keeping its version while the split stays the same. Audited."""
    chosen, name, _ = _split_ref(ref, project)
    given = {str(k): v for k, v in weights.items()}
    with _store(uri) as store:
        return store.prompts.set_label(chosen, name, label, given, reason=reason, evidence=evidence)


# ---- reads ----------------------------------------------------------------------------------


def versions(name: str, *, project: str | None = None, uri: Uri = None) -> list[Prompt]:
    """Every version of a prompt, newest first."""
    chosen, plain, _ = _split_ref(name, project)
    with _store(uri) as store:
        return stored_versions(store, chosen, plain)


def stored_versions(store: Store, project: str, name: str) -> list[Prompt]:
    """Every version of a prompt in ``store``, newest first."""
    return [_prompt(v) for v in _versions_of(store, project, name)]


def read(store: Store, ref: str, *, key: str | None = None, project: str | None = None) -> Prompt:
    """The version ``ref`` names, read from ``store`` now (no cache, no span): what
    ``Api().prompt`` answers."""
    chosen, name, selector = _split_ref(ref, project)
    entry = _fetch(store, chosen, name, selector, None)
    return _chosen(entry, selector, key, stale=False)


def labels(name: str, *, project: str | None = None, uri: Uri = None) -> list[PromptLabel]:
    """A prompt's labels now (each a version, or a split)."""
    chosen, plain, _ = _split_ref(name, project)
    with _store(uri) as store:
        return store.prompts.labels(chosen, plain)


def history(
    name: str, label: str | None = None, *, project: str | None = None, uri: Uri = None
) -> list[PromptLabel]:
    """Every move of a prompt's labels (or of one), newest first: who, when, why."""
    chosen, plain, _ = _split_ref(name, project)
    with _store(uri) as store:
        return store.prompts.history(chosen, plain, label)


@dataclass(frozen=True, kw_only=True)
class PromptInfo:
    """A prompt of a project: how many versions, the latest, and its labels now."""

    project: str
    name: str
    versions: int
    latest: int
    created_at: float
    updated_at: float
    labels: list[PromptLabel]


def listing(store: Store, project: str) -> list[PromptInfo]:
    """The project's prompts with their labels now, by name."""
    found = store.artifacts.list(project, type=PROMPT_TYPE)
    by_prompt: dict[str, list[PromptLabel]] = {}
    for move in store.prompts.list(project):
        by_prompt.setdefault(move.prompt, []).append(move)
    return [
        PromptInfo(
            project=info.project,
            name=info.name,
            versions=info.versions,
            latest=info.latest,
            created_at=info.created_at,
            updated_at=info.updated_at,
            labels=by_prompt.get(info.name, []),
        )
        for info in sorted(found, key=lambda i: i.name)
    ]


def ls(project: str | None = None, uri: Uri = None) -> list[PromptInfo]:
    """The project's prompts with their labels now."""
    with _store(uri) as store:
        return listing(store, _project(project))


# ---- get, with its cache --------------------------------------------------------------------


class _Entry(msgspec.Struct, kw_only=True):
    """What one reference resolved to: a split (version -> share; one version at 100 for
    a version or a plain label) and the versions' bodies, and when it was read."""

    project: str
    name: str
    label: str | None
    split: dict[str, float]
    bodies: dict[str, dict[str, Any]]
    checked_at: float  # the last time the store was asked (read or failed)
    fetched_at: float  # the last time the store answered


_LOCK = threading.Lock()
_MEMORY: dict[tuple[str, str, str, str], _Entry] = {}


def ttl_default() -> float:
    raw = os.environ.get("ASSAY_PROMPT_TTL")
    if raw is None:
        return DEFAULT_TTL
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise InvalidInput(f"ASSAY_PROMPT_TTL={raw!r} must be a number of seconds") from None


def _cache_file(key: tuple[str, str, str, str]) -> Path:
    base = os.environ.get("ASSAY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "assay"
    )
    digest = hashlib.blake2b("\0".join(key).encode(), digest_size=16).hexdigest()
    return Path(base) / "prompts" / f"{digest}.json"


def _remember(key: tuple[str, str, str, str], entry: _Entry) -> None:
    with _LOCK:
        _MEMORY[key] = entry
    path = _cache_file(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        scratch.write_bytes(msgspec.json.encode(entry))
        os.replace(scratch, path)  # a reader never sees half a file
    except OSError as exc:
        log.warning("assay: prompt cache %s could not be written: %s", path, exc)


def _recall(key: tuple[str, str, str, str]) -> _Entry | None:
    with _LOCK:
        found = _MEMORY.get(key)
    if found is not None:
        return found
    try:
        return msgspec.json.decode(_cache_file(key).read_bytes(), type=_Entry)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def clear_cache() -> None:
    """Forget what ``get`` read (in memory; the files stay for an outage after restart)."""
    with _LOCK:
        _MEMORY.clear()


def _fetch(store: Store, project: str, name: str, selector: str, known: _Entry | None) -> _Entry:
    label_name: str | None = None
    if is_version(selector):
        found = store.artifacts.version(project, name, selector)
        if found.type != PROMPT_TYPE:
            raise InvalidInput(
                f"{project}/{name} is an artifact of type {found.type!r}, not a prompt"
            )
        split = {str(found.version): 100.0}
        bodies = {str(found.version): found.metadata["prompt"]}
    else:
        label_name = selector
        split = store.prompts.label(project, name, selector).split
        bodies = {}
        for version in split:
            if known is not None and version in known.bodies:  # versions never change
                bodies[version] = known.bodies[version]
            else:
                bodies[version] = store.artifacts.version(project, name, f"v{version}").metadata[
                    "prompt"
                ]
    now = time.time()
    return _Entry(
        project=project,
        name=name,
        label=label_name,
        split=split,
        bodies=bodies,
        checked_at=now,
        fetched_at=now,
    )


def _resolve(uri: str, project: str, name: str, selector: str, ttl: float) -> tuple[_Entry, bool]:
    key = (uri, project, name, selector)
    known = _recall(key)
    now = time.time()
    if known is not None and now - known.checked_at < ttl:
        return known, known.checked_at != known.fetched_at
    try:
        with _store(uri) as store:
            entry = _fetch(store, project, name, selector, known)
    except (StoreUnavailable, StoreUnusable, OSError) as exc:
        if known is None:
            raise
        age = now - known.fetched_at
        versions = ", ".join(f"v{v}" for v in known.split)
        log.warning(
            "assay: prompt %s/%s@%s: the store at %s cannot be reached (%s); serving the last "
            "known %s, read %.0f s ago",
            project,
            name,
            selector,
            uri,
            exc,
            versions,
            age,
        )
        known.checked_at = now  # ask again after another ttl, not on every call
        _remember(key, known)
        return known, True
    _remember(key, entry)
    return entry, False


def get(
    ref: str,
    *,
    key: str | int | None = None,
    project: str | None = None,
    ttl: float | None = None,
    uri: Uri = None,
) -> Prompt:
    """The prompt version ``ref`` names: ``name@label`` (the label's version, or one arm
    of its split), ``name:v3``, ``name`` (the latest), each optionally ``project/...``.
    ``key`` (a user or session id) keeps a caller on one arm of a split; without it each
    call draws an arm at random by the weights. Read at most once per ``ttl`` seconds
    (default ``ASSAY_PROMPT_TTL`` or 60); served from the cache, with a log line, when
    the store cannot be reached. Recorded on the span open now, if any."""
    chosen, name, selector = _split_ref(ref, project)
    seconds = ttl_default() if ttl is None else ttl
    entry, stale = _resolve(_uri(uri), chosen, name, selector, seconds)
    prompt = _chosen(entry, selector, None if key is None else str(key), stale=stale)
    record_use(prompt)
    return prompt


def _chosen(entry: _Entry, selector: str, key: str | None, *, stale: bool) -> Prompt:
    scope = f"{entry.project}/{entry.name}@{selector}"
    version = choose(entry.split, scope, key)
    body = msgspec.convert(entry.bodies[version], PromptBody)
    return Prompt(
        project=entry.project,
        name=entry.name,
        version=int(version),
        type=body.type,
        template=body.template,
        variables=list(body.variables),
        params=dict(body.params),
        label=entry.label,
        stale=stale,
    )


# ---- compare --------------------------------------------------------------------------------

PAGE = 500


def observations(
    store: Store,
    project: str,
    name: str,
    versions_: set[int] | None,
    *,
    since: float | None = None,
    limit: int = 2_000,
) -> dict[int, dict[str, list[float]]]:
    """Per version, per metric, one value per trace that recorded the prompt: cost,
    latency, error (0/1) and every ``assay.score.<name>`` attribute of its spans (the
    mean when several spans carry it). Reads the project's newest ``limit`` traces
    (since ``since``, Unix seconds); a trace that recorded two versions counts for none."""
    found: dict[int, dict[str, list[float]]] = {}
    where = None if since is None else f"start >= {float(since)!r}"
    offset = 0
    while offset < limit:
        page = store.traces.list(project, where, min(PAGE, limit - offset), offset)
        for summary in page:
            _observe(store.traces.get(summary.trace_id, project), name, project, versions_, found)
        if len(page) < PAGE:
            break
        offset += len(page)
    return found


def _observe(
    trace: Any,
    name: str,
    project: str,
    wanted: set[int] | None,
    found: dict[int, dict[str, list[float]]],
) -> None:
    used: set[int] = set()
    scores: dict[str, list[float]] = {}
    for span in trace.spans:
        attributes = span.attributes
        if (
            attributes.get("assay.prompt.name") == name
            and attributes.get("assay.prompt.project", project) == project
        ):
            try:
                used.add(int(attributes.get("assay.prompt.version")))
            except (TypeError, ValueError):
                continue
        for attribute, value in attributes.items():
            if attribute.startswith("assay.score.") and isinstance(value, int | float):
                scores.setdefault(attribute.removeprefix("assay.score."), []).append(float(value))
    if len(used) != 1:
        return
    version = used.pop()
    if wanted is not None and version not in wanted:
        return
    metrics = found.setdefault(version, {})
    metrics.setdefault("latency", []).append(trace.latency)
    metrics.setdefault("error", []).append(1.0 if trace.n_errors else 0.0)
    if trace.cost is not None:
        metrics.setdefault("cost", []).append(trace.cost)
    for score, values in scores.items():
        metrics.setdefault(score, []).append(sum(values) / len(values))


def compare(
    ref: str,
    *,
    versions: list[int] | None = None,
    since: float | None = None,
    limit: int = 2_000,
    tolerances: Mapping[str, float] | None = None,
    level: float = 0.95,
    project: str | None = None,
    uri: Uri = None,
) -> ABReport:
    """How the arms of ``name@label``'s split compare (or ``versions``, for a prompt or a
    label that is no split any more), from the traces that recorded each version: per arm,
    cost, latency, error rate and every score with its interval; per other arm, its
    difference from the baseline (the largest share) with Welch's t, Holm across metrics,
    and a verdict as the evaluation gate's (pass, fail, inconclusive). ``tolerances``:
    metric -> the change allowed before it counts as worse (docs/llm.md has the defaults)."""
    with _store(uri) as store:
        return compare_in(
            store,
            ref,
            versions=versions,
            since=since,
            limit=limit,
            tolerances=tolerances,
            level=level,
            project=project,
        )


def compare_in(
    store: Store,
    ref: str,
    *,
    versions: list[int] | None = None,
    since: float | None = None,
    limit: int = 2_000,
    tolerances: Mapping[str, float] | None = None,
    level: float = 0.95,
    project: str | None = None,
) -> ABReport:
    """``compare`` over an open store (``Api().compare_prompt``)."""
    chosen, name, selector = _split_ref(ref, project)
    shares: dict[int, float] = {}
    label_name = None
    if not is_version(selector):
        label_name = selector
        shares = {int(v): w for v, w in store.prompts.label(chosen, name, selector).split.items()}
    known = {v.version for v in _versions_of(store, chosen, name)}
    wanted = set(versions) if versions else set(shares)
    unknown = sorted(wanted - known)
    if unknown:
        raise InvalidInput(
            f"prompt {chosen}/{name} has no version(s) {', '.join(f'v{v}' for v in unknown)}"
        )
    if len(wanted) < 2:
        raise InvalidInput(
            f"{ref}: nothing to compare; the label points at one version. Name the "
            "versions to compare (versions=[7, 8] / --versions 7,8)"
        )
    seen = observations(store, chosen, name, wanted, since=since, limit=limit)
    arms = {v: seen.get(v, {}) for v in wanted}
    kept = {v: w for v, w in shares.items() if v in wanted}
    return compare_arms(name, label_name, arms, kept, tolerances=tolerances, level=level)


__all__ = [
    "Prompt",
    "PromptInfo",
    "clear_cache",
    "compare",
    "create",
    "get",
    "history",
    "label",
    "labels",
    "ls",
    "split",
    "versions",
]
