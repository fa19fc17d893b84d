"""Storage of the appointments service (schema `appointments`): branches, plans, overrides, counters, bookings.

Capacity lives in counters updated with a conditional statement, so the database — not a read-then-check —
keeps slots and days from being overbooked across copies. Repositories never commit.
"""

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Time,
    UniqueConstraint,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.appointments.domain import BookingState, Override, Plan, Window
from shared.db import messaging_tables
from shared.timers import timer_table

SCHEMA = "appointments"
metadata = MetaData(schema=SCHEMA)
inbox, outbox = messaging_tables(metadata)
timers = timer_table(metadata)

BranchRow = Table(
    "branches", metadata,
    Column("branch_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("slot_minutes", Integer, nullable=False),
    Column("daily_cap", Integer, nullable=False),
    Column("weekly", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("booking_window_days", Integer, nullable=False, server_default="14"),  # since 0004
)
OverrideRow = Table(
    "overrides", metadata,
    Column("branch_id", Text, primary_key=True),
    Column("date", Date, primary_key=True),
    Column("closed", Boolean, nullable=False),
    Column("windows", JSONB),
    Column("daily_cap", Integer),
)
SlotCounterRow = Table(
    "slot_counters", metadata,
    Column("branch_id", Text, primary_key=True),
    Column("date", Date, primary_key=True),
    Column("start_time", Time, primary_key=True),
    Column("booked", Integer, nullable=False),
)
DayCounterRow = Table(
    "day_counters", metadata,
    Column("branch_id", Text, primary_key=True),
    Column("date", Date, primary_key=True),
    Column("booked", Integer, nullable=False),
    Column("last_ticket", Integer, nullable=False, server_default="0"),
)
BookingRow = Table(
    "bookings", metadata,
    Column("booking_id", Text, primary_key=True),
    Column("booking_code", Text, nullable=False),
    Column("command_id", Text, nullable=False, unique=True),
    Column("customer_id", Text, nullable=False),
    Column("branch_id", Text, nullable=False),
    Column("date", Date, nullable=False),
    Column("start_time", Time, nullable=False),
    Column("end_time", Time, nullable=False),
    Column("service_type", Text, nullable=False),
    Column("request_id", Text),
    Column("note", Text),
    Column("state", Text, nullable=False),
    Column("ticket_number", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("checkin_reported_at", DateTime(timezone=True)),  # since 0004: the kiosk's time, for the record
    UniqueConstraint("branch_id", "date", "booking_code", name="one_code_per_branch_day"),
    # SPEC §6 (expected): one active booking per customer, branch and day.
    Index("one_booking_per_customer_day", "branch_id", "date", "customer_id", unique=True,
          postgresql_where=text("state IN ('BOOKED', 'CHECKED_IN')")),
)


def _windows(raw: Sequence[dict[str, Any]]) -> tuple[Window, ...]:
    return tuple(Window(time.fromisoformat(w["start"]), time.fromisoformat(w["end"]), w["capacity_per_slot"])
                 for w in raw)


def windows_json(windows: Sequence[Window]) -> list[dict[str, Any]]:
    return [{"start": w.start.strftime("%H:%M"), "end": w.end.strftime("%H:%M"),
             "capacity_per_slot": w.capacity_per_slot} for w in windows]


class Store:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def plan(self, branch_id: str) -> Plan | None:
        row = (await self._s.execute(select(BranchRow).where(BranchRow.c.branch_id == branch_id))).first()
        if row is None:
            return None
        return Plan(row.branch_id, row.name, row.address, row.timezone, row.slot_minutes, row.daily_cap,
                    {day: _windows(ws) for day, ws in row.weekly.items()}, row.booking_window_days)

    async def save_plan(self, plan: Plan, at: datetime, *, only_if_absent: bool = False) -> None:
        values = {"branch_id": plan.branch_id, "name": plan.name, "address": plan.address,
                  "timezone": plan.timezone, "slot_minutes": plan.slot_minutes, "daily_cap": plan.daily_cap,
                  "weekly": {d: windows_json(ws) for d, ws in plan.weekly.items()},
                  "booking_window_days": plan.booking_window_days, "updated_at": at}
        stmt = pg_insert(BranchRow).values(values)
        await self._s.execute(stmt.on_conflict_do_nothing() if only_if_absent else stmt.on_conflict_do_update(
            index_elements=[BranchRow.c.branch_id], set_={k: stmt.excluded[k] for k in values if k != "branch_id"}))

    async def override(self, branch_id: str, on: date) -> Override | None:
        row = (await self._s.execute(select(OverrideRow).where(OverrideRow.c.branch_id == branch_id,
                                                               OverrideRow.c.date == on))).first()
        if row is None:
            return None
        return Override(row.closed, _windows(row.windows) if row.windows is not None else None, row.daily_cap)

    async def overrides(self, branch_id: str, first: date, last: date) -> dict[date, Override]:
        rows = (await self._s.execute(select(OverrideRow).where(
            OverrideRow.c.branch_id == branch_id, OverrideRow.c.date.between(first, last)))).all()
        return {r.date: Override(r.closed, _windows(r.windows) if r.windows is not None else None, r.daily_cap)
                for r in rows}

    async def save_override(self, branch_id: str, on: date, override: Override) -> None:
        values = {"branch_id": branch_id, "date": on, "closed": override.closed, "daily_cap": override.daily_cap,
                  "windows": windows_json(override.windows) if override.windows is not None else None}
        stmt = pg_insert(OverrideRow).values(values)
        await self._s.execute(stmt.on_conflict_do_update(
            index_elements=[OverrideRow.c.branch_id, OverrideRow.c.date],
            set_={k: stmt.excluded[k] for k in ("closed", "daily_cap", "windows")}))

    async def take_place(self, table: Table, keys: dict[str, Any], limit: int) -> bool:
        """One more booking on a slot or day counter, only while below `limit` (atomic under concurrency)."""
        if limit <= 0:
            return False
        stmt = pg_insert(table).values(**keys, booked=1)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c[k] for k in keys],
                                          set_={"booked": table.c.booked + 1},
                                          where=table.c.booked < limit).returning(table.c.booked)
        return (await self._s.execute(stmt)).first() is not None

    async def booked(self, table: Table, keys: dict[str, Any]) -> int:
        """What a slot or day counter holds now (the facts of a refusal)."""
        query = select(table.c.booked).where(*(table.c[k] == v for k, v in keys.items()))
        return int((await self._s.execute(query)).scalar() or 0)

    async def free_place(self, table: Table, keys: dict[str, Any]) -> None:
        await self._s.execute(update(table).where(*(table.c[k] == v for k, v in keys.items()))
                              .values(booked=table.c.booked - 1))

    async def next_ticket(self, branch_id: str, on: date) -> int:
        """The next priority ticket of the branch and day: the counter row's lock makes it gapless and unique."""
        stmt = pg_insert(DayCounterRow).values(branch_id=branch_id, date=on, booked=0, last_ticket=1)
        stmt = stmt.on_conflict_do_update(index_elements=[DayCounterRow.c.branch_id, DayCounterRow.c.date],
                                          set_={"last_ticket": DayCounterRow.c.last_ticket + 1})
        return int((await self._s.execute(stmt.returning(DayCounterRow.c.last_ticket))).scalar_one())

    async def active_booking(self, branch_id: str, on: date, customer_id: str) -> str | None:
        """The id of the customer's active booking at the branch that day, if any."""
        query = select(BookingRow.c.booking_id).where(
            BookingRow.c.branch_id == branch_id, BookingRow.c.date == on, BookingRow.c.customer_id == customer_id,
            BookingRow.c.state.in_([BookingState.BOOKED.value, BookingState.CHECKED_IN.value])).limit(1)
        return (await self._s.execute(query)).scalar()

    async def booking_by_command(self, command_id: str) -> Any:
        return (await self._s.execute(select(BookingRow).where(BookingRow.c.command_id == command_id))).first()

    async def code_taken(self, branch_id: str, on: date, code: str) -> bool:
        query = select(BookingRow.c.booking_id).where(BookingRow.c.branch_id == branch_id, BookingRow.c.date == on,
                                                      BookingRow.c.booking_code == code)
        return (await self._s.execute(query)).first() is not None

    async def add_booking(self, **values: Any) -> None:
        await self._s.execute(BookingRow.insert().values(**values))

    async def booking(self, booking_id: str) -> Any:
        query = select(BookingRow).where(BookingRow.c.booking_id == booking_id).with_for_update()
        return (await self._s.execute(query)).first()

    async def booking_by_code(self, branch_id: str, on: date, code: str) -> Any:
        query = select(BookingRow).where(BookingRow.c.branch_id == branch_id, BookingRow.c.date == on,
                                         BookingRow.c.booking_code == code).with_for_update()
        return (await self._s.execute(query)).first()

    async def set_state(self, booking_id: str, state: BookingState, at: datetime, **extra: Any) -> None:
        await self._s.execute(update(BookingRow).where(BookingRow.c.booking_id == booking_id)
                              .values(state=state.value, updated_at=at, **extra))

    async def booked_by_slot(self, branch_id: str, first: date, last: date | None = None) -> dict[date, dict[time, int]]:
        """Active bookings per slot for dates from `first` (to `last`)."""
        t = SlotCounterRow
        query = select(t.c.date, t.c.start_time, t.c.booked).where(t.c.branch_id == branch_id, t.c.date >= first,
                                                                    t.c.booked > 0)
        if last is not None:
            query = query.where(t.c.date <= last)
        result: dict[date, dict[time, int]] = {}
        for row in (await self._s.execute(query)).all():
            result.setdefault(row.date, {})[row.start_time] = row.booked
        return result

    async def booked_by_day(self, branch_id: str, first: date, last: date | None = None) -> dict[date, int]:
        """Active bookings per day for dates from `first` (to `last`)."""
        t = DayCounterRow
        query = select(t.c.date, t.c.booked).where(t.c.branch_id == branch_id, t.c.date >= first)
        if last is not None:
            query = query.where(t.c.date <= last)
        return {r.date: r.booked for r in (await self._s.execute(query)).all()}
