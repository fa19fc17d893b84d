"""Storage of the requests service (schema `requests`): loan projection, requests, their audit trail.

Repositories map rows to domain objects and never commit: the caller's transaction does.
"""

from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.requests.domain import OPEN_STATES, Loan

SCHEMA = "requests"
metadata = MetaData(schema=SCHEMA)

LoanRow = Table(
    "loans",
    metadata,
    Column("loan_id", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("branch_id", Text, nullable=False),
    Column("debit_day", Integer, nullable=False),
    Column("next_due_date", Date, nullable=False),
    Column("outstanding_principal", Numeric(18, 2), nullable=False),
    Column("primary_customer_id", Text, nullable=False),
    Column("co_borrower_ids", ARRAY(Text), nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

_OPEN = "state IN ('SUBMITTED', 'AWAITING_CONFIRMATION', 'APPROVED')"
assert {s.value for s in OPEN_STATES} == {"SUBMITTED", "AWAITING_CONFIRMATION", "APPROVED"}

RequestRow = Table(
    "requests",
    metadata,
    Column("request_id", Text, primary_key=True),
    Column("command_id", Text, nullable=False, unique=True),
    Column("loan_id", Text, nullable=False),
    Column("request_type", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("applicant_customer_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("staff_id", Text),
    Column("policy_version", Text, nullable=False),
    Column("deadline", Date, nullable=False),
    Column("details", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # SPEC §2: one open request per loan, enforced by the database under concurrency.
    Index("one_open_request_per_loan", "loan_id", unique=True, postgresql_where=text(_OPEN)),
)


class LoanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def upsert(self, loan: Loan) -> bool:
        """Stores `loan` unless a snapshot at least as new is already stored; True when it was applied."""
        values = _loan_values(loan)
        stmt = pg_insert(LoanRow).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[LoanRow.c.loan_id],
            set_={k: stmt.excluded[k] for k in values if k != "loan_id"},
            where=LoanRow.c.as_of < stmt.excluded.as_of,
        ).returning(LoanRow.c.loan_id)
        return (await self._session.execute(stmt)).first() is not None

    async def get(self, loan_id: str) -> Loan | None:
        row = (await self._session.execute(select(LoanRow).where(LoanRow.c.loan_id == loan_id))).first()
        if row is None:
            return None
        return Loan(**{**row._mapping, "co_borrower_ids": tuple(row.co_borrower_ids)})


class RequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def has_open(self, loan_id: str) -> bool:
        query = select(RequestRow.c.request_id).where(RequestRow.c.loan_id == loan_id, text(_OPEN)).limit(1)
        return (await self._session.execute(query)).first() is not None

    async def add(self, **values: Any) -> bool:
        """Inserts a request; False when its command was already applied or the loan has an open request."""
        stmt = pg_insert(RequestRow).values(**values).on_conflict_do_nothing().returning(RequestRow.c.request_id)
        return (await self._session.execute(stmt)).first() is not None

    async def get(self, request_id: str) -> dict[str, Any] | None:
        row = (await self._session.execute(select(RequestRow).where(RequestRow.c.request_id == request_id))).first()
        return dict(row._mapping) if row is not None else None


def _loan_values(loan: Loan) -> dict[str, Any]:
    return {
        "loan_id": loan.loan_id, "status": loan.status, "branch_id": loan.branch_id, "debit_day": loan.debit_day,
        "next_due_date": loan.next_due_date, "outstanding_principal": loan.outstanding_principal,
        "primary_customer_id": loan.primary_customer_id, "co_borrower_ids": list(loan.co_borrower_ids),
        "as_of": loan.as_of,
    }


