"""The sandbox's identity server on the kit's :class:`~invoicebridge.sandbox_kit.AuthorizationServer`: JWT access
tokens (30 minutes), rotating refresh tokens with Xero's 30-minute grace for the previous one, unused ones
expiring after 60 days (fact sheet §1.2, §13.1), revocation, and connections per user.

Connections (identity spec ``GET /Connections``: "Retrieves the connections for this user"; fact sheet §1.4):
each user who authorises the app for the organisation has a connection of their own, so a second user
authorising never cuts off the first. The same user authorising again keeps their connection (same ``id`` and
``createdDateUtc``); it moves to the new ``authEventId`` with a new ``updatedDateUtc``, and the user's earlier
tokens keep their access. Revoking a refresh token removes that user's connections (fact sheet §1.1).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Callable

import jwt

from invoicebridge.sandbox_kit import AuthorizationServer, Grant, OAuthError, TokenRejected

ACCESS_LIFETIME = dt.timedelta(minutes=30)
GRACE = dt.timedelta(minutes=30)
REFRESH_UNUSED = dt.timedelta(days=60)

GrantError = OAuthError  # the name the sandbox used before the kit


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Identity(AuthorizationServer):
    """Xero's identity server for one organisation (``tenant_id``)."""

    def __init__(self, *, clock: Callable[[], dt.datetime], client_id: str, client_secret: str, tenant_id: str,
                 tenant_name: str) -> None:
        self.signing_key = secrets.token_hex(32)
        super().__init__(clock=clock, clients={client_id: client_secret}, access_lifetime=ACCESS_LIFETIME,
                         refresh_idle=REFRESH_UNUSED, rotation_grace=GRACE, offline_scope="offline_access",
                         mint=self._jwt)
        self.client_id, self.tenant_id, self.tenant_name = client_id, tenant_id, tenant_name

    def _jwt(self, grant: Grant, now: dt.datetime, expires: dt.datetime) -> str:
        claims = {"xero_userid": grant.user_id, "authentication_event_id": grant.grant_id,
                  "scope": sorted(grant.scopes), "client_id": grant.client_id, "iat": int(now.timestamp()),
                  "exp": int(expires.timestamp()), "jti": secrets.token_hex(16)}
        return jwt.encode(claims, self.signing_key, algorithm="HS256")

    @property
    def revoked_events(self) -> set[str]:
        return {g.grant_id for g in self.grants.values() if g.revoked}

    def issue_code(self, *, client_id: str, redirect_uri: str, scope: str, user_id: str, challenge: str) -> str:
        return self.authorize(client_id=client_id, redirect_uri=redirect_uri, scope=scope, user_id=user_id,
                              code_challenge=challenge)

    def exchange_code(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        grant, answer = self.exchange(client_id, form)
        self.connect(grant, self.tenant_id)
        return answer

    def grant_of(self, header: str) -> Grant:
        """The grant of a valid bearer token; raises PermissionError('TokenExpired: …' or 'Unauthorized')."""
        if not header.startswith("Bearer "):
            raise PermissionError("Unauthorized")
        try:
            return self.validate(header[7:])
        except TokenRejected as exc:
            if exc.expired_at is None:
                raise PermissionError("Unauthorized") from None
            raise PermissionError(f"TokenExpired: token expired at {exc.expired_at.strftime('%m/%d/%Y %H:%M:%S')}") from None

    def connection_rows(self, grant: Grant, auth_event: str | None = None) -> list[dict[str, Any]]:
        """The identity spec's Connection objects of the grant's user (``authEventId`` filters)."""
        return [{"id": c.connection_id, "authEventId": c.grant_id, "tenantId": c.organisation_id,
                 "tenantType": "ORGANISATION", "tenantName": self.tenant_name,
                 "createdDateUtc": _stamp(c.created), "updatedDateUtc": _stamp(c.updated)}
                for c in self.connections_of(grant) if not auth_event or c.grant_id == auth_event]
