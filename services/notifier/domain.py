"""Who hears about which event, in which words (SPEC §7). Pure: no I/O, no clock, no ids.

Templates are keyed by name and language; a missing template or variable raises, so a test fails, not a customer.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.notifier.templates import LANGUAGES, REASONS, TEMPLATES

DEFAULT_LANGUAGE = "zh-Hans"
STAFF = "STAFF"  # the service centre's channel and recipient id
SUBMISSIONS = frozenset({"SubmitDebitDayChange", "SubmitEarlyRepayment"})


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    language: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    template: str
    language: str
    body: str


def loan_tail(loan_id: str) -> str:
    """A loan number is shown masked: its last four characters only."""
    return loan_id[-4:]


def money(amount: Decimal | str, currency: str = "CNY") -> str:
    """Money in a message: currency and thousands separators, two decimals (5230.15 -> CNY 5,230.15)."""
    return f"{currency} {Decimal(str(amount)):,.2f}"


def reason_text(code: str | None, language: str, fallback: str) -> str:
    return REASONS.get(code or "", {}).get(language, fallback)


def render(template: str, language: str, **variables: object) -> Message:
    """The message in the customer's language; a missing template or variable raises (a test fails, not a customer)."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    text = TEMPLATES[template][lang]
    values = {k: _shown(v) for k, v in variables.items()}
    return Message(template=template, language=lang, body=text.format(**values))


def _shown(value: object) -> object:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value


@dataclass(frozen=True)
class QuietHours:
    """SPEC §7 (expected): the night hours without SMS, in the bank's time zone (configurable)."""

    start: time
    end: time
    tz: ZoneInfo


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


def next_try(channel: str, urgent: bool, failed_at: datetime, attempts: int, base: timedelta, cap: timedelta,
             quiet: QuietHours) -> NextTry:
    """SPEC §7 (expected): a failed delivery is retried with back-off; a retried SMS obeys the quiet hours too."""
    due = failed_at + retry_delay(attempts, base, cap)
    held = hold_until(channel, urgent, due, quiet)
    return NextTry(held, True) if held is not None else NextTry(due, False)


def retry_delay(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential back-off after `attempts` failed deliveries: base, 2*base, 4*base, … up to cap."""
    return min(base * (2 ** max(attempts - 1, 0)), cap)


def mask_contact(contact: str | None) -> str | None:
    """Contacts shown to staff: the last four characters only (13800138000 -> *******8000)."""
    if not contact:
        return contact
    return "*" * max(len(contact) - 4, 0) + contact[-4:]


def reminder_at(on: date, tz: ZoneInfo, hour: int = 9) -> datetime:
    """SPEC §7 (expected): a booking reminder the day before, in the morning of the branch's time zone."""
    return datetime.combine(on - timedelta(days=1), time(hour), tzinfo=tz)


def zone_or(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    """The named IANA time zone (a branch's); the fallback when it is absent or unknown."""
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a malformed name, or a directory of zones
        return fallback


def ends_request(command_type: str | None) -> bool:
    """CONTRACT 1.1: a RequestRejected answers a submission or ends a request. One naming another command (a
    refused WithdrawRequest, as 1.0 producers sent it) changed nothing: the customer is not told it ended."""
    return command_type is None or command_type in SUBMISSIONS


def refused_command_notice(command_type: str) -> str | None:
    """The template telling a customer their command was refused; None: a refusal customers do not hear of.

    Only a refused withdrawal concerns the customer (SPEC §7); it says the withdrawal failed, nothing more.
    """
    return "withdrawal_refused" if command_type == "WithdrawRequest" else None
