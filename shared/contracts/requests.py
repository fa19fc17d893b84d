"""`requests.commands` and `requests.events`: post-loan change requests (CONTRACT.md)."""

from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

# Channel and RequestType are re-exported (`X as X`): fields of this topic's types, named by their users from here.
from shared.contracts._base import Channel as Channel
from shared.contracts._base import Command, CommandRejected, Contract, Day, Money, Timestamp
from shared.contracts._base import RequestType as RequestType


class VerificationMethod(StrEnum):
    RECORDED_CALL = "RECORDED_CALL"
    FACE_TO_FACE = "FACE_TO_FACE"


class IdentityVerification(Contract):
    method: VerificationMethod
    recording_id: str | None = None


class RepaymentType(StrEnum):
    FULL = "FULL"
    PARTIAL = "PARTIAL"


class _Application(Command):
    loan_id: str
    applicant_customer_id: str
    channel: Channel
    submitted_at: Timestamp
    reason: str | None = None
    staff_id: str | None = Field(default=None, description="Set when staff submit on the customer's behalf.")
    identity_verification: IdentityVerification | None = None


class SubmitDebitDayChange(_Application):
    new_debit_day: int = Field(description="Requested day of month; the policy decides the allowed range.")


class SubmitEarlyRepayment(_Application):
    repayment_type: RepaymentType
    amount: Money | None = Field(default=None, description="Required for PARTIAL.")
    requested_date: Day


class WithdrawRequest(Command):
    request_id: str
    applicant_customer_id: str


class CoBorrowerRef(Contract):
    customer_id: str


class RequestSubmitted(Contract):
    request_id: str
    command_id: str
    loan_id: str
    request_type: RequestType
    applicant_customer_id: str
    channel: Channel
    co_borrowers: list[CoBorrowerRef]
    deadline: Day
    paper_documents_required: bool
    policy_version: str
    branch_id: str = Field(description="The loan's branch (where paper documents are filed).")
    confirmation_attempts: int = Field(ge=1, description="Calls allowed per co-borrower, from the policy in force.")
    submitted_at: Timestamp | None = Field(default=None, description="As the sender wrote it; kept for the record.")
    received_at: Timestamp | None = Field(default=None, description="When the service decided, on its own clock.")
    staff_id: str | None = None
    identity_verification: IdentityVerification | None = Field(
        default=None, description="For a staff submission: the verification method and recording reference.")
    current_debit_day: int | None = None
    new_debit_day: int | None = None
    current_due_date: Day | None = None
    new_due_date: Day | None = None
    next_due_dates: list[Day] | None = Field(default=None, description="Preview of the next due dates.")
    repayment_type: RepaymentType | None = None
    amount: Money | None = None
    requested_date: Day | None = None

    @model_validator(mode="after")
    def _debit_day_fields(self) -> "RequestSubmitted":
        if self.request_type is RequestType.DEBIT_DAY_CHANGE and None in (
            self.current_debit_day, self.new_debit_day, self.current_due_date, self.new_due_date
        ):
            raise ValueError("a debit-day change carries current/new debit day and current/new due date")
        return self


class RequestRejected(Contract):
    request_id: str | None = Field(default=None, description="Absent when refused before creation.")
    command_id: str
    loan_id: str
    reason_code: str
    reason: str
    policy_version: str
    rejected_at: Timestamp | None = None
    applicant_customer_id: str | None = None
    facts: dict[str, str] = Field(description="The facts the refusal rests on.")
    command_type: str | None = Field(default=None, description="Set when the refused command is not a submission.")


class PolicyChanged(Contract):
    """SPEC §9: a policy version was put in force; the whole document travels so any instant can be replayed."""

    version: str
    document: dict[str, Any]
    document_sha256: str
    previous_version: str | None = Field(default=None, description="Absent for the first policy put in force.")
    changed_by: str
    changed_at: Timestamp


class RequestApproved(Contract):
    request_id: str
    loan_id: str
    request_type: RequestType
    approved_at: Timestamp
    policy_version: str
    applicant_customer_id: str | None = None
    new_debit_day: int | None = None
    new_due_date: Day | None = None
    repayment_type: RepaymentType | None = None
    amount: Money | None = None
    requested_date: Day | None = None


class RequestCompleted(Contract):
    request_id: str
    loan_id: str
    completed_at: Timestamp
    applicant_customer_id: str | None = None
    request_type: RequestType | None = None


class RequestWithdrawn(Contract):
    request_id: str
    loan_id: str
    withdrawn_at: Timestamp
    applicant_customer_id: str | None = None


class RequestExpired(Contract):
    request_id: str
    loan_id: str
    expired_at: Timestamp
    applicant_customer_id: str | None = None
    deadline: Day | None = None


COMMAND_TYPES = (SubmitDebitDayChange, SubmitEarlyRepayment, WithdrawRequest)
EVENT_TYPES = (
    RequestSubmitted,
    RequestRejected,
    RequestApproved,
    RequestCompleted,
    RequestWithdrawn,
    RequestExpired,
    CommandRejected,
    PolicyChanged,
)
