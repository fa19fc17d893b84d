"""The console's read models, rebuilt from the real event streams: every type lands, any order across topics
gives the same rows, a duplicate changes nothing, and the dashboard's queries count what landed."""

from datetime import date, time, timedelta

from harness.builders import ACCOUNT_DAY, ref
from services.console import queries
from services.console.live import Area
from services.console.readmodel import BookingView, BranchView, PaperView, PolicyVersion, RequestView, TaskView
from shared import topics
from shared.contracts import appointments as A
from shared.contracts import confirmation as C
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.integration.console import events as ev
from tests.integration.console.conftest import hub_of, in_state, next_change, row, row_when
from tests.support.kafka import KafkaDriver

REQ, CONF, APPT = topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS, topics.APPOINTMENTS_EVENTS
BOOKING_DAY = date(2020, 2, 5)
EARLY = ACCOUNT_DAY - timedelta(hours=2)  # 07:30 bank time; contract times may not be ahead of the console's clock


async def _dashboard(console: ServiceRuntime) -> queries.Dashboard:
    assert console.engine is not None
    async with console.engine.connect() as conn:
        return await queries.dashboard(conn, ACCOUNT_DAY)


def _count(d: queries.Dashboard, state: str, channel: str | None) -> int:
    return sum(c.count for c in d.requests_today if c.state == state and c.channel == channel)


