"""The tables, as SQLAlchemy Core metadata. Migrations in ``migrations/`` must match it
(a test compares them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

# Bump together with a new migration file.
SCHEMA_REVISION = "0023"

metadata = sa.MetaData()

Json = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY_LENGTH = 256

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("config", Json, nullable=False),
    sa.Column("summary", Json, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("group_name", sa.String(256)),
    sa.Column("job_type", sa.String(64)),
    sa.Column("host", Json, nullable=False),
    sa.Column("traceback", sa.Text),
    # when the store last applied a batch of the run, by its own clock (revision 0006):
    # liveness is judged from it, never from a client's clock
    sa.Column("seen_at", sa.Float),
    # soft deletion (revision 0007): hidden from lists until restored or purged by gc;
    # delete_artifacts says whether the purge takes the versions the run produced too
    sa.Column("deleted_at", sa.Float),
    sa.Column("delete_artifacts", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_runs_project_created", "project", "created_at"),
    # a project's shown runs counted and paged newest first from the index alone (0022)
    sa.Index("ix_runs_project_listed", "project", "deleted_at", "created_at", "id"),
)

# One row per (run, config path or summary key) with its value typed for filters, sorting
# and grouping (revision 0022; store/sql/cells.py keeps it current): ``num`` a number (a
# "inf" or "-inf" string counts as one), ``text`` a string, ``value`` the user's value as
# JSON (NULL where a summary cell holds a metric's last value).
run_cells = sa.Table(
    "run_cells",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("project", sa.String(128), nullable=False),
    sa.Column("num", sa.Float),
    sa.Column("text", sa.Text),
    sa.Column("value", sa.Text),
    sa.Index("ix_run_cells_project_key_num", "project", "kind", "key", "num"),
    sqlite_with_rowid=False,
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("tag", sa.String(256), primary_key=True),
    sa.Index("ix_run_tags_tag", "tag"),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("writer", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

metric_chunks = sa.Table(
    "metric_chunks",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("key", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("step_min", sa.BigInteger, nullable=False),
    sa.Column("step_max", sa.BigInteger, nullable=False),
    sa.Column("steps", sa.LargeBinary, nullable=False),
    sa.Column("times", sa.LargeBinary, nullable=False),
    sa.Column("values", sa.LargeBinary, nullable=False),
    sa.Index("ix_metric_chunks_run_key", "run_id", "key", "id"),
)

metric_summary = sa.Table(
    "metric_summary",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("last", sa.Float),
    sa.Column("min", sa.Float),
    sa.Column("max", sa.Float),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("last_step", sa.BigInteger, nullable=False),
    # chunks written since the last large one; past a limit they are merged (see store.py)
    sa.Column("open_chunks", sa.Integer, nullable=False),
)

log_lines = sa.Table(
    "log_lines",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("stream", sa.String(8), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index("ix_log_lines_run", "run_id", "id"),
)

# ---- auth (revision 0002) -------------------------------------------------------------

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("user_name", sa.String(64), sa.ForeignKey("users.name"), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("label", sa.String(128)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_used_at", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Index("ix_api_keys_user", "user_name"),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("user_name", sa.String(64), sa.ForeignKey("users.name"), primary_key=True),
    sa.Column("project", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
)

# ---- audit (revision 0003) ------------------------------------------------------------

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_target", "target"),
)


# ---- artifacts, lineage, registry (0004) ---------------------------------------------------

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored_at", sa.Float, nullable=False),
)

# Who holds each blob: an artifact version (its id) or a run ("run:<id>", a large git
# diff). A blob nobody holds is garbage once older than gc's grace period.
blob_refs = sa.Table(
    "blob_refs",
    metadata,
    sa.Column("owner", sa.String(40), primary_key=True),
    sa.Column("digest", sa.String(64), sa.ForeignKey("blobs.digest"), primary_key=True),
    sa.Index("ix_blob_refs_digest", "digest"),
)

# ---- rich values logged at a step (0007) -------------------------------------------------

# One row per (run, key, step): an image, table, histogram, plot, audio, text, html or
# video (or a list of one kind), its JSON body naming blobs by digest; the run holds
# those blobs in blob_refs ("run:<id>"), so gc keeps them.
media = sa.Table(
    "media",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("body", Json, nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("project", "name", name="uq_artifacts_project_name"),
)

artifact_versions = sa.Table(
    "artifact_versions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("artifact_id", sa.BigInteger, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("file_count", sa.Integer, nullable=False),
    sa.Column("manifest", sa.LargeBinary, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id")),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("description", sa.Text),
    sa.UniqueConstraint("artifact_id", "version", name="uq_artifact_versions_version"),
    sa.UniqueConstraint("artifact_id", "digest", name="uq_artifact_versions_digest"),
)

artifact_aliases = sa.Table(
    "artifact_aliases",
    metadata,
    sa.Column("artifact_id", sa.BigInteger, sa.ForeignKey("artifacts.id"), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version_id", sa.String(32), sa.ForeignKey("artifact_versions.id"), nullable=False),
)

lineage = sa.Table(
    "lineage",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("version_id", sa.String(32), sa.ForeignKey("artifact_versions.id"), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_lineage_version", "version_id"),
)

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("tags", Json, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("model", sa.String(128), sa.ForeignKey("registered_models.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column(
        "artifact_version_id",
        sa.String(32),
        sa.ForeignKey("artifact_versions.id"),
        nullable=False,
    ),
    sa.Column("description", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.UniqueConstraint("model", "artifact_version_id", name="uq_model_versions_artifact"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model", sa.String(128), sa.ForeignKey("registered_models.name"), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

alias_moves = sa.Table(
    "alias_moves",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), sa.ForeignKey("registered_models.name"), nullable=False),
    sa.Column("alias", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("previous", sa.Integer),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("evidence", sa.String(256)),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_alias_moves_model", "model", "id"),
)

# ---- traffic policies (0009) ---------------------------------------------------------------

traffic_policies = sa.Table(  # one row per change; a model's policy is its latest row
    "traffic_policies",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), sa.ForeignKey("registered_models.name"), nullable=False),
    sa.Column("split", Json, nullable=False),  # {} when cleared
    sa.Column("sticky", sa.String(256)),
    sa.Column("shadow", Json, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_traffic_policies_model", "model", "id"),
)

# ---- model servers (0019) ------------------------------------------------------------------

model_servers = sa.Table(  # one row per running `assay serve` worker, deleted on a clean stop
    "model_servers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("url", sa.String(512), nullable=False),
    sa.Column("host", sa.String(256), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("models", Json, nullable=False),  # [{name, uri, arms: {arm: version}}]
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),  # the store's clock
    sa.Column("interval", sa.Float, nullable=False),  # seconds between heartbeats
)

# ---- evaluations (0005) --------------------------------------------------------------------

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("model", sa.String(512), nullable=False),
    sa.Column("model_key", sa.String(128), nullable=False),
    sa.Column("model_version_id", sa.String(32), sa.ForeignKey("artifact_versions.id")),
    sa.Column("dataset", sa.String(1024), nullable=False),
    sa.Column("dataset_digest", sa.String(64), nullable=False),
    sa.Column("dataset_version_id", sa.String(32), sa.ForeignKey("artifact_versions.id")),
    sa.Column("baseline_id", sa.String(32), sa.ForeignKey("evaluations.id")),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id")),
    sa.Column("verdict", sa.String(16)),
    sa.Column("n_items", sa.Integer, nullable=False),
    sa.Column("n_errors", sa.Integer, nullable=False),
    sa.Column("report", Json, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Index("ix_evaluations_project", "project", "created_at"),
    sa.Index("ix_evaluations_model_version", "model_version_id"),
    sa.Index("ix_evaluations_dataset_version", "dataset_version_id"),
)

eval_items = sa.Table(
    "eval_items",
    metadata,
    sa.Column("evaluation_id", sa.String(32), sa.ForeignKey("evaluations.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.String(256), nullable=False),
    sa.Column("error", sa.Boolean, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),  # the EvalItem, msgpack
)

# ---- the request log of served models (0007, 0021) -------------------------------------------

request_log = sa.Table(
    "request_log",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("request_id", sa.String(256), primary_key=True),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("arm", sa.String(64)),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),  # input rows (0021)
    sa.Column("inputs", sa.LargeBinary, nullable=False),  # {name: [value per row]}, msgpack
    sa.Column("outputs", sa.LargeBinary, nullable=False),  # {name: [value per row]}, msgpack
    sa.Index("ix_request_log_model_time", "model", "time"),
)

request_labels = sa.Table(  # labels joined to logged requests (0021)
    "request_labels",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("request_id", sa.String(256), primary_key=True),
    sa.Column("row_index", sa.Integer, primary_key=True, autoincrement=False),  # -1: all rows
    sa.Column("label", sa.LargeBinary, nullable=False),  # msgpack
    sa.Column("labelled_at", sa.Float, nullable=False),
)

request_batches = sa.Table(
    "request_batches",
    metadata,
    sa.Column("writer", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

# ---- labels (0008) ---------------------------------------------------------------------

label_projects = sa.Table(
    "label_projects",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("schema", Json, nullable=False),
    sa.Column("overlap", sa.Integer, nullable=False),
    sa.Column("routing", sa.String(16), nullable=False),
    sa.Column("min_labels", sa.Integer, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("gold_rate", sa.Float, nullable=False),
    sa.Column("source", sa.String(1024), nullable=False),
    sa.Column("source_version_id", sa.String(32), sa.ForeignKey("artifact_versions.id")),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("budget", sa.Float),  # 0016: share of overlap x items adaptive routing spends
    sa.UniqueConstraint("project", "name", name="uq_label_projects_name"),
)

label_items = sa.Table(
    "label_items",
    metadata,
    sa.Column("project_id", sa.String(32), sa.ForeignKey("label_projects.id"), primary_key=True),
    sa.Column("item_id", sa.String(256), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("gold", Json),
    sa.Column("is_gold", sa.Boolean, nullable=False),
    sa.Column("needed", sa.Integer, nullable=False),
    sa.Column("taken", sa.Integer, nullable=False),
    sa.Column("min_quality", sa.Float),
    sa.Index("ix_label_items_queue", "project_id", "is_gold", "taken"),
)

label_annotations = sa.Table(
    "label_annotations",
    metadata,
    sa.Column("project_id", sa.String(32), sa.ForeignKey("label_projects.id"), primary_key=True),
    sa.Column("item_id", sa.String(256), primary_key=True),
    sa.Column("annotator", sa.String(128), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("value", Json),
    sa.Column("comment", sa.Text),
    sa.Column("claimed_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    sa.Index("ix_label_annotations_open", "project_id", "annotator", "status"),
)

label_annotators = sa.Table(
    "label_annotators",
    metadata,
    sa.Column("project_id", sa.String(32), sa.ForeignKey("label_projects.id"), primary_key=True),
    sa.Column("annotator", sa.String(128), primary_key=True),
    sa.Column("quality", sa.Float, nullable=False),
)

label_annotator_kinds = sa.Table(  # 0016: quality per kind of item (labeling/routing.py)
    "label_annotator_kinds",
    metadata,
    sa.Column("project_id", sa.String(32), sa.ForeignKey("label_projects.id"), primary_key=True),
    sa.Column("annotator", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(256), primary_key=True),
    sa.Column("quality", sa.Float, nullable=False),
)

label_feedback = sa.Table(
    "label_feedback",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", Json),
    sa.Column("request_id", sa.String(128)),
    sa.Column("evaluation_id", sa.String(32), sa.ForeignKey("evaluations.id")),
    sa.Column("item_id", sa.String(256)),
    sa.Column("comment", sa.Text),
    sa.Column("data", Json, nullable=False),
    sa.Column("label_project_id", sa.String(32), sa.ForeignKey("label_projects.id")),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("model", sa.String(128)),  # 0016: the served model of request_id
    sa.Index("ix_label_feedback_request", "request_id"),
    sa.Index("ix_label_feedback_project", "project", "created_at"),
    sa.Index("ix_label_feedback_model", "model", "request_id"),
)


# ---- sweeps (0011) ---------------------------------------------------------------------------

sweeps = sa.Table(
    "sweeps",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("spec", Json, nullable=False),
    sa.Column("max_trials", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Index("ix_sweeps_project", "project", "created_at"),
)

# One row per trial; (sweep, number) is the claim that keeps two agents off one trial.
# run_id names the run the trial's process creates (no foreign key: it comes later).
sweep_trials = sa.Table(
    "sweep_trials",
    metadata,
    sa.Column("sweep_id", sa.String(32), sa.ForeignKey("sweeps.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("params", Json, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("worker", sa.String(64), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
)


# ---- traces (0012) -------------------------------------------------------------------------

# One row per trace: its summary, to which each write adds its new spans.
traces = sa.Table(
    "traces",
    metadata,
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), primary_key=True),
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(1024), nullable=False),
    sa.Column("start_ns", sa.BigInteger, nullable=False),
    sa.Column("end_ns", sa.BigInteger, nullable=False),
    sa.Column("n_spans", sa.Integer, nullable=False),
    sa.Column("n_errors", sa.Integer, nullable=False),
    sa.Column("input_tokens", sa.BigInteger),
    sa.Column("output_tokens", sa.BigInteger),
    sa.Column("cost", sa.Float),
    sa.Column("root_start_ns", sa.BigInteger),  # its root span's start, once it has one
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_traces_project_start", "project", "start_ns"),
)

# One row per span: the columns a summary or a filter reads, and the whole span (msgpack).
# (project, trace_id, span_id) is the key: a span sent twice is stored once.
spans = sa.Table(
    "spans",
    metadata,
    sa.Column("project", sa.String(128), primary_key=True),
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("span_id", sa.String(16), primary_key=True),
    sa.Column("parent_id", sa.String(16)),
    sa.Column("name", sa.String(1024), nullable=False),
    sa.Column("start_ns", sa.BigInteger, nullable=False),
    sa.Column("end_ns", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("model", sa.String(256)),
    sa.Column("input_tokens", sa.BigInteger),
    sa.Column("output_tokens", sa.BigInteger),
    sa.Column("cost", sa.Float),
    sa.Column("body", sa.LargeBinary, nullable=False),
)


# Feedback on a trace or one of its spans (0020): from the application, a reviewer or a
# judge. No foreign key to ``traces``: feedback may arrive before the trace's spans.
trace_feedback = sa.Table(
    "trace_feedback",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("trace_id", sa.String(32), nullable=False),
    sa.Column("span_id", sa.String(16)),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("score", sa.Float),
    sa.Column("thumbs", sa.Boolean),
    sa.Column("correction", Json),
    sa.Column("comment", sa.Text),
    sa.Column("data", Json, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Index("ix_trace_feedback_trace", "project", "trace_id"),
    sa.Index("ix_trace_feedback_project", "project", "created_at"),
)

# ---- monitor alerts (0013) -----------------------------------------------------------------

monitor_alerts = sa.Table(
    "monitor_alerts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("monitor_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("rule", sa.String(256), nullable=False),
    sa.Column("opened_step", sa.BigInteger, nullable=False),
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("resolved_step", sa.BigInteger),
    sa.Column("resolved_at", sa.Float),
    sa.Column("resolved_value", sa.Float),
    sa.Column("detail", Json, nullable=False),
    sa.Column("deliveries", Json, nullable=False),
    sa.UniqueConstraint("monitor_id", "rule", "opened_step", name="uq_monitor_alerts_incident"),
    sa.Index("ix_monitor_alerts_project", "project", "opened_at"),
)

# ---- prompt labels (0018) ------------------------------------------------------------------

prompt_labels = sa.Table(  # one row per move; a label's target is its latest row
    "prompt_labels",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
    sa.Column("prompt", sa.String(128), nullable=False),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("split", Json, nullable=False),  # {} when removed
    sa.Column("previous", Json, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("evidence", sa.String(256)),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_prompt_labels_prompt", "project", "prompt", "label", "id"),
)
