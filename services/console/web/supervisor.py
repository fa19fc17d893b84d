"""Supervisor dashboard (supervisor), live from the event streams without reloading: the read models' figures
(services.console.queries), re-rendered when /live says an area changed."""

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.console import queries
from services.console.web import charts
from services.console.web.auth import Staff
from services.console.web.pages import PageStaff, console_of, render

router = APIRouter(include_in_schema=False)
ROLES = {"supervisor_dashboard": frozenset({"supervisor"})}


@router.get("/supervisor", response_class=HTMLResponse)
async def supervisor_dashboard(request: Request, staff: PageStaff) -> HTMLResponse:
    console = console_of(request)
    async with console.db() as db:
        board = await queries.dashboard(db, console.now())
    return page(request, staff, board)


def page(request: Request, staff: Staff, board: queries.Dashboard) -> HTMLResponse:
    """The dashboard's page for its figures (bench/console_dashboard.py times it with the queries)."""
    paper: dict[str | None, dict[str, int]] = {}
    for age in board.paper_owed:
        paper.setdefault(age.branch_id, {})[age.bucket] = age.count
    return render(request, "supervisor.html", staff, board=board, chart=charts.approvals_per_hour,
                  paper_by_branch=sorted(paper.items(), key=lambda kv: kv[0] or ""),
                  near_until=board.day + timedelta(days=1))
