"""The confirmation service against the real broker and database: SPEC §11 scenarios 3, 4 and 9 on its side,
dispatch to agents (races, leases), attempts, every refusal, replays. The test publishes what the requests
service would."""

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.confirmation.repository import Store
from shared import topics
from shared.clock import FixedClock
from shared.contracts import confirmation as C
from shared.contracts import loans as L
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.support.builders import ACCOUNT_DAY, a_loan, primary_of, ref
from tests.support.infra import Infra
from tests.support.kafka import KafkaDriver, Seen, Watch
from tests.support.services import http, running
from tests.support.wait import eventually

EVENTS, COMMANDS = topics.CONFIRMATION_EVENTS, topics.CONFIRMATION_COMMANDS
CLOCK = FixedClock(ACCOUNT_DAY)


@pytest.fixture(scope="module")
async def service(migrated: Infra) -> AsyncIterator[ServiceRuntime]:
    async with running("confirmation", migrated, clock=CLOCK, retry_pause_s=0, lease_s=60) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def api(service: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with http(service) as client:
        yield client


async def known(service: ServiceRuntime, loan: L.LoanSnapshot) -> None:
    async def check() -> bool:
        assert service.deps is not None
        async with service.deps.sessions() as session:
            store = Store(session)
            return all([await store.branch_of(loan.loan_id)] + [await store.phone_of(b.customer_id)
                                                                for b in loan.borrowers])
    await eventually(check, what="contacts projected")


async def submitted(kafka: KafkaDriver, service: ServiceRuntime, loan: L.LoanSnapshot, *,
                    channel: R.Channel = R.Channel.APP, staff_id: str | None = None) -> R.RequestSubmitted:
    """What the requests service publishes for an accepted debit-day change."""
    await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
    await known(service, loan)
    event = R.RequestSubmitted(
        request_id=ref("R"), command_id=ref("cmd"), loan_id=loan.loan_id, request_type=R.RequestType.DEBIT_DAY_CHANGE,
        applicant_customer_id=primary_of(loan), channel=channel, staff_id=staff_id,
        co_borrowers=[R.CoBorrowerRef(customer_id=b.customer_id) for b in loan.borrowers[1:]],
        deadline=loan.next_due_date, paper_documents_required=True, policy_version="epidemic-2020",
        submitted_at=ACCOUNT_DAY, current_debit_day=10, new_debit_day=20, current_due_date=loan.next_due_date,
        new_due_date=date(2020, 2, 20))
    await kafka.publish(topics.REQUESTS_EVENTS, event, subject=loan.loan_id, source="postloan/requests")
    return event


async def call_requested(watch: Watch, request_id: str, attempt: int = 1) -> Seen:
    [seen] = await watch.wait_for(lambda s: s.type == "ConfirmationCallRequested"
                                  and s.data["request_id"] == request_id and s.data["attempt"] == attempt)
    return seen


async def take(api: httpx.AsyncClient, agent: str, task_id: str) -> dict[str, Any]:
    """The agent asks for work until it gets this task (other tests' tasks may come first; they are released)."""
    for _ in range(200):
        response = await api.post("/tasks/next", json={"agent_id": agent})
        assert response.status_code == 200, response.text
        task = response.json()
        if task["task_id"] == task_id:
            return task  # type: ignore[no-any-return]
    raise AssertionError(f"{task_id} never handed out")


async def outcome(kafka: KafkaDriver, task_id: str, loan_id: str, result: C.CallOutcome, *, agent: str = "A-1",
                  recording: str | None = "REC-1", command_id: str | None = None) -> C.RecordCallOutcome:
    cmd = C.RecordCallOutcome(command_id=command_id or ref("cmd"), task_id=task_id, agent_id=agent, outcome=result,
                              recording_id=recording, called_at=ACCOUNT_DAY)
    await kafka.publish(COMMANDS, cmd, subject=loan_id)
    return cmd


async def answer_to(watch: Watch, command_id: str) -> Seen:
    [seen] = await watch.wait_for(lambda s: s.data.get("command_id") == command_id)
    return seen


async def test_scenario_3_a_co_borrower_confirmed_by_a_recorded_call_then_the_paper_arrives(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    co = loan.borrowers[1]
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        requested = await call_requested(watch, request.request_id)
        task = await take(api, "A-1", requested.data["task_id"])
        assert task["phone"] == co.phone and task["due_by"] == loan.next_due_date.isoformat()
        await outcome(kafka, task["task_id"], loan.loan_id, C.CallOutcome.CONFIRMED, recording="REC-3")
        [confirmed] = await watch.wait_for(lambda s: s.type == "CoBorrowerConfirmed"
                                           and s.data["request_id"] == request.request_id)
        assert confirmed.data["recording_id"] == "REC-3" and confirmed.data["agent_id"] == "A-1"
        owed = (await api.get("/paper/owed", params={"branch_id": loan.branch_id})).json()
        mine = [p for p in owed if p["request_id"] == request.request_id]
        assert [(p["customer_id"], p["reason"], p["state"]) for p in mine] == [
            (co.customer_id, "PHONE_CONFIRMATION", "OWED")]
        paper = C.RecordPaperSignature(command_id=ref("cmd"), request_id=request.request_id,
                                       customer_id=co.customer_id, received_at=ACCOUNT_DAY + timedelta(days=20),
                                       received_by="S-9", branch_id=loan.branch_id)
        await kafka.publish(COMMANDS, paper, subject=loan.loan_id)
        await watch.wait_for(lambda s: s.type == "PaperSignatureReceived" and s.data["request_id"] == request.request_id)
    after = (await api.get("/paper/owed")).json()
    assert not [p for p in after if p["request_id"] == request.request_id]


async def test_scenario_4_a_declining_co_borrower(service: ServiceRuntime, api: httpx.AsyncClient,
                                                  kafka: KafkaDriver) -> None:
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        await take(api, "A-2", task_id)
        await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.DECLINED, agent="A-2")
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
        await eventually(lambda: _owed_state(api, request.request_id, "OWED"), what="paper owed")
        remote = C.RecordRemoteSigning(command_id=ref("cmd"), request_id=request.request_id, customer_id=customer,
                                       signing_branch_id="BJ-CHAOYANG", courier="SF Express", tracking_number="SF123",
                                       signed_at=ACCOUNT_DAY + timedelta(days=2))
        await kafka.publish(COMMANDS, remote, subject=loan.loan_id)
        [transit] = await watch.wait_for(lambda s: s.type == "DocumentsInTransit"
                                         and s.data["request_id"] == request.request_id)
        assert await _owed_state(api, request.request_id, "IN_TRANSIT")
        received = C.RecordPaperSignature(command_id=ref("cmd"), request_id=request.request_id, customer_id=customer,
                                          received_at=ACCOUNT_DAY + timedelta(days=5), received_by="S-1",
                                          branch_id=loan.branch_id)
        await kafka.publish(COMMANDS, received, subject=loan.loan_id)
        await watch.wait_for(lambda s: s.type == "PaperSignatureReceived" and s.data["request_id"] == request.request_id)
    assert (transit.data["courier"], transit.data["tracking_number"]) == ("SF Express", "SF123")
    csv = (await api.get("/paper/owed.csv")).text
    assert csv.splitlines()[0].startswith("request_id,customer_id") and request.request_id not in csv


async def _owed_state(api: httpx.AsyncClient, request_id: str, state: str) -> bool:
    return any(p["request_id"] == request_id and p["state"] == state for p in (await api.get("/paper/owed")).json())


async def test_three_unanswered_calls_make_the_co_borrower_unreachable(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        for attempt in (1, 2, 3):
            await take(api, "A-3", task_id)
            await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.NO_ANSWER, agent="A-3", recording=None)
            if attempt < 3:
                await call_requested(watch, request.request_id, attempt + 1)
        [gone] = await watch.wait_for(lambda s: s.type == "CoBorrowerUnreachable"
                                      and s.data["request_id"] == request.request_id)
    assert gone.data["attempts"] == 3


async def test_each_bad_outcome_is_refused_and_changes_nothing(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        await take(api, "A-4", task_id)
        refusals = {}
        for name, kwargs in {
            "UNKNOWN_TASK": {"task_id": "T-unknown"},
            "NOT_TASK_HOLDER": {"agent": "A-other"},
            "RECORDING_REQUIRED": {"recording": None, "agent": "A-4"},
        }.items():
            target = kwargs.pop("task_id", task_id)
            cmd = await outcome(kafka, target, loan.loan_id, C.CallOutcome.CONFIRMED, **kwargs)  # type: ignore[arg-type]
            refusals[name] = await answer_to(watch, cmd.command_id)
        good = await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.CONFIRMED, agent="A-4")
        await kafka.publish(COMMANDS, good, subject=loan.loan_id)  # the same command again: one effect
        again = await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.DECLINED, agent="A-4")
        refusals["DUPLICATE_OUTCOME"] = await answer_to(watch, again.command_id)
        nothing = C.RecordPaperSignature(command_id=ref("cmd"), request_id="R-none", customer_id="C-none",
                                         received_at=ACCOUNT_DAY, received_by="S", branch_id="B")
        await kafka.publish(COMMANDS, nothing, subject=loan.loan_id)
        refusals["NOTHING_OWED"] = await answer_to(watch, nothing.command_id)
    for code, seen in refusals.items():
        assert (seen.type, seen.data["reason_code"]) == ("CommandRejected", code), code
        assert seen.data["reason"]
    assert len(watch.matching(lambda s: s.type == "CoBorrowerConfirmed"
                              and s.data["request_id"] == request.request_id)) == 1


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
    assert refused.data["reason_code"] == "TASK_CLOSED"


