"""Rules of co-borrower confirmation and paper documents (SPEC §4, §5). Pure: no I/O, 'now' passed in.

A refusal is the one `shared.refusal.Refusal` of every domain, with this domain's `RefusalCode`.
"""

from services.confirmation.domain._models import (
    BANK_TZ,
    FINISHED,
    STAFF_CHANNELS,
    UNKNOWN_BRANCH,
    CallRecord,
    CallReport,
    Contact,
    Finished,
    Loan,
    LoanSnapshot,
    Paper,
    PaperReceipt,
    PaperState,
    RefusalCode,
    RemoteSigning,
    Request,
    Retry,
    Submission,
    Task,
    TaskState,
)
from services.confirmation.domain._rules import (
    alert_at,
    attempts_allowed,
    bank_day,
    deadline_instant,
    deadline_near,
    deadline_passed,
    earliest_useful_due_by,
    owes_paper_for_applicant,
    paper_age_days,
    paper_branch,
    paper_owed,
    receive_paper,
    record_outcome,
    request_of,
    send_remote_signing,
    supersedes,
    task_for,
)
from shared.refusal import Refusal

__all__ = [
    "BANK_TZ", "FINISHED", "STAFF_CHANNELS", "UNKNOWN_BRANCH", "CallRecord", "CallReport", "Contact", "Finished",
    "Loan", "LoanSnapshot", "Paper", "PaperReceipt", "PaperState", "Refusal", "RefusalCode", "RemoteSigning",
    "Request", "Retry", "Submission", "Task", "TaskState", "alert_at", "attempts_allowed", "bank_day",
    "deadline_instant", "deadline_near", "deadline_passed", "earliest_useful_due_by", "owes_paper_for_applicant",
    "paper_age_days", "paper_branch", "paper_owed", "receive_paper", "record_outcome", "request_of",
    "send_remote_signing", "supersedes", "task_for",
]
