"""SPEC §11 scenarios on the requests side, against the real broker and database.

The confirmation service's events are published by the test, as that service would publish them.
"""

import contextlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import select

from harness.builders import (
    ACCOUNT_DAY,
    a_debit_day_change,
    a_loan,
    primary_of,
    ref,
)
from services.requests.repository import inbox
from shared.clock import FixedClock
from shared.contracts import loans as L
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.support.kafka import KafkaDriver
from tests.support.requests_driver import EVENTS, answer, co_borrower_says, next_event
from tests.support.wait import eventually, publish_loan

DUE_25_FEB = date(2020, 2, 25)


async def test_scenario_1_a_single_borrower_moves_the_day_in_the_app_and_is_approved_at_once(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    """Exactly as the account says: due 25 Feb on day 25, picking 25 moves it to 25 Mar (a full month).

    Completion needs a snapshot with the new day and a next due date on or after D1: the next ordinary snapshot
    (day 25, due 25 Feb) completes nothing; the one with 25 Mar does.
    """
    loan = a_loan(debit_day=25, next_due_date=DUE_25_FEB)
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 25), loan_id=loan.loan_id)
        approved = await next_event(watch, "RequestApproved", submitted.data["request_id"])
        ordinary = loan.model_copy(update={"as_of": ACCOUNT_DAY + timedelta(minutes=1)})
        await kafka.publish("loans.snapshots", ordinary, subject=loan.loan_id)
        applied = loan.model_copy(update={"next_due_date": date(2020, 3, 25),
                                          "as_of": ACCOUNT_DAY + timedelta(minutes=2)})
        applied_event = await kafka.publish("loans.snapshots", applied, subject=loan.loan_id)
        completed = await next_event(watch, "RequestCompleted", submitted.data["request_id"])
    assert completed.event["causationid"] == applied_event.id
    assert submitted.type == "RequestSubmitted"
    assert (submitted.data["current_debit_day"], submitted.data["new_debit_day"]) == (25, 25)
    assert submitted.data["branch_id"] == loan.branch_id and submitted.data["confirmation_attempts"] == 3
    assert submitted.data["new_due_date"] == "2020-03-25" and submitted.data["current_due_date"] == "2020-02-25"
    assert submitted.data["next_due_dates"] == ["2020-03-25", "2020-04-25", "2020-05-25"]
    assert submitted.data["paper_documents_required"] is False and submitted.data["co_borrowers"] == []
    assert approved.data["new_debit_day"] == 25 and approved.data["new_due_date"] == "2020-03-25"
    assert approved.data["policy_version"] == "epidemic-2020"


async def test_scenario_2_the_old_policy_refuses_day_25_and_accepts_day_15(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(debit_day=25, next_due_date=DUE_25_FEB)
    await publish_loan(kafka, loan, requests=service)
    switched = await api.put("/policy", json={"preset": "standard-2019"})
    assert switched.status_code == 200 and switched.json()["version"] == "standard-2019"
    try:
        async with kafka.watch(EVENTS) as watch:
            refused = await answer(kafka, watch, a_debit_day_change(loan, 25), loan_id=loan.loan_id)
            accepted = await answer(kafka, watch, a_debit_day_change(loan, 15), loan_id=loan.loan_id)
    finally:
        await api.put("/policy", json={"preset": "epidemic-2020"})
    assert refused.type == "RequestRejected" and refused.data["reason_code"] == "DAY_OUT_OF_RANGE"
    assert refused.data["facts"] == {"allowed": "1..15", "asked": "25", "policy_version": "standard-2019"}
    assert refused.data["policy_version"] == "standard-2019"
    assert accepted.type == "RequestSubmitted" and accepted.data["new_due_date"] == "2020-03-15"
    assert accepted.data["policy_version"] == "standard-2019"


async def test_scenario_3_a_confirmed_co_borrower_lets_the_request_through_then_core_banking_completes_it(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1, debit_day=25, next_due_date=DUE_25_FEB)
    co = loan.borrowers[1].customer_id
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 28), loan_id=loan.loan_id)
        request_id = submitted.data["request_id"]
        assert submitted.data["co_borrowers"] == [{"customer_id": co}]
        assert submitted.data["paper_documents_required"] is True and submitted.data["deadline"] == "2020-02-25"
        assert (await api.get(f"/requests/{request_id}")).json()["state"] == "AWAITING_CONFIRMATION"

        await co_borrower_says(kafka, submitted, co, "CONFIRMED")
        approved = await next_event(watch, "RequestApproved", request_id)
        applied = loan.model_copy(update={"debit_day": 28, "next_due_date": date(2020, 2, 28),
                                          "as_of": ACCOUNT_DAY + timedelta(minutes=2)})
        await kafka.publish("loans.snapshots", applied, subject=loan.loan_id)
        await next_event(watch, "RequestCompleted", request_id)
    assert approved.data["new_debit_day"] == 28
    status = (await api.get(f"/requests/{request_id}")).json()
    assert status["state"] == "COMPLETED" and status["confirmed_by"] == [co]
    trail = [(h["from_state"], h["to_state"], h["actor_kind"]) for h in status["history"]]
    assert trail == [(None, "SUBMITTED", "CUSTOMER"), ("SUBMITTED", "AWAITING_CONFIRMATION", "SYSTEM"),
                     ("AWAITING_CONFIRMATION", "APPROVED", "AGENT"), ("APPROVED", "COMPLETED", "CORE_BANKING")]
    assert status["history"][2]["recording_id"]  # the confirming call's recording is on the record


