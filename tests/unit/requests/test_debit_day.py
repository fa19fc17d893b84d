"""Rules of the requests service (SPEC §2, §5, §9), pure: fixed dates, both policy presets."""

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.requests.domain import (
    BANK_TZ,
    Accepted,
    Applicant,
    DebitDayChange,
    Loan,
    Refusal,
    RefusalCode,
    State,
    Verification,
    decide_debit_day_change,
    new_due_date,
)
from services.requests.policies import load_policy

EPIDEMIC, STANDARD = load_policy("epidemic-2020"), load_policy("standard-2019")
ARRIVED = datetime(2020, 2, 3, 9, 30, tzinfo=BANK_TZ)


def a_loan(**over: object) -> Loan:
    values: dict[str, object] = dict(
        loan_id="L-1", status="ACTIVE", branch_id="SZ", debit_day=25, next_due_date=date(2020, 2, 25),
        outstanding_principal=Decimal("100000"), primary_customer_id="C-1", co_borrower_ids=(),
        as_of=ARRIVED,
    )
    return Loan(**{**values, **over})  # type: ignore[arg-type]


def an_applicant(**over: object) -> Applicant:
    values: dict[str, object] = dict(customer_id="C-1", channel="APP", submitted_at=ARRIVED)
    return Applicant(**{**values, **over})  # type: ignore[arg-type]


def a_change(day: int = 20, **over: object) -> DebitDayChange:
    return DebitDayChange(command_id="cmd", loan_id="L-1", applicant=an_applicant(**over), new_debit_day=day)


def decide(loan: Loan | None = None, cmd: DebitDayChange | None = None, policy=EPIDEMIC, open_request=None,  # type: ignore[no-untyped-def]
           now: datetime = ARRIVED):
    return decide_debit_day_change(a_loan() if loan is None else loan, cmd or a_change(), policy, now=now,
                                   open_request_id=open_request)


def refused(result: object) -> RefusalCode:
    assert isinstance(result, Refusal), result
    return result.code


def test_the_accounts_example_under_the_old_rules_defers_twenty_days() -> None:
    """SPEC §2: due 25 Feb, 1..15 allowed, the latest choice 15 -> 15 Mar."""
    assert new_due_date(date(2020, 2, 25), 15) == date(2020, 3, 15)
    assert refused(decide(cmd=a_change(25), policy=STANDARD)) is RefusalCode.DAY_OUT_OF_RANGE


def test_the_accounts_example_under_the_new_rules_defers_a_full_month() -> None:
    """SPEC §2 and scenario 1: due 25 Feb on day 25, picking 25 (the current day) moves it to 25 Mar."""
    result = decide(loan=a_loan(debit_day=25, next_due_date=date(2020, 2, 25)), cmd=a_change(25))
    assert isinstance(result, Accepted)
    assert result.terms.new_due_date == date(2020, 3, 25)
    assert result.terms.next_due_dates == (date(2020, 3, 25), date(2020, 4, 25), date(2020, 5, 25))
    assert result.deadline == date(2020, 2, 25)


def test_a_later_day_in_the_same_month_moves_the_due_date_within_it() -> None:
    assert new_due_date(date(2020, 2, 10), 25) == date(2020, 2, 25)


@pytest.mark.parametrize(("policy", "highest"), [(EPIDEMIC, 28), (STANDARD, 15)])
def test_the_allowed_days_come_from_the_policy(policy, highest) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(decide(cmd=a_change(highest), policy=policy), Accepted)
    rejection = decide(cmd=a_change(highest + 1), policy=policy)
    assert refused(rejection) is RefusalCode.DAY_OUT_OF_RANGE
    assert rejection.facts == {"allowed": f"1..{highest}", "asked": str(highest + 1), "policy_version": policy.version}
    assert refused(decide(cmd=a_change(0), policy=policy)) is RefusalCode.DAY_OUT_OF_RANGE


