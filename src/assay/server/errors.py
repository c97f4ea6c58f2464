"""Every error leaves the server as ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging
import traceback
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from assay import errors
from assay.redact import redact_text

log = logging.getLogger("assay.server")

# most specific first
STATUS: list[tuple[type[errors.AssayError], int, str]] = [
    (errors.LimitExceeded, 413, "limit_exceeded"),
    (errors.FilterSyntaxError, 400, "bad_filter"),
    (errors.InvalidInput, 400, "invalid_input"),
    (errors.Unauthorized, 401, "unauthorized"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.NotFound, 404, "not_found"),
    (errors.Conflict, 409, "conflict"),
    (errors.SchemaMismatch, 503, "schema_mismatch"),
    (errors.StoreUnavailable, 503, "store_unavailable"),
    (errors.StoreUnusable, 503, "store_unusable"),
    (errors.CorruptData, 500, "corrupt_data"),
    (errors.AssayError, 500, "error"),
]


def error_response(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"code": code, "message": message, **extra}
    return JSONResponse({"error": body}, status, headers=headers)


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API, not the UI's data routes)."""
    path = request.url.path
    return not path.startswith(("/api/", "/ui/")) and "text/html" in request.headers.get(
        "accept", ""
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.AssayError)
    async def assay_error(request: Request, exc: errors.AssayError) -> Response:
        from assay.server.ui.session import LoginRequired

        message = redact_text(str(exc))  # a store's error may quote its URL

        if isinstance(exc, LoginRequired):
            return RedirectResponse(f"/login?{urlencode({'next': exc.next_url})}", status_code=303)
        if wants_html(request):
            status = next(s for kind, s, _ in STATUS if isinstance(exc, kind))
            from assay.server.ui.routes import render

            return render(request, "error.html", status, code=status, message=message)
        if isinstance(exc, errors.FilterSyntaxError):
            return error_response(
                400,
                "bad_filter",
                str(exc),
                reason=exc.reason,
                expression=exc.expression,
                position=exc.position,
            )
        for kind, status, code in STATUS:
            if isinstance(exc, kind):
                return error_response(status, code, message)
        raise AssertionError("unreachable: AssayError is in STATUS")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return error_response(422, "invalid_request", details or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "limit_exceeded"}
        code = codes.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        trace = "".join(traceback.format_exception(exc))
        log.error(
            "unexpected error on %s %s\n%s", request.method, request.url.path, redact_text(trace)
        )
        return error_response(500, "internal", "internal server error")
