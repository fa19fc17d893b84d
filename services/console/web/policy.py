"""Policy page (policy-admin): the policy in force, its history, and a switch to a shipped preset that takes an
explicit confirmation. The requests service owns the policy; this page only asks it."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.console.web.apis import Refused
from services.console.web.pages import FormStaff, PageStaff, console_of, render

router = APIRouter(include_in_schema=False)
ROLES = {"policy_page": frozenset({"policy-admin"}), "switch_policy": frozenset({"policy-admin"})}


async def _page(request: Request, staff: Any, **extra: Any) -> HTMLResponse:
    apis = console_of(request).apis
    in_force = await apis.json(staff, "GET", "requests", "/policy")
    history = await apis.json(staff, "GET", "requests", "/policy/history", params={"limit": 20})
    return render(request, "policy.html", staff, policy=in_force, history=history["switches"], **extra)


@router.get("/policy", response_class=HTMLResponse)
async def policy_page(request: Request, staff: PageStaff) -> HTMLResponse:
    return await _page(request, staff)


@router.post("/policy", response_class=HTMLResponse)
async def switch_policy(request: Request, staff: FormStaff) -> HTMLResponse:
    form = await request.form()
    preset, confirmed = str(form.get("preset", "")), form.get("confirm") == "yes"
    if not confirmed:
        return await _page(request, staff, error="confirm", chosen=preset)
    try:
        await console_of(request).apis.json(staff, "PUT", "requests", "/policy", json={"preset": preset})
    except Refused as refused:
        return await _page(request, staff, refused=refused, chosen=preset)
    return await _page(request, staff, switched=preset)
