"""``assay.predict``: one call to a registered model, in this process or over HTTP.

    assay.predict("models:/fraud@production", df)                 # in process
    assay.predict("models:/fraud@production", df, url="http://serve:5252")
    assay.predict("models:/fraud/3", df, outputs=["predict", "predict_proba"])

Without ``url`` (and without ``ASSAY_SERVE_URL``) the model is loaded here through its
flavour, the way ``assay serve`` loads it (signature, warm-up), and kept: one copy per
store and version. Each call asks the store which version the URI names now, so an alias
move is followed on the next call. With a URL the call is an Open Inference Protocol
request (httpx) to ``assay serve`` (or any KServe V2 server). Either way the inputs are
checked against the model's signature the same way, and the answer is the same: numpy
arrays, one row per input row, typed by the protocol's datatypes (strings as objects).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.errors import AssayError, InvalidInput, NotFound, ServerUnavailable
from assay.serving import loader
from assay.serving.loader import LoadedModel
from assay.serving.signature import DTYPES, datatype_of
from assay.serving.tensors import column, conform, decode_tensor
from assay.store.base import Store, open_store

URL_ENV = "ASSAY_SERVE_URL"
Result = np.ndarray | dict[str, np.ndarray]

_lock = threading.Lock()
_stores: dict[str | None, Store] = {}
_models: dict[tuple[str | None, str, str], LoadedModel] = {}  # (store, name, version)
_inputs: dict[tuple[str, str], list[str]] = {}  # (url, model): its input names


def predict(
    model_uri: str,
    inputs: Any,
    *,
    outputs: Sequence[str] | None = None,
    url: str | None = None,
    uri: str | os.PathLike[str] | None = None,
    project: str | None = None,
    allow_pickle: bool = False,
    timeout: float = 30.0,
) -> Result:
    """Predict ``inputs`` with the model ``model_uri`` names (``models:/name@alias``,
    ``models:/name/3`` or an artifact reference).

    ``inputs``: a pandas DataFrame, a dict of columns, a list of records (dicts), or an
    array (``[n, k]`` for a model of ``k`` columns or one tensor input). The answer: the
    model's first output (``predict``) as a numpy array, or a dict of arrays by name when
    ``outputs`` names several. ``url`` (default ``ASSAY_SERVE_URL``): ask that server
    instead of loading the model here; the server then decides the version (its URI and
    traffic policy). Errors: InvalidInput (bad inputs), NotFound (no such model or
    version), ServerUnavailable (the server is unreachable, loading or overloaded)."""
    target = loader.target(model_uri)
    server = url or os.environ.get(URL_ENV)
    if server:
        return _over_http(server.rstrip("/"), target, inputs, outputs, timeout)
    store_uri = os.fspath(uri) if uri is not None else None
    model = _loaded(store_uri, target, project, allow_pickle)
    rows = conform(model.signature, columns_of(inputs, model.signature.names))
    wanted = _wanted(outputs, model.predictor.outputs)
    try:
        found = model.predictor.predict(rows, wanted)
    except AssayError:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"{model.uri} failed on these inputs: {type(exc).__name__}: {exc}"
        ) from exc
    return _shaped({name: _typed(found[name]) for name in wanted}, outputs)


def columns_of(inputs: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The inputs as named columns (``names``: the model's inputs, for an array)."""
    if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):  # a pandas DataFrame
        return {str(c): column(str(c), inputs[c].to_numpy()) for c in inputs.columns}
    if isinstance(inputs, Mapping):
        return {str(k): column(str(k), v) for k, v in inputs.items()}
    if isinstance(inputs, list) and inputs and all(isinstance(r, Mapping) for r in inputs):
        keys = list(inputs[0])
        try:
            return {str(k): column(str(k), [r[k] for r in inputs]) for k in keys}
        except KeyError as exc:
            raise InvalidInput(f"a record lacks the column {exc.args[0]!r}") from None
    array = np.asarray(inputs)
    if array.ndim == 0 or array.size == 0:
        raise InvalidInput(
            "inputs must be a DataFrame, a dict of columns, a list of records or an array "
            f"of rows, got {type(inputs).__name__}"
        )
    return {names[0] if names else "input-0": array}


