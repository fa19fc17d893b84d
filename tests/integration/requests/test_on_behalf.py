"""The hotline submits a request on a verified customer's behalf over HTTP as the signed-in staff member (issue 13):
the request and its audit trail name the staff member from the token, never one a body names."""

import httpx

from harness.builders import a_loan, primary_of
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
