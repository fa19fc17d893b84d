"""Kafka handlers of the requests service: translate contract messages, call the rules, store, emit. No rules here."""

import uuid
from collections.abc import Callable, Mapping

import structlog

from services.requests import domain
from services.requests.repository import LoanRepository, RequestRepository
from shared import topics
from shared.contracts import loans as loan_contract
from shared.contracts import requests as contract
from shared.messaging import Handler, MessageContext

log = structlog.get_logger("postloan.requests")
# Request ids derive from the command id, so a command replayed under a new envelope id finds its request.
_REQUEST_NS = uuid.UUID("1b0e5e1c-7f7e-4d3a-9a55-4f1c2a0d9e01")

PolicySource = Callable[[], domain.Policy]


def request_id_for(command_id: str) -> str:
    return f"R-{uuid.uuid5(_REQUEST_NS, command_id)}"


def loan_from_snapshot(s: loan_contract.LoanSnapshot) -> domain.Loan:
    primary = next((b.customer_id for b in s.borrowers if b.role is loan_contract.BorrowerRole.PRIMARY), "")
    co = tuple(b.customer_id for b in s.borrowers if b.role is loan_contract.BorrowerRole.CO_BORROWER)
    return domain.Loan(
        loan_id=s.loan_id, status=s.status.value, branch_id=s.branch_id, debit_day=s.debit_day,
        next_due_date=s.next_due_date, outstanding_principal=s.outstanding_principal,
        primary_customer_id=primary, co_borrower_ids=co, as_of=s.as_of,
    )


def debit_day_change_of(cmd: contract.SubmitDebitDayChange) -> domain.DebitDayChange:
    v = cmd.identity_verification
    return domain.DebitDayChange(
        command_id=cmd.command_id, loan_id=cmd.loan_id, applicant_customer_id=cmd.applicant_customer_id,
        channel=cmd.channel.value, new_debit_day=cmd.new_debit_day, submitted_at=cmd.submitted_at,
        staff_id=cmd.staff_id,
        verification=domain.Verification(v.method.value, v.recording_id) if v is not None else None,
    )


def build_handlers(policy: PolicySource) -> Mapping[str, Mapping[str, Handler]]:
    async def handle_loan_snapshot(ctx: MessageContext, snapshot: loan_contract.LoanSnapshot) -> None:
        applied = await LoanRepository(ctx.session).upsert(loan_from_snapshot(snapshot))
        log.info("loan_snapshot_applied" if applied else "loan_snapshot_stale", loan_id=snapshot.loan_id)

    async def handle_submit_debit_day_change(ctx: MessageContext, cmd: contract.SubmitDebitDayChange) -> None:
        active = policy()
        loans, requests = LoanRepository(ctx.session), RequestRepository(ctx.session)
        request_id = request_id_for(cmd.command_id)
        if await requests.get(request_id) is not None:
            log.info("command_replayed", command_id=cmd.command_id, request_id=request_id)
            return
        change = debit_day_change_of(cmd)
        decision = domain.decide_debit_day_change(
            await loans.get(cmd.loan_id), change, active, has_open_request=await requests.has_open(cmd.loan_id)
        )
        if isinstance(decision, domain.Rejection):
            reject(ctx, cmd, decision, active)
            return
        stored = await requests.add(
            request_id=request_id, command_id=cmd.command_id, loan_id=cmd.loan_id,
            request_type=contract.RequestType.DEBIT_DAY_CHANGE.value, state=decision.state.value,
            applicant_customer_id=cmd.applicant_customer_id, channel=cmd.channel.value, staff_id=cmd.staff_id,
            policy_version=active.version, deadline=decision.current_due_date,
            details={"current_debit_day": decision.current_debit_day, "new_debit_day": decision.new_debit_day,
                     "new_due_date": decision.new_due_date.isoformat()},
            created_at=ctx.now, updated_at=ctx.now,
        )
        if not stored:  # a concurrent request for the same loan won the race
            reject(ctx, cmd, domain.Rejection(domain.ReasonCode.OPEN_REQUEST_EXISTS,
                                              "This loan already has a request in progress.",
                                              {"loan_id": cmd.loan_id}), active)
            return
        ctx.emit(topics.REQUESTS_EVENTS, submitted_event(request_id, cmd, decision, active, ctx), subject=cmd.loan_id)
        log.info("request_submitted", request_id=request_id, loan_id=cmd.loan_id, state=decision.state.value)
        if decision.approved_at_once:
            ctx.emit(topics.REQUESTS_EVENTS, contract.RequestApproved(
                request_id=request_id, loan_id=cmd.loan_id, request_type=contract.RequestType.DEBIT_DAY_CHANGE,
                approved_at=ctx.now, policy_version=active.version, applicant_customer_id=cmd.applicant_customer_id,
                new_debit_day=decision.new_debit_day, new_due_date=decision.new_due_date,
            ), subject=cmd.loan_id)
            log.info("request_approved", request_id=request_id, loan_id=cmd.loan_id)

    return {
        topics.LOANS_SNAPSHOTS: {"LoanSnapshot": handle_loan_snapshot},
        topics.REQUESTS_COMMANDS: {"SubmitDebitDayChange": handle_submit_debit_day_change},
    }


def submitted_event(
    request_id: str, cmd: contract.SubmitDebitDayChange, d: domain.DebitDayAccepted, policy: domain.Policy,
    ctx: MessageContext,
) -> contract.RequestSubmitted:
    return contract.RequestSubmitted(
        request_id=request_id, command_id=cmd.command_id, loan_id=cmd.loan_id,
        request_type=contract.RequestType.DEBIT_DAY_CHANGE, applicant_customer_id=cmd.applicant_customer_id,
        channel=cmd.channel, co_borrowers=[contract.CoBorrowerRef(customer_id=c) for c in d.co_borrower_ids],
        deadline=d.current_due_date, paper_documents_required=d.paper_documents_required,
        policy_version=policy.version, submitted_at=cmd.submitted_at, staff_id=cmd.staff_id,
        current_debit_day=d.current_debit_day, new_debit_day=d.new_debit_day,
        current_due_date=d.current_due_date, new_due_date=d.new_due_date, next_due_dates=list(d.next_due_dates),
    )


def reject(ctx: MessageContext, cmd: contract.SubmitDebitDayChange, r: domain.Rejection, policy: domain.Policy) -> None:
    ctx.emit(topics.REQUESTS_EVENTS, contract.RequestRejected(
        command_id=cmd.command_id, loan_id=cmd.loan_id, reason_code=r.code.value, reason=r.reason,
        policy_version=policy.version, rejected_at=ctx.now, applicant_customer_id=cmd.applicant_customer_id,
        facts=r.facts,
    ), subject=cmd.loan_id)
    log.info("request_rejected", loan_id=cmd.loan_id, command_id=cmd.command_id, reason_code=r.code.value)
