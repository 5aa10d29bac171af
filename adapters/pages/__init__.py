"""Server-rendered pages (Jinja2, autoescaped): login, dashboard, connections, settings, deal, create invoice,
bulk runs, one module per resource.

Every page needs the admin login; every form carries the CSRF token. Pages work without JavaScript; a little
vanilla JS adds live totals, the item picker fill-in, copy-to-clipboard and a status poll on the deal page.
"""

from __future__ import annotations

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .bulk import routes_bulk
from .common import HERE, error_page, flash, render, templates
from .connections import (check_connection, connect_callback, connect_choose, connect_start, connect_token, connections,
                          disconnect, reconnect, save_credentials)
from .create import create_form, create_preview, create_submit
from .dashboard import dashboard, health, retry_operation
from .deals import deal_page, deal_version, open_from_crm
from .invoices import (invoice_command, invoice_email_confirm, invoice_open, invoice_page, invoice_pdf,
                       invoice_share)
from .login import login, logout
from .search import search_page
from .settings import save_settings, settings_page

__all__ = ["error_page", "flash", "render", "routes", "templates"]


def routes() -> list:
    return [
        Route("/", dashboard, name="dashboard"),
        Route("/health", health),
        Route("/search", search_page),
        Route("/login", login, methods=["GET", "POST"], name="login"),
        Route("/logout", logout, methods=["POST"]),
        Route("/connections", connections),
        Route("/connections/{connection_id:int}/check", check_connection, methods=["POST"]),
        Route("/connections/{connection_id:int}/disconnect", disconnect, methods=["POST"]),
        Route("/connect/{backend}/credentials", save_credentials, methods=["POST"]),
        Route("/connect/{backend}/token", connect_token, methods=["POST"]),
        Route("/connect/{backend}/choose", connect_choose, methods=["POST"]),
        Route("/connect/{backend}/callback", connect_callback),
        Route("/connect/{backend}", connect_start),
        Route("/reconnect/{backend}", reconnect),
        Route("/settings", settings_page),
        Route("/settings", save_settings, methods=["POST"]),
        Route("/deals", open_from_crm),
        Route("/deals/{deal_id}", deal_page),
        Route("/deals/{deal_id}/version", deal_version),
        Route("/deals/{deal_id}/invoices/new", create_form),
        Route("/deals/{deal_id}/invoices", create_submit, methods=["POST"]),
        Route("/deals/{deal_id}/invoices/preview", create_preview, methods=["POST"]),
        Route("/invoices/{invoice_id}", invoice_page),
        Route("/invoices/{invoice_id}/pdf", invoice_pdf),
        Route("/invoices/{invoice_id}/share", invoice_share),
        Route("/invoices/{invoice_id}/open", invoice_open),
        Route("/invoices/{invoice_id}/email", invoice_email_confirm),
        Route("/invoices/{invoice_id}/{command}", invoice_command, methods=["POST"]),
        Route("/operations/{key}/retry", retry_operation, methods=["POST"]),
        *routes_bulk,
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
