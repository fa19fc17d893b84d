"""Kafka handlers and timers of the appointments service: wire message -> domain command -> one service call.
No rules here."""

from collections.abc import Mapping
from typing import Any

from services.appointments import domain
from services.appointments.repository import NO_SHOW
from services.appointments.service import AppointmentService
from shared import topics
from shared.contracts import appointments as contract
from shared.messaging import MessageContext, Routes
from shared.timers import TimerHandler


def plan_of(msg: contract.SetBranchPlan) -> domain.Plan:
    return domain.Plan(msg.branch_id, msg.name, msg.address, msg.timezone, msg.slot_minutes, msg.daily_cap,
                       {day.value: windows_of(ws) for day, ws in msg.weekly.items()}, msg.booking_window_days)


def windows_of(windows: list[contract.Window]) -> tuple[domain.Window, ...]:
    return tuple(domain.Window(w.start, w.end, w.capacity_per_slot) for w in windows)


async def handle_set_branch_plan(ctx: MessageContext, msg: contract.SetBranchPlan) -> None:
    await AppointmentService(ctx).set_plan(domain.SetBranchPlan(msg.command_id, plan_of(msg)))


async def handle_set_date_override(ctx: MessageContext, msg: contract.SetDateOverride) -> None:
    override = domain.Override(msg.closed, windows_of(msg.windows) if msg.windows is not None else None,
                               msg.daily_cap)
    await AppointmentService(ctx).set_override(domain.SetDateOverride(msg.command_id, msg.branch_id, msg.date,
                                                                      override))


async def handle_book_slot(ctx: MessageContext, msg: contract.BookSlot) -> None:
    await AppointmentService(ctx).book(domain.BookSlot(
        msg.command_id, msg.customer_id, msg.branch_id, msg.date, msg.start_time, msg.service_type.value,
        msg.request_id, msg.note))


async def handle_cancel_booking(ctx: MessageContext, msg: contract.CancelBooking) -> None:
    await AppointmentService(ctx).cancel(domain.CancelBooking(msg.command_id, msg.booking_id, msg.customer_id))


async def handle_check_in(ctx: MessageContext, msg: contract.CheckIn) -> None:
    await AppointmentService(ctx).check_in(domain.CheckIn(msg.command_id, msg.branch_id, msg.booking_code, msg.at,
                                                          msg.customer_id))


async def fire_no_show(ctx: MessageContext, booking_id: str, _payload: Mapping[str, Any]) -> None:
    await AppointmentService(ctx).no_show(booking_id)


ROUTES: Routes = {topics.APPOINTMENTS_COMMANDS: {
    contract.BookSlot: handle_book_slot,
    contract.CancelBooking: handle_cancel_booking,
    contract.CheckIn: handle_check_in,
    contract.SetBranchPlan: handle_set_branch_plan,
    contract.SetDateOverride: handle_set_date_override,
}}
TIMERS: Mapping[str, TimerHandler] = {NO_SHOW: fire_no_show}
