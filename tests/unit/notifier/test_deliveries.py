"""When a delivery goes, how long it is retried and when it is given up (SPEC §7), with fixed times."""

from dataclasses import replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifier.domain import (
    Delivery,
    Message,
    QuietHours,
    Recipient,
    RetryPolicy,
    Status,
    failed,
    held,
    new_delivery,
    sent,
)

SZ = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours(time(22), time(8), SZ)
RETRIES = RetryPolicy(max_attempts=3, base=timedelta(seconds=30), cap=timedelta(hours=1))
DAY = datetime(2020, 2, 3, 9, 30, tzinfo=SZ)
NIGHT = datetime(2020, 2, 3, 23, tzinfo=SZ)
MORNING = datetime(2020, 2, 4, 8, tzinfo=SZ)
ANNA = Recipient("C-1", "en", ("SMS", "EMAIL", "APP_PUSH"), phone="13800138000", email="anna@example.com")


def first(channel: str, now: datetime = DAY, *, gateway: bool = False, urgent: bool = False) -> Delivery:
    return new_delivery(notification_id="N-1", event_id="E-1", recipient=ANNA, channel=channel,
                        message=Message("request_received", "en", "…"), urgent=urgent, now=now, quiet=QUIET,
                        through_gateway=gateway, correlation_id="corr-1")


def test_a_channel_without_a_gateway_is_delivered_at_once() -> None:
    d = first("APP_PUSH")
    assert (d.status, d.attempts, d.sent_at, d.next_attempt_at, d.contact) == (Status.SENT, 1, DAY, None, "C-1")


def test_a_channel_with_a_gateway_waits_for_the_worker() -> None:
    d = first("EMAIL", gateway=True)
    assert (d.status, d.attempts, d.sent_at, d.next_attempt_at, d.contact) == (
        Status.PENDING, 0, None, DAY, "anna@example.com")


@pytest.mark.parametrize("gateway", [False, True])
def test_a_night_sms_is_held_until_the_quiet_hours_end_with_or_without_a_gateway(gateway: bool) -> None:
    d = first("SMS", NIGHT, gateway=gateway)
    assert (d.status, d.next_attempt_at, d.contact) == (Status.HELD, MORNING, "13800138000")


def test_an_urgent_sms_and_other_channels_go_at_night() -> None:
    assert first("SMS", NIGHT, urgent=True).status is Status.SENT
    assert first("APP_PUSH", NIGHT).status is Status.SENT


def test_the_worker_holds_a_due_sms_in_the_quiet_hours_and_lets_it_go_when_they_end() -> None:
    pending = first("SMS", gateway=True)
    assert held(pending, NIGHT, QUIET) == replace(pending, status=Status.HELD, next_attempt_at=MORNING)
    assert held(pending, MORNING, QUIET) is None
    assert held(first("EMAIL", gateway=True), NIGHT, QUIET) is None


def test_a_sent_delivery_counts_its_attempt_and_forgets_its_last_error() -> None:
    retried = replace(first("EMAIL", gateway=True), attempts=1, last_error="503")
    assert sent(retried, DAY) == replace(retried, status=Status.SENT, attempts=2, sent_at=DAY, next_attempt_at=None,
                                         last_error=None)


def test_a_failed_delivery_is_retried_with_back_off_then_given_up_after_its_last_attempt() -> None:
    d = first("EMAIL", gateway=True)
    once = failed(d, DAY, "503", RETRIES, QUIET)
    assert (once.status, once.attempts, once.next_attempt_at, once.last_error) == (
        Status.PENDING, 1, DAY + timedelta(seconds=30), "503")
    twice = failed(once, DAY, "503", RETRIES, QUIET)
    assert (twice.status, twice.attempts, twice.next_attempt_at) == (Status.PENDING, 2, DAY + timedelta(minutes=1))
    given_up = failed(twice, DAY, "timeout", RETRIES, QUIET)
    assert (given_up.status, given_up.attempts, given_up.next_attempt_at, given_up.last_error) == (
        Status.FAILED, 3, None, "timeout")


def test_a_single_attempt_policy_gives_up_at_the_first_failure() -> None:
    once = failed(first("EMAIL", gateway=True), DAY, "503", replace(RETRIES, max_attempts=1), QUIET)
    assert (once.status, once.attempts) == (Status.FAILED, 1)


def test_a_failed_sms_whose_retry_falls_at_night_is_held_until_morning() -> None:
    late = datetime(2020, 2, 3, 21, 59, 50, tzinfo=SZ)
    retry = failed(first("SMS", late, gateway=True), late, "503", RETRIES, QUIET)
    assert (retry.status, retry.attempts, retry.next_attempt_at) == (Status.HELD, 1, MORNING)
