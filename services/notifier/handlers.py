"""Kafka handlers and timers of the notifier: each turns the wire message into the notifier's own news
(services.notifier.domain) and hands it to the service. No rules here."""

from collections.abc import Mapping
from typing import Any

from services.notifier import domain
from services.notifier.domain import Refused, RequestMoved, RequestStep
from services.notifier.repository import REMINDER, reminded_booking
from services.notifier.service import NotifierService
from shared import topics
from shared.contracts import CommandRejected, loans
from shared.contracts import appointments as appt
from shared.contracts import confirmation as conf
from shared.contracts import requests as req
from shared.contracts._base import RequestType
from shared.messaging import MessageContext, Routes
from shared.timers import TimerHandler


async def handle_loan_snapshot(ctx: MessageContext, msg: loans.LoanSnapshot) -> None:
    await NotifierService(ctx).apply_snapshot(domain.LoanBorrowers(msg.loan_id, msg.as_of, tuple(
        domain.Borrower(domain.Recipient(b.customer_id, b.language.value, tuple(c.value for c in b.channels),
                                         b.phone, b.email), b.role.value) for b in msg.borrowers)))


async def handle_request_submitted(ctx: MessageContext, msg: req.RequestSubmitted) -> None:
    await NotifierService(ctx).notify(RequestMoved(RequestStep.RECEIVED, msg.loan_id, msg.applicant_customer_id))


async def handle_request_withdrawn(ctx: MessageContext, msg: req.RequestWithdrawn) -> None:
    await NotifierService(ctx).notify(RequestMoved(RequestStep.WITHDRAWN, msg.loan_id, msg.applicant_customer_id))


async def handle_request_expired(ctx: MessageContext, msg: req.RequestExpired) -> None:
    await NotifierService(ctx).notify(RequestMoved(RequestStep.EXPIRED, msg.loan_id, msg.applicant_customer_id,
                                                   msg.deadline))


async def handle_request_completed(ctx: MessageContext, msg: req.RequestCompleted) -> None:
    await NotifierService(ctx).notify(RequestMoved(RequestStep.COMPLETED, msg.loan_id, msg.applicant_customer_id))


async def handle_request_approved(ctx: MessageContext, msg: req.RequestApproved) -> None:
    await NotifierService(ctx).notify(domain.Approved(
        msg.loan_id, msg.applicant_customer_id, early_repayment=msg.request_type is RequestType.EARLY_REPAYMENT,
        new_debit_day=msg.new_debit_day, new_due_date=msg.new_due_date,
        amount=msg.amount, requested_date=msg.requested_date))


async def handle_request_rejected(ctx: MessageContext, msg: req.RequestRejected) -> None:
    await NotifierService(ctx).notify(domain.RequestRefused(
        msg.loan_id, msg.applicant_customer_id, Refused(msg.reason_code, msg.reason), msg.command_type))


async def handle_command_rejected(ctx: MessageContext, msg: CommandRejected) -> None:
    await NotifierService(ctx).notify(domain.CommandRefused(msg.command_type, msg.customer_id,
                                                            Refused(msg.reason_code, msg.reason)))


async def handle_slot_booked(ctx: MessageContext, msg: appt.SlotBooked) -> None:
    await NotifierService(ctx).booked(domain.Booking(
        msg.booking_id, msg.customer_id, msg.booking_code, msg.date, msg.start_time,
        branch_name=msg.branch_name or msg.branch_id, branch_address=msg.branch_address or "",
        branch_timezone=msg.branch_timezone))


async def handle_booking_rejected(ctx: MessageContext, msg: appt.BookingRejected) -> None:
    await NotifierService(ctx).notify(domain.BookingRefused(msg.customer_id, msg.date, msg.start_time,
                                                            Refused(msg.reason_code.value, msg.reason)))


async def handle_booking_cancelled(ctx: MessageContext, msg: appt.BookingCancelled) -> None:
    await NotifierService(ctx).cancelled(domain.BookingCancelled(msg.booking_id, msg.customer_id, msg.date,
                                                                 msg.start_time))


async def handle_no_show(ctx: MessageContext, msg: appt.NoShow) -> None:
    await NotifierService(ctx).notify(domain.BookingLapsed(msg.customer_id, msg.date, msg.start_time))


async def handle_checked_in(ctx: MessageContext, msg: appt.CheckedIn) -> None:
    await NotifierService(ctx).notify(domain.CheckedIn(msg.customer_id, msg.ticket_number))


async def handle_confirmation_call_requested(ctx: MessageContext, msg: conf.ConfirmationCallRequested) -> None:
    await NotifierService(ctx).notify(domain.CallTaskIssued(msg.task_id, msg.loan_id, msg.due_by, msg.attempt,
                                                            msg.deadline_near))


async def handle_reminder(ctx: MessageContext, booking_id: str, payload: Mapping[str, Any]) -> None:
    await NotifierService(ctx).remind(reminded_booking(booking_id, payload))


ROUTES: Routes = {
    topics.LOANS_SNAPSHOTS: {loans.LoanSnapshot: handle_loan_snapshot},
    topics.REQUESTS_EVENTS: {
        req.RequestSubmitted: handle_request_submitted,
        req.RequestApproved: handle_request_approved,
        req.RequestRejected: handle_request_rejected,
        req.RequestWithdrawn: handle_request_withdrawn,
        req.RequestExpired: handle_request_expired,
        req.RequestCompleted: handle_request_completed,
        CommandRejected: handle_command_rejected,
    },
    topics.APPOINTMENTS_EVENTS: {
        appt.SlotBooked: handle_slot_booked,
        appt.BookingRejected: handle_booking_rejected,
        appt.BookingCancelled: handle_booking_cancelled,
        appt.NoShow: handle_no_show,
        appt.CheckedIn: handle_checked_in,
    },
    topics.CONFIRMATION_EVENTS: {conf.ConfirmationCallRequested: handle_confirmation_call_requested},
}

TIMERS: Mapping[str, TimerHandler] = {REMINDER: handle_reminder}
