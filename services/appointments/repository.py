"""Storage of the appointments service (schema `appointments`): branches, plans, overrides, counters, bookings.

Capacity lives in counters updated with a conditional statement, so the database — not a read-then-check —
keeps slots and days from being overbooked across copies. Repositories read through the unit of work's cache
(a batch's `prepare` fills it in a few queries), keep it true to what they write, and never commit.
"""

import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    Time,
    UniqueConstraint,
    case,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.appointments.domain import (
    ACTIVE_STATES,
    CODE_ALPHABET,
    CODE_LENGTH,
    Booking,
    BookingState,
    CheckInFailures,
    Override,
    Plan,
    Window,
)
from shared import ids
from shared.contracts import appointments as contract
from shared.db import among, messaging_tables
from shared.envelope import CloudEvent
from shared.timers import cancel, schedule, timer_table
from shared.unit_of_work import UnitOfWork

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

# Unknown booking codes tried per branch in the current window (check-in throttling, shared by every copy).
CheckInFailureRow = Table(
    "checkin_failures", metadata,
    Column("branch_id", Text, primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False),  # when the current window started
    Column("failures", Integer, nullable=False),
)

_BOOKING_NS = uuid.UUID("3e9d7b2c-41a8-4c6f-9b0e-5d2a8f1c7e44")
NO_SHOW = "no-show"  # the timer kind that ends a booking nobody checked in

Holder = tuple[str, date, str]  # (branch, date, customer): who may hold one active booking there that day
CodeKey = tuple[str, date, str]  # (branch, date, booking code): a code is unique per branch and day
SlotKey = tuple[str, date, time]
DayKey = tuple[str, date]


def booking_id_for(command_id: str) -> str:
    """The booking's id, derived from the command that made it (the same command always names the same booking)."""
    return f"B-{ids.uuid5(_BOOKING_NS, command_id)}"


