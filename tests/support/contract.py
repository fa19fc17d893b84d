"""CONTRACT.md 1.1 transcribed: the types on each topic, the fields every message of a type carries, and the
bounds every record a service emits stays within. The unit tests check the models against it; the end-to-end
audit checks every record the services wrote during a run."""

from typing import Any

from shared import topics

# Transcribed from CONTRACT.md 1.1 ("Topics" and "Data of each type"): the fields every message of a type carries.
CONTRACT: dict[str, dict[str, list[str]]] = {
    topics.LOANS_SNAPSHOTS: {
        "LoanSnapshot": ["loan_id", "status", "product", "branch_id", "currency", "instalment_amount",
                         "outstanding_principal", "debit_day", "next_due_date", "borrowers", "as_of"],
    },
    topics.REQUESTS_COMMANDS: {
        "SubmitDebitDayChange": ["command_id", "loan_id", "applicant_customer_id", "channel", "new_debit_day",
                                 "submitted_at"],
        "SubmitEarlyRepayment": ["command_id", "loan_id", "applicant_customer_id", "channel", "submitted_at",
                                 "repayment_type", "requested_date"],
        "WithdrawRequest": ["command_id", "request_id", "applicant_customer_id"],
    },
    topics.REQUESTS_EVENTS: {
        "RequestSubmitted": ["request_id", "command_id", "loan_id", "request_type", "applicant_customer_id",
                             "channel", "co_borrowers", "deadline", "paper_documents_required", "policy_version",
                             "branch_id", "confirmation_attempts"],
        "RequestRejected": ["command_id", "loan_id", "reason_code", "reason", "facts", "policy_version"],
        "RequestApproved": ["request_id", "loan_id", "request_type", "approved_at", "policy_version"],
        "RequestCompleted": ["request_id", "loan_id", "completed_at"],
        "RequestWithdrawn": ["request_id", "loan_id", "withdrawn_at"],
        "RequestExpired": ["request_id", "loan_id", "expired_at"],
        "CommandRejected": ["command_id", "command_type", "reason_code", "reason", "facts"],
        "PolicyChanged": ["version", "document", "document_sha256", "changed_by", "changed_at"],
    },
    topics.CONFIRMATION_COMMANDS: {
        "RecordCallOutcome": ["command_id", "task_id", "agent_id", "outcome", "called_at"],
        "RecordPaperSignature": ["command_id", "request_id", "customer_id", "received_at", "received_by",
                                 "branch_id"],
        "RecordRemoteSigning": ["command_id", "request_id", "customer_id", "signing_branch_id", "courier",
                                "tracking_number", "signed_at"],
    },
    topics.CONFIRMATION_EVENTS: {
        "ConfirmationCallRequested": ["task_id", "request_id", "loan_id", "customer_id", "due_by", "attempt"],
        "CoBorrowerConfirmed": ["task_id", "request_id", "loan_id", "customer_id", "agent_id", "recording_id",
                                "confirmed_at"],
        "CoBorrowerDeclined": ["task_id", "request_id", "loan_id", "customer_id", "agent_id", "recording_id",
                               "declined_at"],
        "CoBorrowerUnreachable": ["task_id", "request_id", "loan_id", "customer_id", "unreachable_at"],
        "PaperSignatureReceived": ["request_id", "customer_id"],
        "DocumentsInTransit": ["request_id", "customer_id"],
        "CommandRejected": ["command_id", "command_type", "reason_code", "reason", "facts"],
    },
    topics.APPOINTMENTS_COMMANDS: {
        "BookSlot": ["command_id", "customer_id", "branch_id", "date", "start_time", "service_type"],
        "CancelBooking": ["command_id", "booking_id", "customer_id"],
        "CheckIn": ["command_id", "branch_id", "booking_code", "at"],
        "SetBranchPlan": ["command_id", "branch_id", "name", "address", "timezone", "slot_minutes", "daily_cap",
                          "weekly"],
        "SetDateOverride": ["command_id", "branch_id", "date"],
    },
    topics.APPOINTMENTS_EVENTS: {
        "SlotBooked": ["booking_id", "booking_code", "command_id", "customer_id", "branch_id", "date",
                       "start_time", "end_time", "service_type"],
        "BookingRejected": ["command_id", "customer_id", "branch_id", "date", "start_time", "reason_code",
                            "reason", "facts"],
        "BookingCancelled": ["booking_id"],
        "CheckedIn": ["booking_id", "ticket_number", "priority"],
        "NoShow": ["booking_id"],
        "BranchPlanChanged": ["branch_id", "over_capacity", "over_daily_cap"],
        "CommandRejected": ["command_id", "command_type", "reason_code", "reason", "facts"],
    },
    topics.NOTIFICATIONS_EVENTS: {
        "NotificationSent": ["notification_id", "event_id", "customer_id", "channel", "template", "language",
                             "sent_at"],
        "NotificationFailed": ["notification_id", "event_id", "customer_id", "channel", "template", "language",
                               "failed_at", "error", "attempts"],
    },
}
# Fields CONTRACT.md names as optional or conditional: they must exist, but may be absent on the wire.
OPTIONAL = {
    "SubmitDebitDayChange": ["reason", "staff_id", "identity_verification"],
    "SubmitEarlyRepayment": ["amount", "reason", "staff_id", "identity_verification"],
    "RequestSubmitted": ["current_debit_day", "new_debit_day", "current_due_date", "new_due_date", "staff_id",
                         "identity_verification"],
    "CommandRejected": ["request_id", "booking_id", "task_id"],
    "PolicyChanged": ["previous_version"],
    "SetBranchPlan": ["booking_window_days"],
    "RequestRejected": ["request_id"],
    "RequestApproved": ["new_debit_day", "new_due_date", "repayment_type", "amount", "requested_date"],
    "RecordCallOutcome": ["recording_id", "note"],
    "BookSlot": ["request_id", "note"],
    "SetDateOverride": ["closed", "windows", "daily_cap"],
    "BranchPlanChanged": ["daily_caps"],
}

MAX_VALUE = 64 * 1024  # bytes of one record value
MAX_ID, MAX_SHORT, MAX_TEXT = 128, 256, 1000
FREE_TEXT = {"reason", "note", "description", "error"}


def bound_violations(obj: Any, path: str = "data") -> list[str]:
    """CONTRACT.md "Bounds": identifiers (`id`, `*_id`) at most 128 characters, other text 256, free text 1,000,
    no NUL anywhere, integers within a signed 32-bit range."""
    found: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += bound_violations(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found += bound_violations(value, f"{path}[{i}]")
    elif isinstance(obj, str):
        leaf = path.rsplit(".", 1)[-1]
        limit = MAX_TEXT if leaf in FREE_TEXT else MAX_ID if leaf == "id" or leaf.endswith("_id") else MAX_SHORT
        if "\x00" in obj:
            found.append(f"NUL in {path}")
        if len(obj) > limit and ".document." not in f"{path}.":
            found.append(f"{path}: {len(obj)} characters > {limit}")
    elif isinstance(obj, int) and not isinstance(obj, bool) and not -(2**31) <= obj < 2**31:
        found.append(f"{path}: {obj} outside the 32-bit range")
    return found
