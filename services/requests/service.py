"""Application logic of the requests service: load, call the rules, store, audit, emit. One call per message.

Everything here runs inside the caller's transaction (a Kafka batch or a timer firing).
"""

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.requests import domain, events
from services.requests.batching import batch_of, request_id_for, write_pending
from services.requests.domain import (
    Accepted,
    Applicant,
    Loan,
    Policy,
    Rejection,
    Request,
    State,
)
from services.requests.repository import (
    LoanRepository,
    PolicyRepository,
    PolicySwitch,
    RequestRepository,
    request_row,
    timers,
    transition_row,
)
from shared import outbox, topics
from shared.contracts import requests as contract
from shared.messaging import MessageContext, Tables
from shared.timers import cancel, schedule

log = structlog.get_logger("postloan.requests")
EXPIRY = "request-expiry"
POLICY_SUBJECT = "policy"  # CONTRACT.md: the key of PolicyChanged on requests.events

# The rule that decides a submission: loan (if known), policy in force, the service's "now", the open request's id.
Decide = Callable[[Loan | None, Policy, datetime, str | None], Accepted | Rejection]


def _json(value: Any) -> Any:
    if isinstance(value, date | Decimal):
        return value.isoformat() if isinstance(value, date) else format(value, "f")
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


class RequestService:
    def __init__(self, ctx: MessageContext) -> None:
        self.ctx = ctx
        self.loans = LoanRepository(ctx.session)
        self.requests = RequestRepository(ctx.session)
        self.policies = PolicyRepository(ctx.session)

    def _emit(self, data: contract.Contract, loan_id: str) -> None:
        self.ctx.emit(topics.REQUESTS_EVENTS, data, subject=loan_id)

    async def submit(self, command_id: str, loan_id: str, applicant: Applicant, decide: Decide) -> None:
        """SPEC §2, §3, §5: a new request, or a refusal that explains itself. Decided on the service's clock."""
        request_id = request_id_for(command_id)
        batch = batch_of(self.ctx.session)
        if (request_id in batch.known_requests) if batch else (await self.requests.raw(request_id) is not None):
            log.info("command_replayed", command_id=command_id, request_id=request_id)
            return
        policy = await self.policies.active()
        if batch is not None and loan_id in batch.loans:
            loan, open_request = batch.loans[loan_id], batch.open_by_loan[loan_id]
        else:
            loan, open_request = await self.loans.get(loan_id), await self.requests.open_for_loan(loan_id)
        decision = decide(loan, policy, self.ctx.now, open_request.request_id if open_request else None)
        if isinstance(decision, Rejection):
            self._refuse(command_id, loan_id, decision, policy.version, applicant.customer_id)
            return
        assert loan is not None
        request = Request(
            request_id=request_id, command_id=command_id, loan_id=loan_id, request_type=decision.request_type,
            state=decision.state, applicant_customer_id=applicant.customer_id, channel=applicant.channel,
            staff_id=applicant.staff_id, policy_version=policy.version, deadline=decision.deadline,
            co_borrower_ids=decision.co_borrower_ids, confirmed_by=frozenset(),
            terms={k: _json(v) for k, v in decision.terms.items()}, branch_id=loan.branch_id,
            confirmation_attempts=policy.confirmation_attempts,
        )
        audit = self._audit_submission(request, applicant)
        if batch is not None:
            batch.new_requests.append(request_row(request, at=self.ctx.now))
            batch.new_transitions.extend(audit)
            batch.known_requests.add(request_id)
            batch.open_by_loan[loan_id] = request
        elif await self.requests.add(request, at=self.ctx.now):
            await self.requests.record(audit)
        else:
            # Another copy stored a request for this loan between our read and our insert.
            current = await self.requests.open_for_loan(loan_id)
            self._refuse(command_id, loan_id, domain.open_request_exists(loan_id, current and current.request_id),
                         policy.version, applicant.customer_id)
            return
        self._emit(events.submitted(request, decision, applicant, received_at=self.ctx.now), loan_id)
        log.debug("request_submitted", request_id=request_id, loan_id=loan_id, state=request.state.value)
        if request.state is State.APPROVED:
            self._emit(events.approved(request, self.ctx.now), loan_id)
        else:
            await schedule(self.ctx.session, timers, EXPIRY, request_id, domain.expires_at(request),
                           {"correlationid": self.ctx.correlationid})

    def _audit_submission(self, request: Request, applicant: Applicant) -> list[dict[str, Any]]:
        v = applicant.verification
        submitted = replace(request, state=State.SUBMITTED)
        event_id = self.ctx.causationid
        return [
            transition_row(submitted, at=self.ctx.now, from_state=None,
                           actor=applicant.staff_id or applicant.customer_id,
                           actor_kind="STAFF" if applicant.staff_id else "CUSTOMER", channel=applicant.channel,
                           recording_id=v.recording_id if v else None, verification_method=v.method if v else None,
                           on_behalf_of=applicant.customer_id if applicant.staff_id else None, event_id=event_id),
            transition_row(request, at=self.ctx.now, from_state=State.SUBMITTED, actor="system",
                           actor_kind="SYSTEM", event_id=event_id),
        ]

    def _refuse(self, command_id: str, loan_id: str, rejection: Rejection, policy_version: str,
                applicant: str | None, *, request_id: str | None = None) -> None:
        self._emit(events.rejected(command_id=command_id, loan_id=loan_id, rejection=rejection,
                                   policy_version=policy_version, at=self.ctx.now, applicant=applicant,
                                   request_id=request_id), loan_id)
        log.debug("request_rejected", loan_id=loan_id, command_id=command_id, reason_code=rejection.code.value)

    async def _move(self, request: Request, to: State, *, actor: str, actor_kind: str,
                    confirmed_by: frozenset[str] | None = None, recording_id: str | None = None,
                    reason_code: str | None = None) -> Request:
        moved = replace(request, state=to, confirmed_by=request.confirmed_by if confirmed_by is None else confirmed_by)
        await self.requests.save_state(moved, at=self.ctx.now)
        await self.requests.record([transition_row(
            moved, at=self.ctx.now, from_state=request.state, actor=actor, actor_kind=actor_kind,
            recording_id=recording_id, reason_code=reason_code, event_id=self.ctx.causationid)])
        if to is not State.AWAITING_CONFIRMATION:
            await cancel(self.ctx.session, timers, EXPIRY, request.request_id)
        if (batch := batch_of(self.ctx.session)) is not None and request.loan_id in batch.open_by_loan:
            batch.open_by_loan[request.loan_id] = moved if moved.is_open else None
        return moved

    async def co_borrower_outcome(self, request_id: str, customer_id: str, outcome: str, *, agent_id: str | None,
                                  recording_id: str | None) -> None:
        """SPEC §2, §4: the service centre's call outcome for one co-borrower (too late: the request expires)."""
        await write_pending(self.ctx.session)
        request = await self.requests.get(request_id, for_update=True)
        if request is None:
            log.warning("outcome_for_unknown_request", request_id=request_id)
            return
        result = domain.apply_co_borrower_outcome(request, customer_id, outcome, now=self.ctx.now,
                                                  recording_id=recording_id)
        actor = {"actor": agent_id or "service-centre", "actor_kind": "AGENT", "recording_id": recording_id}
        match result:
            case domain.Ignore(reason):
                log.info("outcome_ignored", request_id=request_id, reason=reason)
            case domain.Expire():
                log.info("outcome_after_deadline", request_id=request_id, outcome=outcome)
                await self._expire(request)
            case domain.Wait(confirmed):
                await self._move(request, request.state, confirmed_by=confirmed, reason_code=f"CO_BORROWER_{outcome}",
                                 **actor)
            case domain.Approve():
                moved = await self._move(request, State.APPROVED, confirmed_by=request.confirmed_by | {customer_id},
                                         reason_code=f"CO_BORROWER_{outcome}", **actor)
                self._emit(events.approved(moved, self.ctx.now), request.loan_id)
                log.info("request_approved", request_id=request_id, loan_id=request.loan_id)
            case Rejection() as rejection:
                await self._move(request, State.REJECTED, reason_code=rejection.code.value, **actor)
                self._refuse(request.command_id, request.loan_id, rejection, request.policy_version,
                             request.applicant_customer_id, request_id=request_id)

    async def withdraw(self, command_id: str, request_id: str, applicant: str) -> None:
        """Only the applicant withdraws an undecided request; a refused withdrawal changes nothing (SPEC §2)."""
        await write_pending(self.ctx.session)
        request = await self.requests.get(request_id, for_update=True)
        result = domain.decide_withdrawal(request, request_id, applicant)
        if isinstance(result, Rejection):
            version = request.policy_version if request else (await self.policies.active()).version
            self.ctx.reject_command(topics.REQUESTS_EVENTS, result.code.value, result.reason,
                                    facts={**result.facts, "policy_version": version}, request_id=request_id,
                                    customer_id=applicant)
            return
        assert request is not None
        await self._move(request, State.WITHDRAWN, actor=applicant, actor_kind="CUSTOMER")
        self._emit(contract.RequestWithdrawn(request_id=request_id, loan_id=request.loan_id, withdrawn_at=self.ctx.now,
                                             applicant_customer_id=applicant), request.loan_id)
        log.info("request_withdrawn", request_id=request_id)

    async def loan_changed(self, loan: Loan) -> None:
        """Newest snapshot wins; an approved change it shows applied completes its request (SPEC §2)."""
        await write_pending(self.ctx.session)
        if not await self.loans.upsert(loan):
            log.info("loan_snapshot_stale", loan_id=loan.loan_id)
            return
        if (batch := batch_of(self.ctx.session)) is not None and loan.loan_id in batch.loans:
            batch.loans[loan.loan_id] = loan
        request = await self.requests.open_for_loan(loan.loan_id)
        if request is not None and domain.is_completed_by(request, loan):
            await self._move(request, State.COMPLETED, actor="core-banking", actor_kind="CORE_BANKING")
            self._emit(contract.RequestCompleted(
                request_id=request.request_id, loan_id=loan.loan_id, completed_at=self.ctx.now,
                applicant_customer_id=request.applicant_customer_id,
                request_type=contract.RequestType(request.request_type.value)), loan.loan_id)
            log.info("request_completed", request_id=request.request_id)

    async def expire(self, request_id: str) -> None:
        """SPEC §2: still undecided when its deadline day begins -> expired (a durable timer calls this)."""
        request = await self.requests.get(request_id, for_update=True)
        if request is None or not domain.should_expire(request, self.ctx.now):
            return
        await self._expire(request)

    async def _expire(self, request: Request) -> None:
        await self._move(request, State.EXPIRED, actor="system", actor_kind="SYSTEM", reason_code="DEADLINE_PASSED")
        self._emit(contract.RequestExpired(request_id=request.request_id, loan_id=request.loan_id,
                                           expired_at=self.ctx.now, applicant_customer_id=request.applicant_customer_id,
                                           deadline=request.deadline), request.loan_id)
        log.info("request_expired", request_id=request.request_id)


async def switch_policy(session: AsyncSession, tables: Tables, policy: Policy, *, at: datetime, by: str,
                        only_if_absent: bool = False) -> PolicySwitch | None:
    """SPEC §9: puts `policy` in force, keeps the switch in the history and publishes `PolicyChanged` (in the
    same transaction, through the outbox). Returns None when nothing changed."""
    switch = await PolicyRepository(session).put(policy, at=at, by=by, only_if_absent=only_if_absent)
    if switch is not None:
        ctx = MessageContext(session, at, f"postloan/{tables.schema}", correlationid=None, causationid=None)
        ctx.emit(topics.REQUESTS_EVENTS, contract.PolicyChanged(
            version=switch.version, document=switch.document, document_sha256=switch.document_sha256,
            previous_version=switch.previous_version, changed_by=switch.changed_by, changed_at=switch.changed_at,
        ), subject=POLICY_SUBJECT)
        await outbox.add(session, tables.outbox, ctx.emitted)
        log.info("policy_switched", version=switch.version, previous_version=switch.previous_version)
    return switch
