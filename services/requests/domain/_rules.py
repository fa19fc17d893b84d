"""Rules of submitting a request (SPEC §2, §3, §5): accept or refuse, with the facts behind a refusal."""

import calendar
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from services.requests.domain._models import (
    BANK_TZ,
    COUNTER_CHANNEL,
    MAX_CLOCK_SKEW,
    STAFF_CHANNELS,
    Accepted,
    Applicant,
    DebitDayChange,
    DebitDayTerms,
    EarlyRepayment,
    Loan,
    Policy,
    RefusalCode,
    RepaymentTerms,
    Request,
    RequestType,
    Submission,
)
from shared.refusal import Refusal


def new_due_date(d0: date, day: int) -> date:
    """SPEC §2: the first date after D0 whose day of month is `day`; so D0 < D1 <= D0 + 1 month for day <= 28."""
    if day > d0.day and (candidate := _on_day(d0.year, d0.month, day)) is not None:
        return candidate
    year, month = _next_month(d0.year, d0.month)
    while (candidate := _on_day(year, month, day)) is None:
        year, month = _next_month(year, month)
    return candidate


def due_dates_after(d1: date, day: int, count: int) -> tuple[date, ...]:
    """D1 and the due dates that follow it on `day`: the preview a customer sees."""
    dates = [d1]
    while len(dates) < count:
        dates.append(new_due_date(dates[-1], day))
    return tuple(dates)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _on_day(year: int, month: int, day: int) -> date | None:
    return date(year, month, day) if day <= calendar.monthrange(year, month)[1] else None


def start_of(day: date) -> datetime:
    """The instant a calendar day begins in the bank's time zone."""
    return datetime.combine(day, time.min, tzinfo=BANK_TZ)


def cutoff(d0: date, policy: Policy) -> datetime:
    """SPEC §2 (expected): a request must arrive before D0 begins in Asia/Shanghai, less the policy's margin."""
    return start_of(d0 - timedelta(days=policy.cutoff_days_before_due))


def needs_verification(channel: str, staff_id: str | None) -> bool:
    """SPEC §5: staff submitting on a customer's behalf must record how they verified the customer."""
    return staff_id is not None or channel in STAFF_CHANNELS


def verification_problem(applicant: Applicant) -> Refusal | None:
    """SPEC §5: a staff submission names the staff member and how the customer's identity was verified."""
    if not needs_verification(applicant.channel, applicant.staff_id):
        return None
    facts = {"channel": applicant.channel, "staff_id": applicant.staff_id or ""}
    if not applicant.staff_id:
        return Refusal(RefusalCode.STAFF_REQUIRED,
                       f"A request through {applicant.channel} is submitted by staff and must name them.", facts)
    v = applicant.verification
    if v is None:
        return Refusal(RefusalCode.VERIFICATION_REQUIRED,
                       "A request submitted by staff needs the customer's identity verification.", facts)
    if v.method == "RECORDED_CALL" and not v.recording_id:
        return Refusal(RefusalCode.VERIFICATION_REQUIRED,
                       "A recorded-call verification must name its recording.", {**facts, "method": v.method})
    return None


def applicant_problem(loan: Loan | None, loan_id: str, applicant: Applicant, policy: Policy) -> Refusal | None:
    """SPEC §2: only the primary borrower of an active loan applies; policy decides if co-borrower loans may."""
    if loan is None:
        return Refusal(RefusalCode.LOAN_NOT_FOUND, "No loan with this number is known.", {"loan_id": loan_id})
    if loan.status != "ACTIVE":
        return Refusal(RefusalCode.LOAN_NOT_ACTIVE, "Only an active loan can be changed.", {"status": loan.status})
    if applicant.customer_id != loan.primary_customer_id:
        role = "co-borrower" if applicant.customer_id in loan.co_borrower_ids else "not a borrower"
        return Refusal(RefusalCode.NOT_PRIMARY_BORROWER,
                       "Only the primary borrower can apply; co-borrowers are confirmed by the service centre.",
                       {"applicant_role": role})
    if loan.co_borrower_ids and not policy.co_borrower_loans_online and applicant.channel != COUNTER_CHANNEL:
        return Refusal(RefusalCode.CO_BORROWERS_NOT_ALLOWED_ONLINE,
                       "Under this policy a loan with co-borrowers must be changed at the counter by all borrowers.",
                       {"co_borrowers": str(len(loan.co_borrower_ids)), "channel": applicant.channel})
    return None