def new_booking_code() -> str:
    """A booking code from the operating system's randomness: nothing about the booking, its command or its customer
    tells anyone the code (a replayed command gets its first answer, code included, from the stored answers)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def _draw(command_ids: list[str]) -> dict[str, str]:
    return {command_id: new_booking_code() for command_id in command_ids}


def _windows(raw: Sequence[dict[str, Any]]) -> tuple[Window, ...]:
    return tuple(Window(time.fromisoformat(w["start"]), time.fromisoformat(w["end"]), w["capacity_per_slot"])
                 for w in raw)


def windows_json(windows: Sequence[Window]) -> list[dict[str, Any]]:
    return [{"start": w.start.strftime("%H:%M"), "end": w.end.strftime("%H:%M"),
             "capacity_per_slot": w.capacity_per_slot} for w in windows]


def _plan(row: Row[Any]) -> Plan:
    return Plan(row.branch_id, row.name, row.address, row.timezone, row.slot_minutes, row.daily_cap,
                {day: _windows(ws) for day, ws in row.weekly.items()}, row.booking_window_days)


def _override(row: Row[Any]) -> Override:
    return Override(row.closed, _windows(row.windows) if row.windows is not None else None, row.daily_cap)


def _booking(row: Row[Any]) -> Booking:
    return Booking(**{**row._mapping, "state": BookingState(row.state)})  # the columns are named as the fields


class BranchRepository:
    """Branch plans and date overrides; cached per branch and per (branch, date)."""

    PLANS, OVERRIDES = "appointments.plan", "appointments.override"

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def plans(self, branch_ids: Iterable[str]) -> dict[str, Plan | None]:
        async def fetch(ids: list[str]) -> dict[str, Plan]:
            rows = await self._uow.execute(select(BranchRow).where(among(BranchRow.c.branch_id, ids)))
            return {r.branch_id: _plan(r) for r in rows}

        return await self._uow.load(self.PLANS, branch_ids, fetch)

    async def plan(self, branch_id: str) -> Plan | None:
        return (await self.plans([branch_id]))[branch_id]

    async def every_plan(self) -> list[Plan]:
        """Every branch's plan, by branch id (a bank has branches by the hundred, not by the million)."""
        return [_plan(r) for r in await self._uow.execute(select(BranchRow).order_by(BranchRow.c.branch_id))]

    async def save_plan(self, plan: Plan, at: datetime, *, only_if_absent: bool = False) -> None:
        values = {"branch_id": plan.branch_id, "name": plan.name, "address": plan.address,
                  "timezone": plan.timezone, "slot_minutes": plan.slot_minutes, "daily_cap": plan.daily_cap,
                  "weekly": {d: windows_json(ws) for d, ws in plan.weekly.items()},
                  "booking_window_days": plan.booking_window_days, "updated_at": at}
        stmt = pg_insert(BranchRow).values(values)
        await self._uow.execute(stmt.on_conflict_do_nothing() if only_if_absent else stmt.on_conflict_do_update(
            index_elements=[BranchRow.c.branch_id], set_={k: stmt.excluded[k] for k in values if k != "branch_id"}))
        if only_if_absent:
            self._uow.forget(self.PLANS, plan.branch_id)  # the plan known before, if any, stands
        else:
            self._uow.keep(self.PLANS, plan.branch_id, plan)

    async def overrides_on(self, keys: Iterable[DayKey]) -> dict[DayKey, Override | None]:
        async def fetch(wanted: list[DayKey]) -> dict[DayKey, Override]:
            t = OverrideRow
            rows = await self._uow.execute(select(t).where(among(t.c.branch_id, {b for b, _ in wanted}),
                                                           among(t.c.date, {d for _, d in wanted})))
            return {(r.branch_id, r.date): _override(r) for r in rows}

        return await self._uow.load(self.OVERRIDES, keys, fetch)

    async def override(self, branch_id: str, on: date) -> Override | None:
        return (await self.overrides_on([(branch_id, on)]))[(branch_id, on)]

    async def overrides(self, branch_id: str, first: date, last: date) -> dict[date, Override]:
        rows = await self._uow.execute(select(OverrideRow).where(
            OverrideRow.c.branch_id == branch_id, OverrideRow.c.date.between(first, last)))
        return {r.date: _override(r) for r in rows}

    async def save_override(self, branch_id: str, on: date, override: Override) -> None:
        values = {"branch_id": branch_id, "date": on, "closed": override.closed, "daily_cap": override.daily_cap,
                  "windows": windows_json(override.windows) if override.windows is not None else None}
        stmt = pg_insert(OverrideRow).values(values)
        await self._uow.execute(stmt.on_conflict_do_update(
            index_elements=[OverrideRow.c.branch_id, OverrideRow.c.date],
            set_={k: stmt.excluded[k] for k in ("closed", "daily_cap", "windows")}))
        self._uow.keep(self.OVERRIDES, (branch_id, on), override)


