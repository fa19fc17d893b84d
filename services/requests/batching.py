"""Batched reads and writes for the requests service's hot path (submissions); see shared.messaging.BatchHooks.

A batch's submissions are decided against loans and open requests loaded in three queries, and their
requests and audit rows are written in two statements. If another copy raced us to a loan, the insert
conflicts and the batch is redone message by message, where the database's unique index decides.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.requests.domain import Loan, Request
from services.requests.repository import LoanRepository, RequestRepository
from shared import topics
from shared.db import sqlstate
from shared.envelope import CloudEvent
from shared.messaging import RedoIsolated

SUBMISSIONS = ("SubmitDebitDayChange", "SubmitEarlyRepayment")
# Request ids derive from the command id, so a command replayed under a new envelope id finds its request.
_REQUEST_NS = uuid.UUID("1b0e5e1c-7f7e-4d3a-9a55-4f1c2a0d9e01")


def request_id_for(command_id: str) -> str:
    return f"R-{uuid.uuid5(_REQUEST_NS, command_id)}"
_KEY = "requests.batch"


@dataclass
class Batch:
    loans: dict[str, Loan | None]
    open_by_loan: dict[str, Request | None]
    known_requests: set[str]
    new_requests: list[dict[str, Any]] = field(default_factory=list)
    new_transitions: list[dict[str, Any]] = field(default_factory=list)


def batch_of(session: AsyncSession) -> Batch | None:
    """The batch state when the optimistic path is on, else None (handlers then query and write directly)."""
    return session.info.get(_KEY)  # type: ignore[no-any-return]


async def write_pending(session: AsyncSession) -> None:
    """Writes what the batch has staged so far; handlers that query directly call this first."""
    batch = batch_of(session)
    if batch is None or not (batch.new_requests or batch.new_transitions):
        return
    repo = RequestRepository(session)
    staged, batch.new_requests = batch.new_requests, []
    try:
        await repo.copy_in(staged)
    except Exception as exc:
        if sqlstate(exc) == "23505":  # another copy stored a request for one of these loans first
            raise RedoIsolated("a request conflicted with a concurrent writer") from exc
        raise
    transitions, batch.new_transitions = batch.new_transitions, []
    await repo.record(transitions)


class RequestBatching:
    async def prepare(self, session: AsyncSession, messages: Sequence[tuple[str, CloudEvent[Any]]]) -> None:
        submissions = [e.data for topic, e in messages if topic == topics.REQUESTS_COMMANDS and e.type in SUBMISSIONS]
        if not submissions:
            return
        loan_ids = sorted({c.loan_id for c in submissions})
        loans = await LoanRepository(session).get_many(loan_ids)
        requests = RequestRepository(session)
        open_by_loan = await requests.open_for_loans(loan_ids)
        known = await requests.existing([request_id_for(c.command_id) for c in submissions])
        session.info[_KEY] = Batch(
            loans={i: loans.get(i) for i in loan_ids},
            open_by_loan={i: open_by_loan.get(i) for i in loan_ids},
            known_requests=known,
        )

    async def flush(self, session: AsyncSession) -> None:
        await write_pending(session)
        session.info.pop(_KEY, None)
