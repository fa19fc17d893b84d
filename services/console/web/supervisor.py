"""Supervisor dashboard (supervisor), live from the event streams without reloading: the read models' figures
(services.console.queries), re-rendered when /live says an area changed."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.console import queries
from services.console.web import charts
from services.console.web.pages import PageStaff, console_of, render

router = APIRouter(include_in_schema=False)
ROLES = {"supervisor_dashboard": frozenset({"supervisor"})}


@router.get("/supervisor", response_class=HTMLResponse)
async def supervisor_dashboard(request: Request, staff: PageStaff) -> HTMLResponse:
    console = console_of(request)
    async with console.db() as db:
        board = await queries.dashboard(db, console.now())
    return render(request, "supervisor.html", staff, board=board, chart=charts.approvals_per_hour)
