"""Storage of the notifier (schema `notifier`): recipients from loan snapshots, and every delivery.

Repositories never commit: the caller's transaction does.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    delete,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.domain import Message, Recipient
from shared.db import messaging_tables
from shared.timers import timer_table

SCHEMA = "notifier"
metadata = MetaData(schema=SCHEMA)
inbox, outbox = messaging_tables(metadata)
timers = timer_table(metadata)

RecipientRow = Table(
    "recipients",
    metadata,
    Column("customer_id", Text, primary_key=True),
    Column("language", Text, nullable=False),
    Column("channels", ARRAY(Text), nullable=False),
    Column("phone", Text),  # contact details are needed to deliver; they never reach a log
    Column("email", Text),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

# The as_of of the newest snapshot applied per loan: an older one arriving late changes nothing (CONTRACT).
LoanRow = Table(
    "loans",
    metadata,
    Column("loan_id", Text, primary_key=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

LoanBorrowerRow = Table(
    "loan_borrowers",
    metadata,
    Column("loan_id", Text, primary_key=True),
    Column("customer_id", Text, primary_key=True),
    Column("role", Text, nullable=False),
)

DeliveryRow = Table(
    "deliveries",
    metadata,
    Column("notification_id", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("template", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", Text, nullable=False),  # SENT | PENDING | HELD (quiet hours) | FAILED
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("contact", Text),  # where it goes (phone, e-mail, customer id); shown masked only
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("urgent", Boolean, nullable=False, server_default="false"),
    Column("last_error", Text),
    Column("correlation_id", Text),
    # SPEC §7: the same event never notifies the same person twice on a channel.
    UniqueConstraint("event_id", "customer_id", "channel", name="one_delivery_per_event_recipient_channel"),
    Index("deliveries_due", "next_attempt_at", postgresql_where=text("status IN ('PENDING', 'HELD')")),
    Index("deliveries_body_kept", "sent_at", postgresql_where=text("body <> ''")),  # retention finds old bodies
)


class RecipientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def upsert(self, *, customer_id: str, language: str, channels: list[str], phone: str | None,
                     email: str | None, as_of: datetime) -> None:
        values = {"customer_id": customer_id, "language": language, "channels": channels, "phone": phone,
                  "email": email, "as_of": as_of}
        stmt = pg_insert(RecipientRow).values(values)
        await self._session.execute(stmt.on_conflict_do_update(
            index_elements=[RecipientRow.c.customer_id],
            set_={k: stmt.excluded[k] for k in values if k != "customer_id"},
            where=RecipientRow.c.as_of < stmt.excluded.as_of,
        ))

    async def newest_snapshot(self, loan_id: str, as_of: datetime) -> bool:
        """Records `as_of` as the loan's snapshot time if it is newer than the stored one; False: a stale snapshot.

        One conditional upsert: two copies applying snapshots of one loan serialize on its row.
        """
        stmt = pg_insert(LoanRow).values(loan_id=loan_id, as_of=as_of)
        stmt = stmt.on_conflict_do_update(index_elements=[LoanRow.c.loan_id], set_={"as_of": stmt.excluded.as_of},
                                          where=LoanRow.c.as_of < stmt.excluded.as_of)
        return (await self._session.execute(stmt.returning(LoanRow.c.loan_id))).first() is not None

    async def set_borrowers(self, loan_id: str, roles: dict[str, str]) -> None:
        """The loan's borrowers become exactly `roles` (customer id -> role): those no longer on it are unlinked."""
        await self._session.execute(delete(LoanBorrowerRow).where(
            LoanBorrowerRow.c.loan_id == loan_id, LoanBorrowerRow.c.customer_id.not_in(list(roles))))
        if not roles:
            return
        stmt = pg_insert(LoanBorrowerRow).values(
            [{"loan_id": loan_id, "customer_id": c, "role": r} for c, r in roles.items()])
        await self._session.execute(stmt.on_conflict_do_update(
            index_elements=[LoanBorrowerRow.c.loan_id, LoanBorrowerRow.c.customer_id], set_={"role": stmt.excluded.role}
        ))

    async def get(self, customer_id: str) -> Recipient | None:
        row = await self.row(customer_id)
        return Recipient(row.customer_id, row.language, tuple(row.channels)) if row else None

    async def rows(self, customer_ids: Sequence[str]) -> dict[str, Any]:
        query = select(RecipientRow).where(RecipientRow.c.customer_id.in_(customer_ids))
        return {r.customer_id: r for r in (await self._session.execute(query)).all()}

    async def row(self, customer_id: str) -> Any:
        query = select(RecipientRow).where(RecipientRow.c.customer_id == customer_id)
        return (await self._session.execute(query)).first()

    async def primary_of(self, loan_id: str) -> str | None:
        return await self._session.scalar(select(LoanBorrowerRow.c.customer_id).where(
            LoanBorrowerRow.c.loan_id == loan_id, LoanBorrowerRow.c.role == "PRIMARY"))


def delivery_row(*, notification_id: str, event_id: str, customer_id: str, channel: str, message: Message,
                 at: datetime, status: str, contact: str | None, next_attempt_at: datetime | None, urgent: bool,
                 correlation_id: str | None) -> dict[str, Any]:
    sent = status == "SENT"
    return {"notification_id": notification_id, "event_id": event_id, "customer_id": customer_id, "channel": channel,
            "template": message.template, "language": message.language, "body": message.body, "status": status,
            "attempts": 1 if sent else 0, "created_at": at, "sent_at": at if sent else None, "contact": contact,
            "next_attempt_at": next_attempt_at, "urgent": urgent, "last_error": None,
            "correlation_id": correlation_id}


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, row: dict[str, Any]) -> bool:
        """Stores the delivery; False when this event already went to this person on this channel."""
        stmt = pg_insert(DeliveryRow).values(**row).on_conflict_do_nothing().returning(DeliveryRow.c.notification_id)
        return (await self._session.execute(stmt)).first() is not None

    async def due(self, now: datetime, limit: int) -> Sequence[Any]:
        query = (select(DeliveryRow).where(DeliveryRow.c.status.in_(["PENDING", "HELD"]),
                                           DeliveryRow.c.next_attempt_at <= now)
                 .order_by(DeliveryRow.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
        return (await self._session.execute(query)).all()

    async def update(self, notification_id: str, **values: Any) -> None:
        await self._session.execute(update(DeliveryRow).where(DeliveryRow.c.notification_id == notification_id)
                                    .values(**values))

    async def of(self, *, customer_id: str | None = None, event_id: str | None = None, limit: int | None = None,
                 after: tuple[datetime, str] | None = None) -> Sequence[Any]:
        """Deliveries oldest first, from just after the key `after` (created_at, notification_id)."""
        key = (DeliveryRow.c.created_at, DeliveryRow.c.notification_id)
        query = select(DeliveryRow)
        if customer_id is not None:
            query = query.where(DeliveryRow.c.customer_id == customer_id)
        if event_id is not None:
            query = query.where(DeliveryRow.c.event_id == event_id)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return (await self._session.execute(query.order_by(*key).limit(limit))).all()
