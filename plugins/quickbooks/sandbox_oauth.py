"""The sandbox's Intuit OAuth 2.0 server (fact sheet §1) on the emulator kit's authorization server: codes that
carry the realm (the grant's user is the company consented to), Basic client authentication, 1-hour access tokens,
refresh tokens that rotate on every refresh while the previous one keeps working 24 hours, 100 days unused and
they expire, ``invalid_grant`` for anything stale or revoked, revocation of a refresh or access token. Intuit's
answer adds ``x_refresh_token_expires_in`` and, with ``openid``, an id token whose ``realmid`` names the company."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Callable

import jwt

from invoicebridge.sandbox_kit import AuthorizationServer, Grant, OAuthError, TokenRejected

ACCESS_TTL = dt.timedelta(hours=1)
REFRESH_TTL = dt.timedelta(days=100)
ROTATED_GRACE = dt.timedelta(hours=24)
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"


class IntuitOAuth:
    def __init__(self, *, clock: Callable[[], dt.datetime], client_id: str, client_secret: str,
                 user_email: str = "finance@demo.example") -> None:
        self.clock, self.client_id, self.client_secret, self.user_email = clock, client_id, client_secret, user_email
        self.server = AuthorizationServer(clock=clock, clients={client_id: client_secret}, access_lifetime=ACCESS_TTL,
                                          refresh_idle=REFRESH_TTL, rotate_refresh=True, rotation_grace=ROTATED_GRACE)

    def issue_code(self, *, client_id: str, redirect_uri: str, scope: str, realm_id: str) -> str:
        if ACCOUNTING_SCOPE not in scope.split():
            raise OAuthError("invalid_scope", f"the scope must include {ACCOUNTING_SCOPE}")
        return self.server.authorize(client_id=client_id, redirect_uri=redirect_uri, scope=scope, user_id=realm_id)

    def authenticate(self, basic: tuple[str, str] | None, form: dict[str, str]) -> str:
        return self.server.authenticate_client(basic, form)

    def _intuit(self, grant: Grant, answer: dict[str, Any]) -> dict[str, Any]:
        answer = {k: v for k, v in answer.items() if k != "scope"}
        answer.update(token_type="bearer", x_refresh_token_expires_in=int(REFRESH_TTL.total_seconds()))
        if "openid" in grant.scopes:
            # Intuit signs RS256 with keys at its JWKS; the sandbox signs HS256 with a key made from the client secret
            # (the client reads the token from the token endpoint over TLS and does not check the signature either way)
            now = self.clock()
            claims = {"iss": "https://oauth.platform.intuit.com/op/v1", "aud": [grant.client_id], "sub": grant.grant_id,
                      "realmid": grant.user_id, "email": self.user_email, "iat": int(now.timestamp()),
                      "exp": int((now + ACCESS_TTL).timestamp())}
            answer["id_token"] = jwt.encode(claims, hashlib.sha256(self.client_secret.encode()).digest(), "HS256")
        return answer

    def exchange(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        return self._intuit(*self.server.exchange(client_id, form))

    def refresh(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        return self._intuit(*self.server.refresh(client_id, form.get("refresh_token", "")))

    def revoke(self, token: str) -> bool:
        return self.server.revoke(token) is not None

    def bearer(self, token: str) -> str | None:
        """The realm an access token may use, or None."""
        try:
            return self.server.validate(token).user_id
        except TokenRejected:
            return None

    def expire_access_tokens(self) -> None:
        self.server.expire_access_tokens()
