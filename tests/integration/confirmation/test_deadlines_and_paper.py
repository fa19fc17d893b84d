"""Time on the service's own clock (SPEC §2, §4, §10): no outcome counts once the deadline day has begun, such a
task is no longer handed out, paper ages in Shanghai calendar days; paper is filed under the request's branch.
This module moves its service's clock; each test sets the instants it needs."""

from datetime import UTC, date, datetime

import httpx
from sqlalchemy import select

from harness.builders import SHANGHAI, a_loan, primary_of, ref
from services.confirmation.domain import TaskState
from services.confirmation.repository import ALERT, timers
from shared import topics
from shared.clock import FixedClock
from shared.contracts import confirmation as C
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.integration.confirmation.helpers import (
    EVENTS,
    answer_to,
    call_requested,
    of_request,
    outcome,
    owed,
    set_clock,
    settled,
    stored_task,
    submitted,
    take,
)
from tests.support.auth import agent
from tests.support.kafka import KafkaDriver
from tests.support.wait import eventually

MORNING = datetime(2020, 2, 3, 9, 30, tzinfo=SHANGHAI)
DEADLINE = datetime(2020, 2, 4, 0, 0, tzinfo=SHANGHAI)  # the start of D0 for a loan due on 4 February


async def test_an_outcome_once_the_deadline_day_began_is_refused_and_changes_nothing(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver, clock: FixedClock
) -> None:
    set_clock(clock, MORNING)
    loan = a_loan(co_borrowers=1, debit_day=4, next_due_date=date(2020, 2, 4))
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        await take(api, "a-late", task_id)
        set_clock(clock, DEADLINE)
        late = await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.CONFIRMED, agent="a-late")
        refusal = await answer_to(watch, late.command_id)
        await settled(kafka, watch, loan.loan_id)
    assert (refusal.type, refusal.data["reason_code"]) == ("CommandRejected", "DEADLINE_PASSED")
    assert refusal.data["facts"] == {"due_by": "2020-02-04", "deadline": "2020-02-04T00:00:00+08:00",
                                     "decided_at": "2020-02-04T00:00:00+08:00"}
    assert (refusal.data["task_id"], refusal.data["request_id"]) == (task_id, request.request_id)
    assert not of_request(watch, "CoBorrowerConfirmed", request.request_id)
    task = await stored_task(service, task_id)
    assert task is not None and (task.state, task.attempts, task.held_by) == (TaskState.OPEN, 0, "a-late")
    assert not [p for p in await owed(api) if p["request_id"] == request.request_id]


async def test_a_task_whose_deadline_day_began_is_not_handed_out(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver, clock: FixedClock
) -> None:
    set_clock(clock, MORNING)
    loan = a_loan(co_borrowers=1, debit_day=4, next_due_date=date(2020, 2, 4))
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
    set_clock(clock, DEADLINE)
    handed = []
    for _ in range(500):  # every task there is to hand out, until the queue answers "nothing to call"
        response = await api.post("/tasks/next", auth=agent("a-drain"))
        if response.status_code == 204:
            break
        assert response.status_code == 200, response.text
        handed.append(response.json()["task_id"])
    else:
        raise AssertionError("the queue never ran dry")
    assert task_id not in handed
    queue = (await api.get("/tasks", params={"limit": 1000})).json()["queue"]
    assert task_id in {t["task_id"] for t in queue}  # still open (the request has not expired yet), only withheld


async def test_paper_is_filed_under_the_request_branch_when_the_loan_is_not_yet_known(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver, clock: FixedClock
) -> None:
    set_clock(clock, MORNING)
    branch = ref("SZ-LUOHU")
    loan = a_loan(co_borrowers=1).model_copy(update={"branch_id": branch})
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan, channel=R.Channel.HOTLINE, staff_id="S-HL",
                                  snapshot_first=False)  # no LoanSnapshot has reached the service
        task_id = (await call_requested(watch, request.request_id)).data["task_id"]
        await take(api, "a-branch", task_id)
        await outcome(kafka, task_id, loan.loan_id, C.CallOutcome.CONFIRMED, agent="a-branch")
        await watch.wait_for(lambda s: s.type == "CoBorrowerConfirmed" and s.data["request_id"] == request.request_id)
    mine = {(p["customer_id"], p["reason"], p["branch_id"]) for p in await owed(api)
            if p["request_id"] == request.request_id}
    assert mine == {(primary_of(loan), "STAFF_SUBMISSION", branch), (loan.borrowers[1].customer_id,
                                                                      "PHONE_CONFIRMATION", branch)}
    await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)  # the loan arrives after the request


