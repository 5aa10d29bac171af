"""The sandbox's identity server: authorization codes (with PKCE), JWT access tokens, rotating refresh
tokens with Xero's 30-minute grace for the previous one, revocation and tenant connections (fact sheet §1,
§13.1-4)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from typing import Any, Callable

import jwt
from attrs import define, field

from .sandbox_state import new_id

ACCESS_LIFETIME = dt.timedelta(minutes=30)
GRACE = dt.timedelta(minutes=30)
REFRESH_UNUSED = dt.timedelta(days=60)
CODE_LIFETIME = dt.timedelta(minutes=5)


class GrantError(Exception):
    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(description or error)
        self.error = error
        self.description = description


@define
class RefreshToken:
    token: str
    auth_event_id: str
    user_id: str
    scope: str
    last_used: dt.datetime
    rotated_at: dt.datetime | None = None


@define
class Identity:
    clock: Callable[[], dt.datetime]
    client_id: str
    client_secret: str
    tenant_id: str
    tenant_name: str
    signing_key: str = field(factory=lambda: secrets.token_hex(32))
    codes: dict[str, dict[str, Any]] = field(factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(factory=dict)
    connections: list[dict[str, Any]] = field(factory=list)
    revoked_events: set[str] = field(factory=set)
    refresh_calls: int = 0

    def issue_code(self, *, client_id: str, redirect_uri: str, scope: str, user_id: str, challenge: str) -> str:
        if client_id != self.client_id:
            raise GrantError("unauthorized_client", "Unknown client or client not enabled")
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"redirect_uri": redirect_uri, "scope": scope, "user_id": user_id, "challenge": challenge,
                            "expires": self.clock() + CODE_LIFETIME}
        return code

    def authenticate_client(self, basic: tuple[str, str] | None, form: dict[str, str]) -> None:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != self.client_id or (self.client_secret and secret != self.client_secret):
            raise GrantError("invalid_client")

    def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["expires"] < self.clock():
            raise GrantError("invalid_grant")
        if grant["redirect_uri"] != form.get("redirect_uri"):
            raise GrantError("invalid_grant", "redirect_uri does not match")
        if grant["challenge"]:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != grant["challenge"]:
                raise GrantError("invalid_grant", "code_verifier does not match the code_challenge")
        event = new_id()
        now = self.clock()
        self.connections = [c for c in self.connections if c["tenantId"] != self.tenant_id]
        self.connections.append({"id": new_id(), "authEventId": event, "tenantId": self.tenant_id,
                                 "tenantType": "ORGANISATION", "tenantName": self.tenant_name,
                                 "createdDateUtc": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                                 "updatedDateUtc": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
        return self._token_set(event, grant["user_id"], grant["scope"])

    def refresh(self, form: dict[str, str]) -> dict[str, Any]:
        self.refresh_calls += 1
        now = self.clock()
        current = self.refresh_tokens.get(form.get("refresh_token", ""))
        if current is None or current.auth_event_id in self.revoked_events:
            raise GrantError("invalid_grant")
        if current.last_used + REFRESH_UNUSED < now:
            raise GrantError("invalid_grant", "refresh token expired")
        if current.rotated_at is not None and current.rotated_at + GRACE < now:
            raise GrantError("invalid_grant")
        if current.rotated_at is None:
            current.rotated_at = now
        current.last_used = now
        return self._token_set(current.auth_event_id, current.user_id, current.scope)

    def _token_set(self, event: str, user_id: str, scope: str) -> dict[str, Any]:
        now = self.clock()
        claims = {"xero_userid": user_id, "authentication_event_id": event, "scope": scope.split(),
                  "client_id": self.client_id, "iat": int(now.timestamp()),
                  "exp": int((now + ACCESS_LIFETIME).timestamp()), "jti": new_id()}
        out = {"access_token": jwt.encode(claims, self.signing_key, algorithm="HS256"),
               "expires_in": int(ACCESS_LIFETIME.total_seconds()), "token_type": "Bearer", "scope": scope}
        if "offline_access" in scope.split():
            token = secrets.token_urlsafe(32)
            self.refresh_tokens[token] = RefreshToken(token, event, user_id, scope, last_used=now)
            out["refresh_token"] = token
        return out

    def revoke(self, token: str) -> None:
        found = self.refresh_tokens.pop(token, None)
        if found is not None:
            self.revoked_events.add(found.auth_event_id)
            self.connections = [c for c in self.connections if c["authEventId"] != found.auth_event_id]

    def access_claims(self, header: str) -> dict[str, Any]:
        """Claims of a valid bearer token; raises PermissionError('TokenExpired: …' or 'Unauthorized')."""
        if not header.startswith("Bearer "):
            raise PermissionError("Unauthorized")
        try:
            claims = jwt.decode(header[7:], self.signing_key, algorithms=["HS256"], options={"verify_exp": False})
        except jwt.PyJWTError:
            raise PermissionError("Unauthorized") from None
        if claims["authentication_event_id"] in self.revoked_events:
            raise PermissionError("Unauthorized")
        if claims["exp"] <= self.clock().timestamp():
            when = dt.datetime.fromtimestamp(claims["exp"], dt.timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
            raise PermissionError(f"TokenExpired: token expired at {when}")
        return claims

    def tenant_allowed(self, claims: dict[str, Any], tenant_id: str) -> bool:
        return any(c["tenantId"] == tenant_id and c["authEventId"] == claims["authentication_event_id"]
                   for c in self.connections)
