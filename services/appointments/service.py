"""Application layer of the appointments service: read through the repositories, decide with the domain, take
places atomically, write, emit. One code path per command, batched or not (the unit of work caches the reads)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from services.appointments import domain
from services.appointments.domain import Booking, BookingState, CheckInFailures, Day, Override, Plan, Slot
from services.appointments.repository import (
    BookingRepository,
    BranchRepository,
    CapacityRepository,
    CheckInFailureRepository,
    TimerRepository,
    booking_id_for,
)
from services.appointments.settings import Settings
from shared import topics
from shared.contracts import Contract
from shared.contracts import appointments as contract
from shared.logging import Logger
from shared.messaging import MessageContext
from shared.refusal import Refusal
from shared.unit_of_work import UnitOfWork

log = Logger("postloan.appointments")


class Branches(Protocol):
    async def plan(self, branch_id: str) -> Plan | None: ...
    async def save_plan(self, plan: Plan, at: datetime) -> None: ...
    async def override(self, branch_id: str, on: date) -> Override | None: ...
    async def overrides(self, branch_id: str, first: date, last: date) -> dict[date, Override]: ...
    async def save_override(self, branch_id: str, on: date, override: Override) -> None: ...


class Bookings(Protocol):
    async def active_id(self, branch_id: str, on: date, customer_id: str) -> str | None: ...
    async def free_code(self, branch_id: str, on: date, command_id: str) -> str: ...
    def add(self, booking: Booking) -> None: ...
    def save(self, booking: Booking) -> None: ...
    async def lock(self, booking_id: str) -> Booking | None: ...
    async def lock_by_code(self, branch_id: str, on: date, code: str) -> Booking | None: ...


class Capacity(Protocol):
    async def booked(self, branch_id: str, on: date, start: time) -> tuple[int, int]: ...
    async def take_slot(self, branch_id: str, on: date, start: time, capacity: int) -> bool: ...
    async def take_day(self, branch_id: str, on: date, cap: int) -> bool: ...
    async def free_slot(self, branch_id: str, on: date, start: time) -> None: ...
    async def free_day(self, branch_id: str, on: date) -> None: ...
    async def next_ticket(self, branch_id: str, on: date) -> int: ...
    async def booked_by_slot(self, branch_id: str, first: date, last: date | None) -> dict[date, dict[time, int]]: ...
    async def booked_by_day(self, branch_id: str, first: date, last: date | None) -> dict[date, int]: ...


class CheckInFailureLog(Protocol):
    async def seen(self, branch_id: str) -> CheckInFailures | None: ...
    async def count(self, branch_id: str, now: datetime, window: timedelta) -> None: ...


class Timers(Protocol):
    async def set_no_show(self, booking_id: str, due_at: datetime, correlationid: str | None) -> None: ...
    async def drop_no_show(self, booking_id: str) -> None: ...


@dataclass(frozen=True)
class Repositories:
    """What the service reads and writes through: the unit of work's repositories, or in-memory fakes in tests."""

    branches: Branches
    bookings: Bookings
    capacity: Capacity
    timers: Timers
    failures: CheckInFailureLog

    @classmethod
    def of(cls, uow: UnitOfWork) -> "Repositories":
        return cls(BranchRepository(uow), BookingRepository(uow), CapacityRepository(uow), TimerRepository(uow),
                   CheckInFailureRepository(uow))


