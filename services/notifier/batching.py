"""Batched reads and writes for the notifier's hot path; see shared.messaging.BatchHooks.

A batch's recipients are read in one query and its deliveries written with one COPY. A delivery that
already exists (the unique key per event, person and channel) fails the COPY, and the batch is redone
message by message, where each insert skips the duplicate.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.repository import DeliveryRow, RecipientRepository
from shared.db import copy_rows, sqlstate
from shared.envelope import CloudEvent
from shared.messaging import RedoIsolated

_KEY = "notifier.batch"


@dataclass
class Batch:
    recipients: dict[str, Any]  # customer id -> recipient row (None: unknown)
    deliveries: list[dict[str, Any]] = field(default_factory=list)


def batch_of(session: AsyncSession) -> Batch | None:
    return session.info.get(_KEY)  # type: ignore[no-any-return]


async def write_pending(session: AsyncSession) -> None:
    batch = batch_of(session)
    if batch is None or not batch.deliveries:
        return
    staged, batch.deliveries = batch.deliveries, []
    try:
        await copy_rows(session, DeliveryRow, staged)
    except Exception as exc:
        if sqlstate(exc) == "23505":  # already delivered: let the per-message path skip it
            raise RedoIsolated("a delivery already exists") from exc
        raise


class NotifierBatching:
    async def prepare(self, session: AsyncSession, messages: Sequence[tuple[str, CloudEvent[Any]]]) -> None:
        ids = {getattr(e.data, "applicant_customer_id", None) or getattr(e.data, "customer_id", None)
               for _, e in messages if e.type != "LoanSnapshot"}
        ids.discard(None)
        if len(messages) < 2 or not ids:
            return
        rows = await RecipientRepository(session).rows(sorted(ids))  # type: ignore[arg-type]
        session.info[_KEY] = Batch(recipients={i: rows.get(i) for i in ids})

    async def flush(self, session: AsyncSession) -> None:
        await write_pending(session)
        session.info.pop(_KEY, None)
