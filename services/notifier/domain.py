"""Who hears about which event, in which words (SPEC §7). Pure: no I/O, no clock, no ids.

Templates are keyed by name and language; a missing template or variable raises, so a test fails, not a customer.
"""

from dataclasses import dataclass
from datetime import date

LANGUAGES = ("zh-Hans", "zh-Hant", "en")

TEMPLATES: dict[str, dict[str, str]] = {
    "request_received": {
        "zh-Hans": "您的贷款（尾号{loan_tail}）变更申请已受理，我们会尽快处理。",
        "zh-Hant": "您的貸款（尾號{loan_tail}）變更申請已受理，我們會盡快處理。",
        "en": "We have received your change request for loan ending {loan_tail}.",
    },
    "request_approved": {
        "zh-Hans": "您的贷款（尾号{loan_tail}）扣款日已变更为每月{new_debit_day}日，首个新还款日为{new_due_date}。",
        "zh-Hant": "您的貸款（尾號{loan_tail}）扣款日已變更為每月{new_debit_day}日，首個新還款日為{new_due_date}。",
        "en": "Your loan ending {loan_tail} is now debited on day {new_debit_day}; first new due date {new_due_date}.",
    },
    "request_rejected": {
        "zh-Hans": "很抱歉，您的贷款（尾号{loan_tail}）变更申请未获通过：{reason}",
        "zh-Hant": "很抱歉，您的貸款（尾號{loan_tail}）變更申請未獲通過：{reason}",
        "en": "Sorry, the change request for loan ending {loan_tail} was not accepted: {reason}",
    },
}


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    language: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    template: str
    language: str
    body: str


def loan_tail(loan_id: str) -> str:
    """A loan number is shown masked: its last four characters only."""
    return loan_id[-4:]


def render(template: str, language: str, **variables: object) -> Message:
    lang = language if language in LANGUAGES else "zh-Hans"
    text = TEMPLATES[template][lang]
    values = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in variables.items()}
    return Message(template=template, language=lang, body=text.format(**values))
