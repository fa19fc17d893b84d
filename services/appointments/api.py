"""HTTP API of the appointments service: free places per slot, so channels can show them; and the branch staff's
actions (plans, date overrides, check-in at the counter) as the signed-in operator."""

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter

from services.appointments import domain
from services.appointments.handlers import handle_check_in, handle_set_branch_plan, handle_set_date_override
from services.appointments.repository import BookingRepository, BranchRepository, CapacityRepository
from shared import staff_commands
from shared.auth import SignedIn
from shared.contracts import appointments as contract
from shared.http import Cursor, Identifier, Limit, Page, decode_cursor, id_path, next_cursor
from shared.runtime import Deps, runtime_deps
from shared.staff_commands import CommandAnswer
from shared.unit_of_work import UnitOfWork

router = APIRouter(tags=["availability"])
ACCESS = {  # endpoint -> the roles allowed to call it (shared.auth); every route must be listed
    "availability": frozenset({"branch-operator", "hotline", "supervisor", "auditor"}),
    "set_plan": frozenset({"branch-operator", "supervisor"}),
    "set_override": frozenset({"branch-operator", "supervisor"}),
    "check_in": frozenset({"branch-operator"}),
    "branches": frozenset({"branch-operator", "supervisor", "hotline", "auditor"}),
    "branch_plan": frozenset({"branch-operator", "supervisor", "auditor"}),
    "bookings_of_day": frozenset({"branch-operator", "supervisor", "auditor"}),
}
DepsDep = Annotated[Deps, Depends(runtime_deps)]
MAX_RANGE_DAYS = 31


class SlotView(BaseModel):
    start_time: time
    end_time: time
    capacity: int
    booked: int
    free: int


class DayView(BaseModel):
    date: date
    closed: bool
    daily_cap: int
    booked: int
    free: int
    slots: list[SlotView]


class Availability(BaseModel):
    branch_id: str
    name: str
    address: str
    timezone: str
    days: list[DayView]


@router.get("/branches/{branch_id}/availability", summary="Free places per slot for a date range (at most 31 days)",
            description="422 when a date is not valid, or 'to' is before 'from' or more than 31 days after it.")
async def availability(
    branch_id: Annotated[str, id_path("The branch's id.")], deps: DepsDep,
    start: Annotated[date, Query(alias="from", description="First day (ISO date).")],
    end: Annotated[date, Query(alias="to", description="Last day (ISO date), at most 31 days after 'from'.")],
) -> Availability:
    if not 0 <= (end - start).days <= MAX_RANGE_DAYS:  # a difference, so no date near 9999-12-31 overflows
        raise HTTPException(422, f"'to' must be on or after 'from', at most {MAX_RANGE_DAYS} days later")
    async with deps.sessions() as session:
        uow = UnitOfWork(session)
        branches, capacity = BranchRepository(uow), CapacityRepository(uow)
        plan = await branches.plan(branch_id)
        if plan is None:
            raise HTTPException(404, f"branch {branch_id} is not known")
        overrides = await branches.overrides(branch_id, start, end)
        by_slot = await capacity.booked_by_slot(branch_id, start, end)
        by_day = await capacity.booked_by_day(branch_id, start, end)
    days = []
    for on in (start + timedelta(days=n) for n in range((end - start).days + 1)):
        day = domain.day_of(plan, overrides.get(on), on)
        booked = by_slot.get(on, {})
        day_booked = by_day.get(on, 0)
        day_free = max(day.daily_cap - day_booked, 0) if not day.closed else 0
        slots = [SlotView(start_time=s.start, end_time=s.end, capacity=s.capacity, booked=booked.get(s.start, 0),
                          free=min(max(s.capacity - booked.get(s.start, 0), 0), day_free)) for s in day.slots]
        days.append(DayView(date=on, closed=day.closed, daily_cap=day.daily_cap, booked=day_booked, free=day_free,
                            slots=slots if not day.closed else []))
    return Availability(branch_id=plan.branch_id, name=plan.name, address=plan.address, timezone=plan.timezone,
                        days=days)


BranchId = Annotated[str, id_path("The branch's id.")]
REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "Refused (CommandRejected or BookingRejected, with reason_code and facts)"}}


class PlanBody(BaseModel):
    """SetBranchPlan's terms (the branch is the path's)."""

    name: str
    address: str
    timezone: str
    slot_minutes: int = Field(gt=0, le=240)
    daily_cap: int = Field(ge=0)
    booking_window_days: int = Field(default=14, ge=1, le=366)
    weekly: dict[contract.Weekday, list[contract.Window]]


class OverrideBody(BaseModel):
    """SetDateOverride's terms (the branch and day are the path's)."""

    closed: bool = False
    windows: list[contract.Window] | None = None
    daily_cap: int | None = Field(default=None, ge=0)


class BranchView(BaseModel):
    branch_id: str
    name: str
    address: str
    timezone: str


class OverrideView(OverrideBody):
    date: date


class PlanView(PlanBody):
    """The plan as the branch desk edits it (the body of PUT /branches/{id}/plan), and the date overrides."""

    branch_id: str
    today: date = Field(description="The service's today at the branch (its timezone): overrides from it on.")
    overrides: list[OverrideView] = Field(description="Every date override from `today` on, by date.")


class BookingView(BaseModel):
    """An active booking as the branch desk lists it: no booking code (it opens the check-in) and no note."""

    booking_id: str
    customer_id: str
    start_time: contract.ClockTime
    end_time: contract.ClockTime
    service_type: str
    state: str
    ticket_number: str | None
    created_at: datetime


