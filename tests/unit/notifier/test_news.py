"""Who is told of what (SPEC §7): each piece of news and the notices it owes, with fixed dates."""

from datetime import date, time
from decimal import Decimal

import pytest

from services.notifier.domain import (
    Approved,
    Booked,
    Booking,
    BookingCancelled,
    BookingDue,
    BookingLapsed,
    BookingRefused,
    CallTaskIssued,
    CheckedIn,
    CommandRefused,
    Notice,
    Refused,
    RequestMoved,
    RequestRefused,
    RequestStep,
    notices,
)

SLOT = (date(2020, 2, 10), time(9, 30))
BOOKING = Booking("B-1", "C-1", "K7P3X", *SLOT, "Futian", "Futian Road")
FULL = Refused("SLOT_FULL", "Slot 09:30 is full.")


@pytest.mark.parametrize("step", list(RequestStep))
def test_each_step_of_a_request_is_told_to_its_applicant_by_its_own_template(step: RequestStep) -> None:
    [notice] = notices(RequestMoved(step, "L-00012345", "C-1", date(2020, 2, 25)))
    assert (notice.template, notice.customer_id, notice.loan_id) == (step.value, "C-1", "L-00012345")
    assert notice.message("en").body.count("2345") == 1


def test_an_expired_request_says_by_when_it_had_to_be_confirmed() -> None:
    [notice] = notices(RequestMoved(RequestStep.EXPIRED, "L-1", "C-1", date(2020, 2, 25)))
    assert "2020-02-25" in notice.message("en").body


def test_an_early_repayment_approval_says_how_much_and_when() -> None:
    [notice] = notices(Approved("L-0001", "C-1", True, amount=Decimal("20000"), requested_date=date(2020, 2, 7)))
    assert notice.message("en").body == (
        "Early repayment of CNY 20,000.00 on loan ending 0001 is approved for 2020-02-07.")


def test_an_approval_without_an_applicant_goes_to_the_loans_primary_borrower() -> None:
    [notice] = notices(Approved("L-0001", None, False, new_debit_day=20, new_due_date=date(2020, 3, 20)))
    assert (notice.template, notice.customer_id, notice.loan_id) == ("request_approved", None, "L-0001")


@pytest.mark.parametrize("command_type", [None, "SubmitDebitDayChange", "SubmitEarlyRepayment"])
def test_a_refused_submission_ends_the_request_in_the_customers_words(command_type: str | None) -> None:
    [notice] = notices(RequestRefused("L-0001", "C-1", Refused("PAST_CUTOFF", "Too late."), command_type))
    assert notice.template == "request_rejected"
    assert notice.message("zh-Hant").body == "很抱歉，您的貸款（尾號0001）申請未獲通過：申請已超過本期截止時間。"


def test_a_refusal_we_have_no_words_for_is_told_in_the_senders() -> None:
    [notice] = notices(RequestRefused("L-0001", "C-1", Refused("NEW_CODE", "A new reason."), None))
    assert notice.message("en").body.endswith(": A new reason.")


def test_a_refused_withdrawal_from_a_1_0_producer_is_told_as_a_refused_withdrawal() -> None:
    refusal = Refused("NOT_APPLICANT", "Only the applicant can withdraw.")
    assert notices(RequestRefused("L-0001", "C-1", refusal, "WithdrawRequest")) == [
        Notice("withdrawal_refused", "C-1", refusal=refusal)]


@pytest.mark.parametrize(("command_type", "customer"), [("SetBranchPlan", "C-1"), ("CheckIn", "C-1"),
                                                         ("WithdrawRequest", None)])
def test_other_refused_commands_or_nobody_to_tell_means_no_notice(command_type: str, customer: str | None) -> None:
    assert notices(CommandRefused(command_type, customer, FULL)) == []


def test_a_booking_is_confirmed_with_its_code_and_place_and_reminded_with_its_own_event_id() -> None:
    [confirmed] = notices(Booked(BOOKING))
    [reminder] = notices(BookingDue(BOOKING))
    assert confirmed.message("en").body == "Booked: 2020-02-10 09:30 at Futian (Futian Road). Booking code K7P3X."
    assert (confirmed.event_id, reminder.event_id) == (None, "reminder:B-1")
    assert reminder.message("en").body == "Reminder: tomorrow at 09:30, Futian (Futian Road). Booking code K7P3X."


def test_refused_lapsed_and_checked_in_bookings_are_told_to_the_customer() -> None:
    told = [*notices(BookingRefused("C-1", *SLOT, FULL)), *notices(BookingLapsed("C-1", *SLOT)),
            *notices(CheckedIn("C-1", "P001"))]
    assert [(n.template, n.customer_id) for n in told] == [
        ("booking_rejected", "C-1"), ("booking_no_show", "C-1"), ("checked_in", "C-1")]
    assert told[0].message("en").body.endswith("that time is fully booked; please choose another time.")


def test_a_cancellation_that_names_no_slot_is_not_worth_a_message() -> None:
    assert [n.template for n in notices(BookingCancelled("B-1", "C-1", *SLOT))] == ["booking_cancelled"]
    assert notices(BookingCancelled("B-1", "C-1", None, None)) == []


@pytest.mark.parametrize(("attempt", "near", "told"), [(1, False, ["staff_call_task"]), (2, False, []),
                                                        (3, True, ["staff_deadline_near"])])
def test_staff_hear_of_a_new_call_task_and_urgently_of_one_near_its_deadline(attempt: int, near: bool,
                                                                             told: list[str]) -> None:
    owed = notices(CallTaskIssued("T-1", "L-00012345", date(2020, 2, 25), attempt, near))
    assert [n.template for n in owed] == told
    assert all(n.staff and n.urgent is near and n.customer_id is None for n in owed)
    assert all("2345" in n.message("en").body and "T-1" in n.message("en").body for n in owed)
