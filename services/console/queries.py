"""The console's questions to its read models (services.console.readmodel): the supervisor's dashboard, the branch
desk's bookings left over capacity, the paper desk's list. Read-only; every answer is a frozen dataclass.

Days are the bank's (Asia/Shanghai) days of the service's clock `now`, as everywhere in postloan (SPEC §4).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from services.console.readmodel import (
    OUTSTANDING_PAPER,
    BookingView,
    BranchDayCap,
    DeadLetterCount,
    PaperView,
    PolicyVersion,
    RequestView,
    TaskView,
)

BANK_TZ = ZoneInfo("Asia/Shanghai")
NEAREST_TASKS = 50
BOOKING_DAYS = 7
AGE_BUCKETS = ("0-7", "8-30", ">30")  # days a paper signature has been owed
Db = AsyncConnection | AsyncSession


@dataclass(frozen=True)
class RequestCount:
    state: str
    channel: str | None  # None: a submission refused before a request existed (the refusal names no channel)
    count: int


@dataclass(frozen=True)
class DueCount:
    due_by: date | None
    count: int


@dataclass(frozen=True)
class OpenTask:
    task_id: str
    request_id: str
    loan_id: str | None
    customer_id: str | None
    due_by: date | None
    attempt: int | None
    near: bool  # due today or tomorrow (or overdue): within one bank day of `now`


@dataclass(frozen=True)
class Backlog:
    by_due_date: list[DueCount]
    nearest: list[OpenTask]


@dataclass(frozen=True)
class PaperAge:
    branch_id: str | None
    bucket: str  # one of AGE_BUCKETS
    count: int


@dataclass(frozen=True)
class BranchDay:
    branch_id: str
    date: date
    booked: int
    daily_cap: int | None  # None: no plan change named this day's cap (BranchPlanChanged.daily_caps)
    closed: bool = False  # the branch takes no booking that day (its cap is 0)


@dataclass(frozen=True)
class DeadLetters:
    topic: str
    count: int
    updated_at: datetime


@dataclass(frozen=True)
class PolicyRecord:
    version: str
    previous_version: str | None
    changed_by: str
    changed_at: datetime
    document_sha256: str


@dataclass(frozen=True)
class Policies:
    in_force: PolicyRecord | None
    document: dict[str, Any] | None  # the document of the policy in force
    history: list[PolicyRecord]  # newest first


@dataclass(frozen=True)
class Dashboard:
    day: date
    requests_today: list[RequestCount]
    approvals_by_hour: list[int]  # 24 buckets, bank hours 0..23 of `day`
    backlog: Backlog
    paper_owed: list[PaperAge]
    bookings: list[BranchDay]
    dead_letters: list[DeadLetters]
    policy: Policies


def bank_day(now: datetime) -> date:
    return now.astimezone(BANK_TZ).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The instants a bank day starts and ends (the next one starts)."""
    return datetime.combine(day, time(0), BANK_TZ), datetime.combine(day + timedelta(days=1), time(0), BANK_TZ)


async def _rows(db: Db, query: Select[Any]) -> list[Any]:
    return list((await db.execute(query)).all())


async def requests_today(db: Db, now: datetime) -> list[RequestCount]:
    """Requests submitted on the bank day of `now`, counted by their state now and their channel."""
    start, end = day_bounds(bank_day(now))
    v = RequestView.c
    rows = await _rows(db, select(v.state, v.channel, func.count()).where(v.submitted_at >= start, v.submitted_at < end)
                       .group_by(v.state, v.channel).order_by(v.state, v.channel))
    return [RequestCount(state, channel, n) for state, channel, n in rows]


async def approvals_by_hour(db: Db, now: datetime) -> list[int]:
    """Approvals of the bank day of `now` in 24 buckets of bank hours."""
    start, end = day_bounds(bank_day(now))
    hour: ColumnElement[Any] = func.extract("hour", func.timezone(BANK_TZ.key, RequestView.c.approved_at))
    rows = await _rows(db, select(hour, func.count()).where(RequestView.c.approved_at >= start,
                                                            RequestView.c.approved_at < end).group_by(hour))
    buckets = [0] * 24
    for h, n in rows:
        buckets[int(h)] = n
    return buckets


async def backlog(db: Db, now: datetime, nearest: int = NEAREST_TASKS) -> Backlog:
    """Open call tasks: how many are due on each date, and the `nearest` (50) by deadline; a task is `near` when
    it is due within one bank day of `now` (today, tomorrow, or already overdue)."""
    t = TaskView.c
    open_ = t.state == "OPEN"
    by_date = await _rows(db, select(t.due_by, func.count()).where(open_).group_by(t.due_by).order_by(t.due_by))
    tomorrow = bank_day(now) + timedelta(days=1)
    first = await _rows(db, select(t.task_id, t.request_id, t.loan_id, t.customer_id, t.due_by, t.attempt)
                        .where(open_).order_by(t.due_by, t.task_id).limit(nearest))
    return Backlog([DueCount(d, n) for d, n in by_date],
                   [_open_task(row, tomorrow) for row in first])


def _open_task(row: Any, tomorrow: date) -> OpenTask:
    near = row.due_by is not None and row.due_by <= tomorrow
    return OpenTask(row.task_id, row.request_id, row.loan_id, row.customer_id, row.due_by, row.attempt, near)