BY_SLOT = TypeAdapter(tuple[time, AwareDatetime, Identifier])  # cursor of GET /branches/{id}/bookings


def _windows(windows: Sequence[domain.Window]) -> list[contract.Window]:
    return [contract.Window(start=w.start, end=w.end, capacity_per_slot=w.capacity_per_slot) for w in windows]


class CheckInBody(BaseModel):
    booking_code: Identifier = Field(description="The code on the customer's booking.")
    customer_id: Identifier | None = Field(None, description="Who stands at the counter, when the operator knows: "
                                                               "the booking must then be theirs.")


@router.get("/branches", tags=["branch staff"], summary="Every branch: id, name, address and timezone")
async def branches(deps: DepsDep) -> list[BranchView]:
    async with deps.sessions() as session:
        plans = await BranchRepository(UnitOfWork(session)).every_plan()
    return [BranchView(branch_id=p.branch_id, name=p.name, address=p.address, timezone=p.timezone) for p in plans]


@router.get("/branches/{branch_id}/plan", tags=["branch staff"], responses={404: {"description": "No such branch"}},
            summary="The branch's weekly plan, slot length, daily cap, booking window and date overrides from today")
async def branch_plan(branch_id: BranchId, deps: DepsDep) -> PlanView:
    async with deps.sessions() as session:
        branches = BranchRepository(UnitOfWork(session))
        plan = await branches.plan(branch_id)
        if plan is None:
            raise HTTPException(404, f"branch {branch_id} is not known")
        today = domain.local_today(deps.clock.now(), plan.timezone)
        overrides = await branches.overrides(branch_id, today, date.max)
    return PlanView(
        branch_id=plan.branch_id, name=plan.name, address=plan.address, timezone=plan.timezone,
        slot_minutes=plan.slot_minutes, daily_cap=plan.daily_cap, booking_window_days=plan.booking_window_days,
        weekly={contract.Weekday(d): _windows(ws) for d, ws in plan.weekly.items()}, today=today,
        overrides=[OverrideView(date=on, closed=o.closed, daily_cap=o.daily_cap,
                                windows=_windows(o.windows) if o.windows is not None else None)
                   for on, o in sorted(overrides.items())])


@router.get("/branches/{branch_id}/bookings", tags=["branch staff"], responses={404: {"description": "No such branch"}},
            summary="A day's active bookings by slot, in the order they were made (then by id), by pages",
            description="What a plan change left over capacity (BranchPlanChanged names the slots and days) is the "
                        "last bookings of those slots.")
async def bookings_of_day(
    branch_id: BranchId, deps: DepsDep, on: Annotated[date, Query(alias="date", description="The day (ISO date).")],
    limit: Limit = 100, cursor: Cursor = None,
) -> Page[BookingView]:
    after = decode_cursor(cursor, BY_SLOT)
    async with deps.sessions() as session:
        uow = UnitOfWork(session)
        if await BranchRepository(uow).plan(branch_id) is None:
            raise HTTPException(404, f"branch {branch_id} is not known")
        found = await BookingRepository(uow).active_on(branch_id, on, limit=limit + 1, after=after)
    items = [BookingView(**{k: getattr(b, k) for k in BookingView.model_fields if k != "state"}, state=b.state.value)
             for b in found[:limit]]
    return Page[BookingView](items=items, next_cursor=next_cursor(
        found, limit, lambda b: (b.start_time, b.created_at, b.booking_id)))


@router.put("/branches/{branch_id}/plan", tags=["branch staff"], response_model=CommandAnswer, responses=REFUSED,
            summary="Set the branch's weekly plan and daily cap, as the signed-in operator (SetBranchPlan)")
async def set_plan(branch_id: BranchId, body: PlanBody, deps: DepsDep, user: SignedIn) -> CommandAnswer:
    return await staff_commands.answer(deps, handle_set_branch_plan, branch_id, lambda: contract.SetBranchPlan(
        command_id=staff_commands.command_id(), branch_id=branch_id, **body.model_dump()), by=user)


@router.put("/branches/{branch_id}/overrides/{day}", tags=["branch staff"], response_model=CommandAnswer,
            responses=REFUSED, summary="Close a day or change its windows or cap, as the signed-in operator "
                                       "(SetDateOverride)")
async def set_override(branch_id: BranchId, day: date, body: OverrideBody, deps: DepsDep,
                       user: SignedIn) -> CommandAnswer:
    return await staff_commands.answer(deps, handle_set_date_override, branch_id, lambda: contract.SetDateOverride(
        command_id=staff_commands.command_id(), branch_id=branch_id, date=day, **body.model_dump()), by=user)


@router.post("/branches/{branch_id}/check-ins", tags=["branch staff"], response_model=CommandAnswer,
             responses=REFUSED, summary="Check a booked customer in at the counter (CheckIn): a priority ticket",
             description="Bound to the booking and throttled per branch as CheckIn on appointments.commands.")
async def check_in(branch_id: BranchId, body: CheckInBody, deps: DepsDep, user: SignedIn) -> CommandAnswer:
    return await staff_commands.answer(deps, handle_check_in, branch_id, lambda: contract.CheckIn(
        command_id=staff_commands.command_id(), branch_id=branch_id, booking_code=body.booking_code,
        at=deps.clock.now(), customer_id=body.customer_id), refusals=("CommandRejected", "BookingRejected"), by=user)
