"""SPEC §10: a replayed command (same command_id, new envelope) gets the first answer again, the very same
records, and causes nothing more; SPEC §9: every refusal carries the facts it rests on and what it named."""

from datetime import datetime, timedelta
from typing import Any

import httpx

from harness.builders import ACCOUNT_DAY, a_loan, primary_of, ref
from services.confirmation.repository import AttemptRow
from shared.contracts import confirmation as C
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.integration.confirmation.helpers import (
    COMMANDS,
    EVENTS,
    answer_to,
    call_requested,
    of_request,
    outcome,
    owed_state,
    settled,
    stored_task,
    submitted,
    take,
)
from tests.support.kafka import KafkaDriver, Seen, Watch
from tests.support.wait import eventually


def with_id(watch: Watch, event_id: str) -> list[Seen]:
    return watch.matching(lambda s: s.event["id"] == event_id)


async def replayed(kafka: KafkaDriver, watch: Watch, command: Any, first: Seen, loan_id: str) -> None:
    """Sends `command` again in a new envelope; waits until its first answer is on the topic a second time."""
    again = await kafka.publish(COMMANDS, command, subject=loan_id)
    assert again.data.command_id == command.command_id
    await watch.wait_for(lambda s: s.event["id"] == first.event["id"], count=2)
    await settled(kafka, watch, loan_id)


async def staff_request(kafka: KafkaDriver, service: ServiceRuntime, api: httpx.AsyncClient, **over: Any,
                        ) -> tuple[Any, R.RequestSubmitted]:
    loan = a_loan(**over)
    request = await submitted(kafka, service, loan, channel=R.Channel.HOTLINE, staff_id="S-HL")
    await eventually(lambda: owed_state(api, request.request_id, "OWED"), what="paper owed")
    return loan, request


