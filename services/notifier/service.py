"""Application logic of the notifier: who hears what, on which channels, now or later. One call per event."""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from services.notifier import domain
from services.notifier.batching import batch_of
from services.notifier.domain import Recipient, loan_tail, render
from services.notifier.repository import DeliveryRepository, RecipientRepository, delivery_row, timers
from services.notifier.settings import Settings
from shared import topics
from shared.contracts import loans as loan_contract
from shared.contracts import notifications as out
from shared.messaging import MessageContext
from shared.timers import cancel, schedule

log = structlog.get_logger("postloan.notifier")
REMINDER = "booking-reminder"
_NOTIFICATION_NS = uuid.UUID("5d7c3d4e-2f0a-4b8e-8c61-0e8f3a9b7c22")
STAFF_RECIPIENT = Recipient(domain.STAFF, domain.DEFAULT_LANGUAGE, (domain.STAFF,))


def notification_id(event_id: str, customer_id: str, channel: str) -> str:
    return f"N-{uuid.uuid5(_NOTIFICATION_NS, f'{event_id}|{customer_id}|{channel}')}"


class Notifier:
    def __init__(self, ctx: MessageContext, settings: Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.tz = ZoneInfo(settings.quiet_timezone)
        self.quiet = quiet_hours(settings)
        self.recipients = RecipientRepository(ctx.session)
        self.deliveries = DeliveryRepository(ctx.session)

    async def customer(self, *, customer_id: str | None, loan_id: str | None, template: str,
                       event_id: str | None = None, urgent: bool = False, **variables: Any) -> None:
        """SPEC §7: the customer hears of it on each of their channels, once; never silence."""
        customer_id = customer_id or (await self.recipients.primary_of(loan_id) if loan_id else None)
        batch = batch_of(self.ctx.session)
        if batch is not None and customer_id in batch.recipients:
            row = batch.recipients[customer_id]
        else:
            row = await self.recipients.row(customer_id) if customer_id else None
        event_id = event_id or self._event_id()
        if row is None or not row.channels:
            who = customer_id or f"loan:{loan_id}"
            error = "unknown customer" if row is None else "customer has no usable channel"
            self.ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationFailed(
                notification_id=notification_id(event_id, who, "NONE"), event_id=event_id, customer_id=who,
                channel="NONE", template=template, language=row.language if row else domain.DEFAULT_LANGUAGE,
                failed_at=self.ctx.now, error=error, attempts=0), subject=who)
            log.warning("notification_failed", event_id=event_id, customer_id=who, error=error)
            return
        if loan_id is not None:
            variables["loan_tail"] = loan_tail(loan_id)
        contacts = {"SMS": row.phone, "EMAIL": row.email}
        recipient = Recipient(row.customer_id, row.language, tuple(row.channels))
        await self._deliver(recipient, template, event_id, urgent, contacts, variables)

    async def staff(self, template: str, *, urgent: bool, **variables: Any) -> None:
        """SPEC §7: the service centre hears of new call tasks and tasks near their deadline."""
        await self._deliver(STAFF_RECIPIENT, template, self._event_id(), urgent, {}, variables)

    def _event_id(self) -> str:
        assert self.ctx.message is not None
        return self.ctx.message.id

    async def _deliver(self, recipient: Recipient, template: str, event_id: str, urgent: bool,
                       contacts: Mapping[str, str | None], variables: Mapping[str, Any]) -> None:
        # A variable may depend on the language (a refusal's words): it is a function of it.
        shown = {k: v(recipient.language) if callable(v) else v for k, v in variables.items()}
        message = render(template, recipient.language, **shown)
        now = self.ctx.now
        for channel in recipient.channels:
            release = domain.hold_until(channel, urgent, now, self.quiet)
            held = release is not None
            inline = channel not in self.settings.webhook_urls and not held
            status = "SENT" if inline else ("HELD" if held else "PENDING")
            nid = notification_id(event_id, recipient.customer_id, channel)
            due = release or now
            row = delivery_row(notification_id=nid, event_id=event_id, customer_id=recipient.customer_id,
                               channel=channel, message=message, at=now, status=status,
                               contact=contacts.get(channel) or recipient.customer_id,
                               next_attempt_at=None if inline else due, urgent=urgent,
                               correlation_id=self.ctx.correlationid)
            if (batch := batch_of(self.ctx.session)) is not None:
                batch.deliveries.append(row)  # written with the batch; a duplicate redoes it message by message
            elif not await self.deliveries.record(row):
                continue  # this event already reached this person on this channel
            if inline:
                self.ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationSent(
                    notification_id=nid, event_id=event_id, customer_id=recipient.customer_id, channel=channel,
                    template=template, language=message.language, sent_at=now), subject=recipient.customer_id)
            log.debug("notification_queued", notification_id=nid, channel=channel, status=status)

    async def refused_command(self, *, command_type: str | None, customer_id: str | None, reason_code: str,
                              reason: str) -> None:
        """A refused command changed nothing; its sender hears of it only if it concerns them (a withdrawal)."""
        template = domain.refused_command_notice(command_type or "")
        if template is None or customer_id is None:
            log.debug("refused_command_not_notified", command_type=command_type, reason_code=reason_code)
            return
        await self.customer(customer_id=customer_id, loan_id=None, template=template,
                            reason=lambda language: domain.reason_text(reason_code, language, reason))

    async def schedule_reminder(self, booking: Any) -> None:
        """SPEC §7 (expected): the reminder goes the morning before in the branch's time zone (ours if unknown)."""
        due = domain.reminder_at(booking.date, domain.zone_or(booking.branch_timezone, self.tz))
        if due <= self.ctx.now:
            return  # booked for tomorrow after this morning: the confirmation is the reminder
        await schedule(self.ctx.session, timers, REMINDER, booking.booking_id, due, {
            "correlationid": self.ctx.correlationid, "customer_id": booking.customer_id, "code": booking.booking_code,
            "date": booking.date.isoformat(), "time": booking.start_time.strftime("%H:%M"),
            "branch_name": booking.branch_name or booking.branch_id, "branch_address": booking.branch_address or "",
        })

    async def cancel_reminder(self, booking_id: str) -> None:
        await cancel(self.ctx.session, timers, REMINDER, booking_id)

    async def remind(self, booking_id: str, payload: Mapping[str, Any]) -> None:
        await self.customer(customer_id=payload["customer_id"], loan_id=None, template="booking_reminder",
                            event_id=f"reminder:{booking_id}", code=payload["code"], time=payload["time"],
                            branch_name=payload["branch_name"], branch_address=payload["branch_address"])