@pytest.mark.parametrize("policy", [EPIDEMIC, STANDARD])
def test_the_current_day_is_allowed_and_defers_exactly_one_month(policy) -> None:  # type: ignore[no-untyped-def]
    """SPEC §2 (contract 1.1 withdrew SAME_DAY): the current day defers the next instalment by one month."""
    result = decide(loan=a_loan(debit_day=10, next_due_date=date(2020, 2, 10)), cmd=a_change(10), policy=policy)
    assert isinstance(result, Accepted)
    assert (result.deadline, result.terms.new_due_date) == (date(2020, 2, 10), date(2020, 3, 10))
    assert "SAME_DAY" not in RefusalCode.__members__


@pytest.mark.parametrize("policy", [EPIDEMIC, STANDARD])
def test_a_co_borrower_can_never_apply(policy) -> None:  # type: ignore[no-untyped-def]
    loan = a_loan(co_borrower_ids=("C-2",))
    result = decide(loan=loan, cmd=a_change(customer_id="C-2"), policy=policy)
    assert refused(result) is RefusalCode.NOT_PRIMARY_BORROWER
    assert result.facts == {"applicant_role": "co-borrower"}


def test_loans_with_co_borrowers_apply_online_only_under_the_epidemic_policy() -> None:
    loan = a_loan(co_borrower_ids=("C-2",))
    assert refused(decide(loan=loan, policy=STANDARD)) is RefusalCode.CO_BORROWERS_NOT_ALLOWED_ONLINE
    staff = a_change(channel="HOTLINE", staff_id="S-1", verification=Verification("RECORDED_CALL", "REC-1"))
    assert refused(decide(loan=loan, cmd=staff, policy=STANDARD)) is RefusalCode.CO_BORROWERS_NOT_ALLOWED_ONLINE
    accepted = decide(loan=loan, policy=EPIDEMIC)
    assert isinstance(accepted, Accepted)
    assert accepted.state is State.AWAITING_CONFIRMATION and accepted.paper_documents_required


@pytest.mark.parametrize("policy", [EPIDEMIC, STANDARD])
def test_the_counter_stays_open_to_loans_with_co_borrowers_under_every_policy(policy) -> None:  # type: ignore[no-untyped-def]
    """SPEC §2: the online flag covers the remote channels only; BRANCH (the counter) is always open."""
    result = decide(loan=a_loan(co_borrower_ids=("C-2",)), cmd=a_change(12, channel="BRANCH"), policy=policy)
    assert isinstance(result, Accepted) and result.state is State.AWAITING_CONFIRMATION


def test_a_single_borrower_loan_is_approved_at_once_with_no_paper_owed() -> None:
    accepted = decide()
    assert isinstance(accepted, Accepted)
    assert accepted.state is State.APPROVED and not accepted.paper_documents_required


def test_an_unknown_or_inactive_loan_is_refused() -> None:
    assert refused(decide_debit_day_change(None, a_change(), EPIDEMIC, now=ARRIVED, open_request_id=None)) is (
        RefusalCode.LOAN_NOT_FOUND)
    assert refused(decide(loan=a_loan(status="SETTLED"))) is RefusalCode.LOAN_NOT_ACTIVE


def test_a_request_must_arrive_before_the_due_day_begins_in_shanghai() -> None:
    """SPEC §2: arrival is judged on the service's clock (`now`), not on what the sender wrote."""
    due = date(2020, 2, 25)
    midnight = datetime(2020, 2, 25, tzinfo=BANK_TZ)
    loan = a_loan(next_due_date=due)
    just_in_time = midnight - timedelta(seconds=1)
    assert isinstance(decide(loan=loan, cmd=a_change(submitted_at=just_in_time), now=just_in_time), Accepted)
    late = decide(loan=loan, cmd=a_change(submitted_at=midnight), now=midnight)
    assert refused(late) is RefusalCode.PAST_CUTOFF
    assert late.facts["deadline"] == midnight.isoformat() and late.facts["arrived"] == midnight.isoformat()


