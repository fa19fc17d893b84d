"""Rules of a request's life after submission (SPEC §2, §4): confirmation, withdrawal, expiry, completion."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.requests.domain._models import UNDECIDED_STATES, Loan, ReasonCode, Rejection, Request, RequestType, State
from services.requests.domain._rules import start_of


@dataclass(frozen=True)
class Approve:
    """Every co-borrower has confirmed: the instruction goes to core banking."""


@dataclass(frozen=True)
class Wait:
    confirmed_by: frozenset[str]


@dataclass(frozen=True)
class Ignore:
    """An outcome that changes nothing (the request is no longer waiting, or the person is not a co-borrower)."""

    reason: str


def apply_co_borrower_outcome(request: Request, customer_id: str, outcome: str) -> Approve | Wait | Rejection | Ignore:
    """SPEC §2: all confirmed -> approved; one refusal rejects; one unreachable co-borrower ends it."""
    if request.state is not State.AWAITING_CONFIRMATION:
        return Ignore(f"request is {request.state}, not awaiting confirmation")
    if customer_id not in request.co_borrower_ids:
        return Ignore("not a co-borrower of this request")
    if outcome == "DECLINED":
        return Rejection(ReasonCode.CO_BORROWER_DECLINED,
                         "A co-borrower did not agree to the change on a recorded call.", {"co_borrower": customer_id})
    if outcome == "UNREACHABLE":
        return Rejection(ReasonCode.CO_BORROWER_UNREACHABLE,
                         "A co-borrower could not be reached in the allowed number of calls.",
                         {"co_borrower": customer_id})
    confirmed = request.confirmed_by | {customer_id}
    return Approve() if confirmed >= set(request.co_borrower_ids) else Wait(confirmed)


def decide_withdrawal(request: Request | None, request_id: str, applicant_customer_id: str) -> State | Rejection:
    """Only the applicant withdraws, and only before the decision (an approval has gone to core banking)."""
    if request is None:
        return Rejection(ReasonCode.REQUEST_NOT_FOUND, "No request with this id is known.", {"request_id": request_id})
    if applicant_customer_id != request.applicant_customer_id:
        return Rejection(ReasonCode.NOT_APPLICANT, "Only the customer who applied can withdraw the request.",
                         {"request_id": request_id})
    if request.state not in UNDECIDED_STATES:
        return Rejection(ReasonCode.REQUEST_NOT_WITHDRAWABLE,
                         f"The request is {request.state.lower().replace('_', ' ')} and can no longer be withdrawn.",
                         {"state": request.state.value})
    return State.WITHDRAWN


def expires_at(request: Request) -> datetime:
    """SPEC §2: a request still undecided when its deadline day begins (Asia/Shanghai) expires."""
    return start_of(request.deadline)


def should_expire(request: Request, now: datetime) -> bool:
    return request.state in UNDECIDED_STATES and now >= expires_at(request)


def is_completed_by(request: Request, loan: Loan) -> bool:
    """SPEC §2: an approved change is complete when a loan snapshot shows it applied."""
    if request.state is not State.APPROVED:
        return False
    if request.request_type is RequestType.DEBIT_DAY_CHANGE:
        return loan.debit_day == int(request.terms["new_debit_day"])
    if loan.status == "SETTLED":
        return True
    before = Decimal(str(request.terms["principal_at_submission"]))
    return request.terms.get("repayment_type") == "PARTIAL" and loan.outstanding_principal < before