class AppointmentService:
    def __init__(self, ctx: MessageContext, repositories: Repositories | None = None) -> None:
        self.ctx = ctx
        self.settings: Settings = ctx.settings
        repos = repositories or Repositories.of(ctx.uow)
        self.branches, self.bookings = repos.branches, repos.bookings
        self.capacity, self.timers, self.failures = repos.capacity, repos.timers, repos.failures

    def _emit(self, data: Contract, branch_id: str) -> None:
        self.ctx.emit(topics.APPOINTMENTS_EVENTS, data, subject=branch_id)

    def _refuse(self, refusal: Refusal, branch_id: str | None, **named: str | None) -> None:
        self.ctx.refuse(topics.APPOINTMENTS_EVENTS, refusal, subject=branch_id, **named)

    async def set_plan(self, cmd: domain.SetBranchPlan) -> None:
        """SPEC §6: operators change plans while the system runs; bookings stay; overflows are reported."""
        plan = cmd.plan
        if (problem := domain.plan_problem(plan)) is not None:
            self._refuse(problem, plan.branch_id)
            return
        await self.branches.save_plan(plan, self.ctx.now)
        today = domain.local_today(self.ctx.now, plan.timezone)
        last_bookable = domain.booking_window(plan, self.ctx.now)[1]
        await self._plan_changed(cmd.command_id, plan, today, None, (today, last_bookable))

    async def set_override(self, cmd: domain.SetDateOverride) -> None:
        plan = await self.branches.plan(cmd.branch_id)
        if plan is None:
            self._refuse(domain.unknown_branch(cmd.branch_id), cmd.branch_id)
            return
        windows = cmd.override.windows
        if windows and (problem := domain.windows_problem(windows, plan.slot_minutes)) is not None:
            self._refuse(problem, cmd.branch_id)
            return
        await self.branches.save_override(cmd.branch_id, cmd.date, cmd.override)
        await self._plan_changed(cmd.command_id, plan, cmd.date, cmd.date, (cmd.date, cmd.date))

    async def _plan_changed(self, command_id: str, plan: Plan, first: date, last: date | None,
                            covered: tuple[date, date]) -> None:
        """SPEC §6: a change cancels no booking; slots and days it leaves holding more than they now may, from
        `first` (to `last`), are reported, with the cap in force on each day it `covered` (first, last)."""
        by_slot = await self.capacity.booked_by_slot(plan.branch_id, first, last)
        by_day = await self.capacity.booked_by_day(plan.branch_id, first, last)
        dates = sorted(by_slot.keys() | by_day.keys() | set(covered))
        overrides = await self.branches.overrides(plan.branch_id, dates[0], dates[-1])
        over_slots, over_days = domain.overflow(plan, overrides, by_slot, by_day)
        slots = [contract.OverCapacitySlot(date=on, start_time=start, booked=booked, capacity=capacity)
                 for on, start, booked, capacity in over_slots]
        days = [contract.OverDailyCap(date=on, booked=booked, daily_cap=cap) for on, booked, cap in over_days]
        caps = [contract.DayCap(date=on, daily_cap=cap, closed=closed)
                for on, cap, closed in domain.day_caps(plan, overrides, *covered)]
        self._emit(contract.BranchPlanChanged(branch_id=plan.branch_id, command_id=command_id,
                                              changed_at=self.ctx.now, over_capacity=slots, over_daily_cap=days,
                                              daily_caps=caps),
                   plan.branch_id)
        if slots or days:
            log.warning("plan_leaves_bookings_over_capacity", branch_id=plan.branch_id, slots=len(slots),
                        days=len(days))

    async def book(self, cmd: domain.BookSlot) -> None:
        """SPEC §6: a place on a slot, or a refusal with its reason; the database never lets a slot or day
        take more than its capacity, whatever the number of copies booking at once."""
        plan = await self.branches.plan(cmd.branch_id)
        if plan is None:
            self._reject(cmd, domain.unknown_branch(cmd.branch_id))
            return
        day = domain.day_of(plan, await self.branches.override(cmd.branch_id, cmd.date), cmd.date)
        existing = await self.bookings.active_id(cmd.branch_id, cmd.date, cmd.customer_id)
        problem = domain.booking_problem(plan, day, cmd.date, cmd.start_time, now=self.ctx.now,
                                         existing_booking=existing)
        if problem is not None:
            self._reject(cmd, problem)
            return
        slot = day.slot_at(cmd.start_time)
        assert slot is not None  # booking_problem refuses a slot that does not exist
        if (full := await self._take_places(cmd, day, slot)) is not None:
            self._reject(cmd, full)
            return
        await self._add_booking(cmd, plan, slot)

    async def _take_places(self, cmd: domain.BookSlot, day: Day, slot: Slot) -> Refusal | None:
        """One place on the slot and one on the day, or the refusal saying which is full and how full. Counts the
        transaction already knows to be at the cap refuse without a statement; otherwise the conditional counter
        update decides, whatever other copies are booking."""
        where = (cmd.branch_id, cmd.date, slot.start)
        day_booked, slot_booked = await self.capacity.booked(*where)
        if full := domain.capacity_problem(cmd.date, day, slot, day_booked=day_booked, slot_booked=slot_booked):
            return full
        if not await self.capacity.take_slot(*where, slot.capacity):
            return domain.slot_full(cmd.date, slot, (await self.capacity.booked(*where))[1])
        if not await self.capacity.take_day(cmd.branch_id, cmd.date, day.daily_cap):
            await self.capacity.free_slot(*where)
            return domain.day_full(cmd.date, day, (await self.capacity.booked(*where))[0])
        return None

    async def _add_booking(self, cmd: domain.BookSlot, plan: Plan, slot: Slot) -> None:
        booking_id = booking_id_for(cmd.command_id)
        code = await self.bookings.free_code(cmd.branch_id, cmd.date, cmd.command_id)
        booking = Booking(booking_id, code, cmd.command_id,
                          cmd.customer_id, cmd.branch_id, cmd.date, slot.start, slot.end, cmd.service_type,
                          cmd.request_id, cmd.note, BookingState.BOOKED, self.ctx.now, self.ctx.now)
        self.bookings.add(booking)
        slot_end = datetime.combine(cmd.date, slot.end, tzinfo=ZoneInfo(plan.timezone))
        await self.timers.set_no_show(booking_id, slot_end, self.ctx.correlationid)
        self._emit(contract.SlotBooked(
            booking_id=booking_id, booking_code=booking.booking_code, command_id=cmd.command_id,
            customer_id=cmd.customer_id, branch_id=cmd.branch_id, date=cmd.date, start_time=slot.start,
            end_time=slot.end, service_type=contract.ServiceType(cmd.service_type), request_id=cmd.request_id,
            note=cmd.note, branch_name=plan.name, branch_address=plan.address, branch_timezone=plan.timezone),
            cmd.branch_id)

    def _reject(self, cmd: domain.BookSlot, refusal: Refusal) -> None:
        self._emit(contract.BookingRejected(
            command_id=cmd.command_id, customer_id=cmd.customer_id, branch_id=cmd.branch_id, date=cmd.date,
            start_time=cmd.start_time, reason_code=contract.BookingRejectReason(refusal.code.value),
            reason=refusal.reason, facts=dict(refusal.facts)), cmd.branch_id)

    async def cancel(self, cmd: domain.CancelBooking) -> None:
        booking = await self.bookings.lock(cmd.booking_id)
        problem = domain.cancel_problem(booking.state if booking else None, booking.customer_id if booking else None,
                                        cmd.customer_id)
        if problem is not None:
            self._refuse(problem.adding(booking_id=cmd.booking_id), booking.branch_id if booking else None,
                         booking_id=cmd.booking_id, customer_id=cmd.customer_id)
            return
        assert booking is not None  # cancel_problem refuses a booking that does not exist
        self.bookings.save(booking.cancelled(self.ctx.now))
        await self.capacity.free_slot(booking.branch_id, booking.date, booking.start_time)
        await self.capacity.free_day(booking.branch_id, booking.date)
        await self.timers.drop_no_show(booking.booking_id)
        self._emit(contract.BookingCancelled(
            booking_id=booking.booking_id, customer_id=booking.customer_id, command_id=cmd.command_id,
            branch_id=booking.branch_id, date=booking.date, start_time=booking.start_time,
            cancelled_at=self.ctx.now), booking.branch_id)

    async def check_in(self, cmd: domain.CheckIn) -> None:
        """SPEC §6: the booking code at the branch within the window -> a priority ticket. The window is judged
        on the service's clock; the kiosk's `at` is kept for the record only. A branch where too many unknown codes
        were tried refuses check-ins unread for a while (codes are short: guessing is bounded per branch)."""
        plan = await self.branches.plan(cmd.branch_id)
        if plan is None:
            self._refuse(domain.unknown_branch(cmd.branch_id), cmd.branch_id)
            return
        now, code = self.ctx.now.astimezone(ZoneInfo(plan.timezone)), cmd.booking_code.upper()
        asked = {"booking_code": code, "date": now.date().isoformat(), "reported_at": cmd.at.isoformat()}
        window = timedelta(seconds=self.settings.checkin_failure_window_s)
        if throttled := domain.throttle_problem(await self.failures.seen(cmd.branch_id), now,
                                                max_failures=self.settings.checkin_max_failures, window=window):
            self._refuse(throttled.adding(**asked), cmd.branch_id)
            return
        booking = domain.booking_to_check_in(await self.bookings.lock_by_code(cmd.branch_id, now.date(), code),
                                             cmd.customer_id)
        if (problem := self._checkin_problem(booking, now)) is not None:
            if domain.counts_against_branch(problem):
                await self.failures.count(cmd.branch_id, now, window)
            found = {"booking_id": booking.booking_id} if booking else {}
            self._refuse(problem.adding(**asked, **found), cmd.branch_id)
            return
        assert booking is not None  # checkin_problem refuses an unknown code
        ticket = domain.ticket_label(await self.capacity.next_ticket(cmd.branch_id, booking.date))
        self.bookings.save(booking.checked_in(self.ctx.now, ticket, cmd.at))
        await self.timers.drop_no_show(booking.booking_id)
        self._emit(contract.CheckedIn(booking_id=booking.booking_id, ticket_number=ticket, priority=True,
                                      command_id=cmd.command_id, customer_id=booking.customer_id,
                                      branch_id=booking.branch_id, checked_in_at=self.ctx.now), booking.branch_id)

    def _checkin_problem(self, booking: Booking | None, now: datetime) -> Refusal | None:
        starts = datetime.combine(booking.date, booking.start_time, tzinfo=now.tzinfo) if booking else None
        return domain.checkin_problem(booking.state if booking else None, starts, now,
                                      opens_before=timedelta(minutes=self.settings.checkin_opens_min),
                                      closes_after=timedelta(minutes=self.settings.checkin_closes_min))

    async def no_show(self, booking_id: str) -> None:
        """SPEC §6 (expected): not checked in by the end of its slot -> no-show (a durable timer calls this)."""
        booking = await self.bookings.lock(booking_id)
        if booking is None or not domain.is_no_show(booking):
            return
        self.bookings.save(booking.missed(self.ctx.now))
        self._emit(contract.NoShow(booking_id=booking_id, customer_id=booking.customer_id,
                                   branch_id=booking.branch_id, date=booking.date, start_time=booking.start_time),
                   booking.branch_id)