async def paper_by_age(db: Db, now: datetime) -> list[PaperAge]:
    """Paper signatures still owed (owed or in transit), by branch and age bucket (bank days since owed)."""
    p = PaperView.c
    today = bank_day(now)
    # Compared as instants (the bank midnights 7 and 30 days back), not as a per-row time-zone conversion: the
    # outstanding rows are then read straight off their index. A debt whose owed event has not arrived yet (its
    # documents are already in transit) counts as new.
    within_7, within_30 = day_bounds(today - timedelta(days=7))[0], day_bounds(today - timedelta(days=30))[0]
    bucket = case((p.owed_since.is_(None), AGE_BUCKETS[0]), (p.owed_since >= within_7, AGE_BUCKETS[0]),
                  (p.owed_since >= within_30, AGE_BUCKETS[1]), else_=AGE_BUCKETS[2])
    rows = await _rows(db, select(p.branch_id, bucket, func.count()).where(p.state.in_(OUTSTANDING_PAPER))
                       .group_by(p.branch_id, bucket).order_by(p.branch_id, bucket))
    return [PaperAge(branch, b, n) for branch, b, n in rows]


async def bookings_vs_cap(db: Db, now: datetime, days: int = BOOKING_DAYS) -> list[BranchDay]:
    """Bookings holding a place (booked, checked in, no-show: all but cancelled) per branch per day for the
    `days` (7) bank days from today, with the day's cap when known; a day with a known cap and no booking is
    listed too (0 of its cap)."""
    b, c = BookingView.c, BranchDayCap.c
    first = bank_day(now)
    last = first + timedelta(days=days)
    counted = (select(b.branch_id, b.date, func.count().label("booked"))
               .where(b.state != "CANCELLED", b.date >= first, b.date < last)
               .group_by(b.branch_id, b.date).subquery())
    caps = select(c.branch_id, c.date, c.daily_cap, c.closed).where(c.date >= first, c.date < last).subquery()
    branch, day = func.coalesce(counted.c.branch_id, caps.c.branch_id), func.coalesce(counted.c.date, caps.c.date)
    joined = counted.join(caps, and_(caps.c.branch_id == counted.c.branch_id, caps.c.date == counted.c.date),
                          full=True)
    rows = await _rows(db, select(branch, day, func.coalesce(counted.c.booked, 0), caps.c.daily_cap,
                                  func.coalesce(caps.c.closed, False)).select_from(joined).order_by(branch, day))
    return [BranchDay(*row) for row in rows]


async def dead_letters(db: Db) -> list[DeadLetters]:
    d = DeadLetterCount.c
    return [DeadLetters(*row) for row in await _rows(db, select(d.topic, d.count, d.updated_at).order_by(d.topic))]


async def policies(db: Db) -> Policies:
    """The policy in force (the newest put in force) with its document, and every version, newest first."""
    p = PolicyVersion.c
    rows = await _rows(db, select(p.version, p.previous_version, p.changed_by, p.changed_at, p.document_sha256)
                       .order_by(p.changed_at.desc(), p.version.desc()))
    history = [PolicyRecord(*row) for row in rows]
    if not history:
        return Policies(None, None, [])
    document = (await db.execute(select(p.document).where(p.version == history[0].version))).scalar_one()
    return Policies(history[0], document, history)


async def dashboard(db: Db, now: datetime) -> Dashboard:
    """Everything the supervisor's dashboard shows, as of `now` (the service's clock)."""
    return Dashboard(
        day=bank_day(now), requests_today=await requests_today(db, now),
        approvals_by_hour=await approvals_by_hour(db, now), backlog=await backlog(db, now),
        paper_owed=await paper_by_age(db, now), bookings=await bookings_vs_cap(db, now),
        dead_letters=await dead_letters(db), policy=await policies(db))


@dataclass(frozen=True)
class SlotBooking:
    booking_id: str
    date: date
    start_time: time
    end_time: time | None
    customer_id: str | None
    service_type: str | None


async def bookings_in_slots(db: Db, branch_id: str, slots: Sequence[tuple[date, time]]) -> list[SlotBooking]:
    """The bookings still booked at `branch_id` in the listed (date, start_time) slots: the branch desk's list of
    customers a plan change left over capacity (`BranchPlanChanged.over_capacity`, kept in `console.branches`)."""
    if not slots:
        return []
    b = BookingView.c
    rows = await _rows(db, select(b.booking_id, b.date, b.start_time, b.end_time, b.customer_id, b.service_type)
                       .where(b.branch_id == branch_id, b.state == "BOOKED", tuple_(b.date, b.start_time).in_(slots))
                       .order_by(b.date, b.start_time, b.booking_id))
    return [SlotBooking(*row) for row in rows]


@dataclass(frozen=True)
class OwedPaper:
    request_id: str
    customer_id: str
    loan_id: str | None
    branch_id: str | None
    reason: str | None
    state: str  # OWED or IN_TRANSIT
    owed_since: datetime | None
    courier: str | None
    age_days: int | None  # bank days since owed


async def paper_owed(db: Db, now: datetime, branch_id: str | None = None, limit: int = 100) -> list[OwedPaper]:
    """Paper signatures still owed, oldest first (of one branch, or all). For a live list beside the dashboard;
    the confirmation service's /paper/owed stays the authority (paged, CSV) before acting on one."""
    p = PaperView.c
    query = select(p.request_id, p.customer_id, p.loan_id, p.branch_id, p.reason, p.state, p.owed_since,
                   p.courier).where(p.state.in_(OUTSTANDING_PAPER))
    if branch_id is not None:
        query = query.where(p.branch_id == branch_id)
    rows = await _rows(db, query.order_by(p.owed_since.asc().nulls_last(), p.request_id, p.customer_id).limit(limit))
    today = bank_day(now)
    return [_owed(row, today) for row in rows]


def _owed(row: Any, today: date) -> OwedPaper:
    age = (today - bank_day(row.owed_since)).days if row.owed_since else None
    return OwedPaper(row.request_id, row.customer_id, row.loan_id, row.branch_id, row.reason, row.state,
                     row.owed_since, row.courier, age)
