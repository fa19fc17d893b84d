"""Rules of post-loan change requests (SPEC §2–§5, §9): pure functions of loans, commands, requests and policy.

No I/O here: no database, broker, clock or id generation; callers pass all of them in. A refusal is the one
`shared.refusal.Refusal` of every domain, with this domain's `RefusalCode`.
"""

from services.requests.domain._lifecycle import (
    Approve,
    Expire,
    Ignore,
    Wait,
    apply_co_borrower_outcome,
    decide_withdrawal,
    expires_at,
    is_completed_by,
    should_expire,
)
from services.requests.domain._models import (
    BANK_TZ,
    OPEN_STATES,
    UNDECIDED_STATES,
    Accepted,
    Applicant,
    CoBorrowerOutcome,
    DebitDayChange,
    DebitDayTerms,
    EarlyRepayment,
    Loan,
    Outcome,
    Policy,
    RefusalCode,
    RepaymentTerms,
    Request,
    RequestType,
    State,
    Submission,
    Terms,
    Transition,
    Verification,
    Withdrawal,
)
from services.requests.domain._rules import (
    arrival_facts,
    cutoff,
    decide_debit_day_change,
    decide_early_repayment,
    decide_submission,
    due_dates_after,
    is_business_day,
    needs_verification,
    new_due_date,
    new_request,
    open_request_exists,
    start_of,
)
from shared.refusal import Refusal

__all__ = [
    "BANK_TZ", "OPEN_STATES", "UNDECIDED_STATES", "Accepted", "Applicant", "Approve", "CoBorrowerOutcome",
    "DebitDayChange", "DebitDayTerms", "EarlyRepayment", "Expire", "Ignore", "Loan", "Outcome", "Policy", "Refusal",
    "RefusalCode", "RepaymentTerms", "Request", "RequestType", "State", "Submission", "Terms", "Transition",
    "Verification", "Wait", "Withdrawal", "apply_co_borrower_outcome", "arrival_facts", "cutoff",
    "decide_debit_day_change", "decide_early_repayment", "decide_submission", "decide_withdrawal", "due_dates_after",
    "expires_at", "is_business_day", "is_completed_by", "needs_verification", "new_due_date", "new_request",
    "open_request_exists", "should_expire", "start_of",
]
