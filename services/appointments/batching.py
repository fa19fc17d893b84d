"""Batched reads for the appointments hot path (bookings); see shared.messaging.BatchHooks.

A batch's bookings are checked against a snapshot read in a few queries: branch plans, date overrides,
the customers' active bookings and the counters. A booking the snapshot already shows as impossible (day or
slot full, duplicate) is refused without touching the database; every booking that may fit still takes its
place with the conditional counter update, which alone decides capacity across copies.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.appointments.domain import BookingState, Override, Plan
from services.appointments.repository import BookingRow, DayCounterRow, SlotCounterRow, Store
from shared import topics
from shared.envelope import CloudEvent

_KEY = "appointments.batch"


@dataclass
class Snapshot:
    known_commands: set[str]
    plans: dict[str, Plan | None]
    overrides: dict[tuple[str, date], Override]
    active: dict[tuple[str, date, str], str]  # (branch, date, customer) -> the active booking it holds
    day_booked: dict[tuple[str, date], int]
    slot_booked: dict[tuple[str, date, time], int]


def snapshot_of(session: AsyncSession) -> Snapshot | None:
    return session.info.get(_KEY)  # type: ignore[no-any-return]


def forget_snapshot(session: AsyncSession) -> None:
    """Handlers that change plans, bookings or counters other than by booking drop the snapshot."""
    session.info.pop(_KEY, None)


class AppointmentBatching:
    async def prepare(self, session: AsyncSession, messages: Sequence[tuple[str, CloudEvent[Any]]]) -> None:
        books = [e.data for topic, e in messages if topic == topics.APPOINTMENTS_COMMANDS and e.type == "BookSlot"]
        if len(books) < 2:
            return
        branches = sorted({b.branch_id for b in books})
        dates = sorted({b.date for b in books})
        store = Store(session)
        known = set((await session.execute(select(BookingRow.c.command_id).where(
            BookingRow.c.command_id.in_([b.command_id for b in books])))).scalars())
        plans = {branch: await store.plan(branch) for branch in branches}
        overrides = {}
        for branch in branches:
            for on, override in (await store.overrides(branch, dates[0], dates[-1])).items():
                overrides[(branch, on)] = override
        active_rows = await session.execute(select(BookingRow.c.branch_id, BookingRow.c.date, BookingRow.c.customer_id,
                                                   BookingRow.c.booking_id)
                                            .where(BookingRow.c.branch_id.in_(branches), BookingRow.c.date.in_(dates),
                                                   BookingRow.c.customer_id.in_({b.customer_id for b in books}),
                                                   BookingRow.c.state.in_([BookingState.BOOKED.value,
                                                                           BookingState.CHECKED_IN.value])))
        days = await session.execute(select(DayCounterRow).where(DayCounterRow.c.branch_id.in_(branches),
                                                                 DayCounterRow.c.date.in_(dates)))
        slots = await session.execute(select(SlotCounterRow).where(SlotCounterRow.c.branch_id.in_(branches),
                                                                   SlotCounterRow.c.date.in_(dates)))
        session.info[_KEY] = Snapshot(
            known_commands=known, plans=plans, overrides=overrides,
            active={(r.branch_id, r.date, r.customer_id): r.booking_id for r in active_rows.all()},
            day_booked={(r.branch_id, r.date): r.booked for r in days.all()},
            slot_booked={(r.branch_id, r.date, r.start_time): r.booked for r in slots.all()},
        )

    async def flush(self, session: AsyncSession) -> None:
        forget_snapshot(session)
