"""Rules of post-loan change requests (SPEC §2, §5, §9): pure functions of a loan, a command, a policy and 'now'.

No I/O here: no database, broker, clock or id generation; callers pass all of them in.
"""

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

BANK_TZ = ZoneInfo("Asia/Shanghai")
STAFF_CHANNELS = frozenset({"HOTLINE", "ACCOUNT_MANAGER"})


class ReasonCode(StrEnum):
    LOAN_NOT_FOUND = "LOAN_NOT_FOUND"
    LOAN_NOT_ACTIVE = "LOAN_NOT_ACTIVE"
    NOT_PRIMARY_BORROWER = "NOT_PRIMARY_BORROWER"
    CO_BORROWERS_NOT_ALLOWED_ONLINE = "CO_BORROWERS_NOT_ALLOWED_ONLINE"
    DAY_OUT_OF_RANGE = "DAY_OUT_OF_RANGE"
    SAME_DAY = "SAME_DAY"
    PAST_CUTOFF = "PAST_CUTOFF"
    OPEN_REQUEST_EXISTS = "OPEN_REQUEST_EXISTS"
    VERIFICATION_REQUIRED = "VERIFICATION_REQUIRED"


class State(StrEnum):
    SUBMITTED = "SUBMITTED"
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    APPROVED = "APPROVED"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"


OPEN_STATES = frozenset({State.SUBMITTED, State.AWAITING_CONFIRMATION, State.APPROVED})


@dataclass(frozen=True)
class Policy:
    """SPEC §9: the rules that changed in 2020, as data; every decision echoes `version`."""

    version: str
    min_debit_day: int
    max_debit_day: int
    co_borrower_loans_online: bool
    cutoff_days_before_due: int = 0
    confirmation_attempts: int = 3
    description: str = ""


@dataclass(frozen=True)
class Loan:
    loan_id: str
    status: str
    branch_id: str
    debit_day: int
    next_due_date: date
    outstanding_principal: Decimal
    primary_customer_id: str
    co_borrower_ids: tuple[str, ...]
    as_of: datetime


@dataclass(frozen=True)
class Verification:
    method: str
    recording_id: str | None


@dataclass(frozen=True)
class DebitDayChange:
    """The facts of a SubmitDebitDayChange command."""

    command_id: str
    loan_id: str
    applicant_customer_id: str
    channel: str
    new_debit_day: int
    submitted_at: datetime
    staff_id: str | None = None
    verification: Verification | None = None


@dataclass(frozen=True)
class Rejection:
    code: ReasonCode
    reason: str
    facts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DebitDayAccepted:
    """A valid debit-day change: approved at once without co-borrowers, else awaiting their confirmation."""

    current_debit_day: int
    new_debit_day: int
    current_due_date: date
    new_due_date: date
    next_due_dates: tuple[date, ...]
    co_borrower_ids: tuple[str, ...]
    paper_documents_required: bool

    @property
    def approved_at_once(self) -> bool:
        return not self.co_borrower_ids

    @property
    def state(self) -> State:
        return State.APPROVED if self.approved_at_once else State.AWAITING_CONFIRMATION


def new_due_date(d0: date, day: int) -> date:
    """SPEC §2: the first date after D0 whose day of month is `day`; so D0 < D1 <= D0 + 1 month for day <= 28."""
    if day > d0.day:
        candidate = _on_day(d0.year, d0.month, day)
        if candidate is not None:
            return candidate
    year, month = (d0.year + 1, 1) if d0.month == 12 else (d0.year, d0.month + 1)
    while (candidate := _on_day(year, month, day)) is None:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return candidate


def due_dates_after(d1: date, day: int, count: int) -> tuple[date, ...]:
    """D1 and the due dates that follow it on `day`: the preview a customer sees."""
    dates = [d1]
    while len(dates) < count:
        dates.append(new_due_date(dates[-1], day))
    return tuple(dates)


def _on_day(year: int, month: int, day: int) -> date | None:
    return date(year, month, day) if day <= calendar.monthrange(year, month)[1] else None


def cutoff(d0: date, policy: Policy) -> datetime:
    """SPEC §2 (expected): a request must arrive before D0 begins in the bank's time zone, less the policy's margin."""
    return datetime.combine(d0 - timedelta(days=policy.cutoff_days_before_due), time.min, tzinfo=BANK_TZ)


