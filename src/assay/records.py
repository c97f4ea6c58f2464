"""Plain data shared by every layer: what a store returns and what a journal carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

RUN_STATUSES: tuple[str, ...] = ("running", "finished", "failed", "killed", "crashed")
FINAL_STATUSES: frozenset[str] = frozenset({"finished", "failed", "killed", "crashed"})


class Project(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    run_count: int
    created_at: float
    last_activity: float | None


class MetricSummary(msgspec.Struct, kw_only=True, frozen=True):
    """What the runs table needs of a series without reading it."""

    last: float
    min: float
    max: float
    count: int
    last_step: int


class Run(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    project: str
    name: str
    status: str
    created_at: float
    updated_at: float
    # the latest time the run's writers reported, on their own clock (durations use it);
    # whether a running run reads as crashed is judged on the store's clock instead
    heartbeat_at: float
    finished_at: float | None
    config: dict[str, Any]
    summary: dict[str, Any]
    tags: list[str]
    notes: str | None
    group: str | None
    job_type: str | None
    host: dict[str, Any]
    metrics: dict[str, MetricSummary]
    traceback: str | None = None
    # when the run was deleted (it is hidden from lists and restorable until purged)
    deleted_at: float | None = None


class RunEdit(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Changes to a run's descriptive fields; None leaves a field as it is, "" clears
    notes, group or job type. ``tags`` replaces the tags; ``add_tags`` and
    ``remove_tags`` change them (applied after ``tags``)."""

    name: str | None = None
    notes: str | None = None
    group: str | None = None
    job_type: str | None = None
    tags: list[str] | None = None
    add_tags: list[str] = []
    remove_tags: list[str] = []


STEP = "<i8"  # the series codec: steps as little-endian int64,
FLOAT = "<f8"  # times and values as little-endian float64, on every machine


@dataclass(frozen=True, kw_only=True)
class Columns:
    """One series as three parallel numpy columns, sorted by step, one point per step.

    Its bytes (the journal, the wire and the stored chunks all use them) are the three
    columns as raw little-endian arrays: ``to_bytes`` and ``from_bytes``."""

    steps: NDArray[np.int64]
    times: NDArray[np.float64]
    values: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def from_bytes(cls, steps: bytes, times: bytes, values: bytes) -> Columns:
        import numpy as np  # not at import: a run that logs scalars never needs numpy

        return cls(
            steps=np.frombuffer(steps, dtype=STEP),
            times=np.frombuffer(times, dtype=FLOAT),
            values=np.frombuffer(values, dtype=FLOAT),
        )

    def to_bytes(self) -> tuple[bytes, bytes, bytes]:
        return (
            self.steps.astype(STEP, copy=False).tobytes(),
            self.times.astype(FLOAT, copy=False).tobytes(),
            self.values.astype(FLOAT, copy=False).tobytes(),
        )


# ---- journal operations -------------------------------------------------------------
# Every change a run makes travels as one of these, first to the journal, then to the
# store; a batch of them is applied in one transaction, identified by (run, writer, seq).


class CreateRun(msgspec.Struct, kw_only=True, tag="create_run", frozen=True):
    project: str
    name: str
    created_at: float
    config: dict[str, Any]
    tags: list[str]
    notes: str | None
    group: str | None
    job_type: str | None
    host: dict[str, Any]


class UpdateRun(msgspec.Struct, kw_only=True, tag="update_run", frozen=True):
    """Set fields of a run; None means "leave as is" and dict fields merge."""

    at: float
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    tags: list[str] | None = None
    notes: str | None = None
    host: dict[str, Any] | None = None
    status: str | None = None
    traceback: str | None = None


class Points(msgspec.Struct, kw_only=True, tag="points", frozen=True):
    """Points of one key, columnar: steps, wall times and float64 values as raw bytes."""

    key: str
    steps: bytes
    times: bytes
    values: bytes

    @property
    def count(self) -> int:
        """How many points (float64 values) this holds."""
        return len(self.values) // 8


class LogLines(msgspec.Struct, kw_only=True, tag="log_lines", frozen=True):
    """Captured console output: (wall time, stream, text) lines."""

    lines: list[tuple[float, str, str]]


class Heartbeat(msgspec.Struct, kw_only=True, tag="heartbeat", frozen=True):
    at: float


