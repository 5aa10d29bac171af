"""The web app's language: chosen per request, shown by the templates.

Order: ``?lang=de`` (also remembered in the ``lang`` cookie), the ``lang`` cookie, the browser's
Accept-Language, then the default language in settings (``language``). The choice is set with
:func:`invoicebridge.core.i18n.use_locale` for the whole request, so ``_()`` in Python and ``{{ _("…") }}`` /
``{% trans %}`` in templates speak the same language.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any, Callable

from jinja2 import Environment
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invoicebridge.core import i18n

COOKIE = "lang"


def request_language(scope: Scope, default: str = i18n.DEFAULT) -> tuple[str, bool]:
    """The language for this request and whether it was chosen now (by ``?lang=``), so the cookie is set."""
    from urllib.parse import parse_qs

    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    chosen = i18n.normalize((query.get("lang") or [""])[0])
    if chosen:
        return chosen, True
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is the browser's problem, not a reason to fail
        pass
    if COOKIE in cookie and i18n.normalize(cookie[COOKIE].value):
        return i18n.normalize(cookie[COOKIE].value) or default, False
    if headers.get("accept-language"):
        return i18n.negotiate(headers["accept-language"], default), False
    return default, False


class LanguageMiddleware:
    """Sets the request's language; ``default`` is a callable so a change in settings applies at once."""

    def __init__(self, app: ASGIApp, default: Callable[[], str] = lambda: i18n.DEFAULT) -> None:
        self.app, self.default = app, default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        code, chosen = request_language(scope, i18n.normalize(self.default()) or i18n.DEFAULT)
        scope.setdefault("state", {})["language"] = code

        async def send_with_cookie(message: Message) -> None:
            if chosen and message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", f"{COOKIE}={code}; Path=/; Max-Age=31536000; SameSite=Lax".encode()))
                message = {**message, "headers": headers}
            await send(message)

        with i18n.use_locale(code):
            await self.app(scope, receive, send_with_cookie)


def install(env: Environment) -> None:
    """Jinja2's i18n extension on our catalogues, plus filters for numbers, money and dates in the locale."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext)  # type: ignore[attr-defined]
    env.filters["money"] = lambda amount, currency=None: i18n.format_money(amount, currency)
    env.filters["number"] = lambda value, places=None: i18n.format_number(value, places=places)
    env.filters["date"] = lambda value, format="medium": i18n.format_date(value, format)
    env.filters["datetime"] = lambda value, format="medium": i18n.format_datetime(value, format)
    env.globals["current_language"] = i18n.current_locale
    env.globals["LANGUAGES"] = {"en": "English", "de": "Deutsch"}


def template_globals() -> dict[str, Any]:
    return {"lang": i18n.current_locale()}
