"""Application logic of the appointments service: load, call the rules, take places atomically, emit."""

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from services.appointments import domain
from services.appointments.batching import forget_snapshot, snapshot_of
from services.appointments.domain import BookingState, Override, Plan, Refused, Window
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
                {day.value: tuple(windows_of(ws)) for day, ws in cmd.weekly.items()})


def windows_of(windows: list[contract.Window]) -> list[Window]:
    return [Window(w.start, w.end, w.capacity_per_slot) for w in windows]


class AppointmentService:
    def __init__(self, ctx: MessageContext, settings: Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.store = Store(ctx.session)

    def _emit(self, data: Contract, branch_id: str) -> None:
        self.ctx.emit(topics.APPOINTMENTS_EVENTS, data, subject=branch_id)

    def _refuse(self, refusal: Refused, branch_id: str | None) -> None:
        self.ctx.reject_command(topics.APPOINTMENTS_EVENTS, refusal.code.value, refusal.reason, subject=branch_id)

    async def set_plan(self, cmd: contract.SetBranchPlan) -> None:
        """SPEC §6: operators change plans while the system runs; bookings stay; overflows are reported."""
        forget_snapshot(self.ctx.session)
        plan = plan_of(cmd)
        if (problem := domain.plan_problem(plan)) is not None:
            self._refuse(problem, cmd.branch_id)
            return
        await self.store.save_plan(plan, self.ctx.now)
        today = domain.local_today(self.ctx.now, plan.timezone)
        over = []
        for on, booked in sorted((await self.store.booked_by_slot(plan.branch_id, today)).items()):
            day = domain.day_of(plan, await self.store.override(plan.branch_id, on), on)
            over += [(on, *slot) for slot in domain.over_capacity(day, booked)]
        self._plan_changed(cmd, over)

    async def set_override(self, cmd: contract.SetDateOverride) -> None:
        forget_snapshot(self.ctx.session)
        plan = await self.store.plan(cmd.branch_id)
        if plan is None:
            self._refuse(domain.UNKNOWN_BRANCH, cmd.branch_id)
            return
        windows = windows_of(cmd.windows) if cmd.windows is not None else None
        if windows and (problem := domain.windows_problem(windows, plan.slot_minutes)) is not None:
            self._refuse(problem, cmd.branch_id)
            return
        override = Override(cmd.closed, windows, cmd.daily_cap)
        await self.store.save_override(cmd.branch_id, cmd.date, override)
        booked = (await self.store.booked_by_slot(cmd.branch_id, cmd.date, cmd.date)).get(cmd.date, {})
        day = domain.day_of(plan, override, cmd.date)
        self._plan_changed(cmd, [(cmd.date, *slot) for slot in domain.over_capacity(day, booked)])

    def _plan_changed(self, cmd: Any, over: list[tuple[date, time, int, int]]) -> None:
        self._emit(contract.BranchPlanChanged(
            branch_id=cmd.branch_id, command_id=cmd.command_id, changed_at=self.ctx.now,
            over_capacity=[contract.OverCapacitySlot(date=d, start_time=s, booked=b, capacity=c) for d, s, b, c in over],
        ), cmd.branch_id)
        if over:
            log.warning("slots_over_capacity", branch_id=cmd.branch_id, slots=len(over))

    async def book(self, cmd: contract.BookSlot) -> None:
        """SPEC §6: a place on a slot, or a refusal with its reason; the database never lets a slot or day
        take more than its capacity, whatever the number of copies booking at once."""
        snap = snapshot_of(self.ctx.session)
        if (cmd.command_id in snap.known_commands) if snap else (
                await self.store.booking_by_command(cmd.command_id) is not None):
            return  # a replayed command: the booking exists and was announced
        plan = snap.plans.get(cmd.branch_id) if snap else await self.store.plan(cmd.branch_id)
        if plan is None:
            self._reject(cmd, domain.UNKNOWN_BRANCH)
            return
        override = snap.overrides.get((cmd.branch_id, cmd.date)) if snap else await self.store.override(
            cmd.branch_id, cmd.date)
        day = domain.day_of(plan, override, cmd.date)
        holder = (cmd.branch_id, cmd.date, cmd.customer_id)
        problem = domain.booking_problem(
            day, cmd.date, cmd.start_time, today=domain.local_today(self.ctx.now, plan.timezone),
            window_days=self.settings.booking_window_days,
            has_booking_that_day=(holder in snap.active) if snap else await self.store.active_booking_exists(*holder))
        if problem is not None:
            self._reject(cmd, problem)
            return
        slot = day.slot_at(cmd.start_time)
        assert slot is not None
        slot_key = {"branch_id": cmd.branch_id, "date": cmd.date, "start_time": cmd.start_time}
        day_key = {"branch_id": cmd.branch_id, "date": cmd.date}
        if snap is not None:  # refusals the snapshot already proves need no statement
            if snap.day_booked.get((cmd.branch_id, cmd.date), 0) >= day.daily_cap:
                self._reject(cmd, domain.DAY_FULL)
                return
            if snap.slot_booked.get((cmd.branch_id, cmd.date, slot.start), 0) >= slot.capacity:
                self._reject(cmd, domain.SLOT_FULL)
                return
        if not await self.store.take_place(SlotCounterRow, slot_key, slot.capacity):
            self._reject(cmd, domain.SLOT_FULL)
            return
        if not await self.store.take_place(DayCounterRow, day_key, day.daily_cap):
            await self.store.free_place(SlotCounterRow, slot_key)
            self._reject(cmd, domain.DAY_FULL)
            return
        if snap is not None:
            snap.known_commands.add(cmd.command_id)
            snap.active.add(holder)
            snap.day_booked[(cmd.branch_id, cmd.date)] = snap.day_booked.get((cmd.branch_id, cmd.date), 0) + 1
            key = (cmd.branch_id, cmd.date, slot.start)
            snap.slot_booked[key] = snap.slot_booked.get(key, 0) + 1
        booking_id = booking_id_for(cmd.command_id)
        code = await self._free_code(booking_id, cmd.branch_id, cmd.date)
        await self.store.add_booking(
            booking_id=booking_id, booking_code=code, command_id=cmd.command_id, customer_id=cmd.customer_id,
            branch_id=cmd.branch_id, date=cmd.date, start_time=slot.start, end_time=slot.end,
            service_type=cmd.service_type.value, request_id=cmd.request_id, note=cmd.note,
            state=BookingState.BOOKED.value, created_at=self.ctx.now, updated_at=self.ctx.now)
        slot_end = datetime.combine(cmd.date, slot.end, tzinfo=ZoneInfo(plan.timezone))
        await schedule(self.ctx.session, timers, NO_SHOW, booking_id, slot_end, {"correlationid": self.ctx.correlationid})
        self._emit(contract.SlotBooked(
            booking_id=booking_id, booking_code=code, command_id=cmd.command_id, customer_id=cmd.customer_id,
            branch_id=cmd.branch_id, date=cmd.date, start_time=slot.start, end_time=slot.end,
            service_type=cmd.service_type, request_id=cmd.request_id, note=cmd.note, branch_name=plan.name,
            branch_address=plan.address), cmd.branch_id)

    async def _free_code(self, booking_id: str, branch_id: str, on: date) -> str:
        attempt = 0
        while await self.store.code_taken(branch_id, on, code := domain.booking_code(booking_id, attempt)):
            attempt += 1
        return code

    def _reject(self, cmd: contract.BookSlot, refusal: Refused) -> None:
        self._emit(contract.BookingRejected(
            command_id=cmd.command_id, customer_id=cmd.customer_id, branch_id=cmd.branch_id, date=cmd.date,
            start_time=cmd.start_time, reason_code=contract.BookingRejectReason(refusal.code.value),
            reason=refusal.reason), cmd.branch_id)

    async def cancel(self, cmd: contract.CancelBooking) -> None:
        forget_snapshot(self.ctx.session)
        row = await self.store.booking(cmd.booking_id)
        problem = domain.cancel_problem(BookingState(row.state) if row else None, row.customer_id if row else None,
                                        cmd.customer_id)
        if problem is not None:
            self._refuse(problem, row.branch_id if row else None)
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
        """SPEC §6: the booking code at the branch within the window -> a priority ticket."""
        forget_snapshot(self.ctx.session)
        plan = await self.store.plan(cmd.branch_id)
        if plan is None:
            self._refuse(domain.UNKNOWN_BRANCH, cmd.branch_id)
            return
        tz = ZoneInfo(plan.timezone)
        row = await self.store.booking_by_code(cmd.branch_id, cmd.at.astimezone(tz).date(), cmd.booking_code.upper())
        slot_start = datetime.combine(row.date, row.start_time, tzinfo=tz) if row else cmd.at
        problem = domain.checkin_problem(
            BookingState(row.state) if row else None, slot_start, cmd.at,
            opens_before=timedelta(minutes=self.settings.checkin_opens_min),
            closes_after=timedelta(minutes=self.settings.checkin_closes_min))
        if problem is not None:
            self._refuse(problem, cmd.branch_id)
            return
        ticket = domain.ticket_label(await self.store.next_ticket(cmd.branch_id, row.date))
        await self.store.set_state(row.booking_id, BookingState.CHECKED_IN, self.ctx.now, ticket_number=ticket)
        await cancel(self.ctx.session, timers, NO_SHOW, row.booking_id)
        self._emit(contract.CheckedIn(booking_id=row.booking_id, ticket_number=ticket, priority=True,
                                      command_id=cmd.command_id,
                                      customer_id=row.customer_id, branch_id=row.branch_id, checked_in_at=cmd.at),
                   row.branch_id)

    async def no_show(self, booking_id: str) -> None:
        """SPEC §6 (expected): not checked in by the end of its slot -> no-show (a durable timer calls this)."""
        row = await self.store.booking(booking_id)
        if row is None or row.state != BookingState.BOOKED.value:
            return
        await self.store.set_state(booking_id, BookingState.NO_SHOW, self.ctx.now)
        self._emit(contract.NoShow(booking_id=booking_id, customer_id=row.customer_id, branch_id=row.branch_id,
                                   date=row.date, start_time=row.start_time), row.branch_id)
