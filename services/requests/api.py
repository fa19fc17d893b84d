"""HTTP API of the requests service: request status for channels and staff, and the policy in force.

Reads only, except switching the policy (SPEC §9: a policy change needs no code change and no restart).
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter

from services.requests.domain import OPEN_STATES, State
from services.requests.handlers import handle_submit_debit_day_change, handle_submit_early_repayment
from services.requests.policies import PolicyDocument, load_policy, presets
from services.requests.repository import LoanRepository, PolicyVersionConflict, document_sha256
from services.requests.service import switch_policy
from services.requests.views import PolicyViews, RequestViews
from shared import staff_commands
from shared.auth import Principal, SignedIn, same_person
from shared.contracts import requests as contract
from shared.http import Cursor, Identifier, Limit, Page, decode_cursor, id_path, next_cursor
from shared.runtime import Deps, runtime_deps
from shared.staff_commands import CommandAnswer, Handler
from shared.unit_of_work import UnitOfWork

router = APIRouter()
_READ_REQUESTS = frozenset({"hotline", "agent", "paper-clerk", "supervisor", "auditor"})
_READ_POLICY = frozenset({"policy-admin", "hotline", "supervisor", "auditor"})
ACCESS = {  # endpoint -> the roles allowed to call it (shared.auth); every route must be listed
    "get_loan": _READ_REQUESTS, "requests_of_loan": _READ_REQUESTS, "get_request": _READ_REQUESTS,
    "list_requests": _READ_REQUESTS,
    "get_policy": _READ_POLICY, "policy_history": _READ_POLICY, "policy_version": _READ_POLICY,
    "put_policy": frozenset({"policy-admin"}),
    "submit_debit_day_change": frozenset({"hotline"}), "submit_early_repayment": frozenset({"hotline"}),
}
DepsDep = Annotated[Deps, Depends(runtime_deps)]
LoanId = Annotated[str, id_path("The loan's id.")]
BY_DEADLINE = TypeAdapter(tuple[date, AwareDatetime, Identifier])  # cursor of GET /requests
BY_CREATION = TypeAdapter(tuple[AwareDatetime, Identifier])  # cursor of GET /loans/{id}/requests


class LoanView(BaseModel):
    loan_id: str
    status: str
    branch_id: str
    debit_day: int
    next_due_date: date
    outstanding_principal: Decimal
    primary_customer_id: str = Field(description="Who may apply (the hotline submits as them, once verified).")
    co_borrowers: int
    as_of: datetime


class TransitionView(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    actor: str
    actor_kind: str
    channel: str | None
    policy_version: str
    recording_id: str | None
    reason_code: str | None
    event_id: str | None
    verification_method: str | None = Field(None, description="Staff submissions: how the customer was verified.")
    on_behalf_of: str | None = Field(None, description="Staff submissions: the customer the staff member acted for.")


class RequestView(BaseModel):
    request_id: str
    command_id: str
    loan_id: str
    request_type: str
    state: str
    applicant_customer_id: str
    channel: str
    staff_id: str | None
    policy_version: str
    deadline: date
    co_borrower_ids: list[str]
    confirmed_by: list[str]
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RequestWithHistory(RequestView):
    history: list[TransitionView]


class PolicyView(BaseModel):
    version: str
    document: dict[str, Any]
    document_sha256: str
    changed_at: datetime
    changed_by: str
    presets: list[str]


class PolicySwitchView(BaseModel):
    id: int
    changed_at: datetime
    changed_by: str
    from_version: str | None
    to_version: str
    document_sha256: str


class PolicyHistoryPage(BaseModel):
    switches: list[PolicySwitchView]
    next_cursor: int | None = Field(description="Pass as `before` for older switches; null at the end.")


class OnBehalf(BaseModel):
    """What every submission the hotline makes for a customer whose identity it verified carries."""

    applicant_customer_id: Identifier
    channel: Literal["HOTLINE", "ACCOUNT_MANAGER"] = "HOTLINE"
    identity_verification: contract.IdentityVerification
    reason: str | None = Field(None, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")
    staff_id: Identifier | None = Field(
        None, description="Left out: the staff member is the signed-in user; naming anyone else is a 403.")

    def terms(self) -> dict[str, Any]:
        """The request's own terms: the fields a subclass adds."""
        return self.model_dump(exclude=set(OnBehalf.model_fields))


class OnBehalfDebitDayChange(OnBehalf):
    """A debit-day change the hotline submits for a customer whose identity it verified on a recorded call."""

    new_debit_day: int = Field(ge=1, le=31, description="Requested day of month; the policy decides the range.")


