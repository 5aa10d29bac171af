"""How errors are shown to people: a plain message first, the technical part (the API request that failed, raw
addresses) folded away, and a Reconnect action when the message asks for one.

Errors reach the pages as text (stored with an operation or a connection, or said by a plugin), so the split is
made on the text: ``(GET https://… → 401)`` request notes and bare URLs are technical details.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from jinja2 import pass_context

from invoicebridge.core.connect import account_name as without_system
from invoicebridge.core.i18n import _

# "(GET https://api.example.com/x → 401)" as BackendError.__str__ writes it, and any other bare address.
_REQUEST = re.compile(r"\s*\((?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+(?: → [^)]*)?\)")
_URL = re.compile(r"https?://[^\s)\"'<>]*[^\s)\"'<>.,;:!?]")  # not the sentence's closing punctuation
_RECONNECT = re.compile(r"\breconnect\b|\bconnect (?:it |\w+ )?again\b", re.I)


@attrs.frozen
class Problem:
    plain: str
    details: str = ""


def split_error(text: Any) -> Problem:
    """The message without request notes and addresses, and those (one per line) as details."""
    text = str(text or "").strip()
    details = [m.group(0).strip() for m in _REQUEST.finditer(text)]
    plain = _REQUEST.sub("", text)
    urls = _URL.findall(plain)
    if urls:
        details += urls
        plain = _URL.sub(_("(address in the details)"), plain)
    plain = re.sub(r"\s{2,}", " ", plain).strip()
    return Problem(plain=plain or _("Something went wrong."), details="\n".join(details))


def says_reconnect(text: Any) -> bool:
    text = str(text or "")
    return bool(_RECONNECT.search(text)) or _("reconnect").lower() in text.lower()


def reconnect_href(request: Any, text: Any = "", backend: str = "") -> str:
    """Where a Reconnect button for this error goes ('' when the error does not ask for it). The backend is the
    one named, else the one whose label the message mentions, else the one connection in error."""
    if not backend and not says_reconnect(text):
        return ""
    if backend:
        return f"/reconnect/{backend}"
    try:
        infos = request.app.state.plugins.backends()
        runtime = request.app.state.runtime
    except AttributeError:
        return "/connections"
    lowered = str(text or "").lower()
    named = [i.name for i in infos if (i.label or i.name).lower() in lowered]
    if len(named) == 1:
        return f"/reconnect/{named[0]}"
    failing = []
    for info in infos:
        conn = runtime.maybe_connection(info.role)
        if conn is not None and conn.backend == info.name and runtime.store.connection_health(conn.id)["status"] == "error":
            failing.append(info.name)
    return f"/reconnect/{failing[0]}" if len(failing) == 1 else "/connections"


@pass_context
def backend_label(context: Any, name: str) -> str:
    """The registered label of a backend (as its plugin spells it, not the name title-cased) for the page's app."""
    request = context.get("request")
    plugins = getattr(getattr(getattr(request, "app", None), "state", None), "plugins", None)
    return plugins.label(name) if plugins is not None else name.title()


@pass_context
def account_name(context: Any, connection: Any) -> str:
    """A connection's account as shown next to its backend's label: the connection's label without a leading
    "<backend label>: " (a plugin's label names both, e.g. for a message on its own)."""
    return without_system(str(getattr(connection, "label", "") or ""), backend_label(context, connection.backend))


def install(env: Any) -> None:
    env.globals["backend_label"] = backend_label
    env.globals["account_name"] = account_name
    env.filters["split_error"] = split_error
    env.globals["reconnect_href"] = reconnect_href
