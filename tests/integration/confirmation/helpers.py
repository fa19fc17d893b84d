"""What the confirmation tests do through the contract: publish what the requests service and the call-centre
tools would, read the answers, and wait for a marker rather than sleeping before a negative check."""

from datetime import date, datetime
from typing import Any

import httpx

from harness.builders import ACCOUNT_DAY, primary_of, ref
from services.confirmation.domain import Task
from services.confirmation.repository import ContactRepository, LoanRepository, TaskRepository
from shared import topics
from shared.clock import FixedClock
from shared.contracts import confirmation as C
from shared.contracts import loans as L
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from shared.unit_of_work import UnitOfWork
from tests.support.auth import agent as signed_in_agent
from tests.support.kafka import KafkaDriver, Seen, Watch
from tests.support.pages import every_item
from tests.support.wait import eventually

EVENTS, COMMANDS = topics.CONFIRMATION_EVENTS, topics.CONFIRMATION_COMMANDS
NEW_DAY = 20


def set_clock(clock: FixedClock, at: datetime) -> None:
    clock.advance(at - clock.now())


async def known(service: ServiceRuntime, loan: L.LoanSnapshot) -> None:
    async def check() -> bool:
        assert service.deps is not None
        async with service.deps.sessions() as session:
            uow = UnitOfWork(session)
            return all([await LoanRepository(uow).get(loan.loan_id)] + [await ContactRepository(uow).get(b.customer_id)
                                                                        for b in loan.borrowers])
    await eventually(check, what="contacts projected")


def _first_after(d0: date, day: int) -> date:
    """SPEC §2: D1, the first date after D0 whose day of month is `day`."""
    if d0.day < day:
        return d0.replace(day=day)
    return date(d0.year + d0.month // 12, d0.month % 12 + 1, day)


async def submitted(kafka: KafkaDriver, service: ServiceRuntime, loan: L.LoanSnapshot, *,
                    channel: R.Channel = R.Channel.APP, staff_id: str | None = None, attempts: int = 3,
                    snapshot_first: bool = True, request_id: str | None = None) -> R.RequestSubmitted:
    """What the requests service publishes for an accepted debit-day change (contract 1.1)."""
    if snapshot_first:
        await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
        await known(service, loan)
    assert service.deps is not None
    now = service.deps.clock.now()
    staff = channel in (R.Channel.HOTLINE, R.Channel.ACCOUNT_MANAGER) or staff_id is not None
    event = R.RequestSubmitted(
        request_id=request_id or ref("R"), command_id=ref("cmd"), loan_id=loan.loan_id,
        request_type=R.RequestType.DEBIT_DAY_CHANGE, applicant_customer_id=primary_of(loan), channel=channel,
        staff_id=staff_id,
        identity_verification=R.IdentityVerification(method=R.VerificationMethod.RECORDED_CALL,
                                                     recording_id=ref("REC")) if staff else None,
        co_borrowers=[R.CoBorrowerRef(customer_id=b.customer_id) for b in loan.borrowers[1:]],
        deadline=loan.next_due_date, paper_documents_required=True, policy_version="epidemic-2020",
        branch_id=loan.branch_id, confirmation_attempts=attempts, submitted_at=now, received_at=now,
        current_debit_day=loan.debit_day, new_debit_day=NEW_DAY,
        current_due_date=loan.next_due_date, new_due_date=_first_after(loan.next_due_date, NEW_DAY))
    await kafka.publish(topics.REQUESTS_EVENTS, event, subject=loan.loan_id, source="postloan/requests")
    return event


async def call_requested(watch: Watch, request_id: str, attempt: int = 1) -> Seen:
    [seen] = await watch.wait_for(lambda s: s.type == "ConfirmationCallRequested"
                                  and s.data["request_id"] == request_id and s.data["attempt"] == attempt)
    return seen


async def take(api: httpx.AsyncClient, agent: str, task_id: str) -> dict[str, Any]:
    """The agent (signed in as such) asks for work until it gets this task (other tests' tasks may come first; they
    stay held). Tasks due the same day and created at the same instant come in no set order, so looking for one task
    may already have handed this one to the agent: then it is returned as held."""
    held = await api.get(f"/tasks/{task_id}", auth=signed_in_agent(agent))
    if held.status_code == 200:
        return held.json()  # type: ignore[no-any-return]
    for _ in range(200):
        response = await api.post("/tasks/next", auth=signed_in_agent(agent))
        assert response.status_code == 200, f"{response.status_code} {response.text}"
        task = response.json()
        if task["task_id"] == task_id:
            return task  # type: ignore[no-any-return]
    raise AssertionError(f"{task_id} never handed out")


async def outcome(kafka: KafkaDriver, task_id: str, loan_id: str, result: C.CallOutcome, *, agent: str = "a-1",
                  recording: str | None = "REC-1", command_id: str | None = None) -> C.RecordCallOutcome:
    cmd = C.RecordCallOutcome(command_id=command_id or ref("cmd"), task_id=task_id, agent_id=agent, outcome=result,
                              recording_id=recording, called_at=ACCOUNT_DAY)
    await kafka.publish(COMMANDS, cmd, subject=loan_id)
    return cmd


async def answer_to(watch: Watch, command_id: str) -> Seen:
    [seen] = await watch.wait_for(lambda s: s.data.get("command_id") == command_id)
    return seen


async def settled(kafka: KafkaDriver, watch: Watch, loan_id: str) -> None:
    """Publishes a command on the loan's key behind everything sent so far and waits for its answer: whatever
    the earlier commands caused on that key is on the topic by then (one partition, applied and relayed in order)."""
    marker = C.RecordPaperSignature(command_id=ref("marker"), request_id=ref("R-none"), customer_id=ref("C-none"),
                                    received_at=ACCOUNT_DAY, received_by="S-marker", branch_id="B-marker")
    await kafka.publish(COMMANDS, marker, subject=loan_id)
    assert (await answer_to(watch, marker.command_id)).data["reason_code"] == "NOTHING_OWED"


def of_request(watch: Watch, type_: str, request_id: str) -> list[Seen]:
    return watch.matching(lambda s: s.type == type_ and s.data["request_id"] == request_id)


async def stored_task(service: ServiceRuntime, task_id: str) -> Task | None:
    assert service.deps is not None
    async with service.deps.sessions() as session:
        return await TaskRepository(UnitOfWork(session)).peek(task_id)


async def owed(api: httpx.AsyncClient, branch_id: str | None = None) -> list[dict[str, Any]]:
    params = {"branch_id": branch_id} if branch_id else {}
    return await every_item(api, "/paper/owed", **params)


async def owed_state(api: httpx.AsyncClient, request_id: str, state: str) -> bool:
    return any(p["request_id"] == request_id and p["state"] == state for p in await owed(api))
