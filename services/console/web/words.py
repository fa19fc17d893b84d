"""Every refusal code of the owning services in plain words for staff (message ids, translated by the catalogs);
a code the console does not know yet is shown with the service's own words."""

from services.console.web import i18n


def N_(message: str) -> str:  # gettext's name for "mark for translation, translate later"
    return message


REASONS: dict[str, str] = {
    # requests
    "LOAN_NOT_FOUND": N_("No such loan is known."),
    "LOAN_NOT_ACTIVE": N_("The loan cannot be changed in its current status."),
    "NOT_PRIMARY_BORROWER": N_("Only the primary borrower may apply."),
    "CO_BORROWERS_NOT_ALLOWED_ONLINE": N_("The policy does not allow loans with co-borrowers to apply this way."),
    "DAY_OUT_OF_RANGE": N_("The debit day asked for is outside the range the policy allows."),
    "PAST_CUTOFF": N_("The request arrived after this instalment's cut-off."),
    "OPEN_REQUEST_EXISTS": N_("The loan already has a request in progress."),
    "VERIFICATION_REQUIRED": N_("A staff submission needs the customer's identity verification (a recorded call's "
                                "reference, or face to face)."),
    "INVALID_AMOUNT": N_("The amount is not valid (positive, and not above the outstanding principal)."),
    "INVALID_DATE": N_("The date is not valid: choose a future business day."),
    "CO_BORROWER_DECLINED": N_("A co-borrower declined the change."),
    "CO_BORROWER_UNREACHABLE": N_("A co-borrower could not be reached by phone."),
    "STAFF_REQUIRED": N_("Requests through this channel must name the member of staff."),
    "SUBMITTED_IN_FUTURE": N_("The request is dated in the future."),
    "REQUEST_NOT_FOUND": N_("No such request is known."),
    "NOT_APPLICANT": N_("Only the applicant may withdraw the request."),
    "REQUEST_NOT_WITHDRAWABLE": N_("The request can no longer be withdrawn."),
    # confirmation
    "UNKNOWN_TASK": N_("No such call task is known."),
    "TASK_CLOSED": N_("The call task is already closed."),
    "DUPLICATE_OUTCOME": N_("This outcome was already recorded."),
    "DEADLINE_PASSED": N_("The request's deadline has passed; the call no longer counts."),
    "NOT_TASK_HOLDER": N_("You do not hold this task (your hold ended, or another agent took it)."),
    "RECORDING_REQUIRED": N_("A confirmed or declined outcome needs the call recording's reference."),
    "NOTHING_OWED": N_("No paper signature is owed for this request and customer."),
    "ALREADY_RECEIVED": N_("The paper was already received."),
    # appointments
    "BRANCH_CLOSED": N_("The branch is closed that day."),
    "UNKNOWN_SLOT": N_("The branch has no slot at that time."),
    "SLOT_FULL": N_("The slot is full."),
    "DAY_FULL": N_("The branch's daily cap is reached."),
    "OUTSIDE_BOOKING_WINDOW": N_("The date is outside the booking window."),
    "DUPLICATE_BOOKING": N_("The customer already holds a booking at this branch that day."),
    "UNKNOWN_BRANCH": N_("No such branch is known."),
    "INVALID_PLAN": N_("The plan is not valid (windows must not overlap and must fit whole slots)."),
    "UNKNOWN_BOOKING": N_("No such booking is known."),
    "NOT_BOOKING_OWNER": N_("The booking belongs to another customer."),
    "BOOKING_NOT_ACTIVE": N_("The booking is no longer active (cancelled, checked in or missed)."),
    "UNKNOWN_CODE": N_("No booking at this branch has that code."),
    "ALREADY_CHECKED_IN": N_("The customer has already checked in."),
    "OUTSIDE_CHECKIN_WINDOW": N_("Check-in opens 30 minutes before the slot and closes 15 minutes after its start."),
    "CHECKIN_THROTTLED": N_("Too many failed check-ins at this branch; wait a minute and try again."),
}


def reason(code: str | None, said: str | None, language: str) -> str:
    """A refusal in the reader's language: ours for a known code, else what the service said."""
    if code in REASONS:
        return i18n.translations(language).gettext(REASONS[code])
    return said or ""


OUTCOMES: dict[str, str] = {"CONFIRMED": N_("Confirmed"), "DECLINED": N_("Declined"), "NO_ANSWER": N_("No answer"),
                            "WRONG_NUMBER": N_("Wrong number")}
STATES: dict[str, str] = {  # a request's states (the requests service's words)
    "AWAITING_CONFIRMATION": N_("Awaiting confirmation"), "APPROVED": N_("Approved"), "REJECTED": N_("Rejected"),
    "COMPLETED": N_("Completed"), "WITHDRAWN": N_("Withdrawn"), "EXPIRED": N_("Expired"),
    "SUBMITTED": N_("Submitted"),
}
