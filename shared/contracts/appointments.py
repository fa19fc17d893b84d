"""`appointments.commands` and `appointments.events`: branch plans, bookings, check-in (CONTRACT.md)."""

from datetime import time
from enum import StrEnum
from typing import Annotated

from pydantic import Field, PlainSerializer

from shared.contracts._base import Command, CommandRejected, Contract, Day, Timestamp

# Times of day travel as "HH:MM".
ClockTime = Annotated[time, PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str, when_used="json")]


class ServiceType(StrEnum):
    DEBIT_DAY_CHANGE = "DEBIT_DAY_CHANGE"
    EARLY_REPAYMENT = "EARLY_REPAYMENT"
    OTHER = "OTHER"


class Weekday(StrEnum):
    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"


class BookingRejectReason(StrEnum):
    BRANCH_CLOSED = "BRANCH_CLOSED"
    UNKNOWN_SLOT = "UNKNOWN_SLOT"
    SLOT_FULL = "SLOT_FULL"
    DAY_FULL = "DAY_FULL"
    OUTSIDE_BOOKING_WINDOW = "OUTSIDE_BOOKING_WINDOW"
    DUPLICATE_BOOKING = "DUPLICATE_BOOKING"
    UNKNOWN_BRANCH = "UNKNOWN_BRANCH"


class Window(Contract):
    start: ClockTime
    end: ClockTime
    capacity_per_slot: int = Field(ge=0)


class BookSlot(Command):
    customer_id: str
    branch_id: str
    date: Day
    start_time: ClockTime
    service_type: ServiceType
    request_id: str | None = None
    note: str | None = None


class CancelBooking(Command):
    booking_id: str
    customer_id: str


class CheckIn(Command):
    branch_id: str
    booking_code: str
    at: Timestamp
    customer_id: str | None = Field(
        default=None, description="Who checks in, when the channel knows (an app, a signed-in kiosk): the booking "
        "must be theirs. Added in 1.1; kiosks that only read a code leave it out.")


class SetBranchPlan(Command):
    branch_id: str
    name: str
    address: str
    timezone: str
    slot_minutes: int = Field(gt=0, le=240)
    daily_cap: int = Field(ge=0)
    booking_window_days: int = Field(default=14, ge=1, le=366, description="How many days ahead customers book.")
    weekly: dict[Weekday, list[Window]]


class SetDateOverride(Command):
    branch_id: str
    date: Day
    closed: bool = False
    windows: list[Window] | None = None
    daily_cap: int | None = Field(default=None, ge=0)


class SlotBooked(Contract):
    booking_id: str
    booking_code: str
    command_id: str
    customer_id: str
    branch_id: str
    date: Day
    start_time: ClockTime
    end_time: ClockTime
    service_type: ServiceType
    request_id: str | None = None
    note: str | None = None
    branch_name: str | None = None
    branch_address: str | None = None
    branch_timezone: str | None = Field(default=None, description="The branch's time zone (IANA), for reminders.")


class BookingRejected(Contract):
    command_id: str
    customer_id: str
    branch_id: str
    date: Day
    start_time: ClockTime
    reason_code: BookingRejectReason
    reason: str
    facts: dict[str, str] = Field(description="The facts the refusal rests on.")


class BookingCancelled(Contract):
    booking_id: str
    customer_id: str
    branch_id: str
    command_id: str | None = None
    date: Day | None = None
    start_time: ClockTime | None = None
    cancelled_at: Timestamp | None = None


class CheckedIn(Contract):
    booking_id: str
    ticket_number: str
    priority: bool = True
    command_id: str | None = None
    customer_id: str | None = None
    branch_id: str | None = None
    checked_in_at: Timestamp | None = None


class NoShow(Contract):
    booking_id: str
    customer_id: str
    branch_id: str
    date: Day
    start_time: ClockTime


class OverCapacitySlot(Contract):
    date: Day
    start_time: ClockTime
    booked: int
    capacity: int


class OverDailyCap(Contract):
    date: Day
    booked: int
    daily_cap: int


class DayCap(Contract):
    date: Day
    daily_cap: int = Field(ge=0)
    closed: bool = Field(description="Closed that day (an override closes it, or no window that weekday): cap 0.")


class BranchPlanChanged(Contract):
    branch_id: str
    over_capacity: list[OverCapacitySlot]
    over_daily_cap: list[OverDailyCap]
    command_id: str | None = None
    changed_at: Timestamp | None = None
    daily_caps: list[DayCap] = Field(
        default_factory=list, description="The cap in force after the change on each day it covers: a plan, every "
        "day from the branch's today to the end of its booking window; an override, its date. Optional: records "
        "written before it was added carry none.")


COMMAND_TYPES = (BookSlot, CancelBooking, CheckIn, SetBranchPlan, SetDateOverride)
EVENT_TYPES = (SlotBooked, BookingRejected, BookingCancelled, CheckedIn, NoShow, BranchPlanChanged, CommandRejected)
