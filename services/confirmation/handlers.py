"""Kafka handlers and timers of the confirmation service: translate, call the service. No rules here."""

from collections.abc import Callable, Mapping
from typing import Any

from services.confirmation.service import ALERT, ConfirmationService
from services.confirmation.settings import Settings
from shared import topics
from shared.messaging import Handler, MessageContext
from shared.timers import TimerHandler


def build_handlers(settings: Settings) -> Mapping[str, Mapping[str, Handler]]:
    def using(method: Callable[[ConfirmationService, Any], Any]) -> Handler:
        async def handle(ctx: MessageContext, data: Any) -> None:
            await method(ConfirmationService(ctx, settings), data)

        return handle

    async def ended(ctx: MessageContext, e: Any) -> None:
        if getattr(e, "request_id", None):  # a refusal before creation has no request
            await ConfirmationService(ctx, settings).request_ended(e.request_id)

    return {
        topics.LOANS_SNAPSHOTS: {"LoanSnapshot": using(ConfirmationService.loan_snapshot)},
        topics.REQUESTS_EVENTS: {
            "RequestSubmitted": using(ConfirmationService.request_submitted),
            "RequestRejected": ended,
            "RequestWithdrawn": ended,
            "RequestExpired": ended,
        },
        topics.CONFIRMATION_COMMANDS: {
            "RecordCallOutcome": using(ConfirmationService.call_outcome),
            "RecordPaperSignature": using(ConfirmationService.paper_signature),
            "RecordRemoteSigning": using(ConfirmationService.remote_signing),
        },
    }


def build_timers(settings: Settings) -> Mapping[str, TimerHandler]:
    async def alert(ctx: MessageContext, task_id: str, _payload: Mapping[str, Any]) -> None:
        await ConfirmationService(ctx, settings).deadline_alert(task_id)

    return {ALERT: alert}
