"""Xero test support shared by tests/xero and other suites: the spec adapters, the validating transport,
a fake clock and a helper that connects a store to a sandbox."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

from specs import specs_dir

from invoicebridge.core.model import Role
from invoicebridge.core.runtime import Runtime
from invoicebridge.plugins.xero.config import sandbox_config
from invoicebridge.plugins.xero.sandbox import create_sandbox

SPECS = specs_dir("xero")
START = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)
BASE = "http://xero.test"
CLIENT_ID, CLIENT_SECRET, WEBHOOK_KEY = "test-client", "test-secret", "test-webhook-key"


@attrs.define
class SpecRequest:
    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


@attrs.define
class SpecResponse:
    status_code: int
    content_type: str
    headers: Any
    data: bytes | None


def spec_request(request: httpx.Request) -> tuple[str, SpecRequest] | None:
    """The request as the spec sees it, wherever the sandbox is mounted: ``…/api.xro/2.0/X`` -> accounting
    ``/api.xro/2.0/X``; ``…/connections[/id]`` -> identity ``/Connections[/id]``. A PDF read goes to the spec's
    ``/Invoices/{InvoiceID}/pdf`` operation, whose ``x-path`` says it is the plain path with
    ``Accept: application/pdf`` (fact sheet §5.2)."""
    path = request.url.path
    if "/api.xro/2.0/" in path:
        kind, spec_path = "accounting", "/api.xro/2.0/" + path.split("/api.xro/2.0/", 1)[1]
        if "application/pdf" in request.headers.get("accept", "") and spec_path.count("/") == 4:
            spec_path += "/pdf"
    elif "/connections" in path:
        kind, spec_path = "identity", "/Connections" + path.split("/connections", 1)[1]
    else:
        return None
    query = ImmutableMultiDict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
    params = RequestParameters(query=query, header=Headers(list(request.headers.items())), cookie=ImmutableMultiDict())
    return kind, SpecRequest("https://api.xero.com", spec_path, request.method.lower(), params,
                             request.headers.get("content-type", ""), request.content or None)


class ValidatingTransport(httpx.AsyncBaseTransport):
    """Every request our client sends and every response the sandbox returns, checked against the official
    specs. Problems are collected (the fixture fails the test on any); ``log`` keeps each exchange."""

    def __init__(self, app: Any, specs: dict[str, OpenAPI]) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.specs = specs
        self.problems: list[str] = []
        self.log: list[tuple[httpx.Request, httpx.Response, str]] = []
        self.fail_transport: list[Exception] = []  # raise these (once each) before reaching the sandbox

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if self.fail_transport:
            raise self.fail_transport.pop(0)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        note = self.validate(request, response)
        self.log.append((request, response, note))
        return response

    def validate(self, request: httpx.Request, response: httpx.Response) -> str:
        mapped = spec_request(request)
        if mapped is None:
            return "not an API call"
        kind, spec_req = mapped
        openapi = self.specs[kind]
        where = f"{request.method} {request.url.path}"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unsupported scheme type")  # OAuth2 is not checked
            try:
                openapi.validate_request(spec_req)
            except PathNotFound:
                self.problems.append(f"{where}: no such path in the {kind} spec")
            except Exception as exc:  # openapi-core raises a family of validation errors
                self.problems.append(f"request {where}: {exc!r} {getattr(exc, '__cause__', '')!r}")
            spec_resp = SpecResponse(response.status_code, response.headers.get("content-type", ""),
                                     Headers(list(response.headers.items())), response.content)
            try:
                openapi.validate_response(spec_req, spec_resp)
                return "validated"
            except ResponseNotFound:
                return "status not documented"  # e.g. 401/403/404/429/5xx: the spec documents 200 and 400
            except Exception as exc:
                cause = exc.__cause__
                self.problems.append(f"response {where} {response.status_code}: {exc!r} "
                                     f"{getattr(cause, 'schema_errors', cause)!r}")
        return "invalid"

    def api_calls(self, method: str | None = None, contains: str = "") -> list[httpx.Request]:
        return [req for req, _, note in self.log if note != "not an API call" and (method is None or req.method == method)
                and contains in req.url.path]


class Clock:
    """One fake time for the client and the sandbox. ``sleep`` records and moves time instead of waiting."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


def connect(store, sandbox, clock, *, user_index: int = 0, scope: str = ""):
    tokens = sandbox.issue_tokens(user_id=sandbox.state.users[user_index]["UserID"], scope=scope)
    return store.add_connection(
        backend="xero", role=Role.ACCOUNTING, label="Xero: Demo",
        settings={"tenant_id": sandbox.tenant_id, "tenant_name": "Demo Company (UK)",
                  "user_id": sandbox.state.users[user_index]["UserID"]},
        secrets={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                 "expires_at": clock.now().timestamp() + tokens["expires_in"]},
    )

