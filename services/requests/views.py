"""What the HTTP API shows (read models): the stored columns as they are, the `details` document of a request
included, so an answer is the same for rows written by any revision of the service. Nothing here decides."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, tuple_

from services.requests.repository import PolicyHistoryRow, PolicyRow, PolicyVersionRow, RequestRow, TransitionRow
from shared.unit_of_work import UnitOfWork


class RequestViews:
    """Requests and their audit trail, as stored."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def one(self, request_id: str) -> dict[str, Any] | None:
        row = (await self._uow.execute(select(RequestRow).where(RequestRow.c.request_id == request_id))).first()
        return dict(row._mapping) if row is not None else None

    async def history(self, request_id: str) -> list[dict[str, Any]]:
        query = select(TransitionRow).where(TransitionRow.c.request_id == request_id).order_by(TransitionRow.c.id)
        return [dict(r._mapping) for r in await self._uow.execute(query)]

    async def of_loan(self, loan_id: str, *, limit: int,
                      after: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
        """A loan's requests, oldest first, from just after the key `after` (created_at, request_id)."""
        key = (RequestRow.c.created_at, RequestRow.c.request_id)
        query = select(RequestRow).where(RequestRow.c.loan_id == loan_id)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return [dict(r._mapping) for r in await self._uow.execute(query.order_by(*key).limit(limit))]

    async def listing(self, *, states: Sequence[str], deadline_before: date | None, limit: int,
                      after: tuple[date, datetime, str] | None = None) -> list[dict[str, Any]]:
        """Requests in `states`, earliest deadline first, from just after the key `after` (deadline, created_at,
        request_id)."""
        key = (RequestRow.c.deadline, RequestRow.c.created_at, RequestRow.c.request_id)
        query = select(RequestRow).where(RequestRow.c.state.in_(states))
        if deadline_before is not None:
            query = query.where(RequestRow.c.deadline < deadline_before)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return [dict(r._mapping) for r in await self._uow.execute(query.order_by(*key).limit(limit))]


class PolicyViews:
    """The policy in force, the history of its switches, the document each version names."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def in_force(self) -> dict[str, Any] | None:
        row = (await self._uow.execute(select(PolicyRow).where(PolicyRow.c.id == 1))).first()
        return dict(row._mapping) if row is not None else None

    async def history(self, *, limit: int, before_id: int | None = None) -> list[dict[str, Any]]:
        query = select(PolicyHistoryRow).order_by(PolicyHistoryRow.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(PolicyHistoryRow.c.id < before_id)
        return [dict(r._mapping) for r in await self._uow.execute(query)]

    async def version(self, version: str) -> dict[str, Any] | None:
        query = select(PolicyVersionRow).where(PolicyVersionRow.c.version == version)
        row = (await self._uow.execute(query)).first()
        return dict(row._mapping) if row is not None else None
