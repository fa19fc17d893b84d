"""Every refusal the requests service can give, each explained, against the real broker and database."""

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from shared.contracts import loans as L
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.support.builders import ACCOUNT_DAY, SHANGHAI, a_debit_day_change, a_loan, primary_of, ref
from tests.support.kafka import KafkaDriver
from tests.support.requests_driver import EVENTS, answer, co_borrower_says, next_event
from tests.support.wait import publish_loan


def repayment(loan: L.LoanSnapshot, amount: str = "1000.00", on: date = date(2020, 2, 5)) -> R.SubmitEarlyRepayment:
    return R.SubmitEarlyRepayment(command_id=ref("cmd"), loan_id=loan.loan_id, applicant_customer_id=primary_of(loan),
                                  channel=R.Channel.APP, submitted_at=ACCOUNT_DAY,
                                  repayment_type=R.RepaymentType.PARTIAL, amount=Decimal(amount), requested_date=on)


Case = tuple[Callable[[], L.LoanSnapshot], Callable[[L.LoanSnapshot], R.SubmitDebitDayChange | R.SubmitEarlyRepayment]]
CASES: dict[str, Case] = {
    "LOAN_NOT_ACTIVE": (lambda: a_loan(status=L.LoanStatus.SETTLED), lambda loan: a_debit_day_change(loan, 20)),
    "NOT_PRIMARY_BORROWER": (a_loan, lambda loan: a_debit_day_change(loan, 20, applicant_customer_id=ref("C"))),
    "DAY_OUT_OF_RANGE": (a_loan, lambda loan: a_debit_day_change(loan, 29)),
    "SAME_DAY": (lambda: a_loan(debit_day=10), lambda loan: a_debit_day_change(loan, 10)),
    "PAST_CUTOFF": (lambda: a_loan(next_due_date=date(2020, 2, 10)),
                    lambda loan: a_debit_day_change(loan, 20, submitted_at=datetime(2020, 2, 10, 0, 0, tzinfo=SHANGHAI))),
    "VERIFICATION_REQUIRED": (a_loan, lambda loan: a_debit_day_change(loan, 20, channel=R.Channel.ACCOUNT_MANAGER)),
    "INVALID_AMOUNT": (a_loan, lambda loan: repayment(loan, amount="99999999.00")),
    "INVALID_DATE": (a_loan, lambda loan: repayment(loan, on=date(2020, 2, 8))),
}


@pytest.mark.parametrize("code", sorted(CASES))
async def test_each_refusal_names_its_reason_and_the_facts(service: ServiceRuntime, kafka: KafkaDriver,
                                                           code: str) -> None:
    make_loan, make_command = CASES[code]
    loan = make_loan()
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        refused = await answer(kafka, watch, make_command(loan), loan_id=loan.loan_id)
    assert refused.type == "RequestRejected"
    assert refused.data["reason_code"] == code
    assert refused.data["reason"] and refused.data["facts"] and refused.data["policy_version"] == "epidemic-2020"
    assert "request_id" not in refused.data  # refused before a request existed


async def test_an_unknown_loan_is_refused(service: ServiceRuntime, kafka: KafkaDriver) -> None:
    loan = a_loan()  # never published
    async with kafka.watch(EVENTS) as watch:
        refused = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
    assert refused.data["reason_code"] == "LOAN_NOT_FOUND"


async def test_a_second_request_while_one_is_open_is_refused(service: ServiceRuntime, kafka: KafkaDriver) -> None:
    loan = a_loan(co_borrowers=1)
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        first = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
        second = await answer(kafka, watch, repayment(loan), loan_id=loan.loan_id)
    assert first.type == "RequestSubmitted"
    assert second.data["reason_code"] == "OPEN_REQUEST_EXISTS"


