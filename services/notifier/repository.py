"""Storage of the notifier (schema `notifier`): recipients from loan snapshots, every delivery, booking reminders.

Repositories read and write through the transaction's unit of work (shared.unit_of_work) and return domain
objects: a read is cached for the transaction (and a batch's reads are preloaded by `prepare`), a write keeps the
cache coherent. They never commit: the caller's transaction does.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
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
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row

from services.notifier.domain import Booking, Delivery, LoanBorrowers, Recipient, Status
from shared.contracts import confirmation, loans
from shared.db import among, messaging_tables
from shared.envelope import CloudEvent
from shared.timers import cancel, schedule, timer_table
from shared.unit_of_work import UnitOfWork

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
    Column("traceparent", Text),  # the causing event's trace context (W3C); NULL before 0007 and with tracing off
    # SPEC §7: the same event never notifies the same person twice on a channel.
    UniqueConstraint("event_id", "customer_id", "channel", name="one_delivery_per_event_recipient_channel"),
    Index("deliveries_due", "next_attempt_at", postgresql_where=text("status IN ('PENDING', 'HELD')")),
    Index("deliveries_body_kept", "sent_at", postgresql_where=text("body <> ''")),  # retention finds old bodies
)



class RecipientRepository:
    """Who can be reached and how, by customer id (cached for the transaction)."""

    SPACE = "notifier.recipient"

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def get(self, customer_id: str) -> Recipient | None:
        return await self._uow.load_one(self.SPACE, customer_id, self._fetch)

    async def get_many(self, customer_ids: Iterable[str]) -> dict[str, Recipient | None]:
        return await self._uow.load(self.SPACE, customer_ids, self._fetch)

    async def save_newer(self, recipients: Sequence[Recipient], as_of: datetime) -> None:
        """Stores each recipient as of `as_of`, unless a newer snapshot (of any of their loans) already holds them:
        a customer on several loans keeps the contacts of the newest snapshot. One upsert for all of them."""
        if not recipients:
            return
        stmt = pg_insert(RecipientRow).values([
            {"customer_id": r.customer_id, "language": r.language, "channels": list(r.channels), "phone": r.phone,
             "email": r.email, "as_of": as_of} for r in recipients])
        upsert = stmt.on_conflict_do_update(
            index_elements=[RecipientRow.c.customer_id],
            set_={c: stmt.excluded[c] for c in ("language", "channels", "phone", "email", "as_of")},
            where=RecipientRow.c.as_of < stmt.excluded.as_of,
        ).returning(RecipientRow.c.customer_id)
        stored = set((await self._uow.execute(upsert)).scalars())
        for r in recipients:
            if r.customer_id in stored:  # not stored: the cache, if it has them, holds the newer details read
                self._uow.keep(self.SPACE, r.customer_id, r)

    async def _fetch(self, customer_ids: list[str]) -> dict[str, Recipient]:
        rows = await self._uow.execute(select(RecipientRow).where(among(RecipientRow.c.customer_id, customer_ids)))
        return {r.customer_id: Recipient(r.customer_id, r.language, tuple(r.channels), r.phone, r.email)
                for r in rows}


class LoanRepository:
    """Which snapshot of each loan was applied, and who its borrowers are (primary borrowers cached)."""

    PRIMARY = "notifier.primary"

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def newest_snapshot(self, loan_id: str, as_of: datetime) -> bool:
        """Records `as_of` as the loan's snapshot time if it is newer than the stored one; False: a stale snapshot.

        One conditional upsert: two copies applying snapshots of one loan serialize on its row.
        """
        stmt = pg_insert(LoanRow).values(loan_id=loan_id, as_of=as_of)
        stmt = stmt.on_conflict_do_update(index_elements=[LoanRow.c.loan_id], set_={"as_of": stmt.excluded.as_of},
                                          where=LoanRow.c.as_of < stmt.excluded.as_of)
        return (await self._uow.execute(stmt.returning(LoanRow.c.loan_id))).first() is not None

    async def replace_borrowers(self, loan: LoanBorrowers) -> None:
        """The loan's borrowers become exactly those of `loan`: those no longer on it are unlinked."""
        roles = loan.roles
        await self._uow.execute(delete(LoanBorrowerRow).where(
            LoanBorrowerRow.c.loan_id == loan.loan_id, LoanBorrowerRow.c.customer_id.not_in(list(roles))))
        if roles:
            stmt = pg_insert(LoanBorrowerRow).values(
                [{"loan_id": loan.loan_id, "customer_id": c, "role": r} for c, r in roles.items()])
            await self._uow.execute(stmt.on_conflict_do_update(
                index_elements=[LoanBorrowerRow.c.loan_id, LoanBorrowerRow.c.customer_id],
                set_={"role": stmt.excluded.role}))
        self._uow.keep(self.PRIMARY, loan.loan_id, loan.primary)

    async def primary_of(self, loan_id: str) -> str | None:
        return await self._uow.load_one(self.PRIMARY, loan_id, self._fetch_primaries)

    async def primaries_of(self, loan_ids: Iterable[str]) -> dict[str, str | None]:
        return await self._uow.load(self.PRIMARY, loan_ids, self._fetch_primaries)

    async def _fetch_primaries(self, loan_ids: list[str]) -> dict[str, str]:
        rows = await self._uow.execute(select(LoanBorrowerRow.c.loan_id, LoanBorrowerRow.c.customer_id).where(
            among(LoanBorrowerRow.c.loan_id, loan_ids), LoanBorrowerRow.c.role == "PRIMARY"))
        return {r.loan_id: r.customer_id for r in rows}