async def _not_queued(api: httpx.AsyncClient, task_id: str) -> bool:
    return task_id not in {t["task_id"] for t in (await api.get("/tasks", params={"limit": 1000})).json()["queue"]}


async def test_a_lease_expires_when_the_agent_goes_quiet(migrated: Infra, kafka: KafkaDriver) -> None:
    clock = FixedClock(ACCOUNT_DAY)
    async with running("confirmation", migrated, clock=clock, lease_s=120) as service, http(service) as api:
        loan = a_loan(co_borrowers=1)
        async with kafka.watch(EVENTS) as watch:
            request = await submitted(kafka, service, loan)
            task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        held = await take(api, "A-quiet", task_id)
        assert held["held_by"] == "A-quiet"
        assert (await api.post(f"/tasks/{task_id}/renew", json={"agent_id": "A-other"})).status_code == 409
        clock.advance(timedelta(seconds=121))
        assert (await take(api, "A-next", task_id))["held_by"] == "A-next"


async def test_agents_racing_on_two_copies_never_get_the_same_task(migrated: Infra, kafka: KafkaDriver) -> None:
    clock = FixedClock(datetime(2020, 2, 3, 11, tzinfo=ACCOUNT_DAY.tzinfo))
    async with running("confirmation", migrated, clock=clock) as one, running("confirmation", migrated,
                                                                               clock=clock) as two:
        loans = [a_loan(co_borrowers=1) for _ in range(15)]
        async with kafka.watch(EVENTS) as watch:
            for loan in loans:
                request = await submitted(kafka, one, loan)
                await call_requested(watch, request.request_id)
        async with http(one) as api_one, http(two) as api_two:
            responses = await asyncio.gather(*(
                (api_one if i % 2 else api_two).post("/tasks/next", json={"agent_id": f"A-{i}"}) for i in range(20)))
    given = [r.json()["task_id"] for r in responses if r.status_code == 200]
    assert len(given) == len(set(given)) and len(given) >= 15
