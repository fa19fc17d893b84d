"""SPEC §11, the account's scenarios, with the four services running as separate processes on the real broker
and database, driven only through the Kafka contract and the HTTP APIs (channels, call centre, core banking)."""

import asyncio
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx

from harness.builders import ACCOUNT_DAY, SHANGHAI, a_debit_day_change, a_loan, primary_of, ref
from harness.infra import Infra
from shared import topics
from shared.contracts import appointments as A
from shared.contracts import confirmation as C
from shared.contracts import loans as L
from shared.contracts import requests as R
from tests.support.auth import agent
from tests.support.kafka import KafkaDriver, Seen, Watch
from tests.support.pages import every_item
from tests.support.services import Process, restarted
from tests.support.wait import eventually, publish_loan

DUE_25_FEB = date(2020, 2, 25)
EVENTS = (topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS, topics.APPOINTMENTS_EVENTS, topics.NOTIFICATIONS_EVENTS)
Platform = dict[str, Process]


async def core_banking_publishes(kafka: KafkaDriver, platform: Platform, loan: L.LoanSnapshot) -> None:
    """The loan as core banking publishes it, waited for until requests and notifier have it."""
    await publish_loan(kafka, loan, requests=platform["requests"].url)
    async with platform["notifier"].client() as notifier:
        for b in loan.borrowers:
            await eventually(lambda c=b.customer_id: _ok(notifier, f"/recipients/{c}"), what="recipient known")


async def _ok(client: httpx.AsyncClient, path: str) -> bool:
    return (await client.get(path)).status_code == 200


async def first(watch: Watch, kind: str, **data: Any) -> Seen:
    [seen] = await watch.wait_for(lambda s: s.type == kind and all(s.data.get(k) == v for k, v in data.items()),
                                  timeout=30)
    return seen


async def told(watch: Watch, customer_id: str, template: str) -> Seen:
    return await first(watch, "NotificationSent", customer_id=customer_id, template=template)


async def test_scenario_1_single_borrower_moves_due_25_feb_to_25_mar_in_the_app(
    platform: Platform, kafka: KafkaDriver
) -> None:
    """Exactly as the account says: due 25 Feb on debit day 25, the customer picks 25 -> 25 Mar."""
    loan = a_loan(debit_day=25, next_due_date=DUE_25_FEB)
    await core_banking_publishes(kafka, platform, loan)
    async with kafka.watch(*EVENTS) as watch:
        await kafka.publish(topics.REQUESTS_COMMANDS, a_debit_day_change(loan, 25), subject=loan.loan_id)
        approved = await first(watch, "RequestApproved", loan_id=loan.loan_id)
        await told(watch, primary_of(loan), "request_approved")
    assert (approved.data["new_debit_day"], approved.data["new_due_date"]) == (25, "2020-03-25")


async def test_scenario_2_under_standard_2019_day_25_is_refused_and_day_15_gives_15_mar(
    platform: Platform, kafka: KafkaDriver
) -> None:
    loan = a_loan(debit_day=25, next_due_date=DUE_25_FEB)
    await core_banking_publishes(kafka, platform, loan)
    async with platform["requests"].client() as ops:
        assert (await ops.put("/policy", json={"preset": "standard-2019"})).status_code == 200
        try:
            async with kafka.watch(*EVENTS) as watch:
                refused = a_debit_day_change(loan, 25)
                await kafka.publish(topics.REQUESTS_COMMANDS, refused, subject=loan.loan_id)
                rejection = await first(watch, "RequestRejected", command_id=refused.command_id)
                await told(watch, primary_of(loan), "request_rejected")
                await kafka.publish(topics.REQUESTS_COMMANDS, a_debit_day_change(loan, 15), subject=loan.loan_id)
                approved = await first(watch, "RequestApproved", loan_id=loan.loan_id)
        finally:
            await ops.put("/policy", json={"preset": "epidemic-2020"})
    assert rejection.data["reason_code"] == "DAY_OUT_OF_RANGE" and rejection.data["policy_version"] == "standard-2019"
    assert approved.data["new_due_date"] == "2020-03-15"


async def agent_confirms(platform: Platform, kafka: KafkaDriver, watch: Watch, loan: L.LoanSnapshot,
                         outcome: C.CallOutcome) -> Seen:
    """The service centre takes the call task (dispatch over HTTP) and records the recorded call's outcome."""
    co = loan.borrowers[1].customer_id
    call = await first(watch, "ConfirmationCallRequested", customer_id=co)
    async with platform["confirmation"].client(agent("a-e2e")) as centre:
        held = await _take_until(centre, call.data["task_id"])
    assert (held["task_id"], held["customer_id"], held["due_by"]) == (
        call.data["task_id"], co, loan.next_due_date.isoformat())
    await kafka.publish(topics.CONFIRMATION_COMMANDS, C.RecordCallOutcome(
        command_id=ref("cmd"), task_id=call.data["task_id"], agent_id="a-e2e", outcome=outcome,
        recording_id=ref("REC"), called_at=ACCOUNT_DAY), subject=loan.loan_id)
    return call


