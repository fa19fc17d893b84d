"""HTTP API of the requests service: what channels and staff may read. Reads only; decisions arrive by Kafka."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from services.requests.repository import LoanRepository, RequestRepository
from shared.runtime import Deps, runtime_deps

router = APIRouter(tags=["requests"])
DepsDep = Annotated[Deps, Depends(runtime_deps)]


class LoanView(BaseModel):
    loan_id: str
    status: str
    branch_id: str
    debit_day: int
    next_due_date: date
    outstanding_principal: Decimal
    co_borrowers: int
    as_of: datetime


class RequestView(BaseModel):
    request_id: str
    command_id: str
    loan_id: str
    request_type: str
    state: str
    applicant_customer_id: str
    channel: str
    staff_id: str | None
    policy_version: str
    deadline: date
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@router.get("/loans/{loan_id}", summary="The loan as this service last saw it in loans.snapshots")
async def get_loan(loan_id: str, deps: DepsDep) -> LoanView:
    async with deps.sessions() as session:
        loan = await LoanRepository(session).get(loan_id)
    if loan is None:
        raise HTTPException(404, f"loan {loan_id} is not known")
    return LoanView(loan_id=loan.loan_id, status=loan.status, branch_id=loan.branch_id, debit_day=loan.debit_day,
                    next_due_date=loan.next_due_date, outstanding_principal=loan.outstanding_principal,
                    co_borrowers=len(loan.co_borrower_ids), as_of=loan.as_of)


@router.get("/requests/{request_id}", summary="One request and its current state")
async def get_request(request_id: str, deps: DepsDep) -> RequestView:
    async with deps.sessions() as session:
        row = await RequestRepository(session).get(request_id)
    if row is None:
        raise HTTPException(404, f"request {request_id} is not known")
    return RequestView(**row)