async def apply_snapshot(ctx: MessageContext, snapshot: loan_contract.LoanSnapshot) -> None:
    """CONTRACT: the newest as_of wins. An older snapshot arriving late changes neither who the loan's borrowers
    are nor their contacts, languages or channels; a newer one replaces the loan's borrowers."""
    recipients = RecipientRepository(ctx.session)
    if not await recipients.newest_snapshot(snapshot.loan_id, snapshot.as_of):
        log.info("loan_snapshot_stale", loan_id=snapshot.loan_id)
        return
    if (batch := batch_of(ctx.session)) is not None:  # later messages of the batch must see the new contacts
        for b in snapshot.borrowers:
            batch.recipients.pop(b.customer_id, None)
    for b in snapshot.borrowers:
        # A customer on several loans: the newest snapshot of any of them holds their contacts.
        await recipients.upsert(customer_id=b.customer_id, language=b.language.value,
                                channels=[c.value for c in b.channels], phone=b.phone, email=b.email,
                                as_of=snapshot.as_of)
    await recipients.set_borrowers(snapshot.loan_id, {b.customer_id: b.role.value for b in snapshot.borrowers})


def quiet_hours(settings: Settings) -> domain.QuietHours:
    return domain.QuietHours(settings.quiet_start, settings.quiet_end, ZoneInfo(settings.quiet_timezone))


def next_try(channel: str, urgent: bool, failed_at: datetime, attempts: int, settings: Settings) -> domain.NextTry:
    return domain.next_try(channel, urgent, failed_at, attempts, timedelta(seconds=settings.retry_base_s),
                           timedelta(seconds=settings.retry_cap_s), quiet_hours(settings))