async def _take_until(centre: httpx.AsyncClient, task_id: str, tries: int = 200) -> dict[str, Any]:
    """Takes tasks earliest deadline first (other tests' tasks may come before ours) until ours is handed out."""
    for _ in range(tries):
        response = await centre.post("/tasks/next")
        assert response.status_code == 200, response.text
        task: dict[str, Any] = response.json()
        if task["task_id"] == task_id:
            return task
    raise AssertionError(f"task {task_id} was not handed out in {tries} takes")


async def test_scenario_4_a_declining_co_borrower_rejects_the_request_and_the_customer_is_told_why(
    platform: Platform, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1, debit_day=25, next_due_date=DUE_25_FEB)
    await core_banking_publishes(kafka, platform, loan)
    async with kafka.watch(*EVENTS) as watch:
        await kafka.publish(topics.REQUESTS_COMMANDS, a_debit_day_change(loan, 20), subject=loan.loan_id)
        await agent_confirms(platform, kafka, watch, loan, C.CallOutcome.DECLINED)
        declined = await first(watch, "CoBorrowerDeclined", loan_id=loan.loan_id)
        rejected = await first(watch, "RequestRejected", loan_id=loan.loan_id)
        await told(watch, primary_of(loan), "request_rejected")
    assert rejected.data["reason_code"] == "CO_BORROWER_DECLINED"
    assert rejected.data["facts"]["recording_id"] == declined.data["recording_id"]


async def test_scenario_5_a_co_borrower_who_applies_is_refused(platform: Platform, kafka: KafkaDriver) -> None:
    loan = a_loan(co_borrowers=1)
    await core_banking_publishes(kafka, platform, loan)
    async with kafka.watch(*EVENTS) as watch:
        command = a_debit_day_change(loan, 20, applicant_customer_id=loan.borrowers[1].customer_id)
        await kafka.publish(topics.REQUESTS_COMMANDS, command, subject=loan.loan_id)
        refused = await first(watch, "RequestRejected", command_id=command.command_id)
    assert refused.data["reason_code"] == "NOT_PRIMARY_BORROWER"


def a_branch(**over: Any) -> A.SetBranchPlan:
    window = A.Window(start=time(9), end=time(17), capacity_per_slot=10)
    values: dict[str, Any] = {"command_id": ref("cmd"), "branch_id": ref("BR"), "name": "Service centre",
                              "address": "1 Service Road", "timezone": "Asia/Shanghai", "slot_minutes": 30,
                              "daily_cap": 100, "weekly": {A.Weekday(d): [window] for d in ("MON", "TUE", "WED",
                                                                                            "THU", "FRI")}}
    return A.SetBranchPlan(**{**values, **over})