def arrival_problem(applicant: Applicant, now: datetime) -> Refusal | None:
    """SPEC §2: arrival is judged on the service's clock; a `submitted_at` over 5 minutes ahead of it is refused."""
    if applicant.submitted_at > now + MAX_CLOCK_SKEW:
        return Refusal(RefusalCode.SUBMITTED_IN_FUTURE,
                       "The request says it was sent later than it arrived; check the sending device's clock.",
                       arrival_facts(applicant, now))
    return None


def arrival_facts(applicant: Applicant, now: datetime) -> dict[str, str]:
    """When the sender says it sent the command, when it arrived, and the gap (seconds) between them."""
    gap = (now - applicant.submitted_at).total_seconds()
    return {"submitted_at": applicant.submitted_at.isoformat(), "arrived": now.isoformat(),
            "arrival_gap_s": f"{gap:.0f}"}


def _common_problem(loan: Loan | None, loan_id: str, applicant: Applicant, policy: Policy,
                    now: datetime) -> Refusal | None:
    return (arrival_problem(applicant, now) or verification_problem(applicant)
            or applicant_problem(loan, loan_id, applicant, policy))


def open_request_exists(loan_id: str, open_request_id: str | None) -> Refusal:
    """SPEC §2 (expected): one open request per loan; the refusal names it."""
    return Refusal(RefusalCode.OPEN_REQUEST_EXISTS, "This loan already has a request in progress.",
                   {"loan_id": loan_id, "open_request_id": open_request_id or "(being decided concurrently)"})


def _paper_owed(loan: Loan, applicant: Applicant) -> bool:
    """SPEC §4, §5: a phone confirmation or a staff submission leaves paper signatures owed."""
    return bool(loan.co_borrower_ids) or needs_verification(applicant.channel, applicant.staff_id)


def decide_debit_day_change(
    loan: Loan | None, cmd: DebitDayChange, policy: Policy, *, now: datetime, open_request_id: str | None
) -> Accepted | Refusal:
    """SPEC §2 and §5: accept or refuse a debit-day change, on the service's clock `now`.

    The current day is allowed: it defers the next instalment by exactly one month (the account's own example).
    """
    if (problem := _common_problem(loan, cmd.loan_id, cmd.applicant, policy, now)) is not None:
        return problem
    assert loan is not None
    day = cmd.new_debit_day
    if not policy.min_debit_day <= day <= policy.max_debit_day:
        return Refusal(RefusalCode.DAY_OUT_OF_RANGE,
                       f"The new debit day must be between {policy.min_debit_day} and {policy.max_debit_day}; "
                       f"{day} was asked for.",
                       {"allowed": f"{policy.min_debit_day}..{policy.max_debit_day}", "asked": str(day),
                        "policy_version": policy.version})
    d0 = loan.next_due_date
    deadline = cutoff(d0, policy)
    if now >= deadline:
        return Refusal(RefusalCode.PAST_CUTOFF,
                       f"The request had to arrive before {deadline.isoformat()} (the instalment due {d0}).",
                       {"deadline": deadline.isoformat(), "due_date": d0.isoformat(),
                        **arrival_facts(cmd.applicant, now)})
    if open_request_id is not None:
        return open_request_exists(loan.loan_id, open_request_id)
    d1 = new_due_date(d0, day)
    return Accepted(
        request_type=RequestType.DEBIT_DAY_CHANGE, deadline=d0, co_borrower_ids=loan.co_borrower_ids,
        paper_documents_required=_paper_owed(loan, cmd.applicant),
        terms=DebitDayTerms(current_debit_day=loan.debit_day, new_debit_day=day, current_due_date=d0,
                            new_due_date=d1, next_due_dates=due_dates_after(d1, day, 3)),
    )


