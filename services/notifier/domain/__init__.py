"""The notifier's rules (SPEC §7). Pure: no I/O, no clock, no ids.

- `_news`: who is told of what — each piece of news becomes the notices it owes;
- `_messages`: in which words — templates by name and language, money, masked numbers;
- `_deliveries`: when a message goes, how long it is retried, when it is given up — and the SMS quiet hours;
- `_recipients`: who can be reached, and how (from the loan snapshots), and the service centre.
"""

from services.notifier.domain._deliveries import (
    Delivery,
    NextTry,
    QuietHours,
    RetryPolicy,
    Status,
    failed,
    held,
    hold_until,
    in_quiet_hours,
    new_delivery,
    next_try,
    quiet_hours_end,
    retry_delay,
    sent,
)
from services.notifier.domain._messages import (
    DEFAULT_LANGUAGE,
    Message,
    loan_tail,
    mask_contact,
    money,
    reason_text,
    render,
)
from services.notifier.domain._news import (
    Approved,
    Booked,
    Booking,
    BookingCancelled,
    BookingDue,
    BookingLapsed,
    BookingRefused,
    CallTaskIssued,
    CheckedIn,
    CommandRefused,
    News,
    Notice,
    Refused,
    RequestMoved,
    RequestRefused,
    RequestStep,
    ends_request,
    notices,
    refused_command_notice,
    reminder_at,
    reminder_due,
    reminder_event_id,
    zone_or,
)
from services.notifier.domain._recipients import STAFF, STAFF_RECIPIENT, Borrower, LoanBorrowers, Recipient

__all__ = [
    "DEFAULT_LANGUAGE", "STAFF", "STAFF_RECIPIENT", "Approved", "Booked", "Booking", "BookingCancelled", "BookingDue",
    "BookingLapsed", "BookingRefused", "Borrower", "CallTaskIssued", "CheckedIn", "CommandRefused", "Delivery",
    "LoanBorrowers", "Message", "News", "NextTry", "Notice", "QuietHours", "Recipient", "Refused", "RequestMoved",
    "RequestRefused", "RequestStep", "RetryPolicy", "Status", "ends_request", "failed", "held", "hold_until",
    "in_quiet_hours", "loan_tail", "mask_contact", "money", "new_delivery", "next_try", "notices",
    "quiet_hours_end", "reason_text", "refused_command_notice", "reminder_at", "reminder_due", "reminder_event_id",
    "render", "retry_delay", "sent", "zone_or",
]
