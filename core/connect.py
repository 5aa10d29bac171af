"""Connecting a backend, one use case for every adapter (the pages, the demo): start an OAuth authorisation,
complete it, connect with an API token, choose the organisation when the remote side offers several, disconnect.

Finishing a connection records it with its settings and sealed secrets (and the selected organisation as
``organisation_id``/``organisation_name``), checks it, refuses a remote user whose role may not create invoices,
lets the plugins register what they need (webhooks) and writes the audit line. The adapters only carry the
browser's part (the redirect, the session holding the OAuth state) and say the outcome in their own way.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from .errors import InvoiceBridgeError
from .i18n import _, lazy_
from .model import AccountChoice, Connection, ConnectResult, Health

PENDING = "pending_connect_{backend}"  # app secret holding tokens (sealed) until an organisation is chosen


def account_name(label: str, backend_label: str) -> str:
    """A connection's account where its system is named beside it: the connection's label without a leading
    "<backend label>: " (plugins may name both in it, for a message on its own)."""
    prefix = f"{backend_label}: "
    return label[len(prefix):] if label.startswith(prefix) and len(label) > len(prefix) else label

class ConnectProblem(InvoiceBridgeError):
    """Connecting did not happen; ``status_code`` says why (409 not configured, 400 a bad or foreign attempt,
    403 a remote user who may not create invoices)."""

    def __init__(self, message: str, status_code: int = 400, **context: Any) -> None:
        super().__init__(message, **context)
        self.status_code = status_code


class ReplaceNeeded(ConnectProblem):
    """Connecting ``backend`` would disconnect ``current``, the active connection of another backend in the same
    role (one accounting system, one CRM at a time): say so and go on only when asked to replace it (409)."""

    def __init__(self, label: str, current: Connection, current_label: str) -> None:
        account = str(current.settings.get("organisation_name") or current.label or current_label)
        super().__init__(_("%(current)s (%(account)s) is connected. Connecting %(label)s disconnects it; invoices "
                           "already created stay where they are. Confirm to replace it.") % {
            "current": current_label, "account": account, "label": label}, 409,
            connected_backend=current.backend, connected_label=current.label)
        self.label, self.current, self.current_label, self.account = label, current, current_label, account


@dataclass(frozen=True)
class Authorisation:
    """Where to send the browser, and what to keep (in the session) until the callback comes back."""

    url: str
    pending: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    """A connection made (``connection``), or organisations to choose from first (``choices``: (id, name)).
    ``warning``: connected, but something after it failed (the check, registering webhooks)."""

    label: str
    connection: Connection | None = None
    choices: tuple[tuple[str, str], ...] = ()
    warning: str = ""
    health: Health | None = field(default=None, compare=False)


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class ConnectFlow:
    """The use case over a runtime and its plugins. ``check`` asks whether a connection works and remembers the
    answer (the pipeline's ``check_connection``); ``public_url`` is where the remote side reaches us."""

    def __init__(self, runtime: Any, plugins: Any, check: Callable[[Connection], Awaitable[Health]], public_url: str) -> None:
        self.runtime, self.plugins, self.check, self.public_url = runtime, plugins, check, public_url.rstrip("/")

    def redirect_uri(self, backend: str) -> str:
        return f"{self.public_url}/connect/{backend}/callback"

    def replaced(self, backend: str) -> Connection | None:
        """The active connection connecting ``backend`` would replace: another backend's in the same role (connecting
        the same backend again is a reconnect, not a replacement)."""
        current = self.runtime.maybe_connection(self.plugins.backend(backend).role)
        return current if current is not None and current.backend != backend else None

    def _confirm_replace(self, backend: str, replace: bool) -> None:
        current = self.replaced(backend)
        if current is not None and not replace:
            raise ReplaceNeeded(self.plugins.label(backend), current, self.plugins.label(current.backend))

    # ---- OAuth ----------------------------------------------------------------------------------------------

    async def begin(self, backend: str, *, replace: bool = False) -> Authorisation:
        """Start the OAuth authorisation; :class:`ReplaceNeeded` unless ``replace`` when another backend in the
        same role is connected."""
        info = self.plugins.backend(backend)
        if not self.runtime.backend_config(backend).get("client_id"):
            # Never send the browser off with an empty client_id: the remote side would only show its own error page.
            raise ConnectProblem(_("%(name)s cannot be connected yet: this installation's app credentials (client ID "
                                   "and secret) are not set. Add them on the Connections page under App credentials, or "
                                   "set them in the environment.") % {"name": info.label or backend}, 409)
        self._confirm_replace(backend, replace)
        verifier, challenge = pkce()
        state = secrets.token_urlsafe(24)
        url = await self.plugins.authorize_url(self.runtime, backend=backend, redirect_uri=self.redirect_uri(backend),
                                               state=state, code_challenge=challenge, settings={})
        pending = {"backend": backend, "state": state, "verifier": verifier, **({"replace": "1"} if replace else {})}
        return Authorisation(url=url, pending=pending)

    async def complete(self, backend: str, pending: Mapping[str, Any] | None, params: Mapping[str, str]) -> Outcome:
        """The callback: ``pending`` is what :meth:`begin` kept, ``params`` the callback's query."""
        if params.get("error"):
            raise ConnectProblem(_("%(backend)s did not connect: %(error)s") % {
                "backend": self.plugins.label(backend), "error": params.get("error_description") or params.get("error")}, 400)
        if not pending or pending.get("backend") != backend or \
                not secrets.compare_digest(str(pending.get("state")), str(params.get("state", ""))):
            await self.runtime.store.writes.audit("oauth_state_mismatch", lazy_("An OAuth callback for %(backend)s had a wrong or missing state",
                                                                   backend=backend))
            raise ConnectProblem(_("This connection attempt is not the one we started (the OAuth state does not match). "
                                   "Start again from Connections."), 400)
        self._confirm_replace(backend, bool(pending.get("replace")))  # connected meanwhile: ask again
        result = await self.plugins.complete_oauth(self.runtime, backend=backend, code=str(params.get("code", "")),
                                                   redirect_uri=self.redirect_uri(backend), code_verifier=pending["verifier"],
                                                   settings={}, callback={k: str(v) for k, v in params.items()
                                                                          if k not in ("code", "state")})
        if len(result.choices) > 1 and result.account is None:
            # Keep the tokens server-side (sealed) until the organisation is chosen.
            await self.runtime.store.writes.set_app_secret(PENDING.format(backend=backend), {
                "secrets": dict(result.secrets), "settings": dict(result.settings), "label": result.label,
                "choices": [[c.id, c.name, dict(c.settings)] for c in result.choices]})
            return Outcome(label=result.label, choices=tuple((c.id, c.name) for c in result.choices))
        settings = dict(result.settings)
        account = result.account or (result.choices[0] if result.choices else None)
        if account is not None:
            settings.update(self._organisation(account))
        return await self.finish(backend, result.label or settings.get("organisation_name") or backend, settings, dict(result.secrets))

    async def choose(self, backend: str, choice: str) -> Outcome:
        """The organisation picked among those the completed authorisation offered."""
        store = self.runtime.store
        pending = store.get_app_secret(PENDING.format(backend=backend))
        match = next((c for c in (pending or {}).get("choices", []) if c[0] == choice), None)
        if not pending or match is None:
            raise ConnectProblem(_("That organisation is not one offered by the connection; start again from Connections."), 400)
        await store.writes.set_app_secret(PENDING.format(backend=backend), None)
        settings = dict(pending["settings"], **self._organisation(AccountChoice(*match)))
        return await self.finish(backend, match[1], settings, pending["secrets"])

    @staticmethod
    def _organisation(choice: AccountChoice) -> dict[str, Any]:
        """The settings a choice stands for: the backend's own (``AccountChoice.settings``, stored unread) and
        core's record of the selected organisation."""
        return {**dict(choice.settings), "organisation_id": choice.id, "organisation_name": choice.name}

    # ---- tokens -------------------------------------------------------------------------------------------

    async def with_token(self, backend: str, token: str, *, replace: bool = False) -> Outcome:
        token = token.strip()
        if not token:
            raise ConnectProblem(_("Paste the API token first."), 422)
        self._confirm_replace(backend, replace)
        result: ConnectResult = await self.plugins.connect_with_token(self.runtime, backend=backend, token=token, settings={})
        return await self.finish(backend, result.label or self.plugins.label(backend), dict(result.settings), dict(result.secrets))

    # ---- recording ------------------------------------------------------------------------------------------

    async def finish(self, backend: str, label: str, settings: dict, secrets_: dict) -> Outcome:
        """Record the connection (the active one for its role; the one it replaces is disconnected once it is
        recorded, confirmed before with :class:`ReplaceNeeded`), check it, register what the plugins need."""
        runtime = self.runtime
        role = self.plugins.backend(backend).role
        replaced = self.replaced(backend)
        conn = await runtime.store.writes.add_connection(backend=backend, role=role, label=label, settings=settings, secrets=secrets_)
        if replaced is not None:
            await self.disconnect(replaced)  # revoke its grant as Disconnect would; a refusal there changes nothing here
        try:
            health = await self.check(conn)
        except InvoiceBridgeError as exc:
            return Outcome(label=label, connection=conn, warning=_("Connected to %(label)s, but the check failed: %(error)s")
                           % {"label": label, "error": exc.message})
        if health.user is not None and not health.user.may_create:
            await runtime.store.writes.deactivate_connection(conn.id)
            await runtime.store.writes.audit("connect_refused", lazy_("%(backend)s user %(user)s has role %(role)s, which may not create invoices",
                                                         backend=self.plugins.label(backend), user=health.user.name, role=health.user.role))
            raise ConnectProblem(health.detail or _("%(user)s has the %(role)s role in %(label)s, which may not create invoices; "
                                                    "connect as a user who may.") % {
                "user": health.user.name, "role": health.user.role or _("unknown"), "label": label}, 403)
        warning = ""
        try:
            await self.plugins.connected(runtime, connection=conn, public_url=self.public_url)
        except InvoiceBridgeError as exc:
            warning = _("Connected to %(label)s, but webhooks could not be registered: %(error)s") % {"label": label, "error": exc.message}
        shown = self.plugins.label(backend)  # the name people know, not the registry key
        account = account_name(label, shown)
        await runtime.store.writes.audit("connected", lazy_("Connected %(backend)s: %(label)s as %(user)s (%(role)s)", backend=shown, label=account,
                                               user=health.user.name, role=health.user.role) if health.user else
                            lazy_("Connected %(backend)s: %(label)s", backend=shown, label=account))
        return Outcome(label=label, connection=conn, warning=warning, health=health)

    async def disconnect(self, connection: Connection) -> str:
        """Disconnect here whatever the remote side says; its refusal comes back as a warning."""
        warning = ""
        try:
            await self.plugins.disconnect(self.runtime, connection=connection)
        except InvoiceBridgeError as exc:
            warning = _("Disconnected here, but the remote side said: %(error)s") % {"error": exc.message}
        await self.runtime.store.writes.deactivate_connection(connection.id)
        await self.runtime.store.writes.audit("disconnected", lazy_("%(backend)s connection %(label)s disconnected",
                                                       backend=connection.backend, label=connection.label))
        return warning
