"""Token checks against a stand-in identity provider (keys made here); the real Keycloak is in the integration tests."""

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends, FastAPI

from harness.infra import ROOT
from services import SERVICES
from shared.auth import (
    STAFF_ROLES,
    Principal,
    SignedIn,
    TokenValidator,
    Unauthenticated,
    authorized,
    same_person,
    signing_keys,
    unlisted,
)

ISSUER = "http://idp.test/realms/postloan"
AUDIENCE = "postloan-requests"


class Key:
    def __init__(self, kid: str, use: str = "sig") -> None:
        self.kid, self.use = kid, use
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**entry, "kid": self.kid, "use": self.use, "alg": "RS256" if self.use == "sig" else "RSA-OAEP"}

    def sign(self, **over: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "iat": now, "exp": now + 300,
                  "preferred_username": "agent-1", "azp": "postloan-console",
                  "realm_access": {"roles": ["agent", "default-roles-postloan"]}, **over}
        return jwt.encode({k: v for k, v in claims.items() if v is not None}, self.private, algorithm="RS256",
                          headers={"kid": self.kid})


class Provider:
    """A JWKS endpoint whose keys the test changes (rotation), counting how often it is asked."""

    def __init__(self, *keys: Key) -> None:
        self.keys = list(keys)
        self.asked = 0

    def transport(self) -> httpx.MockTransport:
        def answer(request: httpx.Request) -> httpx.Response:
            self.asked += 1
            return httpx.Response(200, json={"keys": [k.jwk() for k in self.keys]})
        return httpx.MockTransport(answer)


def validator(provider: Provider, *, clock: Callable[[], float] = time.monotonic, **over: Any) -> TokenValidator:
    return TokenValidator(**{"issuer": ISSUER, "jwks_url": f"{ISSUER}/protocol/openid-connect/certs",
                             "audience": AUDIENCE, "leeway_s": 5, "min_refetch_s": 30, "monotonic": clock,
                             "transport": provider.transport(), **over})


async def test_a_good_token_names_the_user_and_their_roles() -> None:
    key = Key("k1")
    principal = await validator(Provider(key)).principal(key.sign())
    roles = frozenset({"agent", "default-roles-postloan"})
    assert principal == Principal(username="agent-1", subject="u-1", roles=roles, client="postloan-console")


# Times are taken when the test runs, not when it is collected: a slow run reaches this test minutes later.
@pytest.mark.parametrize("claims", [
    lambda: {"aud": "postloan-notifier"}, lambda: {"aud": None}, lambda: {"iss": "http://evil.test/realms/postloan"},
    lambda: {"exp": int(time.time()) - 60}, lambda: {"nbf": int(time.time()) + 60}, lambda: {"exp": None},
    lambda: {"sub": None},
], ids=["other-audience", "no-audience", "other-issuer", "expired", "not-yet-valid", "no-expiry", "no-subject"])
async def test_a_token_for_someone_else_or_out_of_its_time_is_refused(claims: Callable[[], dict[str, Any]]) -> None:
    key = Key("k1")
    with pytest.raises(Unauthenticated):
        await validator(Provider(key)).principal(key.sign(**claims()))


async def test_expiry_within_the_leeway_still_counts() -> None:
    key = Key("k1")
    assert (await validator(Provider(key)).principal(key.sign(exp=int(time.time()) - 2))).username == "agent-1"


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"]["roles"].append("policy-admin")
    return f"{header}.{_b64(claims)}.{signature}"


async def test_a_tampered_payload_or_a_foreign_signature_is_refused() -> None:
    key, stranger = Key("k1"), Key("k1")  # the stranger reuses the realm's key id with a key of its own
    check = validator(Provider(key))
    for token in (_tampered(key.sign()), stranger.sign(), "not-a-token", ""):
        with pytest.raises(Unauthenticated):
            await check.principal(token)


