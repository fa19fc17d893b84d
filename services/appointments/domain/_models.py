"""Domain types of the appointments service: plans, the day they make, bookings, the commands on them.

Frozen dataclasses only; no I/O.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from enum import StrEnum

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class BookingState(StrEnum):
    BOOKED = "BOOKED"
    CANCELLED = "CANCELLED"
    CHECKED_IN = "CHECKED_IN"
    NO_SHOW = "NO_SHOW"


ACTIVE_STATES = frozenset({BookingState.BOOKED, BookingState.CHECKED_IN})  # SPEC §6: one active booking a day


class RefusalCode(StrEnum):
    """BookingRejected reasons (CONTRACT.md) and CommandRejected reasons of this service."""

    BRANCH_CLOSED = "BRANCH_CLOSED"
    UNKNOWN_SLOT = "UNKNOWN_SLOT"
    SLOT_FULL = "SLOT_FULL"
    DAY_FULL = "DAY_FULL"
    OUTSIDE_BOOKING_WINDOW = "OUTSIDE_BOOKING_WINDOW"
    DUPLICATE_BOOKING = "DUPLICATE_BOOKING"
    UNKNOWN_BRANCH = "UNKNOWN_BRANCH"
    INVALID_PLAN = "INVALID_PLAN"
    UNKNOWN_BOOKING = "UNKNOWN_BOOKING"
    NOT_BOOKING_OWNER = "NOT_BOOKING_OWNER"
    BOOKING_NOT_ACTIVE = "BOOKING_NOT_ACTIVE"
    UNKNOWN_CODE = "UNKNOWN_CODE"
    ALREADY_CHECKED_IN = "ALREADY_CHECKED_IN"
    OUTSIDE_CHECKIN_WINDOW = "OUTSIDE_CHECKIN_WINDOW"
    CHECKIN_THROTTLED = "CHECKIN_THROTTLED"


@dataclass(frozen=True)
class Window:
    start: time
    end: time
    capacity_per_slot: int


@dataclass(frozen=True)
class Plan:
    branch_id: str
    name: str
    address: str
    timezone: str
    slot_minutes: int
    daily_cap: int
    weekly: Mapping[str, Sequence[Window]]
    booking_window_days: int = 14  # SPEC §6 (expected): bookings from tomorrow up to this many days ahead


@dataclass(frozen=True)
class Override:
    closed: bool
    windows: Sequence[Window] | None
    daily_cap: int | None


@dataclass(frozen=True)
class Slot:
    start: time
    end: time
    capacity: int


@dataclass(frozen=True)
class Day:
    """What a branch offers on one date: its slots and the cap on tickets; no slots means closed."""

    slots: tuple[Slot, ...]
    daily_cap: int

    @property
    def closed(self) -> bool:
        return not self.slots or self.daily_cap == 0

    def slot_at(self, start: time) -> Slot | None:
        return next((s for s in self.slots if s.start == start), None)


@dataclass(frozen=True)
class Booking:
    """A customer's place on a slot, from booking to check-in, cancellation or no-show."""

    booking_id: str
    booking_code: str
    command_id: str
    customer_id: str
    branch_id: str
    date: date
    start_time: time
    end_time: time
    service_type: str
    request_id: str | None
    note: str | None
    state: BookingState
    created_at: datetime
    updated_at: datetime
    ticket_number: str | None = None
    checkin_reported_at: datetime | None = None  # the kiosk's time, kept for the record only

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def cancelled(self, at: datetime) -> "Booking":
        return replace(self, state=BookingState.CANCELLED, updated_at=at)

    def checked_in(self, at: datetime, ticket_number: str, reported_at: datetime) -> "Booking":
        return replace(self, state=BookingState.CHECKED_IN, updated_at=at, ticket_number=ticket_number,
                       checkin_reported_at=reported_at)

    def missed(self, at: datetime) -> "Booking":
        return replace(self, state=BookingState.NO_SHOW, updated_at=at)


# --- commands (what the handlers make of the wire messages) -------------------------------------------------------

@dataclass(frozen=True)
class SetBranchPlan:
    command_id: str
    plan: Plan


@dataclass(frozen=True)
class SetDateOverride:
    command_id: str
    branch_id: str
    date: date
    override: Override


@dataclass(frozen=True)
class BookSlot:
    command_id: str
    customer_id: str
    branch_id: str
    date: date
    start_time: time
    service_type: str
    request_id: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class CancelBooking:
    command_id: str
    booking_id: str
    customer_id: str


@dataclass(frozen=True)
class CheckIn:
    command_id: str
    branch_id: str
    booking_code: str
    at: datetime  # the kiosk's time: for the record, never for the window
    customer_id: str | None = None  # who checks in, when the channel knows: the code must be theirs


@dataclass(frozen=True)
class CheckInFailures:
    """Unknown codes tried at a branch within the current window, which started at `since`."""

    failures: int
    since: datetime
