"""Storage of the requests service (schema `requests`): loan projection, requests, audit trail, active policy.

Repositories read and write through the transaction's unit of work (shared.unit_of_work): they return domain
objects, look in its cache first, buffer their inserts and updates, keep the cache true after each write, and
never commit: the caller's transaction does. `prepare` preloads a batch's reads.
"""

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
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
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.requests.domain import (
    OPEN_STATES,
    DebitDayTerms,
    Loan,
    Policy,
    RepaymentTerms,
    Request,
    RequestType,
    State,
    Terms,
    Transition,
    due_dates_after,
)
from shared.contracts import confirmation as conf
from shared.contracts import loans as loan_contract
from shared.contracts import requests as contract
from shared.db import among, messaging_tables
from shared.envelope import CloudEvent
from shared.timers import cancel, schedule, timer_table
from shared.unit_of_work import UnitOfWork

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


# --- loans -------------------------------------------------------------------------------------------------------


def _loan(row: Any) -> Loan:
    values = row._mapping  # a row's attribute costs a failed lookup with its message formatted first (shared.outbox)
    return Loan(**{**values, "co_borrower_ids": tuple(values["co_borrower_ids"])})




class LoanRepository:
    """The loans as this service last saw them in `loans.snapshots` (cache space "loan", by loan id)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def get(self, loan_id: str) -> Loan | None:
        return await self._uow.load_one("loan", loan_id, self._fetch)

    async def get_many(self, loan_ids: Sequence[str]) -> dict[str, Loan | None]:
        return await self._uow.load("loan", loan_ids, self._fetch)

    async def _fetch(self, loan_ids: list[str]) -> dict[str, Loan]:
        rows = (await self._uow.execute(select(LoanRow).where(among(LoanRow.c.loan_id, loan_ids)))).all()
        return {loan.loan_id: loan for loan in map(_loan, rows)}

    async def save(self, loan: Loan) -> bool:
        """Stores `loan` unless a snapshot at least as new is already stored; True when it was applied."""
        values = {f.name: getattr(loan, f.name) for f in dataclasses.fields(loan)}
        values["co_borrower_ids"] = list(loan.co_borrower_ids)
        stmt = pg_insert(LoanRow).values(values)
        upsert = stmt.on_conflict_do_update(
            index_elements=[LoanRow.c.loan_id],
            set_={k: stmt.excluded[k] for k in values if k != "loan_id"},
            where=LoanRow.c.as_of < stmt.excluded.as_of,
        ).returning(LoanRow.c.loan_id)
        applied = (await self._uow.execute(upsert)).first() is not None
        if applied:
            self._uow.keep("loan", loan.loan_id, loan)
        else:  # a newer snapshot is stored (perhaps by another copy since we read): read it again if asked
            self._uow.forget("loan", loan.loan_id)
        return applied


# --- requests and their audit trail ------------------------------------------------------------------------------


def terms_document(terms: Terms) -> dict[str, Any]:
    """The terms as stored in `requests.details` (JSONB): dates as ISO days, money as decimal strings."""
    if isinstance(terms, DebitDayTerms):
        return {"current_debit_day": terms.current_debit_day, "new_debit_day": terms.new_debit_day,
                "current_due_date": terms.current_due_date.isoformat(),
                "new_due_date": terms.new_due_date.isoformat(),
                "next_due_dates": [d.isoformat() for d in terms.next_due_dates]}
    return {"repayment_type": terms.repayment_type, "amount": format(terms.amount, "f"),
            "requested_date": terms.requested_date.isoformat(),
            "principal_at_submission": format(terms.principal_at_submission, "f")}


def terms_of(request_type: RequestType, details: Mapping[str, Any], deadline: date) -> Terms:
    """The terms a stored `details` document holds. Debit-day rows of the first revision carry neither the current
    due date (it is the deadline) nor the preview of due dates (derived again from the new day)."""
    if request_type is RequestType.DEBIT_DAY_CHANGE:
        day, d1 = int(details["new_debit_day"]), date.fromisoformat(str(details["new_due_date"]))
        preview = details.get("next_due_dates")
        return DebitDayTerms(
            current_debit_day=int(details["current_debit_day"]), new_debit_day=day,
            current_due_date=date.fromisoformat(str(details.get("current_due_date", deadline.isoformat()))),
            new_due_date=d1,
            next_due_dates=tuple(date.fromisoformat(str(d)) for d in preview) if preview is not None
            else due_dates_after(d1, day, 3),
        )
    return RepaymentTerms(
        repayment_type=str(details["repayment_type"]), amount=Decimal(str(details["amount"])),
        requested_date=date.fromisoformat(str(details["requested_date"])),
        principal_at_submission=Decimal(str(details["principal_at_submission"])),
    )


def _request(row: Any) -> Request:
    request_type = RequestType(row.request_type)
    return Request(
        request_id=row.request_id, command_id=row.command_id, loan_id=row.loan_id, request_type=request_type,
        state=State(row.state), applicant_customer_id=row.applicant_customer_id, channel=row.channel,
        staff_id=row.staff_id, policy_version=row.policy_version, deadline=row.deadline,
        co_borrower_ids=tuple(row.co_borrower_ids), confirmed_by=frozenset(row.confirmed_by),
        terms=terms_of(request_type, row.details, row.deadline), branch_id=row.branch_id,
        confirmation_attempts=row.confirmation_attempts,
    )


_TRANSITION_FIELDS = dataclasses.fields(Transition)


class RequestRepository:
    """Requests (cache spaces "request" by request id, "open_request" by loan id) and their audit trail.

    Every read locks what it finds (FOR UPDATE): whoever reads a request here decides on it or changes it.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def get(self, request_id: str) -> Request | None:
        return await self._uow.load_one("request", request_id, self._fetch)

    async def get_many(self, request_ids: Sequence[str]) -> dict[str, Request | None]:
        return await self._uow.load("request", sorted(request_ids), self._fetch)

    async def _fetch(self, request_ids: list[str]) -> dict[str, Request]:
        query = select(RequestRow).where(among(RequestRow.c.request_id, request_ids)).with_for_update()
        return {r.request_id: _request(r) for r in (await self._uow.execute(query)).all()}

    async def open_for_loan(self, loan_id: str) -> Request | None:
        return await self._uow.load_one("open_request", loan_id, self._fetch_open)

    async def open_for_loans(self, loan_ids: Sequence[str]) -> dict[str, Request | None]:
        return await self._uow.load("open_request", sorted(loan_ids), self._fetch_open)

    async def _fetch_open(self, loan_ids: list[str]) -> dict[str, Request]:
        query = select(RequestRow).where(among(RequestRow.c.loan_id, loan_ids), text(OPEN_SQL)).with_for_update()
        found = {r.loan_id: _request(r) for r in (await self._uow.execute(query)).all()}
        for request in found.values():
            self._uow.keep("request", request.request_id, request)
        return found

    def add(self, request: Request, *, at: datetime) -> None:
        """Inserts a new request (COPY at flush). Another open request of its loan, stored meanwhile by another
        copy, conflicts at the flush (one_open_request_per_loan): the message is then redone on its own and
        reads that request. A second insert for one command conflicts on `command_id` (see RequestService)."""
        self._uow.add(RequestRow, {
            "request_id": request.request_id, "command_id": request.command_id, "loan_id": request.loan_id,
            "request_type": request.request_type.value, "state": request.state.value,
            "applicant_customer_id": request.applicant_customer_id, "channel": request.channel,
            "staff_id": request.staff_id, "policy_version": request.policy_version, "deadline": request.deadline,
            "co_borrower_ids": list(request.co_borrower_ids), "confirmed_by": sorted(request.confirmed_by),
            "details": json.dumps(terms_document(request.terms)),  # COPY takes JSONB as its text
            "created_at": at, "updated_at": at, "branch_id": request.branch_id,
            "confirmation_attempts": request.confirmation_attempts,
        })
        self._kept(request)

    def save_state(self, request: Request, *, at: datetime) -> None:
        """Stores the request's state and confirmations (UPDATE at flush)."""
        self._uow.update(RequestRow, {"request_id": request.request_id},
                         {"state": request.state.value, "confirmed_by": sorted(request.confirmed_by), "updated_at": at})
        self._kept(request)

    def _kept(self, request: Request) -> None:
        # A request is only ever created open and moved out of (or between) open states, and a loan has at most
        # one open request: so the loan's open request is this one while it is open, and none once it is closed.
        self._uow.keep("request", request.request_id, request)
        self._uow.keep("open_request", request.loan_id, request if request.is_open else None)

    def record(self, transition: Transition) -> None:
        """Appends an entry to the audit trail (SPEC §10: who, when, channel, policy, recording); COPY at flush."""
        # A shallow copy: dataclasses.asdict deep-copies every value (its datetimes' time zones included), which
        # cost nearly half of a submission's time in the benchmark.
        row = {f.name: getattr(transition, f.name) for f in _TRANSITION_FIELDS}
        row["from_state"] = transition.from_state.value if transition.from_state else None
        row["to_state"] = transition.to_state.value
        self._uow.add(TransitionRow, row)


