"""`notifications.events`: what the notifier delivered, or failed to (CONTRACT.md)."""

from shared.contracts._base import Contract, Timestamp
from shared.contracts.loans import Language, NotificationChannel


class NotificationSent(Contract):
    notification_id: str
    event_id: str
    customer_id: str
    channel: NotificationChannel | str
    template: str
    language: Language | str
    sent_at: Timestamp


class NotificationFailed(Contract):
    notification_id: str
    event_id: str
    customer_id: str
    channel: NotificationChannel | str
    template: str
    language: Language | str
    failed_at: Timestamp
    error: str
    attempts: int


EVENT_TYPES = (NotificationSent, NotificationFailed)
