"""MLflow's tracking REST API on an Assay server (docs/mlflow.md): an MLflow script with
``MLFLOW_TRACKING_URI`` set to the server works unchanged. One module per MLflow area
(experiments, runs, metrics, models, registry, artifacts); ``convert.py`` says how
MLflow's records map onto Assay's, ``protocol.py`` speaks MLflow's errors and auth."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from assay.server.mlflow import artifacts, experiments, metrics, models, registry, runs
from assay.server.mlflow.protocol import Caller, MlflowError, MlflowRoute, caller

# MLflow's client calls /api/...; its web UI the same routes under /ajax-api/...
TRACKING_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
UNKNOWN_PREFIXES = ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow")

unknown = APIRouter(route_class=MlflowRoute)


@unknown.api_route("/{rest:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
def unknown_route(rest: str, who: Caller) -> None:
    """Any other MLflow route: MLflow's ENDPOINT_NOT_FOUND (its client probes some)."""
    raise MlflowError("ENDPOINT_NOT_FOUND", f"MLflow endpoint {rest!r} is not served by Assay", 404)


def _at(prefix: str, routers: Sequence[APIRouter]) -> APIRouter:
    """The routers' routes under ``prefix``, flat (each route holds its whole path)."""
    flat = APIRouter(prefix=prefix, route_class=MlflowRoute)
    for router in routers:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            flat.add_api_route(
                route.path,
                route.endpoint,
                methods=sorted(route.methods or ()),
                name=route.name,
                include_in_schema=False,
            )
    return flat


def mount(app: FastAPI) -> None:
    areas = [a.router for a in (experiments, runs, metrics, models, registry)]
    for prefix in TRACKING_PREFIXES:
        app.include_router(_at(prefix, [*areas, unknown]))
    for prefix in UNKNOWN_PREFIXES:
        app.include_router(_at(prefix, [unknown]))
    for prefix in ARTIFACT_PREFIXES:
        app.include_router(_at(prefix, [artifacts.router]))


__all__ = ["caller", "mount"]
