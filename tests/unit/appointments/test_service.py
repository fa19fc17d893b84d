"""The appointments service layer on in-memory repositories (cosmicpython's fakes): booking, refusals for a full
slot or day, cancelling, check-in tickets and no-shows, with no broker and no database."""

import json
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from harness.builders import ACCOUNT_DAY, SHANGHAI
from services.appointments import domain
from services.appointments.domain import Booking, BookingState, CheckInFailures, Override, Plan, Window
from services.appointments.repository import new_booking_code
from services.appointments.service import AppointmentService, Repositories
from services.appointments.settings import Settings
from shared.contracts import Contract
from shared.contracts import appointments as A
from shared.envelope import new_event
from shared.messaging import MessageContext

MONDAY = date(2020, 2, 10)
PLAN = Plan("BR-1", "Centre", "1 Test Road", "Asia/Shanghai", 30, 20,
            {"MON": (Window(time(9), time(12), 2),)})


class FakeBranches:
    def __init__(self, *plans: Plan) -> None:
        self.plans = {p.branch_id: p for p in plans}
        self.by_date: dict[tuple[str, date], Override] = {}

    async def plan(self, branch_id: str) -> Plan | None:
        return self.plans.get(branch_id)

    async def save_plan(self, plan: Plan, at: datetime) -> None:
        self.plans[plan.branch_id] = plan

    async def override(self, branch_id: str, on: date) -> Override | None:
        return self.by_date.get((branch_id, on))

    async def overrides(self, branch_id: str, first: date, last: date) -> dict[date, Override]:
        return {on: o for (b, on), o in self.by_date.items() if b == branch_id and first <= on <= last}

    async def save_override(self, branch_id: str, on: date, override: Override) -> None:
        self.by_date[(branch_id, on)] = override


class FakeBookings:
    def __init__(self) -> None:
        self.rows: dict[str, Booking] = {}

    async def active_id(self, branch_id: str, on: date, customer_id: str) -> str | None:
        return next((b.booking_id for b in self.rows.values()
                     if (b.branch_id, b.date, b.customer_id) == (branch_id, on, customer_id) and b.active), None)

    async def free_code(self, branch_id: str, on: date, command_id: str) -> str:
        taken = {b.booking_code for b in self.rows.values() if (b.branch_id, b.date) == (branch_id, on)}
        while (code := new_booking_code()) in taken:
            pass
        return code

    def add(self, booking: Booking) -> None:
        self.rows[booking.booking_id] = booking

    save = add

    async def lock(self, booking_id: str) -> Booking | None:
        return self.rows.get(booking_id)

    async def lock_by_code(self, branch_id: str, on: date, code: str) -> Booking | None:
        return next((b for b in self.rows.values() if (b.branch_id, b.date, b.booking_code) == (branch_id, on, code)),
                    None)


class FakeCapacity:
    def __init__(self) -> None:
        self.slots: Counter[tuple[str, date, time]] = Counter()
        self.days: Counter[tuple[str, date]] = Counter()
        self.tickets: Counter[tuple[str, date]] = Counter()

    async def booked(self, branch_id: str, on: date, start: time) -> tuple[int, int]:
        return self.days[(branch_id, on)], self.slots[(branch_id, on, start)]

    async def take_slot(self, branch_id: str, on: date, start: time, capacity: int) -> bool:
        return self._take(self.slots, (branch_id, on, start), capacity)

    async def take_day(self, branch_id: str, on: date, cap: int) -> bool:
        return self._take(self.days, (branch_id, on), cap)

    @staticmethod
    def _take(counters: Counter[Any], key: Any, limit: int) -> bool:
        if counters[key] >= limit:
            return False
        counters[key] += 1
        return True

    async def free_slot(self, branch_id: str, on: date, start: time) -> None:
        self.slots[(branch_id, on, start)] -= 1

    async def free_day(self, branch_id: str, on: date) -> None:
        self.days[(branch_id, on)] -= 1

    async def next_ticket(self, branch_id: str, on: date) -> int:
        self.tickets[(branch_id, on)] += 1
        return self.tickets[(branch_id, on)]

    async def booked_by_slot(self, branch_id: str, first: date, last: date | None) -> dict[date, dict[time, int]]:
        result: dict[date, dict[time, int]] = {}
        for (b, on, start), booked in self.slots.items():
            if b == branch_id and first <= on and (last is None or on <= last) and booked > 0:
                result.setdefault(on, {})[start] = booked
        return result

    async def booked_by_day(self, branch_id: str, first: date, last: date | None) -> dict[date, int]:
        return {on: n for (b, on), n in self.days.items() if b == branch_id and first <= on and (last is None
                                                                                                   or on <= last)}


