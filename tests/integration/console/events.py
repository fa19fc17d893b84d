"""Events of every type the console reads, for one request, booking or branch (ids unique per call)."""

from datetime import date, datetime, time, timedelta
from typing import Any

from harness.builders import ACCOUNT_DAY, ref
from shared.contracts import appointments as A
from shared.contracts import confirmation as C
from shared.contracts import requests as R

DEADLINE = date(2020, 2, 4)  # the bank day after ACCOUNT_DAY: a task due then is "near"


def submitted(request_id: str, loan_id: str, branch_id: str, *, co_borrower: str | None = None,
              staff: bool = False, at: datetime = ACCOUNT_DAY) -> R.RequestSubmitted:
    extra: dict[str, Any] = {"staff_id": "S-1", "identity_verification": R.IdentityVerification(
        method=R.VerificationMethod.RECORDED_CALL, recording_id="REC-1")} if staff else {}
    return R.RequestSubmitted(
        request_id=request_id, command_id=ref("cmd"), loan_id=loan_id, request_type=R.RequestType.DEBIT_DAY_CHANGE,
        applicant_customer_id=f"{loan_id}-P", channel=R.Channel.HOTLINE if staff else R.Channel.APP,
        co_borrowers=[R.CoBorrowerRef(customer_id=co_borrower)] if co_borrower else [], deadline=DEADLINE,
        paper_documents_required=staff, policy_version="v1", branch_id=branch_id, confirmation_attempts=3,
        received_at=at, current_debit_day=10, new_debit_day=20, current_due_date=DEADLINE,
        new_due_date=date(2020, 2, 20), **extra)


def approved(request_id: str, loan_id: str, at: datetime = ACCOUNT_DAY) -> R.RequestApproved:
    return R.RequestApproved(request_id=request_id, loan_id=loan_id, request_type=R.RequestType.DEBIT_DAY_CHANGE,
                             approved_at=at, policy_version="v1", new_debit_day=20, new_due_date=date(2020, 2, 20))


def call_requested(task_id: str, request_id: str, loan_id: str, customer_id: str,
                   attempt: int = 1) -> C.ConfirmationCallRequested:
    return C.ConfirmationCallRequested(task_id=task_id, request_id=request_id, loan_id=loan_id,
                                       customer_id=customer_id, due_by=DEADLINE, attempt=attempt)


def confirmed(task_id: str, request_id: str, loan_id: str, customer_id: str,
              at: datetime = ACCOUNT_DAY) -> C.CoBorrowerConfirmed:
    return C.CoBorrowerConfirmed(task_id=task_id, request_id=request_id, loan_id=loan_id, customer_id=customer_id,
                                 agent_id="A-1", recording_id="REC-2", confirmed_at=at)


def policy(version: str, previous: str | None, at: datetime) -> R.PolicyChanged:
    return R.PolicyChanged(version=version, document={"name": version, "debit_day": {"min": 1, "max": 28}},
                           document_sha256="0" * 64, previous_version=previous, changed_by="policy-admin",
                           changed_at=at)


def booked(booking_id: str, branch_id: str, on: date, start: time) -> A.SlotBooked:
    end = (datetime.combine(on, start) + timedelta(minutes=30)).time()
    return A.SlotBooked(booking_id=booking_id, booking_code="SECRET-CODE", command_id=ref("cmd"),
                        customer_id=ref("C"), branch_id=branch_id, date=on, start_time=start, end_time=end,
                        service_type=A.ServiceType.OTHER)
