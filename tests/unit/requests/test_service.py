"""The requests service layer against in-memory repositories (cosmicpython's fakes): what it stores, audits,
schedules and emits for each kind of message, with no database or broker."""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.requests.domain import (
    BANK_TZ,
    Applicant,
    CoBorrowerOutcome,
    DebitDayChange,
    DebitDayTerms,
    EarlyRepayment,
    Loan,
    Outcome,
    Policy,
    RepaymentTerms,
    Request,
    RequestType,
    State,
    Transition,
    Withdrawal,
)
from services.requests.policies import load_policy
from services.requests.repository import terms_document, terms_of
from services.requests.service import Repositories, RequestService, request_id_for
from shared.contracts import requests as contract
from shared.envelope import new_event
from shared.messaging import MessageContext

NOW = datetime(2020, 2, 3, 9, 30, tzinfo=BANK_TZ)
EPIDEMIC = load_policy("epidemic-2020")


class FakeLoans:
    def __init__(self, *loans: Loan) -> None:
        self.stored = {loan.loan_id: loan for loan in loans}

    async def get(self, loan_id: str) -> Loan | None:
        return self.stored.get(loan_id)

    async def save(self, loan: Loan) -> bool:
        known = self.stored.get(loan.loan_id)
        if known is not None and known.as_of >= loan.as_of:
            return False
        self.stored[loan.loan_id] = loan
        return True


class FakeRequests:
    def __init__(self, *requests: Request) -> None:
        self.stored = {r.request_id: r for r in requests}
        self.trail: list[Transition] = []

    async def get(self, request_id: str) -> Request | None:
        return self.stored.get(request_id)

    async def open_for_loan(self, loan_id: str) -> Request | None:
        return next((r for r in self.stored.values() if r.loan_id == loan_id and r.is_open), None)

    def add(self, request: Request, *, at: datetime) -> None:
        assert request.request_id not in self.stored
        assert not any(r.loan_id == request.loan_id and r.is_open for r in self.stored.values())
        self.stored[request.request_id] = request

    def save_state(self, request: Request, *, at: datetime) -> None:
        assert request.request_id in self.stored
        self.stored[request.request_id] = request

    def record(self, transition: Transition) -> None:
        self.trail.append(transition)


class FakePolicies:
    def __init__(self, policy: Policy = EPIDEMIC) -> None:
        self.policy = policy

    async def active(self) -> Policy:
        return self.policy


class FakeExpiries:
    def __init__(self) -> None:
        self.due: dict[str, datetime] = {}

    async def schedule(self, request_id: str, at: datetime, *, correlationid: str | None) -> None:
        self.due[request_id] = at

    async def cancel(self, request_id: str) -> None:
        self.due.pop(request_id, None)


