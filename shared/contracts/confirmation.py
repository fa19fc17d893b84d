"""`confirmation.commands` and `confirmation.events`: co-borrower calls and paper documents (CONTRACT.md)."""

from enum import StrEnum

from pydantic import Field

from shared.contracts._base import Command, CommandRejected, Contract, Day, Timestamp


class CallOutcome(StrEnum):
    CONFIRMED = "CONFIRMED"
    DECLINED = "DECLINED"
    NO_ANSWER = "NO_ANSWER"
    WRONG_NUMBER = "WRONG_NUMBER"


class RecordCallOutcome(Command):
    task_id: str
    agent_id: str
    outcome: CallOutcome
    recording_id: str | None = Field(default=None, description="Required for CONFIRMED and DECLINED.")
    called_at: Timestamp
    note: str | None = None


class RecordPaperSignature(Command):
    request_id: str
    customer_id: str
    received_at: Timestamp
    received_by: str
    branch_id: str


class RecordRemoteSigning(Command):
    request_id: str
    customer_id: str
    signing_branch_id: str
    courier: str
    tracking_number: str
    signed_at: Timestamp


class ConfirmationCallRequested(Contract):
    task_id: str
    request_id: str
    loan_id: str
    customer_id: str
    due_by: Day
    attempt: int = Field(ge=1)
    deadline_near: bool = Field(default=False, description="Re-issued because the deadline is close (staff alert).")
    available_at: Timestamp | None = Field(default=None, description="Not to be called before this instant.")


class _CallResult(Contract):
    task_id: str
    request_id: str
    loan_id: str
    customer_id: str
    agent_id: str


class CoBorrowerConfirmed(_CallResult):
    recording_id: str
    confirmed_at: Timestamp
    paper_signature_owed: bool = True


class CoBorrowerDeclined(_CallResult):
    recording_id: str
    declined_at: Timestamp


class CoBorrowerUnreachable(Contract):
    task_id: str
    request_id: str
    loan_id: str
    customer_id: str
    agent_id: str | None = None
    attempts: int | None = None
    unreachable_at: Timestamp


class PaperSignatureReceived(Contract):
    request_id: str
    customer_id: str
    loan_id: str | None = None
    branch_id: str | None = None
    received_by: str | None = None
    received_at: Timestamp | None = None


class DocumentsInTransit(Contract):
    request_id: str
    customer_id: str
    loan_id: str | None = None
    signing_branch_id: str | None = None
    courier: str | None = None
    tracking_number: str | None = None
    signed_at: Timestamp | None = None


COMMAND_TYPES = (RecordCallOutcome, RecordPaperSignature, RecordRemoteSigning)
EVENT_TYPES = (
    ConfirmationCallRequested,
    CoBorrowerConfirmed,
    CoBorrowerDeclined,
    CoBorrowerUnreachable,
    PaperSignatureReceived,
    DocumentsInTransit,
    CommandRejected,
)
