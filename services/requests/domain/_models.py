"""Domain types of the requests service: loans as this service sees them, commands, requests, decisions.

Frozen dataclasses only; no I/O.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

BANK_TZ = ZoneInfo("Asia/Shanghai")
STAFF_CHANNELS = frozenset({"HOTLINE", "ACCOUNT_MANAGER"})
COUNTER_CHANNEL = "BRANCH"  # SPEC §2: the counter stays open to loans with co-borrowers under every policy
MAX_CLOCK_SKEW = timedelta(minutes=5)  # SPEC §2: a `submitted_at` further ahead of the service's clock is refused


class RefusalCode(StrEnum):
    """Why a command was refused or a request ended (CONTRACT.md `RequestRejected.reason_code`, plus additions)."""

    LOAN_NOT_FOUND = "LOAN_NOT_FOUND"
    LOAN_NOT_ACTIVE = "LOAN_NOT_ACTIVE"
    NOT_PRIMARY_BORROWER = "NOT_PRIMARY_BORROWER"
    CO_BORROWERS_NOT_ALLOWED_ONLINE = "CO_BORROWERS_NOT_ALLOWED_ONLINE"
    DAY_OUT_OF_RANGE = "DAY_OUT_OF_RANGE"
    PAST_CUTOFF = "PAST_CUTOFF"
    OPEN_REQUEST_EXISTS = "OPEN_REQUEST_EXISTS"
    VERIFICATION_REQUIRED = "VERIFICATION_REQUIRED"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_DATE = "INVALID_DATE"
    CO_BORROWER_DECLINED = "CO_BORROWER_DECLINED"
    CO_BORROWER_UNREACHABLE = "CO_BORROWER_UNREACHABLE"
    # Additions (CONTRACT.md allows more codes).
    STAFF_REQUIRED = "STAFF_REQUIRED"  # a staff channel without the staff member who submits
    SUBMITTED_IN_FUTURE = "SUBMITTED_IN_FUTURE"  # `submitted_at` more than 5 minutes ahead of the service's clock
    # Refusals of a WithdrawRequest (answered with CommandRejected: they change nothing).
    REQUEST_NOT_FOUND = "REQUEST_NOT_FOUND"
    NOT_APPLICANT = "NOT_APPLICANT"
    REQUEST_NOT_WITHDRAWABLE = "REQUEST_NOT_WITHDRAWABLE"


class State(StrEnum):
    SUBMITTED = "SUBMITTED"
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    APPROVED = "APPROVED"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"


class RequestType(StrEnum):
    DEBIT_DAY_CHANGE = "DEBIT_DAY_CHANGE"
    EARLY_REPAYMENT = "EARLY_REPAYMENT"


OPEN_STATES = frozenset({State.SUBMITTED, State.AWAITING_CONFIRMATION, State.APPROVED})
UNDECIDED_STATES = frozenset({State.SUBMITTED, State.AWAITING_CONFIRMATION})


@dataclass(frozen=True)
class Policy:
    """SPEC §9: the rules that changed in 2020, as data; every decision echoes `version`."""

    version: str
    min_debit_day: int
    max_debit_day: int
    co_borrower_loans_online: bool
    cutoff_days_before_due: int = 0
    confirmation_attempts: int = 3
    early_repayment_max_days_ahead: int = 90
    description: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.min_debit_day <= self.max_debit_day <= 28:
            raise ValueError("allowed debit days must lie within 1..28, so that every month has them")
        if self.confirmation_attempts < 1 or self.cutoff_days_before_due < 0 or self.early_repayment_max_days_ahead < 1:
            raise ValueError("attempts and the repayment window must be positive, the cut-off not negative")


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
class Applicant:
    """Who applies, through which channel, and (for staff) how the customer's identity was checked."""

    customer_id: str
    channel: str
    submitted_at: datetime  # as the sender wrote it: kept for the record, never decides anything
    staff_id: str | None = None
    verification: Verification | None = None


@dataclass(frozen=True)
class DebitDayChange:
    command_id: str
    loan_id: str
    applicant: Applicant
    new_debit_day: int


@dataclass(frozen=True)
class EarlyRepayment:
    command_id: str
    loan_id: str
    applicant: Applicant
    repayment_type: str  # FULL | PARTIAL
    amount: Decimal | None
    requested_date: date


Submission = DebitDayChange | EarlyRepayment


@dataclass(frozen=True)
class Withdrawal:
    """The applicant takes back an undecided request (SPEC §2)."""

    command_id: str
    request_id: str
    applicant_customer_id: str


class Outcome(StrEnum):
    """What the service centre learnt from a co-borrower (SPEC §4)."""

    CONFIRMED = "CONFIRMED"
    DECLINED = "DECLINED"
    UNREACHABLE = "UNREACHABLE"


@dataclass(frozen=True)
class CoBorrowerOutcome:
    request_id: str
    customer_id: str
    outcome: Outcome
    agent_id: str | None = None
    recording_id: str | None = None


@dataclass(frozen=True)
class DebitDayTerms:
    """A debit-day change: the day and due date now and after, and the next due dates the customer is shown."""

    current_debit_day: int
    new_debit_day: int
    current_due_date: date
    new_due_date: date
    next_due_dates: tuple[date, ...]


@dataclass(frozen=True)
class RepaymentTerms:
    """An early repayment: what is repaid, on which day, and the principal when it was asked for."""

    repayment_type: str  # FULL | PARTIAL
    amount: Decimal
    requested_date: date
    principal_at_submission: Decimal


Terms = DebitDayTerms | RepaymentTerms  # what core banking is told to do, and the preview the customer sees


@dataclass(frozen=True)
class Accepted:
    """A valid request: approved at once without co-borrowers, else awaiting their confirmation."""

    request_type: RequestType
    deadline: date
    co_borrower_ids: tuple[str, ...]
    paper_documents_required: bool
    terms: Terms

    @property
    def state(self) -> State:
        return State.AWAITING_CONFIRMATION if self.co_borrower_ids else State.APPROVED


@dataclass(frozen=True)
class Request:
    request_id: str
    command_id: str
    loan_id: str
    request_type: RequestType
    state: State
    applicant_customer_id: str
    channel: str
    staff_id: str | None
    policy_version: str
    deadline: date
    co_borrower_ids: tuple[str, ...]
    confirmed_by: frozenset[str]
    terms: Terms
    branch_id: str = ""
    confirmation_attempts: int = 3

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Transition:
    """One entry of a request's audit trail (SPEC §10): who moved it where, when, through which channel, under
    which policy, on which recording, and the message that caused it."""

    request_id: str
    at: datetime
    from_state: State | None
    to_state: State
    actor: str
    actor_kind: str  # CUSTOMER | STAFF | AGENT | SYSTEM | CORE_BANKING
    policy_version: str
    channel: str | None = None
    recording_id: str | None = None
    reason_code: str | None = None
    event_id: str | None = None
    verification_method: str | None = None  # staff submissions: RECORDED_CALL | FACE_TO_FACE (SPEC §5)
    on_behalf_of: str | None = None  # staff submissions: the customer the staff member acted for
