"""An OAuth 2.0 authorization server for sandboxes (RFC 6749 code grant, RFC 7636 PKCE, RFC 7009 revocation).

The backend decides the token format (``mint``), lifetimes, whether refresh tokens rotate (and how long the
previous one keeps working), and how it answers errors; the server keeps the grants. A *grant* is one consent:
a user authorising a client for some scopes (its id is what some backends call the authentication event). A
*connection* ties a user's consent to an organisation; connections are per user and client, so a
second user authorising the same client never cuts off the first, and a user re-authorising keeps the same
connection, moved to the new grant (see :meth:`AuthorizationServer.connect`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid
from typing import Callable, Iterable

from attrs import define, field


class OAuthError(Exception):
    """An RFC 6749 error (``invalid_grant``, ``invalid_client``, ...)."""

    def __init__(self, error: str, description: str = "", *, status: int = 400) -> None:
        super().__init__(description or error)
        self.error, self.description, self.status = error, description, status


class TokenRejected(Exception):
    """An access token that is unknown, revoked (``expired=False``) or past its lifetime (``expired=True``)."""

    def __init__(self, message: str, *, expired_at: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.expired_at = expired_at


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier`` (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(client_id, secret) from an ``Authorization: Basic`` header (RFC 6749 §2.3.1), else None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:
        raise OAuthError("invalid_client", status=401) from None
    from urllib.parse import unquote

    return unquote(user), unquote(password)


@define
class Grant:
    grant_id: str
    client_id: str
    user_id: str
    scopes: frozenset[str]
    created: dt.datetime
    revoked: bool = False


@define
class Connection:
    connection_id: str
    client_id: str
    user_id: str
    organisation_id: str
    grant_id: str
    created: dt.datetime
    updated: dt.datetime


@define
class RefreshToken:
    token: str
    grant_id: str
    last_used: dt.datetime
    rotated_at: dt.datetime | None = None


@define
class AccessToken:
    token: str
    grant_id: str
    expires: dt.datetime


def _opaque(grant: Grant, now: dt.datetime, expires: dt.datetime) -> str:
    return secrets.token_urlsafe(32)


@define
class AuthorizationServer:
    clock: Callable[[], dt.datetime]
    clients: dict[str, str]  # client id -> secret ("" for a public PKCE client)
    access_lifetime: dt.timedelta = dt.timedelta(hours=1)
    code_lifetime: dt.timedelta = dt.timedelta(minutes=5)
    refresh_idle: dt.timedelta | None = None  # an unused refresh token expires after this
    rotate_refresh: bool = True  # a refresh answers a new refresh token...
    rotation_grace: dt.timedelta = dt.timedelta(0)  # ...and the previous one keeps working this long
    scope_separator: str = " "
    offline_scope: str | None = None  # when set, refresh tokens only for grants holding this scope
    mint: Callable[[Grant, dt.datetime, dt.datetime], str] = _opaque  # the access token's text
    mint_refresh: Callable[[Grant], str] = lambda grant: secrets.token_urlsafe(32)
    codes: dict[str, dict] = field(factory=dict)
    grants: dict[str, Grant] = field(factory=dict)
    access_tokens: dict[str, AccessToken] = field(factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(factory=dict)
    connections: list[Connection] = field(factory=list)
    refresh_calls: int = 0

    # ---- the authorization endpoint --------------------------------------------------------------------

    def authorize(self, *, client_id: str, redirect_uri: str, scope: str, user_id: str,
                  code_challenge: str = "", code_challenge_method: str = "S256") -> str:
        """A one-time code for the user's consent (what the authorize page's approval produces)."""
        if client_id not in self.clients:
            raise OAuthError("unauthorized_client", "Unknown client or client not enabled")
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri is required")
        if code_challenge and code_challenge_method != "S256":
            raise OAuthError("invalid_request", "only code_challenge_method=S256 is supported")
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
                            "user_id": user_id, "challenge": code_challenge,
                            "expires": self.clock() + self.code_lifetime}
        return code

    # ---- the token endpoint ---------------------------------------------------------------------------

    def authenticate_client(self, basic: tuple[str, str] | None, form: dict[str, str]) -> str:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        expected = self.clients.get(client_id)
        if expected is None or (expected and not secrets.compare_digest(secret, expected)):
            raise OAuthError("invalid_client", status=401)
        return client_id

    def exchange(self, client_id: str, form: dict[str, str]) -> tuple[Grant, dict]:
        """The authorization-code grant: a new grant and its token answer."""
        found = self.codes.pop(form.get("code", ""), None)
        if found is None or found["expires"] < self.clock() or found["client_id"] != client_id:
            raise OAuthError("invalid_grant", "authorization code is invalid")
        if found["redirect_uri"] != form.get("redirect_uri"):
            raise OAuthError("invalid_grant", "redirect_uri does not match")
        if found["challenge"] and s256(form.get("code_verifier", "")) != found["challenge"]:
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        if not found["challenge"] and not self.clients[client_id]:
            raise OAuthError("invalid_grant", "a public client must use PKCE")
        grant = Grant(str(uuid.uuid4()), client_id, found["user_id"],
                      frozenset(s for s in found["scope"].replace(",", " ").split() if s), self.clock())
        self.grants[grant.grant_id] = grant
        return grant, self.token_answer(grant)

    def refresh(self, client_id: str, token: str) -> tuple[Grant, dict]:
        self.refresh_calls += 1
        now = self.clock()
        current = self.refresh_tokens.get(token)
        grant = self.grants.get(current.grant_id) if current else None
        if current is None or grant is None or grant.revoked or grant.client_id != client_id:
            raise OAuthError("invalid_grant", "refresh token is invalid")
        if self.refresh_idle is not None and current.last_used + self.refresh_idle < now:
            raise OAuthError("invalid_grant", "refresh token expired")
        if current.rotated_at is not None and current.rotated_at + self.rotation_grace < now:
            raise OAuthError("invalid_grant", "refresh token was rotated")
        current.last_used = now
        if not self.rotate_refresh:
            return grant, self.token_answer(grant, refresh=current.token)
        if current.rotated_at is None:
            current.rotated_at = now
        return grant, self.token_answer(grant)

    def token_answer(self, grant: Grant, *, refresh: str | None = None) -> dict:
        now = self.clock()
        expires = now + self.access_lifetime
        access = self.mint(grant, now, expires)
        self.access_tokens[access] = AccessToken(access, grant.grant_id, expires)
        answer = {"access_token": access, "token_type": "Bearer",
                  "expires_in": int(self.access_lifetime.total_seconds()),
                  "scope": self.scope_separator.join(sorted(grant.scopes))}
        if self.offline_scope is None or self.offline_scope in grant.scopes:
            if refresh is None:
                refresh = self.mint_refresh(grant)
                self.refresh_tokens[refresh] = RefreshToken(refresh, grant.grant_id, last_used=now)
            answer["refresh_token"] = refresh
        return answer

    # ---- revocation and resource-server checks ---------------------------------------------------------

    def revoke(self, token: str) -> Grant | None:
        """Revoke the grant a refresh or access token belongs to (RFC 7009: unknown tokens are no error);
        the grant's tokens stop working and its connections go."""
        record = self.refresh_tokens.get(token) or self.access_tokens.get(token)
        grant = self.grants.get(record.grant_id) if record else None
        if grant is None:
            return None
        grant.revoked = True
        self.refresh_tokens = {k: v for k, v in self.refresh_tokens.items() if v.grant_id != grant.grant_id}
        self.connections = [c for c in self.connections if c.grant_id != grant.grant_id]
        return grant

    def validate(self, token: str) -> Grant:
        """The grant behind a bearer token; raises :class:`TokenRejected`."""
        record = self.access_tokens.get(token)
        grant = self.grants.get(record.grant_id) if record else None
        if record is None or grant is None or grant.revoked:
            raise TokenRejected("Unauthorized")
        if record.expires <= self.clock():
            raise TokenRejected("TokenExpired", expired_at=record.expires)
        return grant

    def expire_access_tokens(self) -> None:
        for record in self.access_tokens.values():
            record.expires = min(record.expires, self.clock() - dt.timedelta(seconds=1))

    @staticmethod
    def allows(grant: Grant, accepted: Iterable[str]) -> bool:
        """Whether the grant holds any of the scopes an operation accepts (the scopes are alternatives)."""
        return not grant.scopes.isdisjoint(accepted)

    # ---- connections (per user and client) ----------------------------------------------------------------

    def connect(self, grant: Grant, organisation_id: str) -> Connection:
        """Connect the grant's user to an organisation. A user's earlier connection of the same client and organisation is
        kept (same id and creation time) and moved to this grant; other users' connections are untouched."""
        now = self.clock()
        for conn in self.connections:
            if (conn.client_id, conn.user_id, conn.organisation_id) == (grant.client_id, grant.user_id, organisation_id):
                conn.grant_id, conn.updated = grant.grant_id, now
                return conn
        conn = Connection(str(uuid.uuid4()), grant.client_id, grant.user_id, organisation_id, grant.grant_id, now, now)
        self.connections.append(conn)
        return conn

    def connections_of(self, grant: Grant) -> list[Connection]:
        """The connections of the grant's user for its client."""
        return [c for c in self.connections if (c.client_id, c.user_id) == (grant.client_id, grant.user_id)]

    def disconnect(self, grant: Grant, connection_id: str) -> bool:
        before = len(self.connections)
        self.connections = [c for c in self.connections
                            if not (c.connection_id == connection_id and c in self.connections_of(grant))]
        return len(self.connections) < before

    def organisation_allowed(self, grant: Grant, organisation_id: str) -> bool:
        return any(c.organisation_id == organisation_id for c in self.connections_of(grant))
