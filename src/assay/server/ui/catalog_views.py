"""What the artifact, lineage and registry pages show: a layered drawing of a lineage
DAG, and file previews."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from assay.artifacts.lineage import Lineage, Node

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 190, 44, 80, 22, 16
PREVIEW_BYTES = 256 * 1024
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Box:
    node: Node
    x: int
    y: int
    href: str


@dataclass(frozen=True)
class Link:
    path: str  # an SVG path from the source box's right edge to the target's left edge
    kind: str


@dataclass(frozen=True)
class Drawing:
    boxes: list[Box]
    links: list[Link]
    width: int
    height: int


def href_of(node: Node) -> str:
    if node.run is not None:
        return f"/runs/{node.run.id}"
    assert node.artifact is not None
    a = node.artifact
    return f"/projects/{a.project}/artifacts/{a.name}?v={a.version}"


def layout(graph: Lineage) -> Drawing:
    """Columns by depth (sources on the left); within a column, nodes ordered by the mean
    row of their neighbours in the previous column (one barycentre pass), which keeps
    most edges from crossing."""
    layers = graph.layers()
    row: dict[str, float] = {}
    neighbours: dict[str, list[str]] = {}
    for e in graph.edges:
        neighbours.setdefault(e.target, []).append(e.source)
        neighbours.setdefault(e.source, []).append(e.target)
    ordered: list[list[Node]] = []
    for layer in layers:

        def weight(n: Node) -> tuple[float, str]:
            seen = [row[m] for m in neighbours.get(n.id, []) if m in row]
            return (sum(seen) / len(seen) if seen else 0.0, n.label)

        layer = sorted(layer, key=weight)
        for i, n in enumerate(layer):
            row[n.id] = i
        ordered.append(layer)
    boxes: dict[str, Box] = {}
    for col, layer in enumerate(ordered):
        for i, n in enumerate(layer):
            boxes[n.id] = Box(
                n, PAD + col * (NODE_W + GAP_X), PAD + i * (NODE_H + GAP_Y), href_of(n)
            )
    links = []
    for e in graph.edges:
        a, b = boxes.get(e.source), boxes.get(e.target)
        if a is None or b is None:
            continue
        x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
        x2, y2 = b.x, b.y + NODE_H // 2
        if x2 <= x1:  # an edge back within the same column: arc below
            path = f"M{x1},{y1} C{x1 + 40},{y1 + 60} {x2 - 40},{y2 + 60} {x2},{y2}"
        else:
            mid = (x1 + x2) // 2
            path = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
        links.append(Link(path, e.kind))
    tallest = max((len(layer) for layer in ordered), default=1)
    width = 2 * PAD + len(ordered) * NODE_W + max(0, len(ordered) - 1) * GAP_X
    height = 2 * PAD + tallest * NODE_H + (tallest - 1) * GAP_Y + 40
    return Drawing(list(boxes.values()), links, width, height)


@dataclass(frozen=True)
class Preview:
    kind: str  # "text" | "json" | "table" | "image" | "none"
    text: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    note: str = ""


def preview(path: str, data: bytes, truncated: bool) -> Preview:
    """A readable glimpse of a file: images inline, JSON pretty, CSV/Parquet as a table
    of the first rows, other text as text."""
    lower = path.lower()
    suffix = lower[lower.rfind(".") :] if "." in lower else ""
    if suffix in IMAGE_TYPES:
        return Preview("image")
    if suffix == ".parquet":
        return _parquet(data, truncated)
    if b"\x00" in data[:4096]:
        return Preview("none", note="binary file")
    text = data.decode("utf-8", errors="replace")
    cut = " (first 256 KiB)" if truncated else ""
    if suffix == ".json" and not truncated:
        try:
            return Preview("json", json.dumps(json.loads(text), indent=2)[:PREVIEW_BYTES])
        except ValueError:
            pass
    if suffix in (".csv", ".tsv"):
        reader = csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        rows = [tuple(r) for _, r in zip(range(21), reader, strict=False)]
        if rows:
            return Preview("table", header=rows[0], rows=tuple(rows[1:]), note="first 20 rows")
    return Preview("text", text, note=cut.strip(" ()"))


def _parquet(data: bytes, truncated: bool) -> Preview:
    if truncated:
        return Preview("none", note="Parquet file too large to preview here; download it")
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return Preview("none", note="install pyarrow to preview Parquet")
    table = pq.read_table(io.BytesIO(data)).slice(0, 20)
    rows = tuple(zip(*(col.to_pylist() for col in table.columns), strict=True))
    return Preview("table", header=tuple(table.column_names), rows=rows, note="first 20 rows")


@dataclass(frozen=True, kw_only=True)
class TrafficArm:
    """One row of a model page's traffic table."""

    arm: str  # "production", or a version number
    version: int | None  # the version the arm names now (None: an alias no longer set)
    share: float  # percent of requests (answered, or copied for a shadow)
    shadow: bool


