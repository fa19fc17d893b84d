"""Application logic of the confirmation service: load (through the repositories), call the rules, store, emit.
One method per message kind, one code path whether the message is handled in a batch or alone."""

from dataclasses import dataclass, replace
from datetime import timedelta

from services.confirmation import domain
from services.confirmation.domain import (
    CallReport,
    LoanSnapshot,
    PaperReceipt,
    Refusal,
    RemoteSigning,
    Submission,
    Task,
    TaskState,
)
from services.confirmation.repository import (
    AlertRepository,
    AttemptRepository,
    ContactRepository,
    LoanRepository,
    PaperRepository,
    RequestRepository,
    TaskRepository,
    task_id_for,
)
from services.confirmation.settings import Settings
from shared import topics, tracing
from shared.contracts import Contract
from shared.contracts import confirmation as contract
from shared.logging import Logger
from shared.messaging import MessageContext
from shared.unit_of_work import UnitOfWork

log = Logger("postloan.confirmation")


@dataclass(frozen=True)
class Repositories:
    """What the service reads and writes; built on the transaction's unit of work (or in memory, in tests)."""

    tasks: TaskRepository
    attempts: AttemptRepository
    requests: RequestRepository
    loans: LoanRepository
    contacts: ContactRepository
    paper: PaperRepository
    alerts: AlertRepository

    @classmethod
    def of(cls, uow: UnitOfWork) -> "Repositories":
        return cls(TaskRepository(uow), AttemptRepository(uow), RequestRepository(uow), LoanRepository(uow),
                   ContactRepository(uow), PaperRepository(uow), AlertRepository(uow))