class FakeTimers:
    def __init__(self) -> None:
        self.no_shows: dict[str, datetime] = {}

    async def set_no_show(self, booking_id: str, due_at: datetime, correlationid: str | None) -> None:
        self.no_shows[booking_id] = due_at

    async def drop_no_show(self, booking_id: str) -> None:
        self.no_shows.pop(booking_id, None)


class FakeCheckInFailures:
    def __init__(self) -> None:
        self.by_branch: dict[str, CheckInFailures] = {}

    async def seen(self, branch_id: str) -> CheckInFailures | None:
        return self.by_branch.get(branch_id)

    async def count(self, branch_id: str, now: datetime, window: timedelta) -> None:
        seen = self.by_branch.get(branch_id)
        self.by_branch[branch_id] = (CheckInFailures(1, now) if seen is None or seen.since + window <= now
                                     else CheckInFailures(seen.failures + 1, seen.since))


class Branch:
    """One branch's world in memory: the fakes, and the service acting on them at a given time."""

    def __init__(self, plan: Plan = PLAN) -> None:
        self.plan = plan
        self.repos = Repositories(FakeBranches(plan), FakeBookings(), FakeCapacity(), FakeTimers(),
                                  FakeCheckInFailures())
        self.now = ACCOUNT_DAY
        self.emitted: list[dict[str, Any]] = []

    async def send(self, wire: Contract) -> dict[str, Any]:
        """Handles `wire` (converted as the handler does) and returns the one event it answered with."""
        ctx = MessageContext(None, self.now, "postloan/appointments", "corr-1", "cause-1",  # type: ignore[arg-type]
                             new_event(wire, source="test", subject=self.plan.branch_id, time=self.now),
                             settings=Settings(branches_file=None))
        service = AppointmentService(ctx, self.repos)
        match wire:
            case A.BookSlot():
                await service.book(domain.BookSlot(wire.command_id, wire.customer_id, wire.branch_id, wire.date,
                                                   wire.start_time, wire.service_type.value))
            case A.CancelBooking():
                await service.cancel(domain.CancelBooking(wire.command_id, wire.booking_id, wire.customer_id))
            case A.CheckIn():
                await service.check_in(domain.CheckIn(wire.command_id, wire.branch_id, wire.booking_code, wire.at,
                                                      wire.customer_id))
        [record] = ctx.emitted
        event = json.loads(record.value)
        self.emitted.append(event)
        return {"type": event["type"], **event["data"]}

    async def book(self, customer: str, at: time = time(9)) -> dict[str, Any]:
        return await self.send(A.BookSlot(command_id=f"cmd-{len(self.emitted)}", customer_id=customer,
                                          branch_id=self.plan.branch_id, date=MONDAY, start_time=at,
                                          service_type=A.ServiceType.DEBIT_DAY_CHANGE))

    @property
    def bookings(self) -> dict[str, Booking]:
        assert isinstance(self.repos.bookings, FakeBookings)
        return self.repos.bookings.rows

    @property
    def counters(self) -> FakeCapacity:
        assert isinstance(self.repos.capacity, FakeCapacity)
        return self.repos.capacity


async def test_a_booking_takes_a_place_on_the_slot_and_the_day_and_waits_for_check_in() -> None:
    branch = Branch()
    booked = await branch.book("C-1", time(9, 30))
    assert booked["type"] == "SlotBooked"
    assert (booked["start_time"], booked["end_time"], booked["branch_timezone"]) == ("09:30", "10:00", "Asia/Shanghai")
    booking = branch.bookings[booked["booking_id"]]
    assert (booking.state, booking.booking_code, booking.customer_id) == (
        BookingState.BOOKED, booked["booking_code"], "C-1")
    assert (branch.counters.slots[("BR-1", MONDAY, time(9, 30))], branch.counters.days[("BR-1", MONDAY)]) == (1, 1)
    assert isinstance(branch.repos.timers, FakeTimers)
    assert branch.repos.timers.no_shows == {booking.booking_id: datetime(2020, 2, 10, 10, tzinfo=SHANGHAI)}


