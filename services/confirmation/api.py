"""HTTP API of the confirmation service: dispatch (分單) for the call centre, the queue, the paper ledger."""

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from services.confirmation.domain import (
    BANK_TZ,
    CallRecord,
    Paper,
    Task,
    attempts_allowed,
    deadline_near,
    earliest_useful_due_by,
    paper_age_days,
)
from services.confirmation.handlers import handle_call_outcome, handle_paper_signature, handle_remote_signing
from services.confirmation.repository import AttemptRepository, Held, PaperRepository, TaskRepository
from services.confirmation.settings import Settings
from shared import staff_commands
from shared.auth import SignedIn, same_person
from shared.contracts import confirmation as contract
from shared.csv_export import csv_text
from shared.http import MAX_PAGE, Cursor, Identifier, Limit, Page, decode_cursor, id_path, id_query, next_cursor
from shared.runtime import Deps, runtime_deps
from shared.staff_commands import CommandAnswer
from shared.throttle import throttle
from shared.unit_of_work import UnitOfWork

router = APIRouter()
_PAPER = frozenset({"paper-clerk", "branch-operator", "supervisor", "auditor"})
ACCESS = {  # endpoint -> the roles allowed to call it (shared.auth); every route must be listed
    "next_task": frozenset({"agent"}), "renew": frozenset({"agent"}), "record_outcome": frozenset({"agent"}),
    "my_tasks": frozenset({"agent"}), "held_task": frozenset({"agent"}),
    "queue": frozenset({"agent", "supervisor", "auditor"}),
    "owed": _PAPER, "owed_csv": _PAPER, "paper_of_request": _PAPER,
    "paper_received": frozenset({"paper-clerk", "branch-operator"}),
    "remote_signing": frozenset({"paper-clerk", "branch-operator"}),
}
DepsDep = Annotated[Deps, Depends(runtime_deps)]
BranchFilter = Annotated[str | None, id_query("Only paper filed under this branch.")]
BY_DEADLINE = TypeAdapter(tuple[date, AwareDatetime, Identifier])  # cursor of GET /tasks
BY_BRANCH_AND_AGE = TypeAdapter(tuple[Identifier, AwareDatetime, Identifier, Identifier])  # cursor of /paper/owed


class AgentRequest(BaseModel):
    agent_id: Identifier | None = Field(
        None, description="Left out: the agent is the signed-in user; naming another agent is a 403.")


