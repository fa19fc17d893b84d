"""What the confirmation rules speak of: call tasks, their calls, the paper ledger, and the commands on them."""

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

BANK_TZ = ZoneInfo("Asia/Shanghai")
STAFF_CHANNELS = frozenset({"HOTLINE", "ACCOUNT_MANAGER"})
UNKNOWN_BRANCH = "UNKNOWN"
SETTLING = ("CONFIRMED", "DECLINED")  # the outcomes that settle a task by themselves, and need the recording


class TaskState(StrEnum):
    OPEN = "OPEN"  # waiting in the queue (possibly paused until `available_at`)
    CONFIRMED = "CONFIRMED"
    DECLINED = "DECLINED"
    UNREACHABLE = "UNREACHABLE"
    CLOSED = "CLOSED"  # the request ended before the call was made


FINISHED = frozenset({TaskState.CONFIRMED, TaskState.DECLINED, TaskState.UNREACHABLE, TaskState.CLOSED})


class PaperState(StrEnum):
    OWED = "OWED"
    IN_TRANSIT = "IN_TRANSIT"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


class RefusalCode(StrEnum):
    UNKNOWN_TASK = "UNKNOWN_TASK"
    TASK_CLOSED = "TASK_CLOSED"
    DUPLICATE_OUTCOME = "DUPLICATE_OUTCOME"
    DEADLINE_PASSED = "DEADLINE_PASSED"
    NOT_TASK_HOLDER = "NOT_TASK_HOLDER"
    RECORDING_REQUIRED = "RECORDING_REQUIRED"
    NOTHING_OWED = "NOTHING_OWED"
    ALREADY_RECEIVED = "ALREADY_RECEIVED"


@dataclass(frozen=True)
class Task:
    """One co-borrower to call for one request."""

    task_id: str
    request_id: str
    loan_id: str
    customer_id: str
    due_by: date
    state: TaskState
    attempts: int
    held_by: str | None
    lease_until: datetime | None
    available_at: datetime
    max_attempts: int | None = None  # from the request (SPEC §9); None on tasks from before requests carried it
    created_at: datetime | None = None  # when it joined the queue (None until stored)

    def leased_to(self, agent_id: str, now: datetime) -> bool:
        """The agent holds a live lease on the task (leases are enforced: nobody else may record its outcome)."""
        return self.held_by == agent_id and self.lease_until is not None and self.lease_until > now


@dataclass(frozen=True)
class CallRecord:
    """An outcome already recorded on a task (the audit trail of calls)."""

    command_id: str
    agent_id: str
    outcome: str
    recording_id: str | None
    called_at: datetime


@dataclass(frozen=True)
class Paper:
    """One paper signature owed by a customer for a request, and where it stands (the ledger's record)."""

    request_id: str
    customer_id: str
    loan_id: str
    branch_id: str  # the request's (the loan's home branch), where the paper is filed
    state: PaperState
    reason: str = "PHONE_CONFIRMATION"  # or STAFF_SUBMISSION
    owed_since: datetime | None = None
    received_at: datetime | None = None
    received_by: str | None = None
    received_branch_id: str | None = None
    signing_branch_id: str | None = None
    courier: str | None = None
    tracking_number: str | None = None
    signed_at: datetime | None = None


@dataclass(frozen=True)
class Request:
    """A request whose co-borrowers this service calls (as the requests service announced it)."""

    request_id: str
    loan_id: str
    applicant_customer_id: str
    deadline: date
    open: bool
    submitted_at: datetime
    branch_id: str | None  # None on requests stored before they carried it
    confirmation_attempts: int | None  # calls allowed per co-borrower; None on requests stored before


@dataclass(frozen=True)
class Loan:
    """The loan projection: only its branch matters here (requests stored before they carried one)."""

    loan_id: str
    branch_id: str
    as_of: datetime


@dataclass(frozen=True)
class Contact:
    """The number an agent calls for a customer, and whom they ask for (personal data: never logged)."""

    customer_id: str
    phone: str
    as_of: datetime
    name: str | None = None  # None on contacts stored before the desk showed names (until the next snapshot)


# --- what arrives: the wire messages, as the rules need them ----------------------------------------------------


@dataclass(frozen=True)
class LoanSnapshot:
    loan: Loan
    contacts: tuple[Contact, ...]


@dataclass(frozen=True)
class Submission:
    """A request submitted: its co-borrowers are to be called before its deadline."""

    request_id: str
    loan_id: str
    applicant_customer_id: str
    co_borrowers: tuple[str, ...]
    deadline: date
    branch_id: str
    confirmation_attempts: int
    channel: str
    staff_id: str | None
    submitted_at: datetime | None


@dataclass(frozen=True)
class CallReport:
    """An agent's outcome of a call on a task (RecordCallOutcome)."""

    command_id: str
    task_id: str
    agent_id: str
    outcome: str  # CONFIRMED | DECLINED | NO_ANSWER | WRONG_NUMBER
    recording_id: str | None
    called_at: datetime
    note: str | None = None


@dataclass(frozen=True)
class PaperReceipt:
    """The service centre received a paper signature (RecordPaperSignature)."""

    request_id: str
    customer_id: str
    received_at: datetime
    received_by: str
    branch_id: str


@dataclass(frozen=True)
class RemoteSigning:
    """Signed at another city's branch; the documents travel by courier (RecordRemoteSigning)."""

    request_id: str
    customer_id: str
    signing_branch_id: str
    courier: str
    tracking_number: str
    signed_at: datetime


@dataclass(frozen=True)
class Finished:
    """The call settled the task: CONFIRMED, DECLINED or UNREACHABLE."""

    task: Task


@dataclass(frozen=True)
class Retry:
    """No answer (or a wrong number) with attempts left: back in the queue after a pause."""

    task: Task