def needs_verification(channel: str, staff_id: str | None) -> bool:
    """SPEC §5: staff submitting on a customer's behalf must record how they verified the customer."""
    return staff_id is not None or channel in STAFF_CHANNELS


def verification_problem(channel: str, staff_id: str | None, verification: Verification | None) -> Rejection | None:
    if not needs_verification(channel, staff_id):
        return None
    if verification is None:
        return Rejection(ReasonCode.VERIFICATION_REQUIRED,
                         "A request submitted by staff needs the customer's identity verification.",
                         {"channel": channel, "staff_id": staff_id or ""})
    if verification.method == "RECORDED_CALL" and not verification.recording_id:
        return Rejection(ReasonCode.VERIFICATION_REQUIRED,
                         "A recorded-call verification must name its recording.",
                         {"channel": channel, "method": verification.method})
    return None


def applicant_problem(loan: Loan | None, applicant: str, policy: Policy, loan_id: str) -> Rejection | None:
    """SPEC §2: only the primary borrower of an active loan applies; policy decides if co-borrower loans may."""
    if loan is None:
        return Rejection(ReasonCode.LOAN_NOT_FOUND, "No loan with this number is known.", {"loan_id": loan_id})
    if loan.status != "ACTIVE":
        return Rejection(ReasonCode.LOAN_NOT_ACTIVE, "Only an active loan can be changed.", {"status": loan.status})
    if applicant != loan.primary_customer_id:
        role = "co-borrower" if applicant in loan.co_borrower_ids else "not a borrower"
        return Rejection(ReasonCode.NOT_PRIMARY_BORROWER,
                         "Only the primary borrower can apply; co-borrowers are confirmed by the service centre.",
                         {"applicant_role": role})
    if loan.co_borrower_ids and not policy.co_borrower_loans_online:
        return Rejection(ReasonCode.CO_BORROWERS_NOT_ALLOWED_ONLINE,
                         "Under this policy a loan with co-borrowers must be changed at the counter by all borrowers.",
                         {"co_borrowers": str(len(loan.co_borrower_ids)), "policy_version": policy.version})
    return None


def decide_debit_day_change(
    loan: Loan | None, cmd: DebitDayChange, policy: Policy, *, has_open_request: bool
) -> DebitDayAccepted | Rejection:
    """SPEC §2 and §5: accept or refuse a debit-day change, with the facts behind a refusal."""
    problem = verification_problem(cmd.channel, cmd.staff_id, cmd.verification) or applicant_problem(
        loan, cmd.applicant_customer_id, policy, cmd.loan_id
    )
    if problem is not None:
        return problem
    assert loan is not None
    day = cmd.new_debit_day
    if not policy.min_debit_day <= day <= policy.max_debit_day:
        return Rejection(ReasonCode.DAY_OUT_OF_RANGE,
                         f"The new debit day must be between {policy.min_debit_day} and {policy.max_debit_day}; "
                         f"{day} was asked for.",
                         {"allowed": f"{policy.min_debit_day}..{policy.max_debit_day}", "asked": str(day),
                          "policy_version": policy.version})
    if day == loan.debit_day:
        return Rejection(ReasonCode.SAME_DAY, f"The debit day is already {day}.", {"current_debit_day": str(day)})
    d0 = loan.next_due_date
    deadline = cutoff(d0, policy)
    if cmd.submitted_at >= deadline:
        return Rejection(ReasonCode.PAST_CUTOFF,
                         f"The request had to arrive before {deadline.isoformat()} (the instalment due {d0}).",
                         {"deadline": deadline.isoformat(), "arrived": cmd.submitted_at.isoformat()})
    if has_open_request:
        return Rejection(ReasonCode.OPEN_REQUEST_EXISTS, "This loan already has a request in progress.",
                         {"loan_id": loan.loan_id})
    d1 = new_due_date(d0, day)
    return DebitDayAccepted(
        current_debit_day=loan.debit_day, new_debit_day=day, current_due_date=d0, new_due_date=d1,
        next_due_dates=due_dates_after(d1, day, 3), co_borrower_ids=loan.co_borrower_ids,
        paper_documents_required=bool(loan.co_borrower_ids) or needs_verification(cmd.channel, cmd.staff_id),
    )
