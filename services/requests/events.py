"""Domain decisions of the requests service, written as contract events (CONTRACT.md `requests.events`)."""

from datetime import datetime
from typing import Any

from services.requests.domain import (
    Accepted,
    Applicant,
    DebitDayTerms,
    Refusal,
    RepaymentTerms,
    Request,
)
from shared.contracts import requests as contract


def submitted(request: Request, accepted: Accepted, applicant: Applicant, *,
              received_at: datetime) -> contract.RequestSubmitted:
    t = accepted.terms
    extra: dict[str, Any] = (
        {"current_debit_day": t.current_debit_day, "new_debit_day": t.new_debit_day,
         "current_due_date": t.current_due_date, "new_due_date": t.new_due_date,
         "next_due_dates": list(t.next_due_dates)}
        if isinstance(t, DebitDayTerms) else _repayment(t)
    )
    return contract.RequestSubmitted(
        request_id=request.request_id, command_id=request.command_id, loan_id=request.loan_id,
        request_type=contract.RequestType(request.request_type.value),
        applicant_customer_id=request.applicant_customer_id, channel=contract.Channel(request.channel),
        co_borrowers=[contract.CoBorrowerRef(customer_id=c) for c in request.co_borrower_ids],
        deadline=request.deadline, paper_documents_required=accepted.paper_documents_required,
        policy_version=request.policy_version, branch_id=request.branch_id,
        confirmation_attempts=request.confirmation_attempts, submitted_at=applicant.submitted_at,
        received_at=received_at, staff_id=request.staff_id, identity_verification=_verification(applicant), **extra,
    )


def _repayment(t: RepaymentTerms) -> dict[str, Any]:
    return {"repayment_type": contract.RepaymentType(t.repayment_type), "amount": t.amount,
            "requested_date": t.requested_date}


def _verification(applicant: Applicant) -> contract.IdentityVerification | None:
    v = applicant.verification
    if applicant.staff_id is None or v is None:
        return None
    return contract.IdentityVerification(method=contract.VerificationMethod(v.method), recording_id=v.recording_id)


def approved(request: Request, at: datetime) -> contract.RequestApproved:
    t = request.terms
    instruction: dict[str, Any] = (
        {"new_debit_day": t.new_debit_day, "new_due_date": t.new_due_date}
        if isinstance(t, DebitDayTerms) else _repayment(t)
    )
    return contract.RequestApproved(
        request_id=request.request_id, loan_id=request.loan_id,
        request_type=contract.RequestType(request.request_type.value), approved_at=at,
        policy_version=request.policy_version, applicant_customer_id=request.applicant_customer_id, **instruction,
    )


def completed(request: Request, at: datetime) -> contract.RequestCompleted:
    return contract.RequestCompleted(request_id=request.request_id, loan_id=request.loan_id, completed_at=at,
                                     applicant_customer_id=request.applicant_customer_id,
                                     request_type=contract.RequestType(request.request_type.value))


def withdrawn(request: Request, at: datetime) -> contract.RequestWithdrawn:
    return contract.RequestWithdrawn(request_id=request.request_id, loan_id=request.loan_id, withdrawn_at=at,
                                     applicant_customer_id=request.applicant_customer_id)


def expired(request: Request, at: datetime) -> contract.RequestExpired:
    return contract.RequestExpired(request_id=request.request_id, loan_id=request.loan_id, expired_at=at,
                                   applicant_customer_id=request.applicant_customer_id, deadline=request.deadline)


def rejected(*, command_id: str, loan_id: str, refusal: Refusal, policy_version: str, at: datetime,
             applicant: str | None, request_id: str | None = None) -> contract.RequestRejected:
    return contract.RequestRejected(
        request_id=request_id, command_id=command_id, loan_id=loan_id, reason_code=refusal.code.value,
        reason=refusal.reason, policy_version=policy_version, rejected_at=at, applicant_customer_id=applicant,
        facts={**refusal.facts, "policy_version": policy_version},
    )
