"""In which words (SPEC §7): templates by name and language, money, masked loan numbers and contacts.

A missing template or variable raises, so a test fails, not a customer.
"""

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from services.notifier.templates import LANGUAGES, REASONS, TEMPLATES

DEFAULT_LANGUAGE = "zh-Hans"


@dataclass(frozen=True)
class Message:
    template: str
    language: str
    body: str


def loan_tail(loan_id: str) -> str:
    """A loan number is shown masked: its last four characters only."""
    return loan_id[-4:]


def money(amount: Decimal | str, currency: str = "CNY") -> str:
    """Money in a message: currency and thousands separators, two decimals (5230.15 -> CNY 5,230.15)."""
    return f"{currency} {Decimal(str(amount)):,.2f}"


def reason_text(code: str | None, language: str, fallback: str) -> str:
    return REASONS.get(code or "", {}).get(language, fallback)


def render(template: str, language: str, **variables: object) -> Message:
    """The message in the customer's language; a missing template or variable raises (a test fails, not a customer)."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    text = TEMPLATES[template][lang]
    values = {k: _shown(v) for k, v in variables.items()}
    return Message(template=template, language=lang, body=text.format(**values))


def _shown(value: object) -> object:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value


def mask_contact(contact: str | None) -> str | None:
    """Contacts shown to staff: the last four characters only (13800138000 -> *******8000)."""
    if not contact:
        return contact
    return "*" * max(len(contact) - 4, 0) + contact[-4:]
