"""What the demo needs from the Pipedrive sandbox: the app settings pointing at it, the API token it accepts, its
webhooks delivered to the app in-process, the mapping of its seeded VAT field and a deal worth opening first."""

from __future__ import annotations

import secrets
from typing import Any

from invoicebridge.core import DemoBackend, hookimpl

NAME = "pipedrive"
TOKEN = "sandbox-token"


def suggested_deal(state: Any) -> str:
    """The first seeded deal with an organisation and products (the one the tour opens)."""
    deals = sorted(state.deals.values(), key=lambda d: d["id"]) if isinstance(getattr(state, "deals", None), dict) else []
    for deal in deals:
        if deal.get("org_id") and state.lines_of(deal["id"]):
            return str(deal["id"])
    return str(deals[0]["id"]) if deals else "1"


@hookimpl
def invoicebridge_demo_backend(runtime: Any, name: str, sandbox: Any, public_url: str, transport: Any) -> DemoBackend | None:
    if name != NAME:
        return None
    base = f"{public_url.rstrip('/')}/sandbox/pipedrive"
    webhook_password = secrets.token_urlsafe(24)
    config = {"api_base": base, "client_id": "sandbox-client", "client_secret": "sandbox-secret",
              "authorize_url": f"{base}/oauth/authorize", "token_url": f"{base}/oauth/token",
              "webhook_user": "invoicebridge", "webhook_password": webhook_password, "jwt_secret": secrets.token_urlsafe(32)}
    state = sandbox.state.sandbox
    state.delivery_transport = transport
    return DemoBackend(
        config=config, token=TOKEN,
        mapping={"tax_number": "organization.custom:VAT number"},  # the seeded organisations' VAT field
        info={"base_url": base, "console_url": f"{base}/", "api_base": base, "api_token": TOKEN,
              "webhook_user": config["webhook_user"], "webhook_password": webhook_password},
        label="Pipedrive", console_hint="win a deal", suggested_deal=suggested_deal(state))
