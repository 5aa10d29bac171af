"""The Starlette application: pages, JSON API, webhooks, OAuth callbacks and plugin routes.

``create_app(config)`` builds everything; the store, runtime and pipeline hang off ``app.state``. The
lifespan starts the outbox worker, a background task that finishes left-over operations and pending CRM
write-backs (after a crash these can take minutes) while the app already answers, then runs the
reconciliation loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Mapping

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from invoicebridge.core.connector import close_connectors
from invoicebridge.core.errors import AuthError, BackendError, InvoiceBridgeError, NotConnected, PermissionDenied
from invoicebridge.core.i18n import _, use_locale
from invoicebridge.core.pipeline import Pipeline
from invoicebridge.core.plugins import Plugins
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.store import Store, make_private_dir

from . import account, api, bulk_jobs, live, pages, webhooks
from .config import AppConfig
from .i18n import request_language
from .routing import IndexedRouter
from .middleware import BodyTooLarge, SecurityHeaders
from .kept_answers import KeptAnswers
from .page_cache import PageCache
from .security import ApiKeys, hash_password
from .sessions import ServerSessions
from .web_stack import WebMiddleware

log = logging.getLogger("invoicebridge.web")


def create_app(
    config: AppConfig,
    *,
    store: Store | None = None,
    plugins: Plugins | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    sandboxes: list[Any] | None = None,  # Sandbox objects (invoicebridge.core.sandboxes) to mount
    runtime_options: Mapping[str, Any] | None = None,
) -> Starlette:
    make_private_dir(config.data_dir)
    store = store or Store.open(config.db_path)
    plugins = plugins or Plugins()
    runtime = Runtime(
        store=store,
        transports=dict(transports or {}),
        public_url=config.public_url,
        config=_backend_config(store, config),
        **dict(runtime_options or {}),
    )
    pipeline = Pipeline(runtime, plugins)
    if config.admin_password:
        store.set_app_secret("admin_password", hash_password(config.admin_password))

    routes: list[BaseRoute] = [*pages.routes(), *live.routes(), *account.routes(), *api.routes(), *webhooks.routes(), *plugins.web_routes(runtime)]
    for sandbox in sandboxes or []:
        routes.append(Mount(sandbox.mount_path, app=sandbox.app))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        task = None
        try:
            for hook in app.state.startup_hooks:
                await hook(app)
            # Never awaited here: webhooks, the API and sign-in are answered while left-over work finishes.
            task = app.state.outbox_worker = asyncio.create_task(_outbox_worker(pipeline, config.sync_interval))
            bulk_jobs.resume(app)  # bulk runs the last process left running go on (or say why they cannot)
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await _drain_background(app)
            await close_connectors(runtime)  # the HTTP clients the plugins kept open, one per connection

    def language() -> str:
        return store.get_setting("language") or "en"

    app = _App(
        routes=routes,
        middleware=[Middleware(WebMiddleware,  # security headers, language, body limits, sessions: one layer
                               security=SecurityHeaders(https=config.public_url.startswith("https://") or config.cookie_secure,
                                                        frame_ancestors=plugins.frame_ancestors(runtime)),
                               language=language,
                               sessions=ServerSessions(store=store, now=lambda: runtime.now(), https_only=config.cookie_secure))],
        exception_handlers={InvoiceBridgeError: _domain_error, HTTPException: _http_error, BodyTooLarge: _too_large,
                            Exception: _unexpected},
        lifespan=lifespan,
    )
    # the same routes, found by the path's first segment (see .routing)
    app.router = IndexedRouter(routes=app.router.routes, lifespan=app.router.lifespan_context)
    app.state.config = config
    app.state.page_cache = PageCache()
    app.state.api_keys = ApiKeys(store, runtime.now)
    app.state.default_language = language
    app.state.runtime = runtime
    app.state.pipeline = pipeline
    app.state.plugins = plugins
    app.state.background = set()
    app.state.startup_hooks = []  # async callables run first in the lifespan (the demo connects here)
    app.state.sandboxes = {s.name: (s.mount_path, s) for s in sandboxes or []}  # name -> (mount path, Sandbox)
    return app


class _App(Starlette):
    """Kept API answers and pages are served in front of the whole stack (see .kept_answers)."""

    def build_middleware_stack(self) -> ASGIApp:
        state = self.state
        runtime = state.runtime
        return KeptAnswers(super().build_middleware_stack(), store=runtime.store, keys=state.api_keys,
                           cache=state.page_cache, language=state.default_language, now=lambda: runtime.now().timestamp())


def _backend_config(store: Store, config: AppConfig) -> dict[str, dict[str, Any]]:
    """Backend app credentials: the environment wins over what was saved on the Connections page."""
    merged: dict[str, dict[str, Any]] = {}
    saved = store.get_app_secret("backend_config", {}) or {}
    for backend, values in saved.items():
        merged.setdefault(backend, {}).update(values)
    for backend, values in config.backends.items():
        merged.setdefault(backend, {}).update(values)
    return merged


async def _start_up(pipeline: Pipeline) -> None:
    try:
        pipeline.accounting, pipeline.crm  # noqa: B018 (the properties raise NotConnected)
    except NotConnected:
        return
    try:
        recovered = await pipeline.recover()
        if recovered:
            log.info("finished %d invoice operations left from the last run", recovered)
    except InvoiceBridgeError as exc:
        log.warning("could not finish left-over operations yet: %s", exc)
    except Exception:  # start anyway: the pages show what is left over, and the next pass retries it
        log.exception("finishing left-over operations crashed; starting anyway")


async def _outbox_worker(pipeline: Pipeline, interval: float) -> None:
    """The background worker: finish what the last run left (operations, write-backs), then reconcile every
    ``interval`` seconds (0: only the first pass). ``app.state.outbox_worker`` is its task."""
    await _start_up(pipeline)
    if interval > 0:
        await _reconcile_forever(pipeline, interval)


async def _reconcile_forever(pipeline: Pipeline, interval: float) -> None:
    """Every ``interval`` seconds (on the runtime's clock): finish left-over work and fetch what changed."""
    while True:
        await pipeline.runtime.sleep(interval)
        try:
            pipeline.accounting, pipeline.crm  # noqa: B018 (the properties raise NotConnected)
            await pipeline.reconcile()
        except NotConnected:
            continue
        except InvoiceBridgeError as exc:
            log.warning("reconciliation failed: %s", exc)
        except Exception:  # keep the loop alive; the cause is logged without secrets
            log.exception("reconciliation crashed")


def run_in_background(request: Request, coro) -> None:
    """Process after answering (webhooks). Tasks are kept so shutdown can wait for them."""
    tasks: set = request.app.state.background

    async def guarded():
        try:
            await coro
        except Exception:
            log.exception("background work failed; the next reconciliation will catch up")

    task = asyncio.create_task(guarded())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _drain_background(app: Starlette) -> None:
    tasks = list(app.state.background)
    if tasks:
        await asyncio.wait(tasks, timeout=10)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/webhooks/")) or "application/json" in request.headers.get("accept", "")


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvoiceBridgeError)
    if _wants_json(request):
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)
    # A remote API's refusal keeps its request note (folded away on the page); an expired or revoked login
    # offers Reconnect.
    reconnect = exc.backend if isinstance(exc, AuthError) and not isinstance(exc, PermissionDenied) else ""
    return pages.error_page(request, str(exc) if isinstance(exc, BackendError) else exc.message, exc.status_code,
                            backend=reconnect)