class Media(msgspec.Struct, kw_only=True, tag="media", frozen=True):
    """A rich value (image, table, histogram, plot, audio, text, html, video) logged at a
    step: its ``kind``, a JSON ``body`` describing it, and the digests of the blobs it
    names (the bytes travel beside the batch, in ``BlobData``, and are stored by
    content)."""

    key: str
    step: int
    at: float
    kind: str
    body: dict[str, Any]
    blobs: list[str] = []


class BlobData(msgspec.Struct, kw_only=True, tag="blob_data", frozen=True):
    """The bytes ``Media`` operations of the same batch name, in the journal only: the
    SDK stores them through ``store.blobs`` (sending only what the store lacks) and
    delivers the batch without them."""

    blobs: dict[str, bytes]  # digest -> bytes


class Spans(msgspec.Struct, kw_only=True, tag="spans", frozen=True):
    """Spans the SDK recorded (sdk/traces.py), carried by a tracer's journal; a batch of
    them names no run (its run_id starts with ``traces:``)."""

    spans: list[Span]


Op = CreateRun | UpdateRun | Points | LogLines | Heartbeat | Media | BlobData | Spans


class Batch(msgspec.Struct, kw_only=True, frozen=True):
    """What one writer delivers at once; (run_id, writer, seq) makes delivery idempotent."""

    run_id: str
    writer: str
    seq: int
    ops: list[Op]


class LogLine(msgspec.Struct, kw_only=True, frozen=True):
    at: float
    stream: str
    text: str


class MediaRecord(msgspec.Struct, kw_only=True, frozen=True):
    """A stored rich value of a run: what ``store.media.list`` returns."""

    run_id: str
    key: str
    step: int
    at: float
    kind: str
    body: dict[str, Any]


class MediaKey(msgspec.Struct, kw_only=True, frozen=True):
    """A run's media key: its kind, how many steps hold a value, the first and last."""

    key: str
    kind: str
    count: int
    first_step: int
    last_step: int


# ---- artifacts, lineage and the model registry -----------------------------------------


