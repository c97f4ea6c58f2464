"""The Open Inference Protocol (KServe V2) over REST, as KServe, Triton and MLServer speak it.

``GET /v2/health/live``, ``/v2/health/ready``, ``/v2``; ``GET /v2/models/{name}[/versions/
{v}]`` (metadata) and ``.../ready``; ``POST .../infer`` with named tensors (``name``,
``shape``, ``datatype``, row-major ``data``). Errors are ``{"error": "..."}``: 400 for a bad
request, 404 for an unknown model or version, 503 when not ready or overloaded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from assay._version import __version__
from assay.errors import InvalidInput, NotFound
from assay.serving import http
from assay.serving.batching import Answer, Busy
from assay.serving.loader import LoadedModel
from assay.serving.requestlog import DEFAULT_ARM, HEADER, new_request_id
from assay.serving.signature import datatype_of
from assay.serving.state import Served, ServingState, state_of
from assay.serving.tensors import Rows, conform, decode_tensor, row_count

log = logging.getLogger("assay.serving")


async def live(request: Request) -> Response:
    return http.json({"live": True})


async def ready(request: Request) -> Response:
    state = getattr(request.app.state, "serving", None)
    if state is None or not state.ready:
        return http.error(503, "the server is loading its models", retry_after=1)
    return http.json({"ready": True})


async def server_metadata(request: Request) -> Response:
    return http.json({"name": "assay", "version": __version__, "extensions": []})


def _lookup(request: Request) -> tuple[ServingState, Served]:
    state = state_of(request)
    version = request.path_params.get("version")
    return state, state.find(request.path_params["name"], version)


def metadata(model: LoadedModel, served: Served) -> dict[str, Any]:
    outputs = list(model.signature.to_json()["outputs"]) or [
        {"name": name, "datatype": "FP64", "shape": [-1]} for name in model.predictor.outputs
    ]
    body: dict[str, Any] = {
        "name": model.name,
        "versions": [model.version],
        "platform": model.platform,
        "inputs": [s.to_json() for s in model.signature.inputs],
        "outputs": outputs,
        "parameters": {"uri": model.uri, "served_as": served.slot.target.uri},
    }
    if served.slot.error is not None:
        body["parameters"]["load_error"] = served.slot.error
    return body


async def model_metadata(request: Request) -> Response:
    try:
        _, served = _lookup(request)
    except NotFound as exc:
        return http.error(404, str(exc))
    return http.json(metadata(served.current, served))


async def model_ready(request: Request) -> Response:
    try:
        state, served = _lookup(request)
    except NotFound as exc:
        return http.error(404, str(exc))
    if not state.ready:
        return http.error(503, "the server is loading its models", retry_after=1)
    return http.json({"name": served.current.name, "ready": True})


def decode_request(payload: Any, model: LoadedModel) -> tuple[Rows, list[str], str | None]:
    """The inputs (checked against the signature), the outputs asked for, the request id."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise InvalidInput('the body must be a JSON object with "inputs": [tensors]')
    given: dict[str, np.ndarray] = {}
    for raw in payload["inputs"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InvalidInput("each input needs a name, shape, datatype and data")
        if "data" not in raw or "datatype" not in raw or "shape" not in raw:
            raise InvalidInput(f"input {raw['name']!r} needs a shape, datatype and data")
        if raw["name"] in given:
            raise InvalidInput(f"input {raw['name']!r} is given twice")
        given[raw["name"]] = decode_tensor(raw["name"], raw["datatype"], raw["shape"], raw["data"])
    if not given:
        raise InvalidInput('"inputs" is empty')
    rows = conform(model.signature, given)
    wanted = _wanted(payload.get("outputs"), model)
    rid = payload.get("id")
    return rows, wanted, rid if isinstance(rid, str) else None


def _wanted(raw: Any, model: LoadedModel) -> list[str]:
    if not raw:
        return []
    names = [o.get("name") for o in raw if isinstance(o, dict)] if isinstance(raw, list) else []
    known = model.predictor.outputs
    for name in names:
        if name not in known:
            raise InvalidInput(f"unknown output {name!r}: this model gives {', '.join(known)}")
    return [str(n) for n in names]


def encode_answer(answer: Answer, wanted: list[str], rid: str | None) -> dict[str, Any]:
    names = wanted or list(answer.model.predictor.outputs[:1])
    return {
        "model_name": answer.model.name,
        "model_version": answer.model.version,
        "id": rid or new_request_id(),
        "outputs": [_tensor(name, answer.outputs[name]) for name in names],
    }


def _tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    datatype = datatype_of(array)
    data = array.ravel().tolist()
    if datatype == "BYTES":
        data = [x if isinstance(x, str | int | float | bool) else str(x) for x in data]
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


async def infer(request: Request) -> Response:
    started = time.perf_counter()
    try:
        state, served = _lookup(request)
    except NotFound as exc:
        return http.error(404, str(exc))
    model = served.current
    metrics = state.metrics
    rid = request.headers.get(HEADER) or None
    try:
        payload = http.decode(await http.body(request))
        rows, wanted, given = decode_request(payload, model)
    except (InvalidInput, ValueError) as exc:
        status = http.status_of(exc)
        seconds = time.perf_counter() - started
        metrics.answered(model.name, model.version, status, seconds)
        rid = rid or new_request_id()
        logged(state, served, model.version, status=status, seconds=seconds, request_id=rid)
        return _with_id(http.error(status, _message(exc)), rid)
    rid = given or rid or new_request_id()
    parsed = time.perf_counter()
    metrics.stage(model.name, "parse", parsed - started)
    return await answer(
        state=state,
        served=served,
        model=model,
        rows=rows,
        wanted=wanted,
        encode=lambda a: encode_answer(a, wanted, rid),
        started=started,
        request_id=rid,
    )


async def answer(
    state: ServingState,
    served: Served,
    model: LoadedModel,
    rows: Rows,
    wanted: list[str],
    *,
    encode: Callable[[Answer], Any],
    started: float,
    error: Callable[..., Response] = http.error,
    request_id: str | None = None,
    arm: str | None = DEFAULT_ARM,
) -> Response:
    """Queue the rows (checked against ``model``), await their outputs, encode them; the
    status in the metrics, the request in the request log (as ``request_id``, returned in
    the ``x-request-id`` header; a new id when None)."""
    metrics, name = state.metrics, served.slot.target.name
    rid = request_id or new_request_id()
    count = row_count(rows)
    try:
        result = await served.batcher.submit(rows, count, wanted, model)
    except (Busy, InvalidInput) as exc:
        status = 503 if isinstance(exc, Busy) else 400
        seconds = time.perf_counter() - started
        metrics.answered(name, model.version, status, seconds)
        logged(
            state,
            served,
            model.version,
            status=status,
            seconds=seconds,
            request_id=rid,
            rows=rows,
            count=count,
            arm=arm,
        )
        if isinstance(exc, Busy):
            return _with_id(error(503, str(exc), retry_after=exc.retry_after), rid)
        return _with_id(error(400, str(exc)), rid)
    before = time.perf_counter()
    response = http.json(encode(result))
    done = time.perf_counter()
    metrics.stage(name, "encode", done - before)
    metrics.answered(name, result.model.version, 200, done - started)
    logged(
        state,
        served,
        result.model.version,
        status=200,
        seconds=done - started,
        request_id=rid,
        rows=rows,
        count=count,
        outputs=result.outputs,
        arm=arm,
    )
    return _with_id(response, rid)


def logged(
    state: ServingState,
    served: Served,
    version: str,
    *,
    status: int,
    seconds: float,
    request_id: str,
    rows: Rows | None = None,
    count: int = 0,
    outputs: Mapping[str, np.ndarray] | None = None,
    arm: str | None = DEFAULT_ARM,
) -> None:
    """Into the request log, when the server keeps one (``--log-sample`` above 0)."""
    if state.requests is not None:
        state.requests.record(
            served.slot.target.name,
            version,
            status=status,
            seconds=seconds,
            request_id=request_id,
            rows=rows,
            count=count,
            outputs=outputs,
            arm=arm,
        )


def _with_id(response: Response, request_id: str) -> Response:
    response.headers[HEADER] = request_id
    return response


def _message(exc: Exception) -> str:
    if isinstance(exc, InvalidInput):
        return str(exc)
    return f"the body is not valid JSON: {exc}"


def routes() -> list[Route]:
    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    return [  # infer first: routes are tried in order
        Route(f"{model}/infer", infer, methods=["POST"]),
        Route(f"{versioned}/infer", infer, methods=["POST"]),
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        Route(model, model_metadata),
        Route(versioned, model_metadata),
        Route(f"{model}/ready", model_ready),
        Route(f"{versioned}/ready", model_ready),
    ]
