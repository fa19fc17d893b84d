"""HTTP API of the appointments service: free places per slot, so channels can show them."""

from datetime import date, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from services.appointments import domain
from services.appointments.repository import BranchRepository, CapacityRepository
from shared.http import id_path
from shared.runtime import Deps, runtime_deps
from shared.unit_of_work import UnitOfWork

router = APIRouter(tags=["availability"])
ACCESS = {  # endpoint -> the roles allowed to call it (shared.auth); every route must be listed
    "availability": frozenset({"branch-operator", "hotline", "supervisor", "auditor"}),
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
