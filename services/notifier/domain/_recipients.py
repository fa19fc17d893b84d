"""Who can be reached, and how: the recipients projected from loan snapshots, and the service centre."""

from dataclasses import dataclass
from datetime import datetime

from services.notifier.domain._messages import DEFAULT_LANGUAGE

STAFF = "STAFF"  # the service centre's channel and recipient id
PRIMARY = "PRIMARY"  # the role of a loan's primary borrower


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    language: str
    channels: tuple[str, ...]
    phone: str | None = None  # contact details are needed to deliver; they never reach a log
    email: str | None = None

    def contact(self, channel: str) -> str:
        """Where a message on `channel` goes: the phone for SMS, the e-mail for EMAIL, else the customer id."""
        return {"SMS": self.phone, "EMAIL": self.email}.get(channel) or self.customer_id


STAFF_RECIPIENT = Recipient(STAFF, DEFAULT_LANGUAGE, (STAFF,))


@dataclass(frozen=True)
class Borrower:
    recipient: Recipient
    role: str  # PRIMARY | CO_BORROWER


@dataclass(frozen=True)
class LoanBorrowers:
    """Who holds a loan and how to reach them, as of a snapshot (CONTRACT: the newest `as_of` wins)."""

    loan_id: str
    as_of: datetime
    borrowers: tuple[Borrower, ...]

    @property
    def recipients(self) -> list[Recipient]:
        """Each borrower once; a customer named twice keeps the details they were first named with."""
        first: dict[str, Recipient] = {}
        for b in self.borrowers:
            first.setdefault(b.recipient.customer_id, b.recipient)
        return list(first.values())

    @property
    def roles(self) -> dict[str, str]:
        """Customer id -> role (a customer named twice has the role they were last named with)."""
        return {b.recipient.customer_id: b.role for b in self.borrowers}

    @property
    def primary(self) -> str | None:
        return next((customer for customer, role in self.roles.items() if role == PRIMARY), None)
