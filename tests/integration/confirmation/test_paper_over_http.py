"""The service centre records paper over HTTP as the signed-in clerk (issue 13): the receipt names the clerk from the
token, a body naming someone else is refused, and an agent (no paper role) is refused."""

import httpx

from harness.builders import a_loan
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.integration.confirmation.helpers import EVENTS, call_requested, submitted
from tests.support.auth import agent, as_user
from tests.support.kafka import KafkaDriver


async def test_paper_received_and_sent_by_courier_are_recorded_under_the_signed_in_clerk(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan, channel=R.Channel.HOTLINE, staff_id="s-hl")
        await call_requested(watch, request.request_id)  # the request is known here, its paper owed
    applicant = request.applicant_customer_id
    paper = f"/paper/requests/{request.request_id}/{applicant}"
    clerk = as_user("t-clerk", "paper-clerk")
    by_agent = await api.post(f"{paper}/received", json={"branch_id": loan.branch_id}, auth=agent("t-agent-paper"))
    impostor = await api.post(f"{paper}/received", auth=clerk,
                              json={"branch_id": loan.branch_id, "received_by": "someone-else"})
    unknown = await api.post(f"/paper/requests/{request.request_id}/C-nobody/received",
                             json={"branch_id": loan.branch_id}, auth=clerk)
    assert (by_agent.status_code, impostor.status_code, unknown.status_code) == (403, 403, 404)
    sent = await api.post(f"{paper}/remote-signing", auth=clerk, json={
        "signing_branch_id": "SZ-FUTIAN", "courier": "SF", "tracking_number": "SF1234"})
    assert sent.status_code == 200, sent.text
    assert [e["type"] for e in sent.json()["events"]] == ["DocumentsInTransit"]
    received = await api.post(f"{paper}/received", json={"branch_id": loan.branch_id}, auth=clerk)
    assert received.status_code == 200, received.text
    [event] = received.json()["events"]
    assert (event["type"], event["data"]["received_by"]) == ("PaperSignatureReceived", "t-clerk")
    [record] = (await api.get(f"/paper/requests/{request.request_id}")).json()
    assert (record["state"], record["received_by"]) == ("RECEIVED", "t-clerk")
    again = await api.post(f"{paper}/received", json={"branch_id": loan.branch_id}, auth=clerk)
    assert again.status_code == 409 and again.json()["detail"]["reason_code"] == "ALREADY_RECEIVED"
