"""Application logic of the requests service: load, call the rules, store, audit, emit. One call per message.

Everything here runs inside the caller's transaction (a Kafka batch, one message redone on its own, a timer
firing or an HTTP write) through its unit of work: reads come from its cache when the batch's `prepare` loaded
them, writes are buffered until its flush. So each method has one code path, batched or not.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from services.requests import domain, events
from services.requests.domain import (
    Applicant,
    CoBorrowerOutcome,
    Loan,
    Policy,
    Refusal,
    Request,
    State,
    Submission,
    Transition,
    Withdrawal,
)
from services.requests.repository import (
    ExpiryRepository,
    LoanRepository,
    PolicyRepository,
    PolicySwitch,
    RequestRepository,
)
from shared import ids, outbox, topics
from shared.contracts import Contract
from shared.contracts import requests as contract
from shared.logging import Logger
from shared.messaging import MessageContext, Tables
from shared.unit_of_work import UnitOfWork

log = Logger("postloan.requests")
EXPIRY = ExpiryRepository.KIND
POLICY_SUBJECT = "policy"  # CONTRACT.md: the key of PolicyChanged on requests.events
# Request ids derive from the command id: one command, one request id, whichever copy decides it.
_REQUEST_NS = uuid.UUID("1b0e5e1c-7f7e-4d3a-9a55-4f1c2a0d9e01")


def request_id_for(command_id: str) -> str:
    return f"R-{ids.uuid5(_REQUEST_NS, command_id)}"


# --- what the service needs of storage (repository.py has the real ones, the unit tests in-memory ones) --------


class Loans(Protocol):
    async def get(self, loan_id: str) -> Loan | None: ...
    async def save(self, loan: Loan) -> bool: ...


class Requests(Protocol):
    async def get(self, request_id: str) -> Request | None: ...
    async def open_for_loan(self, loan_id: str) -> Request | None: ...
    def add(self, request: Request, *, at: datetime) -> None: ...
    def save_state(self, request: Request, *, at: datetime) -> None: ...
    def record(self, transition: Transition) -> None: ...


class Policies(Protocol):
    async def active(self) -> Policy: ...


class Expiries(Protocol):
    async def schedule(self, request_id: str, at: datetime, *, correlationid: str | None) -> None: ...
    async def cancel(self, request_id: str) -> None: ...


@dataclass(frozen=True)
class Repositories:
    loans: Loans
    requests: Requests
    policies: Policies
    expiries: Expiries

    @classmethod
    def of(cls, uow: UnitOfWork) -> "Repositories":
        return cls(LoanRepository(uow), RequestRepository(uow), PolicyRepository(uow), ExpiryRepository(uow))


class RequestService:
    def __init__(self, ctx: MessageContext, repositories: Repositories | None = None) -> None:
        self.ctx = ctx
        repos = repositories or Repositories.of(ctx.uow)
        self.loans, self.requests, self.policies, self.expiries = (
            repos.loans, repos.requests, repos.policies, repos.expiries)

    def _emit(self, data: Contract, loan_id: str) -> None:
        self.ctx.emit(topics.REQUESTS_EVENTS, data, subject=loan_id)

    async def submit(self, command: Submission) -> None:
        """SPEC §2, §3, §5: a new request, or a refusal that explains itself. Decided on the service's clock.

        No replay check: the consumer answers a command it has answered before with its stored answer
        (`requests.commands`). Should one reach this all the same, its request conflicts on `command_id` at the
        flush, is redone on its own, conflicts again and is dead-lettered; acceptable for what cannot happen.
        A request another copy opened for the loan meanwhile conflicts the same way; redone, the rules then see it
        and refuse with OPEN_REQUEST_EXISTS.
        """
        policy = await self.policies.active()
        loan = await self.loans.get(command.loan_id)
        current = await self.requests.open_for_loan(command.loan_id)
        decision = domain.decide_submission(loan, command, policy, now=self.ctx.now,
                                            open_request_id=current.request_id if current else None)
        applicant = command.applicant
        if isinstance(decision, Refusal):
            self._reject(command.command_id, command.loan_id, decision, policy.version, applicant.customer_id)
            return
        assert loan is not None  # the rules accept only a known loan
        request = domain.new_request(request_id_for(command.command_id), command, decision, loan, policy)
        self.requests.add(request, at=self.ctx.now)
        for transition in self._submission_trail(request, applicant):
            self.requests.record(transition)
        self._emit(events.submitted(request, decision, applicant, received_at=self.ctx.now), request.loan_id)
        log.debug("request_submitted", request_id=request.request_id, loan_id=request.loan_id,
                  state=request.state.value)
        if request.state is State.APPROVED:
            self._emit(events.approved(request, self.ctx.now), request.loan_id)
        else:
            await self.expiries.schedule(request.request_id, domain.expires_at(request),
                                         correlationid=self.ctx.correlationid)

    def _submission_trail(self, request: Request, applicant: Applicant) -> tuple[Transition, Transition]:
        """Who submitted, through which channel and how they were verified; then where the rules put it."""
        v = applicant.verification
        return (
            self._transition(request, None, State.SUBMITTED, applicant.staff_id or applicant.customer_id,
                             "STAFF" if applicant.staff_id else "CUSTOMER", channel=applicant.channel,
                             recording_id=v.recording_id if v else None, verification_method=v.method if v else None,
                             on_behalf_of=applicant.customer_id if applicant.staff_id else None),
            self._transition(request, State.SUBMITTED, request.state, "system", "SYSTEM"),
        )

    def _transition(self, request: Request, from_state: State | None, to_state: State, actor: str, actor_kind: str,
                    *, channel: str | None = None, recording_id: str | None = None, reason_code: str | None = None,
                    verification_method: str | None = None, on_behalf_of: str | None = None) -> Transition:
        return Transition(request_id=request.request_id, at=self.ctx.now, from_state=from_state, to_state=to_state,
                          actor=actor, actor_kind=actor_kind, policy_version=request.policy_version,
                          channel=channel, recording_id=recording_id, reason_code=reason_code,
                          event_id=self.ctx.causationid, verification_method=verification_method,
                          on_behalf_of=on_behalf_of)

    def _reject(self, command_id: str, loan_id: str, refusal: Refusal, policy_version: str,
                applicant: str | None, *, request_id: str | None = None) -> None:
        self._emit(events.rejected(command_id=command_id, loan_id=loan_id, refusal=refusal,
                                   policy_version=policy_version, at=self.ctx.now, applicant=applicant,
                                   request_id=request_id), loan_id)
        log.debug("request_rejected", loan_id=loan_id, command_id=command_id, reason_code=refusal.code.value)

    async def _move(self, request: Request, to: State, actor: str, actor_kind: str, *,
                    confirmed_by: frozenset[str] | None = None, recording_id: str | None = None,
                    reason_code: str | None = None) -> Request:
        moved = replace(request, state=to, confirmed_by=request.confirmed_by if confirmed_by is None else confirmed_by)
        self.requests.save_state(moved, at=self.ctx.now)
        self.requests.record(self._transition(moved, request.state, to, actor, actor_kind,
                                              recording_id=recording_id, reason_code=reason_code))
        if to is not State.AWAITING_CONFIRMATION:
            await self.expiries.cancel(request.request_id)
        return moved

    async def co_borrower_outcome(self, outcome: CoBorrowerOutcome) -> None:
        """SPEC §2, §4: the service centre's call outcome for one co-borrower (too late: the request expires)."""
        request = await self.requests.get(outcome.request_id)
        if request is None:
            log.warning("outcome_for_unknown_request", request_id=outcome.request_id)
            return
        result = domain.apply_co_borrower_outcome(request, outcome.customer_id, outcome.outcome, now=self.ctx.now,
                                                  recording_id=outcome.recording_id)
        agent, recording = outcome.agent_id or "service-centre", outcome.recording_id
        reason_code = f"CO_BORROWER_{outcome.outcome.value}"
        match result:
            case domain.Ignore(reason):
                log.info("outcome_ignored", request_id=request.request_id, reason=reason)
            case domain.Expire():
                log.info("outcome_after_deadline", request_id=request.request_id, outcome=outcome.outcome.value)
                await self._expire(request)
            case domain.Wait(confirmed):
                await self._move(request, request.state, agent, "AGENT", confirmed_by=confirmed,
                                 recording_id=recording, reason_code=reason_code)
            case domain.Approve():
                moved = await self._move(request, State.APPROVED, agent, "AGENT", recording_id=recording,
                                         confirmed_by=request.confirmed_by | {outcome.customer_id},
                                         reason_code=reason_code)
                self._emit(events.approved(moved, self.ctx.now), request.loan_id)
                log.info("request_approved", request_id=request.request_id, loan_id=request.loan_id)
            case Refusal() as refusal:
                await self._move(request, State.REJECTED, agent, "AGENT", recording_id=recording,
                                 reason_code=refusal.code.value)
                self._reject(request.command_id, request.loan_id, refusal, request.policy_version,
                             request.applicant_customer_id, request_id=request.request_id)

    async def withdraw(self, withdrawal: Withdrawal) -> None:
        """Only the applicant withdraws an undecided request; a refused withdrawal changes nothing (SPEC §2)."""
        request = await self.requests.get(withdrawal.request_id)
        result = domain.decide_withdrawal(request, withdrawal.request_id, withdrawal.applicant_customer_id)
        if isinstance(result, Refusal):
            version = request.policy_version if request else (await self.policies.active()).version
            self.ctx.refuse(topics.REQUESTS_EVENTS, result.adding(policy_version=version),
                            request_id=withdrawal.request_id, customer_id=withdrawal.applicant_customer_id)
            return
        assert request is not None  # the rules refuse an unknown request
        moved = await self._move(request, State.WITHDRAWN, withdrawal.applicant_customer_id, "CUSTOMER")
        self._emit(events.withdrawn(moved, self.ctx.now), request.loan_id)
        log.info("request_withdrawn", request_id=request.request_id)

    async def loan_changed(self, loan: Loan) -> None:
        """Newest snapshot wins; an approved change it shows applied completes its request (SPEC §2)."""
        if not await self.loans.save(loan):
            log.info("loan_snapshot_stale", loan_id=loan.loan_id)
            return
        request = await self.requests.open_for_loan(loan.loan_id)
        if request is not None and domain.is_completed_by(request, loan):
            moved = await self._move(request, State.COMPLETED, "core-banking", "CORE_BANKING")
            self._emit(events.completed(moved, self.ctx.now), loan.loan_id)
            log.info("request_completed", request_id=request.request_id)

    async def expire(self, request_id: str) -> None:
        """SPEC §2: still undecided when its deadline day begins -> expired (a durable timer calls this)."""
        request = await self.requests.get(request_id)
        if request is None or not domain.should_expire(request, self.ctx.now):
            return
        await self._expire(request)

    async def _expire(self, request: Request) -> None:
        moved = await self._move(request, State.EXPIRED, "system", "SYSTEM", reason_code="DEADLINE_PASSED")
        self._emit(events.expired(moved, self.ctx.now), request.loan_id)
        log.info("request_expired", request_id=request.request_id)


async def switch_policy(uow: UnitOfWork, tables: Tables, policy: Policy, *, at: datetime, by: str,
                        only_if_absent: bool = False) -> PolicySwitch | None:
    """SPEC §9: puts `policy` in force, keeps the switch in the history and publishes `PolicyChanged` (in the
    same transaction, through the outbox). Returns None when nothing changed. The caller flushes `uow`."""
    switch = await PolicyRepository(uow).put(policy, at=at, by=by, only_if_absent=only_if_absent)
    if switch is not None:
        ctx = MessageContext(uow.session, at, f"postloan/{tables.schema}", correlationid=None, causationid=None,
                             unit=uow)
        ctx.emit(topics.REQUESTS_EVENTS, contract.PolicyChanged(
            version=switch.version, document=switch.document, document_sha256=switch.document_sha256,
            previous_version=switch.previous_version, changed_by=switch.changed_by, changed_at=switch.changed_at,
        ), subject=POLICY_SUBJECT)
        await outbox.add(uow.session, tables.outbox, ctx.emitted)
        log.info("policy_switched", version=switch.version, previous_version=switch.previous_version)
    return switch