class DeliveryRepository:
    """Every delivery; which notifications each event already has is cached for the transaction."""

    NOTIFIED = "notifier.notified"
    _STATE = ("status", "attempts", "sent_at", "next_attempt_at", "last_error")  # what sending changes

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def notified(self, event_id: str) -> frozenset[str]:
        """The notification ids already recorded for `event_id` (SPEC §7: an event never notifies the same person
        twice on a channel)."""
        return await self._uow.load_one(self.NOTIFIED, event_id, self._fetch_notified) or frozenset()

    async def preload_notified(self, event_ids: Iterable[str]) -> None:
        await self._uow.load(self.NOTIFIED, event_ids, self._fetch_notified)

    async def add(self, delivery: Delivery) -> None:
        """Records a new delivery (written with the transaction's COPY; a delivery another writer recorded in the
        meantime fails it, and the message is redone on its own, where `notified` then names it)."""
        already = await self.notified(delivery.event_id)
        self._uow.add(DeliveryRow, _row(delivery))
        self._uow.keep(self.NOTIFIED, delivery.event_id, already | {delivery.notification_id})

    def save(self, delivery: Delivery) -> None:
        """Records how sending went (status, attempts, times, last error)."""
        row = _row(delivery)
        self._uow.update(DeliveryRow, {"notification_id": delivery.notification_id}, {c: row[c] for c in self._STATE})

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending and held deliveries due by `now`, oldest due first, locked (others skip them)."""
        query = (select(DeliveryRow).where(DeliveryRow.c.status.in_([Status.PENDING.value, Status.HELD.value]),
                                           DeliveryRow.c.next_attempt_at <= now)
                 .order_by(DeliveryRow.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
        return [_delivery(r) for r in await self._uow.execute(query)]

    async def of(self, *, customer_id: str | None = None, event_id: str | None = None, limit: int | None = None,
                 after: tuple[datetime, str] | None = None) -> list[Delivery]:
        """Deliveries oldest first, from just after the key `after` (created_at, notification_id)."""
        key = (DeliveryRow.c.created_at, DeliveryRow.c.notification_id)
        query = select(DeliveryRow)
        if customer_id is not None:
            query = query.where(DeliveryRow.c.customer_id == customer_id)
        if event_id is not None:
            query = query.where(DeliveryRow.c.event_id == event_id)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return [_delivery(r) for r in await self._uow.execute(query.order_by(*key).limit(limit))]

    async def _fetch_notified(self, event_ids: list[str]) -> dict[str, frozenset[str]]:
        rows = await self._uow.execute(select(DeliveryRow.c.event_id, DeliveryRow.c.notification_id)
                                       .where(among(DeliveryRow.c.event_id, event_ids)))
        found: dict[str, set[str]] = {}
        for r in rows:
            found.setdefault(r.event_id, set()).add(r.notification_id)
        return {event_id: frozenset(ids) for event_id, ids in found.items()}


def _row(delivery: Delivery) -> dict[str, Any]:
    return {**vars(delivery), "status": delivery.status.value}


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(**{**row._mapping, "status": Status(row.status)})


REMINDER = "booking-reminder"  # the timer kind of booking reminders, keyed by booking id


class ReminderRepository:
    """Booking reminders: timers (shared.timers) that fire the morning before."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def schedule(self, booking: Booking, due: datetime, correlation_id: str | None) -> None:
        await schedule(self._uow, timers, REMINDER, booking.booking_id, due, {
            "correlationid": correlation_id, "customer_id": booking.customer_id, "code": booking.code,
            "date": booking.on.isoformat(), "time": booking.at.strftime("%H:%M"), "branch_name": booking.branch_name,
            "branch_address": booking.branch_address})

    async def cancel(self, booking_id: str) -> None:
        await cancel(self._uow, timers, REMINDER, booking_id)


def reminded_booking(booking_id: str, payload: Mapping[str, Any]) -> Booking:
    """The booking a reminder timer was scheduled for, from its payload."""
    return Booking(booking_id=booking_id, customer_id=payload["customer_id"], code=payload["code"],
                   on=date.fromisoformat(payload["date"]), at=time.fromisoformat(payload["time"]),
                   branch_name=payload["branch_name"], branch_address=payload["branch_address"])


async def prepare(uow: UnitOfWork, messages: Sequence[tuple[str, CloudEvent[Any]]]) -> None:
    """Preloads what a batch's handlers read: the recipients its events name (or, for an event naming only a
    loan, the loan's primary borrower) and the deliveries its events already have. Three queries at most."""
    customers: set[str] = set()
    loan_ids: set[str] = set()
    events = []
    for _topic, event in messages:
        data = event.data
        if isinstance(data, loans.LoanSnapshot):
            continue
        events.append(event.id)
        if isinstance(data, confirmation.ConfirmationCallRequested):
            continue  # the service centre is told
        if customer := getattr(data, "applicant_customer_id", None) or getattr(data, "customer_id", None):
            customers.add(customer)
        elif loan_id := getattr(data, "loan_id", None):
            loan_ids.add(loan_id)
    if loan_ids:
        primaries = await LoanRepository(uow).primaries_of(sorted(loan_ids))
        customers.update(c for c in primaries.values() if c is not None)
    if customers:
        await RecipientRepository(uow).get_many(sorted(customers))
    if events:
        await DeliveryRepository(uow).preload_notified(events)