async def test_paper_age_counts_shanghai_calendar_days_not_utc_days(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver, clock: FixedClock
) -> None:
    """The system clock reads UTC; the report still counts days as the branch lives them."""
    branch = ref("SZ-AGE")
    known_since = datetime(2020, 2, 2, 16, tzinfo=UTC)
    early_loan, late_loan = (a_loan(as_of=known_since).model_copy(update={"branch_id": branch}) for _ in range(2))
    ids = {}
    for name, loan, at in [("early", early_loan, datetime(2020, 2, 2, 16, 30, tzinfo=UTC)),  # 3 Feb 00:30 +08
                           ("late", late_loan, datetime(2020, 2, 3, 15, 30, tzinfo=UTC))]:  # 3 Feb 23:30 +08
        set_clock(clock, at)
        request = await submitted(kafka, service, loan, channel=R.Channel.HOTLINE, staff_id="S-AGE")
        ids[request.request_id] = name
        await eventually(lambda: _owed_ids(api, branch, set(ids)), what=f"{name} paper owed")

    async def ages() -> dict[str, int]:
        report = {ids[p["request_id"]]: p["age_days"] for p in await owed(api, branch)}
        csv = (await api.get("/paper/owed.csv", params={"branch_id": branch})).text.splitlines()
        header = csv[0].split(",")
        rows = [dict(zip(header, line.split(","), strict=True)) for line in csv[1:]]
        assert {ids[r["request_id"]]: int(r["age_days"]) for r in rows} == report
        return report

    assert await ages() == {"early": 0, "late": 0}  # 3 Feb 23:30 in Shanghai: both owed today (UTC: 1 and 0)
    set_clock(clock, datetime(2020, 2, 3, 16, 30, tzinfo=UTC))  # 4 Feb 00:30 in Shanghai, still 3 Feb in UTC
    assert await ages() == {"early": 1, "late": 1}  # (UTC: 1 and 0)


async def _owed_ids(api: httpx.AsyncClient, branch: str, request_ids: set[str]) -> bool:
    return {p["request_id"] for p in await owed(api, branch)} == request_ids


async def test_staff_hear_of_a_call_still_open_a_day_before_the_deadline_not_of_one_settled(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver, clock: FixedClock
) -> None:
    """SPEC §7: each task's alert is a timer set when the task is made; settling the task cancels it."""
    set_clock(clock, MORNING)
    loan = a_loan(co_borrowers=2, debit_day=5, next_due_date=date(2020, 2, 5))
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        await watch.wait_for(lambda s: s.type == "ConfirmationCallRequested"
                             and s.data["request_id"] == request.request_id, count=2)
        settled_task, open_task = sorted(s.data["task_id"] for s in of_request(watch, "ConfirmationCallRequested",
                                                                                request.request_id))
        await take(api, "a-7", settled_task)
        await outcome(kafka, settled_task, loan.loan_id, C.CallOutcome.CONFIRMED, agent="a-7")
        await watch.wait_for(lambda s: s.type == "CoBorrowerConfirmed" and s.data["task_id"] == settled_task)
        assert await alerts_set(service, settled_task, open_task) == {open_task}
        set_clock(clock, datetime(2020, 2, 4, 0, 1, tzinfo=SHANGHAI))  # 24 hours before D0 has just passed
        [alert] = await watch.wait_for(lambda s: s.type == "ConfirmationCallRequested"
                                       and s.data["task_id"] == open_task and s.data["deadline_near"])
    assert alert.data["attempt"] == 1
    assert not watch.matching(lambda s: s.data.get("task_id") == settled_task and s.data.get("deadline_near"))
    assert await alerts_set(service, settled_task, open_task) == set()


async def alerts_set(service: ServiceRuntime, *task_ids: str) -> set[str]:
    assert service.deps is not None
    async with service.deps.sessions() as session:
        keys = await session.scalars(select(timers.c.key).where(timers.c.kind == ALERT, timers.c.key.in_(task_ids)))
        return set(keys)
