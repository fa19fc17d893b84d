"""Kafka handlers and timers of the requests service: translate contract messages, call the service. No rules."""

from collections.abc import Mapping
from functools import partial
from typing import Any

from services.requests import domain
from services.requests.service import EXPIRY, RequestService
from shared import topics
from shared.contracts import confirmation as conf
from shared.contracts import loans as loan_contract
from shared.contracts import requests as contract
from shared.messaging import Handler, MessageContext
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
    change = domain.DebitDayChange(cmd.command_id, cmd.loan_id, applicant_of(cmd), cmd.new_debit_day)
    await RequestService(ctx).submit(
        cmd.command_id, cmd.loan_id, change.applicant,
        lambda loan, policy, now, open_id: domain.decide_debit_day_change(loan, change, policy, now=now,
                                                                          open_request_id=open_id),
    )


async def handle_submit_early_repayment(ctx: MessageContext, cmd: contract.SubmitEarlyRepayment) -> None:
    repayment = domain.EarlyRepayment(cmd.command_id, cmd.loan_id, applicant_of(cmd), cmd.repayment_type.value,
                                      cmd.amount, cmd.requested_date)
    await RequestService(ctx).submit(
        cmd.command_id, cmd.loan_id, repayment.applicant,
        lambda loan, policy, now, open_id: domain.decide_early_repayment(loan, repayment, policy, now=now,
                                                                         open_request_id=open_id),
    )


async def handle_withdraw_request(ctx: MessageContext, cmd: contract.WithdrawRequest) -> None:
    await RequestService(ctx).withdraw(cmd.command_id, cmd.request_id, cmd.applicant_customer_id)


async def handle_co_borrower_outcome(outcome: str, ctx: MessageContext, e: Any) -> None:
    await RequestService(ctx).co_borrower_outcome(
        e.request_id, e.customer_id, outcome, agent_id=e.agent_id, recording_id=getattr(e, "recording_id", None))


async def expire_request(ctx: MessageContext, request_id: str, _payload: Mapping[str, Any]) -> None:
    await RequestService(ctx).expire(request_id)


def build_handlers() -> Mapping[str, Mapping[str, Handler]]:
    return {
        topics.LOANS_SNAPSHOTS: {"LoanSnapshot": handle_loan_snapshot},
        topics.REQUESTS_COMMANDS: {
            "SubmitDebitDayChange": handle_submit_debit_day_change,
            "SubmitEarlyRepayment": handle_submit_early_repayment,
            "WithdrawRequest": handle_withdraw_request,
        },
        topics.CONFIRMATION_EVENTS: {
            conf.CoBorrowerConfirmed.type_name(): partial(handle_co_borrower_outcome, "CONFIRMED"),
            conf.CoBorrowerDeclined.type_name(): partial(handle_co_borrower_outcome, "DECLINED"),
            conf.CoBorrowerUnreachable.type_name(): partial(handle_co_borrower_outcome, "UNREACHABLE"),
        },
    }


def build_timers() -> Mapping[str, TimerHandler]:
    return {EXPIRY: expire_request}
