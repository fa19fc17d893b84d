"""Who is told of what (SPEC §7): each piece of news the notifier hears becomes the notices it owes, each a
template for one addressee (a customer, a loan's primary borrower, or the service centre)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.notifier.domain._messages import Message, loan_tail, money, reason_text, render

SUBMISSIONS = frozenset({"SubmitDebitDayChange", "SubmitEarlyRepayment"})


@dataclass(frozen=True)
class Refused:
    """A refusal as its sender worded it: the code (told in our own words, per language) and its own text (the
    fallback for a code we have no words for)."""

    code: str
    reason: str

    def words(self, language: str) -> str:
        return reason_text(self.code, language, self.reason)


@dataclass(frozen=True)
class Notice:
    """One message owed: which template, to whom, with what. `customer_id` None with a `loan_id`: the loan's
    primary borrower is told. `refusal` becomes the {reason} in the addressee's language."""

    template: str
    customer_id: str | None = None
    loan_id: str | None = None  # shown by its last four characters
    variables: Mapping[str, object] = field(default_factory=dict)
    refusal: Refused | None = None
    staff: bool = False  # to the service centre, not a customer
    urgent: bool = False  # an urgent SMS ignores the quiet hours
    event_id: str | None = None  # its own event id (a reminder); None: the id of the event that caused it

    def message(self, language: str) -> Message:
        variables = dict(self.variables)
        if self.loan_id is not None:
            variables["loan_tail"] = loan_tail(self.loan_id)
        if self.refusal is not None:
            variables["reason"] = self.refusal.words(language)
        return render(self.template, language, **variables)


# --- the news: what the notifier hears of, in its own terms ----------------------------------------------------


class RequestStep(StrEnum):
    RECEIVED = "request_received"
    WITHDRAWN = "request_withdrawn"
    EXPIRED = "request_expired"
    COMPLETED = "request_completed"


@dataclass(frozen=True)
class RequestMoved:
    """A change request was received, withdrawn, expired or completed. `applicant` None: the primary borrower."""

    step: RequestStep
    loan_id: str
    applicant: str | None
    deadline: date | None = None  # an expired request's


@dataclass(frozen=True)
class Approved:
    loan_id: str
    applicant: str | None
    early_repayment: bool
    new_debit_day: int | None = None
    new_due_date: date | None = None
    amount: Decimal | None = None
    requested_date: date | None = None


@dataclass(frozen=True)
class RequestRefused:
    """A RequestRejected: a submission refused, or a request ended by its co-borrowers' outcome; one naming
    another command (`command_type`) is a refused command (CONTRACT 1.0 producers)."""

    loan_id: str
    applicant: str | None
    refusal: Refused
    command_type: str | None = None


@dataclass(frozen=True)
class CommandRefused:
    command_type: str | None
    customer_id: str | None
    refusal: Refused


@dataclass(frozen=True)
class Booking:
    booking_id: str
    customer_id: str
    code: str
    on: date
    at: time
    branch_name: str
    branch_address: str
    branch_timezone: str | None = None  # IANA name; None: unknown


@dataclass(frozen=True)
class Booked:
    booking: Booking


@dataclass(frozen=True)
class BookingDue:
    """The reminder of a booking, the day before."""

    booking: Booking


@dataclass(frozen=True)
class BookingRefused:
    customer_id: str
    on: date
    at: time
    refusal: Refused


@dataclass(frozen=True)
class BookingCancelled:
    booking_id: str
    customer_id: str
    on: date | None
    at: time | None


@dataclass(frozen=True)
class BookingLapsed:
    """A no-show."""

    customer_id: str
    on: date
    at: time


@dataclass(frozen=True)
class CheckedIn:
    customer_id: str | None
    ticket: str


@dataclass(frozen=True)
class CallTaskIssued:
    task_id: str
    loan_id: str
    due_by: date
    attempt: int
    deadline_near: bool


News = (RequestMoved | Approved | RequestRefused | CommandRefused | Booked | BookingDue | BookingRefused
        | BookingCancelled | BookingLapsed | CheckedIn | CallTaskIssued)