async def test_scenario_6_twenty_tickets_two_hundred_customers_nobody_told_booked_who_is_not(
    platform: Platform, kafka: KafkaDriver
) -> None:
    loans = [a_loan() for _ in range(200)]
    await asyncio.gather(*(kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id) for loan in loans))
    plan = a_branch()
    async with kafka.watch(*EVENTS) as watch, platform["notifier"].client() as notifier:
        await kafka.publish(topics.APPOINTMENTS_COMMANDS, plan, subject=plan.branch_id)
        await first(watch, "BranchPlanChanged", command_id=plan.command_id)
        epidemic = A.SetDateOverride(command_id=ref("cmd"), branch_id=plan.branch_id, date=date(2020, 2, 10),
                                     daily_cap=20)
        await kafka.publish(topics.APPOINTMENTS_COMMANDS, epidemic, subject=plan.branch_id)
        await first(watch, "BranchPlanChanged", command_id=epidemic.command_id)
        await eventually(lambda: _ok(notifier, f"/recipients/{primary_of(loans[-1])}"), what="customers known")
        slots = [time(9 + i // 2, 30 * (i % 2)) for i in range(16)]
        bookings = [A.BookSlot(command_id=ref("cmd"), customer_id=primary_of(loan), branch_id=plan.branch_id,
                               date=date(2020, 2, 10), start_time=slots[i % 16], service_type=A.ServiceType.OTHER)
                    for i, loan in enumerate(loans)]
        await asyncio.gather(*(kafka.publish(topics.APPOINTMENTS_COMMANDS, b, subject=plan.branch_id)
                               for b in bookings))
        ids = {b.command_id for b in bookings}
        answers = await watch.wait_for(lambda s: s.data.get("command_id") in ids, count=200, timeout=60)
        booked = {a.data["customer_id"] for a in answers if a.type == "SlotBooked"}
        await watch.wait_for(lambda s: s.type == "NotificationSent" and s.data["template"] == "booking_confirmed"
                             and s.data["customer_id"] in booked, count=len(booked) * 2, timeout=30)
        # The positive marker behind "nobody else was told": a later booking on the same branch (so the notifier
        # handles it after every one above), told to its customer, and the topics read up to that point.
        marker_loan = a_loan()
        await core_banking_publishes(kafka, platform, marker_loan)
        marker = A.BookSlot(command_id=ref("cmd"), customer_id=primary_of(marker_loan), branch_id=plan.branch_id,
                            date=date(2020, 2, 11), start_time=time(9), service_type=A.ServiceType.OTHER)
        await kafka.publish(topics.APPOINTMENTS_COMMANDS, marker, subject=plan.branch_id)
        await told(watch, primary_of(marker_loan), "booking_confirmed")
        await watch.caught_up()
    confirmed = {s.data["customer_id"] for s in watch.matching(
        lambda s: s.type == "NotificationSent" and s.data["template"] == "booking_confirmed"
        and s.data["customer_id"] in {primary_of(loan) for loan in loans})}
    assert len(booked) == 20 and sum(a.type == "BookingRejected" for a in answers) == 180
    assert confirmed == booked


async def test_scenario_7_a_booked_customer_checks_in_and_gets_a_priority_ticket(
    platform: Platform, kafka: KafkaDriver, infra: Infra
) -> None:
    """Booked on the 3rd for the 4th at 10:00; the branch's service runs on its own clock, so the check-in
    happens once that clock reads 4 Feb 09:50 (the kiosk's `at` is only kept for the record)."""
    loan = a_loan()
    await core_banking_publishes(kafka, platform, loan)
    plan = a_branch()
    async with kafka.watch(*EVENTS) as watch:
        await kafka.publish(topics.APPOINTMENTS_COMMANDS, plan, subject=plan.branch_id)
        await first(watch, "BranchPlanChanged", command_id=plan.command_id)
        book = A.BookSlot(command_id=ref("cmd"), customer_id=primary_of(loan), branch_id=plan.branch_id,
                          date=date(2020, 2, 4), start_time=time(10), service_type=A.ServiceType.DEBIT_DAY_CHANGE)
        await kafka.publish(topics.APPOINTMENTS_COMMANDS, book, subject=plan.branch_id)
        booked = await first(watch, "SlotBooked", command_id=book.command_id)
        arrive = datetime(2020, 2, 4, 9, 50, tzinfo=SHANGHAI)
        # The notifier's clock moves too: it refuses events dated more than 5 minutes ahead of its own.
        async with restarted(platform, "appointments", infra, APPOINTMENTS_CLOCK_START=arrive.isoformat()), \
                restarted(platform, "notifier", infra, NOTIFIER_CLOCK_START=arrive.isoformat()):
            await kafka.publish(topics.APPOINTMENTS_COMMANDS, A.CheckIn(
                command_id=ref("cmd"), branch_id=plan.branch_id, booking_code=booked.data["booking_code"],
                at=arrive), subject=plan.branch_id)
            ticket = await first(watch, "CheckedIn", booking_id=booked.data["booking_id"])
            await told(watch, primary_of(loan), "checked_in")
    assert ticket.data["priority"] is True and ticket.data["ticket_number"] == "P001"


async def hotline_submits(kafka: KafkaDriver, loan: L.LoanSnapshot, **extra: Any) -> R.SubmitDebitDayChange:
    verification = R.IdentityVerification(method=R.VerificationMethod.RECORDED_CALL, recording_id="REC-ID")
    command = a_debit_day_change(loan, 20, channel=R.Channel.HOTLINE, staff_id="S-HOTLINE",
                                 identity_verification=verification, **extra)
    await kafka.publish(topics.REQUESTS_COMMANDS, command, subject=loan.loan_id)
    return command


async def test_scenario_8_a_passbook_customer_out_of_town_is_served_by_the_hotline_and_paper_is_owed(
    platform: Platform, kafka: KafkaDriver
) -> None:
    loan = a_loan()
    await core_banking_publishes(kafka, platform, loan)
    async with kafka.watch(*EVENTS) as watch, platform["confirmation"].client() as centre:
        await hotline_submits(kafka, loan)
        submitted = await first(watch, "RequestSubmitted", loan_id=loan.loan_id)
        await first(watch, "RequestApproved", loan_id=loan.loan_id)
        await eventually(lambda: _owes(centre, submitted.data["request_id"], "OWED"), what="paper owed")
    assert submitted.data["paper_documents_required"] is True and submitted.data["staff_id"] == "S-HOTLINE"


async def _owes(centre: httpx.AsyncClient, request_id: str, state: str) -> bool:
    return any(p["request_id"] == request_id and p["state"] == state for p in await every_item(centre, "/paper/owed"))


async def test_scenario_9_signed_in_another_city_couriered_home_and_received(
    platform: Platform, kafka: KafkaDriver
) -> None:
    loan = a_loan()
    await core_banking_publishes(kafka, platform, loan)
    async with kafka.watch(*EVENTS) as watch, platform["confirmation"].client() as centre:
        await hotline_submits(kafka, loan)
        request_id = (await first(watch, "RequestSubmitted", loan_id=loan.loan_id)).data["request_id"]
        await eventually(lambda: _owes(centre, request_id, "OWED"), what="paper owed")
        await kafka.publish(topics.CONFIRMATION_COMMANDS, C.RecordRemoteSigning(
            command_id=ref("cmd"), request_id=request_id, customer_id=primary_of(loan), signing_branch_id="BJ-01",
            courier="SF Express", tracking_number="SF0009", signed_at=ACCOUNT_DAY - timedelta(hours=1)),
            subject=loan.loan_id)
        await first(watch, "DocumentsInTransit", request_id=request_id)
        assert await _owes(centre, request_id, "IN_TRANSIT")
        await kafka.publish(topics.CONFIRMATION_COMMANDS, C.RecordPaperSignature(
            command_id=ref("cmd"), request_id=request_id, customer_id=primary_of(loan),
            received_at=ACCOUNT_DAY, received_by="S-1", branch_id=loan.branch_id),
            subject=loan.loan_id)
        await first(watch, "PaperSignatureReceived", request_id=request_id)
        [paper] = (await centre.get(f"/paper/requests/{request_id}")).json()
        assert not any(p["request_id"] == request_id for p in await every_item(centre, "/paper/owed"))
    assert (paper["state"], paper["signing_branch_id"], paper["courier"], paper["tracking_number"]) == (
        "RECEIVED", "BJ-01", "SF Express", "SF0009")
    assert (paper["branch_id"], paper["received_by"]) == (loan.branch_id, "S-1")


async def test_scenario_10_a_daughter_calls_for_her_disabled_mother_repayment_and_an_assisted_visit(
    platform: Platform, kafka: KafkaDriver
) -> None:
    loan = a_loan(principal="46000.00")
    mother = primary_of(loan)
    await core_banking_publishes(kafka, platform, loan)
    plan = a_branch()
    async with kafka.watch(*EVENTS) as watch:
        repay = R.SubmitEarlyRepayment(
            command_id=ref("cmd"), loan_id=loan.loan_id, applicant_customer_id=mother,
            channel=R.Channel.ACCOUNT_MANAGER, submitted_at=ACCOUNT_DAY, staff_id="AM-3",
            reason="the borrower's daughter called on her behalf",
            identity_verification=R.IdentityVerification(method=R.VerificationMethod.RECORDED_CALL, recording_id="R-9"),
            repayment_type=R.RepaymentType.PARTIAL, amount=Decimal("20000.00"), requested_date=date(2020, 2, 7))
        await kafka.publish(topics.REQUESTS_COMMANDS, repay, subject=loan.loan_id)
        approved = await first(watch, "RequestApproved", loan_id=loan.loan_id)
        await told(watch, mother, "repayment_approved")
        await kafka.publish(topics.APPOINTMENTS_COMMANDS, plan, subject=plan.branch_id)
        await first(watch, "BranchPlanChanged", command_id=plan.command_id)
        visit = A.BookSlot(command_id=ref("cmd"), customer_id=mother, branch_id=plan.branch_id, date=date(2020, 2, 7),
                           start_time=time(10), service_type=A.ServiceType.EARLY_REPAYMENT,
                           request_id=approved.data["request_id"], note="wheelchair; please assist at the entrance")
        await kafka.publish(topics.APPOINTMENTS_COMMANDS, visit, subject=plan.branch_id)
        booked = await first(watch, "SlotBooked", command_id=visit.command_id)
        await told(watch, mother, "booking_confirmed")
    assert approved.data["amount"] == "20000.00" and booked.data["note"].startswith("wheelchair")
    assert booked.data["request_id"] == approved.data["request_id"]
