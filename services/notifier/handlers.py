"""Kafka handlers of the notifier: project recipients, turn events into deliveries. No rules here."""

import uuid
from collections.abc import Mapping
from typing import Any

import structlog

from services.notifier.domain import loan_tail, render
from services.notifier.repository import DeliveryRepository, RecipientRepository
from shared import topics
from shared.contracts import loans as loan_contract
from shared.contracts import notifications as out
from shared.contracts import requests as req
from shared.messaging import Handler, MessageContext

log = structlog.get_logger("postloan.notifier")
_NOTIFICATION_NS = uuid.UUID("5d7c3d4e-2f0a-4b8e-8c61-0e8f3a9b7c22")


def notification_id(event_id: str, customer_id: str, channel: str) -> str:
    return f"N-{uuid.uuid5(_NOTIFICATION_NS, f'{event_id}|{customer_id}|{channel}')}"


async def notify(ctx: MessageContext, *, loan_id: str, customer_id: str | None, template: str,
                 **variables: Any) -> None:
    recipients = RecipientRepository(ctx.session)
    customer_id = customer_id or await recipients.primary_of(loan_id)
    recipient = await recipients.get(customer_id) if customer_id else None
    event_id = ctx.message.id
    if recipient is None or not recipient.channels:
        error = "unknown customer" if recipient is None else "customer has no usable channel"
        who = customer_id or f"loan:{loan_id}"
        ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationFailed(
            notification_id=notification_id(event_id, who, "NONE"), event_id=event_id, customer_id=who,
            channel="NONE", template=template, language=recipient.language if recipient else "zh-Hans",
            failed_at=ctx.now, error=error, attempts=0,
        ), subject=who)
        log.warning("notification_failed", event_id=event_id, customer_id=who, error=error)
        return
    message = render(template, recipient.language, loan_tail=loan_tail(loan_id), **variables)
    deliveries = DeliveryRepository(ctx.session)
    for channel in recipient.channels:
        nid = notification_id(event_id, recipient.customer_id, channel)
        if not await deliveries.record_sent(notification_id=nid, event_id=event_id, customer_id=recipient.customer_id,
                                            channel=channel, message=message, at=ctx.now):
            continue
        ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationSent(
            notification_id=nid, event_id=event_id, customer_id=recipient.customer_id, channel=channel,
            template=template, language=message.language, sent_at=ctx.now,
        ), subject=recipient.customer_id)
        log.debug("notification_sent", notification_id=nid, customer_id=recipient.customer_id, channel=channel)


def build_handlers() -> Mapping[str, Mapping[str, Handler]]:
    async def handle_loan_snapshot(ctx: MessageContext, s: loan_contract.LoanSnapshot) -> None:
        recipients = RecipientRepository(ctx.session)
        for b in s.borrowers:
            await recipients.upsert(customer_id=b.customer_id, language=b.language.value,
                                    channels=[c.value for c in b.channels], phone=b.phone, email=b.email, as_of=s.as_of)
            await recipients.link(s.loan_id, b.customer_id, b.role.value)

    async def handle_request_submitted(ctx: MessageContext, e: req.RequestSubmitted) -> None:
        await notify(ctx, loan_id=e.loan_id, customer_id=e.applicant_customer_id, template="request_received")

    async def handle_request_approved(ctx: MessageContext, e: req.RequestApproved) -> None:
        await notify(ctx, loan_id=e.loan_id, customer_id=e.applicant_customer_id, template="request_approved",
                     new_debit_day=e.new_debit_day, new_due_date=e.new_due_date)

    async def handle_request_rejected(ctx: MessageContext, e: req.RequestRejected) -> None:
        await notify(ctx, loan_id=e.loan_id, customer_id=e.applicant_customer_id, template="request_rejected",
                     reason=e.reason)

    return {
        topics.LOANS_SNAPSHOTS: {"LoanSnapshot": handle_loan_snapshot},
        topics.REQUESTS_EVENTS: {
            "RequestSubmitted": handle_request_submitted,
            "RequestApproved": handle_request_approved,
            "RequestRejected": handle_request_rejected,
        },
    }
