"""Every endpoint wants a valid bearer token from the realm and a role (issue 13), against the real Keycloak the run
started and the four services behind real HTTP servers: no token, an expired one, one for another service, one
from another realm or with a tampered signature are 401; a missing role is 403; the audit trail names the
signed-in user."""

import asyncio
import base64
import binascii
import json
import string
import time

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from harness.keycloak import NOTIFIER_ONLY, SHORT_LIVED
from tests.integration.http.conftest import Served
from tests.support.auth import STAFF, as_user, identity, staff

READS = {  # one endpoint each, callable by the staff user
    "requests": "/policy", "confirmation": "/tasks", "notifier": "/recipients/C-1",
    "appointments": "/branches/B-none/availability?from=2020-02-04&to=2020-02-05",
}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("name", list(READS))
async def test_no_token_is_a_401_with_a_bearer_challenge_but_health_needs_none(
    name: str, platform: dict[str, Served]
) -> None:
    async with httpx.AsyncClient(base_url=platform[name].url, timeout=10) as anonymous:
        refused = await anonymous.get(READS[name])
        garbage = await anonymous.get(READS[name], headers=_bearer("not.a.token"))
        basic = await anonymous.get(READS[name], headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
        health = await anonymous.get("/health")
    assert (refused.status_code, garbage.status_code, basic.status_code) == (401, 401, 401)
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert health.status_code in (200, 503)  # /health and /ready stay open to probes
    async with platform[name].client() as signed_in:  # the positive control: the same call with a token
        assert (await signed_in.get(READS[name])).status_code in (200, 404)


async def test_an_expired_token_is_a_401(platform: dict[str, Served]) -> None:
    username = staff().username
    token = identity().sign_in(username, SHORT_LIVED)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    async with httpx.AsyncClient(base_url=platform["requests"].url, timeout=10) as client:
        assert (await client.get("/policy", headers=_bearer(token))).status_code == 200  # good while it lasts
        leeway = platform["requests"].runtime.settings.auth_leeway_s
        await asyncio.sleep(max(0.0, expires + leeway + 1 - time.time()))  # until its own expiry (plus leeway) passed
        expired = await client.get("/policy", headers=_bearer(token))
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["www-authenticate"]


async def test_a_token_for_another_service_is_a_401_there_and_good_where_it_belongs(
    platform: dict[str, Served]
) -> None:
    token = identity().sign_in(staff().username, NOTIFIER_ONLY)
    audience = jwt.decode(token, options={"verify_signature": False})["aud"]
    assert "postloan-notifier" in audience and "postloan-requests" not in audience
    async with httpx.AsyncClient(timeout=10) as client:
        elsewhere = await client.get(f"{platform['requests'].url}/policy", headers=_bearer(token))
        home = await client.get(f"{platform['notifier'].url}/recipients/C-none", headers=_bearer(token))
    assert (elsewhere.status_code, home.status_code) == (401, 404)


def _with_claims(token: str, **claims: object) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_a_tampered_or_foreign_token_is_a_401(platform: dict[str, Served]) -> None:
    agent_token = identity().sign_in(as_user("t-agent-only", "agent").username)
    head, payload, signature = agent_token.split(".")
    flipped = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    promoted = _with_claims(agent_token, realm_access={"roles": ["policy-admin"]})
    async with httpx.AsyncClient(base_url=platform["requests"].url, timeout=10) as client:
        master = (await client.post(f"{identity().url}/realms/master/protocol/openid-connect/token", data={
            "grant_type": "password", "client_id": "admin-cli", "username": "admin",
            "password": identity().admin_password})).json()["access_token"]  # a real token, of another realm
        answers = [(await client.put("/policy", json={"preset": "epidemic-2020"}, headers=_bearer(t))).status_code
                   for t in (flipped, promoted, master)]
    assert answers == [401, 401, 401]


# An edit of a token's text: replace, insert or delete one character, at a share of the way along it.
_EDIT = st.tuples(st.sampled_from(["replace", "insert", "delete"]), st.floats(0, 1, exclude_max=True),
                  st.sampled_from(string.ascii_letters + string.digits + "-_.="))
_ACCEPTED: list[str] = []  # one real token for every example (signing in again per example would time Keycloak)


def _edited(token: str, edits: list[tuple[str, float, str]]) -> str:
    for kind, where, char in edits:
        at = int(where * len(token))
        token = {"replace": token[:at] + char + token[at + 1:], "insert": token[:at] + char + token[at:],
                 "delete": token[:at] + token[at + 1:]}[kind]
    return token


def _still_the_same_token(forged: str, real: str) -> bool:
    """What RS256 verification accepts: the signed text (header and payload as sent) unchanged, and a signature
    that decodes to the same bytes (base64url's last character carries bits the decoder drops)."""
    forged_parts, real_parts = forged.split("."), real.split(".")
    if len(forged_parts) != 3 or forged_parts[:2] != real_parts[:2]:
        return False
    try:
        return jwt.utils.base64url_decode(forged_parts[2]) == jwt.utils.base64url_decode(real_parts[2])
    except (binascii.Error, ValueError):
        return False


@settings(max_examples=40, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(_EDIT, min_size=1, max_size=3))
@example(edits=[("replace", 0.999, "A")])  # the signature's last character
@example(edits=[("insert", 0.5, ".")])
async def test_a_token_the_service_already_accepted_counts_only_as_sent(
    platform: dict[str, Served], edits: list[tuple[str, float, str]]
) -> None:
    """A token that passed is kept by the service (shared/auth.py): any other text, a generated edit of the kept
    one, is checked in full and refused unless it is the same signed token, and the kept one still works."""
    if not _ACCEPTED:
        _ACCEPTED.append(identity().sign_in(as_user("t-agent-kept", "agent").username))
    real = _ACCEPTED[0]
    forged = _edited(real, edits)
    async with httpx.AsyncClient(base_url=platform["confirmation"].url, timeout=10) as client:
        kept = await client.get("/tasks/mine", headers=_bearer(real))
        answer = await client.get("/tasks/mine", headers=_bearer(forged))
    assert kept.status_code == 200, kept.text
    expected = 200 if forged == real or _still_the_same_token(forged, real) else 401
    assert answer.status_code == expected, (forged, answer.status_code, answer.text)


async def test_an_agent_switching_the_policy_is_a_403_and_a_policy_admin_may(platform: dict[str, Served]) -> None:
    async with platform["requests"].client(as_user("t-agent-only", "agent")) as agent, \
            platform["requests"].client(as_user("t-policy-admin", "policy-admin")) as admin:
        forbidden = await agent.put("/policy", json={"preset": "standard-2019"})
        in_force = (await admin.get("/policy")).json()
        allowed = await admin.put("/policy", json={"preset": "standard-2019"})
        assert (await admin.put("/policy", json={"preset": "epidemic-2020"})).status_code == 200  # as before
    assert forbidden.status_code == 403 and "policy-admin" in forbidden.json()["detail"]
    assert in_force["version"] == "epidemic-2020"  # the agent's switch did not happen
    assert allowed.status_code == 200 and allowed.json()["changed_by"] == "t-policy-admin"


async def test_the_audit_trail_names_the_signed_in_user_never_one_a_body_names(platform: dict[str, Served]) -> None:
    async with platform["requests"].client(as_user("t-policy-admin", "policy-admin")) as admin, \
            platform["requests"].client() as reader:
        impostor = await admin.put("/policy", json={"preset": "standard-2019", "changed_by": STAFF})
        switched = await admin.put("/policy", json={"preset": "standard-2019", "changed_by": "t-policy-admin"})
        back = await admin.put("/policy", json={"preset": "epidemic-2020"})
        history = (await reader.get("/policy/history", params={"limit": 2})).json()["switches"]
    assert impostor.status_code == 403 and "signed-in user" in impostor.json()["detail"]
    assert (switched.status_code, back.status_code) == (200, 200)
    assert [(h["to_version"], h["changed_by"]) for h in history] == [
        ("epidemic-2020", "t-policy-admin"), ("standard-2019", "t-policy-admin")]
