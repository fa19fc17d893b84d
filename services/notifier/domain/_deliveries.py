"""When a message goes, and how long we keep trying (SPEC §7): the SMS quiet hours, the retries with back-off,
and when a delivery is given up and reported. Pure: 'now' is an argument."""

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

from services.notifier.domain._messages import Message
from services.notifier.domain._recipients import Recipient


class Status(StrEnum):
    SENT = "SENT"
    PENDING = "PENDING"  # waits for the delivery worker (a channel sent through a gateway, or a retry)
    HELD = "HELD"  # an SMS waiting for the quiet hours to end
    FAILED = "FAILED"  # given up and reported


@dataclass(frozen=True)
class QuietHours:
    """SPEC §7 (expected): the night hours without SMS, in the bank's time zone (configurable)."""

    start: time
    end: time
    tz: ZoneInfo


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing delivery is tried (in all), and the back-off between tries: base, 2*base, … up to cap."""

    max_attempts: int
    base: timedelta
    cap: timedelta


@dataclass(frozen=True)
class Delivery:
    """One message to one person on one channel, and how its sending went."""

    notification_id: str
    event_id: str
    customer_id: str
    channel: str
    template: str
    language: str
    body: str
    status: Status
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    contact: str | None  # where it goes (phone, e-mail, customer id); shown masked only
    next_attempt_at: datetime | None
    urgent: bool
    last_error: str | None
    correlation_id: str | None
    traceparent: str | None = None  # the causing event's trace context: sending it later continues that trace


class NextTry(NamedTuple):
    at: datetime
    held: bool  # True: moved to the end of the quiet hours


def in_quiet_hours(now: datetime, start: time, end: time, tz: ZoneInfo) -> bool:
    """SPEC §7 (expected): no SMS at night; the quiet hours may wrap midnight (22:00-08:00)."""
    local = now.astimezone(tz).time()
    return (start <= local or local < end) if start > end else (start <= local < end)


def quiet_hours_end(now: datetime, end: time, tz: ZoneInfo) -> datetime:
    """The next instant the quiet hours end, when a held SMS goes out."""
    local = now.astimezone(tz)
    release = datetime.combine(local.date(), end, tzinfo=tz)
    return release if release > local else release + timedelta(days=1)


def hold_until(channel: str, urgent: bool, at: datetime, quiet: QuietHours) -> datetime | None:
    """SPEC §7 (expected): a non-urgent SMS due in the quiet hours waits until they end; None: it may go at `at`."""
    if channel != "SMS" or urgent or not in_quiet_hours(at, quiet.start, quiet.end, quiet.tz):
        return None
    return quiet_hours_end(at, quiet.end, quiet.tz)


def retry_delay(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential back-off after `attempts` failed deliveries: base, 2*base, 4*base, … up to cap."""
    return min(base * (1 << min(max(attempts - 1, 0), 32)), cap)


def next_try(channel: str, urgent: bool, failed_at: datetime, attempts: int, base: timedelta, cap: timedelta,
             quiet: QuietHours) -> NextTry:
    """SPEC §7 (expected): a failed delivery is retried with back-off; a retried SMS obeys the quiet hours too."""
    due = failed_at + retry_delay(attempts, base, cap)
    held = hold_until(channel, urgent, due, quiet)
    return NextTry(held, True) if held is not None else NextTry(due, False)


def new_delivery(*, notification_id: str, event_id: str, recipient: Recipient, channel: str, message: Message,
                 urgent: bool, now: datetime, quiet: QuietHours, through_gateway: bool,
                 correlation_id: str | None, traceparent: str | None = None) -> Delivery:
    """A message for one channel, as it is first recorded. A channel without a gateway is delivered at once (the
    record is the message); a non-urgent SMS in the quiet hours is held until they end; the rest waits for the
    delivery worker."""
    release = hold_until(channel, urgent, now, quiet)
    if release is not None:
        status, due = Status.HELD, release
    elif through_gateway:
        status, due = Status.PENDING, now
    else:
        status, due = Status.SENT, None
    sent = status is Status.SENT
    return Delivery(notification_id=notification_id, event_id=event_id, customer_id=recipient.customer_id,
                    channel=channel, template=message.template, language=message.language, body=message.body,
                    status=status, attempts=1 if sent else 0, created_at=now, sent_at=now if sent else None,
                    contact=recipient.contact(channel), next_attempt_at=due, urgent=urgent, last_error=None,
                    correlation_id=correlation_id, traceparent=traceparent)


def held(delivery: Delivery, now: datetime, quiet: QuietHours) -> Delivery | None:
    """A due SMS that would go in the quiet hours (e.g. queued behind a backlog) still waits for the morning;
    None: it may go now."""
    release = hold_until(delivery.channel, delivery.urgent, now, quiet)
    return None if release is None else replace(delivery, status=Status.HELD, next_attempt_at=release)


def sent(delivery: Delivery, now: datetime) -> Delivery:
    return replace(delivery, status=Status.SENT, attempts=delivery.attempts + 1, sent_at=now, next_attempt_at=None,
                   last_error=None)


def failed(delivery: Delivery, now: datetime, error: str, policy: RetryPolicy, quiet: QuietHours) -> Delivery:
    """SPEC §7 (expected): a failed delivery is retried with back-off (a retried SMS keeps the quiet hours) until
    it has been tried `max_attempts` times; then it is given up (FAILED), and reported."""
    attempts = delivery.attempts + 1
    if attempts >= policy.max_attempts:
        return replace(delivery, status=Status.FAILED, attempts=attempts, last_error=error, next_attempt_at=None)
    retry = next_try(delivery.channel, delivery.urgent, now, attempts, policy.base, policy.cap, quiet)
    return replace(delivery, status=Status.HELD if retry.held else Status.PENDING, attempts=attempts,
                   last_error=error, next_attempt_at=retry.at)
