"""Kafka handlers of the console: each event is merged into the read models (services.console.readmodel) and
its area announced (services.console.live). No rules here: the owning services decided; the console records."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import text, update

from services.console.live import Area, announce
from services.console.merge import Rule, merge, newest
from services.console.readmodel import (
    BookingView,
    BranchDayCap,
    BranchView,
    PaperView,
    PolicyVersion,
    RequestView,
    TaskView,
)
from shared import topics
from shared.contracts import appointments as appt
from shared.contracts import confirmation as conf
from shared.contracts import requests as req
from shared.messaging import MessageContext, Routes

# Channels where staff submit for the customer (CONTRACT.md: they carry an identity verification): such a request,
# like any with a `staff_id`, owes the applicant's paper signature later (SPEC §5, as services/confirmation owes it).
STAFF_CHANNELS = frozenset({"HOTLINE", "ACCOUNT_MANAGER"})
ENDING = ("REJECTED", "WITHDRAWN", "EXPIRED")  # a request ended so: its open calls and owed paper are dropped
SUBMITTED, APPROVED, ENDED = 1, 2, 3  # ranks of a request's states: a state only moves to a higher rank
# A request keeps its earliest submission time and the policy it was first decided under.
REQUEST_RULES: dict[str, Rule] = {"submitted_at": "least", "policy_version": "first"}


def _when(ctx: MessageContext, *candidates: datetime | None) -> datetime:
    """The first time the event states, else the envelope's, else the console's clock."""
    for at in (*candidates, ctx.message.time if ctx.message else None):
        if at is not None:
            return at
    return ctx.now


async def _run(ctx: MessageContext, statement: Any, params: dict[str, Any] | None = None) -> None:
    await ctx.uow.execute(statement, params)


# --- requests.events ----------------------------------------------------------------------------------------------


async def handle_request_submitted(ctx: MessageContext, msg: req.RequestSubmitted) -> None:
    at = _when(ctx, msg.received_at, msg.submitted_at)
    staff = msg.staff_id is not None or msg.channel.value in STAFF_CHANNELS
    await _run(ctx, merge(RequestView, {
        "request_id": msg.request_id, "loan_id": msg.loan_id, "branch_id": msg.branch_id,
        "request_type": msg.request_type.value, "channel": msg.channel.value, "state": "SUBMITTED",
        "rank": SUBMITTED, "staff_submitted": staff, "submitted_at": at, "deadline": msg.deadline,
        "policy_version": msg.policy_version}, rules=REQUEST_RULES))
    areas = [Area.REQUESTS]
    if staff:
        await _owe_paper(ctx, msg.request_id, msg.applicant_customer_id, msg.loan_id, "STAFF_SUBMISSION", at)
        areas.append(Area.PAPER)
    await _file_paper(ctx, msg.request_id)
    await _drop_if_ended(ctx, msg.request_id)
    await announce(ctx.uow, *areas)


async def handle_request_approved(ctx: MessageContext, msg: req.RequestApproved) -> None:
    await _request_moved(ctx, msg.request_id, "APPROVED", APPROVED, loan_id=msg.loan_id,
                         request_type=msg.request_type.value, policy_version=msg.policy_version,
                         approved_at=msg.approved_at, decided_at=msg.approved_at)


async def handle_request_rejected(ctx: MessageContext, msg: req.RequestRejected) -> None:
    at = _when(ctx, msg.rejected_at)
    # Refused before a request existed: still one of the day's submissions, kept under its command's id.
    await _request_moved(ctx, msg.request_id or f"cmd:{msg.command_id}", "REJECTED", ENDED, loan_id=msg.loan_id,
                         reason_code=msg.reason_code, policy_version=msg.policy_version, decided_at=at,
                         ended_at=at, submitted_at=None if msg.request_id else at)


async def handle_request_completed(ctx: MessageContext, msg: req.RequestCompleted) -> None:
    await _request_moved(ctx, msg.request_id, "COMPLETED", ENDED, loan_id=msg.loan_id, ended_at=msg.completed_at)


async def handle_request_withdrawn(ctx: MessageContext, msg: req.RequestWithdrawn) -> None:
    await _request_moved(ctx, msg.request_id, "WITHDRAWN", ENDED, loan_id=msg.loan_id, ended_at=msg.withdrawn_at)


async def handle_request_expired(ctx: MessageContext, msg: req.RequestExpired) -> None:
    await _request_moved(ctx, msg.request_id, "EXPIRED", ENDED, loan_id=msg.loan_id, ended_at=msg.expired_at)


async def _request_moved(ctx: MessageContext, request_id: str, state: str, rank: int, **values: Any) -> None:
    row = {"request_id": request_id, "state": state, "rank": rank, **{k: v for k, v in values.items() if v is not None}}
    await _run(ctx, merge(RequestView, row, rules=REQUEST_RULES))
    areas = [Area.REQUESTS]
    if state in ENDING:
        await _drop_if_ended(ctx, request_id)
        areas += [Area.CONFIRMATION, Area.PAPER]
    await announce(ctx.uow, *areas)


async def handle_policy_changed(ctx: MessageContext, msg: req.PolicyChanged) -> None:
    await _run(ctx, merge(PolicyVersion, {
        "version": msg.version, "previous_version": msg.previous_version, "changed_by": msg.changed_by,
        "changed_at": msg.changed_at, "document_sha256": msg.document_sha256, "document": msg.document},
        rules=dict.fromkeys(("previous_version", "changed_by", "changed_at", "document_sha256", "document"),
                            "first")))  # a version is put in force once: its record never changes
    await announce(ctx.uow, Area.POLICY)


# --- confirmation.events ------------------------------------------------------------------------------------------

# Ranks of a call task's states: open, closed (the console's inference from the request's end), settled (the
# confirmation service's outcome, which beats the inference whichever arrives first).
OPEN, CLOSED, SETTLED = 1, 2, 3
# Ranks of paper's states: owed, cancelled (inferred from the request's end, and only from owed), in transit,
# received (what the confirmation service recorded beats the inference).
OWED, CANCELLED, IN_TRANSIT, RECEIVED = 1, 2, 3, 4


async def handle_call_requested(ctx: MessageContext, msg: conf.ConfirmationCallRequested) -> None:
    await _run(ctx, merge(TaskView, {
        "task_id": msg.task_id, "request_id": msg.request_id, "loan_id": msg.loan_id, "customer_id": msg.customer_id,
        "due_by": msg.due_by, "attempt": msg.attempt, "deadline_near": msg.deadline_near, "state": "OPEN",
        "rank": OPEN}, rules={"attempt": "greatest"}))
    await _drop_if_ended(ctx, msg.request_id)
    await announce(ctx.uow, Area.CONFIRMATION)


async def handle_co_borrower_confirmed(ctx: MessageContext, msg: conf.CoBorrowerConfirmed) -> None:
    await _task_settled(ctx, msg.task_id, msg.request_id, msg.loan_id, msg.customer_id, "CONFIRMED", msg.confirmed_at)
    if msg.paper_signature_owed:
        await _owe_paper(ctx, msg.request_id, msg.customer_id, msg.loan_id, "PHONE_CONFIRMATION", msg.confirmed_at)
        await _file_paper(ctx, msg.request_id)
        await _drop_if_ended(ctx, msg.request_id)
        await announce(ctx.uow, Area.PAPER)


async def handle_co_borrower_declined(ctx: MessageContext, msg: conf.CoBorrowerDeclined) -> None:
    await _task_settled(ctx, msg.task_id, msg.request_id, msg.loan_id, msg.customer_id, "DECLINED", msg.declined_at)


async def handle_co_borrower_unreachable(ctx: MessageContext, msg: conf.CoBorrowerUnreachable) -> None:
    await _task_settled(ctx, msg.task_id, msg.request_id, msg.loan_id, msg.customer_id, "UNREACHABLE",
                        msg.unreachable_at)


async def _task_settled(ctx: MessageContext, task_id: str, request_id: str, loan_id: str, customer_id: str,
                        state: str, at: datetime) -> None:
    await _run(ctx, merge(TaskView, {"task_id": task_id, "request_id": request_id, "loan_id": loan_id,
                                     "customer_id": customer_id, "state": state, "rank": SETTLED, "closed_at": at},
                          rules={"closed_at": "first"}))
    await announce(ctx.uow, Area.CONFIRMATION)


async def handle_paper_received(ctx: MessageContext, msg: conf.PaperSignatureReceived) -> None:
    await _run(ctx, merge(PaperView, {
        "request_id": msg.request_id, "customer_id": msg.customer_id, "loan_id": msg.loan_id,
        "branch_id": msg.branch_id, "state": "RECEIVED", "rank": RECEIVED, "received_at": _when(ctx, msg.received_at)}))
    await announce(ctx.uow, Area.PAPER)


async def handle_documents_in_transit(ctx: MessageContext, msg: conf.DocumentsInTransit) -> None:
    await _run(ctx, merge(PaperView, {
        "request_id": msg.request_id, "customer_id": msg.customer_id, "loan_id": msg.loan_id, "state": "IN_TRANSIT",
        "rank": IN_TRANSIT, "courier": msg.courier, "tracking_number": msg.tracking_number}))
    await announce(ctx.uow, Area.PAPER)


async def _owe_paper(ctx: MessageContext, request_id: str, customer_id: str, loan_id: str, reason: str,
                     since: datetime) -> None:
    await _run(ctx, merge(PaperView, {"request_id": request_id, "customer_id": customer_id, "loan_id": loan_id,
                                      "reason": reason, "owed_since": since, "state": "OWED", "rank": OWED},
                          rules={"owed_since": "least", "reason": "first"}))


_FILE_PAPER = text(
    "UPDATE console.paper p SET branch_id = r.branch_id FROM console.requests r "
    "WHERE p.request_id = :id AND r.request_id = :id AND p.branch_id IS NULL AND r.branch_id IS NOT NULL")


async def _file_paper(ctx: MessageContext, request_id: str) -> None:
    """Paper is filed under the request's branch (SPEC §4), which only the submission carries: whichever of the
    two arrives second completes the row."""
    await _run(ctx, _FILE_PAPER, {"id": request_id})


async def _drop_if_ended(ctx: MessageContext, request_id: str) -> None:
    """A request withdrawn, rejected or expired drops its open calls and owed paper (as services/confirmation
    does), also when the call or the debt arrives after the end."""
    ended = RequestView.c.state.in_(ENDING)
    for table, state, to, rank in ((TaskView, "OPEN", "CLOSED", CLOSED), (PaperView, "OWED", "CANCELLED", CANCELLED)):
        await _run(ctx, update(table).where(
            table.c.request_id == request_id, table.c.state == state,
            RequestView.c.request_id == table.c.request_id, ended).values(state=to, rank=rank))


# --- appointments.events ------------------------------------------------------------------------------------------

BOOKED, FINISHED = 1, 2  # ranks of a booking's states: booked, then cancelled / checked in / no-show


async def handle_slot_booked(ctx: MessageContext, msg: appt.SlotBooked) -> None:
    # Not the booking code: it is the customer's check-in credential.
    await _booking(ctx, msg.booking_id, "BOOKED", BOOKED, branch_id=msg.branch_id, date=msg.date,
                   start_time=msg.start_time, end_time=msg.end_time, customer_id=msg.customer_id,
                   service_type=msg.service_type.value, request_id=msg.request_id)


async def handle_booking_cancelled(ctx: MessageContext, msg: appt.BookingCancelled) -> None:
    await _booking(ctx, msg.booking_id, "CANCELLED", FINISHED, branch_id=msg.branch_id, customer_id=msg.customer_id)


async def handle_checked_in(ctx: MessageContext, msg: appt.CheckedIn) -> None:
    await _booking(ctx, msg.booking_id, "CHECKED_IN", FINISHED, branch_id=msg.branch_id,
                   ticket_number=msg.ticket_number)


async def handle_no_show(ctx: MessageContext, msg: appt.NoShow) -> None:
    await _booking(ctx, msg.booking_id, "NO_SHOW", FINISHED, branch_id=msg.branch_id, customer_id=msg.customer_id)


async def _booking(ctx: MessageContext, booking_id: str, state: str, rank: int, **values: Any) -> None:
    row = {"booking_id": booking_id, "state": state, "rank": rank, **{k: v for k, v in values.items() if v is not None}}
    await _run(ctx, merge(BookingView, row))
    await announce(ctx.uow, Area.APPOINTMENTS)


async def handle_branch_plan_changed(ctx: MessageContext, msg: appt.BranchPlanChanged) -> None:
    """The newest change of a branch's plan: the slots and days it left over capacity, and the daily cap of each
    day it names, newest `changed_at` first per day (one statement for all of them)."""
    at = _when(ctx, msg.changed_at)
    await _run(ctx, newest(BranchView, {
        "branch_id": msg.branch_id, "changed_at": at,
        "over_capacity": [s.model_dump(mode="json") for s in msg.over_capacity],
        "over_daily_cap": [d.model_dump(mode="json") for d in msg.over_daily_cap]}, "changed_at", ["branch_id"]))
    if caps := day_caps(msg):
        await _run(ctx, newest(BranchDayCap, [{"branch_id": msg.branch_id, "date": on, "daily_cap": cap,
                                               "closed": closed, "changed_at": at}
                                              for on, (cap, closed) in sorted(caps.items())],
                               "changed_at", ["branch_id", "date"]))
    await announce(ctx.uow, Area.APPOINTMENTS)


def day_caps(msg: appt.BranchPlanChanged) -> dict[date, tuple[int, bool]]:
    """(cap, closed) per day the event names: `daily_caps`, and for a record written before it the days
    `over_daily_cap` reports (a day capped at 0 takes no booking: closed). Distinct days, for one statement."""
    caps = {d.date: (d.daily_cap, d.daily_cap == 0) for d in msg.over_daily_cap}
    return caps | {d.date: (d.daily_cap, d.closed) for d in msg.daily_caps}


ROUTES: Routes = {
    topics.REQUESTS_EVENTS: {
        req.RequestSubmitted: handle_request_submitted, req.RequestApproved: handle_request_approved,
        req.RequestRejected: handle_request_rejected, req.RequestCompleted: handle_request_completed,
        req.RequestWithdrawn: handle_request_withdrawn, req.RequestExpired: handle_request_expired,
        req.PolicyChanged: handle_policy_changed,
    },
    topics.CONFIRMATION_EVENTS: {
        conf.ConfirmationCallRequested: handle_call_requested, conf.CoBorrowerConfirmed: handle_co_borrower_confirmed,
        conf.CoBorrowerDeclined: handle_co_borrower_declined,
        conf.CoBorrowerUnreachable: handle_co_borrower_unreachable,
        conf.PaperSignatureReceived: handle_paper_received, conf.DocumentsInTransit: handle_documents_in_transit,
    },
    topics.APPOINTMENTS_EVENTS: {
        appt.SlotBooked: handle_slot_booked, appt.BookingCancelled: handle_booking_cancelled,
        appt.CheckedIn: handle_checked_in, appt.NoShow: handle_no_show,
        appt.BranchPlanChanged: handle_branch_plan_changed,
    },
}
