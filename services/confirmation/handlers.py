"""Kafka handlers and timers of the confirmation service: the wire message becomes the domain's, and ONE service
method is called with it. No rules here."""

from collections.abc import Mapping
from typing import Any

from services.confirmation.domain import (
    CallReport,
    Contact,
    Loan,
    LoanSnapshot,
    PaperReceipt,
    RemoteSigning,
    Submission,
)
from services.confirmation.repository import ALERT
from services.confirmation.service import ConfirmationService
from shared import topics
from shared.contracts import confirmation as contract
from shared.contracts import loans
from shared.contracts import requests as req
from shared.messaging import MessageContext, Routes
from shared.timers import TimerHandler


async def handle_loan_snapshot(ctx: MessageContext, msg: loans.LoanSnapshot) -> None:
    contacts = tuple(Contact(b.customer_id, b.phone, msg.as_of, b.name) for b in msg.borrowers)
    await ConfirmationService(ctx).loan_snapshot(LoanSnapshot(Loan(msg.loan_id, msg.branch_id, msg.as_of), contacts))


async def handle_request_submitted(ctx: MessageContext, msg: req.RequestSubmitted) -> None:
    await ConfirmationService(ctx).request_submitted(Submission(
        request_id=msg.request_id, loan_id=msg.loan_id, applicant_customer_id=msg.applicant_customer_id,
        co_borrowers=tuple(co.customer_id for co in msg.co_borrowers), deadline=msg.deadline,
        branch_id=msg.branch_id, confirmation_attempts=msg.confirmation_attempts, channel=msg.channel.value,
        staff_id=msg.staff_id, submitted_at=msg.submitted_at))


async def handle_request_ended(ctx: MessageContext,
                               msg: req.RequestRejected | req.RequestWithdrawn | req.RequestExpired) -> None:
    if msg.request_id:  # a refusal before creation has no request
        await ConfirmationService(ctx).request_ended(msg.request_id)


async def handle_call_outcome(ctx: MessageContext, msg: contract.RecordCallOutcome) -> None:
    await ConfirmationService(ctx).record_outcome(CallReport(
        command_id=msg.command_id, task_id=msg.task_id, agent_id=msg.agent_id, outcome=msg.outcome.value,
        recording_id=msg.recording_id, called_at=msg.called_at, note=msg.note))


async def handle_paper_signature(ctx: MessageContext, msg: contract.RecordPaperSignature) -> None:
    await ConfirmationService(ctx).receive_paper(PaperReceipt(
        request_id=msg.request_id, customer_id=msg.customer_id, received_at=msg.received_at,
        received_by=msg.received_by, branch_id=msg.branch_id))


async def handle_remote_signing(ctx: MessageContext, msg: contract.RecordRemoteSigning) -> None:
    await ConfirmationService(ctx).send_remote_signing(RemoteSigning(
        request_id=msg.request_id, customer_id=msg.customer_id, signing_branch_id=msg.signing_branch_id,
        courier=msg.courier, tracking_number=msg.tracking_number, signed_at=msg.signed_at))


async def fire_deadline_alert(ctx: MessageContext, task_id: str, _payload: Mapping[str, Any]) -> None:
    await ConfirmationService(ctx).deadline_alert(task_id)


ROUTES: Routes = {
    topics.LOANS_SNAPSHOTS: {loans.LoanSnapshot: handle_loan_snapshot},
    topics.REQUESTS_EVENTS: {
        req.RequestSubmitted: handle_request_submitted,
        req.RequestRejected: handle_request_ended,
        req.RequestWithdrawn: handle_request_ended,
        req.RequestExpired: handle_request_ended,
    },
    topics.CONFIRMATION_COMMANDS: {
        contract.RecordCallOutcome: handle_call_outcome,
        contract.RecordPaperSignature: handle_paper_signature,
        contract.RecordRemoteSigning: handle_remote_signing,
    },
}
TIMERS: Mapping[str, TimerHandler] = {ALERT: fire_deadline_alert}