class BookingRepository:
    """Bookings. New ones are buffered (COPY at flush) and state changes too; who holds the active booking of a
    branch-day and which codes are taken are cached, so a batch of bookings reads them once.

    The unique keys still decide under a race: two copies booking one customer on one day, or giving two bookings
    the same code, meet `one_booking_per_customer_day` / `one_code_per_branch_day` at the flush; the consumer
    then redoes the message on its own, and it reads the other copy's booking (a refusal, or the next code).
    """

    ACTIVE, CODES, DRAWN = "appointments.active", "appointments.code", "appointments.drawn_code"

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def active_ids(self, holders: Iterable[Holder]) -> dict[Holder, str | None]:
        """The id of the active booking each (branch, date, customer) holds, if any."""
        async def fetch(wanted: list[Holder]) -> dict[Holder, str]:
            t = BookingRow
            rows = await self._uow.execute(select(t.c.branch_id, t.c.date, t.c.customer_id, t.c.booking_id).where(
                among(t.c.branch_id, {b for b, _, _ in wanted}), among(t.c.date, {d for _, d, _ in wanted}),
                among(t.c.customer_id, {c for _, _, c in wanted}), t.c.state.in_([s.value for s in ACTIVE_STATES])))
            return {(r.branch_id, r.date, r.customer_id): r.booking_id for r in rows}

        return await self._uow.load(self.ACTIVE, holders, fetch)

    async def active_id(self, branch_id: str, on: date, customer_id: str) -> str | None:
        holder = (branch_id, on, customer_id)
        return (await self.active_ids([holder]))[holder]

    async def codes_taken(self, keys: Iterable[CodeKey]) -> dict[CodeKey, str | None]:
        """The booking holding each (branch, date, code), if any."""
        async def fetch(wanted: list[CodeKey]) -> dict[CodeKey, str]:
            t = BookingRow
            rows = await self._uow.execute(select(t.c.branch_id, t.c.date, t.c.booking_code, t.c.booking_id).where(
                among(t.c.branch_id, {b for b, _, _ in wanted}), among(t.c.date, {d for _, d, _ in wanted}),
                among(t.c.booking_code, {c for _, _, c in wanted})))
            return {(r.branch_id, r.date, r.booking_code): r.booking_id for r in rows}

        return await self._uow.load(self.CODES, keys, fetch)

    async def code_taken(self, branch_id: str, on: date, code: str) -> bool:
        key = (branch_id, on, code)
        return (await self.codes_taken([key]))[key] is not None

    async def drawn_codes(self, command_ids: Iterable[str]) -> dict[str, str | None]:
        """A random code drawn once per booking command in this transaction, so a batch's `prepare` can ask whether
        the codes its bookings will get are taken before the bookings are decided."""
        return await self._uow.load(self.DRAWN, command_ids, _draw)

    async def free_code(self, branch_id: str, on: date, command_id: str) -> str:
        """A random code no booking of that branch and day holds: the one drawn for the command, else fresh draws.
        Two copies drawing the same code at once meet `one_code_per_branch_day`; the loser is redone and draws again."""
        code = (await self.drawn_codes([command_id]))[command_id] or new_booking_code()
        while await self.code_taken(branch_id, on, code):
            code = new_booking_code()
        return code

    def add(self, booking: Booking) -> None:
        """A new booking, written at the flush.

        No replay check here: the consumer answers a command it has answered before with its stored answer (also
        when two copies decide one command at once: the second meets the first's booking id and `command_id` at
        the flush, is redone on its own and finds the first's answer). A command that reached this again with no
        answer stored would meet them, be redone once, meet them again and be dead-lettered: never booked twice."""
        # shallow, unlike dataclasses.asdict (which deep-copies every value)
        self._uow.add(BookingRow, {**{f.name: getattr(booking, f.name) for f in fields(booking)},
                                   "state": booking.state.value})
        self._uow.keep(self.CODES, (booking.branch_id, booking.date, booking.booking_code), booking.booking_id)
        self._keep_holder(booking)

    def save(self, booking: Booking) -> None:
        """A booking's new state (and ticket), written at the flush."""
        self._uow.update(BookingRow, {"booking_id": booking.booking_id}, {
            "state": booking.state.value, "updated_at": booking.updated_at, "ticket_number": booking.ticket_number,
            "checkin_reported_at": booking.checkin_reported_at})
        self._keep_holder(booking)

    def _keep_holder(self, booking: Booking) -> None:
        self._uow.keep(self.ACTIVE, (booking.branch_id, booking.date, booking.customer_id),
                       booking.booking_id if booking.active else None)

    async def lock(self, booking_id: str) -> Booking | None:
        """The booking, locked until the transaction ends (a second cancel or check-in waits, then sees this one's)."""
        query = select(BookingRow).where(BookingRow.c.booking_id == booking_id).with_for_update()
        row = (await self._uow.execute(query)).first()
        return _booking(row) if row is not None else None

    async def lock_by_code(self, branch_id: str, on: date, code: str) -> Booking | None:
        query = select(BookingRow).where(BookingRow.c.branch_id == branch_id, BookingRow.c.date == on,
                                         BookingRow.c.booking_code == code).with_for_update()
        row = (await self._uow.execute(query)).first()
        return _booking(row) if row is not None else None

    async def active_on(self, branch_id: str, on: date, *, limit: int,
                        after: tuple[time, datetime, str] | None = None) -> list[Booking]:
        """The day's active bookings by slot, then in the order they were made (the last ones of a slot are those a
        cut left over its capacity; by id among those made at one instant), from just after the key `after`
        (start_time, created_at, booking_id)."""
        key = (BookingRow.c.start_time, BookingRow.c.created_at, BookingRow.c.booking_id)
        query = select(BookingRow).where(BookingRow.c.branch_id == branch_id, BookingRow.c.date == on,
                                         BookingRow.c.state.in_([s.value for s in ACTIVE_STATES]))
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return [_booking(r) for r in (await self._uow.execute(query.order_by(*key).limit(limit))).all()]


