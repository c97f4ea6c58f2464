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
from assay.serving.traffic import Arm, Routing, without_key

log = logging.getLogger("assay.serving")
ARM_HEADER = "x-assay-arm"  # the traffic policy's arm that answered
VERSION_HEADER = "x-assay-model-version"  # the registry version that answered


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
    versions = sorted({a.current.version for a in served.arms.values()}, key=_number)
    body: dict[str, Any] = {
        "name": model.name,
        "versions": [model.version, *(v for v in versions if v != model.version)],
        "platform": model.platform,
        "inputs": [s.to_json() for s in model.signature.inputs],
        "outputs": outputs,
        "parameters": {"uri": model.uri, "served_as": served.slot.target.uri},
    }
    if served.slot.error is not None:
        body["parameters"]["load_error"] = served.slot.error
    body["parameters"]["traffic"] = traffic(served)
    if served.traffic_error is not None:
        body["parameters"]["traffic_error"] = served.traffic_error
    return body


def traffic(served: Served) -> dict[str, Any]:
    """The routing in force: each arm's version and share, the sticky key, the shadows."""
    routing = served.route
    return {
        "follows_policy": served.follows,
        "arms": {
            a.name: {"version": a.current.version, "share": routing.share(a)} for a in routing.arms
        },
        "sticky": None if routing.sticky is None else ":".join(routing.sticky),
        "shadow": {a.name: {"version": a.current.version, "share": s} for a, s in routing.shadows},
        "set_at": None if routing.policy is None else routing.policy.at,
    }


def _number(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


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


def decode_inputs(payload: Any) -> dict[str, np.ndarray]:
    """The request's input tensors by name, as sent (not yet checked against a model)."""
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
    return given


def pick(request: Request, served: Served, given: dict[str, Any]) -> tuple[Arm, Routing | None]:
    """The arm that answers, and the routing it was chosen by (None when the route names
    a version: the policy, shadow included, is bypassed)."""
    pinned = request.path_params.get("version")
    if pinned is not None:
        arm = served.arm_at(pinned)
        if arm is None:
            raise NotFound(f"version {pinned} of model {served.slot.target.name!r} is not served")
        return arm, None
    routing = served.route
    return routing.choose(routing.key(request.headers, given)), routing


def _wanted(raw: Any, model: LoadedModel) -> list[str]:
    if not raw:
        return []
    names = [o.get("name") for o in raw if isinstance(o, dict)] if isinstance(raw, list) else []
    known = model.predictor.outputs
    for name in names:
        if name not in known:
            raise InvalidInput(f"unknown output {name!r}: this model gives {', '.join(known)}")
    return [str(n) for n in names]


def encode_answer(
    answer: Answer, wanted: list[str], rid: str | None, arm: str | None = None
) -> dict[str, Any]:
    names = wanted or list(answer.model.predictor.outputs[:1])
    body: dict[str, Any] = {
        "model_name": answer.model.name,
        "model_version": answer.model.version,
        "id": rid or new_request_id(),
        "outputs": [_tensor(name, answer.outputs[name]) for name in names],
    }
    if arm is not None:
        body["parameters"] = {"arm": arm}
    return body


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
    metrics, name = state.metrics, served.slot.target.name
    header_id = request.headers.get(HEADER) or None
    arm: Arm | None = None
    try:
        payload = http.decode(await http.body(request))
        given = decode_inputs(payload)
        arm, routing = pick(request, served, given)
        model = arm.current
        rows = conform(model.signature, without_key(given, routing or served.route, model))
        wanted = _wanted(payload.get("outputs"), model)
    except NotFound as exc:
        return http.error(404, str(exc))
    except (InvalidInput, ValueError) as exc:
        status = http.status_of(exc)
        version = (arm or served.default).current.version
        seconds = time.perf_counter() - started
        metrics.answered(name, version, status, seconds, arm=arm.name if arm else "")
        rid = header_id or new_request_id()
        logged(state, served, version, status=status, seconds=seconds, request_id=rid)
        return _with_id(http.error(status, _message(exc)), rid)
    given_id = payload.get("id")
    rid = (given_id if isinstance(given_id, str) else None) or header_id or new_request_id()
    metrics.stage(name, "parse", time.perf_counter() - started)
    chosen = arm.name
    return await answer(
        state=state,
        served=served,
        arm=arm,
        model=model,
        rows=rows,
        wanted=wanted,
        encode=lambda a: encode_answer(a, wanted, rid, chosen),
        started=started,
        mirror=None if routing is None else (routing, given),
        request_id=rid,
    )


async def answer(
    state: ServingState,
    served: Served,
    *,
    arm: Arm,
    model: LoadedModel,
    rows: Rows,
    wanted: list[str],
    encode: Callable[[Answer], Any],
    started: float,
    error: Callable[..., Response] = http.error,
    request_id: str | None = None,
    mirror: tuple[Routing, dict[str, Any]] | None = None,
) -> Response:
    """Queue the rows (checked against ``model``, the version of ``arm`` now) on the
    arm's batcher, await their outputs, encode them; the status in the metrics, the arm
    and version in the headers, the request in the request log (as ``request_id``,
    returned in the ``x-request-id`` header; a new id when None; its arm when a traffic
    policy chose it). Then copy the request to the shadow arms ``mirror``'s routing draws
    (after the answer is ready: a shadow never delays it)."""
    metrics, name = state.metrics, served.slot.target.name
    rid = request_id or new_request_id()
    count = row_count(rows)
    policy = mirror is not None and mirror[0].policy is not None
    chose = arm.name if policy else DEFAULT_ARM  # the log's arm: a policy's choice
    try:
        result = await arm.batcher.submit(rows, count, wanted, model)
    except (Busy, InvalidInput) as exc:
        status = 503 if isinstance(exc, Busy) else 400
        seconds = time.perf_counter() - started
        metrics.answered(name, model.version, status, seconds, arm=arm.name)
        logged(
            state,
            served,
            model.version,
            status=status,
            seconds=seconds,
            request_id=rid,
            rows=rows,
            count=count,
            arm=chose,
        )
        if isinstance(exc, Busy):
            return _with_id(error(503, str(exc), retry_after=exc.retry_after), rid)
        return _with_id(error(400, str(exc)), rid)
    before = time.perf_counter()
    headers = {ARM_HEADER: arm.name, VERSION_HEADER: result.model.version}
    response = http.json(encode(result), headers=headers)
    done = time.perf_counter()
    metrics.stage(name, "encode", done - before)
    metrics.answered(name, result.model.version, 200, done - started, arm=arm.name)
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
        arm=chose,
    )
    if mirror is not None and mirror[0].shadows and state.mirror is not None:
        state.mirror.send(*mirror)
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