def test_a_backdated_request_is_judged_by_when_it_arrived() -> None:
    """A command that claims to have been sent the day before but arrives on the due day is late."""
    backdated = a_change(submitted_at=datetime(2020, 2, 24, 9, tzinfo=BANK_TZ))
    arrived = datetime(2020, 2, 25, 8, 0, tzinfo=BANK_TZ)
    late = decide(loan=a_loan(next_due_date=date(2020, 2, 25)), cmd=backdated, now=arrived)
    assert refused(late) is RefusalCode.PAST_CUTOFF
    assert late.facts["submitted_at"] == backdated.applicant.submitted_at.isoformat()
    assert late.facts["arrival_gap_s"] == str(23 * 3600)


def test_a_submission_dated_over_five_minutes_ahead_of_the_service_is_refused() -> None:
    ahead = decide(cmd=a_change(submitted_at=ARRIVED + timedelta(minutes=5, seconds=1)))
    assert refused(ahead) is RefusalCode.SUBMITTED_IN_FUTURE
    assert ahead.facts["arrival_gap_s"] == "-301"
    assert isinstance(decide(cmd=a_change(submitted_at=ARRIVED + timedelta(minutes=5))), Accepted)


def test_a_configured_cutoff_moves_the_deadline_earlier() -> None:
    policy = replace(EPIDEMIC, cutoff_days_before_due=2)
    day_before = datetime(2020, 2, 24, 9, tzinfo=BANK_TZ)
    result = decide(loan=a_loan(next_due_date=date(2020, 2, 25)), cmd=a_change(submitted_at=day_before), policy=policy,
                    now=day_before)
    assert refused(result) is RefusalCode.PAST_CUTOFF


def test_a_second_open_request_is_refused_and_named() -> None:
    result = decide(open_request="R-open")
    assert refused(result) is RefusalCode.OPEN_REQUEST_EXISTS
    assert result.facts["open_request_id"] == "R-open"


@pytest.mark.parametrize(
    ("channel", "staff", "verification", "refusal"),
    [
        ("HOTLINE", "S-1", None, RefusalCode.VERIFICATION_REQUIRED),
        ("ACCOUNT_MANAGER", None, None, RefusalCode.STAFF_REQUIRED),
        ("HOTLINE", None, Verification("RECORDED_CALL", "REC-1"), RefusalCode.STAFF_REQUIRED),
        ("APP", "S-1", None, RefusalCode.VERIFICATION_REQUIRED),
        ("HOTLINE", "S-1", Verification("RECORDED_CALL", None), RefusalCode.VERIFICATION_REQUIRED),
        ("HOTLINE", "S-1", Verification("RECORDED_CALL", "REC-1"), None),
        ("ACCOUNT_MANAGER", "S-2", Verification("FACE_TO_FACE", None), None),
        ("APP", None, None, None),
    ],
)
def test_staff_submissions_name_the_staff_member_and_the_identity_check(channel, staff, verification, refusal) -> None:  # type: ignore[no-untyped-def]
    """SPEC §5: without a verification, or without the staff member, a staff-submitted request is refused."""
    result = decide(cmd=a_change(channel=channel, staff_id=staff, verification=verification))
    if refusal is None:
        assert isinstance(result, Accepted)
        assert result.paper_documents_required is (staff is not None or channel != "APP")
    else:
        assert refused(result) is refusal


@given(d0=st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)), day=st.integers(1, 28))
def test_the_new_due_date_defers_by_at_most_one_month(d0: date, day: int) -> None:
    """SPEC §2: D0 < D1 <= D0 + 1 month and D1 falls on the new day, month ends and leap years included."""
    d1 = new_due_date(d0, day)
    assert d1.day == day
    assert d0 < d1
    year, month = (d0.year + 1, 1) if d0.month == 12 else (d0.year, d0.month + 1)
    last = 29 if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 0
    days_in_month = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    one_month_later = date(year, month, min(d0.day, last or days_in_month))
    assert d1 <= one_month_later
