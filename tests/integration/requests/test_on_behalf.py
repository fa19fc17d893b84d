"""The hotline submits a request on a verified customer's behalf over HTTP as the signed-in staff member (issues 13
and 15): the request and its audit trail name the staff member from the token, never one a body names; whatever a
field holds, the answer is an acceptance or a clear refusal, and a refusal stores nothing."""

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.builders import a_loan, primary_of
from shared.contracts.loans import LoanSnapshot
from shared.runtime import ServiceRuntime
from tests.support.auth import agent, as_user
from tests.support.kafka import KafkaDriver
from tests.support.wait import publish_loan

VERIFIED = {"method": "RECORDED_CALL", "recording_id": "REC-HL-1"}


async def test_the_hotline_submits_on_a_customer_s_behalf_as_itself(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)  # stays open, awaiting the call: a second submission meets it
    await publish_loan(kafka, loan, requests=service)
    hotline = as_user("t-hotline", "hotline")
    path = f"/loans/{loan.loan_id}/requests/debit-day-change"
    body = {"applicant_customer_id": primary_of(loan), "new_debit_day": 20, "identity_verification": VERIFIED}
    by_agent = await api.post(path, json=body, auth=agent("t-agent-hl"))
    impostor = await api.post(path, json={**body, "staff_id": "someone-else"}, auth=hotline)
    unverified = await api.post(path, json={k: v for k, v in body.items() if k != "identity_verification"},
                                auth=hotline)
    assert (by_agent.status_code, impostor.status_code, unverified.status_code) == (403, 403, 422)
    submitted = await api.post(path, json=body, auth=hotline)
    assert submitted.status_code == 200, submitted.text
    [event] = submitted.json()["events"]
    assert (event["type"], event["data"]["staff_id"], event["data"]["channel"]) == (
        "RequestSubmitted", "t-hotline", "HOTLINE")
    trail = (await api.get(f"/requests/{event['data']['request_id']}")).json()
    [opened] = [t for t in trail["history"] if t["to_state"] == "SUBMITTED"]
    assert trail["staff_id"] == "t-hotline" and (opened["actor"], opened["actor_kind"]) == ("t-hotline", "STAFF")
    assert opened["recording_id"] == "REC-HL-1" and opened["on_behalf_of"] == primary_of(loan)
    second = await api.post(path, json=body, auth=hotline)  # one open request per loan: refused, with the reason
    assert second.status_code == 409 and second.json()["detail"]["reason_code"] == "OPEN_REQUEST_EXISTS"


def a_repayment(loan: LoanSnapshot, **over: Any) -> dict[str, Any]:
    """A valid early repayment the hotline submits (the service's day is Monday 2020-02-03; Wednesday is open)."""
    return {"applicant_customer_id": primary_of(loan), "repayment_type": "PARTIAL", "amount": "1000.00",
            "requested_date": "2020-02-05", "channel": "ACCOUNT_MANAGER",
            "identity_verification": {"method": "FACE_TO_FACE"}, **over}


