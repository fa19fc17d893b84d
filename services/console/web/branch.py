"""Branch desk (branch-operator): the weekly plan and date overrides, with live slot use for the next 14 days and
a warning that lists the bookings a change left over capacity; check-in by booking code, issuing a printable
priority ticket. The appointments service decides; this page asks it, and lists bookings from the read model."""

import re
from collections.abc import Callable
from datetime import date, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from services.console import queries
from services.console.web.apis import NO_SUCH, Refused, seg
from services.console.web.forms import invalid_fields, text
from services.console.web.pages import FormStaff, PageStaff, console_of, desk_page, render

router = APIRouter(include_in_schema=False)
OPERATOR = frozenset({"branch-operator"})
ROLES = {"branch_desk": OPERATOR, "set_branch_plan": OPERATOR, "set_date_override": OPERATOR,
         "check_in": OPERATOR}
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
WINDOW = re.compile(r"^(\d{1,2}:\d{2})-(\d{1,2}:\d{2})/(\d{1,4})$")
DAYS_SHOWN = 14


class BadWindows(ValueError):
    """Windows typed in a form that do not read as `HH:MM-HH:MM/capacity`, comma-separated."""


def windows(typed: str | None) -> list[dict[str, Any]]:
    """`09:00-12:00/4, 14:00-17:00/4` as the contract's windows (an empty field: no window that day)."""
    found = []
    for part in filter(None, (p.strip() for p in (typed or "").replace("，", ",").split(",")[:48])):
        match = WINDOW.match(part)
        if match is None:
            raise BadWindows(part[:40])
        start, end, capacity = match.groups()
        found.append({"start": start.zfill(5), "end": end.zfill(5), "capacity_per_slot": int(capacity)})
    return found


def typed(windows_: list[dict[str, Any]] | None) -> str:
    """The contract's windows as the form shows them."""
    return ", ".join(f"{w['start'][:5]}-{w['end'][:5]}/{w['capacity_per_slot']}" for w in windows_ or ())


async def _page(request: Request, staff: Any, branch_id: str | None, **extra: Any) -> HTMLResponse:
    console = console_of(request)
    apis = console.apis
    branches = await apis.json(staff, "GET", "appointments", "/branches")
    branch_id = branch_id or (branches[0]["branch_id"] if branches else None)
    plan = usage = None
    if branch_id:
        today = console.now().date()
        try:
            plan = await apis.json(staff, "GET", "appointments", f"/branches/{seg(branch_id)}/plan")
            usage = await apis.json(staff, "GET", "appointments", f"/branches/{seg(branch_id)}/availability",
                                    params={"from": today.isoformat(),
                                            "to": (today + timedelta(days=DAYS_SHOWN - 1)).isoformat()})
        except Refused as refused:
            if refused.status not in NO_SUCH:  # (an id with a control character in it is a 400)
                raise
            extra.setdefault("unknown_branch", True)
    return render(request, "branch.html", staff, page=desk_page("/branch", branch_id=branch_id or ""),
                  branches=branches, branch_id=branch_id or "", plan=plan, usage=usage, weekdays=WEEKDAYS,
                  typed=typed, **extra)


@router.get("/branch", response_class=HTMLResponse)
async def branch_desk(request: Request, staff: PageStaff, branch_id: str | None = None) -> HTMLResponse:
    return await _page(request, staff, (branch_id or "").strip()[:128] or None)


def _plan_body(form: FormData) -> dict[str, Any]:
    body: dict[str, Any] = {k: text(form, k) for k in ("name", "address", "timezone")}
    for number in ("slot_minutes", "daily_cap", "booking_window_days"):
        body[number] = text(form, number)
    body["weekly"] = {day: windows(text(form, f"weekly_{day}")) for day in WEEKDAYS}
    return body


def _override_body(form: FormData) -> dict[str, Any]:
    closed = form.get("closed") == "yes"
    body: dict[str, Any] = {"closed": closed}
    if not closed and text(form, "windows") is not None:
        body["windows"] = windows(text(form, "windows"))
    if text(form, "daily_cap") is not None:
        body["daily_cap"] = text(form, "daily_cap")
    return body


async def _change(request: Request, staff: Any, path: Callable[[FormData], str],
                  body_of: Callable[[FormData], dict[str, Any]]) -> HTMLResponse:
    form = await request.form()
    branch_id = text(form, "branch_id") or ""
    try:
        body = body_of(form)
    except BadWindows as bad:
        return await _page(request, staff, branch_id, invalid=[f"{bad}: HH:MM-HH:MM/capacity"])
    try:
        answer = await console_of(request).apis.json(staff, "PUT", "appointments",
                                                     f"/branches/{seg(branch_id)}/{path(form)}", json=body)
    except Refused as refused:
        if refused.status == 422:
            return await _page(request, staff, branch_id, invalid=invalid_fields(refused.detail))
        return await _page(request, staff, branch_id, refused=refused)
    changed: dict[str, Any] = next((e["data"] for e in answer["events"] if e["type"] == "BranchPlanChanged"), {})
    over = changed.get("over_capacity", [])
    async with console_of(request).db() as db:
        left_over = await queries.bookings_in_slots(
            db, branch_id, [(date.fromisoformat(s["date"]), time.fromisoformat(s["start_time"])) for s in over])
    return await _page(request, staff, branch_id, changed=changed, left_over=left_over)


@router.post("/branch/plan", response_class=HTMLResponse)
async def set_branch_plan(request: Request, staff: FormStaff) -> HTMLResponse:
    return await _change(request, staff, lambda _form: "plan", _plan_body)


@router.post("/branch/override", response_class=HTMLResponse)
async def set_date_override(request: Request, staff: FormStaff) -> HTMLResponse:
    return await _change(request, staff, lambda form: f"overrides/{seg(text(form, 'date') or '')}", _override_body)


@router.post("/branch/check-in", response_class=HTMLResponse)
async def check_in(request: Request, staff: FormStaff) -> HTMLResponse:
    form = await request.form()
    branch_id = text(form, "branch_id") or ""
    try:
        answer = await console_of(request).apis.json(staff, "POST", "appointments",
                                                     f"/branches/{seg(branch_id)}/check-ins",
                                                     json={"booking_code": text(form, "booking_code")})
    except Refused as refused:
        if refused.status == 422:
            return await _page(request, staff, branch_id, invalid=invalid_fields(refused.detail))
        return await _page(request, staff, branch_id, refused=refused)
    ticket = next(e["data"] for e in answer["events"] if e["type"] == "CheckedIn")
    return render(request, "ticket.html", staff, page=desk_page("/branch", branch_id=branch_id), ticket=ticket,
                  branch_id=branch_id)
