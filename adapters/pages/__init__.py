"""Server-rendered pages (Jinja2, autoescaped): login, dashboard, connections, settings, deal, create invoice,
bulk runs, one module per resource.

Every page needs the admin login; every form carries the CSRF token. Pages work without JavaScript; a little
vanilla JS adds live totals, the item picker fill-in, copy-to-clipboard and a status poll on the deal page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import bulk, connections, create, dashboard, deals, invoices, login, search, settings
from .common import HERE, error_page, flash, render, templates

__all__ = ["error_page", "flash", "render", "routes", "templates"]

# each page module lists its own routes; their order here is the order they are matched in
PAGES = (dashboard, search, login, connections, settings, deals, create, invoices, bulk)


async def favicon(request: Request) -> RedirectResponse:
    """Where browsers look for an icon by themselves (pages name /static/favicon.svg): no 404 in every log."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


def routes() -> list:
    return [*(route for page in PAGES for route in page.routes),
            Route("/favicon.ico", favicon),
            Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static")]
