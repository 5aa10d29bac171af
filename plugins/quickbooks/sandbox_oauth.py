"""The sandbox's Intuit OAuth 2.0 server (fact sheet §1): authorization codes that carry the realm, Basic client
authentication, 1-hour access tokens, refresh tokens that rotate on every refresh while the previous one keeps
working for 24 hours, 100-day refresh lifetime, ``invalid_grant`` for anything stale or revoked, and revocation
of a refresh or access token (JSON ``{"token": …}`` or a form)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any, Callable

import jwt
from attrs import define, field

ACCESS_TTL = dt.timedelta(hours=1)
REFRESH_TTL = dt.timedelta(days=100)
ROTATED_GRACE = dt.timedelta(hours=24)
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"


class GrantError(Exception):
    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(description or error)
        self.error, self.description = error, description


@define
class Grant:
    grant_id: str
    realm_id: str
    scope: str
    revoked: bool = False


@define
class Issued:
    grant: Grant
    expires: dt.datetime
    superseded_at: dt.datetime | None = None


@define
class IntuitOAuth:
    clock: Callable[[], dt.datetime]
    client_id: str
    client_secret: str
    user_email: str = "finance@demo.example"
    codes: dict[str, tuple[Grant, str, dt.datetime]] = field(factory=dict)  # code -> (grant, redirect_uri, expiry)
    access: dict[str, Issued] = field(factory=dict)
    refresh_tokens: dict[str, Issued] = field(factory=dict)

    def issue_code(self, *, client_id: str, redirect_uri: str, scope: str, realm_id: str) -> str:
        if client_id != self.client_id:
            raise GrantError("invalid_client", "unknown client_id")
        if ACCOUNTING_SCOPE not in scope.split():
            raise GrantError("invalid_scope", f"the scope must include {ACCOUNTING_SCOPE}")
        code = secrets.token_urlsafe(32)
        self.codes[code] = (Grant(secrets.token_hex(8), realm_id, scope), redirect_uri,
                            self.clock() + dt.timedelta(minutes=5))
        return code

    def authenticate(self, basic: tuple[str, str] | None, form: dict[str, str]) -> None:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != self.client_id or not secrets.compare_digest(secret, self.client_secret):
            raise GrantError("invalid_client")

    def _answer(self, grant: Grant) -> dict[str, Any]:
        now = self.clock()
        access, refresh = secrets.token_urlsafe(40), secrets.token_urlsafe(40)
        self.access[access] = Issued(grant, now + ACCESS_TTL)
        self.refresh_tokens[refresh] = Issued(grant, now + REFRESH_TTL)
        answer = {"token_type": "bearer", "access_token": access, "expires_in": int(ACCESS_TTL.total_seconds()),
                  "refresh_token": refresh, "x_refresh_token_expires_in": int(REFRESH_TTL.total_seconds())}
        if "openid" in grant.scope.split():
            # Intuit signs RS256 with keys at its JWKS; the sandbox signs HS256 with a key made from the client secret (the client
            # reads the token from the token endpoint over TLS and does not check the signature either way)
            claims = {"iss": "https://oauth.platform.intuit.com/op/v1", "aud": [self.client_id],
                      "sub": grant.grant_id, "realmid": grant.realm_id, "email": self.user_email,
                      "iat": int(now.timestamp()), "exp": int((now + ACCESS_TTL).timestamp())}
            key = hashlib.sha256(self.client_secret.encode()).digest()
            answer["id_token"] = jwt.encode(claims, key, algorithm="HS256")
        return answer

    def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        found = self.codes.pop(form.get("code", ""), None)
        if found is None or found[2] < self.clock():
            raise GrantError("invalid_grant")
        grant, redirect_uri, _ = found
        if form.get("redirect_uri", "") != redirect_uri:
            raise GrantError("invalid_grant", "redirect_uri does not match")
        return self._answer(grant)

    def refresh(self, form: dict[str, str]) -> dict[str, Any]:
        now = self.clock()
        issued = self.refresh_tokens.get(form.get("refresh_token", ""))
        if issued is None or issued.grant.revoked or issued.expires < now or (
                issued.superseded_at is not None and issued.superseded_at + ROTATED_GRACE < now):
            raise GrantError("invalid_grant", "Token invalid")
        issued.superseded_at = issued.superseded_at or now
        return self._answer(issued.grant)

    def revoke(self, token: str) -> bool:
        issued = self.refresh_tokens.get(token) or self.access.get(token)
        if issued is None:
            return False
        issued.grant.revoked = True
        return True

    def bearer(self, token: str) -> Grant | None:
        issued = self.access.get(token)
        if issued is None or issued.grant.revoked or issued.expires <= self.clock():
            return None
        return issued.grant

    def expire_access_tokens(self) -> None:
        for issued in self.access.values():
            issued.expires = self.clock()
