"""Rules of post-loan change requests (SPEC §2–§5, §9): pure functions of loans, commands, requests and policy.

No I/O here: no database, broker, clock or id generation; callers pass all of them in.
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
    DebitDayChange,
    EarlyRepayment,
    Loan,
    Policy,
    ReasonCode,
    Rejection,
    Request,
    RequestType,
    State,
    Verification,
)
from services.requests.domain._rules import (
    arrival_facts,
    cutoff,
    decide_debit_day_change,
    decide_early_repayment,
    due_dates_after,
    is_business_day,
    needs_verification,
    new_due_date,
    open_request_exists,
    start_of,
)

__all__ = [
    "BANK_TZ", "OPEN_STATES", "UNDECIDED_STATES", "Accepted", "Applicant", "Approve", "DebitDayChange",
    "EarlyRepayment", "Expire", "Ignore", "Loan", "Policy", "ReasonCode", "Rejection", "Request", "RequestType", "State",
    "Verification", "Wait", "apply_co_borrower_outcome", "arrival_facts", "cutoff", "decide_debit_day_change",
    "decide_early_repayment", "decide_withdrawal", "due_dates_after", "expires_at", "is_business_day",
    "is_completed_by", "needs_verification", "new_due_date", "open_request_exists", "should_expire", "start_of",
]
