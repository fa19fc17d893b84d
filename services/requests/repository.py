"""Storage of the requests service (schema `requests`): loan projection, requests, audit trail, active policy.

Repositories map rows to domain objects and never commit: the caller's transaction does.
"""

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.requests.domain import (
    OPEN_STATES,
    Loan,
    Policy,
    Request,
    RequestType,
    State,
)
from shared.db import copy_rows, messaging_tables
from shared.timers import timer_table

SCHEMA = "requests"
metadata = MetaData(schema=SCHEMA)
inbox, outbox = messaging_tables(metadata)
timers = timer_table(metadata)

LoanRow = Table(
    "loans", metadata,
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

OPEN_SQL = "state IN ('SUBMITTED', 'AWAITING_CONFIRMATION', 'APPROVED')"
assert {s.value for s in OPEN_STATES} == {"SUBMITTED", "AWAITING_CONFIRMATION", "APPROVED"}

RequestRow = Table(
    "requests", metadata,
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
    Column("co_borrower_ids", ARRAY(Text), nullable=False),
    Column("confirmed_by", ARRAY(Text), nullable=False),
    Column("details", JSONB, nullable=False),  # the terms: days and dates, or amount and date
    Column("branch_id", Text, nullable=False, server_default=""),  # the loan's, when submitted
    Column("confirmation_attempts", Integer, nullable=False, server_default="3"),  # from the policy in force
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # SPEC §2: one open request per loan, enforced by the database under concurrency.
    Index("one_open_request_per_loan", "loan_id", unique=True, postgresql_where=text(OPEN_SQL)),
    Index("requests_by_state_and_deadline", "state", "deadline"),
)

TransitionRow = Table(
    "transitions", metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("request_id", Text, nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("from_state", Text),
    Column("to_state", Text, nullable=False),
    Column("actor", Text, nullable=False),  # customer, staff, agent id, or "system"
    Column("actor_kind", Text, nullable=False),  # CUSTOMER | STAFF | AGENT | SYSTEM | CORE_BANKING
    Column("channel", Text),
    Column("policy_version", Text, nullable=False),
    Column("recording_id", Text),
    Column("reason_code", Text),
    Column("event_id", Text),  # the message that caused it
    Column("verification_method", Text),  # staff submissions: RECORDED_CALL | FACE_TO_FACE (SPEC §5)
    Column("on_behalf_of", Text),  # staff submissions: the customer the staff member acted for
)

PolicyRow = Table(
    "policy", metadata,
    Column("id", Integer, primary_key=True),  # always 1: the policy in force
    Column("version", Text, nullable=False),
    Column("document", JSONB, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", Text, nullable=False),
)
# SPEC §9: versions are immutable (a name never means two documents) and every switch is kept.
PolicyVersionRow = Table(
    "policy_versions", metadata,
    Column("version", Text, primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("document_sha256", Text, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("first_seen_by", Text, nullable=False),
)
PolicyHistoryRow = Table(
    "policy_history", metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", Text, nullable=False),
    Column("from_version", Text),
    Column("to_version", Text, nullable=False),
    Column("document_sha256", Text, nullable=False),
)


class LoanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def upsert(self, loan: Loan) -> bool:
        """Stores `loan` unless a snapshot at least as new is already stored; True when it was applied."""
        values = {f.name: getattr(loan, f.name) for f in dataclasses.fields(loan)}
        values["co_borrower_ids"] = list(loan.co_borrower_ids)
        stmt = pg_insert(LoanRow).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[LoanRow.c.loan_id],
            set_={k: stmt.excluded[k] for k in values if k != "loan_id"},
            where=LoanRow.c.as_of < stmt.excluded.as_of,
        ).returning(LoanRow.c.loan_id)
        return (await self._session.execute(stmt)).first() is not None

    async def get(self, loan_id: str) -> Loan | None:
        return (await self.get_many([loan_id])).get(loan_id)

    async def get_many(self, loan_ids: Sequence[str]) -> dict[str, Loan]:
        rows = (await self._session.execute(select(LoanRow).where(LoanRow.c.loan_id.in_(loan_ids)))).all()
        return {r.loan_id: Loan(**{**r._mapping, "co_borrower_ids": tuple(r.co_borrower_ids)}) for r in rows}


def _request(row: Any) -> Request:
    return Request(
        request_id=row.request_id, command_id=row.command_id, loan_id=row.loan_id,
        request_type=RequestType(row.request_type), state=State(row.state),
        applicant_customer_id=row.applicant_customer_id, channel=row.channel, staff_id=row.staff_id,
        policy_version=row.policy_version, deadline=row.deadline, co_borrower_ids=tuple(row.co_borrower_ids),
        confirmed_by=frozenset(row.confirmed_by), terms=row.details, branch_id=row.branch_id,
        confirmation_attempts=row.confirmation_attempts,
    )


class RequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, request_id: str, *, for_update: bool = False) -> Request | None:
        query = select(RequestRow).where(RequestRow.c.request_id == request_id)
        row = (await self._session.execute(query.with_for_update() if for_update else query)).first()
        return _request(row) if row is not None else None

    async def open_for_loan(self, loan_id: str) -> Request | None:
        return (await self.open_for_loans([loan_id])).get(loan_id)

    async def open_for_loans(self, loan_ids: Sequence[str]) -> dict[str, Request]:
        query = select(RequestRow).where(RequestRow.c.loan_id.in_(loan_ids), text(OPEN_SQL)).with_for_update()
        return {r.loan_id: _request(r) for r in (await self._session.execute(query)).all()}

    async def existing(self, request_ids: Sequence[str]) -> set[str]:
        query = select(RequestRow.c.request_id).where(RequestRow.c.request_id.in_(request_ids))
        return set((await self._session.execute(query)).scalars())

    async def add(self, request: Request, *, at: datetime) -> bool:
        """Inserts a request; False when its command was already applied or the loan has an open request."""
        stmt = pg_insert(RequestRow).values(request_row(request, at=at)).on_conflict_do_nothing()
        return (await self._session.execute(stmt.returning(RequestRow.c.request_id))).first() is not None

    async def copy_in(self, rows: Sequence[dict[str, Any]]) -> None:
        """Inserts many new requests with COPY; a conflict fails the transaction (the caller redoes the batch)."""
        await copy_rows(self._session, RequestRow, [{**r, "details": json.dumps(r["details"])} for r in rows])

    async def save_state(self, request: Request, *, at: datetime) -> None:
        await self._session.execute(
            update(RequestRow).where(RequestRow.c.request_id == request.request_id)
            .values(state=request.state.value, confirmed_by=sorted(request.confirmed_by), updated_at=at)
        )

    async def record(self, rows: Sequence[dict[str, Any]]) -> None:
        """Appends entries to the audit trail (SPEC §10: who, when, channel, policy, recording)."""
        await copy_rows(self._session, TransitionRow, rows)

    async def history(self, request_id: str) -> Sequence[Any]:
        query = select(TransitionRow).where(TransitionRow.c.request_id == request_id).order_by(TransitionRow.c.id)
        return (await self._session.execute(query)).all()

    async def raw(self, request_id: str) -> Any:
        return (await self._session.execute(select(RequestRow).where(RequestRow.c.request_id == request_id))).first()

    async def of_loan(self, loan_id: str, *, limit: int, after: tuple[datetime, str] | None = None) -> Sequence[Any]:
        """A loan's requests, oldest first, from just after the key `after` (created_at, request_id)."""
        key = (RequestRow.c.created_at, RequestRow.c.request_id)
        query = select(RequestRow).where(RequestRow.c.loan_id == loan_id)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return (await self._session.execute(query.order_by(*key).limit(limit))).all()

    async def listing(self, *, states: Sequence[str], deadline_before: date | None, limit: int,
                      after: tuple[date, datetime, str] | None = None) -> Sequence[Any]:
        """Requests in `states`, earliest deadline first, from just after the key `after` (deadline, created_at,
        request_id)."""
        key = (RequestRow.c.deadline, RequestRow.c.created_at, RequestRow.c.request_id)
        query = select(RequestRow).where(RequestRow.c.state.in_(states))
        if deadline_before is not None:
            query = query.where(RequestRow.c.deadline < deadline_before)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return (await self._session.execute(query.order_by(*key).limit(limit))).all()


def request_row(request: Request, *, at: datetime) -> dict[str, Any]:
    return {
        "request_id": request.request_id, "command_id": request.command_id, "loan_id": request.loan_id,
        "request_type": request.request_type.value, "state": request.state.value,
        "applicant_customer_id": request.applicant_customer_id, "channel": request.channel,
        "staff_id": request.staff_id, "policy_version": request.policy_version, "deadline": request.deadline,
        "co_borrower_ids": list(request.co_borrower_ids), "confirmed_by": sorted(request.confirmed_by),
        "details": dict(request.terms), "created_at": at, "updated_at": at, "branch_id": request.branch_id,
        "confirmation_attempts": request.confirmation_attempts,
    }


def transition_row(request: Request, *, at: datetime, from_state: State | None, actor: str, actor_kind: str,
                   channel: str | None = None, recording_id: str | None = None, reason_code: str | None = None,
                   event_id: str | None = None, verification_method: str | None = None,
                   on_behalf_of: str | None = None) -> dict[str, Any]:
    return {
        "request_id": request.request_id, "at": at, "from_state": from_state.value if from_state else None,
        "to_state": request.state.value, "actor": actor, "actor_kind": actor_kind, "channel": channel,
        "policy_version": request.policy_version, "recording_id": recording_id, "reason_code": reason_code,
        "event_id": event_id, "verification_method": verification_method, "on_behalf_of": on_behalf_of,
    }


@dataclass(frozen=True)
class PolicySwitch:
    """One switch of the policy in force (SPEC §9), as it is kept in the history and published."""

    version: str
    document: dict[str, Any]
    document_sha256: str
    previous_version: str | None
    changed_by: str
    changed_at: datetime


class PolicyVersionConflict(ValueError):
    """A version name that already names another document (versions are immutable)."""


def policy_document(policy: Policy) -> dict[str, Any]:
    return dataclasses.asdict(policy)


def document_sha256(document: dict[str, Any]) -> str:
    """The hash of a policy document in canonical JSON (sorted keys, no spaces), so equal documents hash equal."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class PolicyRepository:
    """The policy in force, shared by every copy of the service; read once per transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def active(self) -> Policy:
        cached = self._session.info.get("policy")
        if cached is None:
            document = await self._session.scalar(select(PolicyRow.c.document).where(PolicyRow.c.id == 1))
            if document is None:
                raise LookupError("no policy in force: the service seeds one at start")
            cached = self._session.info["policy"] = Policy(**document)
        return cached  # type: ignore[no-any-return]

    async def put(self, policy: Policy, *, at: datetime, by: str, only_if_absent: bool = False) -> PolicySwitch | None:
        """Puts `policy` in force; returns the switch, or None when nothing changed (already in force, or
        `only_if_absent` and a policy is in force). Raises PolicyVersionConflict when the version name is
        already taken by another document."""
        document = policy_document(policy)
        digest = document_sha256(document)
        await self._register_version(policy.version, document, digest, at=at, by=by)
        current = (await self._session.execute(
            select(PolicyRow.c.version).where(PolicyRow.c.id == 1).with_for_update())).scalar_one_or_none()
        if current is not None and (only_if_absent or current == policy.version):
            return None
        values = {"id": 1, "version": policy.version, "document": document, "changed_at": at, "changed_by": by}
        stmt = pg_insert(PolicyRow).values(values)
        await self._session.execute(stmt.on_conflict_do_update(
            index_elements=[PolicyRow.c.id], set_={k: stmt.excluded[k] for k in values if k != "id"}))
        await self._session.execute(PolicyHistoryRow.insert().values(
            changed_at=at, changed_by=by, from_version=current, to_version=policy.version, document_sha256=digest))
        self._session.info.pop("policy", None)
        return PolicySwitch(policy.version, document, digest, current, by, at)

    async def _register_version(self, version: str, document: dict[str, Any], digest: str, *, at: datetime,
                                by: str) -> None:
        stmt = pg_insert(PolicyVersionRow).values(version=version, document=document, document_sha256=digest,
                                                  first_seen_at=at, first_seen_by=by).on_conflict_do_nothing()
        await self._session.execute(stmt)
        known = await self._session.scalar(
            select(PolicyVersionRow.c.document_sha256).where(PolicyVersionRow.c.version == version))
        if known != digest:
            raise PolicyVersionConflict(
                f"policy version {version!r} already names another document (sha256 {known}); "
                "give the changed document a new version name")

    async def describe(self) -> Any:
        return (await self._session.execute(select(PolicyRow).where(PolicyRow.c.id == 1))).first()

    async def history(self, *, limit: int, before_id: int | None = None) -> Sequence[Any]:
        query = select(PolicyHistoryRow).order_by(PolicyHistoryRow.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(PolicyHistoryRow.c.id < before_id)
        return (await self._session.execute(query)).all()

    async def version(self, version: str) -> Any:
        query = select(PolicyVersionRow).where(PolicyVersionRow.c.version == version)
        return (await self._session.execute(query)).first()
