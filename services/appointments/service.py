"""Application logic of the appointments service: load, call the rules, take places atomically, emit."""

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from services.appointments import domain
from services.appointments.batching import Snapshot, forget_snapshot, snapshot_of
from services.appointments.domain import BookingState, Day, Override, Plan, Refused, Slot, Window
from services.appointments.repository import DayCounterRow, SlotCounterRow, Store, timers
from services.appointments.settings import Settings
from shared import topics
from shared.contracts import Contract
from shared.contracts import appointments as contract
from shared.messaging import MessageContext
from shared.timers import cancel, schedule

log = structlog.get_logger("postloan.appointments")
NO_SHOW = "no-show"
_BOOKING_NS = uuid.UUID("3e9d7b2c-41a8-4c6f-9b0e-5d2a8f1c7e44")


def booking_id_for(command_id: str) -> str:
    return f"B-{uuid.uuid5(_BOOKING_NS, command_id)}"


def plan_of(cmd: contract.SetBranchPlan) -> Plan:
    return Plan(cmd.branch_id, cmd.name, cmd.address, cmd.timezone, cmd.slot_minutes, cmd.daily_cap,
                {day.value: tuple(windows_of(ws)) for day, ws in cmd.weekly.items()}, cmd.booking_window_days)


def windows_of(windows: list[contract.Window]) -> list[Window]:
    return [Window(w.start, w.end, w.capacity_per_slot) for w in windows]