class OutcomeBody(BaseModel):
    outcome: contract.CallOutcome
    recording_id: Identifier | None = Field(None, description="The call's recording; required for CONFIRMED and "
                                                                "DECLINED.")
    called_at: AwareDatetime | None = Field(None, description="When the call was made; default now.")
    note: str | None = Field(None, max_length=1000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")
    agent_id: Identifier | None = Field(
        None, description="Left out: the agent is the signed-in user; naming another agent is a 403.")


class PaperReceivedBody(BaseModel):
    branch_id: Identifier = Field(description="The branch where the paper arrived.")
    received_at: AwareDatetime | None = Field(None, description="When it arrived; default now.")
    received_by: Identifier | None = Field(
        None, description="Left out: the clerk is the signed-in user; naming anyone else is a 403.")


class RemoteSigningBody(BaseModel):
    signing_branch_id: Identifier
    courier: Identifier
    tracking_number: Identifier
    signed_at: AwareDatetime | None = Field(None, description="When it was signed; default now.")


class TaskView(BaseModel):
    task_id: str
    request_id: str
    loan_id: str
    customer_id: str
    due_by: date
    attempts: int
    held_by: str | None
    lease_until: datetime | None
    available_at: datetime
    attempts_allowed: int = Field(description="Calls allowed for this co-borrower, from the request (SPEC §9).")
    deadline_near: bool


class CallView(BaseModel):
    """A call recorded on a task: its outcome, when and by whom."""

    outcome: str
    called_at: datetime
    agent_id: str
    recording_id: str | None


class AssignedTask(TaskView):
    """A task the signed-in agent holds, with whom to call: shown to that agent only."""

    phone: str | None = Field(description="The number to call on the recorded line.")
    name: str | None = Field(description="The co-borrower to ask for (null until a loan snapshot names them).")
    previous_attempts: list[CallView] = Field(description="The calls recorded on this task so far, oldest first.")


class RecordedCall(CallView):
    """A call the agent recorded, without whom it was to (they may no longer hold its task)."""

    task_id: str
    request_id: str
    loan_id: str
    customer_id: str
    task_state: str = Field(description="Where the task stands now (OPEN while calls may follow).")


class MyTasks(BaseModel):
    day: date = Field(description="The service's day (Asia/Shanghai) of `recorded_today`.")
    held: list[AssignedTask] = Field(description="The tasks the agent holds a live lease on now, by deadline.")
    recorded_today: list[RecordedCall] = Field(description="The outcomes the agent recorded this day, in order.")


class QueueView(BaseModel):
    counts: dict[str, int]
    queue: list[TaskView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page of the queue; null at its end.")


class OwedPaper(BaseModel):
    request_id: str
    customer_id: str
    loan_id: str
    branch_id: str
    reason: str
    state: str
    owed_since: datetime
    age_days: int
    courier: str | None
    tracking_number: str | None
    signing_branch_id: str | None


class PaperRecord(BaseModel):
    """One paper signature of a request as the ledger holds it: owed, in transit, received or cancelled."""

    request_id: str
    customer_id: str
    loan_id: str
    branch_id: str
    reason: str
    state: str
    owed_since: datetime
    signing_branch_id: str | None
    courier: str | None
    tracking_number: str | None
    signed_at: datetime | None
    received_at: datetime | None
    received_by: str | None
    received_branch_id: str | None


def _settings(deps: Deps) -> Settings:
    assert isinstance(deps.settings, Settings)
    return deps.settings


def _view(task: Task, deps: Deps, cls: type[TaskView] = TaskView, **extra: Any) -> Any:
    settings = _settings(deps)
    fields = {k: getattr(task, k) for k in TaskView.model_fields if k not in ("deadline_near", "attempts_allowed")}
    return cls(**fields, attempts_allowed=attempts_allowed(task, settings.max_attempts),
               deadline_near=deadline_near(task.due_by, deps.clock.now(), timedelta(hours=settings.alert_window_h)),
               **extra)


def _call(call: CallRecord) -> dict[str, Any]:
    return {"outcome": call.outcome, "called_at": call.called_at, "agent_id": call.agent_id,
            "recording_id": call.recording_id}


async def _assigned(session: AsyncSession, deps: Deps, held: list[Held]) -> list[AssignedTask]:
    """The held tasks as their agent sees them: whom to call and the calls made so far (read only where there
    were any: a task taken for the first time costs no second query)."""
    called = [h.task.task_id for h in held if h.task.attempts > 0]
    calls = await AttemptRepository(UnitOfWork(session)).of_tasks(called) if called else {}
    return [_view(h.task, deps, AssignedTask, phone=h.phone, name=h.name,
                  previous_attempts=[CallView(**_call(c)) for c in calls.get(h.task.task_id, [])]) for h in held]


def _paper_fields(paper: Paper, model: type[BaseModel]) -> dict[str, Any]:
    return {k: getattr(paper, k) for k in model.model_fields if hasattr(paper, k)}


def _owed_since(paper: Paper) -> datetime:
    assert paper.owed_since is not None, "a stored paper record is owed since a known instant"
    return paper.owed_since


@router.post("/tasks/next", tags=["dispatch"], response_model=AssignedTask,
             summary="Hold the open task with the earliest deadline (not yet begun) that nobody else holds",
             responses={204: {"description": "Nothing to call now"},
                        429: {"description": "Too many calls by this agent; Retry-After says when to come back"}})
async def next_task(deps: DepsDep, user: SignedIn, body: AgentRequest | None = None) -> Any:
    agent = same_person(user, body.agent_id if body else None, "agent_id")
    throttle("next_task", agent, _settings(deps).next_task_rate)
    # A few calls at a time, the others waiting in the order they came: a burst of agents asking at once is then
    # answered one small group after another instead of all together at the end, so they do not all ask again at
    # the same moment and the burst does not grow (bench/README.md, issue 12 fourth pass).
    async with deps.gate("next_task", _settings(deps).next_task_concurrency):
        return await _take(deps, agent)


async def _take(deps: Deps, agent: str) -> Any:
    now = deps.clock.now()
    async with deps.sessions() as session:
        # One statement, atomic by itself: run without BEGIN and COMMIT (two round trips fewer per agent's call).
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        taken = await TaskRepository(UnitOfWork(session)).take_next(
            agent, now, now + timedelta(seconds=_settings(deps).lease_s), earliest_useful_due_by(now))
        if taken is None:
            return Response(status_code=204)
        [assigned] = await _assigned(session, deps, [taken])
    return assigned


@router.get("/tasks/mine", tags=["dispatch"],
            summary="The tasks the signed-in agent holds now, and the outcomes they recorded today",
            description="Whom to call is given only on the tasks held now; a recorded call names its task, request "
                        "and co-borrower's id, never their number or name.")
async def my_tasks(deps: DepsDep, user: SignedIn) -> MyTasks:
    now = deps.clock.now()
    day = now.astimezone(BANK_TZ).date()
    start = datetime.combine(day, time(), BANK_TZ)
    async with deps.sessions() as session:
        uow = UnitOfWork(session)
        held = await _assigned(session, deps, await TaskRepository(uow).held_by(user.username, now))
        calls = await AttemptRepository(uow).by_agent(user.username, start, start + timedelta(days=1))
    recorded = [RecordedCall(**_call(call), task_id=task.task_id, request_id=task.request_id, loan_id=task.loan_id,
                             customer_id=task.customer_id, task_state=task.state.value) for task, call in calls]
    return MyTasks(day=day, held=held, recorded_today=recorded)


@router.get("/tasks/{task_id}", tags=["dispatch"], response_model=AssignedTask,
            summary="A task the signed-in agent holds, as POST /tasks/next gave it (after a page reload, say)",
            responses={403: {"description": "Not held by this agent now"}, 404: {"description": "No such task"}})
async def held_task(task_id: Annotated[str, id_path("The task's id.")], deps: DepsDep, user: SignedIn) -> Any:
    async with deps.sessions() as session:
        uow = UnitOfWork(session)
        held = await TaskRepository(uow).held_by(user.username, deps.clock.now(), task_id)
        if not held:
            if await TaskRepository(uow).peek(task_id) is None:
                raise HTTPException(404, f"task {task_id} is not known")
            raise HTTPException(403, "you do not hold this task now (its lease ran out, or another agent holds it)")
        [assigned] = await _assigned(session, deps, held)
    return assigned


@router.post("/tasks/{task_id}/renew", tags=["dispatch"], summary="Extend the agent's hold on a task")
async def renew(task_id: Annotated[str, id_path("The task's id.")], deps: DepsDep, user: SignedIn,
                body: AgentRequest | None = None) -> dict[str, Any]:
    agent = same_person(user, body.agent_id if body else None, "agent_id")
    now = deps.clock.now()
    until = now + timedelta(seconds=_settings(deps).lease_s)
    async with deps.sessions.begin() as session:
        if not await TaskRepository(UnitOfWork(session)).renew(task_id, agent, now, until):
            raise HTTPException(409, "the task is not held by this agent (lease expired or taken)")
    return {"task_id": task_id, "lease_until": until}


@router.post("/tasks/{task_id}/outcome", tags=["dispatch"], response_model=CommandAnswer,
             summary="Record the outcome of the call on a task the signed-in agent holds (RecordCallOutcome)",
             description="Applied at once, as the same command on confirmation.commands would be; only the agent "
                         "holding a live lease on the task may record its outcome. A refusal is a 409 whose detail "
                         "is the CommandRejected (reason_code, reason, facts), also published.",
             responses={404: {"description": "No such task"}, 409: {"description": "Refused (CommandRejected)"}})
async def record_outcome(task_id: Annotated[str, id_path("The task's id.")], body: OutcomeBody, deps: DepsDep,
                         user: SignedIn) -> CommandAnswer:
    agent = same_person(user, body.agent_id, "agent_id")
    async with deps.sessions() as session:
        task = await TaskRepository(UnitOfWork(session)).peek(task_id)
    if task is None:
        raise HTTPException(404, f"task {task_id} is not known")
    return await staff_commands.answer(deps, handle_call_outcome, task.loan_id, lambda: contract.RecordCallOutcome(
        command_id=staff_commands.command_id(), task_id=task_id, agent_id=agent, outcome=body.outcome,
        recording_id=body.recording_id, called_at=body.called_at or deps.clock.now(), note=body.note), by=user)


async def _loan_of_paper(deps: Deps, request_id: str, customer_id: str) -> str:
    async with deps.sessions() as session:
        found = await PaperRepository(UnitOfWork(session)).of_request(request_id)
    loan = next((p.loan_id for p in found if p.customer_id == customer_id), None)
    if loan is None:
        raise HTTPException(404, f"no paper signature of {customer_id} is known for request {request_id}")
    return loan


PaperKey = Annotated[str, id_path("The request's id.")]
CustomerKey = Annotated[str, id_path("The signer's customer id.")]


@router.post("/paper/requests/{request_id}/{customer_id}/received", tags=["paper"], response_model=CommandAnswer,
             summary="The paper signature arrived, received by the signed-in clerk (RecordPaperSignature)",
             responses={404: {"description": "No such paper"}, 409: {"description": "Refused (CommandRejected)"}})
async def paper_received(request_id: PaperKey, customer_id: CustomerKey, body: PaperReceivedBody, deps: DepsDep,
                         user: SignedIn) -> CommandAnswer:
    clerk = same_person(user, body.received_by, "received_by")
    loan_id = await _loan_of_paper(deps, request_id, customer_id)
    return await staff_commands.answer(deps, handle_paper_signature, loan_id, lambda: contract.RecordPaperSignature(
        command_id=staff_commands.command_id(), request_id=request_id, customer_id=customer_id, received_by=clerk,
        received_at=body.received_at or deps.clock.now(), branch_id=body.branch_id), by=user)


@router.post("/paper/requests/{request_id}/{customer_id}/remote-signing", tags=["paper"],
             response_model=CommandAnswer, summary="Signed at another branch and sent by courier (RecordRemoteSigning)",
             responses={404: {"description": "No such paper"}, 409: {"description": "Refused (CommandRejected)"}})
async def remote_signing(request_id: PaperKey, customer_id: CustomerKey, body: RemoteSigningBody, deps: DepsDep,
                         user: SignedIn) -> CommandAnswer:
    loan_id = await _loan_of_paper(deps, request_id, customer_id)
    return await staff_commands.answer(deps, handle_remote_signing, loan_id, lambda: contract.RecordRemoteSigning(
        command_id=staff_commands.command_id(), request_id=request_id, customer_id=customer_id,
        signing_branch_id=body.signing_branch_id, courier=body.courier, tracking_number=body.tracking_number,
        signed_at=body.signed_at or deps.clock.now()), by=user)


@router.get("/tasks", tags=["dispatch"], summary="Open tasks by deadline, with counts per state, by pages")
async def queue(deps: DepsDep, limit: Limit = 100, cursor: Cursor = None) -> QueueView:
    after = decode_cursor(cursor, BY_DEADLINE)
    async with deps.sessions() as session:
        tasks = TaskRepository(UnitOfWork(session))
        found, counts = await tasks.queue(limit + 1, after), await tasks.counts()
    return QueueView(counts=counts, queue=[_view(task, deps) for task in found[:limit]],
                     next_cursor=next_cursor(found, limit, lambda t: (t.due_by, t.created_at, t.task_id)))


async def _owed(deps: Deps, branch_id: str | None, limit: int, cursor: str | None) -> Page[OwedPaper]:
    now = deps.clock.now()
    after = decode_cursor(cursor, BY_BRANCH_AND_AGE)
    async with deps.sessions() as session:
        found = await PaperRepository(UnitOfWork(session)).outstanding(branch_id, limit=limit + 1, after=after)
    items = [OwedPaper(**_paper_fields(p, OwedPaper), age_days=paper_age_days(_owed_since(p), now))
             for p in found[:limit]]
    key = next_cursor(found, limit, lambda p: (p.branch_id, p.owed_since, p.request_id, p.customer_id))
    return Page[OwedPaper](items=items, next_cursor=key)


@router.get("/paper/owed", tags=["paper"], summary="Paper signatures owed, by branch and age (待補紙質簽字), by pages")
async def owed(deps: DepsDep, branch_id: BranchFilter = None, limit: Limit = 100,
               cursor: Cursor = None) -> Page[OwedPaper]:
    return await _owed(deps, branch_id, limit, cursor)


@router.get("/paper/owed.csv", tags=["paper"], response_class=Response,
            summary="The same report as CSV; the cursor of the next page, if any, in the `x-next-cursor` header",
            responses={200: {"content": {"text/csv": {}}, "headers": {"x-next-cursor": {
                "description": "Pass as `cursor` for the next page; absent on the last page.",
                "schema": {"type": "string"}}}}})
async def owed_csv(deps: DepsDep, branch_id: BranchFilter = None, limit: Limit = MAX_PAGE,
                   cursor: Cursor = None) -> Response:
    report = await _owed(deps, branch_id, limit, cursor)
    body = csv_text(list(OwedPaper.model_fields), (item.model_dump(mode="json") for item in report.items))
    headers = {"content-disposition": "attachment; filename=paper-owed.csv"}
    if report.next_cursor is not None:
        headers["x-next-cursor"] = report.next_cursor
    return Response(body, media_type="text/csv", headers=headers)


@router.get("/paper/requests/{request_id}", tags=["paper"],
            summary="Every paper signature of one request and where it stands (owed, in transit, received)")
async def paper_of_request(request_id: Annotated[str, id_path("The request's id.")],
                           deps: DepsDep) -> list[PaperRecord]:
    async with deps.sessions() as session:
        found = await PaperRepository(UnitOfWork(session)).of_request(request_id)
    return [PaperRecord(**_paper_fields(p, PaperRecord)) for p in found]