class ExpiryRepository:
    """The durable timer that expires an undecided request when its deadline day begins (SPEC §2)."""

    KIND = "request-expiry"

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def schedule(self, request_id: str, at: datetime, *, correlationid: str | None) -> None:
        await schedule(self._uow, timers, self.KIND, request_id, at, {"correlationid": correlationid})

    async def cancel(self, request_id: str) -> None:
        await cancel(self._uow, timers, self.KIND, request_id)


# --- the policy in force ----------------------------------------------------------------------------------------


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
    """The policy in force, shared by every copy of the service; read once per transaction (cache space
    "policy")."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def active(self) -> Policy:
        policy = await self._uow.load_one("policy", 1, self._fetch)
        if policy is None:
            raise LookupError("no policy in force: the service seeds one at start")
        return policy

    async def _fetch(self, ids: list[int]) -> dict[int, Policy]:
        document = await self._uow.scalar(select(PolicyRow.c.document).where(PolicyRow.c.id == 1))
        return {1: Policy(**document)} if document is not None else {}

    async def put(self, policy: Policy, *, at: datetime, by: str, only_if_absent: bool = False) -> PolicySwitch | None:
        """Puts `policy` in force; returns the switch, or None when nothing changed (already in force, or
        `only_if_absent` and a policy is in force). Raises PolicyVersionConflict when the version name is
        already taken by another document."""
        document = policy_document(policy)
        digest = document_sha256(document)
        await self._register_version(policy.version, document, digest, at=at, by=by)
        current = (await self._uow.execute(
            select(PolicyRow.c.version).where(PolicyRow.c.id == 1).with_for_update())).scalar_one_or_none()
        if current is not None and (only_if_absent or current == policy.version):
            return None
        values = {"id": 1, "version": policy.version, "document": document, "changed_at": at, "changed_by": by}
        stmt = pg_insert(PolicyRow).values(values)
        await self._uow.execute(stmt.on_conflict_do_update(
            index_elements=[PolicyRow.c.id], set_={k: stmt.excluded[k] for k in values if k != "id"}))
        self._uow.add(PolicyHistoryRow, {"changed_at": at, "changed_by": by, "from_version": current,
                                         "to_version": policy.version, "document_sha256": digest})
        self._uow.keep("policy", 1, policy)
        return PolicySwitch(policy.version, document, digest, current, by, at)

    async def _register_version(self, version: str, document: dict[str, Any], digest: str, *, at: datetime,
                                by: str) -> None:
        stmt = pg_insert(PolicyVersionRow).values(version=version, document=document, document_sha256=digest,
                                                  first_seen_at=at, first_seen_by=by).on_conflict_do_nothing()
        await self._uow.execute(stmt)
        known = await self._uow.scalar(
            select(PolicyVersionRow.c.document_sha256).where(PolicyVersionRow.c.version == version))
        if known != digest:
            raise PolicyVersionConflict(
                f"policy version {version!r} already names another document (sha256 {known}); "
                "give the changed document a new version name")


# --- a batch's preload ------------------------------------------------------------------------------------------

_SUBMISSIONS = (contract.SubmitDebitDayChange, contract.SubmitEarlyRepayment)
_NAMING_A_REQUEST = (contract.WithdrawRequest, conf.CoBorrowerConfirmed, conf.CoBorrowerDeclined,
                     conf.CoBorrowerUnreachable)


async def prepare(uow: UnitOfWork, messages: Sequence[tuple[str, CloudEvent[Any]]]) -> None:
    """Loads, in at most three queries, what the batch's handlers will read: the loans its submissions name, the
    open requests (locked) of the loans its submissions and snapshots name, the requests (locked) its outcomes
    and withdrawals name. The handlers then find them in the unit of work's cache."""
    data = [event.data for _, event in messages]
    submitted = {d.loan_id for d in data if isinstance(d, _SUBMISSIONS)}
    snapshots = {d.loan_id for d in data if isinstance(d, loan_contract.LoanSnapshot)}
    named = {d.request_id for d in data if isinstance(d, _NAMING_A_REQUEST)}
    requests = RequestRepository(uow)
    if submitted:
        await LoanRepository(uow).get_many(sorted(submitted))
    if submitted | snapshots:
        await requests.open_for_loans(sorted(submitted | snapshots))
    if named:
        await requests.get_many(sorted(named))
