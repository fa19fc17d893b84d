"""HTTP API of the appointments service: free places per slot, so channels can show them."""

from datetime import date, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from services.appointments import domain
from services.appointments.repository import Store
from shared.runtime import Deps, runtime_deps

router = APIRouter(tags=["availability"])
DepsDep = Annotated[Deps, Depends(runtime_deps)]


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


@router.get("/branches/{branch_id}/availability", summary="Free places per slot for a date range (at most 31 days)")
async def availability(
    branch_id: str, deps: DepsDep,
    start: Annotated[date, Query(alias="from")], end: Annotated[date, Query(alias="to")],
) -> Availability:
    if not start <= end <= start + timedelta(days=31):
        raise HTTPException(422, "'to' must be on or after 'from', at most 31 days later")
    async with deps.sessions() as session:
        store = Store(session)
        plan = await store.plan(branch_id)
        if plan is None:
            raise HTTPException(404, f"branch {branch_id} is not known")
        overrides = await store.overrides(branch_id, start, end)
        by_slot = await store.booked_by_slot(branch_id, start, end)
        by_day = await store.booked_by_day(branch_id, start, end)
    days = []
    on = start
    while on <= end:
        day = domain.day_of(plan, overrides.get(on), on)
        booked = by_slot.get(on, {})
        day_booked = by_day.get(on, 0)
        day_free = max(day.daily_cap - day_booked, 0) if not day.closed else 0
        slots = [SlotView(start_time=s.start, end_time=s.end, capacity=s.capacity, booked=booked.get(s.start, 0),
                          free=min(max(s.capacity - booked.get(s.start, 0), 0), day_free)) for s in day.slots]
        days.append(DayView(date=on, closed=day.closed, daily_cap=day.daily_cap, booked=day_booked, free=day_free,
                            slots=slots if not day.closed else []))
        on += timedelta(days=1)
    return Availability(branch_id=plan.branch_id, name=plan.name, address=plan.address, timezone=plan.timezone,
                        days=days)
