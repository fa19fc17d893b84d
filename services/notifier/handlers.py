"""Kafka handlers and timers of the notifier: which event becomes which message for whom. No rules here."""

from collections.abc import Callable, Mapping
from typing import Any

from services.notifier.domain import ends_request, loan_tail, money, reason_text
from services.notifier.service import REMINDER, Notifier, apply_snapshot
from services.notifier.settings import Settings
from shared import topics
from shared.contracts import CommandRejected
from shared.contracts import appointments as appt
from shared.contracts import confirmation as conf
from shared.contracts import loans as loan_contract
from shared.contracts import requests as req
from shared.messaging import Handler, MessageContext
from shared.timers import TimerHandler


async def handle_loan_snapshot(ctx: MessageContext, s: loan_contract.LoanSnapshot) -> None:
    await apply_snapshot(ctx, s)


def build_handlers(settings: Settings) -> Mapping[str, Mapping[str, Handler]]:
    def on(action: Callable[[Notifier, Any], Any]) -> Handler:
        async def handle(ctx: MessageContext, event: Any) -> None:
            await action(Notifier(ctx, settings), event)

        return handle

    def to_applicant(template: str, **variables: Callable[[Any], Any]) -> Handler:
        return on(lambda n, e: n.customer(customer_id=e.applicant_customer_id, loan_id=e.loan_id, template=template,
                                          **{k: f(e) for k, f in variables.items()}))

    async def approved(n: Notifier, e: req.RequestApproved) -> None:
        if e.request_type is req.RequestType.EARLY_REPAYMENT:
            await n.customer(customer_id=e.applicant_customer_id, loan_id=e.loan_id, template="repayment_approved",
                             amount=money(e.amount or 0), requested_date=e.requested_date)
        else:
            await n.customer(customer_id=e.applicant_customer_id, loan_id=e.loan_id, template="request_approved",
                             new_debit_day=e.new_debit_day, new_due_date=e.new_due_date)

    async def rejected(n: Notifier, e: req.RequestRejected) -> None:
        if not ends_request(e.command_type):  # a 1.0 producer's refused WithdrawRequest: a refused command
            await n.refused_command(command_type=e.command_type, customer_id=e.applicant_customer_id,
                                    reason_code=e.reason_code, reason=e.reason)
            return
        await n.customer(customer_id=e.applicant_customer_id, loan_id=e.loan_id, template="request_rejected",
                         reason=lambda language: reason_text(e.reason_code, language, e.reason))

    async def booked(n: Notifier, e: appt.SlotBooked) -> None:
        await n.customer(customer_id=e.customer_id, loan_id=None, template="booking_confirmed", code=e.booking_code,
                         date=e.date, time=e.start_time, branch_name=e.branch_name or e.branch_id,
                         branch_address=e.branch_address or "")
        await n.schedule_reminder(e)

    async def command_refused(n: Notifier, e: CommandRejected) -> None:
        await n.refused_command(command_type=e.command_type, customer_id=e.customer_id, reason_code=e.reason_code,
                                reason=e.reason)

    async def booking_refused(n: Notifier, e: appt.BookingRejected) -> None:
        await n.customer(customer_id=e.customer_id, loan_id=None, template="booking_rejected", date=e.date,
                         time=e.start_time, reason=lambda language: reason_text(e.reason_code, language, e.reason))

    async def cancelled(n: Notifier, e: appt.BookingCancelled) -> None:
        await n.cancel_reminder(e.booking_id)
        if e.date is not None and e.start_time is not None:
            await n.customer(customer_id=e.customer_id, loan_id=None, template="booking_cancelled", date=e.date,
                             time=e.start_time)

    async def call_requested(n: Notifier, e: conf.ConfirmationCallRequested) -> None:
        if e.deadline_near:
            await n.staff("staff_deadline_near", urgent=True, task_id=e.task_id, loan_tail=loan_tail(e.loan_id),
                          due_by=e.due_by)
        elif e.attempt == 1:
            await n.staff("staff_call_task", urgent=False, task_id=e.task_id, loan_tail=loan_tail(e.loan_id),
                          due_by=e.due_by)

    return {
        topics.LOANS_SNAPSHOTS: {"LoanSnapshot": handle_loan_snapshot},
        topics.REQUESTS_EVENTS: {
            "RequestSubmitted": to_applicant("request_received"),
            "RequestApproved": on(approved),
            "RequestRejected": on(rejected),
            "RequestWithdrawn": to_applicant("request_withdrawn"),
            "RequestExpired": to_applicant("request_expired", deadline=lambda e: e.deadline or ""),
            "RequestCompleted": to_applicant("request_completed"),
            "CommandRejected": on(command_refused),
        },
        topics.APPOINTMENTS_EVENTS: {
            "SlotBooked": on(booked),
            "BookingRejected": on(booking_refused),
            "BookingCancelled": on(cancelled),
            "NoShow": on(lambda n, e: n.customer(customer_id=e.customer_id, loan_id=None, template="booking_no_show",
                                                 date=e.date, time=e.start_time)),
            "CheckedIn": on(lambda n, e: n.customer(customer_id=e.customer_id, loan_id=None, template="checked_in",
                                                    ticket=e.ticket_number)),
        },
        topics.CONFIRMATION_EVENTS: {"ConfirmationCallRequested": on(call_requested)},
    }


def build_timers(settings: Settings) -> Mapping[str, TimerHandler]:
    async def remind(ctx: MessageContext, booking_id: str, payload: Mapping[str, Any]) -> None:
        await Notifier(ctx, settings).remind(booking_id, payload)

    return {REMINDER: remind}
