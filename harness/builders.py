"""Builders of contract messages with unique ids (cosmicpython's random_refs), so tests share servers safely."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts import loans as L
from shared.contracts import requests as R

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACCOUNT_DAY = datetime(2020, 2, 3, 9, 30, tzinfo=SHANGHAI)  # the account's first day


def ref(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def a_borrower(customer_id: str, role: L.BorrowerRole = L.BorrowerRole.PRIMARY, **over: Any) -> L.Borrower:
    values: dict[str, Any] = {
        "customer_id": customer_id, "role": role, "name": "測試客戶", "phone": "13800138000",
        "id_number": "440301198001011234", "language": L.Language.ZH_HANS,
        "channels": [L.NotificationChannel.APP_PUSH, L.NotificationChannel.SMS],
        "email": "customer@example.com",
    }
    return L.Borrower(**{**values, **over})


def a_loan(
    *,
    loan_id: str | None = None,
    co_borrowers: int = 0,
    debit_day: int = 10,
    next_due_date: date = date(2020, 2, 10),
    as_of: datetime = ACCOUNT_DAY,
    status: L.LoanStatus = L.LoanStatus.ACTIVE,
    principal: str = "812000.00",
    primary: str | None = None,
) -> L.LoanSnapshot:
    loan_id = loan_id or ref("L")
    borrowers = [a_borrower(primary or ref("C"))]
    borrowers += [a_borrower(ref("C"), L.BorrowerRole.CO_BORROWER) for _ in range(co_borrowers)]
    return L.LoanSnapshot(
        loan_id=loan_id, status=status, product=L.Product.MORTGAGE, branch_id="SZ-FUTIAN", currency="CNY",
        instalment_amount=Decimal("5230.15"), outstanding_principal=Decimal(principal), debit_day=debit_day,
        next_due_date=next_due_date, borrowers=borrowers, as_of=as_of,
    )


def primary_of(loan: L.LoanSnapshot) -> str:
    return next(b.customer_id for b in loan.borrowers if b.role is L.BorrowerRole.PRIMARY)


def a_debit_day_change(loan: L.LoanSnapshot, day: int = 25, **over: Any) -> R.SubmitDebitDayChange:
    values: dict[str, Any] = {
        "command_id": ref("cmd"), "loan_id": loan.loan_id, "applicant_customer_id": primary_of(loan),
        "channel": R.Channel.APP, "new_debit_day": day, "submitted_at": ACCOUNT_DAY,
    }
    return R.SubmitDebitDayChange(**{**values, **over})