async def test_a_replayed_remote_signing_gets_the_same_answer_and_no_second_transit(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        loan, request = await staff_request(kafka, service, api)
        remote = C.RecordRemoteSigning(command_id=ref("cmd"), request_id=request.request_id,
                                       customer_id=primary_of(loan), signing_branch_id="BJ-CHAOYANG",
                                       courier="SF Express", tracking_number="SF9", signed_at=ACCOUNT_DAY)
        await kafka.publish(COMMANDS, remote, subject=loan.loan_id)
        [transit] = await watch.wait_for(lambda s: s.type == "DocumentsInTransit"
                                         and s.data["request_id"] == request.request_id)
        await replayed(kafka, watch, remote, transit, loan.loan_id)
    assert {s.event["id"] for s in of_request(watch, "DocumentsInTransit", request.request_id)} == {transit.event["id"]}
    assert [s.value for s in with_id(watch, transit.event["id"])] == [transit.value, transit.value]
    assert not watch.matching(lambda s: s.type == "CommandRejected" and s.data["command_id"] == remote.command_id)


async def test_a_replayed_paper_signature_gets_the_same_receipt_not_already_received(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        loan, request = await staff_request(kafka, service, api)
        paper = C.RecordPaperSignature(command_id=ref("cmd"), request_id=request.request_id,
                                       customer_id=primary_of(loan), received_at=ACCOUNT_DAY, received_by="S-1",
                                       branch_id=loan.branch_id)
        await kafka.publish(COMMANDS, paper, subject=loan.loan_id)
        [receipt] = await watch.wait_for(lambda s: s.type == "PaperSignatureReceived"
                                         and s.data["request_id"] == request.request_id)
        await replayed(kafka, watch, paper, receipt, loan.loan_id)
    assert {s.event["id"] for s in of_request(watch, "PaperSignatureReceived", request.request_id)} == {
        receipt.event["id"]}
    assert not watch.matching(lambda s: s.type == "CommandRejected" and s.data["command_id"] == paper.command_id)


async def test_a_replayed_refusal_gets_the_same_refusal_even_once_the_paper_is_owed(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan, request_id = a_loan(), ref("R")
    early = C.RecordPaperSignature(command_id=ref("cmd"), request_id=request_id, customer_id=primary_of(loan),
                                   received_at=ACCOUNT_DAY, received_by="S-1", branch_id=loan.branch_id)
    async with kafka.watch(EVENTS) as watch:
        await kafka.publish(COMMANDS, early, subject=loan.loan_id)
        refusal = await answer_to(watch, early.command_id)
        assert refusal.data["reason_code"] == "NOTHING_OWED"
        await submitted(kafka, service, loan, channel=R.Channel.HOTLINE, staff_id="S-HL", request_id=request_id)
        await eventually(lambda: owed_state(api, request_id, "OWED"), what="paper owed")
        await replayed(kafka, watch, early, refusal, loan.loan_id)
    assert [s.value for s in watch.matching(lambda s: s.data.get("command_id") == early.command_id)] == [
        refusal.value, refusal.value]
    assert not of_request(watch, "PaperSignatureReceived", request_id)
    assert await owed_state(api, request_id, "OWED")


async def test_a_replayed_outcome_gets_the_same_confirmation(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        await take(api, "a-5", task_id)
        good = await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.CONFIRMED, agent="a-5")
        [confirmed] = await watch.wait_for(lambda s: s.type == "CoBorrowerConfirmed"
                                           and s.data["request_id"] == request.request_id)
        await replayed(kafka, watch, good, confirmed, loan.loan_id)
    assert {s.event["id"] for s in of_request(watch, "CoBorrowerConfirmed", request.request_id)} == {
        confirmed.event["id"]}


async def test_every_refusal_names_its_facts_and_what_the_command_named(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    applicant = primary_of(loan)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan, channel=R.Channel.HOTLINE, staff_id="S-HL")
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        held = await take(api, "a-4", task_id)
        refusals: dict[str, Seen] = {}
        unknown = ref("T-unknown")
        cases: list[tuple[str, str, dict[str, Any]]] = [
            ("UNKNOWN_TASK", unknown, {}),
            ("NOT_TASK_HOLDER", task_id, {"agent": "a-other"}),
            ("RECORDING_REQUIRED", task_id, {"recording": None, "agent": "a-4"}),
        ]
        for name, target, kwargs in cases:
            cmd = await outcome(kafka, target, loan.loan_id, C.CallOutcome.CONFIRMED, **kwargs)
            refusals[name] = await answer_to(watch, cmd.command_id)
        good = await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.CONFIRMED, agent="a-4", recording="REC-4")
        again = await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.DECLINED, agent="a-4")
        refusals["DUPLICATE_OUTCOME"] = await answer_to(watch, again.command_id)
        received_at = ACCOUNT_DAY + timedelta(minutes=3)
        for _ in range(2):
            paper = C.RecordPaperSignature(command_id=ref("cmd"), request_id=request.request_id, customer_id=applicant,
                                           received_at=received_at, received_by="S-2", branch_id=loan.branch_id)
            await kafka.publish(COMMANDS, paper, subject=loan.loan_id)
        refusals["ALREADY_RECEIVED"] = await answer_to(watch, paper.command_id)
        nothing = C.RecordRemoteSigning(command_id=ref("cmd"), request_id=request.request_id, customer_id="C-none",
                                        signing_branch_id="B", courier="SF", tracking_number="1",
                                        signed_at=ACCOUNT_DAY)
        await kafka.publish(COMMANDS, nothing, subject=loan.loan_id)
        refusals["NOTHING_OWED"] = await answer_to(watch, nothing.command_id)
        await settled(kafka, watch, loan.loan_id)
    assert len(of_request(watch, "PaperSignatureReceived", request.request_id)) == 1
    for code, seen in refusals.items():
        assert (seen.type, seen.data["reason_code"]) == ("CommandRejected", code), code
        assert seen.data["reason"] and seen.key == loan.loan_id.encode(), code
    named = {code: (s.data.get("task_id"), s.data.get("request_id"), s.data.get("customer_id"))
             for code, s in refusals.items()}
    assert named == {
        "UNKNOWN_TASK": (unknown, None, None),
        "NOT_TASK_HOLDER": (task_id, request.request_id, None),
        "RECORDING_REQUIRED": (task_id, request.request_id, None),
        "DUPLICATE_OUTCOME": (task_id, request.request_id, None),
        "ALREADY_RECEIVED": (None, request.request_id, applicant),
        "NOTHING_OWED": (None, request.request_id, "C-none"),
    }
    facts = {code: s.data["facts"] for code, s in refusals.items()}
    assert facts["UNKNOWN_TASK"] == {"task_id": unknown}
    not_holder = facts["NOT_TASK_HOLDER"]
    assert (not_holder["held_by"], not_holder["agent_id"]) == ("a-4", "a-other")
    assert datetime.fromisoformat(not_holder["lease_until"]) == datetime.fromisoformat(held["lease_until"])
    assert facts["RECORDING_REQUIRED"] == {"outcome": "CONFIRMED"}
    duplicate = facts["DUPLICATE_OUTCOME"]
    assert datetime.fromisoformat(duplicate.pop("earlier_called_at")) == ACCOUNT_DAY
    assert duplicate == {"task_state": "CONFIRMED", "attempts": "1", "earlier_outcome": "CONFIRMED",
                         "earlier_command_id": good.command_id, "earlier_agent_id": "a-4",
                         "earlier_recording_id": "REC-4"}
    already = facts["ALREADY_RECEIVED"]
    assert datetime.fromisoformat(already.pop("received_at")) == received_at
    assert already == {"paper_state": "RECEIVED", "branch_id": loan.branch_id, "received_by": "S-2"}
    assert facts["NOTHING_OWED"] == {"paper_state": "NONE"}
    assert len(of_request(watch, "CoBorrowerConfirmed", request.request_id)) == 1


async def test_a_command_counted_before_answers_were_stored_is_never_counted_again(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    """Before migration 0003 no answer was stored, so the consumer cannot replay such a command: its attempt row is
    what tells. The batch takes its commands as new; the attempt's unique key catches this one at the flush, and
    the message, redone alone, reads the attempt and changes nothing (the other messages of the batch still count)."""
    loans = [a_loan(co_borrowers=1) for _ in range(2)]
    async with kafka.watch(EVENTS) as watch:
        requests = [await submitted(kafka, service, loan) for loan in loans]
        tasks = [(await call_requested(watch, r.request_id)).data["task_id"] for r in requests]
        old = ref("cmd-before-0003")
        assert service.deps is not None
        async with service.deps.sessions.begin() as session:
            await session.execute(AttemptRow.insert().values(
                command_id=old, task_id=tasks[0], agent_id="a-1", outcome="NO_ANSWER", called_at=ACCOUNT_DAY))
        for task_id in tasks:  # held by the agent the outcomes name (leases are enforced)
            await take(api, "a-1", task_id)
        await outcome(kafka, tasks[0], loans[0].loan_id, C.CallOutcome.CONFIRMED, command_id=old)
        await outcome(kafka, tasks[1], loans[1].loan_id, C.CallOutcome.CONFIRMED)
        await watch.wait_for(lambda s: s.type == "CoBorrowerConfirmed" and s.data["task_id"] == tasks[1])
        await settled(kafka, watch, loans[0].loan_id)
    assert not watch.matching(lambda s: s.data.get("task_id") == tasks[0] and s.type != "ConfirmationCallRequested")
    assert not watch.matching(lambda s: s.data.get("command_id") == old)
    untouched = await stored_task(service, tasks[0])
    assert untouched is not None and (untouched.state.value, untouched.attempts) == ("OPEN", 0)
