"""Rules of branch plans, bookings, capacity and check-in (SPEC §6): pure functions of plans, days and bookings.

No I/O here: no database, broker, clock or id generation; callers pass 'now' and ids in.
"""

from services.appointments.domain._models import (
    ACTIVE_STATES,
    WEEKDAYS,
    Booking,
    BookingState,
    BookSlot,
    CancelBooking,
    CheckIn,
    CheckInFailures,
    Day,
    Override,
    Plan,
    RefusalCode,
    SetBranchPlan,
    SetDateOverride,
    Slot,
    Window,
)
from services.appointments.domain._rules import (
    CODE_ALPHABET,
    CODE_LENGTH,
    booking_problem,
    booking_to_check_in,
    booking_window,
    cancel_problem,
    capacity_problem,
    checkin_problem,
    counts_against_branch,
    day_caps,
    day_full,
    day_of,
    is_no_show,
    local_today,
    over_capacity,
    over_daily_cap,
    overflow,
    plan_problem,
    slot_full,
    throttle_problem,
    ticket_label,
    unknown_branch,
    windows_problem,
)

__all__ = [
    "ACTIVE_STATES", "CODE_ALPHABET", "CODE_LENGTH", "WEEKDAYS", "BookSlot", "Booking", "BookingState",
    "CancelBooking", "CheckIn", "CheckInFailures", "Day", "Override", "Plan", "RefusalCode", "SetBranchPlan",
    "SetDateOverride", "Slot", "Window", "booking_problem", "booking_to_check_in", "booking_window", "cancel_problem",
    "capacity_problem", "checkin_problem", "counts_against_branch", "day_caps", "day_full", "day_of", "is_no_show",
    "local_today", "over_capacity", "over_daily_cap", "overflow", "plan_problem", "slot_full", "throttle_problem",
    "ticket_label", "unknown_branch", "windows_problem",
]
