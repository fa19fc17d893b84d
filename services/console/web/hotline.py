"""Hotline desk (hotline): find a loan, and submit a debit-day change or an early repayment on the customer's
behalf with the identity verification (a recorded call's reference, or face to face). The requests service
decides at once; a refusal is shown in plain words with its facts."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from services.console.web.apis import NO_SUCH, Refused, seg
from services.console.web.forms import fields, invalid_fields, text
from services.console.web.pages import FormStaff, PageStaff, console_of, desk_page, render

router = APIRouter(include_in_schema=False)
HOTLINE = frozenset({"hotline"})
ROLES = {"hotline_desk": HOTLINE, "submit_debit_day_change": HOTLINE, "submit_early_repayment": HOTLINE}
KINDS = {"debit-day-change": ("applicant_customer_id", "new_debit_day", "channel", "reason"),
         "early-repayment": ("applicant_customer_id", "repayment_type", "amount", "requested_date", "channel",
                             "reason")}


async def _page(request: Request, staff: Any, loan_id: str | None, **extra: Any) -> HTMLResponse:
    loan, requests, missing = None, [], False
    if loan_id:
        apis = console_of(request).apis
        try:
            loan = await apis.json(staff, "GET", "requests", f"/loans/{seg(loan_id)}")
            requests = (await apis.json(staff, "GET", "requests", f"/loans/{seg(loan_id)}/requests",
                                        params={"limit": 20}))["items"]
        except Refused as refused:
            missing = refused.status in NO_SUCH
            if not missing:
                raise
    return render(request, "hotline.html", staff, page=desk_page("/hotline", loan_id=loan_id or ""),
                  loan_id=loan_id or "", loan=loan, requests=requests, missing=missing, **extra)


@router.get("/hotline", response_class=HTMLResponse)
async def hotline_desk(request: Request, staff: PageStaff, loan_id: str | None = None) -> HTMLResponse:
    return await _page(request, staff, (loan_id or "").strip()[:200] or None)


def _body(form: FormData, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = fields(form, KINDS[kind])
    body["identity_verification"] = fields(form, ("method", "recording_id"))
    return body


async def _submit(request: Request, staff: Any, kind: str) -> HTMLResponse:
    form = await request.form()
    loan_id = text(form, "loan_id") or ""
    try:
        answer = await console_of(request).apis.json(
            staff, "POST", "requests", f"/loans/{seg(loan_id)}/requests/{kind}", json=_body(form, kind))
    except Refused as refused:
        if refused.status == 422:
            return await _page(request, staff, loan_id, kind=kind, invalid=invalid_fields(refused.detail),
                               form=dict(form))
        return await _page(request, staff, loan_id, kind=kind, refused=refused, form=dict(form))
    submitted = next((e["data"] for e in answer["events"] if e["type"] == "RequestSubmitted"), None)
    return await _page(request, staff, loan_id, kind=kind, submitted=submitted)


@router.post("/hotline/debit-day-change", response_class=HTMLResponse)
async def submit_debit_day_change(request: Request, staff: FormStaff) -> HTMLResponse:
    return await _submit(request, staff, "debit-day-change")


@router.post("/hotline/early-repayment", response_class=HTMLResponse)
async def submit_early_repayment(request: Request, staff: FormStaff) -> HTMLResponse:
    return await _submit(request, staff, "early-repayment")
