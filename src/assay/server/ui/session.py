"""Who is looking at the UI: an API key kept in an HttpOnly cookie, and CSRF checks.

A login form takes an API key, checks it, and sets ``assay_key`` (HttpOnly, SameSite=
Strict). Every form and htmx POST carries the ``assay_csrf`` cookie's value back in a
field or header (double submit); a POST without the matching token is refused.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from assay.errors import AssayError, Forbidden, Unauthorized
from assay.server.deps import LOCAL, state_of
from assay.store.sql.auth import Principal

KEY_COOKIE = "assay_key"
CSRF_COOKIE = "assay_csrf"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(AssayError):
    """A page needs a signed-in user; the handler redirects to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__("sign in first")
        self.next_url = next_url


def viewer(request: Request) -> Principal:
    """The signed-in principal, or LoginRequired (pages) / Unauthorized (data)."""
    state = state_of(request)
    if state.config.local:
        return LOCAL
    key = request.cookies.get(KEY_COOKIE)
    if key:
        try:
            return state.auth.verify(key)
        except Unauthorized:
            pass
    if request.url.path.startswith("/ui/"):
        raise Unauthorized("sign in to the UI first")
    raise LoginRequired(
        str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
    )


def csrf_token(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or request.state.__dict__.setdefault(
        "new_csrf", secrets.token_urlsafe(24)
    )


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie on a response if the browser has none yet."""
    new = request.state.__dict__.get("new_csrf")
    if new and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            new,
            httponly=False,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def check_csrf(request: Request, form_token: str | None = None) -> None:
    expected = request.cookies.get(CSRF_COOKIE)
    given = form_token or request.headers.get(CSRF_HEADER)
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise Forbidden("the form's CSRF token is missing or does not match; reload the page")


def set_key_cookie(request: Request, response: Response, key: str) -> None:
    response.set_cookie(
        KEY_COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=30 * 24 * 3600,
    )