async def test_scenario_4_a_co_borrower_who_declines_ends_the_request_with_the_reason(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=2, debit_day=25, next_due_date=DUE_25_FEB)
    first, second = (b.customer_id for b in loan.borrowers[1:])
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
        await co_borrower_says(kafka, submitted, first, "CONFIRMED")
        declined = await co_borrower_says(kafka, submitted, second, "DECLINED")
        rejected = await next_event(watch, "RequestRejected", submitted.data["request_id"])
    assert rejected.data["reason_code"] == "CO_BORROWER_DECLINED"
    assert rejected.data["reason"] and rejected.data["facts"] == {
        "co_borrower": second, "recording_id": declined.recording_id, "policy_version": "epidemic-2020"}  # type: ignore[attr-defined]
    assert watch.matching(lambda s: s.type == "RequestApproved" and s.event["subject"] == loan.loan_id) == []


async def test_scenario_5_a_co_borrower_cannot_apply(service: ServiceRuntime, kafka: KafkaDriver) -> None:
    loan = a_loan(co_borrowers=1)
    await publish_loan(kafka, loan, requests=service)
    co = loan.borrowers[1].customer_id
    async with kafka.watch(EVENTS) as watch:
        refused = await answer(kafka, watch, a_debit_day_change(loan, 20, applicant_customer_id=co),
                               loan_id=loan.loan_id)
    assert refused.data["reason_code"] == "NOT_PRIMARY_BORROWER"
    assert refused.data["facts"] == {"applicant_role": "co-borrower", "policy_version": "epidemic-2020"}


