"""``/openapi.json`` and ``/docs``: the routes and, per model, its inputs from the signature."""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from assay._version import __version__
from assay.serving import http
from assay.serving.loader import LoadedModel
from assay.serving.state import state_of

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}


def _infer_schema(model: LoadedModel) -> dict[str, Any]:
    tensors = [
        {
            "type": "object",
            "required": ["name", "shape", "datatype", "data"],
            "properties": {
                "name": {"const": spec.name},
                "datatype": {"const": spec.datatype},
                "shape": {"type": "array", "items": {"type": "integer"}},
                "data": {"type": "array"},
            },
            "description": f"{spec.datatype}, shape {list(spec.shape)} (-1: any size)",
        }
        for spec in model.signature.inputs
    ]
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "inputs": {"type": "array", "items": {"anyOf": tensors}},
        },
    }


def _operation(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "OK"},
            "400": {
                "description": "Bad input",
                "content": {"application/json": {"schema": _ERROR}},
            },
            "404": {"description": "Unknown model or version"},
            "503": {"description": "Not ready, or overloaded (see Retry-After)"},
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def openapi(models: list[LoadedModel]) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/v2/health/live": {"get": _operation("Live")},
        "/v2/health/ready": {"get": _operation("Ready: every model loaded and warmed up")},
        "/v2": {"get": _operation("Server metadata")},
        "/ping": {"get": _operation("MLflow: ready")},
        "/invocations": {
            "post": _operation("MLflow scoring protocol (first model)", {"type": "object"})
        },
        "/metrics": {"get": _operation("Prometheus metrics")},
    }
    for model in models:
        base = f"/v2/models/{model.name}"
        paths[base] = {"get": _operation(f"Metadata of {model.name} ({model.uri})")}
        paths[f"{base}/ready"] = {"get": _operation(f"{model.name} ready")}
        paths[f"{base}/infer"] = {
            "post": _operation(f"Predict with {model.name}", _infer_schema(model))
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Assay model server", "version": __version__},
        "paths": paths,
    }


async def openapi_route(request: Request) -> Response:
    state = state_of(request)
    return http.json(openapi([s.current for s in state.models.values()]))


async def docs_route(request: Request) -> Response:
    state = state_of(request)
    items = []
    for served in state.models.values():
        model = served.current
        inputs = ", ".join(
            f"{s.name} ({s.datatype} {list(s.shape)})" for s in model.signature.inputs
        )
        items.append(
            f"<li><b>{html.escape(model.name)}</b> version {html.escape(model.version)} "
            f"({html.escape(model.uri)}): POST /v2/models/{html.escape(model.name)}/infer "
            f"with {html.escape(inputs)}</li>"
        )
    page = (
        "<!doctype html><title>Assay model server</title><h1>Assay model server</h1>"
        f"<ul>{''.join(items)}</ul><p>The full description: <a href='/openapi.json'>"
        "/openapi.json</a>; metrics at <a href='/metrics'>/metrics</a>.</p>"
    )
    return HTMLResponse(page)


def routes() -> list[Route]:
    return [Route("/openapi.json", openapi_route), Route("/docs", docs_route)]