async def test_the_hotline_submits_an_early_repayment_as_itself_and_sees_refusals_with_their_facts(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    await publish_loan(kafka, loan, requests=service)
    hotline = as_user("t-hotline", "hotline")
    found = await api.get(f"/loans/{loan.loan_id}", auth=hotline)  # the desk finds the loan, and who may apply
    assert found.status_code == 200 and found.json()["primary_customer_id"] == primary_of(loan), found.text
    path = f"/loans/{loan.loan_id}/requests/early-repayment"
    body = a_repayment(loan)
    not_hotline = [await api.post(path, json=body, auth=who) for who in (
        agent("t-agent-hl"), as_user("t-supervisor-er", "supervisor"), as_user("t-admin-er", "policy-admin"))]
    assert [r.status_code for r in not_hotline] == [403, 403, 403]
    assert (await api.post(path, json=body, auth=None)).status_code == 401
    malformed = [await api.post(path, json=b, auth=hotline) for b in (
        {**body, "staff_id": "someone-else"},
        {k: v for k, v in body.items() if k != "identity_verification"},
        {**body, "amount": 1000.5},  # money is a decimal string, never a float
        {**body, "repayment_type": "SOME"},
        {**body, "channel": "APP"},  # the customer's own channels are not the hotline's to use
    )]
    assert [r.status_code for r in malformed] == [403, 422, 422, 422, 422], [r.text for r in malformed]
    saturday = await api.post(path, json={**body, "requested_date": "2020-02-08"}, auth=hotline)
    assert saturday.status_code == 409, saturday.text
    refusal = saturday.json()["detail"]
    assert refusal["reason_code"] == "INVALID_DATE" and refusal["facts"]["weekday"] == "Saturday"
    no_amount = await api.post(path, json={**body, "amount": None}, auth=hotline)
    assert no_amount.status_code == 409 and no_amount.json()["detail"]["reason_code"] == "INVALID_AMOUNT"
    assert (await api.get(f"/loans/{loan.loan_id}/requests")).json()["items"] == []  # refusals stored nothing
    submitted = await api.post(path, json=body, auth=hotline)
    assert submitted.status_code == 200, submitted.text
    [event] = submitted.json()["events"]
    data = event["data"]
    assert (event["type"], data["request_type"], data["staff_id"], data["channel"], data["amount"]) == (
        "RequestSubmitted", "EARLY_REPAYMENT", "t-hotline", "ACCOUNT_MANAGER", "1000.00")
    trail = (await api.get(f"/requests/{data['request_id']}")).json()
    [opened] = [t for t in trail["history"] if t["to_state"] == "SUBMITTED"]
    assert (opened["actor"], opened["verification_method"], opened["on_behalf_of"]) == (
        "t-hotline", "FACE_TO_FACE", primary_of(loan))
    again = await api.post(path, json=body, auth=hotline)
    assert again.status_code == 409 and again.json()["detail"]["reason_code"] == "OPEN_REQUEST_EXISTS"


# What a stranger on the line may make the hotline type: any JSON value in any field of the form.
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=600)
    | st.sampled_from(["", "NaN", "Infinity", "-1.00", "0.001", "1e400", "9999-12-31", "2020-02-30", "\x00",
                       "1000.00", "2020-02-05", "PARTIAL", "FULL", "HOTLINE"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)
FIELDS = ("applicant_customer_id", "repayment_type", "amount", "requested_date", "channel", "identity_verification",
          "reason")
EXAMPLES = 30


@pytest.fixture(scope="module")
async def fresh_loans(service: ServiceRuntime, kafka: KafkaDriver) -> list[LoanSnapshot]:
    """One loan per generated example (a submission accepted opens its loan's only request)."""
    loans = [a_loan() for _ in range(EXAMPLES + 5)]  # hypothesis may replay a few while shrinking
    await asyncio.gather(*(publish_loan(kafka, loan, requests=service) for loan in loans))
    return loans


@settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=ANY_JSON)
async def test_whatever_a_field_holds_the_answer_is_an_acceptance_or_a_clear_refusal_and_nothing_half_stored(
    api: httpx.AsyncClient, fresh_loans: list[LoanSnapshot], field: str, value: Any
) -> None:
    loan = fresh_loans.pop()
    sent = {**a_repayment(loan), field: value}
    answer = await api.post(f"/loans/{loan.loan_id}/requests/early-repayment", json=sent,
                            auth=as_user("t-hotline", "hotline"))
    assert answer.status_code in (200, 409, 422), (field, value, answer.status_code, answer.text)
    stored = (await api.get(f"/loans/{loan.loan_id}/requests")).json()["items"]
    if answer.status_code == 200:  # submitted (and approved at once: these loans have no co-borrower to call)
        [event] = [e for e in answer.json()["events"] if e["type"] == "RequestSubmitted"]
        assert [r["request_id"] for r in stored] == [event["data"]["request_id"]]
        assert event["data"]["staff_id"] == "t-hotline"
    else:
        assert stored == [] and answer.json()["detail"], (field, value, answer.text)