def _http_message(request: Request, exc: HTTPException) -> str:
    """Starlette's bare "Not Found" / "Method Not Allowed", said so a person knows where to go."""
    where = _("see /api/openapi.json") if request.url.path.startswith("/api/") else _("check the address or start from the dashboard")
    if exc.status_code == 404 and exc.detail == "Not Found":
        return _("There is nothing at %(path)s; %(where)s") % {"path": request.url.path[:200], "where": where}
    if exc.status_code == 405 and exc.detail == "Method Not Allowed":
        return _("%(path)s does not take %(method)s requests; %(where)s") % {"path": request.url.path[:200], "method": request.method,
                                                                           "where": where}
    return exc.detail


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = _http_message(request, exc)
    if _wants_json(request):
        return JSONResponse({"error": "HTTPError", "message": message}, status_code=exc.status_code, headers=exc.headers)
    return pages.error_page(request, message, exc.status_code)


async def _too_large(request: Request, exc: Exception) -> Response:
    """A body that passed its route's limit while being read (the middleware refuses a declared one itself)."""
    assert isinstance(exc, BodyTooLarge)
    if _wants_json(request):
        return JSONResponse({"error": "TooLarge", "message": exc.detail}, status_code=413)
    return pages.error_page(request, exc.detail, 413)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    try:  # the language middleware has finished by now: ask again (the settings' default needs the store)
        default = request.app.state.runtime.store.get_settings().get("language") or "en"
    except Exception:
        default = "en"
    with use_locale(request_language(request.scope, default)[0]):
        message = _("Something went wrong on our side; the details are in the server log. Try again, or retry from the dashboard.")
    if _wants_json(request):
        return JSONResponse({"error": "InternalError", "message": message}, status_code=500)
    return PlainTextResponse(message, status_code=500)