class OnBehalfEarlyRepayment(OnBehalf):
    """An early repayment the hotline submits for a customer whose identity it verified."""

    repayment_type: contract.RepaymentType
    amount: str | None = Field(None, pattern=r"^[0-9]{1,16}(\.[0-9]{1,2})?$",
                               description="Required for PARTIAL: yuan as a decimal string, e.g. \"5230.15\".")
    requested_date: date = Field(description="The business day to repay on; the policy decides how far ahead.")


class PolicyChange(BaseModel):
    preset: Identifier | None = Field(None, description="Name of a shipped preset, e.g. standard-2019.")
    policy: PolicyDocument | None = Field(None, description="A whole policy document, checked strictly (SPEC §9).")
    changed_by: Identifier | None = Field(
        None, description="Left out: the switch is recorded under the signed-in user; naming anyone else is a 403.")


def _view(row: dict[str, Any]) -> RequestView:
    return RequestView(**{k: row[k] for k in RequestView.model_fields})


@router.get("/loans/{loan_id}", tags=["loans"], summary="The loan as this service last saw it in loans.snapshots")
async def get_loan(loan_id: LoanId, deps: DepsDep) -> LoanView:
    async with deps.sessions() as session:
        loan = await LoanRepository(UnitOfWork(session)).get(loan_id)
    if loan is None:
        raise HTTPException(404, f"loan {loan_id} is not known")
    return LoanView(loan_id=loan.loan_id, status=loan.status, branch_id=loan.branch_id, debit_day=loan.debit_day,
                    next_due_date=loan.next_due_date, outstanding_principal=loan.outstanding_principal,
                    primary_customer_id=loan.primary_customer_id, co_borrowers=len(loan.co_borrower_ids),
                    as_of=loan.as_of)


@router.get("/loans/{loan_id}/requests", tags=["requests"], summary="Every request of a loan, oldest first, by pages")
async def requests_of_loan(loan_id: LoanId, deps: DepsDep, limit: Limit = 100,
                           cursor: Cursor = None) -> Page[RequestView]:
    after = decode_cursor(cursor, BY_CREATION)
    async with deps.sessions() as session:
        rows = await RequestViews(UnitOfWork(session)).of_loan(loan_id, limit=limit + 1, after=after)
    return Page[RequestView](items=[_view(r) for r in rows[:limit]],
                             next_cursor=next_cursor(rows, limit, lambda r: (r["created_at"], r["request_id"])))


@router.get("/requests/{request_id}", tags=["requests"], summary="One request with its audit trail")
async def get_request(request_id: Annotated[str, id_path("The request's id.")], deps: DepsDep) -> RequestWithHistory:
    async with deps.sessions() as session:
        views = RequestViews(UnitOfWork(session))
        row = await views.one(request_id)
        if row is None:
            raise HTTPException(404, f"request {request_id} is not known")
        history = [TransitionView(**{k: t[k] for k in TransitionView.model_fields})
                   for t in await views.history(request_id)]
    return RequestWithHistory(**{k: row[k] for k in RequestView.model_fields}, history=history)


