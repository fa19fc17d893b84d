"""The staff console against the running platform, the realm's real sign-in and the owning services: each page
needs its role, forms need the session's token, refusals come back in plain words, the language switch works.
(The browser tests, tests/browser/, drive the same pages in headless Chromium.)"""

import html
import re
import uuid
from datetime import date
from urllib.parse import quote

import httpx
import pytest

from harness.builders import a_loan, primary_of
from tests.support.console import DESKS, signed_in
from tests.support.kafka import KafkaDriver
from tests.support.services import Process
from tests.support.wait import publish_loan


async def test_without_a_session_every_page_sends_the_browser_to_the_realm(platform: dict[str, Process]) -> None:
    async with httpx.AsyncClient(base_url=platform["console"].url) as client:
        for path in DESKS.values():
            answer = await client.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
        realm = await client.get("/login", params={"next": "/policy"})
        assert realm.status_code == 302
        assert "code_challenge_method=S256" in realm.headers["location"]  # PKCE
        assert "/realms/postloan/protocol/openid-connect/auth" in realm.headers["location"]
    async with httpx.AsyncClient(base_url=platform["console"].url, cookies={"postloan_console": "made-up"}) as forger:
        forged = await forger.get("/policy")
        assert forged.status_code == 303  # an unknown session id is no session


@pytest.mark.parametrize("role", sorted(DESKS))
async def test_each_role_sees_its_desk_and_is_refused_the_others(platform: dict[str, Process], role: str) -> None:
    async with signed_in(platform, role) as staff:
        home = await staff.get("/")
        mine = await staff.get(DESKS[role])
        assert mine.status == 200, mine.text[:500]
        for other_role, path in DESKS.items():
            if other_role != role:
                other = await staff.get(path)
                assert other.status == 403 and other.has("forbidden"), path
        links = {path for path in DESKS.values() if f'href="{path}"' in home.html}
        assert links == {DESKS[role]}


async def test_pages_send_security_headers_and_forms_without_the_session_token_are_refused(
    platform: dict[str, Process]
) -> None:
    async with signed_in(platform, "policy-admin") as admin:
        answer = await admin.client.get("/policy")
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
        cookie = next(c for c in admin.client.cookies.jar if c.name == "postloan_console")
        assert cookie.has_nonstandard_attr("HttpOnly")
        for token in (None, "forged", ""):
            refused = await admin.post("/policy", {"preset": "standard-2019", "confirm": "yes"}, csrf=token)
            assert refused.status == 403 and refused.has("forbidden")
        unchanged = await admin.get("/policy")
        assert 'id="policy-version">epidemic-2020<' in unchanged.html


async def test_a_policy_switch_needs_an_explicit_confirmation_and_shows_in_the_history(
    platform: dict[str, Process]
) -> None:
    async with signed_in(platform, "policy-admin") as admin:
        unconfirmed = await admin.submit("/policy", "/policy", {"preset": "standard-2019"})
        assert unconfirmed.has("confirm-error") and 'id="policy-version">epidemic-2020<' in unconfirmed.html
        try:
            switched = await admin.submit("/policy", "/policy", {"preset": "standard-2019", "confirm": "yes"})
            assert switched.has("switched") and 'id="policy-version">standard-2019<' in switched.html
            assert "standard-2019" in switched.text.split("History", 1)[1]
        finally:
            back = await admin.submit("/policy", "/policy", {"preset": "epidemic-2020", "confirm": "yes"})
        assert 'id="policy-version">epidemic-2020<' in back.html
        unknown = await admin.submit("/policy", "/policy", {"preset": "no-such-preset", "confirm": "yes"})
        assert unknown.has("refusal") and 'id="policy-version">epidemic-2020<' in unknown.html


async def test_the_hotline_submits_for_a_customer_and_sees_a_refusal_in_plain_words_with_its_facts(
    platform: dict[str, Process], kafka: KafkaDriver
) -> None:
    loan = a_loan(debit_day=10, next_due_date=date(2020, 2, 10))
    await publish_loan(kafka, loan, requests=platform["requests"].url)
    async with signed_in(platform, "hotline") as hotline:
        found = await hotline.get("/hotline", loan_id=loan.loan_id)
        assert found.has("loan-masked") and loan.loan_id not in found.text  # masked: only its last four show
        fields = {"loan_id": loan.loan_id, "applicant_customer_id": primary_of(loan), "channel": "HOTLINE",
                  "method": "RECORDED_CALL", "recording_id": f"REC-{uuid.uuid4().hex[:8]}"}
        refused = await hotline.post("/hotline/debit-day-change", {**fields, "new_debit_day": "30"},
                                     csrf=found.csrf)
        assert refused.has("refusal") and "DAY_OUT_OF_RANGE" in refused.text
        assert "outside the range the policy allows" in refused.text and "policy_version" in refused.text
        invalid = await hotline.post("/hotline/debit-day-change", {**fields, "new_debit_day": "soon"},
                                     csrf=found.csrf)
        assert invalid.has("invalid") and "new_debit_day" in invalid.text
        accepted = await hotline.post("/hotline/debit-day-change", {**fields, "new_debit_day": "20"},
                                      csrf=found.csrf)
        assert accepted.has("submitted"), accepted.text[:800]
        # The answer to the form stands for the desk's page of this loan: the language switch comes back there (the
        # form's address only takes a POST), and so does a sign-in needed by a form.
        switch = re.search(r'href="(/language/zh-Hans\?next=[^"]*)"', accepted.html)
        assert switch is not None and quote(f"/hotline?loan_id={loan.loan_id}", safe="") in switch.group(1)
        back = await hotline.client.get(html.unescape(switch.group(1)))  # as the link is, query included
        assert back.status_code == 200 and str(back.url).endswith(f"/hotline?loan_id={loan.loan_id}")
        assert 'id="loan-masked"' in back.text


@pytest.mark.parametrize(("language", "word"), [("zh-Hans", "热线工作台"), ("zh-Hant", "熱線工作台"),
                                                ("en", "Hotline desk")])
async def test_the_language_switch_changes_the_page_s_words(
    platform: dict[str, Process], language: str, word: str
) -> None:
    async with signed_in(platform, "hotline", language="en") as hotline:
        switched = await hotline.get(f"/language/{language}", next="/hotline")
        assert switched.url.endswith("/hotline") and word in switched.text
        home = await hotline.get("/language/xx", next="https://evil.example/")
        assert home.url == f"{platform['console'].url}/" and word in home.text  # off-site goes home; xx is ignored


async def test_signing_out_ends_the_session_here_and_at_the_realm(platform: dict[str, Process]) -> None:
    async with signed_in(platform, "paper-clerk") as clerk:
        page = await clerk.get("/paper")
        forged = await clerk.post("/logout", {}, csrf="forged")
        assert forged.status == 403 and (await clerk.get("/paper")).status == 200  # still signed in
        out = await clerk.post("/logout", {}, csrf=page.csrf)
        assert out.url.endswith("/signed-out"), out.url  # back from the realm's sign-out
        assert "postloan_console" not in {c.name for c in clerk.client.cookies.jar}
        again = await clerk.get("/paper")
        assert 'name="username"' in again.html  # the realm asks for the password again: its session ended too