class AppointmentService:
    def __init__(self, ctx: MessageContext, settings: Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.store = Store(ctx.session)

    def _emit(self, data: Contract, branch_id: str) -> None:
        self.ctx.emit(topics.APPOINTMENTS_EVENTS, data, subject=branch_id)

    def _refuse(self, refusal: Refused, branch_id: str | None, **named: str | None) -> None:
        self.ctx.reject_command(topics.APPOINTMENTS_EVENTS, refusal.code.value, refusal.reason,
                                facts=refusal.facts, subject=branch_id, **named)

    async def set_plan(self, cmd: contract.SetBranchPlan) -> None:
        """SPEC §6: operators change plans while the system runs; bookings stay; overflows are reported."""
        forget_snapshot(self.ctx.session)
        plan = plan_of(cmd)
        if (problem := domain.plan_problem(plan)) is not None:
            self._refuse(problem, cmd.branch_id)
            return
        await self.store.save_plan(plan, self.ctx.now)
        await self._plan_changed(cmd, plan, domain.local_today(self.ctx.now, plan.timezone), None)

    async def set_override(self, cmd: contract.SetDateOverride) -> None:
        forget_snapshot(self.ctx.session)
        plan = await self.store.plan(cmd.branch_id)
        if plan is None:
            self._refuse(domain.unknown_branch(cmd.branch_id), cmd.branch_id)
            return
        windows = windows_of(cmd.windows) if cmd.windows is not None else None
        if windows and (problem := domain.windows_problem(windows, plan.slot_minutes)) is not None:
            self._refuse(problem, cmd.branch_id)
            return
        override = Override(cmd.closed, windows, cmd.daily_cap)
        await self.store.save_override(cmd.branch_id, cmd.date, override)
        await self._plan_changed(cmd, plan, cmd.date, cmd.date)

    async def _plan_changed(self, cmd: Any, plan: Plan, first: date, last: date | None) -> None:
        """SPEC §6: a change cancels no booking; slots and days it leaves holding more than they now may, from
        `first` (to `last`), are reported."""
        by_slot = await self.store.booked_by_slot(plan.branch_id, first, last)
        by_day = await self.store.booked_by_day(plan.branch_id, first, last)
        dates = sorted(by_slot.keys() | by_day.keys())
        overrides = await self.store.overrides(plan.branch_id, dates[0], dates[-1]) if dates else {}
        over_slots, over_days = domain.overflow(plan, overrides, by_slot, by_day)
        slots = [contract.OverCapacitySlot(date=on, start_time=start, booked=booked, capacity=capacity)
                 for on, start, booked, capacity in over_slots]
        days = [contract.OverDailyCap(date=on, booked=booked, daily_cap=cap) for on, booked, cap in over_days]
        self._emit(contract.BranchPlanChanged(branch_id=cmd.branch_id, command_id=cmd.command_id,
                                              changed_at=self.ctx.now, over_capacity=slots, over_daily_cap=days),
                   cmd.branch_id)
        if slots or days:
            log.warning("plan_leaves_bookings_over_capacity", branch_id=cmd.branch_id, slots=len(slots),
                        days=len(days))

    async def book(self, cmd: contract.BookSlot) -> None:
        """SPEC §6: a place on a slot, or a refusal with its reason; the database never lets a slot or day
        take more than its capacity, whatever the number of copies booking at once."""
        snap = snapshot_of(self.ctx.session)
        if (cmd.command_id in snap.known_commands) if snap else (
                await self.store.booking_by_command(cmd.command_id) is not None):
            return  # a replayed command: the booking exists and was announced
        plan = snap.plans.get(cmd.branch_id) if snap else await self.store.plan(cmd.branch_id)
        if plan is None:
            self._reject(cmd, domain.unknown_branch(cmd.branch_id))
            return
        override = snap.overrides.get((cmd.branch_id, cmd.date)) if snap else await self.store.override(
            cmd.branch_id, cmd.date)
        day = domain.day_of(plan, override, cmd.date)
        holder = (cmd.branch_id, cmd.date, cmd.customer_id)
        existing = snap.active.get(holder) if snap else await self.store.active_booking(*holder)
        problem = domain.booking_problem(plan, day, cmd.date, cmd.start_time, now=self.ctx.now,
                                         existing_booking=existing)
        if problem is not None:
            self._reject(cmd, problem)
            return
        slot = day.slot_at(cmd.start_time)
        assert slot is not None  # booking_problem refuses a slot that does not exist
        if (full := await self._take_places(cmd, day, slot, snap)) is not None:
            self._reject(cmd, full)
            return
        await self._add_booking(cmd, plan, slot, snap)

    async def _take_places(self, cmd: contract.BookSlot, day: Day, slot: Slot, snap: Snapshot | None) -> Refused | None:
        """One place on the slot and one on the day, or the refusal saying which is full and how full."""
        slot_key = {"branch_id": cmd.branch_id, "date": cmd.date, "start_time": cmd.start_time}
        day_key = {"branch_id": cmd.branch_id, "date": cmd.date}
        if snap is not None:  # refusals the snapshot already proves need no statement
            if (booked := snap.day_booked.get((cmd.branch_id, cmd.date), 0)) >= day.daily_cap:
                return domain.day_full(cmd.date, day, booked)
            if (booked := snap.slot_booked.get((cmd.branch_id, cmd.date, slot.start), 0)) >= slot.capacity:
                return domain.slot_full(cmd.date, slot, booked)
        if not await self.store.take_place(SlotCounterRow, slot_key, slot.capacity):
            return domain.slot_full(cmd.date, slot, await self.store.booked(SlotCounterRow, slot_key))
        if not await self.store.take_place(DayCounterRow, day_key, day.daily_cap):
            await self.store.free_place(SlotCounterRow, slot_key)
            return domain.day_full(cmd.date, day, await self.store.booked(DayCounterRow, day_key))
        return None

    async def _add_booking(self, cmd: contract.BookSlot, plan: Plan, slot: Slot, snap: Snapshot | None) -> None:
        booking_id = booking_id_for(cmd.command_id)
        if snap is not None:
            snap.known_commands.add(cmd.command_id)
            snap.active[(cmd.branch_id, cmd.date, cmd.customer_id)] = booking_id
            day_key, slot_key = (cmd.branch_id, cmd.date), (cmd.branch_id, cmd.date, slot.start)
            snap.day_booked[day_key] = snap.day_booked.get(day_key, 0) + 1
            snap.slot_booked[slot_key] = snap.slot_booked.get(slot_key, 0) + 1
        code = await self._free_code(booking_id, cmd.branch_id, cmd.date)
        await self.store.add_booking(
            booking_id=booking_id, booking_code=code, command_id=cmd.command_id, customer_id=cmd.customer_id,
            branch_id=cmd.branch_id, date=cmd.date, start_time=slot.start, end_time=slot.end,
            service_type=cmd.service_type.value, request_id=cmd.request_id, note=cmd.note,
            state=BookingState.BOOKED.value, created_at=self.ctx.now, updated_at=self.ctx.now)
        slot_end = datetime.combine(cmd.date, slot.end, tzinfo=ZoneInfo(plan.timezone))
        await schedule(self.ctx.session, timers, NO_SHOW, booking_id, slot_end,
                       {"correlationid": self.ctx.correlationid})
        self._emit(contract.SlotBooked(
            booking_id=booking_id, booking_code=code, command_id=cmd.command_id, customer_id=cmd.customer_id,
            branch_id=cmd.branch_id, date=cmd.date, start_time=slot.start, end_time=slot.end,
            service_type=cmd.service_type, request_id=cmd.request_id, note=cmd.note, branch_name=plan.name,
            branch_address=plan.address, branch_timezone=plan.timezone), cmd.branch_id)

    async def _free_code(self, booking_id: str, branch_id: str, on: date) -> str:
        attempt = 0
        while await self.store.code_taken(branch_id, on, code := domain.booking_code(booking_id, attempt)):
            attempt += 1
        return code

    def _reject(self, cmd: contract.BookSlot, refusal: Refused) -> None:
        self._emit(contract.BookingRejected(
            command_id=cmd.command_id, customer_id=cmd.customer_id, branch_id=cmd.branch_id, date=cmd.date,
            start_time=cmd.start_time, reason_code=contract.BookingRejectReason(refusal.code.value),
            reason=refusal.reason, facts=dict(refusal.facts)), cmd.branch_id)

    async def cancel(self, cmd: contract.CancelBooking) -> None:
        forget_snapshot(self.ctx.session)
        row = await self.store.booking(cmd.booking_id)
        problem = domain.cancel_problem(BookingState(row.state) if row else None, row.customer_id if row else None,
                                        cmd.customer_id)
        if problem is not None:
            self._refuse(problem.adding(booking_id=cmd.booking_id), row.branch_id if row else None,
                         booking_id=cmd.booking_id, customer_id=cmd.customer_id)
            return
        await self.store.set_state(row.booking_id, BookingState.CANCELLED, self.ctx.now)
        await self.store.free_place(SlotCounterRow, {"branch_id": row.branch_id, "date": row.date,
                                                     "start_time": row.start_time})
        await self.store.free_place(DayCounterRow, {"branch_id": row.branch_id, "date": row.date})
        await cancel(self.ctx.session, timers, NO_SHOW, row.booking_id)
        self._emit(contract.BookingCancelled(booking_id=row.booking_id, customer_id=row.customer_id,
                                             command_id=cmd.command_id,
                                             branch_id=row.branch_id, date=row.date, start_time=row.start_time,
                                             cancelled_at=self.ctx.now), row.branch_id)

    async def check_in(self, cmd: contract.CheckIn) -> None:
        """SPEC §6: the booking code at the branch within the window -> a priority ticket. The window is judged
        on the service's clock; the kiosk's `at` is kept for the record only."""
        forget_snapshot(self.ctx.session)
        plan = await self.store.plan(cmd.branch_id)
        if plan is None:
            self._refuse(domain.unknown_branch(cmd.branch_id), cmd.branch_id)
            return
        tz = ZoneInfo(plan.timezone)
        now = self.ctx.now.astimezone(tz)
        code = cmd.booking_code.upper()
        row = await self.store.booking_by_code(cmd.branch_id, now.date(), code)
        problem = domain.checkin_problem(
            BookingState(row.state) if row else None,
            datetime.combine(row.date, row.start_time, tzinfo=tz) if row else None, now,
            opens_before=timedelta(minutes=self.settings.checkin_opens_min),
            closes_after=timedelta(minutes=self.settings.checkin_closes_min))
        if problem is not None:
            found = {"booking_id": row.booking_id} if row else {}
            self._refuse(problem.adding(booking_code=code, date=now.date().isoformat(),
                                        reported_at=cmd.at.isoformat(), **found), cmd.branch_id)
            return
        ticket = domain.ticket_label(await self.store.next_ticket(cmd.branch_id, row.date))
        await self.store.set_state(row.booking_id, BookingState.CHECKED_IN, self.ctx.now, ticket_number=ticket,
                                   checkin_reported_at=cmd.at)
        await cancel(self.ctx.session, timers, NO_SHOW, row.booking_id)
        self._emit(contract.CheckedIn(booking_id=row.booking_id, ticket_number=ticket, priority=True,
                                      command_id=cmd.command_id, customer_id=row.customer_id,
                                      branch_id=row.branch_id, checked_in_at=self.ctx.now), row.branch_id)

    async def no_show(self, booking_id: str) -> None:
        """SPEC §6 (expected): not checked in by the end of its slot -> no-show (a durable timer calls this)."""
        row = await self.store.booking(booking_id)
        if row is None or row.state != BookingState.BOOKED.value:
            return
        await self.store.set_state(booking_id, BookingState.NO_SHOW, self.ctx.now)
        self._emit(contract.NoShow(booking_id=booking_id, customer_id=row.customer_id, branch_id=row.branch_id,
                                   date=row.date, start_time=row.start_time), row.branch_id)