async def test_every_event_type_reaches_the_read_models_and_the_dashboard(console: ServiceRuntime,
                                                                           kafka: KafkaDriver) -> None:
    before = await _dashboard(console)
    loan, branch = ref("L"), ref("BR")
    staff_req, app_req, late_req = ref("R"), ref("R"), ref("R")
    co, tasks = f"{loan}-C2", [ref("T") for _ in range(4)]
    with hub_of(console).subscribe() as changes:
        await kafka.publish(REQ, ev.submitted(staff_req, loan, branch, co_borrower=co, staff=True, at=EARLY),
                            subject=loan)
        await kafka.publish(CONF, ev.call_requested(tasks[0], staff_req, loan, co), subject=loan)
        await kafka.publish(CONF, ev.confirmed(tasks[0], staff_req, loan, co), subject=loan)
        await kafka.publish(REQ, ev.approved(staff_req, loan, EARLY + timedelta(hours=1)), subject=loan)
        await kafka.publish(REQ, R.RequestCompleted(request_id=staff_req, loan_id=loan, completed_at=ACCOUNT_DAY),
                            subject=loan)
        await kafka.publish(CONF, C.DocumentsInTransit(request_id=staff_req, customer_id=f"{loan}-P", loan_id=loan,
                                                       courier="SF", tracking_number="SF1"), subject=loan)
        await kafka.publish(CONF, C.PaperSignatureReceived(request_id=staff_req, customer_id=co, loan_id=loan,
                                                           branch_id=branch, received_at=ACCOUNT_DAY), subject=loan)
        # An app request withdrawn with its call still open; another expired after its calls failed.
        await kafka.publish(REQ, ev.submitted(app_req, loan, branch, co_borrower=co), subject=loan)
        await kafka.publish(CONF, ev.call_requested(tasks[1], app_req, loan, co), subject=loan)
        await kafka.publish(REQ, R.RequestWithdrawn(request_id=app_req, loan_id=loan, withdrawn_at=ACCOUNT_DAY),
                            subject=loan)
        await kafka.publish(REQ, ev.submitted(late_req, loan, branch), subject=loan)
        for task, outcome in ((tasks[2], C.CoBorrowerDeclined(
                task_id=tasks[2], request_id=late_req, loan_id=loan, customer_id=co, agent_id="A-1",
                recording_id="REC-3", declined_at=ACCOUNT_DAY)), (tasks[3], C.CoBorrowerUnreachable(
                task_id=tasks[3], request_id=late_req, loan_id=loan, customer_id=co, unreachable_at=ACCOUNT_DAY))):
            await kafka.publish(CONF, ev.call_requested(task, late_req, loan, co), subject=loan)
            await kafka.publish(CONF, outcome, subject=loan)
        await kafka.publish(REQ, R.RequestExpired(request_id=late_req, loan_id=loan, expired_at=ACCOUNT_DAY),
                            subject=loan)
        refused = R.RequestRejected(command_id=ref("cmd"), loan_id=loan, reason_code="PAST_CUTOFF", reason="late",
                                    policy_version="v1", rejected_at=ACCOUNT_DAY, facts={})
        await kafka.publish(REQ, refused, subject=loan)
        version = ref("policy")
        await kafka.publish(REQ, ev.policy(version, "v1", ACCOUNT_DAY + timedelta(minutes=3)), subject="policy")
        bookings = [ref("B") for _ in range(4)]
        for i, booking in enumerate(bookings):
            await kafka.publish(APPT, ev.booked(booking, branch, BOOKING_DAY, time(10 + i)), subject=branch)
        await kafka.publish(APPT, A.BookingCancelled(booking_id=bookings[1], customer_id="C", branch_id=branch),
                            subject=branch)
        await kafka.publish(APPT, A.CheckedIn(booking_id=bookings[2], ticket_number="P001", branch_id=branch),
                            subject=branch)
        await kafka.publish(APPT, A.NoShow(booking_id=bookings[3], customer_id="C", branch_id=branch,
                                           date=BOOKING_DAY, start_time=time(13)), subject=branch)
        await kafka.publish(APPT, A.BranchPlanChanged(
            branch_id=branch, changed_at=ACCOUNT_DAY,
            over_capacity=[A.OverCapacitySlot(date=BOOKING_DAY, start_time=time(10), booked=1, capacity=0)],
            over_daily_cap=[A.OverDailyCap(date=BOOKING_DAY, booked=3, daily_cap=2)]), subject=branch)

        done = await row_when(console, RequestView, lambda r: r.state == "COMPLETED", request_id=staff_req)
        assert (done.channel, done.branch_id, done.staff_submitted, done.policy_version) == (
            "HOTLINE", branch, True, "v1")
        assert done.approved_at == EARLY + timedelta(hours=1) and done.submitted_at == EARLY
        assert (await row_when(console, RequestView, lambda r: r.state == "WITHDRAWN", request_id=app_req)).channel \
            == "APP"
        await row_when(console, RequestView, lambda r: r.state == "EXPIRED", request_id=late_req)
        rejected = await row_when(console, RequestView, lambda r: r.state == "REJECTED",
                                  request_id=f"cmd:{refused.command_id}")
        assert rejected.reason_code == "PAST_CUTOFF"
        states = ["CONFIRMED", "CLOSED", "DECLINED", "UNREACHABLE"]  # the withdrawn request's open call is closed
        for task, state in zip(tasks, states, strict=True):
            await row_when(console, TaskView, in_state(state), task_id=task)
        transit = await row_when(console, PaperView, lambda r: r.state == "IN_TRANSIT", request_id=staff_req,
                                 customer_id=f"{loan}-P")
        assert (transit.branch_id, transit.reason, transit.courier) == (branch, "STAFF_SUBMISSION", "SF")
        received = await row_when(console, PaperView, lambda r: r.state == "RECEIVED", request_id=staff_req,
                                  customer_id=co)
        assert received.owed_since == ACCOUNT_DAY and received.reason == "PHONE_CONFIRMATION"
        await row_when(console, PolicyVersion, lambda r: r.changed_by == "policy-admin", version=version)
        for booking, state in zip(bookings, ["BOOKED", "CANCELLED", "CHECKED_IN", "NO_SHOW"], strict=True):
            await row_when(console, BookingView, in_state(state), booking_id=booking)
        plan = await row_when(console, BranchView, lambda r: r.over_daily_cap != [], branch_id=branch)
        assert plan.over_capacity == [{"date": "2020-02-05", "start_time": "10:00", "booked": 1, "capacity": 0}]

        seen: set[Area] = set()
        while not {Area.REQUESTS, Area.CONFIRMATION, Area.PAPER, Area.APPOINTMENTS, Area.POLICY} <= seen:
            seen.update(await next_change(changes))

    after = await _dashboard(console)
    for state, channel, more in (("COMPLETED", "HOTLINE", 1), ("WITHDRAWN", "APP", 1), ("EXPIRED", "APP", 1),
                                 ("REJECTED", None, 1)):
        assert _count(after, state, channel) - _count(before, state, channel) == more, (state, channel)
    assert after.approvals_by_hour[8] - before.approvals_by_hour[8] == 1  # 08:30 bank time
    assert [b for b in after.bookings if b.branch_id == branch] == [
        queries.BranchDay(branch, BOOKING_DAY, booked=3, daily_cap=2)]  # the cancelled one holds no place
    assert [p for p in after.paper_owed if p.branch_id == branch] == [queries.PaperAge(branch, "0-7", 1)]
    assert after.policy.in_force is not None and after.policy.in_force.version == version
    assert after.policy.document == {"name": version, "debit_day": {"min": 1, "max": 28}}
    assert after.policy.history[1:] == before.policy.history
    assert all(t.task_id not in tasks for t in after.backlog.nearest)  # none of them is open any more
    async with console.engine.connect() as conn:  # type: ignore[union-attr]
        left = await queries.bookings_in_slots(conn, branch, [(BOOKING_DAY, time(10)), (BOOKING_DAY, time(11))])
        owed = await queries.paper_owed(conn, ACCOUNT_DAY + timedelta(days=9), branch)
    assert [b.booking_id for b in left] == [bookings[0]]  # booked at 10:00; 11:00's was cancelled
    assert [(p.customer_id, p.state, p.age_days) for p in owed] == [(f"{loan}-P", "IN_TRANSIT", 9)]


