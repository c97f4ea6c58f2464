"""What every MLflow route shares: MLflow's error shape, its callers (token or basic
auth mapped to Assay keys), reading a request's fields, and page tokens.

MLflow answers an error as ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ...}``
with the matching status; its client turns the code into ``MlflowException.error_code``
(``get_experiment_by_name`` reads RESOURCE_DOES_NOT_EXIST as "no such experiment")."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import traceback
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from assay import errors
from assay.redact import redact_text
from assay.server.body import read_body
from assay.server.deps import LOCAL, state_of
from assay.store.sql.auth import Principal

log = logging.getLogger("assay.server.mlflow")

# Assay's errors as MLflow's error codes (databricks.proto's ErrorCode) and statuses
_CODES: dict[type[errors.AssayError], tuple[str, int]] = {
    errors.FilterSyntaxError: ("INVALID_PARAMETER_VALUE", 400),
    errors.LimitExceeded: ("INVALID_PARAMETER_VALUE", 413),
    errors.InvalidInput: ("INVALID_PARAMETER_VALUE", 400),
    errors.Unauthorized: ("UNAUTHENTICATED", 401),
    errors.Forbidden: ("PERMISSION_DENIED", 403),
    errors.NotFound: ("RESOURCE_DOES_NOT_EXIST", 404),
    errors.Conflict: ("INVALID_STATE", 400),
    errors.StoreUnavailable: ("TEMPORARILY_UNAVAILABLE", 503),
    errors.StoreUnusable: ("TEMPORARILY_UNAVAILABLE", 503),
    errors.SchemaMismatch: ("TEMPORARILY_UNAVAILABLE", 503),
}


class MlflowError(errors.AssayError):
    """An answer in MLflow's own words: ``code`` is one of its error codes."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.mlflow_code = code
        self.http_status = status


class NotSupported(MlflowError):
    """An MLflow operation Assay does not offer (docs/mlflow.md lists them)."""

    def __init__(self, message: str) -> None:
        super().__init__("NOT_IMPLEMENTED", message, 501)


def error_response(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status)


def as_mlflow_error(exc: Exception) -> JSONResponse:
    if isinstance(exc, MlflowError):
        return error_response(exc.mlflow_code, redact_text(str(exc)), exc.http_status)
    if isinstance(exc, errors.AssayError):
        for kind, (code, status) in _CODES.items():
            if isinstance(exc, kind):
                return error_response(code, redact_text(str(exc)), status)
        return error_response("INTERNAL_ERROR", redact_text(str(exc)), exc.status)
    if isinstance(exc, RequestValidationError):
        return error_response("INVALID_PARAMETER_VALUE", str(exc.errors()), 400)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        code = "RESOURCE_DOES_NOT_EXIST" if status == 404 else "INVALID_PARAMETER_VALUE"
        return error_response(code, str(exc.detail), status)
    trace = "".join(traceback.format_exception(exc))
    log.error("unexpected error in the MLflow API\n%s", redact_text(trace))
    return error_response("INTERNAL_ERROR", "internal server error", 500)


class MlflowRoute(APIRoute):
    """A route whose every failure (auth included) answers in MLflow's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return as_mlflow_error(exc)

        return handle


def caller(request: Request) -> Principal:
    """The caller: ``Authorization: Bearer <key>`` (MLFLOW_TRACKING_TOKEN) or
    ``Basic user:<key>`` (MLFLOW_TRACKING_USERNAME / _PASSWORD: the password is the key)."""
    state = state_of(request)
    if state.config.local:
        return LOCAL
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return state.auth.verify(token.strip())
    if scheme.lower() == "basic" and token.strip():
        user, key = _basic(token.strip())
        who = state.auth.verify(key)
        if user and user != who.user:
            raise errors.Unauthorized(f"this key does not belong to user {user!r}")
        return who
    raise errors.Unauthorized(
        "an Assay API key is required: set MLFLOW_TRACKING_TOKEN to it "
        "(or MLFLOW_TRACKING_PASSWORD, with MLFLOW_TRACKING_USERNAME your user name)"
    )


def _basic(token: str) -> tuple[str, str]:
    try:
        user, _, key = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise errors.Unauthorized("the basic-auth header does not decode") from None
    return user, key


Caller = Annotated[Principal, Depends(caller)]


def actor(who: Principal) -> str:
    return f"user:{who.user}"


class Fields:
    """A request's fields: the query string (MLflow's GETs) and the JSON body (the rest)."""

    def __init__(
        self, values: dict[str, Any], multi: dict[str, list[str]], query: set[str]
    ) -> None:
        self.values = values
        self.multi = multi
        self.query = query

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def text(self, name: str) -> str:
        value = self.values.get(name)
        if not isinstance(value, str) or not value:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{name}'"
            )
        return value

    def optional_text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"parameter '{name}' must be a string")
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", f"parameter '{name}' must be an integer, not {value!r}"
            ) from None

    def items(self, name: str) -> list[Any]:
        """A repeated field: a JSON list, or a query parameter given several times."""
        if name in self.multi:
            return list(self.multi[name])
        value = self.values.get(name)
        if value is None:
            return []
        if isinstance(value, str) and name in self.query:  # given once in a query string
            return [value]
        if not isinstance(value, list):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"parameter '{name}' must be a list")
        return value


async def fields(request: Request) -> Fields:
    values: dict[str, Any] = dict(request.query_params)
    multi = {k: request.query_params.getlist(k) for k in request.query_params}
    multi = {k: v for k, v in multi.items() if len(v) > 1}
    if request.method != "GET":
        body = await read_body(request, state_of(request).config.max_body_bytes)
        if body.strip():
            try:
                decoded = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise MlflowError(
                    "MALFORMED_REQUEST", f"the request body is not JSON: {exc}"
                ) from None
            if not isinstance(decoded, dict):
                raise MlflowError("MALFORMED_REQUEST", "the request body must be a JSON object")
            values.update(decoded)
    return Fields(values, multi, set(request.query_params))


Ask = Annotated[Fields, Depends(fields)]


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def offset_of(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"invalid page token {token!r}") from None
    if not isinstance(offset, int) or offset < 0:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"invalid page token {token!r}")
    return offset


def json_float(value: float) -> float | str:
    """A float as MLflow's JSON carries it: NaN and infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def millis(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0
