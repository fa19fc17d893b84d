"""The confirmation service against the real broker and database: SPEC §11 scenarios 3, 4 and 9 on its side,
attempts allowed by the request, dispatch to agents (races, leases). The test publishes what the requests
service would."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from harness.builders import ACCOUNT_DAY, a_loan, primary_of, ref
from harness.infra import Infra
from shared import topics
from shared.clock import FixedClock
from shared.contracts import CommandRejected
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
    owed,
    owed_state,
    submitted,
    take,
)
from tests.support.auth import agent
from tests.support.kafka import KafkaDriver
from tests.support.services import http, running
from tests.support.wait import eventually


async def test_scenario_3_a_co_borrower_confirmed_by_a_recorded_call_then_the_paper_arrives(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    co = loan.borrowers[1]
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        requested = await call_requested(watch, request.request_id)
        task = await take(api, "a-1", requested.data["task_id"])
        assert task["phone"] == co.phone and task["due_by"] == loan.next_due_date.isoformat()
        await outcome(kafka, task["task_id"], loan.loan_id, C.CallOutcome.CONFIRMED, recording="REC-3")
        [confirmed] = await watch.wait_for(lambda s: s.type == "CoBorrowerConfirmed"
                                           and s.data["request_id"] == request.request_id)
        assert confirmed.data["recording_id"] == "REC-3" and confirmed.data["agent_id"] == "a-1"
        mine = [p for p in await owed(api, loan.branch_id) if p["request_id"] == request.request_id]
        assert [(p["customer_id"], p["reason"], p["state"]) for p in mine] == [
            (co.customer_id, "PHONE_CONFIRMATION", "OWED")]
        paper = C.RecordPaperSignature(command_id=ref("cmd"), request_id=request.request_id,
                                       customer_id=co.customer_id, received_at=ACCOUNT_DAY + timedelta(minutes=4),
                                       received_by="S-9", branch_id=loan.branch_id)
        await kafka.publish(COMMANDS, paper, subject=loan.loan_id)
        await watch.wait_for(lambda s: s.type == "PaperSignatureReceived"
                             and s.data["request_id"] == request.request_id)
    assert not [p for p in await owed(api) if p["request_id"] == request.request_id]


async def test_scenario_4_a_declining_co_borrower(service: ServiceRuntime, api: httpx.AsyncClient,
                                                  kafka: KafkaDriver) -> None:
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        await take(api, "a-2", task_id)
        await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.DECLINED, agent="a-2")
        [declined] = await watch.wait_for(lambda s: s.type == "CoBorrowerDeclined"
                                          and s.data["request_id"] == request.request_id)
    assert declined.data["customer_id"] == loan.borrowers[1].customer_id and declined.data["recording_id"]


async def test_scenario_9_signed_in_another_city_couriered_and_received(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan()
    customer = primary_of(loan)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan, channel=R.Channel.HOTLINE, staff_id="S-HL")
        await eventually(lambda: owed_state(api, request.request_id, "OWED"), what="paper owed")
        remote = C.RecordRemoteSigning(command_id=ref("cmd"), request_id=request.request_id, customer_id=customer,
                                       signing_branch_id="BJ-CHAOYANG", courier="SF Express", tracking_number="SF123",
                                       signed_at=ACCOUNT_DAY + timedelta(minutes=2))
        await kafka.publish(COMMANDS, remote, subject=loan.loan_id)
        [transit] = await watch.wait_for(lambda s: s.type == "DocumentsInTransit"
                                         and s.data["request_id"] == request.request_id)
        assert await owed_state(api, request.request_id, "IN_TRANSIT")
        received = C.RecordPaperSignature(command_id=ref("cmd"), request_id=request.request_id, customer_id=customer,
                                          received_at=ACCOUNT_DAY + timedelta(minutes=4), received_by="S-1",
                                          branch_id=loan.branch_id)
        await kafka.publish(COMMANDS, received, subject=loan.loan_id)
        await watch.wait_for(lambda s: s.type == "PaperSignatureReceived"
                             and s.data["request_id"] == request.request_id)
    assert (transit.data["courier"], transit.data["tracking_number"]) == ("SF Express", "SF123")
    csv = (await api.get("/paper/owed.csv")).text
    assert csv.splitlines()[0].startswith("request_id,customer_id") and request.request_id not in csv


@pytest.mark.parametrize("attempts", [2, 4])
async def test_a_co_borrower_is_unreachable_after_the_attempts_the_request_allows(
    attempts: int, service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    """SPEC §9: the attempts come from the request (the requests policy in force), not from a setting (3 here)."""
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan, attempts=attempts)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        for attempt in range(1, attempts + 1):
            held = await take(api, "a-3", task_id)
            assert held["attempts_allowed"] == attempts
            await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.NO_ANSWER, agent="a-3", recording=None)
            if attempt < attempts:
                await call_requested(watch, request.request_id, attempt + 1)
        [gone] = await watch.wait_for(lambda s: s.type == "CoBorrowerUnreachable"
                                      and s.data["request_id"] == request.request_id)
    assert gone.data["attempts"] == attempts
    assert [s.data["attempt"] for s in of_request(watch, "ConfirmationCallRequested", request.request_id)] == list(
        range(1, attempts + 1))


async def test_a_withdrawn_request_closes_its_calls(service: ServiceRuntime, api: httpx.AsyncClient,
                                                    kafka: KafkaDriver) -> None:
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        ended = R.RequestWithdrawn(request_id=request.request_id, loan_id=loan.loan_id, withdrawn_at=ACCOUNT_DAY)
        await kafka.publish(topics.REQUESTS_EVENTS, ended, subject=loan.loan_id)
        await eventually(lambda: _not_queued(api, task_id), what="task closed")
        late = await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.CONFIRMED)
        refused = await answer_to(watch, late.command_id)
    assert (refused.data["reason_code"], refused.data["facts"]) == (
        "TASK_CLOSED", {"task_state": "CLOSED", "request_id": request.request_id})
    assert (refused.data["task_id"], refused.data["request_id"]) == (task_id, request.request_id)


async def test_a_refused_withdrawal_leaves_the_calls_open(service: ServiceRuntime, api: httpx.AsyncClient,
                                                          kafka: KafkaDriver) -> None:
    """Contract 1.1: a refused WithdrawRequest is a CommandRejected on requests.events; the request goes on."""
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        refused = CommandRejected(command_id=ref("cmd"), command_type="WithdrawRequest", reason_code="NOT_APPLICANT",
                                  reason="Only the applicant may withdraw.", facts={"request_id": request.request_id},
                                  request_id=request.request_id, customer_id=ref("C"))
        envelope = await kafka.publish(topics.REQUESTS_EVENTS, refused, subject=loan.loan_id,
                                       source="postloan/requests")
        await eventually(lambda: _applied(service, envelope.id), what="refusal applied")
        await take(api, "a-6", task_id)
        await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.CONFIRMED, agent="a-6")
        await watch.wait_for(lambda s: s.type == "CoBorrowerConfirmed" and s.data["request_id"] == request.request_id)


async def _applied(service: ServiceRuntime, event_id: str) -> bool:
    assert service.deps is not None
    inbox = service.deps.tables.inbox
    async with service.deps.sessions() as session:
        return await session.scalar(select(inbox.c.message_id).where(inbox.c.message_id == event_id)) is not None


async def _not_queued(api: httpx.AsyncClient, task_id: str) -> bool:
    return task_id not in {t["task_id"] for t in (await api.get("/tasks", params={"limit": 1000})).json()["queue"]}


async def test_a_lease_expires_when_the_agent_goes_quiet(migrated: Infra, kafka: KafkaDriver) -> None:
    clock = FixedClock(ACCOUNT_DAY)
    async with running("confirmation", migrated, clock=clock, lease_s=120) as service, http(service) as api:
        loan = a_loan(co_borrowers=1)
        async with kafka.watch(EVENTS) as watch:
            request = await submitted(kafka, service, loan)
            task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        held = await take(api, "a-quiet", task_id)
        assert held["held_by"] == "a-quiet"
        assert (await api.post(f"/tasks/{task_id}/renew", auth=agent("a-other"))).status_code == 409
        clock.advance(timedelta(seconds=121))
        assert (await take(api, "a-next", task_id))["held_by"] == "a-next"


async def test_agents_racing_on_two_copies_never_get_the_same_task(migrated: Infra, kafka: KafkaDriver) -> None:
    # The module's own copy runs too, on the account's first day: every copy reads the same time, as in production
    # (a copy whose clock ran ahead would date its events beyond the others' bounds).
    clock = FixedClock(ACCOUNT_DAY)
    async with running("confirmation", migrated, clock=clock) as one, running("confirmation", migrated,
                                                                               clock=clock) as two:
        loans = [a_loan(co_borrowers=1) for _ in range(15)]
        async with kafka.watch(EVENTS) as watch:
            for loan in loans:
                request = await submitted(kafka, one, loan)
                await call_requested(watch, request.request_id)
        async with http(one) as api_one, http(two) as api_two:
            responses = await asyncio.gather(*(
                (api_one if i % 2 else api_two).post("/tasks/next", auth=agent(f"a-{i}")) for i in range(20)))
    given = [r.json()["task_id"] for r in responses if r.status_code == 200]
    assert len(given) == len(set(given)) and len(given) >= 15
