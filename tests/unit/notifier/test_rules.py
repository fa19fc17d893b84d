"""Rules of the notifier's timing and of which refusals customers hear about, with fixed times (SPEC §7)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifier.domain import (
    NextTry,
    QuietHours,
    ends_request,
    hold_until,
    next_try,
    refused_command_notice,
    reminder_at,
    zone_or,
)

SZ = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
QUIET = QuietHours(time(22), time(8), SZ)
BASE, CAP = timedelta(seconds=30), timedelta(hours=1)


def test_a_retried_sms_whose_back_off_ends_in_the_quiet_hours_is_held_until_they_end() -> None:
    failed_at = datetime(2020, 2, 3, 21, 59, 50, tzinfo=SZ)  # retry due 22:00:20
    assert next_try("SMS", False, failed_at, 1, BASE, CAP, QUIET) == NextTry(datetime(2020, 2, 4, 8, tzinfo=SZ), True)


def test_a_retried_sms_in_the_daytime_goes_after_its_back_off() -> None:
    failed_at = datetime(2020, 2, 3, 9, 30, tzinfo=SZ)
    assert next_try("SMS", False, failed_at, 2, BASE, CAP, QUIET) == NextTry(failed_at + timedelta(minutes=1), False)


@pytest.mark.parametrize(("channel", "urgent"), [("SMS", True), ("APP_PUSH", False), ("EMAIL", False),
                                                 ("STAFF", False)])
def test_only_a_non_urgent_sms_retry_waits_for_the_morning(channel: str, urgent: bool) -> None:
    failed_at = datetime(2020, 2, 3, 23, tzinfo=SZ)
    assert next_try(channel, urgent, failed_at, 1, BASE, CAP, QUIET) == NextTry(failed_at + BASE, False)


def test_a_retry_held_from_after_midnight_goes_the_same_morning() -> None:
    failed_at = datetime(2020, 2, 4, 2, tzinfo=SZ)
    assert next_try("SMS", False, failed_at, 5, BASE, CAP, QUIET).at == datetime(2020, 2, 4, 8, tzinfo=SZ)


def test_an_sms_due_at_the_end_of_the_quiet_hours_goes_at_once() -> None:
    assert hold_until("SMS", False, datetime(2020, 2, 4, 8, tzinfo=SZ), QUIET) is None
    assert hold_until("SMS", False, datetime(2020, 2, 4, 7, 59, tzinfo=SZ), QUIET) == datetime(2020, 2, 4, 8, tzinfo=SZ)


def test_the_reminder_is_the_morning_before_in_the_branch_time_zone() -> None:
    due = reminder_at(date(2020, 2, 10), zone_or("Europe/London", SZ))
    assert due == datetime(2020, 2, 9, 9, tzinfo=LONDON) == datetime(2020, 2, 9, 17, tzinfo=SZ)


@pytest.mark.parametrize("name", [None, "", "Nowhere/City", "../etc/passwd", "America"])
def test_a_missing_or_unknown_branch_time_zone_falls_back_to_the_notifiers(name: str | None) -> None:
    assert zone_or(name, SZ) is SZ


@pytest.mark.parametrize("command_type", [None, "SubmitDebitDayChange", "SubmitEarlyRepayment"])
def test_a_refused_submission_or_a_co_borrower_outcome_ends_the_request(command_type: str | None) -> None:
    assert ends_request(command_type)


def test_a_refused_withdrawal_does_not_end_the_request_and_gets_its_own_notice() -> None:
    assert not ends_request("WithdrawRequest")
    assert refused_command_notice("WithdrawRequest") == "withdrawal_refused"


@pytest.mark.parametrize("command_type", ["SetBranchPlan", "RecordCallOutcome", "CheckIn"])
def test_other_refused_commands_are_not_customers_news(command_type: str) -> None:
    assert refused_command_notice(command_type) is None