class CapacityRepository:
    """Slot and day counters. Taking a place is one conditional statement, run at once, which alone decides
    capacity across copies; the counts it returns are cached, so a later booking of the batch that they already
    show full is refused without a statement (a place another copy frees meanwhile goes to a later batch)."""

    SLOTS, DAYS = "appointments.slot_booked", "appointments.day_booked"

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def counts(self, slots: Iterable[SlotKey]) -> None:
        """Reads the counters of these slots and of their days into the cache (two queries)."""
        slots = list(slots)
        await self._uow.load(self.SLOTS, slots, self._slot_counts)
        await self._uow.load(self.DAYS, [(b, d) for b, d, _ in slots], self._day_counts)

    async def booked(self, branch_id: str, on: date, start: time) -> tuple[int, int]:
        """(booked on the day, booked on the slot), as far as this transaction knows (a count it has not read is
        read now)."""
        day = await self._uow.load_one(self.DAYS, (branch_id, on), self._day_counts)
        slot = await self._uow.load_one(self.SLOTS, (branch_id, on, start), self._slot_counts)
        return day or 0, slot or 0

    async def _slot_counts(self, wanted: list[SlotKey]) -> dict[SlotKey, int]:
        t = SlotCounterRow
        rows = await self._uow.execute(select(t).where(
            among(t.c.branch_id, {b for b, _, _ in wanted}), among(t.c.date, {d for _, d, _ in wanted}),
            among(t.c.start_time, {s for _, _, s in wanted})))
        return {(r.branch_id, r.date, r.start_time): r.booked for r in rows}

    async def _day_counts(self, wanted: list[DayKey]) -> dict[DayKey, int]:
        t = DayCounterRow
        rows = await self._uow.execute(select(t.c.branch_id, t.c.date, t.c.booked).where(
            among(t.c.branch_id, {b for b, _ in wanted}), among(t.c.date, {d for _, d in wanted})))
        return {(r.branch_id, r.date): r.booked for r in rows}

    async def take_slot(self, branch_id: str, on: date, start: time, capacity: int) -> bool:
        return await self._take(SlotCounterRow, self.SLOTS, {"branch_id": branch_id, "date": on, "start_time": start},
                                capacity)

    async def take_day(self, branch_id: str, on: date, cap: int) -> bool:
        return await self._take(DayCounterRow, self.DAYS, {"branch_id": branch_id, "date": on}, cap)

    async def free_slot(self, branch_id: str, on: date, start: time) -> None:
        await self._free(SlotCounterRow, self.SLOTS, {"branch_id": branch_id, "date": on, "start_time": start})

    async def free_day(self, branch_id: str, on: date) -> None:
        await self._free(DayCounterRow, self.DAYS, {"branch_id": branch_id, "date": on})

    async def _take(self, table: Table, space: str, key: dict[str, Any], limit: int) -> bool:
        """One more booking on the counter, only while below `limit` (atomic under concurrency)."""
        if limit <= 0:
            return False
        stmt = pg_insert(table).values(**key, booked=1).on_conflict_do_update(
            index_elements=[table.c[k] for k in key], set_={"booked": table.c.booked + 1}, where=table.c.booked < limit)
        booked = (await self._uow.execute(stmt.returning(table.c.booked))).scalar()
        if booked is None:
            self._uow.forget(space, tuple(key.values()))  # full: the next read learns how full (the refusal's facts)
            return False
        self._uow.keep(space, tuple(key.values()), booked)
        return True

    async def _free(self, table: Table, space: str, key: dict[str, Any]) -> None:
        stmt = (update(table).where(*(table.c[k] == v for k, v in key.items()))
                .values(booked=table.c.booked - 1).returning(table.c.booked))
        self._uow.keep(space, tuple(key.values()), (await self._uow.execute(stmt)).scalar())

    async def next_ticket(self, branch_id: str, on: date) -> int:
        """The next priority ticket of the branch and day: the counter row's lock makes it gapless and unique."""
        stmt = pg_insert(DayCounterRow).values(branch_id=branch_id, date=on, booked=0, last_ticket=1)
        stmt = stmt.on_conflict_do_update(index_elements=[DayCounterRow.c.branch_id, DayCounterRow.c.date],
                                          set_={"last_ticket": DayCounterRow.c.last_ticket + 1})
        return int((await self._uow.execute(stmt.returning(DayCounterRow.c.last_ticket))).scalar_one())

    async def booked_by_slot(self, branch_id: str, first: date,
                             last: date | None = None) -> dict[date, dict[time, int]]:
        """Active bookings per slot for dates from `first` (to `last`)."""
        t = SlotCounterRow
        query = select(t.c.date, t.c.start_time, t.c.booked).where(t.c.branch_id == branch_id, t.c.date >= first,
                                                                    t.c.booked > 0)
        if last is not None:
            query = query.where(t.c.date <= last)
        result: dict[date, dict[time, int]] = {}
        for row in await self._uow.execute(query):
            result.setdefault(row.date, {})[row.start_time] = row.booked
        return result

    async def booked_by_day(self, branch_id: str, first: date, last: date | None = None) -> dict[date, int]:
        """Active bookings per day for dates from `first` (to `last`)."""
        t = DayCounterRow
        query = select(t.c.date, t.c.booked).where(t.c.branch_id == branch_id, t.c.date >= first)
        if last is not None:
            query = query.where(t.c.date <= last)
        return {r.date: r.booked for r in await self._uow.execute(query)}


