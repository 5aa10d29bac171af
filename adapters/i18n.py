"""The web app's language: chosen per request, shown by the templates.

Order: ``?lang=de`` (also remembered in the ``lang`` cookie), the ``lang`` cookie, the browser's
Accept-Language, then the default language in settings (``language``). The choice is set with
:func:`invoicebridge.core.i18n.use_locale` for the whole request, so ``_()`` in Python and ``{{ _("…") }}`` /
``{% trans %}`` in templates speak the same language.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any, Callable
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from jinja2 import Environment
from starlette.types import Scope

from invoicebridge.core import i18n

COOKIE = "lang"
COOKIE_PREFIX = COOKIE.encode() + b"="


def request_language(scope: Scope, default: str | Callable[[], str] = i18n.DEFAULT) -> tuple[str, bool]:
    """The language for this request and whether it was chosen now (by ``?lang=``), so the cookie is set.

    ``default`` may be a callable (the settings' language): it is asked only when the request names no language we
    speak, so a request with a cookie or a matching Accept-Language reads no settings."""

    def fallback() -> str:
        value = default() if callable(default) else default
        return i18n.normalize(value) or i18n.DEFAULT

    raw_query = scope.get("query_string", b"")
    if b"lang" in raw_query:  # most requests name no language: no parsing
        query = parse_qs(raw_query.decode("latin-1"))
        chosen = i18n.normalize((query.get("lang") or [""])[0])
        if chosen:
            return chosen, True
    # only the two headers we read are looked at (a repeated one: its last value, as before)
    raw_cookie = raw_accept = None
    for name, value in scope.get("headers") or ():
        name = name.lower()
        if name == b"cookie":
            raw_cookie = value
        elif name == b"accept-language":
            raw_accept = value
    if raw_cookie is not None and COOKIE_PREFIX in raw_cookie:  # parse the Cookie header only when it can hold ours
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(raw_cookie.decode("latin-1"))
        except Exception:  # a malformed Cookie header is the browser's problem, not a reason to fail
            pass
        if COOKIE in cookie and i18n.normalize(cookie[COOKIE].value):
            return i18n.normalize(cookie[COOKIE].value) or fallback(), False
    if raw_accept:
        return i18n.negotiate(raw_accept.decode("latin-1"), "") or fallback(), False
    return fallback(), False


def _here(request: Any) -> tuple[str, list[tuple[str, str]]]:
    """The page to come back to after switching language: this one for a GET; after a form was posted, the
    page the form was on (same site only), else the dashboard."""
    if request.method in ("GET", "HEAD"):
        return request.url.path, [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.path.startswith("/") and not referer.path.startswith("//") and (
            not referer.netloc or referer.netloc == request.headers.get("host")):
        return referer.path, [(k, v) for k, v in parse_qsl(referer.query) if k != "lang"]
    return "/", []


def language_links(request: Any) -> list[dict[str, Any]]:
    """One link per language to this same page in that language (``?lang=de``, other parameters kept)."""
    path, query = _here(request)
    current = i18n.current_locale()
    return [{"code": code, "name": name, "current": code == current,
             "href": path + "?" + urlencode(query + [("lang", code)])}
            for code, name in i18n.LANGUAGE_NAMES.items()]


def install(env: Environment) -> None:
    """Jinja2's i18n extension on our catalogues, filters for numbers, money and dates in the locale, and the
    language switch every page shows."""
    i18n.install_jinja(env)
    env.globals["language_links"] = language_links
    env.globals["number_symbols"] = i18n.number_symbols
