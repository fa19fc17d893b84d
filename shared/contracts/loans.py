"""`loans.snapshots`: what core banking publishes about a loan (CONTRACT.md `LoanSnapshot`)."""

from enum import StrEnum

from pydantic import Field

from shared.contracts._base import Contract, Day, Money, Timestamp


class LoanStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SETTLED = "SETTLED"
    OVERDUE = "OVERDUE"
    WRITTEN_OFF = "WRITTEN_OFF"


class Product(StrEnum):
    MORTGAGE = "MORTGAGE"
    CONSUMER = "CONSUMER"
    BUSINESS = "BUSINESS"


class BorrowerRole(StrEnum):
    PRIMARY = "PRIMARY"
    CO_BORROWER = "CO_BORROWER"


class Language(StrEnum):
    ZH_HANS = "zh-Hans"
    ZH_HANT = "zh-Hant"
    EN = "en"


class NotificationChannel(StrEnum):
    APP_PUSH = "APP_PUSH"
    WECHAT = "WECHAT"
    SMS = "SMS"
    EMAIL = "EMAIL"


class Borrower(Contract):
    customer_id: str
    role: BorrowerRole
    name: str
    phone: str
    id_number: str
    language: Language
    channels: list[NotificationChannel]
    email: str | None = None


class LoanSnapshot(Contract):
    """The state of one loan as of `as_of`; the newest `as_of` wins."""

    loan_id: str
    status: LoanStatus
    product: Product
    branch_id: str
    currency: str
    instalment_amount: Money
    outstanding_principal: Money
    debit_day: int = Field(ge=1, le=31)
    next_due_date: Day
    borrowers: list[Borrower] = Field(min_length=1)
    as_of: Timestamp


TYPES = (LoanSnapshot,)
