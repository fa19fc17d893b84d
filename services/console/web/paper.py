"""Paper desk (paper-clerk): paper signatures owed by branch and age, their arrival, a remote signing with courier
and tracking number, and the CSV export. The confirmation service keeps the ledger; this page only asks it."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.web.apis import NO_SUCH, Refused, seg
from services.console.web.forms import fields, invalid_fields, text
from services.console.web.pages import FormStaff, PageStaff, console_of, render

router = APIRouter(include_in_schema=False)
CLERK = frozenset({"paper-clerk"})
ROLES = {"paper_desk": CLERK, "paper_csv": CLERK, "paper_received": CLERK, "paper_remote_signing": CLERK}
PAGE = 200  # rows shown; the CSV has up to the service's page size


def _filter(branch_id: str | None) -> dict[str, Any]:
    branch = (branch_id or "").strip()[:128]
    return {"branch_id": branch} if branch else {}


async def _page(request: Request, staff: Any, branch_id: str | None, **extra: Any) -> HTMLResponse:
    try:
        owed = await console_of(request).apis.json(staff, "GET", "confirmation", "/paper/owed",
                                                   params={**_filter(branch_id), "limit": PAGE})
    except Refused as refused:
        if refused.status not in NO_SUCH:  # a filter no branch can have (a control character in it, say)
            raise
        owed = {"items": [], "next_cursor": None}
        extra.setdefault("refused", refused)
    return render(request, "paper.html", staff, owed=owed["items"], more=owed["next_cursor"] is not None,
                  branch_id=_filter(branch_id).get("branch_id", ""), **extra)


@router.get("/paper", response_class=HTMLResponse)
async def paper_desk(request: Request, staff: PageStaff, branch_id: str | None = None) -> HTMLResponse:
    return await _page(request, staff, branch_id)


@router.get("/paper/owed.csv")
async def paper_csv(request: Request, staff: PageStaff, branch_id: str | None = None) -> Response:
    answer = await console_of(request).apis.call(staff, "GET", "confirmation", "/paper/owed.csv",
                                                 params=_filter(branch_id))
    headers = {k: v for k, v in answer.headers.items() if k in ("content-disposition", "x-next-cursor")}
    return Response(answer.content, media_type="text/csv", headers=headers)


async def _record(request: Request, staff: Any, action: str, names: tuple[str, ...]) -> HTMLResponse:
    form = await request.form()
    request_id, customer_id = text(form, "request_id") or "", text(form, "customer_id") or ""
    try:
        await console_of(request).apis.json(
            staff, "POST", "confirmation", f"/paper/requests/{seg(request_id)}/{seg(customer_id)}/{action}",
            json=fields(form, names))
    except Refused as refused:
        if refused.status == 422:
            return await _page(request, staff, text(form, "filter"), invalid=invalid_fields(refused.detail))
        return await _page(request, staff, text(form, "filter"), refused=refused)
    return await _page(request, staff, text(form, "filter"), recorded=action, request_id=request_id)


@router.post("/paper/received", response_class=HTMLResponse)
async def paper_received(request: Request, staff: FormStaff) -> HTMLResponse:
    return await _record(request, staff, "received", ("branch_id",))


@router.post("/paper/remote-signing", response_class=HTMLResponse)
async def paper_remote_signing(request: Request, staff: FormStaff) -> HTMLResponse:
    return await _record(request, staff, "remote-signing", ("signing_branch_id", "courier", "tracking_number"))