async def test_events_arriving_in_any_order_or_twice_give_the_same_rows(console: ServiceRuntime,
                                                                         kafka: KafkaDriver) -> None:
    loan, branch, request, task, co = ref("L"), ref("BR"), ref("R"), ref("T"), ref("C")
    # The approval and the co-borrower's confirmation before the submission they follow.
    first = await kafka.publish(REQ, ev.approved(request, loan, EARLY + timedelta(hours=1)), subject=loan)
    await kafka.publish(CONF, ev.confirmed(task, request, loan, co), subject=loan)
    await kafka.publish(CONF, ev.call_requested(task, request, loan, co), subject=loan)  # after its outcome
    await row_when(console, PaperView, lambda r: r.state == "OWED", request_id=request, customer_id=co)
    assert (await row(console, PaperView, request_id=request, customer_id=co)).branch_id is None  # not yet known
    submission = ev.submitted(request, loan, branch, co_borrower=co, at=EARLY)
    await kafka.publish(REQ, submission, subject=loan)
    await kafka.publish_event(REQ, first)  # the approval again, as redelivered
    await kafka.publish(REQ, submission, subject=loan)  # the submission again under a new envelope id
    marker = ref("R")
    await kafka.publish(REQ, ev.submitted(marker, loan, branch), subject=loan)  # same partition, applied after
    await row_when(console, RequestView, lambda r: r.state == "SUBMITTED", request_id=marker)

    merged = await row(console, RequestView, request_id=request)
    assert (merged.state, merged.channel, merged.branch_id, merged.submitted_at, merged.approved_at) == (
        "APPROVED", "APP", branch, EARLY, EARLY + timedelta(hours=1))
    assert (await row(console, TaskView, task_id=task)).state == "CONFIRMED"  # its late request did not reopen it
    paper = await row_when(console, PaperView, lambda r: r.branch_id is not None, request_id=request, customer_id=co)
    assert (paper.state, paper.branch_id) == ("OWED", branch)  # filed once the submission named the branch


async def test_a_later_policy_event_for_an_older_version_does_not_change_what_is_in_force(
        console: ServiceRuntime, kafka: KafkaDriver) -> None:
    newer, older = ref("policy"), ref("policy")
    # Within the 5 minutes ahead of the console's clock that the contract allows, later than the other tests'.
    await kafka.publish(REQ, ev.policy(newer, older, ACCOUNT_DAY + timedelta(minutes=4)), subject="policy")
    await kafka.publish(REQ, ev.policy(older, None, ACCOUNT_DAY + timedelta(minutes=3, seconds=30)), subject="policy")
    await row_when(console, PolicyVersion, lambda r: True, version=older)
    board = await _dashboard(console)
    assert board.policy.in_force is not None and board.policy.in_force.version == newer
    assert [p.version for p in board.policy.history[:2]] == [newer, older]

