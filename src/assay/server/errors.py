"""Every error leaves the server as ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from assay import errors
from assay.redact import redact_text

log = logging.getLogger("assay.server")

# How the UI answers an error instead (a sign-in redirect, an HTML page), or None.
PageHandler = Callable[[Request, errors.AssayError, int, str], Response | None]


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


def install(app: FastAPI, page: PageHandler | None = None) -> None:
    """Answer every error as JSON; ``page`` (the UI's) may answer a browser instead."""

    @app.exception_handler(errors.AssayError)
    async def assay_error(request: Request, exc: errors.AssayError) -> Response:
        message = redact_text(str(exc))  # a store's error may quote its URL
        answer = page(request, exc, exc.status, message) if page is not None else None
        if answer is not None:
            return answer
        if isinstance(exc, errors.FilterSyntaxError):
            return error_response(
                exc.status,
                exc.code,
                message,
                reason=exc.reason,
                expression=exc.expression,
                position=exc.position,
            )
        return error_response(exc.status, exc.code, message)

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
