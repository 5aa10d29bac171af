"""Inside Pipedrive: the JSON panel on the deal detail view, and the OAuth app's uninstall callback.

Pipedrive calls the panel URL with ``selectedIds`` (the deal id) and ``token``, a JWT signed (HS256) with the
app's JWT secret (which defaults to the client secret). A forged or expired token gets a 401 in the panel's
documented error shape. The answer follows the JSON-panel format: at most 10 objects, each with only the
keys declared in the panel schema we upload (see README.md), plus an external link that opens our
"Create invoice" page for the deal.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invoicebridge.core.model import InvoiceRecord
from invoicebridge.core.status import COLOURS, display_label

from .i18n import _
from .config import PipedriveConfig

PANEL_PATH = "/pipedrive/panel"
UNINSTALL_PATH = "/pipedrive/uninstall"
MAX_OBJECTS = 10
PIPEDRIVE_COLOURS = {"gray": "grey"}  # Pipedrive's label colours: green red blue yellow purple grey


def _error(status: int, title: str, subtitle: str) -> JSONResponse:
    return JSONResponse({"error": {"title": title, "subtitle": subtitle}}, status_code=status)


def _integer_claim(claims: dict[str, Any], name: str, *, digits_ok: bool = False) -> int | None:
    """An integer claim (None when absent). NaN, infinity, fractions, text and lists are refused: a
    token whose ``exp`` is ``"inf"`` must not live for ever, nor crash the check."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, str) and digits_ok and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise jwt.InvalidTokenError(f"the {name} claim must be an integer")
    return value


def verify_jwt(token: str, secret: str, now: dt.datetime, *, company_id: Any = None) -> dict[str, Any]:
    """The claims of a Pipedrive extension JWT; raises ``jwt.InvalidTokenError`` if forged, expired, malformed
    or for another company than ``company_id`` (when given).

    pyjwt checks the signature and that ``exp``, ``userId`` and ``companyId`` are present; expiry (and ``nbf``,
    ``iat``) are checked here against ``now`` (the runtime's clock, so tests control it), as integers only.
    """
    if not secret:
        raise jwt.InvalidTokenError("no JWT secret is configured")
    claims = jwt.decode(token, secret, algorithms=["HS256"],
                        options={"require": ["exp", "userId", "companyId"], "verify_exp": False, "verify_iat": False,
                                 "verify_nbf": False})
    stamp = now.timestamp()
    exp = _integer_claim(claims, "exp")
    if exp is None or exp <= stamp:
        raise jwt.ExpiredSignatureError("Signature has expired")
    nbf = _integer_claim(claims, "nbf")
    if nbf is not None and nbf > stamp + 60:
        raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
    _integer_claim(claims, "iat")
    user = _integer_claim(claims, "userId", digits_ok=True)
    company = _integer_claim(claims, "companyId", digits_ok=True)
    if user is None or company is None:
        raise jwt.MissingRequiredClaimError("userId" if user is None else "companyId")
    if company_id is not None and str(company) != str(company_id):
        raise jwt.InvalidTokenError("the token is for another Pipedrive company than the connected one")
    return claims


def panel_object(record: InvoiceRecord, public_url: str) -> dict[str, Any]:
    colour = COLOURS[record.status]
    obj: dict[str, Any] = {
        "id": record.id,
        "header": record.number or _("Draft invoice"),
        "status": {"color": PIPEDRIVE_COLOURS.get(colour, colour),
                   "label": display_label(record.status, amount_paid=record.amount_paid)[:40]},
        "total": {"code": record.currency, "value": float(record.total)},
        "amount_due": {"code": record.currency, "value": float(record.amount_due)},
        "link": {"label": _("View invoice"), "value": f"{public_url}/invoices/{record.id}", "external": True},
    }
    if record.due_date:
        obj["due_date"] = record.due_date.isoformat()
    return obj


def panel_payload(records: list[InvoiceRecord], deal_id: str, public_url: str) -> dict[str, Any]:
    newest = sorted(records, key=lambda r: r.id, reverse=True)[:MAX_OBJECTS]
    return {"data": [panel_object(r, public_url) for r in newest],
            "external_link": {"url": f"{public_url}/deals/{deal_id}", "label": _("Create invoice")}}


def routes(runtime: Any) -> list[Route]:
    public_url = runtime.public_url.rstrip("/")

    async def invoice_panel(request: Request) -> JSONResponse:
        cfg = PipedriveConfig.from_runtime(runtime)
        connection = runtime.maybe_connection("crm")
        try:
            if connection is None or connection.backend != "pipedrive" or not connection.settings.get("company_id"):
                raise jwt.InvalidTokenError("no Pipedrive company is connected")
            verify_jwt(request.query_params.get("token", ""), cfg.panel_secret, runtime.now(),
                       company_id=connection.settings["company_id"])
        except jwt.InvalidTokenError:
            return _error(401, _("Not authorised"), _("Reinstall or reconnect the invoicebridge app in Pipedrive"))
        deal_id = request.query_params.get("selectedIds", "").split(",")[0].strip()
        if not deal_id.isdigit():
            return _error(400, _("No deal selected"), _("Open the panel from a deal's detail view"))
        records = runtime.store.invoices_for_deal(deal_id)
        return JSONResponse(panel_payload(records, deal_id, public_url))

    async def uninstall(request: Request) -> JSONResponse:
        cfg = PipedriveConfig.from_runtime(runtime)
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        ok = (scheme.lower() == "basic" and bool(cfg.oauth.client_id)
              and hmac.compare_digest(user.encode(), cfg.oauth.client_id.encode())
              and hmac.compare_digest(password.encode(), cfg.oauth.client_secret.encode()))
        if not ok:
            return JSONResponse({"success": False, "error": "unauthorized"}, status_code=401)
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"success": False, "error": "body is not JSON"}, status_code=400)
        connection = runtime.maybe_connection("crm")
        if connection is not None and connection.backend == "pipedrive" and (
                not body.get("company_id") or str(connection.settings.get("company_id", body.get("company_id")))
                == str(body.get("company_id"))):
            await runtime.save_secrets(connection, {})
            await runtime.update_settings(connection, {**connection.settings, "uninstalled_at": runtime.now().isoformat()})
            deactivate = getattr(runtime.store, "deactivate_connection", None)
            if deactivate is not None:
                deactivate(connection.id)
        return JSONResponse({"success": True})

    return [Route(PANEL_PATH, invoice_panel, methods=["GET"]),
            Route(UNINSTALL_PATH, uninstall, methods=["DELETE"])]
