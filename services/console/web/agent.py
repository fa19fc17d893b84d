"""Agent desk (agent): take the next call task (earliest deadline first), see the co-borrower to call (name and
phone only while holding the task), record the outcome (a recording's reference for confirmed and declined),
renew the hold; the day's tasks. The confirmation service dispatches and decides; this page only asks it."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.console.web.apis import Refused, seg
from services.console.web.forms import fields, invalid_fields
from services.console.web.pages import FormStaff, PageStaff, console_of, render

router = APIRouter(include_in_schema=False)
AGENT = frozenset({"agent"})
ROLES = {"agent_desk": AGENT, "take_next_task": AGENT, "record_outcome": AGENT, "renew_hold": AGENT}
OUTCOMES = ("CONFIRMED", "DECLINED", "NO_ANSWER", "WRONG_NUMBER")


async def _page(request: Request, staff: Any, **extra: Any) -> HTMLResponse:
    mine = await console_of(request).apis.json(staff, "GET", "confirmation", "/tasks/mine")
    return render(request, "agent.html", staff, mine=mine, outcomes=OUTCOMES, **extra)


@router.get("/agent", response_class=HTMLResponse)
async def agent_desk(request: Request, staff: PageStaff) -> HTMLResponse:
    return await _page(request, staff)


@router.post("/agent/next", response_class=HTMLResponse)
async def take_next_task(request: Request, staff: FormStaff) -> HTMLResponse:
    try:
        taken = await console_of(request).apis.json(staff, "POST", "confirmation", "/tasks/next")
    except Refused as refused:
        return await _page(request, staff, refused=refused, busy=refused.status == 429)
    return await _page(request, staff, taken=taken, nothing=taken is None)


@router.post("/agent/tasks/{task_id}/outcome", response_class=HTMLResponse)
async def record_outcome(request: Request, task_id: str, staff: FormStaff) -> HTMLResponse:
    form = await request.form()
    try:
        await console_of(request).apis.json(staff, "POST", "confirmation", f"/tasks/{seg(task_id)}/outcome",
                                            json=fields(form, ("outcome", "recording_id", "note")))
    except Refused as refused:
        if refused.status == 422:
            return await _page(request, staff, invalid=invalid_fields(refused.detail), task_id=task_id)
        return await _page(request, staff, refused=refused, task_id=task_id)
    return await _page(request, staff, recorded=task_id)


@router.post("/agent/tasks/{task_id}/renew", response_class=HTMLResponse)
async def renew_hold(request: Request, task_id: str, staff: FormStaff) -> HTMLResponse:
    try:
        renewed = await console_of(request).apis.json(staff, "POST", "confirmation", f"/tasks/{seg(task_id)}/renew")
    except Refused as refused:
        return await _page(request, staff, refused=refused, task_id=task_id)
    return await _page(request, staff, renewed=renewed)
