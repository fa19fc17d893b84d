"""Bearer tokens from the realm's identity provider (Keycloak): who is calling, and may they call this endpoint.

A token counts only when its RS256 signature verifies with a signing key (`use: sig`) of the realm's JWKS, its
issuer is the realm, its audience holds this service (`postloan-<service>`), and it is within its lifetime (a
small leeway for clock skew). A token that passed is kept, by its exact text, until its own expiry (with the
leeway) and no longer, in a bounded cache (`cache_size` tokens, the least recently used going first): an agent's
next call with the same token costs a lookup instead of a signature check and two JSON decodings (about 0.3 ms
of the service's CPU per call). Only a token that verified can enter, so a stranger cannot fill the cache; any
other text, a tampered copy included, is checked in full. (A token verified before its key left the realm's set
counts until it expires, as it would wherever the service had not fetched the set again since.) Keys are
cached; a token naming an unknown key id makes the service fetch the JWKS again (a rotated key), at most once
per `min_refetch_s`, so a stream of made-up key ids cannot hammer the provider. Each service lists the roles of
each of its endpoints in one table (`Access`); an endpoint missing from it cannot be served (the service refuses
to start), so a new route is never open by omission.
"""

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from cachetools import TLRUCache
from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.logging import Logger

log = Logger("postloan.auth")

STAFF_ROLES = frozenset({"agent", "hotline", "paper-clerk", "branch-operator", "supervisor", "policy-admin",
                         "auditor"})
Access = Mapping[str, frozenset[str]]  # route name (the endpoint function's name) -> roles, any one of which will do


@dataclass(frozen=True)
class Principal:
    """The signed-in caller, from a verified token."""

    username: str
    subject: str
    roles: frozenset[str]
    client: str


class Unauthenticated(Exception):
    """No usable token: why, for the log (the caller is told only that the token is not accepted)."""


class TokenValidator:
    def __init__(self, *, issuer: str, jwks_url: str, audience: str, leeway_s: float = 10.0,
                 min_refetch_s: float = 30.0, timeout_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic, cache_size: int = 4096,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.audience = audience
        self.leeway_s = leeway_s
        self.min_refetch_s = min_refetch_s
        self.timeout_s = timeout_s
        self._monotonic = monotonic
        self._transport = transport  # tests stand a fake identity provider in
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # JWKS fetches so far (a figure for /ready-style checks and tests)
        # token -> (its principal, when it stops counting: `exp` plus the leeway, on the clock PyJWT checks with)
        self._verified: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=cache_size, ttu=lambda _token, entry, _now: entry[1], timer=time.time)

    async def principal(self, token: str) -> Principal:
        if (known := self._verified.get(token)) is not None:
            return known[0]
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"malformed token: {exc}") from None
        if not isinstance(kid, str):
            raise Unauthenticated("the token names no key id")
        key = await self._key(kid)
        try:
            claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway_s, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"{type(exc).__name__}: {exc}") from None
        principal = _principal(claims)
        self._verified[token] = (principal, float(claims["exp"]) + self.leeway_s)
        return principal

    async def _key(self, kid: str) -> jwt.PyJWK:
        if kid not in self._keys:
            async with self._lock:
                if kid not in self._keys and self._may_refetch():
                    await self._fetch()
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthenticated("the token names a key the realm does not sign with") from None

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._monotonic() - self._fetched_at >= self.min_refetch_s

    async def _fetch(self) -> None:
        self._fetched_at = self._monotonic()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, transport=self._transport) as client:
                document = (await client.get(self.jwks_url)).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("jwks_unavailable", url=self.jwks_url, error=repr(exc)[:300])
            return  # the keys known so far stay in use
        self._keys = signing_keys(document)


def signing_keys(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The RS256 signing keys of a JWKS document by key id (encryption keys and other algorithms are left out)."""
    found: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", ()):
        if entry.get("use") == "sig" and entry.get("kty") == "RSA" and entry.get("alg", "RS256") == "RS256" \
                and isinstance(entry.get("kid"), str):
            found[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256")
    return found


def _principal(claims: Mapping[str, Any]) -> Principal:
    roles = claims.get("realm_access", {}).get("roles", [])
    username = claims.get("preferred_username") or claims.get("sub")
    if not isinstance(username, str) or not isinstance(roles, list):
        raise Unauthenticated("the token names no user")
    return Principal(username=username, subject=str(claims["sub"]),
                     roles=frozenset(r for r in roles if isinstance(r, str)), client=str(claims.get("azp", "")))


_bearer = HTTPBearer(auto_error=False, description="An access token of realm postloan (Keycloak).")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="postloan"'}
_INVALID = {"WWW-Authenticate": 'Bearer realm="postloan", error="invalid_token"'}


async def authenticated(request: Request,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """FastAPI dependency: the caller from their bearer token, or 401 (asked once per request, then cached)."""
    if credentials is None:
        raise HTTPException(401, "sign in: this endpoint needs a bearer token", headers=_CHALLENGE)
    validator: TokenValidator = request.app.state.token_validator
    try:
        return await validator.principal(credentials.credentials)
    except Unauthenticated as exc:
        log.info("token_refused", path=request.url.path, why=str(exc)[:200])
        raise HTTPException(401, "the bearer token is not accepted (invalid, expired or not for this service)",
                            headers=_INVALID) from None


async def authorized(request: Request, principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """FastAPI dependency on every route of a service: 403 unless the caller holds one of the route's roles."""
    route = request.scope.get("route")
    access: Access = request.app.state.access
    allowed = access.get(route.name, frozenset()) if isinstance(route, APIRoute) else frozenset()
    if not principal.roles & allowed:
        raise HTTPException(403, f"your roles do not allow this; it needs one of: {', '.join(sorted(allowed))}")
    return principal


SignedIn = Annotated[Principal, Depends(authorized)]  # an endpoint's parameter: the signed-in, authorized caller


def unlisted(routes: Iterable[APIRoute], access: Access) -> list[str]:
    """Routes with no roles in the table (a service with any refuses to start)."""
    return [r.name for r in routes if not access.get(r.name)]


def same_person(principal: Principal, named: str | None, field: str) -> str:
    """The signed-in user as the actor; a body that names someone else is refused (403), never believed."""
    if named is not None and named != principal.username:
        raise HTTPException(403, f"{field} is the signed-in user ({principal.username}); a body may not name another")
    return principal.username
