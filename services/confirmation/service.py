"""Application logic of the confirmation service: load, call the rules, store, emit. One call per message."""

import uuid
from datetime import timedelta
from typing import Any

import structlog

from services.confirmation import domain
from services.confirmation.domain import Rejected, Task, TaskState
from services.confirmation.repository import ContactRow, LoanRow, Store, timers
from services.confirmation.settings import Settings
from shared import topics
from shared.contracts import Contract
from shared.contracts import confirmation as contract
from shared.contracts import loans as loan_contract
from shared.contracts import requests as req
from shared.messaging import MessageContext
from shared.timers import cancel, schedule

log = structlog.get_logger("postloan.confirmation")
ALERT = "deadline-alert"
_TASK_NS = uuid.UUID("8f3c1e0a-6a2d-4f55-9d1b-3c7e2a9b4d10")


def task_id_for(request_id: str, customer_id: str) -> str:
    return f"T-{uuid.uuid5(_TASK_NS, f'{request_id}|{customer_id}')}"


class ConfirmationService:
    def __init__(self, ctx: MessageContext, settings: Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.store = Store(ctx.session)

    def _emit(self, data: Contract, loan_id: str) -> None:
        self.ctx.emit(topics.CONFIRMATION_EVENTS, data, subject=loan_id)

    def _refuse(self, refusal: Rejected, loan_id: str | None, **named: str | None) -> None:
        """SPEC §9: the refusal in plain words, the facts it rests on and what the command named."""
        self.ctx.reject_command(topics.CONFIRMATION_EVENTS, refusal.code.value, refusal.reason, facts=refusal.facts,
                                subject=loan_id, **named)

    async def loan_snapshot(self, s: loan_contract.LoanSnapshot) -> None:
        await self.store.upsert_newest(LoanRow, "loan_id", {"loan_id": s.loan_id, "branch_id": s.branch_id,
                                                            "as_of": s.as_of})
        for b in s.borrowers:
            await self.store.upsert_newest(ContactRow, "customer_id", {"customer_id": b.customer_id,
                                                                       "phone": b.phone, "as_of": s.as_of})

    async def request_submitted(self, e: req.RequestSubmitted) -> None:
        """SPEC §4: one call task per co-borrower, allowing the attempts the request carries (SPEC §9); a staff
        submission owes the applicant's paper (SPEC §5), filed under the request's branch."""
        if not await self.store.add_request(request_id=e.request_id, loan_id=e.loan_id, open=True,
                                            applicant_customer_id=e.applicant_customer_id, deadline=e.deadline,
                                            submitted_at=e.submitted_at or self.ctx.now, branch_id=e.branch_id,
                                            confirmation_attempts=e.confirmation_attempts):
            return
        window = timedelta(hours=self.settings.alert_window_h)
        for co in e.co_borrowers:
            task = Task(task_id_for(e.request_id, co.customer_id), e.request_id, e.loan_id, co.customer_id,
                        e.deadline, TaskState.OPEN, 0, None, None, self.ctx.now, max_attempts=e.confirmation_attempts)
            if await self.store.add_task(task, self.ctx.now):
                self._call_requested(task, attempt=1)
                await schedule(self.ctx.session, timers, ALERT, task.task_id,
                               domain.deadline_instant(task.due_by) - window,
                               {"correlationid": self.ctx.correlationid})
        if domain.owes_paper_for_applicant(e.channel.value, e.staff_id):
            await self._owe(e.request_id, e.applicant_customer_id, e.loan_id, "STAFF_SUBMISSION", e.branch_id)

    def _call_requested(self, task: Task, *, attempt: int, deadline_near: bool = False) -> None:
        self._emit(contract.ConfirmationCallRequested(
            task_id=task.task_id, request_id=task.request_id, loan_id=task.loan_id, customer_id=task.customer_id,
            due_by=task.due_by, attempt=attempt, deadline_near=deadline_near, available_at=task.available_at,
        ), task.loan_id)

    async def _owe(self, request_id: str, customer_id: str, loan_id: str, reason: str, branch: str) -> None:
        await self.store.owe(request_id=request_id, customer_id=customer_id, loan_id=loan_id, branch_id=branch,
                             reason=reason, owed_since=self.ctx.now)

    async def request_ended(self, request_id: str) -> None:
        """Withdrawn, rejected or expired: its open calls are no longer needed, nor its paper."""
        for task in await self.store.close_request(request_id, self.ctx.now):
            await cancel(self.ctx.session, timers, ALERT, task.task_id)
            log.info("task_closed", task_id=task.task_id, request_id=request_id)
        await self.store.cancel_paper(request_id)

    async def call_outcome(self, cmd: contract.RecordCallOutcome) -> None:
        """SPEC §4: the agent's outcome, judged on the service's clock against the task and its deadline."""
        if await self.store.attempt_seen(cmd.command_id):
            # Answered before answers were stored (migration 0003): the consumer cannot replay it; never count it twice.
            log.info("command_replayed", command_id=cmd.command_id)
            return
        task = await self.store.task(cmd.task_id, for_update=True)
        settled_by = await self.store.last_attempt(task.task_id) if task and task.state in domain.FINISHED else None
        result = domain.record_outcome(
            task, task_id=cmd.task_id, agent_id=cmd.agent_id, outcome=cmd.outcome.value,
            recording_id=cmd.recording_id, now=self.ctx.now, default_attempts=self.settings.max_attempts,
            retry_pause=timedelta(seconds=self.settings.retry_pause_s), previous=settled_by)
        if isinstance(result, Rejected):
            self._refuse(result, task.loan_id if task else None, task_id=cmd.task_id,
                         request_id=task.request_id if task else None)
            return
        assert task is not None
        await self.store.add_attempt(command_id=cmd.command_id, task_id=task.task_id, agent_id=cmd.agent_id,
                                     outcome=cmd.outcome.value, recording_id=cmd.recording_id,
                                     called_at=cmd.called_at, note=cmd.note)
        await self.store.save_task(result.task, self.ctx.now)
        if isinstance(result, domain.Retry):
            self._call_requested(result.task, attempt=result.task.attempts + 1)
        else:
            await self._finished(result.task, cmd)

    async def _finished(self, task: Task, cmd: contract.RecordCallOutcome) -> None:
        await cancel(self.ctx.session, timers, ALERT, task.task_id)
        ids: dict[str, Any] = {"task_id": task.task_id, "request_id": task.request_id, "loan_id": task.loan_id,
                               "customer_id": task.customer_id, "agent_id": cmd.agent_id}
        if task.state is TaskState.CONFIRMED:
            self._emit(contract.CoBorrowerConfirmed(**ids, recording_id=cmd.recording_id, confirmed_at=self.ctx.now),
                       task.loan_id)
            branch = domain.paper_branch(*await self.store.branches_of(task.request_id, task.loan_id))
            await self._owe(task.request_id, task.customer_id, task.loan_id, "PHONE_CONFIRMATION", branch)
        elif task.state is TaskState.DECLINED:
            self._emit(contract.CoBorrowerDeclined(**ids, recording_id=cmd.recording_id, declined_at=self.ctx.now),
                       task.loan_id)
        else:
            self._emit(contract.CoBorrowerUnreachable(**ids, attempts=task.attempts, unreachable_at=self.ctx.now),
                       task.loan_id)
        log.info("task_finished", task_id=task.task_id, state=task.state.value)

    async def paper_signature(self, cmd: contract.RecordPaperSignature) -> None:
        paper = await self.store.paper(cmd.request_id, cmd.customer_id)
        result = domain.receive_paper(paper)
        if isinstance(result, Rejected):
            self._refuse(result, paper.loan_id if paper else None, request_id=cmd.request_id,
                         customer_id=cmd.customer_id)
            return
        assert paper is not None
        await self.store.update_paper(cmd.request_id, cmd.customer_id, state=result.value, received_at=cmd.received_at,
                                      received_by=cmd.received_by, received_branch_id=cmd.branch_id)
        self._emit(contract.PaperSignatureReceived(
            request_id=cmd.request_id, customer_id=cmd.customer_id, loan_id=paper.loan_id, branch_id=cmd.branch_id,
            received_by=cmd.received_by, received_at=cmd.received_at), paper.loan_id)

    async def remote_signing(self, cmd: contract.RecordRemoteSigning) -> None:
        paper = await self.store.paper(cmd.request_id, cmd.customer_id)
        result = domain.send_remote_signing(paper)
        if isinstance(result, Rejected):
            self._refuse(result, paper.loan_id if paper else None, request_id=cmd.request_id,
                         customer_id=cmd.customer_id)
            return
        assert paper is not None
        await self.store.update_paper(cmd.request_id, cmd.customer_id, state=result.value, courier=cmd.courier,
                                      tracking_number=cmd.tracking_number, signing_branch_id=cmd.signing_branch_id,
                                      signed_at=cmd.signed_at)
        self._emit(contract.DocumentsInTransit(
            request_id=cmd.request_id, customer_id=cmd.customer_id, loan_id=paper.loan_id,
            signing_branch_id=cmd.signing_branch_id, courier=cmd.courier, tracking_number=cmd.tracking_number,
            signed_at=cmd.signed_at), paper.loan_id)

    async def deadline_alert(self, task_id: str) -> None:
        """SPEC §7: staff hear of a task near its deadline: the call is requested again, flagged."""
        task = await self.store.task(task_id)
        if task is not None and task.state is TaskState.OPEN:
            self._call_requested(task, attempt=task.attempts + 1, deadline_near=True)
            log.info("deadline_near", task_id=task_id)
