"""The Pipedrive CRM source: one instance per connection, dispatched to by core's registry."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Mapping, Sequence

from invoicebridge.core import BackendInfo, Capabilities, ConnectionBound, Role
from invoicebridge.core.connector import close_connectors
from invoicebridge.core.errors import BackendError, WebhookRejected
from .i18n import _, lazy_
from invoicebridge.core.model import ConnectResult, Health, RemoteUser

from . import auth, deal_fields, deals, panel, search, webhooks, writeback
from .client import PipedriveClient
from .config import PipedriveConfig, base_url
from .deals import deal_url, load_fields
from .related import RelatedCache

NAME = "pipedrive"


def _connect_settings(me: dict[str, Any], api_domain: str, method: str) -> dict[str, Any]:
    return {"api_domain": api_domain, "company_name": me.get("company_name", ""),
            "company_domain": me.get("company_domain", ""), "company_id": me.get("company_id"),
            "user_name": me.get("name", ""), "user_email": me.get("email", ""), "auth": method}


class PipedriveSource(ConnectionBound):
    # Pipedrive's ids are positive integers (no leading zero: "07" would be deal 7 under another name)
    info: ClassVar[BackendInfo] = BackendInfo(
        name=NAME, role=Role.CRM, label="Pipedrive", auth_methods=("oauth", "token"),
        id_pattern=r"[1-9][0-9]{0,17}", id_description=lazy_("positive whole numbers"),
        capabilities=Capabilities(batch_size=100, webhooks=True, deal_fields=True))

    # -- connecting
    @classmethod
    def authorize_url(cls, context: Any, *, redirect_uri: str, state: str, code_challenge: str,
                      settings: Mapping[str, Any]) -> str:
        return auth.authorize_url(PipedriveConfig.from_runtime(context), redirect_uri, state)

    @classmethod
    async def complete_oauth(cls, context: Any, *, code: str, redirect_uri: str, code_verifier: str,
                             settings: Mapping[str, Any]) -> ConnectResult:
        cfg = PipedriveConfig.from_runtime(context)
        async with PipedriveClient(context, secrets={}) as bare:
            payload = await auth.exchange_code(bare.connector, cfg, code, redirect_uri)
        secrets = auth.token_secrets(payload, context.now())
        api_domain = payload.get("api_domain") or ""
        async with PipedriveClient(context, secrets=secrets, settings={"api_domain": api_domain}) as client:
            me = await client.me()
        result = _connect_settings(me, api_domain, "oauth")
        return ConnectResult(secrets=secrets, settings=result, label=result["company_name"] or "Pipedrive")

    @classmethod
    async def connect_with_token(cls, context: Any, *, token: str, settings: Mapping[str, Any]) -> ConnectResult:
        settings = dict(settings or {})
        async with PipedriveClient(context, secrets={"api_token": token.strip()}, settings=settings) as client:
            me = await client.me()  # a 401 here raises AuthError: the token is wrong
        domain = me.get("company_domain") or ""
        api_domain = settings.get("api_domain") or (f"https://{domain}.pipedrive.com" if domain else client.base_url)
        result = _connect_settings(me, api_domain, "token")
        return ConnectResult(secrets={"api_token": token.strip()}, settings=result,
                             label=result["company_name"] or "Pipedrive")

    def _client(self) -> PipedriveClient:
        return PipedriveClient(self.context, self.connection)

    async def check(self) -> Health:
        try:
            async with self._client() as client:
                me = await client.me()
        except BackendError as exc:
            return Health(ok=False, detail=str(exc))
        user = RemoteUser(name=me.get("name", ""), email=me.get("email", ""),
                          role="admin" if any(a.get("admin") for a in me.get("access") or []) else "user")
        return Health(ok=True, detail=f"Connected to {me.get('company_name', 'Pipedrive')} as {user.name}", user=user)

    async def connected(self, public_url: str):
        """Subscribe our webhook receiver to deal changes as soon as Pipedrive is connected."""
        return await webhooks.register_webhooks(self.context, self.connection,
                                                f"{public_url.rstrip('/')}/webhooks/pipedrive")

    async def disconnect(self) -> bool:
        secrets = self.context.secrets(self.connection)
        try:
            async with self._client() as client:
                for hook in await client.webhooks():
                    if hook.get("name") == webhooks.WEBHOOK_NAME:
                        await client.delete_webhook(hook["id"])
        except BackendError:
            pass  # the token may already be revoked; disconnecting must still succeed locally
        if secrets.get("refresh_token"):
            async with PipedriveClient(self.context, secrets={}) as bare:
                await auth.revoke(bare.connector, PipedriveConfig.from_runtime(self.context), secrets["refresh_token"])
        await self.context.save_secrets(self.connection, {})
        await close_connectors(self.context, backend=NAME, key=self.connection.id)
        return True

    async def verify_webhook(self, request):
        return await webhooks.verify(self.context, self.connection, request)

    # -- deals
    async def get_deal(self, deal_id: str):
        """Concurrent reads of the same deal share one read (50 people opening a deal page cost one deal's calls,
        not 50 against the burst limit); a read that starts later is a new read."""
        return await self._shared_read(str(deal_id), display=False)

    async def get_deal_for_display(self, deal_id: str):
        """The deal for a page: read like :meth:`get_deal`, its organization, person and products' codes from
        the records kept for pages (``related.RELATED_TTL``), so a view costs the deal and its lines (the deal
        alone when it has no products)."""
        return await self._shared_read(str(deal_id), display=True)

    async def get_deal_head(self, deal_id: str):
        """The deal for a page that shows its lines only when asked: like :meth:`get_deal_for_display`, but a
        deal with products is answered from ``getDeal`` alone, its lines counted (``Deal.unread_lines``), not
        read: one call for any deal."""
        return await self._shared_read(str(deal_id), display=True, lines=False)

    async def get_deal_lines(self, deal):
        """A deal :meth:`get_deal_head` answered without its lines, with them (``getDealProducts``; the
        deal's discounts when its value says it may have some)."""
        async with self._client() as client:
            return await deals.read_lines(client, deal, RelatedCache(self.context, self.connection.id))

    async def _shared_read(self, deal_id: str, *, display: bool, lines: bool = True):
        flights = self.context.cache.setdefault(("pipedrive", "deal-reads"), {})
        key = (self.connection.id, deal_id, display, lines)
        flight = flights.get(key)
        if flight is None:
            flight = flights[key] = asyncio.ensure_future(self._read_deal(deal_id, display, lines))
            flight.add_done_callback(lambda _: flights.pop(key, None))
        return await asyncio.shield(flight)

    async def _read_deal(self, deal_id: str, display: bool, lines: bool):
        async with self._client() as client:
            related = RelatedCache(self.context, self.connection.id) if display else None
            return await deals.read_deal(client, deal_id, related, lines=lines)

    async def get_deals(self, deal_ids: Sequence[str]):
        async with self._client() as client:
            return await deals.read_deals(client, [str(i) for i in deal_ids])

    async def find_deals(self, query):
        async with self._client() as client:
            return await deals.find_deal_ids(client, query)

    async def search_deals(self, term: str, limit: int):
        async with self._client() as client:
            return await search.search_deals(client, str(term), int(limit))

    def deal_id_from_url(self, url: str):
        return search.deal_id_from_url(self.connection.settings, str(url))

    async def list_fields(self):
        async with self._client() as client:
            fields = await load_fields(client, refresh=True)
        return [f.to_crm_field() for f in fields.all()]

    async def add_activity(self, deal_id: str, subject: str, due_date, note: str, dedupe_key: str, *,
                           in_doubt: bool = False) -> str:
        async with self._client() as client:
            return await writeback.add_activity_once(client, str(deal_id), subject, due_date, note, dedupe_key,
                                                     in_doubt=in_doubt)

    async def complete_activity(self, deal_id: str, dedupe_key: str, *, activity_id: str = "") -> str:
        async with self._client() as client:
            return await writeback.complete_activity_once(client, str(deal_id), dedupe_key, activity_id=activity_id) or ""

    async def add_note(self, deal_id: str, content: str, dedupe_key: str, *, in_doubt: bool = False) -> str:
        async with self._client() as client:
            return await writeback.add_note_once(client, str(deal_id), content, dedupe_key, in_doubt=in_doubt)

    async def set_deal_fields(self, deal_id: str, values: Mapping[str, Any]) -> None:
        async with self._client() as client:
            await deal_fields.set_deal_fields(client, str(deal_id), values)

    def deal_url(self, deal_id: str) -> str:
        return deal_url(self.connection.settings, deal_id) or \
            f"{base_url(PipedriveConfig.from_runtime(self.context), self.connection.settings)}/deal/{deal_id}"

    def verify_page_token(self, params: Mapping[str, Any]):
        """Link actions and panels opened from Pipedrive carry a JWT in ``token`` (HS256, the app's JWT secret). It
        must name the connected company (``companyId``) and a user (``userId``), with integer claims."""
        if not params.get("token"):
            return None
        import jwt as pyjwt

        company = (self.connection.settings or {}).get("company_id")
        if not company:
            raise WebhookRejected(_("The Pipedrive connection does not know its company; reconnect Pipedrive, then open "
                                    "the deal from Pipedrive again"))
        try:
            claims = panel.verify_jwt(str(params["token"]), PipedriveConfig.from_runtime(self.context).panel_secret,
                                      self.context.now(), company_id=company)
        except pyjwt.InvalidTokenError as exc:
            raise WebhookRejected(_("The Pipedrive link's token is not valid (%(error)s); open the deal from Pipedrive again") % {"error": exc}) from None
        return {"user": f"pipedrive:{claims['userId']}", "company": str(claims["companyId"]),
                "expires_at": int(claims["exp"])}