class ConfirmationService:
    def __init__(self, ctx: MessageContext, repositories: Repositories | None = None) -> None:
        self.ctx = ctx
        self.settings: Settings = ctx.settings
        self.repos = repositories or Repositories.of(ctx.uow)

    def _emit(self, data: Contract, loan_id: str) -> None:
        self.ctx.emit(topics.CONFIRMATION_EVENTS, data, subject=loan_id)

    def _refuse(self, refusal: Refusal, loan_id: str | None, **named: str | None) -> None:
        """SPEC §9: the refusal in plain words, the facts it rests on and what the command named."""
        self.ctx.refuse(topics.CONFIRMATION_EVENTS, refusal, subject=loan_id, **named)

    async def loan_snapshot(self, snapshot: LoanSnapshot) -> None:
        """The newest snapshot wins: the loan's branch and its borrowers' numbers."""
        stored = await self.repos.loans.get(snapshot.loan.loan_id)
        if domain.supersedes(snapshot.loan.as_of, stored.as_of if stored else None):
            await self.repos.loans.put(snapshot.loan)
        for contact in snapshot.contacts:
            known = await self.repos.contacts.get(contact.customer_id)
            if domain.supersedes(contact.as_of, known.as_of if known else None):
                await self.repos.contacts.put(contact)

    async def request_submitted(self, submission: Submission) -> None:
        """SPEC §4: one call task per co-borrower, allowing the attempts the request carries (SPEC §9); a staff
        submission owes the applicant's paper (SPEC §5), filed under the request's branch. Once per request."""
        if await self.repos.requests.get(submission.request_id) is not None:
            return
        now = self.ctx.now
        self.repos.requests.add(domain.request_of(submission, now))
        window = timedelta(hours=self.settings.alert_window_h)
        for customer_id in submission.co_borrowers:
            task = domain.task_for(task_id_for(submission.request_id, customer_id), submission, customer_id, now)
            if await self.repos.tasks.get(task.task_id) is not None:
                continue
            self.repos.tasks.add(task, tracing.current_traceparent())
            self._call_requested(task, attempt=1)
            self.repos.alerts.add(task.task_id, domain.alert_at(task.due_by, window), self.ctx.correlationid)
        if domain.owes_paper_for_applicant(submission.channel, submission.staff_id):
            await self._owe(submission.request_id, submission.applicant_customer_id, submission.loan_id,
                            "STAFF_SUBMISSION", submission.branch_id)

    def _call_requested(self, task: Task, *, attempt: int, deadline_near: bool = False) -> None:
        self._emit(contract.ConfirmationCallRequested(
            task_id=task.task_id, request_id=task.request_id, loan_id=task.loan_id, customer_id=task.customer_id,
            due_by=task.due_by, attempt=attempt, deadline_near=deadline_near, available_at=task.available_at,
        ), task.loan_id)

    async def _owe(self, request_id: str, customer_id: str, loan_id: str, reason: str, branch: str) -> None:
        """The paper signature is owed from now, unless the ledger already holds it."""
        if await self.repos.paper.get(request_id, customer_id) is None:
            self.repos.paper.owe(domain.paper_owed(request_id, customer_id, loan_id, branch, reason, self.ctx.now))

    async def request_ended(self, request_id: str) -> None:
        """Withdrawn, rejected or expired: its open calls are no longer needed, nor its paper."""
        if (request := await self.repos.requests.get(request_id)) is not None:
            self.repos.requests.save(replace(request, open=False))
        for task in await self.repos.tasks.close_open_of(request_id, self.ctx.now):
            self.repos.alerts.cancel(task.task_id)
            log.debug("task_closed", task_id=task.task_id, request_id=request_id)
        await self.repos.paper.cancel_owed_of(request_id)

    async def record_outcome(self, call: CallReport) -> None:
        """SPEC §4: the agent's outcome, judged on the service's clock against the task and its deadline."""
        if await self.repos.attempts.seen(call.command_id):
            # Answered before answers were stored (migration 0003): the consumer cannot replay it; never count it twice.
            log.info("command_replayed", command_id=call.command_id)
            return
        task = await self.repos.tasks.get(call.task_id)
        # The call-centre tool's command carries no context of the request: the outcome is decided in the request's
        # trace, kept with the task (the command's own span is linked), so the request stays one trace.
        with tracing.resumed(await self.repos.tasks.trace_of(call.task_id) if task else None,
                             "decide RecordCallOutcome", attributes={"postloan.task_id": call.task_id}):
            await self._judge(task, call)

    async def _judge(self, task: Task | None, call: CallReport) -> None:
        settled_by = await self.repos.attempts.last_of(task.task_id) if task and task.state in domain.FINISHED else None
        result = domain.record_outcome(task, call, now=self.ctx.now, default_attempts=self.settings.max_attempts,
                                       retry_pause=timedelta(seconds=self.settings.retry_pause_s),
                                       previous=settled_by)
        if isinstance(result, Refusal):
            self._refuse(result, task.loan_id if task else None, task_id=call.task_id,
                         request_id=task.request_id if task else None)
            return
        self.repos.attempts.add(call)
        self.repos.tasks.save(result.task, self.ctx.now)
        if isinstance(result, domain.Retry):
            self._call_requested(result.task, attempt=result.task.attempts + 1)
        else:
            await self._finished(result.task, call)

    async def _finished(self, task: Task, call: CallReport) -> None:
        self.repos.alerts.cancel(task.task_id)
        ids = {"task_id": task.task_id, "request_id": task.request_id, "loan_id": task.loan_id,
               "customer_id": task.customer_id, "agent_id": call.agent_id}
        if task.state is TaskState.CONFIRMED:
            assert call.recording_id is not None
            self._emit(contract.CoBorrowerConfirmed(**ids, recording_id=call.recording_id,
                                                    confirmed_at=self.ctx.now), task.loan_id)
            request = await self.repos.requests.get(task.request_id)
            request_branch = request.branch_id if request else None
            loan = await self.repos.loans.get(task.loan_id) if not request_branch else None  # older requests only
            branch = domain.paper_branch(request_branch, loan.branch_id if loan else None)
            await self._owe(task.request_id, task.customer_id, task.loan_id, "PHONE_CONFIRMATION", branch)
        elif task.state is TaskState.DECLINED:
            assert call.recording_id is not None
            self._emit(contract.CoBorrowerDeclined(**ids, recording_id=call.recording_id, declined_at=self.ctx.now),
                       task.loan_id)
        else:
            self._emit(contract.CoBorrowerUnreachable(**ids, attempts=task.attempts, unreachable_at=self.ctx.now),
                       task.loan_id)
        log.debug("task_finished", task_id=task.task_id, state=task.state.value)  # per message: DEBUG

    async def receive_paper(self, receipt: PaperReceipt) -> None:
        paper = await self.repos.paper.get(receipt.request_id, receipt.customer_id)
        result = domain.receive_paper(paper, receipt)
        if isinstance(result, Refusal):
            self._refuse(result, paper.loan_id if paper else None, request_id=receipt.request_id,
                         customer_id=receipt.customer_id)
            return
        self.repos.paper.save(result)
        self._emit(contract.PaperSignatureReceived(
            request_id=receipt.request_id, customer_id=receipt.customer_id, loan_id=result.loan_id,
            branch_id=receipt.branch_id, received_by=receipt.received_by, received_at=receipt.received_at),
            result.loan_id)

    async def send_remote_signing(self, signing: RemoteSigning) -> None:
        paper = await self.repos.paper.get(signing.request_id, signing.customer_id)
        result = domain.send_remote_signing(paper, signing)
        if isinstance(result, Refusal):
            self._refuse(result, paper.loan_id if paper else None, request_id=signing.request_id,
                         customer_id=signing.customer_id)
            return
        self.repos.paper.save(result)
        self._emit(contract.DocumentsInTransit(
            request_id=signing.request_id, customer_id=signing.customer_id, loan_id=result.loan_id,
            signing_branch_id=signing.signing_branch_id, courier=signing.courier,
            tracking_number=signing.tracking_number, signed_at=signing.signed_at), result.loan_id)

    async def deadline_alert(self, task_id: str) -> None:
        """SPEC §7: staff hear of a task near its deadline: the call is requested again, flagged."""
        task = await self.repos.tasks.peek(task_id)
        if task is not None and task.state is TaskState.OPEN:
            self._call_requested(task, attempt=task.attempts + 1, deadline_near=True)
            log.info("deadline_near", task_id=task_id)