def is_business_day(day: date) -> bool:
    """Monday to Friday; bank holidays are not known to this service."""
    return day.weekday() < 5


def decide_early_repayment(
    loan: Loan | None, cmd: EarlyRepayment, policy: Policy, *, now: datetime, open_request_id: str | None
) -> Accepted | Refusal:
    """SPEC §3: a positive amount not above the outstanding principal, on a future business day ("future" by the
    service's clock `now`, in Asia/Shanghai)."""
    if (problem := _common_problem(loan, cmd.loan_id, cmd.applicant, policy, now)) is not None:
        return problem
    assert loan is not None
    amount = cmd.amount if cmd.repayment_type == "PARTIAL" else loan.outstanding_principal
    if amount is None or amount <= Decimal(0) or amount > loan.outstanding_principal:
        return Refusal(RefusalCode.INVALID_AMOUNT,
                       "A partial repayment needs an amount above zero and not above the outstanding principal.",
                       {"amount": str(cmd.amount), "outstanding_principal": str(loan.outstanding_principal)})
    today = now.astimezone(BANK_TZ).date()
    latest = today + timedelta(days=policy.early_repayment_max_days_ahead)
    wanted = cmd.requested_date
    if not today < wanted <= latest or not is_business_day(wanted):
        return Refusal(RefusalCode.INVALID_DATE,
                       f"The repayment date must be a business day after {today} and at the latest {latest}.",
                       {"requested_date": wanted.isoformat(), "today": today.isoformat(),
                        "latest": latest.isoformat(), "weekday": wanted.strftime("%A"),
                        **arrival_facts(cmd.applicant, now)})
    if open_request_id is not None:
        return open_request_exists(loan.loan_id, open_request_id)
    return Accepted(
        request_type=RequestType.EARLY_REPAYMENT, deadline=wanted, co_borrower_ids=loan.co_borrower_ids,
        paper_documents_required=_paper_owed(loan, cmd.applicant),
        terms=RepaymentTerms(repayment_type=cmd.repayment_type, amount=amount, requested_date=wanted,
                             principal_at_submission=loan.outstanding_principal),
    )


def decide_submission(loan: Loan | None, cmd: Submission, policy: Policy, *, now: datetime,
                      open_request_id: str | None) -> Accepted | Refusal:
    """The rule for the kind of request `cmd` asks for (SPEC §2, §3)."""
    if isinstance(cmd, DebitDayChange):
        return decide_debit_day_change(loan, cmd, policy, now=now, open_request_id=open_request_id)
    return decide_early_repayment(loan, cmd, policy, now=now, open_request_id=open_request_id)


def new_request(request_id: str, cmd: Submission, accepted: Accepted, loan: Loan, policy: Policy) -> Request:
    """The request an accepted submission opens: its terms, deadline and co-borrowers, the policy it was decided
    under (SPEC §9) and the loan's branch, where its paper documents are filed."""
    applicant = cmd.applicant
    return Request(
        request_id=request_id, command_id=cmd.command_id, loan_id=cmd.loan_id, request_type=accepted.request_type,
        state=accepted.state, applicant_customer_id=applicant.customer_id, channel=applicant.channel,
        staff_id=applicant.staff_id, policy_version=policy.version, deadline=accepted.deadline,
        co_borrower_ids=accepted.co_borrower_ids, confirmed_by=frozenset(), terms=accepted.terms,
        branch_id=loan.branch_id, confirmation_attempts=policy.confirmation_attempts,
    )
