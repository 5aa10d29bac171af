"""Access control for the web app: the admin login, CSRF tokens on forms, and API keys.

Passwords are hashed with scrypt (``hashlib.scrypt``, a standard KDF) and stored sealed in the store; hashing
runs in worker threads, at most :data:`HASH_CONCURRENCY` at a time, so sign-in attempts never stall the event
loop. Sessions are kept server-side (see :mod:`.sessions`). Every form POST carries the session's CSRF token;
API calls use an API key (``Authorization: Bearer <key>`` or ``X-API-Key``) and no cookies, so they need no
CSRF token.

Two kinds of signed-in session exist: the admin's (everything), and a CRM user's, opened by a signed link from
inside the CRM: it reaches only the deals it was opened for (view, preview, create, the invoices of those
deals), never connections, settings, API keys or bulk runs. Endpoints that such a session may use are marked
with :func:`crm_scope`.

Wrong passwords slow down sign-in for the account (not per address, which a client can claim): after
:data:`LOGIN_FREE_FAILURES` failures each further try waits twice as long as the last, up to
:data:`LOGIN_MAX_DELAY_S`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import inspect
import secrets
import time
import weakref
from typing import Any, Awaitable, Callable
from urllib.parse import quote

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from invoicebridge.core.errors import NotFound
from invoicebridge.core.i18n import _

SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MIN_PASSWORD = 8
HASH_CONCURRENCY = 2  # password hashes running at once (each takes ~50 ms of a core and 16 MiB)

ADMIN = "admin"
LOGIN_FREE_FAILURES = 5  # wrong passwords for an account before each further try has to wait
LOGIN_MAX_DELAY_S = 15 * 60  # the longest wait between tries (the delay doubles up to this)

SETUP_CODE_TTL_S = 60 * 60  # a setup code printed by `serve` or `invoicebridge setup-code` works this long
SETUP_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread


def _scrypt(password: bytes, salt: bytes) -> bytes:
    return hashlib.scrypt(password, salt=salt, **SCRYPT)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password.encode(), salt)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not password:
        return False
    try:
        _kind, salt, digest = stored.split("$")
        candidate = _scrypt(password.encode(), base64.b64decode(salt))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, base64.b64decode(digest))


_hash_limiters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]" = weakref.WeakKeyDictionary()


def _hash_limiter() -> anyio.CapacityLimiter:
    """One limiter per event loop (a limiter belongs to the loop it was first used in)."""
    loop = asyncio.get_running_loop()
    limiter = _hash_limiters.get(loop)
    if limiter is None:
        limiter = _hash_limiters[loop] = anyio.CapacityLimiter(HASH_CONCURRENCY)
    return limiter


async def hash_password_async(password: str) -> str:
    """:func:`hash_password` in a worker thread, at most :data:`HASH_CONCURRENCY` at once."""
    async with _hash_limiter():
        return await anyio.to_thread.run_sync(hash_password, password)


async def check_password_async(password: str, stored: str | None, *, gate: Callable[[], bool] | None = None,
                               on_wrong: Callable[[], Any] | None = None) -> bool | None:
    """:func:`check_password` in a worker thread, at most :data:`HASH_CONCURRENCY` at once. ``gate`` is asked
    once this call's turn has come (when it says no, nothing is hashed and the answer is None), and
    ``on_wrong`` is called (and awaited, when it gives an awaitable) before the turn passes on: so a burst of concurrent guesses cannot all slip past a
    sign-in pause that the first few of them start."""
    async with _hash_limiter():
        if gate is not None and not gate():
            return None
        ok = bool(stored and password) and await anyio.to_thread.run_sync(check_password, password, stored)
        if not ok and on_wrong is not None and inspect.isawaitable(wrong := on_wrong()):
            await wrong
        return ok


# ---- sign-in back-off (per account) ----------------------------------------------------------------------

def login_wait(store: Any, account: str, now: float) -> float:
    """Seconds ``account`` must wait before the next sign-in attempt (0: go ahead)."""
    record = store.kv_get("login-failures", account)
    if not isinstance(record, dict):  # nothing yet, or the old per-address list
        return 0.0
    count, last = int(record.get("count") or 0), float(record.get("last") or 0)
    if count < LOGIN_FREE_FAILURES:
        return 0.0
    delay = min(2.0 ** (count - LOGIN_FREE_FAILURES), LOGIN_MAX_DELAY_S)
    return max(0.0, last + delay - now)


def record_login_failure(store: Any, account: str, now: float) -> int:
    record = store.kv_get("login-failures", account)
    count = int(record.get("count") or 0) + 1 if isinstance(record, dict) else 1
    store.kv_set("login-failures", account, {"count": count, "last": now})
    return count


def clear_login_failures(store: Any, account: str) -> None:
    store.kv_set("login-failures", account, None)


def wait_message(seconds: float) -> str:
    if seconds <= 90:
        return _("Too many wrong passwords; try again in %(n)s seconds.") % {"n": int(seconds) + 1}
    return _("Too many wrong passwords; try again in %(n)s minutes.") % {"n": int(seconds // 60) + 1}


# ---- the one-time setup code (before the first admin password exists) ------------------------------------

def _code_digest(code: str) -> str:
    normal = "".join(c for c in str(code).upper() if c.isalnum())
    return hashlib.sha256(("invoicebridge-setup:" + normal).encode()).hexdigest()


def issue_setup_code(store: Any, now: float | None = None) -> str:
    """A new single-use code for setting the first admin password (any earlier code stops working). Only
    its digest is stored; it expires :data:`SETUP_CODE_TTL_S` after ``now`` (by default the store's clock)."""
    now = store.clock().timestamp() if now is None else now
    raw = "".join(secrets.choice(SETUP_CODE_ALPHABET) for _i in range(12))
    code = "-".join(raw[i:i + 4] for i in range(0, 12, 4))
    store.set_app_secret("setup_code", {"digest": _code_digest(code), "expires_at": now + SETUP_CODE_TTL_S})
    return code


def setup_code_ok(store: Any, code: Any, now: float) -> bool:
    saved = store.get_app_secret("setup_code")
    if not isinstance(saved, dict) or not isinstance(code, str) or not code.strip():
        return False
    if float(saved.get("expires_at") or 0) <= now:
        return False
    return hmac.compare_digest(str(saved.get("digest", "")), _code_digest(code))


def spend_setup_code(store: Any) -> None:
    store.set_app_secret("setup_code", None)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, submitted: Any) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and bool(expected) and isinstance(submitted, str) and hmac.compare_digest(expected, submitted)


