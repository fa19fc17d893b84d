"""HTTP API of the appointments service: free places per slot, so channels can show them; and the branch staff's
actions (plans, date overrides, check-in at the counter) as the signed-in operator."""

from datetime import date, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from services.appointments import domain
from services.appointments.handlers import handle_check_in, handle_set_branch_plan, handle_set_date_override
from services.appointments.repository import BranchRepository, CapacityRepository
from shared import staff_commands
from shared.auth import SignedIn
from shared.contracts import appointments as contract
from shared.http import Identifier, id_path
from shared.runtime import Deps, runtime_deps
from shared.staff_commands import CommandAnswer
from shared.unit_of_work import UnitOfWork

router = APIRouter(tags=["availability"])
ACCESS = {  # endpoint -> the roles allowed to call it (shared.auth); every route must be listed
    "availability": frozenset({"branch-operator", "hotline", "supervisor", "auditor"}),
    "set_plan": frozenset({"branch-operator", "supervisor"}),
    "set_override": frozenset({"branch-operator", "supervisor"}),
    "check_in": frozenset({"branch-operator"}),
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


class CheckInBody(BaseModel):
    booking_code: Identifier = Field(description="The code on the customer's booking.")
    customer_id: Identifier | None = Field(None, description="Who stands at the counter, when the operator knows: "
                                                               "the booking must then be theirs.")


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