class World:
    """The fakes, a service over them and what it emitted, for one message."""

    def __init__(self, *, loans: tuple[Loan, ...] = (), requests: tuple[Request, ...] = ()) -> None:
        self.loans, self.requests = FakeLoans(*loans), FakeRequests(*requests)
        self.policies, self.expiries = FakePolicies(), FakeExpiries()
        self.ctx: MessageContext | None = None

    def service(self, message: contract.Contract | None = None) -> RequestService:
        event = new_event(message, source="test", subject="L-1", time=NOW) if message is not None else None
        self.ctx = MessageContext(None, NOW, "postloan/requests", correlationid="corr-1",  # type: ignore[arg-type]
                                  causationid=event.id if event else None, message=event)
        return RequestService(self.ctx, Repositories(self.loans, self.requests, self.policies, self.expiries))

    def emitted(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.ctx is not None
        return [(e["type"], e["data"]) for e in (json.loads(r.value) for r in self.ctx.emitted)]


def a_loan(co_borrowers: tuple[str, ...] = (), **over: Any) -> Loan:
    values: dict[str, Any] = {
        "loan_id": "L-1", "status": "ACTIVE", "branch_id": "SZ", "debit_day": 25, "next_due_date": date(2020, 2, 25),
        "outstanding_principal": Decimal("46000.00"), "primary_customer_id": "C-1", "co_borrower_ids": co_borrowers,
        "as_of": NOW - timedelta(hours=1)}
    return Loan(**{**values, **over})


def a_change(day: int = 25, customer: str = "C-1", command_id: str = "cmd-1") -> DebitDayChange:
    return DebitDayChange(command_id, "L-1", Applicant(customer, "APP", NOW), day)


def awaiting(co_borrowers: tuple[str, ...] = ("C-2",), **over: Any) -> Request:
    values: dict[str, Any] = {
        "request_id": "R-1", "command_id": "cmd-0", "loan_id": "L-1", "request_type": RequestType.DEBIT_DAY_CHANGE,
        "state": State.AWAITING_CONFIRMATION, "applicant_customer_id": "C-1", "channel": "APP", "staff_id": None,
        "policy_version": "epidemic-2020", "deadline": date(2020, 2, 25), "co_borrower_ids": co_borrowers,
        "confirmed_by": frozenset(), "terms": DebitDayTerms(25, 25, date(2020, 2, 25), date(2020, 3, 25),
                                                             (date(2020, 3, 25),))}
    return Request(**{**values, **over})


async def test_an_accepted_change_is_stored_audited_and_approved_at_once_without_co_borrowers() -> None:
    world = World(loans=(a_loan(),))
    await world.service().submit(a_change(25))
    request_id = request_id_for("cmd-1")
    stored = world.requests.stored[request_id]
    assert stored.state is State.APPROVED and stored.terms.new_due_date == date(2020, 3, 25)  # type: ignore[union-attr]
    assert [(t.from_state, t.to_state, t.actor_kind) for t in world.requests.trail] == [
        (None, State.SUBMITTED, "CUSTOMER"), (State.SUBMITTED, State.APPROVED, "SYSTEM")]
    assert [kind for kind, _ in world.emitted()] == ["RequestSubmitted", "RequestApproved"]
    assert world.emitted()[1][1]["new_due_date"] == "2020-03-25"
    assert world.expiries.due == {}


async def test_a_request_awaiting_co_borrowers_gets_its_expiry_timer() -> None:
    world = World(loans=(a_loan(("C-2",)),))
    await world.service().submit(a_change(25))
    request_id = request_id_for("cmd-1")
    assert world.requests.stored[request_id].state is State.AWAITING_CONFIRMATION
    assert world.expiries.due == {request_id: datetime(2020, 2, 25, tzinfo=BANK_TZ)}
    assert [kind for kind, _ in world.emitted()] == ["RequestSubmitted"]


async def test_a_refused_submission_stores_nothing_and_names_the_open_request() -> None:
    world = World(loans=(a_loan(("C-2",)),), requests=(awaiting(),))
    await world.service().submit(a_change(20, command_id="cmd-2"))
    assert list(world.requests.stored) == ["R-1"] and world.requests.trail == []
    [(kind, data)] = world.emitted()
    assert kind == "RequestRejected" and data["reason_code"] == "OPEN_REQUEST_EXISTS"
    assert data["facts"] == {"loan_id": "L-1", "open_request_id": "R-1", "policy_version": "epidemic-2020"}


async def test_an_early_repayment_keeps_its_typed_terms() -> None:
    world = World(loans=(a_loan(),))
    repayment = EarlyRepayment("cmd-1", "L-1", Applicant("C-1", "APP", NOW), "FULL", None, date(2020, 2, 5))
    await world.service().submit(repayment)
    stored = world.requests.stored[request_id_for("cmd-1")]
    assert stored.terms == RepaymentTerms("FULL", Decimal("46000.00"), date(2020, 2, 5), Decimal("46000.00"))
    assert world.emitted()[1][1]["amount"] == "46000.00"


async def test_the_last_confirmation_approves_and_cancels_the_expiry() -> None:
    world = World(requests=(awaiting(("C-2", "C-3"), confirmed_by=frozenset({"C-2"})),))
    world.expiries.due["R-1"] = datetime(2020, 2, 25, tzinfo=BANK_TZ)
    await world.service().co_borrower_outcome(CoBorrowerOutcome("R-1", "C-3", Outcome.CONFIRMED, "A-1", "REC-1"))
    approved = world.requests.stored["R-1"]
    assert approved.state is State.APPROVED and approved.confirmed_by == {"C-2", "C-3"}
    [entry] = world.requests.trail
    assert (entry.actor, entry.recording_id, entry.reason_code) == ("A-1", "REC-1", "CO_BORROWER_CONFIRMED")
    assert [kind for kind, _ in world.emitted()] == ["RequestApproved"] and world.expiries.due == {}


async def test_a_decline_rejects_the_request_with_its_recording() -> None:
    world = World(requests=(awaiting(),))
    await world.service().co_borrower_outcome(CoBorrowerOutcome("R-1", "C-2", Outcome.DECLINED, "A-1", "REC-2"))
    assert world.requests.stored["R-1"].state is State.REJECTED
    [(kind, data)] = world.emitted()
    assert kind == "RequestRejected" and data["request_id"] == "R-1" and data["facts"]["recording_id"] == "REC-2"


async def test_a_refused_withdrawal_changes_nothing_and_answers_command_rejected() -> None:
    request = awaiting()
    world = World(requests=(request,))
    command = contract.WithdrawRequest(command_id="cmd-w", request_id="R-1", applicant_customer_id="C-2")
    await world.service(command).withdraw(Withdrawal("cmd-w", "R-1", "C-2"))
    assert world.requests.stored["R-1"] == request and world.requests.trail == []
    [(kind, data)] = world.emitted()
    assert kind == "CommandRejected" and data["reason_code"] == "NOT_APPLICANT"
    assert data["facts"]["policy_version"] == "epidemic-2020" and data["customer_id"] == "C-2"


async def test_the_applicant_withdraws_an_undecided_request() -> None:
    world = World(requests=(awaiting(),))
    world.expiries.due["R-1"] = datetime(2020, 2, 25, tzinfo=BANK_TZ)
    await world.service().withdraw(Withdrawal("cmd-w", "R-1", "C-1"))
    assert world.requests.stored["R-1"].state is State.WITHDRAWN and world.expiries.due == {}
    assert [kind for kind, _ in world.emitted()] == ["RequestWithdrawn"]


async def test_a_snapshot_showing_the_change_applied_completes_the_request() -> None:
    world = World(loans=(a_loan(),), requests=(awaiting((), state=State.APPROVED),))
    applied = a_loan(next_due_date=date(2020, 3, 25), as_of=NOW)
    await world.service().loan_changed(applied)
    assert world.loans.stored["L-1"] == applied
    assert world.requests.stored["R-1"].state is State.COMPLETED
    assert [(t.actor, t.to_state) for t in world.requests.trail] == [("core-banking", State.COMPLETED)]
    assert [kind for kind, _ in world.emitted()] == ["RequestCompleted"]


async def test_an_older_snapshot_changes_nothing() -> None:
    world = World(loans=(a_loan(as_of=NOW),), requests=(awaiting((), state=State.APPROVED),))
    await world.service().loan_changed(a_loan(next_due_date=date(2020, 3, 25), as_of=NOW - timedelta(days=1)))
    assert world.loans.stored["L-1"].next_due_date == date(2020, 2, 25)
    assert world.requests.stored["R-1"].state is State.APPROVED and world.emitted() == []


async def test_the_timer_expires_an_undecided_request_once_its_deadline_day_began() -> None:
    world = World(requests=(awaiting(deadline=date(2020, 2, 3)),))
    await world.service().expire("R-1")
    assert world.requests.stored["R-1"].state is State.EXPIRED
    assert [kind for kind, _ in world.emitted()] == ["RequestExpired"]


def test_stored_terms_read_back_as_they_were_written() -> None:
    change = DebitDayTerms(25, 20, date(2020, 2, 25), date(2020, 3, 20), (date(2020, 3, 20), date(2020, 4, 20)))
    repayment = RepaymentTerms("PARTIAL", Decimal("1000.00"), date(2020, 2, 14), Decimal("46000.00"))
    document = json.loads(json.dumps(terms_document(repayment)))
    assert document == {"repayment_type": "PARTIAL", "amount": "1000.00", "requested_date": "2020-02-14",
                        "principal_at_submission": "46000.00"}
    assert terms_of(RequestType.EARLY_REPAYMENT, document, date(2020, 2, 14)) == repayment
    stored = json.loads(json.dumps(terms_document(change)))
    assert terms_of(RequestType.DEBIT_DAY_CHANGE, stored, date(2020, 2, 25)) == change


def test_a_debit_day_row_of_the_first_revision_still_reads() -> None:
    """Rows written before the current due date and the preview were stored carry only the days and D1."""
    first_revision = {"current_debit_day": 25, "new_debit_day": 20, "new_due_date": "2020-03-20"}
    assert terms_of(RequestType.DEBIT_DAY_CHANGE, first_revision, date(2020, 2, 25)) == DebitDayTerms(
        25, 20, current_due_date=date(2020, 2, 25), new_due_date=date(2020, 3, 20),
        next_due_dates=(date(2020, 3, 20), date(2020, 4, 20), date(2020, 5, 20)))