def is_logged_in(request: Request) -> bool:
    return bool(request.session.get("user"))


def is_admin(request: Request) -> bool:
    return request.session.get("user") == ADMIN


Endpoint = Callable[[Request], Awaitable[Response]]


def crm_scope(kind: str) -> Callable[[Endpoint], Endpoint]:
    """Let a CRM user's session use this endpoint for its own deals: ``kind`` says where the deal comes from
    (``"deal"``: the ``deal_id`` path parameter; ``"invoice"``: the deal of the ``invoice_id`` invoice)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.crm_scope = kind  # type: ignore[attr-defined]
        return endpoint

    return mark


def crm_may(request: Request, endpoint: Endpoint) -> bool:
    """Whether the signed-in CRM user's session may use ``endpoint`` for this request's deal."""
    kind = getattr(endpoint, "crm_scope", None)
    deals = [str(d) for d in request.session.get("deals") or []]
    if kind == "deal":
        return str(request.path_params.get("deal_id")) in deals
    if kind == "invoice":
        store = request.app.state.runtime.store
        try:
            return str(store.get_invoice(int(request.path_params["invoice_id"])).deal_id) in deals
        except (NotFound, ValueError, KeyError):
            return False
    return False


def _not_for_crm_users(request: Request) -> Response:
    from .pages import error_page

    return error_page(request, _("You opened invoicebridge from a CRM deal, so this session only reaches that deal. "
                                 "Sign in as the admin for everything else."), 403)


def login_required(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        if not is_logged_in(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        if not is_admin(request) and not crm_may(request, endpoint):
            return _not_for_crm_users(request)
        return await endpoint(request)

    return wrapper


def admin_required(endpoint: Endpoint) -> Endpoint:
    """Admin only (CRM users' sessions get a 403), whatever the endpoint's marks."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        if not is_logged_in(request):
            return RedirectResponse("/login", status_code=303)
        if not is_admin(request):
            return _not_for_crm_users(request)
        return await endpoint(request)

    return wrapper


def form_post(endpoint: Endpoint) -> Endpoint:
    """A logged-in form POST with a valid CSRF token (403 otherwise). The parsed form is ``request.state.form``."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        if not is_logged_in(request):
            return RedirectResponse("/login", status_code=303)
        if not is_admin(request) and not crm_may(request, endpoint):
            return _not_for_crm_users(request)
        form = await request.form()
        if not csrf_ok(request, form.get("csrf_token")):
            return Response(_("This form has expired or did not come from invoicebridge (CSRF check failed). "
                              "Go back, reload the page and try again."), status_code=403, media_type="text/plain")
        request.state.form = form
        return await endpoint(request)

    return wrapper


class ApiKeys:
    """API keys the store said yes to, kept by the SHA-256 digest of the key presented (never the key) until the
    store's generation moves: revoking a key deletes its row, a write that moves the generation (this process's
    own at once, another process's within ``store_reads.GENERATION_RECHECK_S``), so a revoked key is refused on its
    next request. A kept key is asked of the store again after :data:`RECHECK_S` anyway, so its last use is still
    recorded (the store writes it at most once a minute). Refusals are not kept."""

    RECHECK_S = 30.0

    def __init__(self, store: Any, now: Callable[[], Any]) -> None:
        self.store, self.now = store, now
        self._ok: dict[bytes, float] = {}  # digest -> when the store last said yes (monotonic)
        self._generation: Any = None

    def ok(self, key: str) -> bool:
        if not key:
            return False
        digest = hashlib.sha256(key.encode()).digest()
        generation = self.store.generation()
        if generation != self._generation:
            self._ok.clear()
            self._generation = generation
        asked = self._ok.get(digest)
        now = time.monotonic()
        if asked is not None and now - asked < self.RECHECK_S:
            return True
        if not self.store.check_api_key(key, now=self.now()):
            self._ok.pop(digest, None)
            return False
        self._ok[digest] = now
        return True


def api_key_from(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key", "").strip()


def api_auth(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        if not _api_keys(request).ok(api_key_from(request)):
            return JSONResponse({"error": "Unauthorized", "message": _("Send a valid API key as 'Authorization: Bearer <key>'; "
                                                                       "create one with `invoicebridge api-key`")}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return await endpoint(request)

    return wrapper


def _api_keys(request: Request) -> ApiKeys:
    state = request.app.state
    keys = getattr(state, "api_keys", None)
    if keys is None:
        runtime = state.runtime
        keys = state.api_keys = ApiKeys(runtime.store, runtime.now)
    return keys
