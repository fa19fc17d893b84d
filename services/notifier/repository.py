"""Storage of the notifier (schema `notifier`): recipients from loan snapshots, and every delivery.

Repositories never commit: the caller's transaction does.
"""

from datetime import datetime

from sqlalchemy import ARRAY, Column, DateTime, Integer, MetaData, Table, Text, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.domain import Message, Recipient

SCHEMA = "notifier"
metadata = MetaData(schema=SCHEMA)

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
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    # SPEC §7: the same event never notifies the same person twice on a channel.
    UniqueConstraint("event_id", "customer_id", "channel", name="one_delivery_per_event_recipient_channel"),
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

    async def link(self, loan_id: str, customer_id: str, role: str) -> None:
        stmt = pg_insert(LoanBorrowerRow).values(loan_id=loan_id, customer_id=customer_id, role=role)
        await self._session.execute(stmt.on_conflict_do_update(
            index_elements=[LoanBorrowerRow.c.loan_id, LoanBorrowerRow.c.customer_id], set_={"role": role}
        ))

    async def get(self, customer_id: str) -> Recipient | None:
        row = (await self._session.execute(
            select(RecipientRow.c.customer_id, RecipientRow.c.language, RecipientRow.c.channels)
            .where(RecipientRow.c.customer_id == customer_id)
        )).first()
        return Recipient(row.customer_id, row.language, tuple(row.channels)) if row else None

    async def primary_of(self, loan_id: str) -> str | None:
        return await self._session.scalar(select(LoanBorrowerRow.c.customer_id).where(
            LoanBorrowerRow.c.loan_id == loan_id, LoanBorrowerRow.c.role == "PRIMARY"))


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_sent(self, *, notification_id: str, event_id: str, customer_id: str, channel: str,
                          message: Message, at: datetime) -> bool:
        """The local sender: stores the delivery; False when this event already reached this person there."""
        stmt = pg_insert(DeliveryRow).values(
            notification_id=notification_id, event_id=event_id, customer_id=customer_id, channel=channel,
            template=message.template, language=message.language, body=message.body, status="SENT", attempts=1,
            created_at=at, sent_at=at,
        ).on_conflict_do_nothing().returning(DeliveryRow.c.notification_id)
        return (await self._session.execute(stmt)).first() is not None
