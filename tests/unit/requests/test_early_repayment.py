"""SPEC §3: early repayment — amount and date checks, the same applicant rules, co-borrower confirmation."""

from datetime import date, datetime
from decimal import Decimal

import pytest

from services.requests.domain import (
    BANK_TZ,
    Accepted,
    Applicant,
    EarlyRepayment,
    Loan,
    Refusal,
    RefusalCode,
    State,
    decide_early_repayment,
)
from services.requests.policies import load_policy

POLICIES = [load_policy("epidemic-2020"), load_policy("standard-2019")]
MONDAY = datetime(2020, 2, 3, 10, tzinfo=BANK_TZ)


def a_loan(**over: object) -> Loan:
    values: dict[str, object] = dict(
        loan_id="L-1", status="ACTIVE", branch_id="SZ", debit_day=10, next_due_date=date(2020, 2, 10),
        outstanding_principal=Decimal("46000.00"), primary_customer_id="C-1", co_borrower_ids=(), as_of=MONDAY)
    return Loan(**{**values, **over})  # type: ignore[arg-type]


def a_repayment(kind: str = "PARTIAL", amount: str | None = "10000.00", on: date = date(2020, 2, 5),
                **applicant: object) -> EarlyRepayment:
    who = Applicant(**{"customer_id": "C-1", "channel": "APP", "submitted_at": MONDAY, **applicant})  # type: ignore[arg-type]
    return EarlyRepayment("cmd", "L-1", who, kind, Decimal(amount) if amount else None, on)


def code(result: object) -> RefusalCode:
    assert isinstance(result, Refusal), result
    return result.code


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.version)
@pytest.mark.parametrize("amount", ["0", "-1", "46000.01", None])
def test_a_partial_amount_must_be_positive_and_not_above_the_principal(policy, amount) -> None:  # type: ignore[no-untyped-def]
    decision = decide_early_repayment(a_loan(), a_repayment(amount=amount), policy, now=MONDAY, open_request_id=None)
    assert code(decision) is RefusalCode.INVALID_AMOUNT


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.version)
def test_the_whole_principal_is_a_valid_partial_amount_and_full_repays_it_all(policy) -> None:  # type: ignore[no-untyped-def]
    partial = decide_early_repayment(a_loan(), a_repayment(amount="46000.00"), policy, now=MONDAY, open_request_id=None)
    full = decide_early_repayment(a_loan(), a_repayment("FULL", None), policy, now=MONDAY, open_request_id=None)
    assert isinstance(partial, Accepted) and isinstance(full, Accepted)
    assert full.terms.amount == Decimal("46000.00")
    assert full.deadline == date(2020, 2, 5)


@pytest.mark.parametrize(
    "on", [date(2020, 2, 3), date(2020, 2, 1), date(2020, 2, 8), date(2020, 2, 9), date(2020, 6, 1)],
    ids=["today", "past", "saturday", "sunday", "beyond-window"],
)
def test_the_date_must_be_a_future_business_day_within_the_window(on: date) -> None:
    result = decide_early_repayment(a_loan(), a_repayment(on=on), POLICIES[0], now=MONDAY, open_request_id=None)
    assert code(result) is RefusalCode.INVALID_DATE
    assert result.facts["requested_date"] == on.isoformat()


def test_a_repayment_with_co_borrowers_waits_for_their_confirmation_and_owes_paper() -> None:
    result = decide_early_repayment(a_loan(co_borrower_ids=("C-2",)), a_repayment(), POLICIES[0],
                                    now=MONDAY, open_request_id=None)
    assert isinstance(result, Accepted)
    assert result.state is State.AWAITING_CONFIRMATION and result.paper_documents_required


def test_the_applicant_rules_apply_to_repayments_too() -> None:
    assert code(decide_early_repayment(a_loan(), a_repayment(customer_id="C-9"), POLICIES[0],
                                       now=MONDAY, open_request_id=None)) is RefusalCode.NOT_PRIMARY_BORROWER
    assert code(decide_early_repayment(a_loan(), a_repayment(channel="HOTLINE", staff_id="S-1"), POLICIES[0],
                                       now=MONDAY, open_request_id=None)) is RefusalCode.VERIFICATION_REQUIRED
    assert code(decide_early_repayment(a_loan(), a_repayment(), POLICIES[0], now=MONDAY, open_request_id="R-open")) is (
        RefusalCode.OPEN_REQUEST_EXISTS)
    assert code(decide_early_repayment(a_loan(status="OVERDUE"), a_repayment(), POLICIES[0],
                                       now=MONDAY, open_request_id=None)) is RefusalCode.LOAN_NOT_ACTIVE