class FileEntry(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One file of an artifact version. Its content is the blob ``digest`` or, when the file
    was split by content-defined chunking, the concatenation of ``chunks`` (digest, size);
    ``digest`` is then the BLAKE3 of the whole file. A reference (``ref``) is recorded by
    its digest or ETag and never copied."""

    path: str
    size: int
    digest: str
    chunks: list[tuple[str, int]] | None = None
    ref: str | None = None

    def blobs(self) -> list[str]:
        if self.ref is not None:
            return []
        return [d for d, _ in self.chunks] if self.chunks else [self.digest]


class Manifest(msgspec.Struct, kw_only=True, frozen=True):
    files: list[FileEntry]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def blobs(self) -> list[str]:
        return list(dict.fromkeys(d for f in self.files for d in f.blobs()))


class ArtifactDraft(msgspec.Struct, kw_only=True, frozen=True):
    """What a client commits once every blob the manifest names is stored."""

    project: str
    name: str
    type: str
    manifest: Manifest
    metadata: dict[str, Any] = {}
    aliases: list[str] = []
    run_id: str | None = None
    description: str | None = None


class ArtifactVersion(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    project: str
    name: str
    type: str
    version: int
    digest: str
    size: int
    file_count: int
    metadata: dict[str, Any]
    aliases: list[str]
    run_id: str | None
    created_at: float
    created_by: str
    description: str | None = None
    created: bool = False  # True when this commit made the version (not a duplicate)

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.name}:v{self.version}"


class ArtifactInfo(msgspec.Struct, kw_only=True, frozen=True):
    project: str
    name: str
    type: str
    created_at: float
    updated_at: float
    versions: int
    latest: int
    aliases: dict[str, int]


class LineageEdge(msgspec.Struct, kw_only=True, frozen=True):
    """``kind`` is "used" (the run read the version) or "produced" (the run logged it)."""

    run_id: str
    version_id: str
    kind: str
    at: float


class RegisteredModel(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    project: str
    description: str | None
    tags: dict[str, str]
    created_at: float
    updated_at: float
    latest: int
    aliases: dict[str, int]


class ModelVersion(msgspec.Struct, kw_only=True, frozen=True):
    model: str
    version: int
    artifact: ArtifactVersion
    description: str | None
    created_at: float
    created_by: str
    aliases: list[str]
    created: bool = False

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"


class AliasMove(msgspec.Struct, kw_only=True, frozen=True):
    """One move of a model alias: ``version`` None means the alias was removed."""

    model: str
    alias: str
    version: int | None
    previous: int | None
    actor: str
    reason: str | None
    evidence: str | None
    at: float


class TrafficPolicy(msgspec.Struct, kw_only=True, frozen=True):
    """How a served model's requests are shared between its versions, as set at ``at``.

    ``split``: arm (an alias such as ``production``, or a version number ``"3"``) to its
    percentage of requests (they add up to 100); empty when the policy was cleared.
    ``sticky``: ``header:<name>`` or ``input:<name>``, the request key that keeps one
    caller on one arm. ``shadow``: arm to the percentage of requests mirrored to it (its
    answer discarded)."""

    model: str
    split: dict[str, float]
    sticky: str | None = None
    shadow: dict[str, float] = {}
    actor: str
    reason: str | None = None
    at: float

    @property
    def active(self) -> bool:
        return bool(self.split)


class PromptLabel(msgspec.Struct, kw_only=True, frozen=True):
    """A label of a prompt as set at ``at`` (docs/llm.md): ``split`` maps version numbers
    (``"7"``) to their percentage of callers, adding up to 100; one version at 100 is a
    plain label, an empty split a removed one. ``previous`` is what it pointed at before."""

    project: str
    prompt: str
    label: str
    split: dict[str, float]
    previous: dict[str, float] = {}
    actor: str
    reason: str | None = None
    evidence: str | None = None
    at: float

    @property
    def active(self) -> bool:
        return bool(self.split)

    @property
    def version(self) -> int | None:
        """The version a plain label points at (None for a split or a removed label)."""
        return int(next(iter(self.split))) if len(self.split) == 1 else None


class ServedModel(msgspec.Struct, kw_only=True, frozen=True):
    """One registered model a model server answers for: the URI it was started on and the
    version each arm (the URI's alias or version, and any its traffic policy names)
    answers with now."""

    name: str
    uri: str
    arms: dict[str, int]


class ModelServer(msgspec.Struct, kw_only=True, frozen=True):
    """A running ``assay serve`` worker as it announced itself: where it answers, what it
    serves, when it started and when it was last heard from (the store's clock). It
    refreshes the announcement every ``interval`` seconds and withdraws it on a clean
    stop; ``live`` is False once it has missed ``MISSED_BEATS`` refreshes."""

    id: str
    url: str
    host: str
    pid: int
    models: list[ServedModel]
    started_at: float
    heartbeat_at: float = 0.0
    interval: float
    live: bool = True

    MISSED_BEATS: ClassVar[int] = 3

    def serves(self, name: str) -> ServedModel | None:
        return next((m for m in self.models if m.name == name), None)


class EvalItem(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One call of the model on one item, and its scores (None: the scorer had no answer)."""

    item_id: str
    repeat: int = 0
    cluster: str | None = None
    slices: dict[str, str] = {}
    inputs: dict[str, Any] = {}  # what the model was given
    label: Any = None
    inputs_digest: str = ""
    output: Any = None
    scores: dict[str, float | None] = {}
    latency_ms: float | None = None
    error: str | None = None
    details: dict[str, Any] = {}  # per scorer: a judge's prompt and reply
    cached: bool = False


class EvaluationDraft(msgspec.Struct, kw_only=True, frozen=True):
    project: str
    name: str
    model: str  # models:/name/3, an artifact ref, or a function's name
    model_key: str
    model_version_id: str | None  # the model artifact version
    dataset: str
    dataset_digest: str
    dataset_version_id: str | None
    baseline_id: str | None
    run_id: str | None
    verdict: str | None
    report: dict[str, Any]
    items: list[EvalItem]


class Evaluation(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    project: str
    name: str
    model: str
    model_key: str
    model_version_id: str | None
    dataset: str
    dataset_digest: str
    dataset_version_id: str | None
    baseline_id: str | None
    run_id: str | None
    verdict: str | None
    n_items: int
    n_errors: int
    report: dict[str, Any]
    created_at: float
    created_by: str


class AlertDraft(msgspec.Struct, kw_only=True, frozen=True):
    """An alert firing: a monitor's rule began to hold at window ``step`` (docs/monitoring.md)."""

    monitor_id: str  # the monitor's run
    rule: str
    step: int
    value: float | None
    detail: dict[str, Any] = {}  # model, series, threshold, window bounds


class Alert(msgspec.Struct, kw_only=True, frozen=True):
    """One incident of a rule: opened when it began to hold, resolved when it stopped."""

    id: str
    project: str
    monitor_id: str
    rule: str
    opened_step: int
    opened_at: float
    value: float | None
    resolved_step: int | None
    resolved_at: float | None
    resolved_value: float | None
    detail: dict[str, Any]
    deliveries: dict[str, Any]  # "fired" / "resolved" -> {ok, attempts, status, error, at}


# ---- the request log of served models (docs/serving.md) -----------------------------------


class RequestEntry(msgspec.Struct, kw_only=True, frozen=True):
    """One request to a served model: what it was given and what it answered, as columns
    (``{name: [one value per row]}``, or ``{name: packed column}``: a numeric or datetime
    array's bytes, assay/packed.py, read back as the list), which version and arm
    answered, how fast, with what status. ``rows`` is the number of input rows (0:
    refused before its rows were read, no inputs). ``rows=None`` is the one-row form
    earlier versions wrote (``{name: value}``), still taken from their journals and
    clients: it is stored as one row."""

    model: str
    request_id: str  # unique per model: a later entry with the same id is ignored
    time: float  # unix seconds
    version: str
    arm: str | None = None
    status: int = 200
    latency_ms: float = 0.0
    rows: int | None = None
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}


class RequestBatch(msgspec.Struct, kw_only=True, frozen=True):
    """What one request-log writer delivers at once; (writer, seq) makes delivery
    idempotent, like a run's Batch."""

    writer: str
    seq: int
    entries: list[RequestEntry]


class RequestLabel(msgspec.Struct, kw_only=True, frozen=True):
    """A label joined to a logged request: to one of its rows, or (``row`` -1) to all."""

    row: int
    label: Any
    at: float  # unix seconds


class LoggedRequest(msgspec.Struct, kw_only=True, frozen=True):
    """A stored request: one entry however many rows it had (readers show one row per
    input row, ``<id>/<i>`` when there are several), with the labels joined to it."""

    model: str
    request_id: str
    time: float
    version: str
    arm: str | None
    status: int
    latency_ms: float
    rows: int  # input rows; 0 for a request refused before its rows were read
    inputs: dict[str, list[Any]]
    outputs: dict[str, list[Any]]  # {} for a refused request
    labels: list[RequestLabel] = []


class LabelResult(msgspec.Struct, kw_only=True, frozen=True):
    """Labels joined by request id: how many matched, and the ids no entry has (yet)."""

    matched: int
    unknown: list[str]


# ---- traces (docs/traces.md) ----------------------------------------------------------

SPAN_KINDS: tuple[str, ...] = (
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
)
SPAN_STATUSES: tuple[str, ...] = ("unset", "ok", "error")


class SpanEvent(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Something that happened at one instant of a span (an exception, a streamed token)."""

    name: str
    time_ns: int
    attributes: dict[str, Any] = {}


class SpanLink(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """A span of another (or the same) trace this one is causally linked to."""

    trace_id: str
    span_id: str
    attributes: dict[str, Any] = {}


class Span(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One operation of a trace, with every attribute it was sent with. Ids are lowercase
    hex (32 digits for a trace, 16 for a span); times are Unix nanoseconds. ``operation``
    to ``cost`` are what Assay read from the attributes (assay.traces.conventions);
    ``prices`` names the price table the cost came from, so a stored cost never changes."""

    project: str
    trace_id: str
    span_id: str
    parent_id: str | None = None
    name: str
    kind: str = "internal"
    start_ns: int
    end_ns: int
    status: str = "unset"
    status_message: str = ""
    attributes: dict[str, Any] = {}
    resource: dict[str, Any] = {}
    scope: str = ""
    events: list[SpanEvent] = []
    links: list[SpanLink] = []
    operation: str | None = None
    model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    prices: str | None = None

    @property
    def start(self) -> float:
        """The start, in Unix seconds."""
        return self.start_ns / 1e9

    @property
    def end(self) -> float:
        return self.end_ns / 1e9

    @property
    def duration(self) -> float:
        """Seconds from start to end."""
        return max(0, self.end_ns - self.start_ns) / 1e9


class Trace(msgspec.Struct, kw_only=True, frozen=True):
    """A trace's summary, kept up to date as its spans arrive; ``spans`` is filled only
    when one trace is read (``store.traces.get``), in start order."""

    project: str
    trace_id: str
    name: str  # its root span's, else its earliest span's
    start_ns: int
    end_ns: int
    n_spans: int
    n_errors: int
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    updated_at: float
    spans: list[Span] = []

    @property
    def start(self) -> float:
        return self.start_ns / 1e9

    @property
    def end(self) -> float:
        return self.end_ns / 1e9

    @property
    def latency(self) -> float:
        """Seconds from the first span's start to the last span's end."""
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    @property
    def status(self) -> str:
        return "error" if self.n_errors else "ok"


FEEDBACK_SOURCES: tuple[str, ...] = ("app", "human", "judge")


class TraceFeedbackDraft(msgspec.Struct, kw_only=True, frozen=True):
    """Feedback on a trace, or on one of its spans (``span_id``): a ``score``, a
    ``thumbs`` up (True) or down (False), a ``correction`` (what the answer should have
    been) and/or a ``comment``, under a ``name`` (``helpfulness``, ``correct``, ...).
    ``source`` says who gave it: the application (``app``), a reviewer (``human``) or an
    LLM judge (``judge``). ``id``, when given, makes the write idempotent: the same id
    twice is one feedback. The trace need not have arrived yet."""

    project: str
    trace_id: str
    span_id: str | None = None
    name: str = "feedback"
    source: str = "app"
    score: float | None = None
    thumbs: bool | None = None
    correction: Any = None
    comment: str | None = None
    data: dict[str, Any] = {}
    id: str | None = None


class TraceFeedback(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    project: str
    trace_id: str
    span_id: str | None
    name: str
    source: str
    score: float | None
    thumbs: bool | None
    correction: Any
    comment: str | None
    data: dict[str, Any]
    created_at: float
    created_by: str


# ---- derived from a run --------------------------------------------------------------


def summary_of(run: Run) -> dict[str, Any]:
    """Each metric's last value, overridden by what the run put in ``run.summary``."""
    merged: dict[str, Any] = {k: m.last for k, m in run.metrics.items()}
    merged.update(run.summary)
    return merged


def duration(run: Run) -> float:
    end = run.finished_at or run.heartbeat_at
    return max(0.0, end - run.created_at)


# ---- labels (docs/labeling.md) ---------------------------------------------------------

LABEL_KINDS = ("single", "multi", "rating", "text", "pairwise")
ITEM_KINDS = ("text", "image", "row", "output", "pair")
ROUTINGS = ("fixed", "adaptive")
FEEDBACK_KINDS = ("rating", "correction", "preference")


class LabelSchema(msgspec.Struct, kw_only=True, frozen=True):
    """What an annotator answers: one of ``choices`` (single), some of them (multi), a
    whole number from ``low`` to ``high`` (rating), text, or which of two outputs is
    better (pairwise: "A", "B", and "tie" when ``ties`` is set)."""

    kind: str
    choices: list[str] = []
    low: int = 1
    high: int = 5
    ties: bool = False
    instructions: str = ""


class LabelItemDraft(msgspec.Struct, kw_only=True, frozen=True):
    """One item to label. ``data`` by kind: text ``{"text"}``; image ``{"blob"}`` (a
    stored blob's digest) or ``{"url"}``; row ``{"row": {...}}``; output ``{"input",
    "output"}``; pair ``{"prompt", "a", "b"}``. ``gold``: the known answer of a gold item."""

    item_id: str
    kind: str = "text"
    data: dict[str, Any] = {}
    gold: Any = None


class LabelProjectDraft(msgspec.Struct, kw_only=True, frozen=True):
    """A label project to create: ``overlap`` labels per item (the most, under adaptive
    routing, which starts at ``min_labels`` and asks for more only while the consensus
    is below ``confidence``, and spends at most ``budget`` x overlap x items labels when
    a budget is set); gold items are mixed into queues at ``gold_rate``."""

    project: str
    name: str
    schema: LabelSchema
    items: list[LabelItemDraft]
    overlap: int = 3
    routing: str = "fixed"
    min_labels: int = 1
    confidence: float = 0.95
    gold_rate: float = 0.0
    source: str = ""
    source_version_id: str | None = None
    budget: float | None = None


class LabelProject(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    project: str
    name: str
    schema: LabelSchema
    overlap: int
    routing: str
    min_labels: int
    confidence: float
    gold_rate: float
    source: str
    source_version_id: str | None
    n_items: int
    n_gold: int
    created_at: float
    created_by: str
    budget: float | None = None


class LabelItem(msgspec.Struct, kw_only=True, frozen=True):
    """An item as its project's owners see it: the gold answer, how many labels it needs
    now (``needed``), how many slots are taken (claimed or done), and the least quality
    an annotator needs to take a label beyond ``min_labels`` (adaptive routing)."""

    project_id: str
    item_id: str
    position: int
    kind: str
    data: dict[str, Any]
    gold: Any
    needed: int
    taken: int
    min_quality: float | None


class LabelTask(msgspec.Struct, kw_only=True, frozen=True):
    """An item as an annotator sees it: never its gold answer, nor whether it is gold."""

    project_id: str
    item_id: str
    kind: str
    data: dict[str, Any]
    claimed_at: float


class Annotation(msgspec.Struct, kw_only=True, frozen=True):
    """One annotator's turn on one item: ``claimed``, then ``done`` (with a value) or
    ``skipped``; an abandoned claim becomes ``expired``."""

    project_id: str
    item_id: str
    annotator: str
    status: str
    value: Any
    comment: str | None
    claimed_at: float
    done_at: float | None


class AnnotationDraft(msgspec.Struct, kw_only=True, frozen=True):
    """A label collected elsewhere, imported into a project as done."""

    item_id: str
    annotator: str
    value: Any
    comment: str | None = None


class FeedbackDraft(msgspec.Struct, kw_only=True, frozen=True):
    """A rating, a correction or a preference on a served prediction (``request_id``) or
    an evaluation item (``evaluation_id`` and ``item_id``); ``label_project_id`` routes
    it into that project for review as a new item. ``model``: the served model whose
    request log holds ``request_id`` (found from the log when left out)."""

    project: str
    kind: str
    value: Any
    request_id: str | None = None
    evaluation_id: str | None = None
    item_id: str | None = None
    comment: str | None = None
    data: dict[str, Any] = {}
    label_project_id: str | None = None
    model: str | None = None


class Feedback(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    project: str
    kind: str
    value: Any
    request_id: str | None
    evaluation_id: str | None
    item_id: str | None
    comment: str | None
    data: dict[str, Any]
    label_project_id: str | None
    created_at: float
    created_by: str
    model: str | None = None


def review_item_id(feedback_id: str) -> str:
    """The id of the label item that feedback routed into a label project for review
    becomes: ``feedback-`` and the feedback's id (the store names it so; an import finds
    it by it)."""
    return f"feedback-{feedback_id}"


# ---- sweeps (docs/sweeps.md) ----------------------------------------------------------------

SWEEP_METHODS: tuple[str, ...] = ("grid", "random", "tpe")
TRIAL_STATES: tuple[str, ...] = ("running", "complete", "pruned", "failed")


class SweepDraft(msgspec.Struct, kw_only=True, frozen=True):
    """A sweep to create: its search space and settings as given (``spec``: parameters,
    metric, seed, early_terminate, run_cap), and how many trials it may hold at most
    (the grid's size or the run cap; None: unbounded)."""

    project: str
    name: str
    method: str
    spec: dict[str, Any]
    max_trials: int | None = None


class Sweep(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    project: str
    name: str
    method: str
    spec: dict[str, Any]
    max_trials: int | None
    created_at: float
    created_by: str


class TrialClaim(msgspec.Struct, kw_only=True, frozen=True):
    """An agent's claim on trial ``number`` of a sweep, with the parameters it sampled
    and the id the trial's run will have. Of two claims on one number, one wins."""

    number: int
    params: dict[str, Any]
    run_id: str
    worker: str


class TrialResult(msgspec.Struct, kw_only=True, frozen=True):
    state: str  # complete, pruned or failed
    value: float | None = None


class Trial(msgspec.Struct, kw_only=True, frozen=True):
    sweep_id: str
    number: int
    run_id: str
    params: dict[str, Any]
    state: str
    value: float | None
    worker: str
    started_at: float
    finished_at: float | None
