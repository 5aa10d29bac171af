"""The request loop of the connector kit, and one kept-open ``httpx.AsyncClient`` per connection.

:meth:`Connector.request` takes a slot from the connection's :class:`~.limiter.Limiter`, puts the access token
from the :class:`~.oauth.TokenKeeper` on the request (renewing it once when the service says it expired), sends,
hands the budget readings of the answer to the limiter, maps the answer or the httpx exception to a typed error
through the plugin's :class:`Dialect`, and retries what the :class:`~.retry.RetryPolicy` allows. A rate limit
pauses the whole connection (every task waits, not only the one that was told); a spent daily budget stops it.

A plugin keeps one :class:`Connector` per connection with :func:`connector_for` (in ``runtime.cache``); it is
closed by :func:`close_connectors` when the connection is removed and when the app shuts down.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterable

import httpx

from ..errors import (AuthError, BackendError, DailyLimitReached, InvoiceBridgeError, RateLimited, RemoteNotFound,
                      RemoteValidationError, ServerError, TransportError)
from ..i18n import _
from .limiter import Budget, Limiter
from .retry import RetryPolicy

CACHE_KEY = "connector"


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header's delta-seconds; None when absent or an HTTP date (the retry policy's default wait
    applies then)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class Dialect:
    """What a plugin tells the kit about its service. Override what differs; the defaults are neutral."""

    backend = ""

    def error_for(self, response: httpx.Response) -> InvoiceBridgeError | None:
        """The typed error for an answer (None for a success). By default by the HTTP status alone: 401/403
        :class:`AuthError`, 404 :class:`RemoteNotFound`, 429 :class:`RateLimited` (``Retry-After`` seconds), 5xx
        :class:`ServerError`, any other 4xx :class:`RemoteValidationError`; worded by :meth:`message`."""
        status = response.status_code
        if status < 400:
            return None
        text = self.message(response) or _("The service answered %(status)s") % {"status": status}
        where: dict[str, Any] = {"backend": self.backend, "method": response.request.method,
                                 "url": str(response.request.url), "status": status}
        if status in (401, 403):
            return AuthError(text, **where)
        if status == 404:
            return RemoteNotFound(text, **where)
        if status == 429:
            return RateLimited(text, retry_after=retry_after_seconds(response.headers.get("retry-after")), **where)
        if status >= 500:
            return ServerError(text, **where)
        return RemoteValidationError(text, messages=[text], **where)

    def message(self, response: httpx.Response) -> str:
        """The service's own words for an error answer ("" when it gave none): override to read its error body."""
        return ""

    def transport_error(self, exc: httpx.RequestError, method: str, url: str) -> BackendError:
        return TransportError(_("Could not reach the service (%(error)s); check the network and try again")
                              % {"error": type(exc).__name__}, backend=self.backend, method=method, url=url)

    def budgets(self, response: httpx.Response, now: Any) -> Iterable[Budget]:
        """What the answer's headers say is left of the service's budgets (pacing); nothing by default."""
        return ()

    def token_rejected(self, response: httpx.Response) -> bool:
        """Whether a fresh access token may cure this answer (then it is renewed and the call sent once more)."""
        return response.status_code == 401


class Connector:
    """The client side of one connection: its limiter, retry policy, token keeper and kept-open HTTP client."""

    def __init__(
        self,
        runtime: Any,
        dialect: Dialect,
        *,
        limiter: Limiter | None = None,
        retry: RetryPolicy | None = None,
        keeper: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.runtime = runtime
        self.dialect = dialect
        self.limiter = limiter or Limiter(now=runtime.now, sleep=runtime.sleep)
        self.retry = retry or RetryPolicy()
        self.keeper = keeper
        self.headers = dict(headers or {})
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The connection's one client, kept open between calls (made anew only on another event loop)."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.is_closed or self._loop is not loop:
            self._http = self.runtime.http_client(self.dialect.backend, headers=self.headers)
            self._loop = loop
        return self._http

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None and not http.is_closed:
            try:
                await http.aclose()
            except RuntimeError:  # made on an event loop that is gone: nothing left to close
                pass

    async def request(self, method: str, url: str, *, authorize: bool = True, limited: bool = True,
                      passthrough: Iterable[int] = (), retry: RetryPolicy | None = None,
                      **kwargs: Any) -> httpx.Response:
        """Send until success or a final error. ``authorize``: put the keeper's token on the call; ``limited``:
        take a slot from the limiter; ``passthrough``: statuses returned to the caller instead of raised; ``retry``:
        this call's policy instead of the connector's."""
        policy = retry or self.retry
        attempt = 1
        while True:
            try:
                response = await self._send(method, url, authorize, limited, kwargs)
                if response.status_code in passthrough:
                    return response
                error = self.dialect.error_for(response)
                if error is None:
                    return response
                raise error
            except BackendError as error:
                if isinstance(error, DailyLimitReached):
                    if error.status is not None:  # the service said so (not our own limiter refusing)
                        self.limiter.stop_for_day(error.retry_after)
                    raise
                decision = policy.decide(error, attempt, method)
                if isinstance(error, RateLimited):
                    wait = decision.delay if decision.retry else error.retry_after
                    self.limiter.pause(wait or 0.0)  # every call of the connection waits, not only this one
                if not decision.retry:
                    raise
                if not isinstance(error, RateLimited):
                    await self.runtime.sleep(decision.delay)
                attempt += 1

    async def _send(self, method: str, url: str, authorize: bool, limited: bool, kwargs: dict[str, Any]) -> httpx.Response:
        if not limited:
            return await self._exchange(method, url, authorize, kwargs)
        async with self.limiter:
            return await self._exchange(method, url, authorize, kwargs)

    async def _exchange(self, method: str, url: str, authorize: bool, kwargs: dict[str, Any]) -> httpx.Response:
        headers = dict(kwargs.get("headers") or {})
        kwargs = {k: v for k, v in kwargs.items() if k != "headers"}
        keeper = self.keeper if authorize else None
        try:
            token = await keeper.token() if keeper is not None else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            response = await self.http.request(method, url, headers=headers, **kwargs)
            if keeper is not None and token is not None and self.dialect.token_rejected(response):
                token = await keeper.token(stale=token)
                headers["Authorization"] = f"Bearer {token}"
                response = await self.http.request(method, url, headers=headers, **kwargs)
        except httpx.RequestError as exc:
            raise self.dialect.transport_error(exc, method, url) from exc
        self.limiter.observe(self.dialect.budgets(response, self.runtime.now()))
        return response


def connector_for(runtime: Any, backend: str, key: Any, build: Callable[[], Connector]) -> Connector:
    """The one :class:`Connector` of connection ``key`` of ``backend``, built on first use and kept."""
    connectors = runtime.cache.setdefault(CACHE_KEY, {})
    connector = connectors.get((backend, key))
    if connector is None:
        connector = connectors[(backend, key)] = build()
    return connector


async def close_connectors(runtime: Any, *, backend: str | None = None, key: Any = None) -> None:
    """Close and forget the kept connectors: of one connection, of one backend, or all (at shutdown)."""
    connectors = runtime.cache.get(CACHE_KEY) or {}
    for (name, k), connector in list(connectors.items()):
        if (backend is None or name == backend) and (key is None or k == key):
            del connectors[(name, k)]
            await connector.aclose()
