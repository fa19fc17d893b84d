"""The four services as separate processes on the real broker and database: one request end to end."""

from datetime import date

import httpx
import pytest

from harness.builders import ACCOUNT_DAY, a_debit_day_change, a_loan, primary_of, ref
from shared import topics
from shared.contracts import appointments as A
from shared.contracts import confirmation as C
from tests.support.auth import agent, staff
from tests.support.kafka import KafkaDriver
from tests.support.pages import every_item
from tests.support.services import Process
from tests.support.wait import eventually, publish_loan


async def test_a_single_borrower_request_is_submitted_approved_and_notified(
    platform: dict[str, Process], kafka: KafkaDriver
) -> None:
    loan = a_loan(debit_day=10, next_due_date=date(2020, 2, 10))
    customer = primary_of(loan)
    await publish_loan(kafka, loan, requests=platform["requests"].url)
    await eventually(lambda: _known(platform["notifier"].url, customer), what="notifier knows the customer")

    async with kafka.watch(topics.REQUESTS_EVENTS, topics.NOTIFICATIONS_EVENTS) as watch:
        command = await kafka.publish(topics.REQUESTS_COMMANDS, a_debit_day_change(loan, 25), subject=loan.loan_id)
        [submitted] = await watch.wait_for(lambda s: s.type == "RequestSubmitted" and s.key == loan.loan_id.encode())
        [approved] = await watch.wait_for(lambda s: s.type == "RequestApproved" and s.key == loan.loan_id.encode())
        sent = await watch.wait_for(lambda s: s.type == "NotificationSent" and s.key == customer.encode(), count=4)

    assert submitted.data["new_due_date"] == "2020-02-25"
    assert approved.data["new_debit_day"] == 25 and approved.data["policy_version"] == "epidemic-2020"
    assert {(s.data["template"], s.data["channel"]) for s in sent} == {
        ("request_received", "APP_PUSH"), ("request_received", "SMS"),
        ("request_approved", "APP_PUSH"), ("request_approved", "SMS"),
    }
    # The chain is traceable: every event carries the command's id as correlation id.
    assert {s.event["correlationid"] for s in [submitted, approved, *sent]} == {command.id}
    async with platform["notifier"].client() as client:
        log = await every_item(client, f"/customers/{customer}/deliveries")
    assert len(log) == 4


@pytest.mark.parametrize(
    ("commands", "events", "valid", "answer_type", "reason_code"),
    [
        (topics.CONFIRMATION_COMMANDS, topics.CONFIRMATION_EVENTS,
         C.RecordCallOutcome(command_id="placeholder", task_id="T-1", agent_id="A-1", outcome=C.CallOutcome.NO_ANSWER,
                             called_at=ACCOUNT_DAY), "CommandRejected", "UNKNOWN_TASK"),
        (topics.APPOINTMENTS_COMMANDS, topics.APPOINTMENTS_EVENTS,
         A.BookSlot(command_id="placeholder", customer_id="C-1", branch_id="B-1", date=date(2020, 2, 4),
                    start_time="09:30", service_type=A.ServiceType.OTHER), "BookingRejected", "UNKNOWN_BRANCH"),
    ],
    ids=["confirmation", "appointments"],
)
async def test_the_command_services_dead_letter_invalid_commands_and_answer_valid_ones(
    platform: dict[str, Process], kafka: KafkaDriver, commands: str, events: str, valid: object, answer_type: str,
    reason_code: str,
) -> None:
    subject = ref("K")
    command = valid.model_copy(update={"command_id": ref("cmd")})  # type: ignore[attr-defined]
    async with kafka.watch(events, topics.dlq(commands)) as watch:
        await kafka.publish_raw(commands, b"not json at all", key=subject.encode())
        await kafka.publish(commands, command, subject=subject)
        [letter] = await watch.wait_for(lambda s: s.topic == topics.dlq(commands) and s.key == subject.encode())
        [answer] = await watch.wait_for(
            lambda s: s.type == answer_type and s.data.get("command_id") == command.command_id)
    assert letter.value == b"not json at all" and letter.headers["x-error-kind"] == "not-json"
    assert answer.data["command_id"] == command.command_id
    assert answer.data["reason_code"] == reason_code


async def test_scenario_3_across_the_services_a_call_confirms_the_co_borrower_and_paper_is_settled(
    platform: dict[str, Process], kafka: KafkaDriver
) -> None:
    """Channel → requests → confirmation → agent (HTTP) → confirmation → requests → notifier; paper later."""
    loan = a_loan(co_borrowers=1, debit_day=25, next_due_date=date(2020, 2, 25))
    customer, co = primary_of(loan), loan.borrowers[1].customer_id
    await publish_loan(kafka, loan, requests=platform["requests"].url)
    await eventually(lambda: _known(platform["notifier"].url, customer), what="notifier knows the customer")
    watched = (topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS, topics.NOTIFICATIONS_EVENTS)
    async with kafka.watch(*watched) as watch, platform["confirmation"].client() as centre:
        await kafka.publish(topics.REQUESTS_COMMANDS, a_debit_day_change(loan, 28), subject=loan.loan_id)
        [call] = await watch.wait_for(lambda s: s.type == "ConfirmationCallRequested" and s.data["customer_id"] == co)
        task = None
        for _ in range(100):  # the agent asks for work until this call comes up (earliest deadline first)
            task = (await centre.post("/tasks/next", auth=agent("a-sc"))).json()
            if task["task_id"] == call.data["task_id"]:
                break
        assert task is not None and task["task_id"] == call.data["task_id"] and task["phone"]
        await kafka.publish(topics.CONFIRMATION_COMMANDS, C.RecordCallOutcome(
            command_id=ref("cmd"), task_id=task["task_id"], agent_id="a-sc", outcome=C.CallOutcome.CONFIRMED,
            recording_id="REC-E2E", called_at=ACCOUNT_DAY), subject=loan.loan_id)
        [approved] = await watch.wait_for(lambda s: s.type == "RequestApproved" and s.key == loan.loan_id.encode())
        await watch.wait_for(lambda s: s.type == "NotificationSent" and s.key == customer.encode()
                             and s.data["template"] == "request_approved", count=2)
        owed = await every_item(centre, "/paper/owed", branch_id=loan.branch_id)
        assert [p["customer_id"] for p in owed if p["loan_id"] == loan.loan_id] == [co]
        await kafka.publish(topics.CONFIRMATION_COMMANDS, C.RecordPaperSignature(
            command_id=ref("cmd"), request_id=approved.data["request_id"], customer_id=co, received_at=ACCOUNT_DAY,
            received_by="S-1", branch_id=loan.branch_id), subject=loan.loan_id)
        await watch.wait_for(lambda s: s.type == "PaperSignatureReceived" and s.key == loan.loan_id.encode())
        assert not [p for p in await every_item(centre, "/paper/owed", branch_id=loan.branch_id)
                    if p["loan_id"] == loan.loan_id]
    assert approved.data["new_debit_day"] == 28


async def _known(url: str, customer_id: str) -> bool:
    async with httpx.AsyncClient(timeout=2, auth=staff()) as client:
        return (await client.get(f"{url}/recipients/{customer_id}")).status_code == 200
