"""Kafka handlers and timers of the appointments service: translate, call the service. No rules here."""

from collections.abc import Callable, Mapping
from typing import Any

from services.appointments.service import NO_SHOW, AppointmentService
from services.appointments.settings import Settings
from shared import topics
from shared.messaging import Handler, MessageContext
from shared.timers import TimerHandler


def build_handlers(settings: Settings) -> Mapping[str, Mapping[str, Handler]]:
    def using(method: Callable[[AppointmentService, Any], Any]) -> Handler:
        async def handle(ctx: MessageContext, data: Any) -> None:
            await method(AppointmentService(ctx, settings), data)

        return handle

    return {topics.APPOINTMENTS_COMMANDS: {
        "BookSlot": using(AppointmentService.book),
        "CancelBooking": using(AppointmentService.cancel),
        "CheckIn": using(AppointmentService.check_in),
        "SetBranchPlan": using(AppointmentService.set_plan),
        "SetDateOverride": using(AppointmentService.set_override),
    }}


def build_timers(settings: Settings) -> Mapping[str, TimerHandler]:
    async def no_show(ctx: MessageContext, booking_id: str, _payload: Mapping[str, Any]) -> None:
        await AppointmentService(ctx, settings).no_show(booking_id)

    return {NO_SHOW: no_show}
