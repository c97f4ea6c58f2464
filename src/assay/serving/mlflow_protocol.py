"""MLflow's scoring protocol, so clients of ``mlflow models serve`` keep working.

``GET /ping`` and ``GET /health``; ``POST /invocations`` (the first model served; the others
at ``/models/{name}/invocations``) with a JSON body holding one of ``dataframe_split``
(``{"columns": [...], "data": [[...]]}``), ``dataframe_records`` (``[{...}, ...]``),
``instances`` or ``inputs`` (rows, records, or ``{name: values}``), or a ``text/csv`` body
with a header row. The answer is ``{"predictions": [...]}``; errors are MLflow's
``{"error_code": "BAD_REQUEST", "message": "..."}``.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from assay.errors import InvalidInput, NotFound
from assay.serving import http
from assay.serving.batching import Answer
from assay.serving.oip import answer, logged
from assay.serving.requestlog import HEADER, new_request_id
from assay.serving.signature import Signature
from assay.serving.state import state_of
from assay.serving.tensors import Rows, column, conform

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def mlflow_error(status: int, message: str, retry_after: int | None = None) -> Response:
    code = {400: "BAD_REQUEST", 404: "RESOURCE_DOES_NOT_EXIST", 413: "BAD_REQUEST"}.get(
        status, "TEMPORARILY_UNAVAILABLE"
    )
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return http.json({"error_code": code, "message": message}, status, headers)


async def ping(request: Request) -> Response:
    state = getattr(request.app.state, "serving", None)
    if state is None or not state.ready:
        return Response("\n", 503)
    return Response("\n", 200)


def _columns(names: list[Any], rows: list[Any]) -> dict[str, np.ndarray]:
    if not all(isinstance(r, list) and len(r) == len(names) for r in rows):
        raise InvalidInput(f"every row of data must hold {len(names)} values (one per column)")
    table = np.asarray(rows)  # all numbers: one array, cut into columns
    if table.ndim != 2 or table.dtype.kind not in "biuf":
        return {str(n): column(str(n), [r[i] for r in rows]) for i, n in enumerate(names)}
    return {str(n): table[:, i] for i, n in enumerate(names)}


def _records(records: list[Any]) -> dict[str, np.ndarray]:
    if not records or not all(isinstance(r, dict) for r in records):
        raise InvalidInput("records must be a non-empty list of objects")
    names = list(records[0])
    try:
        return {str(n): column(str(n), [r[n] for r in records]) for n in names}
    except KeyError as exc:
        raise InvalidInput(f"missing column {exc.args[0]!r} in a record") from None


def _rows(rows: list[Any], signature: Signature) -> dict[str, np.ndarray]:
    if rows and all(isinstance(r, dict) for r in rows):
        return _records(rows)
    if signature.columns:
        return {"instances": column("instances", rows)}
    return {signature.inputs[0].name: np.asarray(rows)}


def given_inputs(payload: Any, signature: Signature) -> dict[str, np.ndarray]:
    if not isinstance(payload, dict):
        raise InvalidInput(f"the body must be a JSON object with one of {', '.join(FORMATS)}")
    found = [key for key in FORMATS if key in payload]
    if len(found) != 1:
        raise InvalidInput(f"the body must hold exactly one of {', '.join(FORMATS)}")
    value = payload[found[0]]
    if found[0] == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise InvalidInput('dataframe_split must be {"columns": [...], "data": [[...]]}')
        names = value.get("columns") or signature.names
        if not signature.columns and len(signature.inputs) == 1:
            return {signature.inputs[0].name: np.asarray(value["data"])}
        return _columns(list(names), value["data"])
    if found[0] == "dataframe_records":
        return _records(value if isinstance(value, list) else [])
    if isinstance(value, dict):
        return {str(k): column(str(k), v) for k, v in value.items()}
    if isinstance(value, list) and value:
        return _rows(value, signature)
    raise InvalidInput(f"{found[0]} must be a non-empty list or an object of columns")


def from_csv(body: bytes, signature: Signature) -> dict[str, np.ndarray]:
    reader = csv.reader(io.StringIO(body.decode("utf-8")))
    header = next(reader, None)
    if not header:
        raise InvalidInput("the CSV body needs a header row")
    rows = [[_number(v) for v in row] for row in reader if row]
    if not rows:
        raise InvalidInput("the CSV body has no rows")
    if not signature.columns and len(signature.inputs) == 1:
        return {signature.inputs[0].name: np.asarray(rows)}
    return _columns(header, rows)


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def decode(body: bytes, content_type: str, signature: Signature) -> Rows:
    if content_type.startswith("text/csv"):
        return conform(signature, from_csv(body, signature))
    return conform(signature, given_inputs(http.decode(body), signature))


def encode(result: Answer) -> dict[str, Any]:
    first = result.model.predictor.outputs[0]
    return {"predictions": result.outputs[first].tolist()}


async def invocations(request: Request) -> Response:
    started = time.perf_counter()
    state = state_of(request)
    try:
        served = state.find(request.path_params.get("name", state.primary))
    except NotFound as exc:
        return mlflow_error(404, str(exc))
    model = served.current
    rid = request.headers.get(HEADER) or new_request_id()
    try:
        content_type = request.headers.get("content-type", "application/json")
        rows = decode(await http.body(request), content_type, model.signature)
    except (InvalidInput, ValueError, UnicodeDecodeError) as exc:
        status = http.status_of(exc)
        seconds = time.perf_counter() - started
        state.metrics.answered(model.name, model.version, status, seconds)
        logged(state, served, model.version, status=status, seconds=seconds, request_id=rid)
        message = str(exc) if isinstance(exc, InvalidInput) else f"bad body: {exc}"
        response = mlflow_error(status, message)
        response.headers[HEADER] = rid
        return response
    state.metrics.stage(model.name, "parse", time.perf_counter() - started)
    return await answer(
        state=state,
        served=served,
        model=model,
        rows=rows,
        wanted=[],
        encode=encode,
        started=started,
        error=mlflow_error,
        request_id=rid,
    )


def routes() -> list[Route]:
    return [
        Route("/ping", ping),
        Route("/health", ping),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/models/{name}/invocations", invocations, methods=["POST"]),
    ]
