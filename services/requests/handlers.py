"""Kafka handlers and timers of the requests service: each turns its contract message into a domain object and
calls one service method with it. No rules here."""

from collections.abc import Mapping
from typing import Any

from services.requests import domain
from services.requests.domain import Outcome
from services.requests.service import EXPIRY, RequestService
from shared import topics
from shared.contracts import confirmation as conf
from shared.contracts import loans as loan_contract
from shared.contracts import requests as contract
from shared.messaging import MessageContext, Routes
from shared.timers import TimerHandler


def loan_from_snapshot(s: loan_contract.LoanSnapshot) -> domain.Loan:
    primary = next((b.customer_id for b in s.borrowers if b.role is loan_contract.BorrowerRole.PRIMARY), "")
    co = tuple(b.customer_id for b in s.borrowers if b.role is loan_contract.BorrowerRole.CO_BORROWER)
    return domain.Loan(
        loan_id=s.loan_id, status=s.status.value, branch_id=s.branch_id, debit_day=s.debit_day,
        next_due_date=s.next_due_date, outstanding_principal=s.outstanding_principal,
        primary_customer_id=primary, co_borrower_ids=co, as_of=s.as_of,
    )


def applicant_of(cmd: contract.SubmitDebitDayChange | contract.SubmitEarlyRepayment) -> domain.Applicant:
    v = cmd.identity_verification
    return domain.Applicant(
        customer_id=cmd.applicant_customer_id, channel=cmd.channel.value, submitted_at=cmd.submitted_at,
        staff_id=cmd.staff_id, verification=domain.Verification(v.method.value, v.recording_id) if v else None,
    )


async def handle_loan_snapshot(ctx: MessageContext, snapshot: loan_contract.LoanSnapshot) -> None:
    await RequestService(ctx).loan_changed(loan_from_snapshot(snapshot))


async def handle_submit_debit_day_change(ctx: MessageContext, cmd: contract.SubmitDebitDayChange) -> None:
    await RequestService(ctx).submit(
        domain.DebitDayChange(cmd.command_id, cmd.loan_id, applicant_of(cmd), cmd.new_debit_day))


async def handle_submit_early_repayment(ctx: MessageContext, cmd: contract.SubmitEarlyRepayment) -> None:
    await RequestService(ctx).submit(domain.EarlyRepayment(
        cmd.command_id, cmd.loan_id, applicant_of(cmd), cmd.repayment_type.value, cmd.amount, cmd.requested_date))


async def handle_withdraw_request(ctx: MessageContext, cmd: contract.WithdrawRequest) -> None:
    await RequestService(ctx).withdraw(domain.Withdrawal(cmd.command_id, cmd.request_id, cmd.applicant_customer_id))


async def handle_co_borrower_confirmed(ctx: MessageContext, e: conf.CoBorrowerConfirmed) -> None:
    await RequestService(ctx).co_borrower_outcome(domain.CoBorrowerOutcome(
        e.request_id, e.customer_id, Outcome.CONFIRMED, agent_id=e.agent_id, recording_id=e.recording_id))


async def handle_co_borrower_declined(ctx: MessageContext, e: conf.CoBorrowerDeclined) -> None:
    await RequestService(ctx).co_borrower_outcome(domain.CoBorrowerOutcome(
        e.request_id, e.customer_id, Outcome.DECLINED, agent_id=e.agent_id, recording_id=e.recording_id))


async def handle_co_borrower_unreachable(ctx: MessageContext, e: conf.CoBorrowerUnreachable) -> None:
    await RequestService(ctx).co_borrower_outcome(domain.CoBorrowerOutcome(
        e.request_id, e.customer_id, Outcome.UNREACHABLE, agent_id=e.agent_id))


async def expire_request(ctx: MessageContext, request_id: str, _payload: Mapping[str, Any]) -> None:
    await RequestService(ctx).expire(request_id)


ROUTES: Routes = {
    topics.LOANS_SNAPSHOTS: {loan_contract.LoanSnapshot: handle_loan_snapshot},
    topics.REQUESTS_COMMANDS: {
        contract.SubmitDebitDayChange: handle_submit_debit_day_change,
        contract.SubmitEarlyRepayment: handle_submit_early_repayment,
        contract.WithdrawRequest: handle_withdraw_request,
    },
    topics.CONFIRMATION_EVENTS: {
        conf.CoBorrowerConfirmed: handle_co_borrower_confirmed,
        conf.CoBorrowerDeclined: handle_co_borrower_declined,
        conf.CoBorrowerUnreachable: handle_co_borrower_unreachable,
    },
}
TIMERS: Mapping[str, TimerHandler] = {EXPIRY: expire_request}
