"""Application layer of the notifier: who hears what, on which channels, now or later. One method per handler,
taking the notifier's own news (services.notifier.domain); the rules are in the domain, the storage in the
repositories of the transaction's unit of work."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from services.notifier import domain
from services.notifier.domain import Booking, Delivery, LoanBorrowers, Notice, Recipient, Status
from services.notifier.repository import DeliveryRepository, LoanRepository, RecipientRepository, ReminderRepository
from services.notifier.settings import Settings
from shared import ids, topics, tracing
from shared.contracts import notifications as out
from shared.logging import Logger
from shared.messaging import MessageContext
from shared.unit_of_work import UnitOfWork

log = Logger("postloan.notifier")
_NOTIFICATION_NS = uuid.UUID("5d7c3d4e-2f0a-4b8e-8c61-0e8f3a9b7c22")


def notification_id(event_id: str, customer_id: str, channel: str) -> str:
    return f"N-{ids.uuid5(_NOTIFICATION_NS, f'{event_id}|{customer_id}|{channel}')}"


class Recipients(Protocol):
    async def get(self, customer_id: str) -> Recipient | None: ...
    async def save_newer(self, recipients: list[Recipient], as_of: datetime) -> None: ...


class Loans(Protocol):
    async def newest_snapshot(self, loan_id: str, as_of: datetime) -> bool: ...
    async def replace_borrowers(self, loan: LoanBorrowers) -> None: ...
    async def primary_of(self, loan_id: str) -> str | None: ...


class Deliveries(Protocol):
    async def notified(self, event_id: str) -> frozenset[str]: ...
    async def add(self, delivery: Delivery) -> None: ...


class Reminders(Protocol):
    async def schedule(self, booking: Booking, due: datetime, correlation_id: str | None) -> None: ...
    async def cancel(self, booking_id: str) -> None: ...


@dataclass(frozen=True)
class Repositories:
    """What the service reads and writes; `of(uow)` in the services, in-memory stand-ins in unit tests."""

    recipients: Recipients
    loans: Loans
    deliveries: Deliveries
    reminders: Reminders

    @classmethod
    def of(cls, uow: UnitOfWork) -> "Repositories":
        return cls(RecipientRepository(uow), LoanRepository(uow), DeliveryRepository(uow), ReminderRepository(uow))


class NotifierService:
    def __init__(self, ctx: MessageContext, repositories: Repositories | None = None) -> None:
        self.ctx = ctx
        self.settings: Settings = ctx.settings
        self.repos = repositories or Repositories.of(ctx.uow)

    async def apply_snapshot(self, loan: LoanBorrowers) -> None:
        """CONTRACT: the newest as_of wins. An older snapshot arriving late changes neither who the loan's borrowers
        are nor their contacts, languages or channels; a newer one replaces the loan's borrowers."""
        if not await self.repos.loans.newest_snapshot(loan.loan_id, loan.as_of):
            log.info("loan_snapshot_stale", loan_id=loan.loan_id)
            return
        await self.repos.recipients.save_newer(loan.recipients, loan.as_of)
        await self.repos.loans.replace_borrowers(loan)

    async def notify(self, news: domain.News) -> None:
        """SPEC §7: whoever `news` concerns hears of it, on each of their channels, once."""
        owed = domain.notices(news)
        if not owed:
            log.debug("news_not_told", news=type(news).__name__)
        for notice in owed:
            await self._tell(notice)

    async def booked(self, booking: Booking) -> None:
        """The booking is confirmed, and its reminder set for the morning before (SPEC §7, expected)."""
        await self.notify(domain.Booked(booking))
        due = domain.reminder_due(booking, self.ctx.now, ZoneInfo(self.settings.quiet_timezone))
        if due is not None:
            await self.repos.reminders.schedule(booking, due, self.ctx.correlationid)

    async def cancelled(self, cancellation: domain.BookingCancelled) -> None:
        await self.repos.reminders.cancel(cancellation.booking_id)
        await self.notify(cancellation)

    async def remind(self, booking: Booking) -> None:
        await self.notify(domain.BookingDue(booking))

    async def _tell(self, notice: Notice) -> None:
        event_id = notice.event_id or self._event_id()
        who, recipient = await self._addressee(notice)
        if recipient is None or not recipient.channels:
            self._unreachable(notice, event_id, who, recipient)
            return
        message = notice.message(recipient.language)
        already = await self.repos.deliveries.notified(event_id)
        quiet = self.settings.quiet_hours()
        for channel in recipient.channels:
            nid = notification_id(event_id, recipient.customer_id, channel)
            if nid in already:
                continue  # this event already reached this person on this channel
            delivery = domain.new_delivery(
                notification_id=nid, event_id=event_id, recipient=recipient, channel=channel, message=message,
                urgent=notice.urgent, now=self.ctx.now, quiet=quiet,
                through_gateway=channel in self.settings.webhook_urls, correlation_id=self.ctx.correlationid,
                traceparent=tracing.current_traceparent())
            await self.repos.deliveries.add(delivery)
            if delivery.status is Status.SENT:
                self.ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationSent(
                    notification_id=nid, event_id=event_id, customer_id=recipient.customer_id, channel=channel,
                    template=message.template, language=message.language, sent_at=self.ctx.now),
                    subject=recipient.customer_id)
            log.debug("notification_queued", notification_id=nid, channel=channel, status=delivery.status.value)

    def _unreachable(self, notice: Notice, event_id: str, who: str, recipient: Recipient | None) -> None:
        """SPEC §7: never silence — a customer who cannot be reached is reported (NotificationFailed)."""
        error = "unknown customer" if recipient is None else "customer has no usable channel"
        self.ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationFailed(
            notification_id=notification_id(event_id, who, "NONE"), event_id=event_id, customer_id=who,
            channel="NONE", template=notice.template,
            language=recipient.language if recipient else domain.DEFAULT_LANGUAGE, failed_at=self.ctx.now,
            error=error, attempts=0), subject=who)
        log.warning("notification_failed", event_id=event_id, customer_id=who, error=error)

    async def _addressee(self, notice: Notice) -> tuple[str, Recipient | None]:
        """Who `notice` is for (a customer id, or the loan it names) and how to reach them (None: unknown)."""
        if notice.staff:
            return domain.STAFF, domain.STAFF_RECIPIENT
        customer_id = notice.customer_id
        if customer_id is None and notice.loan_id is not None:
            customer_id = await self.repos.loans.primary_of(notice.loan_id)
        who = customer_id or f"loan:{notice.loan_id}"
        return who, await self.repos.recipients.get(customer_id) if customer_id else None

    def _event_id(self) -> str:
        assert self.ctx.message is not None, "news from a timer names its own event id"
        return self.ctx.message.id