def notices(news: News) -> list[Notice]:
    """SPEC §7: who hears of `news`, in which template, with what (never silence for a customer's own news)."""
    match news:
        case RequestMoved(step, loan_id, applicant, deadline):
            extra = {"deadline": deadline or ""} if step is RequestStep.EXPIRED else {}
            return [Notice(step.value, applicant, loan_id, extra)]
        case Approved(loan_id, applicant) if news.early_repayment:
            return [Notice("repayment_approved", applicant, loan_id,
                           {"amount": money(news.amount or Decimal(0)), "requested_date": news.requested_date})]
        case Approved(loan_id, applicant):
            return [Notice("request_approved", applicant, loan_id,
                           {"new_debit_day": news.new_debit_day, "new_due_date": news.new_due_date})]
        case RequestRefused(loan_id, applicant, refusal, command_type) if ends_request(command_type):
            return [Notice("request_rejected", applicant, loan_id, refusal=refusal)]
        case RequestRefused(_, applicant, refusal, command_type):  # a 1.0 producer's refused WithdrawRequest
            return notices(CommandRefused(command_type, applicant, refusal))
        case CommandRefused(command_type, customer_id, refusal):
            template = refused_command_notice(command_type or "")
            return [] if template is None or customer_id is None else [Notice(template, customer_id, refusal=refusal)]
        case Booked(b):
            return [Notice("booking_confirmed", b.customer_id, variables={
                "code": b.code, "date": b.on, "time": b.at, "branch_name": b.branch_name,
                "branch_address": b.branch_address})]
        case BookingDue(b):
            return [Notice("booking_reminder", b.customer_id, event_id=reminder_event_id(b.booking_id), variables={
                "code": b.code, "time": b.at, "branch_name": b.branch_name, "branch_address": b.branch_address})]
        case BookingRefused(customer_id, on, at, refusal):
            return [Notice("booking_rejected", customer_id, variables={"date": on, "time": at}, refusal=refusal)]
        case BookingCancelled(_, customer_id, on, at):
            # A cancellation that does not say which slot is not worth a message.
            return [] if on is None or at is None else [
                Notice("booking_cancelled", customer_id, variables={"date": on, "time": at})]
        case BookingLapsed(customer_id, on, at):
            return [Notice("booking_no_show", customer_id, variables={"date": on, "time": at})]
        case CheckedIn(customer_id, ticket):
            return [Notice("checked_in", customer_id, variables={"ticket": ticket})]
        case CallTaskIssued(task_id, loan_id, due_by, attempt, deadline_near):
            # The service centre hears of a new task, and of a task still open near its deadline (urgent).
            template = "staff_deadline_near" if deadline_near else "staff_call_task" if attempt == 1 else None
            return [] if template is None else [Notice(template, loan_id=loan_id, staff=True, urgent=deadline_near,
                                                       variables={"task_id": task_id, "due_by": due_by})]


def ends_request(command_type: str | None) -> bool:
    """CONTRACT 1.1: a RequestRejected answers a submission or ends a request. One naming another command (a
    refused WithdrawRequest, as 1.0 producers sent it) changed nothing: the customer is not told it ended."""
    return command_type is None or command_type in SUBMISSIONS


def refused_command_notice(command_type: str) -> str | None:
    """The template telling a customer their command was refused; None: a refusal customers do not hear of.

    Only a refused withdrawal concerns the customer (SPEC §7); it says the withdrawal failed, nothing more.
    """
    return "withdrawal_refused" if command_type == "WithdrawRequest" else None


def reminder_event_id(booking_id: str) -> str:
    """A reminder is news of its own: one per booking, however often its timer fires."""
    return f"reminder:{booking_id}"


def reminder_at(on: date, tz: ZoneInfo, hour: int = 9) -> datetime:
    """SPEC §7 (expected): a booking reminder the day before, in the morning of the branch's time zone."""
    return datetime.combine(on - timedelta(days=1), time(hour), tzinfo=tz)


def reminder_due(booking: Booking, now: datetime, fallback: ZoneInfo) -> datetime | None:
    """When the booking's reminder goes (the branch's time zone, else `fallback`); None: booked too late for one
    (for tomorrow, after this morning), the confirmation is the reminder."""
    due = reminder_at(booking.on, zone_or(booking.branch_timezone, fallback))
    return due if due > now else None


def zone_or(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    """The named IANA time zone (a branch's); the fallback when it is absent or unknown."""
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a malformed name, or a directory of zones
        return fallback
