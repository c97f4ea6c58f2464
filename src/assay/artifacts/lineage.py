"""Lineage: the DAG of runs and artifact versions. Data flows version -(used)-> run
-(produced)-> version; "up" walks towards where something came from, "down" towards
what was made from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from assay.errors import InvalidInput, NotFound
from assay.records import ArtifactVersion, LineageEdge, Run
from assay.store.base import Store

Direction = Literal["up", "down", "both"]
MAX_DEPTH = 50


@dataclass(frozen=True)
class Node:
    id: str  # "run:<id>" or "artifact:<version id>"
    kind: str  # "run" | "artifact"
    label: str
    depth: int  # hops from the start; negative upstream, positive downstream
    run: Run | None = None
    artifact: ArtifactVersion | None = None


@dataclass(frozen=True)
class Edge:
    source: str  # node ids, in the direction data flows
    target: str
    kind: str  # "used" | "produced"


@dataclass
class Lineage:
    start: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def layers(self) -> list[list[Node]]:
        """Nodes grouped by depth, upstream first: what a layered drawing needs."""
        depths = sorted({n.depth for n in self.nodes.values()})
        return [
            sorted((n for n in self.nodes.values() if n.depth == d), key=lambda n: n.label)
            for d in depths
        ]


def _flow(edge: LineageEdge) -> Edge:
    run, art = f"run:{edge.run_id}", f"artifact:{edge.version_id}"
    return Edge(art, run, "used") if edge.kind == "used" else Edge(run, art, "produced")


def lineage(
    store: Store, start: ArtifactVersion | Run, direction: Direction = "both", depth: int = 3
) -> Lineage:
    if direction not in ("up", "down", "both"):
        raise InvalidInput(f"direction {direction!r} must be 'up', 'down' or 'both'")
    if not isinstance(depth, int) or not 0 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth {depth!r} must be an integer from 0 to {MAX_DEPTH}")
    start_id = f"run:{start.id}" if isinstance(start, Run) else f"artifact:{start.id}"
    found: dict[str, int] = {start_id: 0}
    edges: dict[tuple[str, str, str], Edge] = {}
    for sign, wanted in ((-1, "up"), (1, "down")):
        if direction not in (wanted, "both"):
            continue
        frontier = {start_id}
        for hop in range(1, depth + 1):
            flows = [_flow(e) for e in _edges_of(store, frontier)]
            nxt = set()
            for flow in flows:
                near, far = (flow.target, flow.source) if sign < 0 else (flow.source, flow.target)
                if near not in frontier:
                    continue
                edges[(flow.source, flow.target, flow.kind)] = flow
                if far not in found:
                    found[far] = sign * hop
                    nxt.add(far)
            if not nxt:
                break
            frontier = nxt
    graph = Lineage(start_id, edges=sorted(edges.values(), key=lambda e: (e.source, e.target)))
    _hydrate(store, graph, found)
    return graph


def _edges_of(store: Store, nodes: set[str]) -> list[LineageEdge]:
    runs = [n.split(":", 1)[1] for n in nodes if n.startswith("run:")]
    versions = [n.split(":", 1)[1] for n in nodes if n.startswith("artifact:")]
    return store.artifacts.lineage_edges(runs, versions)


def _hydrate(store: Store, graph: Lineage, found: dict[str, int]) -> None:
    version_ids = [n.split(":", 1)[1] for n in found if n.startswith("artifact:")]
    for version in store.artifacts.versions_by_id(version_ids):
        node_id = f"artifact:{version.id}"
        graph.nodes[node_id] = Node(
            node_id,
            "artifact",
            f"{version.name}:v{version.version}",
            found[node_id],
            artifact=version,
        )
    for node_id, depth in found.items():
        if not node_id.startswith("run:"):
            continue
        try:
            run = store.runs.get(node_id[4:])
        except NotFound:
            continue
        graph.nodes[node_id] = Node(node_id, "run", run.name, depth, run=run)
