"""Rules of branch plans, bookings, capacity and check-in (SPEC §6). Pure: no I/O; 'now' and ids are passed in."""

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.appointments.domain._models import (
    WEEKDAYS,
    Booking,
    BookingState,
    CheckInFailures,
    Day,
    Override,
    Plan,
    RefusalCode,
    Slot,
    Window,
)
from shared.refusal import Refusal

# Booking codes are read out over the phone and at the counter: no 0/O, 1/I/L, 2/Z, 5/S, 8/B.
CODE_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 5


def plan_problem(plan: Plan) -> Refusal | None:
    """A plan operators can apply: a real time zone, windows that hold at least one slot."""
    try:
        ZoneInfo(plan.timezone)
    except (KeyError, ValueError):
        return Refusal(RefusalCode.INVALID_PLAN, f"Unknown time zone {plan.timezone!r}.", {"timezone": plan.timezone})
    for weekday, windows in plan.weekly.items():
        if weekday not in WEEKDAYS:
            return Refusal(RefusalCode.INVALID_PLAN, f"Unknown weekday {weekday!r}.", {"weekday": weekday})
        problem = windows_problem(windows, plan.slot_minutes)
        if problem:
            return problem.adding(weekday=weekday)
    return None


def windows_problem(windows: Sequence[Window], slot_minutes: int) -> Refusal | None:
    for w in windows:
        if _minutes(w.end) - _minutes(w.start) < slot_minutes:
            return Refusal(RefusalCode.INVALID_PLAN, f"The window {w.start:%H:%M}-{w.end:%H:%M} holds no "
                                                     f"{slot_minutes}-minute slot.",
                           {"window": f"{w.start:%H:%M}-{w.end:%H:%M}", "slot_minutes": str(slot_minutes)})
    return None


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _at(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def day_of(plan: Plan, override: Override | None, on: date) -> Day:
    """SPEC §6: the weekly plan for that weekday, unless a date override closes the branch or changes it."""
    if override is not None and override.closed:
        return Day((), 0)
    windows = override.windows if override is not None and override.windows is not None else (
        plan.weekly.get(WEEKDAYS[on.weekday()], ()))
    cap = override.daily_cap if override is not None and override.daily_cap is not None else plan.daily_cap
    slots = []
    for w in windows:
        start = _minutes(w.start)
        while start + plan.slot_minutes <= _minutes(w.end):
            slots.append(Slot(_at(start), _at(start + plan.slot_minutes), w.capacity_per_slot))
            start += plan.slot_minutes
    return Day(tuple(slots), cap)


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def booking_window(plan: Plan, now: datetime) -> tuple[date, date]:
    """SPEC §6 (expected): the first and last bookable dates, from tomorrow up to the branch's window, both in
    the branch's time zone and on the service's clock."""
    today = local_today(now, plan.timezone)
    return today + timedelta(days=1), today + timedelta(days=plan.booking_window_days)


def booking_problem(plan: Plan, day: Day, on: date, start: time, *, now: datetime,
                    existing_booking: str | None) -> Refusal | None:
    """SPEC §6: refused outside the booking window, on a closed day, for a slot that does not exist, or when the
    customer already holds a booking at that branch that day. Capacity is decided by the database."""
    first, last = booking_window(plan, now)
    if not first <= on <= last:
        return Refusal(RefusalCode.OUTSIDE_BOOKING_WINDOW, f"Bookings are taken from {first} to {last}.", {
            "date": on.isoformat(), "first_bookable_date": first.isoformat(), "last_bookable_date": last.isoformat(),
            "booking_window_days": str(plan.booking_window_days), "branch_timezone": plan.timezone,
            "service_time": now.astimezone(ZoneInfo(plan.timezone)).isoformat()})
    if day.closed:
        return Refusal(RefusalCode.BRANCH_CLOSED, f"The branch is closed on {on}.", {"date": on.isoformat()})
    if day.slot_at(start) is None:
        return Refusal(RefusalCode.UNKNOWN_SLOT, f"There is no slot starting at {start:%H:%M} on {on}.",
                       {"date": on.isoformat(), "start_time": f"{start:%H:%M}"})
    if existing_booking is not None:
        return Refusal(RefusalCode.DUPLICATE_BOOKING, "You already hold a booking at this branch on that day.",
                       {"date": on.isoformat(), "existing_booking_id": existing_booking})
    return None


def unknown_branch(branch_id: str) -> Refusal:
    return Refusal(RefusalCode.UNKNOWN_BRANCH, "No branch with this id is known.", {"branch_id": branch_id})


def slot_full(on: date, slot: Slot, booked: int) -> Refusal:
    return Refusal(RefusalCode.SLOT_FULL, "This time slot is fully booked.", {
        "date": on.isoformat(), "start_time": f"{slot.start:%H:%M}", "capacity": str(slot.capacity),
        "booked": str(booked)})


def day_full(on: date, day: Day, booked: int) -> Refusal:
    return Refusal(RefusalCode.DAY_FULL, "All of the day's tickets are taken.",
                   {"date": on.isoformat(), "daily_cap": str(day.daily_cap), "booked": str(booked)})


def capacity_problem(on: date, day: Day, slot: Slot, *, day_booked: int, slot_booked: int) -> Refusal | None:
    """SPEC §6: a full day or slot takes no more bookings. Counts known to be at the cap prove a refusal; below
    it, only the database's conditional counter update grants the place (other copies book at the same time)."""
    if day_booked >= day.daily_cap:
        return day_full(on, day, day_booked)
    if slot_booked >= slot.capacity:
        return slot_full(on, slot, slot_booked)
    return None


def booking_to_check_in(booking: Booking | None, customer_id: str | None) -> Booking | None:
    """A code opens only its own booking: found at that branch on that day and, when the check-in names a customer,
    held by that customer. Another customer's code is as unknown as a wrong one, so a refusal never tells a guesser
    that a code exists."""
    if booking is None or (customer_id is not None and booking.customer_id != customer_id):
        return None
    return booking


def counts_against_branch(refusal: Refusal) -> bool:
    """A check-in that named no booking of that branch and day is a guess as far as anyone can tell: it counts
    towards the branch's limit. Refusals of a real booking (too early, already in) do not: they guess nothing."""
    return refusal.code is RefusalCode.UNKNOWN_CODE


def throttle_problem(seen: CheckInFailures | None, now: datetime, *, max_failures: int,
                     window: timedelta) -> Refusal | None:
    """Booking codes are short (read out at the counter), so guessing them is bounded per branch: once `max_failures`
    unknown codes were tried there within `window`, check-ins are refused unread until that window has passed."""
    if seen is None or seen.failures < max_failures or now >= seen.since + window:
        return None
    until = (seen.since + window).astimezone(now.tzinfo)  # told on the branch's clock, as `now` is
    return Refusal(RefusalCode.CHECKIN_THROTTLED,
                   f"Too many unknown booking codes at this branch; check-in opens again at {until:%H:%M}.",
                   {"failures": str(seen.failures), "max_failures": str(max_failures),
                    "window_s": str(int(window.total_seconds())), "retry_at": until.isoformat(),
                    "service_time": now.isoformat()})


def checkin_problem(state: BookingState | None, slot_start: datetime | None, now: datetime, *,
                    opens_before: timedelta, closes_after: timedelta) -> Refusal | None:
    """SPEC §6 (expected): check-in opens 30 minutes before the slot and closes 15 minutes after it starts, judged
    on the service's clock (`now`), never on a time the kiosk wrote."""
    facts = {"service_time": now.isoformat()}
    if state is None or slot_start is None:
        return Refusal(RefusalCode.UNKNOWN_CODE, "No booking with this code today at this branch.", facts)
    opens, closes = slot_start - opens_before, slot_start + closes_after
    facts |= {"opens_at": opens.isoformat(), "closes_at": closes.isoformat(), "state": state.value}
    if state is BookingState.CHECKED_IN:
        return Refusal(RefusalCode.ALREADY_CHECKED_IN, "This booking has already been checked in.", facts)
    if state is not BookingState.BOOKED:
        return Refusal(RefusalCode.BOOKING_NOT_ACTIVE, f"This booking is {state.lower().replace('_', ' ')}.", facts)
    if not opens <= now <= closes:
        return Refusal(RefusalCode.OUTSIDE_CHECKIN_WINDOW, f"Check-in is open from {opens:%H:%M} to {closes:%H:%M}.",
                       facts)
    return None


def ticket_label(number: int) -> str:
    """Priority tickets are numbered per branch and day: P001, P002, … (booked customers go first)."""
    return f"P{number:03d}"


def cancel_problem(state: BookingState | None, owner: str | None, customer_id: str) -> Refusal | None:
    if state is None:
        return Refusal(RefusalCode.UNKNOWN_BOOKING, "No booking with this id is known.")
    facts = {"state": state.value}
    if owner != customer_id:
        return Refusal(RefusalCode.NOT_BOOKING_OWNER, "Only the customer who booked can cancel.", facts)
    if state is not BookingState.BOOKED:
        return Refusal(RefusalCode.BOOKING_NOT_ACTIVE, f"This booking is {state.lower().replace('_', ' ')}.", facts)
    return None


def over_capacity(day: Day, booked_by_slot: Mapping[time, int]) -> list[tuple[time, int, int]]:
    """After a plan change: (start, booked, capacity) of slots holding more bookings than they now may.

    A slot that no longer exists has capacity 0; existing bookings are never cancelled by a plan change."""
    result = []
    for start, booked in sorted(booked_by_slot.items()):
        slot = day.slot_at(start)
        capacity = 0 if slot is None or day.closed else slot.capacity
        if booked > capacity:
            result.append((start, booked, capacity))
    return result


def over_daily_cap(day: Day, booked: int) -> int | None:
    """After a plan change: the day's cap when it now holds more bookings than the cap allows (a closed day
    allows none); None when the day is within its cap. Existing bookings are never cancelled by a change."""
    cap = 0 if day.closed else day.daily_cap
    return cap if booked > cap else None


def overflow(
    plan: Plan, overrides: Mapping[date, Override], booked_by_slot: Mapping[date, Mapping[time, int]],
    booked_by_day: Mapping[date, int],
) -> tuple[list[tuple[date, time, int, int]], list[tuple[date, int, int]]]:
    """SPEC §6: what a plan change leaves over capacity on the booked dates it covers: slots as (date, start,
    booked, capacity), days as (date, booked, daily cap)."""
    slots, days = [], []
    for on in sorted(booked_by_slot.keys() | booked_by_day.keys()):
        day = day_of(plan, overrides.get(on), on)
        slots += [(on, *slot) for slot in over_capacity(day, booked_by_slot.get(on, {}))]
        booked = booked_by_day.get(on, 0)
        if (cap := over_daily_cap(day, booked)) is not None:
            days.append((on, booked, cap))
    return slots, days


def day_caps(plan: Plan, overrides: Mapping[date, Override], first: date, last: date) -> list[tuple[date, int, bool]]:
    """The cap in force on each day from `first` to `last` (both included) as (date, cap, closed): a closed day
    (closed by an override, no window that weekday, or a cap of 0) allows none."""
    result = []
    for n in range((last - first).days + 1):
        on = first + timedelta(days=n)
        day = day_of(plan, overrides.get(on), on)
        result.append((on, 0 if day.closed else day.daily_cap, day.closed))
    return result


def is_no_show(booking: Booking | None) -> bool:
    """SPEC §6 (expected): a booking still only booked when its slot ends is a no-show; one checked in or cancelled
    meanwhile is left as it is."""
    return booking is not None and booking.state is BookingState.BOOKED