@router.get("/requests", tags=["requests"], summary="Requests by state, earliest deadline first, by pages")
async def list_requests(
    deps: DepsDep,
    state: Annotated[list[State] | None, Query(max_length=len(State),
                                               description="States to list; default: the open ones.")] = None,
    deadline_before: Annotated[date | None, Query(description="Only deadlines before this date.")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[RequestView]:
    states = [s.value for s in (state or sorted(OPEN_STATES))]
    after = decode_cursor(cursor, BY_DEADLINE)
    async with deps.sessions() as session:
        rows = await RequestViews(UnitOfWork(session)).listing(states=states, deadline_before=deadline_before,
                                                               limit=limit + 1, after=after)
    return Page[RequestView](items=[_view(r) for r in rows[:limit]], next_cursor=next_cursor(
        rows, limit, lambda r: (r["deadline"], r["created_at"], r["request_id"])))


@router.get("/policy", tags=["policy"], summary="The policy in force and the shipped presets")
async def get_policy(deps: DepsDep) -> PolicyView:
    async with deps.sessions() as session:
        row = await PolicyViews(UnitOfWork(session)).in_force()
    assert row is not None, "the service seeds a policy at start"
    return PolicyView(version=row["version"], document=row["document"],
                      document_sha256=document_sha256(row["document"]), changed_at=row["changed_at"],
                      changed_by=row["changed_by"], presets=presets())


@router.get("/policy/history", tags=["policy"], summary="Every switch of the policy in force, newest first")
async def policy_history(
    deps: DepsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Cursor from the previous page.")] = None,
) -> PolicyHistoryPage:
    async with deps.sessions() as session:
        rows = await PolicyViews(UnitOfWork(session)).history(limit=limit, before_id=before)
    switches = [PolicySwitchView(**{k: r[k] for k in PolicySwitchView.model_fields}) for r in rows]
    return PolicyHistoryPage(switches=switches, next_cursor=switches[-1].id if len(switches) == limit else None)


@router.get("/policy/versions/{version}", tags=["policy"], summary="The document a policy version names (immutable)")
async def policy_version(version: Annotated[str, id_path("A policy version name.")],
                         deps: DepsDep) -> dict[str, Any]:
    async with deps.sessions() as session:
        row = await PolicyViews(UnitOfWork(session)).version(version)
    if row is None:
        raise HTTPException(404, f"policy version {version!r} was never put in force here")
    return {k: row[k] for k in ("version", "document", "document_sha256", "first_seen_at", "first_seen_by")}


def _on_behalf(kind: str, command: str) -> dict[str, Any]:
    """The route's documentation: both submissions on a customer's behalf answer alike."""
    return {"tags": ["requests"], "response_model": CommandAnswer,
            "summary": f"Submit {kind} on a customer's behalf, as the signed-in hotline staff member",
            "description": f"Decided at once by the same rules as {command} on requests.commands, with `staff_id` "
                           "the signed-in user; a refusal is a 409 whose detail is the RequestRejected.",
            "responses": {409: {"description": "Refused (RequestRejected with reason_code and facts)"}}}


async def _submit_on_behalf(deps: Deps, user: Principal, loan_id: str, body: OnBehalf, handler: Handler,
                            command: type[contract.SubmitDebitDayChange | contract.SubmitEarlyRepayment]
                            ) -> CommandAnswer:
    staff = same_person(user, body.staff_id, "staff_id")
    return await staff_commands.answer(deps, handler, loan_id, lambda: command(
        command_id=staff_commands.command_id(), loan_id=loan_id, applicant_customer_id=body.applicant_customer_id,
        channel=contract.Channel(body.channel), submitted_at=deps.clock.now(), reason=body.reason, staff_id=staff,
        identity_verification=body.identity_verification, **body.terms()),
        by=user, refusals=("RequestRejected", "CommandRejected"))


@router.post("/loans/{loan_id}/requests/debit-day-change", **_on_behalf("a debit-day change", "SubmitDebitDayChange"))
async def submit_debit_day_change(loan_id: LoanId, body: OnBehalfDebitDayChange, deps: DepsDep,
                                  user: SignedIn) -> CommandAnswer:
    return await _submit_on_behalf(deps, user, loan_id, body, handle_submit_debit_day_change,
                                   contract.SubmitDebitDayChange)


@router.post("/loans/{loan_id}/requests/early-repayment", **_on_behalf("an early repayment", "SubmitEarlyRepayment"))
async def submit_early_repayment(loan_id: LoanId, body: OnBehalfEarlyRepayment, deps: DepsDep,
                                 user: SignedIn) -> CommandAnswer:
    return await _submit_on_behalf(deps, user, loan_id, body, handle_submit_early_repayment,
                                   contract.SubmitEarlyRepayment)


@router.put("/policy", tags=["policy"], summary="Switch the policy in force (every copy, from its next message)",
            description="422 for a broken document (checked strictly: types and bounds, no unknown field) or an "
                        "unknown preset, 409 for a changed document under a known version name: either way the "
                        "policy in force stays.",
            responses={409: {"description": "The version name already names another document"}})
async def put_policy(change: PolicyChange, deps: DepsDep, user: SignedIn) -> PolicyView:
    by = same_person(user, change.changed_by, "changed_by")
    if (change.preset is None) == (change.policy is None):
        raise HTTPException(422, "give exactly one of 'preset' or 'policy'")
    try:
        policy = change.policy.to_policy() if change.policy is not None else load_policy(str(change.preset))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    now = deps.clock.now()
    try:
        async with deps.sessions.begin() as session:
            uow = UnitOfWork(session)
            await switch_policy(uow, deps.tables, policy, at=now, by=by)
            await uow.flush()
    except PolicyVersionConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return await get_policy(deps)
