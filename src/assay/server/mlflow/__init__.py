"""MLflow's tracking REST API on an Assay server (docs/mlflow.md): an MLflow script with
``MLFLOW_TRACKING_URI`` set to the server works unchanged. One module per MLflow area
(experiments, runs, metrics, models, registry, artifacts); ``convert.py`` says how
MLflow's records map onto Assay's, ``protocol.py`` speaks MLflow's errors and auth."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from assay.server.mlflow import artifacts, experiments, metrics, models, registry, runs
from assay.server.mlflow.protocol import MlflowError, MlflowRoute, caller

TRACKING_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
UNKNOWN_PREFIXES = ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow")
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")


def _unknown() -> APIRouter:
    """Any other MLflow route answers MLflow's ENDPOINT_NOT_FOUND-style error, not a page."""
    router = APIRouter(route_class=MlflowRoute)

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    def unknown(rest: str) -> None:
        raise MlflowError("ENDPOINT_NOT_FOUND", f"MLflow endpoint {rest!r} is not served by Assay", 404)

    return router


def mount(app: FastAPI) -> None:
    tracking = APIRouter()
    for area in (experiments, runs, metrics, models, registry):
        tracking.include_router(area.router)
    tracking.include_router(_unknown())
    for prefix in TRACKING_PREFIXES:
        app.include_router(tracking, prefix=prefix, include_in_schema=False)
    for prefix in UNKNOWN_PREFIXES:
        app.include_router(_unknown(), prefix=prefix, include_in_schema=False)
    for prefix in ARTIFACT_PREFIXES:
        app.include_router(artifacts.router, prefix=prefix, include_in_schema=False)


__all__ = ["caller", "mount"]
