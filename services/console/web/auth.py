"""Sign-in for the console's pages: the realm's authorization code flow with PKCE (S256), by authlib's Starlette
client, and a server-side session per signed-in member of staff.

Why this shape: authlib implements the flow, the state and nonce checks, PKCE and the ID token's verification (a
well-kept library, not hand-written OAuth). The access token's roles are read only after `shared.auth` verified it
(signature, issuer, audience `postloan-console`, lifetime), exactly as every service verifies its callers. The
browser holds only a random session id (HttpOnly, SameSite=Lax, Secure over https); the tokens stay in the
console's database (keyed by the id's SHA-256), are refreshed there, and go only to the owning services, so no
token reaches page scripts or other sites. Session times are real time (tokens expire in real time), not the
service's business clock, which demos may shift.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.starlette_client import OAuth, OAuthError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.console.schema import WebSession
from services.console.settings import Settings
from shared.auth import Principal, TokenValidator, Unauthenticated
from shared.logging import Logger

log = Logger("postloan.console.auth")
COOKIE = "postloan_console"
REFRESH_MARGIN = timedelta(seconds=30)  # an access token this close to its end is refreshed before use


@dataclass(frozen=True)
class Staff:
    """The signed-in member of staff of one request: who, their roles, the token sent to the owning services, and
    the session's form token."""

    username: str
    roles: frozenset[str]
    access_token: str
    csrf: str


class SignInNeeded(Exception):
    """No live session: the page sends the browser to sign in (and back)."""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _expiry(token: dict[str, Any], key: str, fallback: timedelta) -> datetime:
    seconds = token.get(key)
    return _now() + (timedelta(seconds=float(seconds)) if isinstance(seconds, int | float) else fallback)


class Realm:
    """The realm as the console's sign-in sees it: where browsers go, where the console itself calls."""

    def __init__(self, settings: Settings, validator: TokenValidator) -> None:
        self.settings = settings
        self.validator = validator
        issuer, inside = settings.auth_issuer.rstrip("/"), settings.realm_url()
        self.issuer = issuer
        self.token_url = f"{inside}/protocol/openid-connect/token"
        self.logout_url = f"{issuer}/protocol/openid-connect/logout"
        self.oauth = OAuth()
        self.oauth.register(
            "realm", client_id=settings.oidc_client_id, client_secret=None,
            authorize_url=f"{issuer}/protocol/openid-connect/auth",  # the browser's way in
            access_token_url=self.token_url, jwks_uri=f"{inside}/protocol/openid-connect/certs",
            client_kwargs={"scope": "openid", "code_challenge_method": "S256", "token_endpoint_auth_method": "none",
                           "timeout": settings.api_timeout_s},
        )

    @property
    def client(self) -> Any:
        return self.oauth.create_client("realm")

    def callback_url(self) -> str:
        return f"{self.settings.public_url.rstrip('/')}/auth/callback"

    async def principal(self, token: dict[str, Any]) -> Principal:
        """The person a token response names, from its verified access token (roles included)."""
        return await self.validator.principal(str(token.get("access_token", "")))

    async def refreshed(self, refresh_token: str) -> dict[str, Any]:
        async with AsyncOAuth2Client(client_id=self.settings.oidc_client_id, token_endpoint_auth_method="none",
                                     timeout=self.settings.api_timeout_s) as client:
            return dict(await client.refresh_token(self.token_url, refresh_token=refresh_token))


class Sessions:
    """Server-side sessions of signed-in staff (console.web_sessions)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], realm: Realm, hours: float) -> None:
        self._sessions = sessions
        self._realm = realm
        self._hours = hours

    async def open(self, token: dict[str, Any]) -> str:
        """A new session for a verified token response; returns the browser's session id."""
        who = await self._realm.principal(token)
        session_id = secrets.token_urlsafe(32)
        now = _now()
        async with self._sessions.begin() as db:
            await db.execute(delete(WebSession).where(WebSession.c.expires_at < now))  # sessions long over
            await db.execute(insert(WebSession).values(
                id_hash=_hash(session_id), username=who.username, roles=sorted(who.roles),
                access_token=token["access_token"], access_expires_at=_expiry(token, "expires_in", timedelta(0)),
                refresh_token=token.get("refresh_token"), id_token=token.get("id_token"),
                csrf=secrets.token_urlsafe(24), created_at=now, expires_at=now + timedelta(hours=self._hours)))
        log.info("staff_signed_in", user=who.username, roles=sorted(who.roles))
        return session_id

    async def staff(self, session_id: str | None) -> Staff:
        """The signed-in staff of a session id (its access token refreshed if need be), or SignInNeeded."""
        if not session_id or len(session_id) > 200:
            raise SignInNeeded
        async with self._sessions() as db:
            row = (await db.execute(select(WebSession).where(WebSession.c.id_hash == _hash(session_id)))).first()
        if row is None or row.expires_at <= _now():
            raise SignInNeeded
        if row.access_expires_at - REFRESH_MARGIN > _now():
            return Staff(row.username, frozenset(row.roles), row.access_token, row.csrf)
        return await self._refresh(session_id, row)

    async def _refresh(self, session_id: str, row: Any) -> Staff:
        if not row.refresh_token:
            raise SignInNeeded
        try:
            token = await self._realm.refreshed(row.refresh_token)
            who = await self._realm.principal(token)
        except (OAuthError, Unauthenticated, OSError, ValueError) as exc:  # the realm ended the session, or is away
            log.info("staff_session_not_refreshed", user=row.username, why=type(exc).__name__)
            await self.close(session_id)
            raise SignInNeeded from None
        async with self._sessions.begin() as db:
            await db.execute(update(WebSession).where(WebSession.c.id_hash == _hash(session_id)).values(
                access_token=token["access_token"], access_expires_at=_expiry(token, "expires_in", timedelta(0)),
                refresh_token=token.get("refresh_token", row.refresh_token), roles=sorted(who.roles)))
        return Staff(who.username, who.roles, token["access_token"], row.csrf)

    async def close(self, session_id: str | None) -> str | None:
        """Ends a session; returns its ID token (the realm's sign-out wants it as a hint), if any."""
        if not session_id:
            return None
        async with self._sessions.begin() as db:
            id_token = await db.scalar(delete(WebSession).where(WebSession.c.id_hash == _hash(session_id))
                                       .returning(WebSession.c.id_token))
        return id_token