def _listed(outputs: Sequence[str]) -> list[str]:
    if isinstance(outputs, str) or not outputs or not all(isinstance(n, str) for n in outputs):
        raise InvalidInput(f"outputs must be a non-empty list of output names, got {outputs!r}")
    return list(outputs)


def _wanted(outputs: Sequence[str] | None, known: Sequence[str]) -> list[str]:
    if outputs is None:
        return [known[0]]
    for name in _listed(outputs):
        if name not in known:
            raise InvalidInput(f"unknown output {name!r}: this model gives {', '.join(known)}")
    return list(outputs)


def _typed(array: np.ndarray) -> np.ndarray:
    """As the protocol carries it (strings as objects), so both ways answer alike."""
    return np.asarray(array, dtype=DTYPES[datatype_of(array)])


def _shaped(found: dict[str, np.ndarray], outputs: Sequence[str] | None) -> Result:
    return next(iter(found.values())) if outputs is None else found


# ---- in this process ---------------------------------------------------------------------


def _store(uri: str | None) -> Store:
    with _lock:
        if uri not in _stores:
            _stores[uri] = open_store(uri)
        return _stores[uri]


def _loaded(
    uri: str | None, target: loader.Target, project: str | None, allow_pickle: bool
) -> LoadedModel:
    """The version the URI names now, loaded once per store and version."""
    store = _store(uri)
    version, _ = loader.current_version(store, target, project)
    key = (uri, f"{target.registered}:{target.name}", version)
    with _lock:
        found = _models.get(key)
    if found is None:
        found = loader.load(store, target, project, allow_pickle)
        with _lock:
            _models[(uri, key[1], found.version)] = found
    return found


@atexit.register
def _close() -> None:
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()


# ---- over HTTP --------------------------------------------------------------------------------


def _over_http(
    url: str,
    target: loader.Target,
    inputs: Any,
    outputs: Sequence[str] | None,
    timeout: float,
) -> Result:
    import httpx

    path = f"/v2/models/{target.name}"
    if target.registered and target.selector.isdigit():
        path += f"/versions/{target.selector}"
    try:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            names = _input_names(client, url, target.name, path)
            given = columns_of(inputs, names)
            body: dict[str, Any] = {"inputs": [_tensor(n, a) for n, a in given.items()]}
            if outputs is not None:
                body["outputs"] = [{"name": n} for n in _listed(outputs)]
            response = client.post(f"{path}/infer", json=body)
    except httpx.TransportError as exc:
        raise ServerUnavailable(f"the model server at {url} cannot be reached: {exc}") from exc
    answer = _checked(response, url)
    found = {
        o["name"]: decode_tensor(o["name"], o["datatype"], o["shape"], o["data"])
        for o in answer["outputs"]
    }
    return _shaped(found, outputs)


def _input_names(client: Any, url: str, name: str, path: str) -> list[str]:
    key = (url, name)
    if key not in _inputs:
        meta = _checked(client.get(path), url)
        _inputs[key] = [str(i["name"]) for i in meta.get("inputs", [])]
    return _inputs[key]


def _tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    datatype = datatype_of(array)
    data = array.ravel().tolist()
    if datatype == "BYTES":
        data = [x if isinstance(x, str | int | float | bool) else str(x) for x in data]
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def _checked(response: Any, url: str) -> dict[str, Any]:
    """The JSON body of a 200; Assay's error for anything else."""
    if response.status_code == 200:
        body: dict[str, Any] = response.json()
        return body
    try:
        message = str(response.json().get("error") or response.text)
    except ValueError:
        message = response.text
    message = f"{url}: {message}"
    if response.status_code == 404:
        raise NotFound(message)
    if response.status_code == 503:
        retry = response.headers.get("retry-after")
        raise ServerUnavailable(message, float(retry) if retry else None)
    if 400 <= response.status_code < 500:
        raise InvalidInput(message)
    raise ServerUnavailable(f"{message} (status {response.status_code})")
