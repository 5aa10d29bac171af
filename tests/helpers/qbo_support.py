"""QuickBooks test support shared by tests/quickbooks and other suites: a transport that checks every request body
our client sends and every answer the sandbox gives against Intuit's XSDs (:mod:`qbo_xsd`), a fake clock and
helpers that connect."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import contract
import httpx
from qbo_xsd import problems
from xero_support import Clock  # noqa: F401  (one fake clock for every sandbox's tests)

START = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)
BASE = "http://qbo.test"
CLIENT_ID, CLIENT_SECRET, VERIFIER = "test-client", "test-secret", "test-verifier-token"
ENTITY_ELEMENTS = {"invoice": "Invoice", "customer": "Customer", "payment": "Payment", "item": "Item",
                   "account": "Account", "term": "Term", "vendor": "Vendor", "employee": "Employee"}


def _api_path(path: str) -> list[str] | None:
    """The path after ``/v3/company/{realm}/`` split in parts, or None when not an API call."""
    if "/v3/company/" not in path:
        return None
    return path.split("/v3/company/", 1)[1].split("/")[1:]


class XsdTransport(contract.ValidatingTransport):
    """Every exchange checked against the XSDs instead of an OpenAPI spec; problems collected (fixtures fail the
    test on any), ``log`` keeps (request, response, note), ``fail_transport`` raises errors before sending."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        super().__init__(inner, {}, lambda request: None)

    def validate(self, request: httpx.Request, response: httpx.Response) -> str:
        parts = _api_path(request.url.path)
        if parts is None:
            return "not an API call"
        where = f"{request.method} {request.url.path}"
        if request.method == "POST" and request.content and "json" in request.headers.get("content-type", ""):
            try:
                body = json.loads(request.content, parse_float=Decimal)
            except ValueError:
                body = None  # a deliberately broken body (the sandbox's own answer is still checked)
            if body is None:
                pass
            elif parts == ["batch"]:
                self.problems += [f"request {where}: {p}" for p in problems(body, "IntuitBatchRequest")]
            elif len(parts) == 1 and parts[0] in ENTITY_ELEMENTS:
                self.problems += [f"request {where}: {p}" for p in problems(body, ENTITY_ELEMENTS[parts[0]])]
        ctype = response.headers.get("content-type", "")
        if response.status_code == 401:
            return "authentication fault (lower-case shape, not in the XSD)"
        if "json" in ctype:
            found = problems(response.content)
            self.problems += [f"response {where} {response.status_code}: {p}" for p in found]
            return "invalid" if found else "validated"
        if "xml" in ctype:
            return "xml"
        return "not json"


class Raw:
    """A thin HTTP helper over the sandbox for tests of the sandbox itself (the plugin's client has its own)."""

    def __init__(self, sandbox: Any, transport: httpx.AsyncBaseTransport, clock: Any = None) -> None:
        self.sandbox = sandbox
        self.clock = clock  # moved 0.15 s before each call: a paced caller stays under 10 requests a second
        self.token = sandbox.issue_tokens()["access_token"]
        self.http = httpx.AsyncClient(transport=transport, base_url=BASE)

    def url(self, path: str) -> str:
        return f"/v3/company/{self.sandbox.realm_id}/{path}"

    async def call(self, method: str, path: str, body: Any = None, *, params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None, content: bytes | None = None) -> httpx.Response:
        if self.clock is not None:
            self.clock.advance(0.15)
        hdrs = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        if body is not None:
            content = json.dumps(body, default=_float).encode()
            hdrs["Content-Type"] = "application/json"
        return await self.http.request(method, self.url(path), params={"minorversion": "75", **(params or {})},
                                       content=content, headers=hdrs)

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        response = await self.call(method, path, body, **kw)
        assert response.status_code == 200, response.text
        return json.loads(response.content, parse_float=Decimal)

    async def fault(self, method: str, path: str, body: Any = None, *, status: int = 400, **kw: Any) -> dict[str, Any]:
        response = await self.call(method, path, body, **kw)
        assert response.status_code == status, response.text
        return json.loads(response.content, parse_float=Decimal)["Fault"]["Error"][0]


def _float(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


def connect(store, sandbox, clock, *, scope: str = "com.intuit.quickbooks.accounting openid email"):
    """A stored QuickBooks connection to ``sandbox`` (what the OAuth flow would leave)."""
    from invoicebridge.core.model import Role

    tokens = sandbox.issue_tokens(scope)
    return store.add_connection(
        backend="quickbooks", role=Role.ACCOUNTING, label="QuickBooks: Demo Company (UK)",
        settings={"realm_id": sandbox.realm_id, "company_name": "Demo Company (UK)", "home_currency": "GBP",
                  "us": False, "user_email": "finance@demo.example"},
        secrets={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                 "expires_at": clock.now().timestamp() + tokens["expires_in"]},
    )