class CheckInFailureRepository:
    """Unknown codes tried per branch, counted with one atomic statement, so the limit holds across copies."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def seen(self, branch_id: str) -> CheckInFailures | None:
        t = CheckInFailureRow
        row = (await self._uow.execute(select(t.c.failures, t.c.since).where(t.c.branch_id == branch_id))).first()
        return CheckInFailures(row.failures, row.since) if row is not None else None

    async def count(self, branch_id: str, now: datetime, window: timedelta) -> None:
        """One more unknown code at the branch: in the current window, or as the first of a new one once the
        window has passed."""
        t = CheckInFailureRow
        stmt = pg_insert(t).values(branch_id=branch_id, since=now, failures=1)
        passed = t.c.since + window <= stmt.excluded.since
        await self._uow.execute(stmt.on_conflict_do_update(index_elements=[t.c.branch_id], set_={
            "since": case((passed, stmt.excluded.since), else_=t.c.since),
            "failures": case((passed, 1), else_=t.c.failures + 1)}))


class TimerRepository:
    """The no-show timer of each booking (shared.timers: durable, fired once across copies)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def set_no_show(self, booking_id: str, due_at: datetime, correlationid: str | None) -> None:
        # An upsert run at once: the timers table is never buffered here, so nothing needs flushing before it.
        await schedule(self._uow, timers, NO_SHOW, booking_id, due_at, {"correlationid": correlationid})

    async def drop_no_show(self, booking_id: str) -> None:
        await cancel(self._uow, timers, NO_SHOW, booking_id)


async def prepare(uow: UnitOfWork, messages: Sequence[tuple[str, CloudEvent[Any]]]) -> None:
    """Preloads what a batch's bookings read, in six queries: the branches' plans and overrides on the dates
    booked, the customers' active bookings there, whether the codes the bookings would get are taken, and the
    counters of the slots and days booked."""
    books = [event.data for _, event in messages if isinstance(event.data, contract.BookSlot)]
    if not books:
        return
    days, branches = {(b.branch_id, b.date) for b in books}, BranchRepository(uow)
    await branches.plans({branch for branch, _ in days})
    await branches.overrides_on(days)
    bookings = BookingRepository(uow)
    await bookings.active_ids({(b.branch_id, b.date, b.customer_id) for b in books})
    drawn = await bookings.drawn_codes(b.command_id for b in books)
    await bookings.codes_taken({(b.branch_id, b.date, drawn[b.command_id] or "") for b in books})
    await CapacityRepository(uow).counts({(b.branch_id, b.date, b.start_time) for b in books})