async def test_a_full_slot_refuses_with_how_full_it_is_and_takes_nothing() -> None:
    branch = Branch()
    await branch.book("C-1")
    await branch.book("C-2")
    refused = await branch.book("C-3")
    assert (refused["type"], refused["reason_code"]) == ("BookingRejected", "SLOT_FULL")
    assert refused["facts"] == {"date": "2020-02-10", "start_time": "09:00", "capacity": "2", "booked": "2"}
    assert (branch.counters.slots[("BR-1", MONDAY, time(9))], branch.counters.days[("BR-1", MONDAY)]) == (2, 2)
    assert len(branch.bookings) == 2


async def test_a_full_day_refuses_and_gives_back_the_slot_place() -> None:
    branch = Branch()
    branch.counters.days[("BR-1", MONDAY)] = 20  # the daily cap, reached on other slots
    refused = await branch.book("C-1", time(11))
    assert (refused["reason_code"], refused["facts"]["booked"]) == ("DAY_FULL", "20")
    assert branch.counters.slots[("BR-1", MONDAY, time(11))] == 0 and not branch.bookings


async def test_a_customer_holds_one_booking_a_day_at_a_branch() -> None:
    branch = Branch()
    first = await branch.book("C-1")
    again = await branch.book("C-1", time(10))
    assert (again["reason_code"], again["facts"]["existing_booking_id"]) == ("DUPLICATE_BOOKING", first["booking_id"])


async def test_only_the_customer_who_booked_can_cancel_and_cancelling_frees_the_place() -> None:
    branch = Branch()
    booked = await branch.book("C-1")
    someone = await branch.send(A.CancelBooking(command_id="cmd-x", booking_id=booked["booking_id"],
                                                customer_id="C-someone-else"))
    assert (someone["type"], someone["reason_code"]) == ("CommandRejected", "NOT_BOOKING_OWNER")
    assert someone["facts"] == {"booking_id": booked["booking_id"], "state": "BOOKED"}
    assert branch.bookings[booked["booking_id"]].state is BookingState.BOOKED
    assert branch.counters.days[("BR-1", MONDAY)] == 1
    owner = await branch.send(A.CancelBooking(command_id="cmd-y", booking_id=booked["booking_id"], customer_id="C-1"))
    assert owner["type"] == "BookingCancelled"
    assert branch.bookings[booked["booking_id"]].state is BookingState.CANCELLED
    assert (branch.counters.slots[("BR-1", MONDAY, time(9))], branch.counters.days[("BR-1", MONDAY)]) == (0, 0)
    assert (await branch.book("C-1"))["type"] == "SlotBooked"  # no longer holding an active booking that day


async def test_checking_in_within_the_window_gives_a_priority_ticket_and_ends_the_no_show_timer() -> None:
    branch = Branch()
    booked = await branch.book("C-1", time(10))
    branch.now = datetime(2020, 2, 10, 9, 50, tzinfo=SHANGHAI)
    kiosk = datetime(2020, 2, 10, 7, 0, tzinfo=SHANGHAI)  # the kiosk's clock is wrong: kept, never judged on
    checked = await branch.send(A.CheckIn(command_id="cmd-c", branch_id="BR-1",
                                          booking_code=booked["booking_code"].lower(), at=kiosk))
    assert (checked["type"], checked["ticket_number"], checked["priority"]) == ("CheckedIn", "P001", True)
    booking = branch.bookings[booked["booking_id"]]
    assert (booking.state, booking.ticket_number, booking.checkin_reported_at) == (
        BookingState.CHECKED_IN, "P001", kiosk)
    assert isinstance(branch.repos.timers, FakeTimers) and branch.repos.timers.no_shows == {}