async def test_scenario_8_the_hotline_submits_after_a_recorded_identity_check_and_paper_is_owed(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan()
    await publish_loan(kafka, loan, requests=service)
    on_behalf = {"channel": R.Channel.HOTLINE, "staff_id": "S-HOTLINE-12"}
    async with kafka.watch(EVENTS) as watch:
        unverified = await answer(kafka, watch, a_debit_day_change(loan, 20, **on_behalf), loan_id=loan.loan_id)
        verification = R.IdentityVerification(method=R.VerificationMethod.RECORDED_CALL, recording_id="REC-HL-1")
        verified = await answer(kafka, watch, a_debit_day_change(loan, 20, identity_verification=verification,
                                                                 **on_behalf), loan_id=loan.loan_id)
        await next_event(watch, "RequestApproved", verified.data["request_id"])
    assert unverified.data["reason_code"] == "VERIFICATION_REQUIRED"
    assert verified.type == "RequestSubmitted" and verified.data["paper_documents_required"] is True
    assert verified.data["staff_id"] == "S-HOTLINE-12" and verified.data["channel"] == "HOTLINE"
    assert verified.data["identity_verification"] == {"method": "RECORDED_CALL", "recording_id": "REC-HL-1"}
    first = (await api.get(f"/requests/{verified.data['request_id']}")).json()["history"][0]
    assert (first["actor"], first["actor_kind"], first["channel"], first["recording_id"],
            first["verification_method"], first["on_behalf_of"]) == (
        "S-HOTLINE-12", "STAFF", "HOTLINE", "REC-HL-1", "RECORDED_CALL", primary_of(loan))


async def test_scenario_10_staff_arrange_early_repayment_for_a_disabled_borrower(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    loan = a_loan(principal="46000.00")
    await publish_loan(kafka, loan, requests=service)
    command = R.SubmitEarlyRepayment(
        command_id=ref("cmd"), loan_id=loan.loan_id, applicant_customer_id=primary_of(loan),
        channel=R.Channel.ACCOUNT_MANAGER, submitted_at=ACCOUNT_DAY, staff_id="AM-3",
        reason="the borrower's daughter called for her mother",
        identity_verification=R.IdentityVerification(method=R.VerificationMethod.RECORDED_CALL, recording_id="R-77"),
        repayment_type=R.RepaymentType.PARTIAL, amount=Decimal("20000.00"), requested_date=date(2020, 2, 7),
    )
    async with kafka.watch(EVENTS) as watch:
        submitted = await answer(kafka, watch, command, loan_id=loan.loan_id)
        approved = await next_event(watch, "RequestApproved", submitted.data["request_id"])
        # SPEC §3: the ordinary instalment on the 10th lowers the principal a little: that completes nothing.
        instalment = loan.model_copy(update={"outstanding_principal": Decimal("43500.00"),
                                             "as_of": ACCOUNT_DAY + timedelta(minutes=2)})
        await kafka.publish("loans.snapshots", instalment, subject=loan.loan_id)
        # Core banking reports the repayment on the 7th: the service's clock has reached that day too (a snapshot
        # dated ahead of the receiver's clock is refused by the contract's bounds).
        paid = loan.model_copy(update={"outstanding_principal": Decimal("23500.00"),
                                       "as_of": ACCOUNT_DAY.replace(day=7)})
        with clock_at(service, ACCOUNT_DAY.replace(day=7, hour=10)):
            paid_event = await kafka.publish("loans.snapshots", paid, subject=loan.loan_id)
            completed = await next_event(watch, "RequestCompleted", submitted.data["request_id"])
    assert completed.event["causationid"] == paid_event.id
    assert submitted.data["request_type"] == "EARLY_REPAYMENT" and submitted.data["paper_documents_required"]
    assert (approved.data["repayment_type"], approved.data["amount"], approved.data["requested_date"]) == (
        "PARTIAL", "20000.00", "2020-02-07")


async def test_a_late_snapshot_changes_nothing(service: ServiceRuntime, api: httpx.AsyncClient,
                                               kafka: KafkaDriver) -> None:
    loan = a_loan(debit_day=10)
    await publish_loan(kafka, loan, requests=service)
    older = loan.model_copy(update={"debit_day": 3, "status": L.LoanStatus.OVERDUE,
                                    "as_of": ACCOUNT_DAY.replace(day=1)})
    late = await kafka.publish("loans.snapshots", older, subject=loan.loan_id)
    await eventually(lambda: processed(service, late.id), what="the late snapshot handled")
    seen = (await api.get(f"/loans/{loan.loan_id}")).json()
    assert (seen["debit_day"], seen["status"]) == (10, "ACTIVE")


@contextlib.contextmanager
def clock_at(service: ServiceRuntime, when: datetime) -> Iterator[None]:
    """The module's service reads `when` as "now" for the block, then its own time again."""
    clock = service.clock
    assert isinstance(clock, FixedClock)
    before = clock.now()
    clock.advance(when - before)
    try:
        yield
    finally:
        clock.advance(before - clock.now())


async def processed(service: ServiceRuntime, event_id: str) -> bool:
    assert service.engine is not None
    async with service.engine.connect() as conn:
        found = await conn.scalar(select(inbox.c.message_id).where(inbox.c.message_id == event_id))
    return found is not None

