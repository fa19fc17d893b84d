"""Rules of branch plans, bookings and check-in (SPEC §6), pure."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.appointments.domain import (
    CODE_ALPHABET,
    BookingState,
    Override,
    Plan,
    Refusal,
    Window,
    booking_code,
    booking_problem,
    cancel_problem,
    checkin_problem,
    day_of,
    over_capacity,
    plan_problem,
    ticket_label,
)

SZ = ZoneInfo("Asia/Shanghai")
PLAN = Plan("B", "Centre", "Road 1", "Asia/Shanghai", 30, 20,
            {"MON": (Window(time(9), time(12), 4), Window(time(14), time(17), 4))})
MONDAY = date(2020, 2, 10)
TODAY = date(2020, 2, 3)


def test_a_weekday_plan_is_cut_into_slots() -> None:
    day = day_of(PLAN, None, MONDAY)
    assert len(day.slots) == 12 and day.daily_cap == 20
    assert day.slots[0].start == time(9) and day.slots[0].end == time(9, 30) and day.slots[-1].end == time(17)
    assert day_of(PLAN, None, MONDAY + timedelta(days=1)).closed  # no Tuesday windows


def test_an_override_closes_a_date_or_changes_its_hours_and_cap() -> None:
    assert day_of(PLAN, Override(True, None, None), MONDAY).closed
    epidemic = day_of(PLAN, Override(False, (Window(time(10), time(11), 2),), 5), MONDAY)
    assert [s.start for s in epidemic.slots] == [time(10), time(10, 30)] and epidemic.daily_cap == 5
    capped = day_of(PLAN, Override(False, None, 8), MONDAY)
    assert len(capped.slots) == 12 and capped.daily_cap == 8


@pytest.mark.parametrize(("on", "start", "duplicate", "code"), [
    (TODAY, time(9), False, Refusal.OUTSIDE_BOOKING_WINDOW),
    (TODAY + timedelta(days=15), time(9), False, Refusal.OUTSIDE_BOOKING_WINDOW),
    (MONDAY + timedelta(days=1), time(9), False, Refusal.BRANCH_CLOSED),
    (MONDAY, time(9, 15), False, Refusal.UNKNOWN_SLOT),
    (MONDAY, time(12), False, Refusal.UNKNOWN_SLOT),
    (MONDAY, time(9), True, Refusal.DUPLICATE_BOOKING),
])
def test_each_booking_refusal(on: date, start: time, duplicate: bool, code: Refusal) -> None:
    problem = booking_problem(day_of(PLAN, None, on), on, start, today=TODAY, window_days=14,
                              has_booking_that_day=duplicate)
    assert problem is not None and problem.code is code and problem.reason


def test_tomorrow_and_the_fourteenth_day_are_bookable() -> None:
    plan = Plan("B", "n", "a", "Asia/Shanghai", 30, 20, {d: (Window(time(9), time(10), 1),) for d in
                                                        ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")})
    for on in (TODAY + timedelta(days=1), TODAY + timedelta(days=14)):
        assert booking_problem(day_of(plan, None, on), on, time(9), today=TODAY, window_days=14,
                               has_booking_that_day=False) is None


def test_booking_codes_are_short_readable_and_stable() -> None:
    code = booking_code("B-1")
    assert len(code) == 5 and set(code) <= set(CODE_ALPHABET) and code == booking_code("B-1")
    assert not set("0O1IL2Z5S8B") & set(CODE_ALPHABET)
    assert booking_code("B-1", 1) != code


@pytest.mark.parametrize(("at_minutes", "ok"), [(-31, False), (-30, True), (0, True), (15, True), (16, False)])
def test_check_in_opens_thirty_minutes_before_and_closes_fifteen_after(at_minutes: int, ok: bool) -> None:
    start = datetime(2020, 2, 10, 9, tzinfo=SZ)
    problem = checkin_problem(BookingState.BOOKED, start, start + timedelta(minutes=at_minutes),
                              opens_before=timedelta(minutes=30), closes_after=timedelta(minutes=15))
    assert (problem is None) is ok
    if not ok:
        assert problem is not None and problem.code is Refusal.OUTSIDE_CHECKIN_WINDOW


@pytest.mark.parametrize(("state", "code"), [(None, Refusal.UNKNOWN_CODE),
                                             (BookingState.CHECKED_IN, Refusal.ALREADY_CHECKED_IN),
                                             (BookingState.CANCELLED, Refusal.BOOKING_NOT_ACTIVE)])
def test_check_in_refusals(state: BookingState | None, code: Refusal) -> None:
    start = datetime(2020, 2, 10, 9, tzinfo=SZ)
    problem = checkin_problem(state, start, start, opens_before=timedelta(minutes=30),
                              closes_after=timedelta(minutes=15))
    assert problem is not None and problem.code is code


def test_only_the_customer_cancels_an_active_booking() -> None:
    assert cancel_problem(BookingState.BOOKED, "C-1", "C-1") is None
    assert cancel_problem(BookingState.BOOKED, "C-1", "C-2").code is Refusal.NOT_BOOKING_OWNER  # type: ignore[union-attr]
    assert cancel_problem(None, None, "C-1").code is Refusal.UNKNOWN_BOOKING  # type: ignore[union-attr]
    assert cancel_problem(BookingState.NO_SHOW, "C-1", "C-1").code is Refusal.BOOKING_NOT_ACTIVE  # type: ignore[union-attr]


def test_a_plan_change_reports_slots_left_over_capacity_without_cancelling() -> None:
    smaller = day_of(PLAN, Override(False, (Window(time(9), time(10), 1),), None), MONDAY)
    assert over_capacity(smaller, {time(9): 3, time(9, 30): 1, time(14): 2}) == [(time(9), 3, 1), (time(14), 2, 0)]


def test_plans_with_unknown_zones_or_empty_windows_are_refused() -> None:
    assert plan_problem(Plan("B", "n", "a", "Mars/Olympus", 30, 1, {})).code is Refusal.INVALID_PLAN  # type: ignore[union-attr]
    short = Plan("B", "n", "a", "Asia/Shanghai", 30, 1, {"MON": (Window(time(9), time(9, 20), 1),)})
    assert plan_problem(short).code is Refusal.INVALID_PLAN  # type: ignore[union-attr]
    assert plan_problem(PLAN) is None


def test_priority_tickets_read_as_p_and_three_digits() -> None:
    assert ticket_label(7) == "P007"
