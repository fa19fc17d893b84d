"""The delivery worker: sends pending deliveries through their channel's gateway, releases SMS held for the
quiet hours, retries failures with back-off (an SMS retry due at night is held too) and finally reports them.
Rows are claimed FOR UPDATE SKIP LOCKED, so several copies never send the same delivery; a crash between
sending and committing sends again (the notification id travels as the gateway's idempotency key)."""

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier import domain
from services.notifier.channels import LocalSender, Outgoing, Sender, SendFailed, WebhookSender
from services.notifier.repository import DeliveryRepository
from services.notifier.service import next_try, quiet_hours
from services.notifier.settings import Settings
from shared import outbox, topics
from shared.clock import Clock
from shared.contracts import notifications as out
from shared.db import is_transient
from shared.messaging import MessageContext, Tables

log = structlog.get_logger("postloan.notifier.worker")


class DeliveryWorker:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], tables: Tables, clock: Clock,
                 settings: Settings, batch: int = 50) -> None:
        self._sessions = sessions
        self._tables = tables
        self._clock = clock
        self._settings = settings
        self._batch = batch
        self._quiet = quiet_hours(settings)
        self._stopping = asyncio.Event()
        self.sent = 0
        self.failed = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        async with httpx.AsyncClient() as client:
            senders: dict[str, Sender] = {
                channel: WebhookSender(url, timeout=self._settings.webhook_timeout_s,
                                       auth_header=self._settings.webhook_auth_header, client=client)
                for channel, url in self._settings.webhook_urls.items()
            }
            while not self._stopping.is_set():
                try:
                    done = await self.deliver_due(senders)
                except Exception as exc:
                    done = 0
                    getattr(log, "warning" if is_transient(exc) else "error")("delivery_round_failed", error=repr(exc))
                if done < self._batch:
                    try:
                        await asyncio.wait_for(self._stopping.wait(), timeout=self._settings.worker_interval_s)
                    except TimeoutError:
                        pass

    async def deliver_due(self, senders: Mapping[str, Sender]) -> int:
        now = self._clock.now()
        local = LocalSender()
        async with self._sessions.begin() as session:
            deliveries = DeliveryRepository(session)
            rows = await deliveries.due(now, self._batch)
            emitted = []
            for row in rows:
                ctx = MessageContext(session, now, "postloan/notifier", row.correlation_id, None)
                if (release := domain.hold_until(row.channel, row.urgent, now, self._quiet)) is not None:
                    # Due in the quiet hours (e.g. queued behind a backlog): an SMS still waits for the morning.
                    await deliveries.update(row.notification_id, status="HELD", next_attempt_at=release)
                    continue
                message = Outgoing(row.notification_id, row.channel, row.customer_id, row.contact, row.template,
                                   row.language, row.body)
                try:
                    await senders.get(row.channel, local).send(message)
                except SendFailed as exc:
                    await self._failed(deliveries, ctx, row, now, str(exc))
                else:
                    await self._sent(deliveries, ctx, row, now)
                emitted.extend(ctx.emitted)
            await outbox.add(session, self._tables.outbox, emitted)
        return len(rows)

    async def _failed(self, deliveries: DeliveryRepository, ctx: MessageContext, row: Any, now: datetime,
                      error: str) -> None:
        """SPEC §7 (expected): retried with back-off (a retried SMS keeps the quiet hours), finally reported."""
        attempts = row.attempts + 1
        log.info("delivery_failed", notification_id=row.notification_id, attempts=attempts)
        if attempts < self._settings.max_attempts:
            retry = next_try(row.channel, row.urgent, now, attempts, self._settings)
            await deliveries.update(row.notification_id, attempts=attempts, last_error=error,
                                    status="HELD" if retry.held else "PENDING", next_attempt_at=retry.at)
            return
        await deliveries.update(row.notification_id, status="FAILED", attempts=attempts, last_error=error,
                                next_attempt_at=None)
        ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationFailed(
            notification_id=row.notification_id, event_id=row.event_id, customer_id=row.customer_id,
            channel=row.channel, template=row.template, language=row.language, failed_at=now, error=error,
            attempts=attempts), subject=row.customer_id)
        self.failed += 1

    async def _sent(self, deliveries: DeliveryRepository, ctx: MessageContext, row: Any, now: datetime) -> None:
        await deliveries.update(row.notification_id, status="SENT", attempts=row.attempts + 1, sent_at=now,
                                next_attempt_at=None, last_error=None)
        ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationSent(
            notification_id=row.notification_id, event_id=row.event_id, customer_id=row.customer_id,
            channel=row.channel, template=row.template, language=row.language, sent_at=now), subject=row.customer_id)
        self.sent += 1
