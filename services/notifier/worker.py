"""The delivery worker: sends pending deliveries through their channel's gateway, releases SMS held for the
quiet hours, retries failures with back-off (an SMS retry due at night is held too) and finally reports them.
Rows are claimed FOR UPDATE SKIP LOCKED, so several copies never send the same delivery; a crash between
sending and committing sends again (the notification id travels as the gateway's idempotency key)."""

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier import domain
from services.notifier.channels import LocalSender, Outgoing, Sender, SendFailed, WebhookSender
from services.notifier.domain import Delivery, Status
from services.notifier.repository import DeliveryRepository
from services.notifier.settings import Settings
from shared import outbox, topics, tracing
from shared.clock import Clock
from shared.contracts import notifications as out
from shared.db import is_transient
from shared.logging import Logger
from shared.messaging import MessageContext, Tables
from shared.metrics import Decision, ServiceMetrics
from shared.outbox import OutgoingRecord
from shared.unit_of_work import UnitOfWork

log = Logger("postloan.notifier.worker")
_OUTCOMES = {Status.SENT: "sent", Status.FAILED: "failed"}  # any other status after a failure: retried later


class DeliveryWorker:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], tables: Tables, clock: Clock,
                 settings: Settings, batch: int = 50, metrics: ServiceMetrics | None = None) -> None:
        self._metrics = metrics
        self._sessions = sessions
        self._tables = tables
        self._clock = clock
        self._settings = settings
        self._batch = batch
        self._quiet = settings.quiet_hours()
        self._retries = settings.retry_policy()
        self._stopping = asyncio.Event()

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
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), timeout=self._settings.worker_interval_s)

    async def deliver_due(self, senders: Mapping[str, Sender]) -> int:
        now = self._clock.now()
        local = LocalSender()
        async with self._sessions.begin() as session:
            uow = UnitOfWork(session)
            deliveries = DeliveryRepository(uow)
            due = await deliveries.due(now, self._batch)
            emitted = []
            figures = _Figures()  # counted once the round has committed
            for delivery in due:
                if (waiting := domain.held(delivery, now, self._quiet)) is not None:
                    deliveries.save(waiting)  # an SMS still waits for the morning
                    figures.outcomes.append((delivery.channel, "held"))
                    continue
                # Sent in the causing event's trace: the gateway call and NotificationSent continue it.
                with tracing.resumed(delivery.traceparent, "deliver", or_new=True,
                                     attributes={"postloan.notification_id": delivery.notification_id}):
                    emitted.extend(await self._deliver(uow, senders.get(delivery.channel, local), delivery, now,
                                                       figures))
            await uow.flush()
            await outbox.add(session, self._tables.outbox, emitted)
        if self._metrics is not None:
            figures.count(self._metrics)
        return len(due)

    async def _deliver(self, uow: UnitOfWork, sender: Sender, delivery: Delivery, now: datetime,
                       figures: "_Figures") -> list[OutgoingRecord]:
        started = time.perf_counter()
        try:
            await sender.send(Outgoing.of(delivery))
        except SendFailed as exc:
            figures.calls.append((delivery.channel, "error", time.perf_counter() - started))
            after = domain.failed(delivery, now, str(exc), self._retries, self._quiet)
            log.info("delivery_failed", notification_id=delivery.notification_id, attempts=after.attempts)
        else:
            figures.calls.append((delivery.channel, "ok", time.perf_counter() - started))
            after = domain.sent(delivery, now)
        figures.outcomes.append((delivery.channel, _OUTCOMES.get(after.status, "retried")))
        DeliveryRepository(uow).save(after)
        ctx = MessageContext(uow.session, now, "postloan/notifier", delivery.correlation_id, None, unit=uow)
        self._tell(ctx, after)
        figures.decided.extend(ctx.decided)
        return ctx.emitted

    @staticmethod
    def _tell(ctx: MessageContext, d: Delivery) -> None:
        """NotificationSent once it went; NotificationFailed once it was given up; nothing while it is retried."""
        now = ctx.now
        if d.status is Status.SENT:
            ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationSent(
                notification_id=d.notification_id, event_id=d.event_id, customer_id=d.customer_id,
                channel=d.channel, template=d.template, language=d.language, sent_at=now), subject=d.customer_id)
        elif d.status is Status.FAILED:
            ctx.emit(topics.NOTIFICATIONS_EVENTS, out.NotificationFailed(
                notification_id=d.notification_id, event_id=d.event_id, customer_id=d.customer_id,
                channel=d.channel, template=d.template, language=d.language, failed_at=now, error=d.last_error or "",
                attempts=d.attempts), subject=d.customer_id)


@dataclass
class _Figures:
    """What one delivery round did, for the metrics."""

    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (channel, sent|failed|retried|held)
    calls: list[tuple[str, str, float]] = field(default_factory=list)  # (channel, ok|error, seconds) per send
    decided: list[Decision] = field(default_factory=list)

    def count(self, metrics: ServiceMetrics) -> None:
        for channel, outcome in self.outcomes:
            metrics.notifications.labels(channel, outcome).inc()
        for channel, outcome, seconds in self.calls:
            metrics.gateway_latency.labels(channel, outcome).observe(seconds)
        metrics.count_decided(self.decided)
