"""What every request passes before any route sees it (an ASGI middleware):

* a body limit for every route: a declared ``Content-Length`` over ``max_body_bytes`` is
  refused before a byte is read, and a body without one stops being read at the limit;
* a local server (``--local``, ``assay ui``: no authentication) is reachable from web
  pages in the user's browser, so there it also refuses
  - a ``Host`` that is not a loopback name (a DNS-rebinding page names its own host),
  - a state-changing request from another origin (``Origin`` or ``Sec-Fetch-Site``),
  - an API write with a content type a cross-site form or ``no-cors`` fetch can send
    (``text/plain``, form encodings, none): those need no CORS preflight.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from assay.server.config import ServerConfig
from assay.server.errors import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# media types a page may send cross-site without a CORS preflight (the "simple" ones)
SIMPLE_TYPES = ("", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class Guard:
    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            if self.config.local:
                check_local(scope, headers, self.config.hosts)
            check_declared_size(headers, self.config.max_body_bytes)
        except Refused as exc:
            response = error_response(exc.status, exc.code, str(exc))
            await response(scope, receive, send)
            return
        await self.app(scope, _limited(receive, self.config.max_body_bytes), send)


def check_declared_size(headers: Headers, limit: int) -> None:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(
            413,
            "limit_exceeded",
            f"request body of {declared} bytes exceeds max_body_bytes={limit}",
        )


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that stops a body (with or without Content-Length) at ``limit`` bytes."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                # an HTTPException: the route's own body parsing passes it on as it is
                raise HTTPException(413, f"request body exceeds max_body_bytes={limit}")
        return message

    return wrapped


_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9.\-]+)(?::\d{1,5})?")


def host_name(host: str) -> str:
    """``localhost:5151`` -> ``localhost``; ``[::1]:5151`` -> ``[::1]``. A header that is
    not a name with an optional numeric port (``localhost:1@evil.com``) comes back whole,
    so it matches no allowed name."""
    host = host.strip().lower()
    match = _HOST.fullmatch(host)
    return match.group("name") if match else host


def check_local(scope: Scope, headers: Headers, hosts: tuple[str, ...] | None) -> None:
    host = headers.get("host", "")
    if hosts is not None and host_name(host) not in hosts:
        raise Refused(
            400,
            "bad_host",
            f"this local server answers only to {', '.join(hosts)} (Host was {host!r})",
        )
    if scope["method"] in SAFE_METHODS:
        return
    origin = headers.get("origin")
    if origin is not None and origin.lower() != f"{scope.get('scheme', 'http')}://{host}".lower():
        raise Refused(403, "cross_origin", f"a write from another origin ({origin}) is refused")
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Refused(403, "cross_origin", "a write from another site is refused")
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    # only a POST can be sent cross-site without a preflight (PUT, PATCH, DELETE cannot)
    api = scope["path"].startswith(("/api/", "/ajax-api/"))
    if scope["method"] == "POST" and api and kind in SIMPLE_TYPES:
        raise Refused(
            415,
            "unsupported_media_type",
            "a write to the API needs Content-Type application/json, application/msgpack "
            f"or application/octet-stream, not {kind or 'none'!r}",
        )
