"""A request's life after submission (SPEC §2, §4): confirmations, withdrawal, expiry, completion."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from services.requests.domain import (
    BANK_TZ,
    Approve,
    DebitDayTerms,
    Expire,
    Ignore,
    Loan,
    Policy,
    Refusal,
    RefusalCode,
    RepaymentTerms,
    Request,
    RequestType,
    State,
    Terms,
    Wait,
    apply_co_borrower_outcome,
    decide_withdrawal,
    expires_at,
    is_completed_by,
    should_expire,
)

NOW = datetime(2020, 2, 3, 10, tzinfo=BANK_TZ)


DAY_25 = DebitDayTerms(current_debit_day=25, new_debit_day=25, current_due_date=date(2020, 2, 25),
                       new_due_date=date(2020, 3, 25), next_due_dates=(date(2020, 3, 25),))


def a_request(state: State = State.AWAITING_CONFIRMATION, co: tuple[str, ...] = ("C-2", "C-3"),
              kind: RequestType = RequestType.DEBIT_DAY_CHANGE, terms: Terms = DAY_25) -> Request:
    """Due 25 Feb on day 25, moving to day 25 -> 25 Mar (the account's example) unless `terms` say otherwise."""
    return Request("R-1", "cmd", "L-1", kind, state, "C-1", "APP", None, "epidemic-2020", date(2020, 2, 25),
                   co, frozenset(), terms)


def outcome(request: Request, customer: str, what: str, now: datetime = NOW) -> object:
    return apply_co_borrower_outcome(request, customer, what, now=now, recording_id="REC-9")


def a_loan(**over: object) -> Loan:
    values: dict[str, object] = dict(
        loan_id="L-1", status="ACTIVE", branch_id="SZ", debit_day=25, next_due_date=date(2020, 2, 25),
        outstanding_principal=Decimal("1000"), primary_customer_id="C-1", co_borrower_ids=("C-2",),
        as_of=datetime(2020, 2, 3, tzinfo=BANK_TZ))
    return Loan(**{**values, **over})  # type: ignore[arg-type]


def test_each_confirmation_is_kept_until_all_co_borrowers_confirmed() -> None:
    first = outcome(a_request(), "C-2", "CONFIRMED")
    assert first == Wait(frozenset({"C-2"}))
    request = a_request()
    later = Request(**{**request.__dict__, "confirmed_by": frozenset({"C-2"})})
    assert outcome(later, "C-3", "CONFIRMED") == Approve()


@pytest.mark.parametrize(("outcome", "code"), [("DECLINED", RefusalCode.CO_BORROWER_DECLINED),
                                               ("UNREACHABLE", RefusalCode.CO_BORROWER_UNREACHABLE)])
def test_one_refusal_or_unreachable_co_borrower_ends_the_request(outcome: str, code: RefusalCode) -> None:
    result = apply_co_borrower_outcome(a_request(), "C-3", outcome, now=NOW, recording_id="REC-9")
    assert isinstance(result, Refusal) and result.code is code
    assert result.facts["co_borrower"] == "C-3"


def test_a_declined_call_names_its_recording() -> None:
    result = outcome(a_request(), "C-3", "DECLINED")
    assert isinstance(result, Refusal) and result.facts["recording_id"] == "REC-9"


@pytest.mark.parametrize("what", ["CONFIRMED", "DECLINED", "UNREACHABLE"])
def test_an_outcome_processed_once_the_deadline_day_began_expires_the_request(what: str) -> None:
    """SPEC §2: nothing is approved, and no outcome accepted, once D0 has begun (on the service's clock)."""
    start = datetime(2020, 2, 25, tzinfo=BANK_TZ)
    confirmed_but_one = Request(**{**a_request().__dict__, "confirmed_by": frozenset({"C-2"})})
    assert outcome(confirmed_but_one, "C-3", what, now=start) == Expire()
    assert outcome(confirmed_but_one, "C-3", "CONFIRMED", now=start - timedelta(microseconds=1)) == Approve()


def test_outcomes_for_decided_requests_or_strangers_change_nothing() -> None:
    assert isinstance(outcome(a_request(State.REJECTED), "C-2", "CONFIRMED"), Ignore)
    assert isinstance(outcome(a_request(), "C-9", "CONFIRMED"), Ignore)


def test_only_the_applicant_withdraws_and_only_before_the_decision() -> None:
    assert decide_withdrawal(a_request(), "R-1", "C-1") is State.WITHDRAWN
    assert decide_withdrawal(a_request(State.SUBMITTED), "R-1", "C-1") is State.WITHDRAWN
    refusals = [decide_withdrawal(None, "R-1", "C-1"), decide_withdrawal(a_request(), "R-1", "C-2"),
                decide_withdrawal(a_request(State.APPROVED), "R-1", "C-1")]
    assert [r.code for r in refusals if isinstance(r, Refusal)] == [
        RefusalCode.REQUEST_NOT_FOUND, RefusalCode.NOT_APPLICANT, RefusalCode.REQUEST_NOT_WITHDRAWABLE]


def test_an_undecided_request_expires_when_its_deadline_day_begins_in_shanghai() -> None:
    start = datetime(2020, 2, 25, tzinfo=BANK_TZ)
    assert expires_at(a_request()) == start
    assert not should_expire(a_request(), start - timedelta(microseconds=1))
    assert should_expire(a_request(), start)
    assert not should_expire(a_request(State.APPROVED), start + timedelta(days=3))


def test_a_debit_day_change_completes_when_a_snapshot_shows_the_new_day_and_a_due_date_from_d1() -> None:
    """SPEC §2: the new day and a next due date on or after D1 (25 Mar): a same-day change is not "completed" by
    the next ordinary snapshot, which already shows day 25."""
    approved = a_request(State.APPROVED)
    assert not is_completed_by(approved, a_loan(debit_day=25, next_due_date=date(2020, 2, 25)))
    assert not is_completed_by(approved, a_loan(debit_day=28, next_due_date=date(2020, 3, 28)))
    assert is_completed_by(approved, a_loan(debit_day=25, next_due_date=date(2020, 3, 25)))
    assert is_completed_by(approved, a_loan(debit_day=25, next_due_date=date(2020, 4, 25)))
    assert not is_completed_by(a_request(State.AWAITING_CONFIRMATION), a_loan(next_due_date=date(2020, 3, 25)))


def _repayment(kind: str, amount: str = "300") -> Request:
    return a_request(State.APPROVED, kind=RequestType.EARLY_REPAYMENT, terms=RepaymentTerms(
        repayment_type=kind, amount=Decimal(amount), requested_date=date(2020, 2, 14),
        principal_at_submission=Decimal("1000")))


def test_a_partial_repayment_completes_only_on_or_after_its_date_with_principal_down_by_the_amount() -> None:
    """SPEC §3: an ordinary instalment (principal falls a little, or before the date) completes nothing."""
    on_the_day = datetime(2020, 2, 14, 18, tzinfo=BANK_TZ)
    partial = _repayment("PARTIAL")
    assert not is_completed_by(partial, a_loan(outstanding_principal=Decimal("950"), as_of=on_the_day))
    assert not is_completed_by(partial, a_loan(outstanding_principal=Decimal("600"),
                                               as_of=datetime(2020, 2, 13, 23, tzinfo=BANK_TZ)))
    assert is_completed_by(partial, a_loan(outstanding_principal=Decimal("700"), as_of=on_the_day))
    assert is_completed_by(partial, a_loan(outstanding_principal=Decimal("650"), as_of=on_the_day))


def test_a_full_repayment_completes_only_when_the_loan_is_settled() -> None:
    full = _repayment("FULL", amount="1000")
    assert not is_completed_by(full, a_loan(outstanding_principal=Decimal("0")))
    assert is_completed_by(full, a_loan(status="SETTLED", outstanding_principal=Decimal("0")))


@pytest.mark.parametrize("bad", [dict(max_debit_day=31), dict(min_debit_day=0),
                                 dict(min_debit_day=20, max_debit_day=10), dict(confirmation_attempts=0)])
def test_a_policy_document_that_breaks_the_rules_is_refused(bad: dict[str, int]) -> None:
    values = dict(version="x", min_debit_day=1, max_debit_day=28, co_borrower_loans_online=True)
    with pytest.raises(ValueError):
        Policy(**{**values, **bad})  # type: ignore[arg-type]
