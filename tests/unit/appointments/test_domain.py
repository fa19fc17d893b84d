"""Rules of branch plans, bookings and check-in (SPEC §6), pure."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.appointments.domain import (
    CODE_ALPHABET,
    CODE_LENGTH,
    WEEKDAYS,
    BookingState,
    CheckInFailures,
    Override,
    Plan,
    RefusalCode,
    Window,
    booking_problem,
    booking_window,
    cancel_problem,
    capacity_problem,
    checkin_problem,
    day_caps,
    day_full,
    day_of,
    over_capacity,
    over_daily_cap,
    overflow,
    plan_problem,
    slot_full,
    throttle_problem,
    ticket_label,
    unknown_branch,
)
from services.appointments.repository import new_booking_code
from shared.refusal import Refusal

SZ = ZoneInfo("Asia/Shanghai")
PLAN = Plan("B", "Centre", "Road 1", "Asia/Shanghai", 30, 20,
            {"MON": (Window(time(9), time(12), 4), Window(time(14), time(17), 4))})
EVERY_DAY = replace(PLAN, weekly={d: (Window(time(9), time(10), 1),) for d in WEEKDAYS})
MONDAY = date(2020, 2, 10)
TODAY = date(2020, 2, 3)
NOW = datetime(2020, 2, 3, 9, 30, tzinfo=SZ)  # the account's first day, on the service's clock


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


def refusal_of(on: date, start: time = time(9), *, existing: str | None = None, plan: Plan = PLAN,
               now: datetime = NOW) -> tuple[RefusalCode, dict[str, str]]:
    problem = booking_problem(plan, day_of(plan, None, on), on, start, now=now, existing_booking=existing)
    assert problem is not None and problem.reason
    return problem.code, dict(problem.facts)


def test_a_booking_outside_the_window_says_which_dates_are_bookable_and_in_which_zone() -> None:
    late = TODAY + timedelta(days=15)
    assert refusal_of(late, plan=EVERY_DAY) == (RefusalCode.OUTSIDE_BOOKING_WINDOW, {
        "date": "2020-02-18", "first_bookable_date": "2020-02-04", "last_bookable_date": "2020-02-17",
        "booking_window_days": "14", "branch_timezone": "Asia/Shanghai",
        "service_time": "2020-02-03T09:30:00+08:00"})
    assert refusal_of(TODAY, plan=EVERY_DAY)[0] is RefusalCode.OUTSIDE_BOOKING_WINDOW  # today is not bookable


def test_closed_days_unknown_slots_and_second_bookings_name_what_they_rest_on() -> None:
    assert refusal_of(MONDAY + timedelta(days=1)) == (RefusalCode.BRANCH_CLOSED, {"date": "2020-02-11"})
    assert refusal_of(MONDAY, time(9, 15)) == (RefusalCode.UNKNOWN_SLOT, {"date": "2020-02-10", "start_time": "09:15"})
    assert refusal_of(MONDAY, time(12)) == (RefusalCode.UNKNOWN_SLOT, {"date": "2020-02-10", "start_time": "12:00"})
    assert refusal_of(MONDAY, existing="B-first") == (
        RefusalCode.DUPLICATE_BOOKING, {"date": "2020-02-10", "existing_booking_id": "B-first"})


def test_full_slots_and_days_and_unknown_branches_carry_their_numbers() -> None:
    day = day_of(PLAN, None, MONDAY)
    slot = day.slots[0]
    assert dict(slot_full(MONDAY, slot, 4).facts) == {"date": "2020-02-10", "start_time": "09:00", "capacity": "4",
                                                       "booked": "4"}
    assert dict(day_full(MONDAY, day, 20).facts) == {"date": "2020-02-10", "daily_cap": "20", "booked": "20"}
    assert (slot_full(MONDAY, slot, 4).code, day_full(MONDAY, day, 20).code) == (RefusalCode.SLOT_FULL,
                                                                                  RefusalCode.DAY_FULL)
    assert dict(unknown_branch("BR-x").facts) == {"branch_id": "BR-x"}


def test_counts_at_the_cap_prove_a_full_day_before_a_full_slot() -> None:
    day = day_of(PLAN, None, MONDAY)
    slot = day.slots[0]
    assert capacity_problem(MONDAY, day, slot, day_booked=19, slot_booked=3) is None
    both = capacity_problem(MONDAY, day, slot, day_booked=20, slot_booked=4)
    only_slot = capacity_problem(MONDAY, day, slot, day_booked=5, slot_booked=4)
    assert both is not None and (both.code, both.facts["booked"]) == (RefusalCode.DAY_FULL, "20")
    assert only_slot is not None and (only_slot.code, only_slot.facts["booked"]) == (RefusalCode.SLOT_FULL, "4")


@pytest.mark.parametrize("window_days", [1, 3, 14, 30])
def test_tomorrow_and_the_last_day_of_the_branchs_own_window_are_bookable(window_days: int) -> None:
    plan = replace(EVERY_DAY, booking_window_days=window_days)
    for on in (TODAY + timedelta(days=1), TODAY + timedelta(days=window_days)):
        assert booking_problem(plan, day_of(plan, None, on), on, time(9), now=NOW, existing_booking=None) is None
    after = TODAY + timedelta(days=window_days + 1)
    assert refusal_of(after, plan=plan)[1]["last_bookable_date"] == (TODAY + timedelta(days=window_days)).isoformat()


def test_the_booking_window_starts_tomorrow_in_the_branchs_time_zone() -> None:
    now = datetime(2020, 2, 3, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai, still 2 February (20:30) in New York
    new_york = replace(EVERY_DAY, timezone="America/New_York", booking_window_days=2)
    assert booking_window(new_york, now) == (date(2020, 2, 3), date(2020, 2, 4))
    assert booking_window(replace(EVERY_DAY, booking_window_days=2), now) == (date(2020, 2, 4), date(2020, 2, 5))
    on = date(2020, 2, 3)
    assert booking_problem(new_york, day_of(new_york, None, on), on, time(9), now=now, existing_booking=None) is None


def test_booking_codes_are_short_readable_and_random() -> None:
    codes = [new_booking_code() for _ in range(2000)]
    assert all(len(code) == CODE_LENGTH == 5 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert not set("0O1IL2Z5S8B") & set(CODE_ALPHABET)
    assert len(set(codes)) > 1990 and set("".join(codes)) == set(CODE_ALPHABET)


def test_check_in_throttling_counts_within_the_window_and_lifts_after_it() -> None:
    since, window = datetime(2020, 2, 10, 9, 0, tzinfo=UTC), timedelta(minutes=10)

    def refused(failures: int, now: datetime) -> bool:
        return throttle_problem(CheckInFailures(failures, since), now, max_failures=5, window=window) is not None
    assert throttle_problem(None, since, max_failures=5, window=window) is None
    assert not refused(4, since + timedelta(minutes=1))
    assert refused(5, since + timedelta(minutes=1)) and refused(9, since + timedelta(minutes=9, seconds=59))
    assert not refused(9, since + window)


def check_in(state: BookingState | None, now_minutes: int) -> Refusal | None:
    start = datetime(2020, 2, 10, 9, tzinfo=SZ)
    return checkin_problem(state, start if state else None, start + timedelta(minutes=now_minutes),
                           opens_before=timedelta(minutes=30), closes_after=timedelta(minutes=15))


@pytest.mark.parametrize(("now_minutes", "ok"), [(-31, False), (-30, True), (0, True), (15, True), (16, False)])
def test_check_in_opens_thirty_minutes_before_and_closes_fifteen_after_on_the_service_clock(
    now_minutes: int, ok: bool
) -> None:
    problem = check_in(BookingState.BOOKED, now_minutes)
    assert (problem is None) is ok
    if not ok:
        assert problem is not None and problem.code is RefusalCode.OUTSIDE_CHECKIN_WINDOW


def test_a_check_in_refusal_names_the_window_and_the_service_time() -> None:
    problem = check_in(BookingState.BOOKED, -40)
    assert problem is not None and dict(problem.facts) == {
        "opens_at": "2020-02-10T08:30:00+08:00", "closes_at": "2020-02-10T09:15:00+08:00",
        "service_time": "2020-02-10T08:20:00+08:00", "state": "BOOKED"}


@pytest.mark.parametrize(("state", "code"), [(None, RefusalCode.UNKNOWN_CODE),
                                             (BookingState.CHECKED_IN, RefusalCode.ALREADY_CHECKED_IN),
                                             (BookingState.CANCELLED, RefusalCode.BOOKING_NOT_ACTIVE)])
def test_check_in_refusals(state: BookingState | None, code: RefusalCode) -> None:
    problem = check_in(state, 0)
    assert problem is not None and problem.code is code
    assert problem.facts["service_time"] == "2020-02-10T09:00:00+08:00"


def test_only_the_customer_cancels_an_active_booking_and_a_refusal_names_its_state() -> None:
    assert cancel_problem(BookingState.BOOKED, "C-1", "C-1") is None
    someone = cancel_problem(BookingState.BOOKED, "C-1", "C-2")
    assert someone is not None and (someone.code, dict(someone.facts)) == (RefusalCode.NOT_BOOKING_OWNER,
                                                                           {"state": "BOOKED"})
    assert cancel_problem(None, None, "C-1").code is RefusalCode.UNKNOWN_BOOKING  # type: ignore[union-attr]
    gone = cancel_problem(BookingState.NO_SHOW, "C-1", "C-1")
    assert gone is not None and (gone.code, dict(gone.facts)) == (RefusalCode.BOOKING_NOT_ACTIVE, {"state": "NO_SHOW"})


def test_a_plan_change_reports_slots_left_over_capacity_without_cancelling() -> None:
    smaller = day_of(PLAN, Override(False, (Window(time(9), time(10), 1),), None), MONDAY)
    assert over_capacity(smaller, {time(9): 3, time(9, 30): 1, time(14): 2}) == [(time(9), 3, 1), (time(14), 2, 0)]


def test_a_plan_change_reports_a_day_left_over_its_daily_cap() -> None:
    assert over_daily_cap(day_of(PLAN, Override(False, None, 2), MONDAY), 3) == 2
    assert over_daily_cap(day_of(PLAN, Override(False, None, 3), MONDAY), 3) is None
    assert over_daily_cap(day_of(PLAN, Override(True, None, None), MONDAY), 1) == 0  # a closed day takes none
    assert over_daily_cap(day_of(PLAN, None, MONDAY + timedelta(days=1)), 1) == 0  # no windows that weekday


def test_a_plan_change_reports_every_booked_date_it_leaves_over_capacity() -> None:
    cut = replace(PLAN, daily_cap=2)
    overrides = {MONDAY: Override(False, (Window(time(9), time(10), 1),), None),
                 MONDAY + timedelta(days=7): Override(False, None, 5)}
    booked_by_slot = {MONDAY: {time(9): 2, time(9, 30): 1}, MONDAY + timedelta(days=7): {time(9): 3},
                      MONDAY + timedelta(days=14): {time(14): 1}}
    booked_by_day = {MONDAY: 3, MONDAY + timedelta(days=7): 3, MONDAY + timedelta(days=14): 1}
    slots, days = overflow(cut, overrides, booked_by_slot, booked_by_day)
    assert slots == [(MONDAY, time(9), 2, 1)]
    assert days == [(MONDAY, 3, 2)]  # the 17th has its own cap of 5; the 24th holds 1 of 2


def test_the_cap_of_each_day_a_change_covers_follows_the_plan_and_its_overrides() -> None:
    sunday, tuesday, next_monday = MONDAY - timedelta(days=1), MONDAY + timedelta(days=1), MONDAY + timedelta(days=7)
    overrides = {MONDAY: Override(False, None, 5), tuesday: Override(False, (Window(time(9), time(10), 1),), None),
                 next_monday: Override(True, None, None)}
    caps = day_caps(PLAN, overrides, sunday, next_monday)
    assert caps[:3] == [(sunday, 0, True), (MONDAY, 5, False), (tuesday, 20, False)]  # no window on Sunday
    assert caps[3:8] == [(MONDAY + timedelta(days=n), 0, True) for n in range(2, 7)]  # Wednesday to Sunday
    assert caps[8:] == [(next_monday, 0, True)]  # closed by its override
    assert day_caps(replace(PLAN, daily_cap=0), {}, MONDAY, MONDAY) == [(MONDAY, 0, True)]  # a cap of 0 takes none
    assert day_caps(PLAN, overrides, tuesday, tuesday) == [(tuesday, 20, False)]  # an override's single day


def test_plans_with_unknown_zones_or_empty_windows_are_refused_with_what_is_wrong() -> None:
    mars = plan_problem(Plan("B", "n", "a", "Mars/Olympus", 30, 1, {}))
    assert mars is not None and (mars.code, dict(mars.facts)) == (RefusalCode.INVALID_PLAN,
                                                                  {"timezone": "Mars/Olympus"})
    short = plan_problem(Plan("B", "n", "a", "Asia/Shanghai", 30, 1, {"MON": (Window(time(9), time(9, 20), 1),)}))
    assert short is not None and dict(short.facts) == {"window": "09:00-09:20", "slot_minutes": "30", "weekday": "MON"}
    assert plan_problem(PLAN) is None


def test_priority_tickets_read_as_p_and_three_digits() -> None:
    assert ticket_label(7) == "P007"
