"""Rules of a request's life after submission (SPEC §2, §4): confirmation, withdrawal, expiry, completion."""

from dataclasses import dataclass
from datetime import datetime

from services.requests.domain._models import (
    BANK_TZ,
    UNDECIDED_STATES,
    DebitDayTerms,
    Loan,
    Outcome,
    RefusalCode,
    Request,
    State,
)
from services.requests.domain._rules import start_of
from shared.refusal import Refusal


@dataclass(frozen=True)
class Approve:
    """Every co-borrower has confirmed: the instruction goes to core banking."""


@dataclass(frozen=True)
class Wait:
    confirmed_by: frozenset[str]


@dataclass(frozen=True)
class Expire:
    """The deadline day has begun: nothing is approved and no outcome accepted any more (SPEC §2)."""


@dataclass(frozen=True)
class Ignore:
    """An outcome that changes nothing (the request is no longer waiting, or the person is not a co-borrower)."""

    reason: str


def apply_co_borrower_outcome(
    request: Request, customer_id: str, outcome: Outcome, *, now: datetime, recording_id: str | None = None
) -> Approve | Wait | Refusal | Expire | Ignore:
    """SPEC §2: all confirmed -> approved; one refusal rejects; one unreachable co-borrower ends it; once the
    deadline day has begun (on the service's clock `now`) the request expires instead, whatever the outcome."""
    if request.state is not State.AWAITING_CONFIRMATION:
        return Ignore(f"request is {request.state}, not awaiting confirmation")
    if customer_id not in request.co_borrower_ids:
        return Ignore("not a co-borrower of this request")
    if should_expire(request, now):
        return Expire()
    facts = {"co_borrower": customer_id}
    if outcome == Outcome.DECLINED:
        return Refusal(RefusalCode.CO_BORROWER_DECLINED,
                       "A co-borrower did not agree to the change on a recorded call.",
                       {**facts, "recording_id": recording_id or ""})
    if outcome == Outcome.UNREACHABLE:
        return Refusal(RefusalCode.CO_BORROWER_UNREACHABLE,
                       "A co-borrower could not be reached in the allowed number of calls.",
                       {**facts, "attempts_allowed": str(request.confirmation_attempts)})
    confirmed = request.confirmed_by | {customer_id}
    return Approve() if confirmed >= set(request.co_borrower_ids) else Wait(confirmed)


def decide_withdrawal(request: Request | None, request_id: str, applicant_customer_id: str) -> State | Refusal:
    """Only the applicant withdraws, and only before the decision (an approval has gone to core banking)."""
    if request is None:
        return Refusal(RefusalCode.REQUEST_NOT_FOUND, "No request with this id is known.", {"request_id": request_id})
    if applicant_customer_id != request.applicant_customer_id:
        return Refusal(RefusalCode.NOT_APPLICANT, "Only the customer who applied can withdraw the request.",
                       {"request_id": request_id})
    if request.state not in UNDECIDED_STATES:
        return Refusal(RefusalCode.REQUEST_NOT_WITHDRAWABLE,
                       f"The request is {request.state.lower().replace('_', ' ')} and can no longer be withdrawn.",
                       {"request_id": request_id, "state": request.state.value})
    return State.WITHDRAWN


def expires_at(request: Request) -> datetime:
    """SPEC §2: a request still undecided when its deadline day begins (Asia/Shanghai) expires."""
    return start_of(request.deadline)


def should_expire(request: Request, now: datetime) -> bool:
    return request.state in UNDECIDED_STATES and now >= expires_at(request)


def is_completed_by(request: Request, loan: Loan) -> bool:
    """SPEC §2, §3: an approved change is complete when a loan snapshot shows it applied.

    Debit day: the new day and a next due date on or after D1. Full repayment: the loan settled. Partial: a
    snapshot dated on or after the requested date whose principal fell by at least the amount. An ordinary
    instalment completes nothing.
    """
    if request.state is not State.APPROVED:
        return False
    t = request.terms
    if isinstance(t, DebitDayTerms):
        return loan.debit_day == t.new_debit_day and loan.next_due_date >= t.new_due_date
    if t.repayment_type == "FULL":
        return loan.status == "SETTLED"
    fell_by = t.principal_at_submission - loan.outstanding_principal
    on_or_after = loan.as_of.astimezone(BANK_TZ).date() >= t.requested_date
    return on_or_after and fell_by >= t.amount