async def test_loans_with_co_borrowers_go_to_the_counter_under_the_old_policy(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    await publish_loan(kafka, loan, requests=service)
    await api.put("/policy", json={"preset": "standard-2019", "changed_by": "ops-1"})
    try:
        async with kafka.watch(EVENTS) as watch:
            refused = await answer(kafka, watch, a_debit_day_change(loan, 12), loan_id=loan.loan_id)
    finally:
        await api.put("/policy", json={"preset": "epidemic-2020", "changed_by": "ops-1"})
    assert refused.data["reason_code"] == "CO_BORROWERS_NOT_ALLOWED_ONLINE"
    assert refused.data["policy_version"] == "standard-2019"


async def test_an_unreachable_co_borrower_ends_the_request(service: ServiceRuntime, kafka: KafkaDriver) -> None:
    loan = a_loan(co_borrowers=1)
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
        await co_borrower_says(kafka, submitted, loan.borrowers[1].customer_id, "UNREACHABLE")
        rejected = await next_event(watch, "RequestRejected", submitted.data["request_id"])
    assert rejected.data["reason_code"] == "CO_BORROWER_UNREACHABLE"


async def test_the_applicant_withdraws_an_open_request_and_nobody_else_can(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
        request_id = submitted.data["request_id"]
        stranger = R.WithdrawRequest(command_id=ref("cmd"), request_id=request_id, applicant_customer_id="C-nobody")
        await kafka.publish("requests.commands", stranger, subject=loan.loan_id)
        [refusal] = await watch.wait_for(lambda s: s.data.get("command_id") == stranger.command_id)
        mine = R.WithdrawRequest(command_id=ref("cmd"), request_id=request_id, applicant_customer_id=primary_of(loan))
        await kafka.publish("requests.commands", mine, subject=loan.loan_id)
        await next_event(watch, "RequestWithdrawn", request_id)
        again = R.WithdrawRequest(command_id=ref("cmd"), request_id=request_id, applicant_customer_id=primary_of(loan))
        await kafka.publish("requests.commands", again, subject=loan.loan_id)
        [late] = await watch.wait_for(lambda s: s.data.get("command_id") == again.command_id)
        unknown = R.WithdrawRequest(command_id=ref("cmd"), request_id="R-none", applicant_customer_id="C-1")
        await kafka.publish("requests.commands", unknown, subject=loan.loan_id)
        [missing] = await watch.wait_for(lambda s: s.data.get("command_id") == unknown.command_id)
    assert (refusal.type, refusal.data["reason_code"], refusal.data["command_type"]) == (
        "RequestRejected", "NOT_APPLICANT", "WithdrawRequest")
    assert late.data["reason_code"] == "REQUEST_NOT_WITHDRAWABLE"
    assert missing.data["reason_code"] == "REQUEST_NOT_FOUND" and missing.data["loan_id"] == loan.loan_id
    assert (await api.get(f"/requests/{request_id}")).json()["state"] == "WITHDRAWN"
    # The loan is free again: a new request is accepted.
    async with kafka.watch(EVENTS) as watch:
        assert (await answer(kafka, watch, a_debit_day_change(loan, 21), loan_id=loan.loan_id)).type == (
            "RequestSubmitted")


async def test_the_status_api_lists_open_requests_by_deadline(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    late, early = a_loan(co_borrowers=1, next_due_date=date(2020, 2, 27)), a_loan(co_borrowers=1,
                                                                                    next_due_date=date(2020, 2, 11))
    for loan in (late, early):
        await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        for loan in (late, early):
            await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
    listed = (await api.get("/requests", params={"state": "AWAITING_CONFIRMATION", "limit": 1000})).json()
    ours = [r["loan_id"] for r in listed if r["loan_id"] in (late.loan_id, early.loan_id)]
    assert ours == [early.loan_id, late.loan_id]
    before = (await api.get("/requests", params={"deadline_before": "2020-02-12", "limit": 1000})).json()
    assert early.loan_id in {r["loan_id"] for r in before} and late.loan_id not in {r["loan_id"] for r in before}
    of_loan = (await api.get(f"/loans/{early.loan_id}/requests")).json()
    assert [r["state"] for r in of_loan] == ["AWAITING_CONFIRMATION"]
    assert (await api.get("/requests/R-unknown")).status_code == 404


async def test_a_bad_policy_document_is_refused_by_the_admin_endpoint(api: httpx.AsyncClient) -> None:
    bad = {"version": "x", "min_debit_day": 1, "max_debit_day": 31, "co_borrower_loans_online": True}
    assert (await api.put("/policy", json={"policy": bad, "changed_by": "ops"})).status_code == 422
    assert (await api.put("/policy", json={"preset": "nope", "changed_by": "ops"})).status_code == 422
    assert (await api.get("/policy")).json()["version"] == "epidemic-2020"