def traffic_arms(policy: Any, aliases: dict[str, int]) -> list[TrafficArm]:
    """The arms of a traffic policy with the versions they name now: split, then shadow."""
    if policy is None:
        return []

    def version(arm: str) -> int | None:
        return int(arm) if arm.isdigit() else aliases.get(arm)

    rows = [
        TrafficArm(arm=a, version=version(a), share=w, shadow=False)
        for a, w in policy.split.items()
    ]
    rows += [
        TrafficArm(arm=a, version=version(a), share=w, shadow=True)
        for a, w in policy.shadow.items()
    ]
    return rows


def shares(values: dict[str, float]) -> str:
    """``production 90%, v3 10%`` (a history row)."""
    return ", ".join(
        f"{'v' if arm.isdigit() else ''}{arm} {share:g}%" for arm, share in values.items()
    )


STATS_HOURS = 24
STATS_LIMIT = 20_000  # newest request-log entries (requests) a model page reads


@dataclass(frozen=True, kw_only=True)
class ServedStats:
    """Requests one version answered through one arm, from the request log."""

    version: str
    arm: str | None  # the traffic policy's arm that chose it (None: no policy)
    requests: int
    rows: int  # input rows of those requests (a refused one counts one)
    errors: int  # requests answered with a status other than 200
    p50_ms: float
    p95_ms: float
    hourly: tuple[int, ...]  # requests per hour, oldest first
    peak: int  # the largest hourly count of the table (bars are drawn against it)


def serving_stats(entries: list[Any], now: float, hours: int = STATS_HOURS) -> list[ServedStats]:
    """Requests, rows, errors, latency and hourly requests per (version, arm) of
    request-log entries (one per request)."""
    import numpy as np

    if not entries:
        return []
    start = now - hours * 3600
    keys = [(e.version, e.arm) for e in entries]
    number = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    groups = list(number)
    group = np.array([number[k] for k in keys], dtype="int64")
    rows = np.array([max(e.rows, 1) for e in entries], dtype="int64")
    failed = np.array([e.status != 200 for e in entries], dtype="int64")
    latency = np.array([e.latency_ms for e in entries], dtype="float64")
    hour = ((np.array([e.time for e in entries], dtype="float64") - start) // 3600).astype("int64")
    hourly = np.zeros((len(groups), hours), dtype="int64")
    np.add.at(hourly, (group, np.clip(hour, 0, hours - 1)), 1)
    requests = np.bincount(group, minlength=len(groups))
    peak = int(hourly.max())
    table = []
    for g in sorted(range(len(groups)), key=lambda g: (-requests[g], groups[g][0])):
        mine = group == g
        version, arm = groups[g]
        table.append(
            ServedStats(
                version=version,
                arm=arm,
                requests=int(requests[g]),
                rows=int(rows[mine].sum()),
                errors=int(failed[mine].sum()),
                p50_ms=float(np.percentile(latency[mine], 50)),
                p95_ms=float(np.percentile(latency[mine], 95)),
                hourly=tuple(int(c) for c in hourly[g]),
                peak=peak,
            )
        )
    return table