async def test_unsigned_and_symmetric_tokens_are_refused() -> None:
    key = Key("k1")
    public_pem = key.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = jwt.decode(key.sign(), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    # The classic confusion: HS256 keyed with the public key everybody can fetch (PyJWT will not make one: by hand).
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{_b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    check = validator(Provider(key))
    for token in (unsigned, confused):
        with pytest.raises(Unauthenticated):
            await check.principal(token)


async def test_the_encryption_key_of_the_set_signs_nothing() -> None:
    sig, enc = Key("sig-1"), Key("enc-1", use="enc")
    assert set(signing_keys({"keys": [sig.jwk(), enc.jwk()]})) == {"sig-1"}
    with pytest.raises(Unauthenticated):
        await validator(Provider(sig, enc)).principal(enc.sign())


async def test_a_rotated_key_is_fetched_once_and_then_cached() -> None:
    old, new = Key("k-old"), Key("k-new")
    provider = Provider(old)
    check = validator(provider, min_refetch_s=0)
    assert (await check.principal(old.sign())).username == "agent-1"
    provider.keys = [old, new]  # the realm rotates: tokens signed with the new key arrive
    for _ in range(3):
        assert (await check.principal(new.sign())).username == "agent-1"
    assert provider.asked == 2  # the first key, then once for the new one; cached after that


async def test_made_up_key_ids_cannot_make_the_service_hammer_the_provider() -> None:
    key = Key("k1")
    provider, now = Provider(key), [1000.0]
    check = validator(provider, clock=lambda: now[0], min_refetch_s=30)
    await check.principal(key.sign())
    for i in range(20):
        with pytest.raises(Unauthenticated):
            await check.principal(Key(f"made-up-{i}").sign())
    assert provider.asked == 1  # within 30 s of the last fetch no unknown key id fetches again
    now[0] += 31
    with pytest.raises(Unauthenticated):
        await check.principal(Key("made-up-late").sign())
    assert provider.asked == 2


async def test_an_unreachable_provider_keeps_the_known_keys_and_refuses_unknown_ones() -> None:
    key = Key("k1")
    provider = Provider(key)
    check = validator(provider, min_refetch_s=0)
    await check.principal(key.sign())
    check._transport = httpx.MockTransport(lambda _request: httpx.Response(503))
    assert (await check.principal(key.sign())).username == "agent-1"
    with pytest.raises(Unauthenticated):
        await check.principal(Key("k2").sign())


def _counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature and claims the validator checks (PyJWT's decode), in order."""
    checked: list[str] = []
    decode = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)
    monkeypatch.setattr("shared.auth.jwt.decode", counted)
    return checked


async def test_a_verified_token_is_checked_once_and_nothing_else_rides_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = _counting_decodes(monkeypatch)
    key = Key("k1")
    check = validator(Provider(key), cache_size=2)
    first, second, third = (key.sign(sub=f"u-{n}", preferred_username=f"agent-{n}") for n in (1, 2, 3))
    for _ in range(3):
        assert (await check.principal(first)).username == "agent-1"
    assert checked == [first]  # checked once, then answered from the kept result
    with pytest.raises(Unauthenticated):  # a copy of it with roles added is other text: checked, and refused
        await check.principal(_tampered(first))
    assert (await check.principal(second)).username == "agent-2"
    assert (await check.principal(third)).username == "agent-3"  # the cache holds two: the least recent goes
    checked.clear()
    assert (await check.principal(first)).username == "agent-1"
    assert checked == [first]


async def test_a_kept_token_stops_counting_when_it_expires() -> None:
    key = Key("k1")
    check = validator(Provider(key), leeway_s=0)
    expires = int(time.time()) + 1
    token = key.sign(exp=expires)
    assert (await check.principal(token)).username == "agent-1"
    while time.time() < expires:  # at most a second: the token's own lifetime, on the clock PyJWT checks
        await asyncio.sleep(expires - time.time() + 0.01)
    with pytest.raises(Unauthenticated):
        await check.principal(token)


@pytest.mark.parametrize("service", [s for s in SERVICES if (ROOT / "services" / s / "api.py").exists()])
def test_every_route_of_every_service_has_roles(service: str) -> None:
    api = __import__(f"services.{service}.api", fromlist=["ACCESS", "router"])
    assert unlisted(api.router.routes, api.ACCESS) == []
    assert set(api.ACCESS) == {r.name for r in api.router.routes}  # no stale entry either


def test_a_route_missing_from_the_table_is_reported() -> None:
    router = APIRouter()

    @router.get("/open")
    async def forgotten() -> None: ...

    assert unlisted(router.routes, {"other": frozenset({"agent"})}) == ["forgotten"]  # type: ignore[arg-type]


def test_the_realm_file_has_the_staff_roles_and_no_secret_or_password_grant() -> None:
    realm = json.loads((ROOT / "deploy" / "keycloak" / "postloan-realm.json").read_text())
    assert {r["name"] for r in realm["roles"]["realm"]} == STAFF_ROLES
    assert all(not c.get("directAccessGrantsEnabled") and "secret" not in c for c in realm["clients"])
    assert all("credentials" not in u and set(u["realmRoles"]) <= STAFF_ROLES for u in realm["users"])
    assert {r for u in realm["users"] for r in u["realmRoles"]} >= STAFF_ROLES  # a demo user for every role
    browser = next(c for c in realm["clients"] if c["clientId"] == "postloan-console")
    assert browser["publicClient"] and browser["attributes"]["pkce.code.challenge.method"] == "S256"
    audiences = {m["config"]["included.custom.audience"] for m in browser["protocolMappers"]}
    assert audiences == {f"postloan-{s}" for s in SERVICES}


def _app(provider: Provider) -> FastAPI:
    router = APIRouter()

    @router.get("/who")
    async def who(user: SignedIn) -> dict[str, str]:
        return {"username": user.username}

    @router.put("/rules")
    async def rules(user: SignedIn, body: dict[str, str]) -> dict[str, str]:
        return {"by": same_person(user, body.get("by"), "by")}

    app = FastAPI()
    app.state.token_validator = validator(provider)
    app.state.access = {"who": frozenset({"agent", "auditor"}), "rules": frozenset({"policy-admin"})}
    app.include_router(router, dependencies=[Depends(authorized)])
    return app


async def test_the_dependency_answers_401_403_or_the_signed_in_user() -> None:
    key = Key("k1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(Provider(key))), base_url="http://t") as api:
        anonymous = await api.get("/who")
        bad = await api.get("/who", headers={"Authorization": "Bearer x.y.z"})
        agent = {"Authorization": f"Bearer {key.sign()}"}
        admin = {"Authorization": f"Bearer {key.sign(realm_access={'roles': ['policy-admin']})}"}
        assert (anonymous.status_code, anonymous.headers["www-authenticate"]) == (401, 'Bearer realm="postloan"')
        assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
        assert (await api.get("/who", headers=agent)).json() == {"username": "agent-1"}
        assert (await api.put("/rules", json={}, headers=agent)).status_code == 403
        assert (await api.put("/rules", json={}, headers=admin)).json() == {"by": "agent-1"}
        assert (await api.put("/rules", json={"by": "agent-1"}, headers=admin)).status_code == 200
        assert (await api.put("/rules", json={"by": "someone-else"}, headers=admin)).status_code == 403


def test_a_service_with_a_route_missing_from_its_table_refuses_to_serve() -> None:
    from services.requests.app import build_runtime
    from services.requests.settings import Settings

    runtime = build_runtime(Settings(kafka_security_protocol="PLAINTEXT"))  # no broker credentials needed here
    runtime.asgi()  # the shipped table is complete
    runtime.spec = dataclasses.replace(runtime.spec, access={k: v for k, v in runtime.spec.access.items()
                                                             if k != "put_policy"})
    with pytest.raises(RuntimeError, match="put_policy"):
        runtime.asgi()
