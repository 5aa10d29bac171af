"""What every page shares: the templates, ``render``, the error page, the flash message, the app state."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from invoicebridge.core.status import COLOURS

from .. import display
from ..i18n import install as i18n_install
from .. import labels
from ..security import csrf_token, is_admin


HERE = Path(__file__).parent.parent  # adapters/: templates/ and static/
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.auto_reload = False  # templates ship with the package: no stat() of every file on every render
i18n_install(templates.env)
display.install(templates.env)
templates.env.globals["COLOURS"] = {s.value: c for s, c in COLOURS.items()}


labels.install(templates.env)


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    ctx = {"user": request.session.get("user"), "is_admin": is_admin(request), "csrf": csrf_token(request),
           "flash": request.session.pop("flash", None)}
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


def fragment(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Part of a page, fetched by the page's script: no layout, and a pending one-time message stays for the
    next whole page."""
    ctx = {"user": request.session.get("user"), "is_admin": is_admin(request), "csrf": csrf_token(request), **context}
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def error_page(request: Request, message: str, status_code: int, *, backend: str = "") -> HTMLResponse:
    """``backend``: the connection the error is about, when reconnecting it is the way out (a Reconnect button)."""
    return render(request, "error.html", {"message": message, "status_code": status_code, "backend": backend},
                  status_code=status_code)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"message": message, "kind": kind}


def state(request: Request):
    return request.app.state


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    parsed = urlparse(target)
    return target if not parsed.scheme and not parsed.netloc and target.startswith("/") and not target.startswith("//") else "/"

