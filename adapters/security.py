"""Access control for the web app: the admin login, CSRF tokens on forms, and API keys.

Passwords are hashed with scrypt (``hashlib.scrypt``, a standard KDF) and stored sealed in the store.
Sessions are Starlette's signed cookies. Every form POST carries the session's CSRF token; API calls use an
API key (``Authorization: Bearer <key>`` or ``X-API-Key``) and no cookies, so they need no CSRF token.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not password:
        return False
    try:
        _, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), **SCRYPT)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, submitted: Any) -> bool:
    expected = request.session.get("csrf")
    return bool(expected) and isinstance(submitted, str) and hmac.compare_digest(expected, submitted)


def is_logged_in(request: Request) -> bool:
    return bool(request.session.get("user"))


Endpoint = Callable[[Request], Awaitable[Response]]


def login_required(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        if not is_logged_in(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return await endpoint(request)

    return wrapper


def form_post(endpoint: Endpoint) -> Endpoint:
    """A logged-in form POST with a valid CSRF token (403 otherwise). The parsed form is ``request.state.form``."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        if not is_logged_in(request):
            return RedirectResponse("/login", status_code=303)
        form = await request.form()
        if not csrf_ok(request, form.get("csrf_token")):
            return Response("This form has expired or did not come from invoicebridge (CSRF check failed). "
                            "Go back, reload the page and try again.", status_code=403, media_type="text/plain")
        request.state.form = form
        return await endpoint(request)

    return wrapper


def api_key_from(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key", "").strip()


def api_auth(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        store = request.app.state.runtime.store
        if not store.check_api_key(api_key_from(request)):
            return JSONResponse({"error": "Unauthorized", "message": "Send a valid API key as 'Authorization: Bearer <key>'; "
                                 "create one with `invoicebridge api-key`"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return await endpoint(request)

    return wrapper