async def test_checking_in_too_early_is_refused_with_the_window() -> None:
    branch = Branch()
    booked = await branch.book("C-1", time(10))
    branch.now = datetime(2020, 2, 10, 9, 0, tzinfo=SHANGHAI)
    early = await branch.send(A.CheckIn(command_id="cmd-c", branch_id="BR-1", booking_code=booked["booking_code"],
                                        at=branch.now))
    assert (early["reason_code"], early["facts"]["opens_at"]) == ("OUTSIDE_CHECKIN_WINDOW", "2020-02-10T09:30:00+08:00")
    assert branch.bookings[booked["booking_id"]].state is BookingState.BOOKED


def check_in(branch: Branch, code: str, customer: str | None = None) -> A.CheckIn:
    return A.CheckIn(command_id=f"cmd-{len(branch.emitted)}", branch_id="BR-1", booking_code=code, at=branch.now,
                     customer_id=customer)


async def test_a_code_checks_in_only_its_own_customer_and_another_customer_learns_nothing() -> None:
    branch = Branch()
    booked = await branch.book("C-1", time(10))
    branch.now = datetime(2020, 2, 10, 9, 50, tzinfo=SHANGHAI)
    someone = await branch.send(check_in(branch, booked["booking_code"], customer="C-2"))
    wrong = await branch.send(check_in(branch, "XXXXX", customer="C-2"))
    assert (someone["reason_code"], wrong["reason_code"]) == ("UNKNOWN_CODE", "UNKNOWN_CODE")
    assert someone["reason"] == wrong["reason"] and set(someone["facts"]) == set(wrong["facts"])
    assert "booking_id" not in someone["facts"] and someone.get("booking_id") is None
    assert branch.bookings[booked["booking_id"]].state is BookingState.BOOKED
    assert (await branch.send(check_in(branch, booked["booking_code"], customer="C-1")))["type"] == "CheckedIn"


async def test_after_five_unknown_codes_a_branch_refuses_check_ins_unread_until_the_window_passes() -> None:
    branch = Branch()
    booked = await branch.book("C-1", time(10))
    branch.now = datetime(2020, 2, 10, 9, 35, tzinfo=SHANGHAI)
    guesses = [await branch.send(check_in(branch, f"GUES{c}")) for c in "34679"]
    assert [g["reason_code"] for g in guesses] == ["UNKNOWN_CODE"] * 5
    blocked = await branch.send(check_in(branch, booked["booking_code"]))  # even the right code is not read
    assert (blocked["type"], blocked["reason_code"]) == ("CommandRejected", "CHECKIN_THROTTLED")
    assert blocked["facts"]["retry_at"] == "2020-02-10T09:45:00+08:00" and blocked["facts"]["failures"] == "5"
    assert branch.bookings[booked["booking_id"]].state is BookingState.BOOKED
    branch.now = datetime(2020, 2, 10, 9, 45, tzinfo=SHANGHAI)
    assert (await branch.send(check_in(branch, booked["booking_code"])))["type"] == "CheckedIn"


async def test_refusals_of_a_real_booking_do_not_count_towards_the_limit() -> None:
    branch = Branch()
    booked = await branch.book("C-1", time(10))
    branch.now = datetime(2020, 2, 10, 9, 0, tzinfo=SHANGHAI)
    early = [await branch.send(check_in(branch, booked["booking_code"])) for _ in range(6)]
    assert {e["reason_code"] for e in early} == {"OUTSIDE_CHECKIN_WINDOW"}
    branch.now = datetime(2020, 2, 10, 9, 40, tzinfo=SHANGHAI)
    assert (await branch.send(check_in(branch, booked["booking_code"])))["type"] == "CheckedIn"


async def test_booking_codes_are_random_not_made_from_the_command() -> None:
    codes = {(await Branch().book("C-1"))["booking_code"] for _ in range(50)}  # same command id in each world
    assert len(codes) > 45


async def test_a_booking_nobody_checked_in_becomes_a_no_show_once() -> None:
    branch = Branch()
    booked = await branch.book("C-1")
    branch.now += timedelta(days=7)
    ctx = MessageContext(None, branch.now, "postloan/appointments", "corr-1", None,  # type: ignore[arg-type]
                         settings=Settings(branches_file=None))
    service = AppointmentService(ctx, branch.repos)
    await service.no_show(booked["booking_id"])
    await service.no_show(booked["booking_id"])
    assert [json.loads(r.value)["type"] for r in ctx.emitted] == ["NoShow"]
    assert branch.bookings[booked["booking_id"]].state is BookingState.NO_SHOW
