"""Every refusal the requests service can give, each explained, against the real broker and database."""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from harness.builders import (
    ACCOUNT_DAY,
    SHANGHAI,
    a_debit_day_change,
    a_loan,
    primary_of,
    ref,
)
from shared.contracts import loans as L
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.support.auth import STAFF
from tests.support.kafka import KafkaDriver
from tests.support.pages import every_item
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
    # Due today (the service's clock reads 3 Feb): a command backdated to the day before is still late.
    "PAST_CUTOFF": (lambda: a_loan(debit_day=3, next_due_date=date(2020, 2, 3)),
                    lambda loan: a_debit_day_change(loan, 20, submitted_at=datetime(2020, 2, 2, 12, tzinfo=SHANGHAI))),
    "SUBMITTED_IN_FUTURE": (a_loan, lambda loan: a_debit_day_change(loan, 20,
                                                                    submitted_at=ACCOUNT_DAY + timedelta(minutes=6))),
    "VERIFICATION_REQUIRED": (a_loan, lambda loan: a_debit_day_change(loan, 20, channel=R.Channel.ACCOUNT_MANAGER,
                                                                      staff_id="S-1")),
    "STAFF_REQUIRED": (a_loan, lambda loan: a_debit_day_change(
        loan, 20, channel=R.Channel.HOTLINE,
        identity_verification=R.IdentityVerification(method=R.VerificationMethod.RECORDED_CALL, recording_id="REC-1"))),
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
    assert refused.data["reason"] and refused.data["policy_version"] == "epidemic-2020"
    assert refused.data["facts"]["policy_version"] == "epidemic-2020" and len(refused.data["facts"]) > 1
    assert "request_id" not in refused.data  # refused before a request existed


async def test_a_late_request_is_judged_on_the_services_clock_and_says_when_it_arrived(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    loan = a_loan(debit_day=3, next_due_date=date(2020, 2, 3))
    await publish_loan(kafka, loan, requests=service)
    backdated = datetime(2020, 2, 2, 12, tzinfo=SHANGHAI)
    async with kafka.watch(EVENTS) as watch:
        refused = await answer(kafka, watch, a_debit_day_change(loan, 20, submitted_at=backdated), loan_id=loan.loan_id)
    facts = refused.data["facts"]
    assert refused.data["reason_code"] == "PAST_CUTOFF"
    assert datetime.fromisoformat(facts["arrived"]) == ACCOUNT_DAY
    assert datetime.fromisoformat(facts["deadline"]) == datetime(2020, 2, 3, tzinfo=SHANGHAI)
    assert datetime.fromisoformat(facts["submitted_at"]) == backdated
    assert facts["arrival_gap_s"] == str(int((ACCOUNT_DAY - backdated).total_seconds()))


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
    assert second.data["facts"]["open_request_id"] == first.data["request_id"]


async def test_loans_with_co_borrowers_go_to_the_counter_under_the_old_policy(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1)
    await publish_loan(kafka, loan, requests=service)
    await api.put("/policy", json={"preset": "standard-2019"})
    try:
        async with kafka.watch(EVENTS) as watch:
            refused = await answer(kafka, watch, a_debit_day_change(loan, 12), loan_id=loan.loan_id)
    finally:
        await api.put("/policy", json={"preset": "epidemic-2020"})
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


async def test_loans_with_co_borrowers_are_served_at_the_counter_under_the_old_policy(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    """SPEC §2: `co_borrower_loans_online` covers the remote channels; BRANCH stays open under every policy."""
    loan = a_loan(co_borrowers=1)
    await publish_loan(kafka, loan, requests=service)
    await api.put("/policy", json={"preset": "standard-2019"})
    try:
        async with kafka.watch(EVENTS) as watch:
            submitted = await answer(kafka, watch, a_debit_day_change(loan, 12, channel=R.Channel.BRANCH),
                                     loan_id=loan.loan_id)
    finally:
        await api.put("/policy", json={"preset": "epidemic-2020"})
    assert submitted.type == "RequestSubmitted" and submitted.data["policy_version"] == "standard-2019"


async def test_the_applicant_withdraws_an_open_request_and_nobody_else_can(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    """A refused withdrawal is a CommandRejected and changes nothing; a replayed one gets its first answer."""
    loan = a_loan(co_borrowers=1)
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
        request_id = submitted.data["request_id"]
        stranger = R.WithdrawRequest(command_id=ref("cmd"), request_id=request_id, applicant_customer_id="C-nobody")
        await kafka.publish("requests.commands", stranger, subject=loan.loan_id)
        [refusal] = await watch.wait_for(lambda s: s.data.get("command_id") == stranger.command_id)
        still = (await api.get(f"/requests/{request_id}")).json()
        mine = R.WithdrawRequest(command_id=ref("cmd"), request_id=request_id, applicant_customer_id=primary_of(loan))
        await kafka.publish("requests.commands", mine, subject=loan.loan_id)
        withdrawn = await next_event(watch, "RequestWithdrawn", request_id)
        await kafka.publish("requests.commands", mine, subject=loan.loan_id)  # the same command, a new envelope
        await kafka.publish("requests.commands", stranger, subject=loan.loan_id)
        await watch.wait_for(lambda s: s.data.get("command_id") == stranger.command_id, count=2)
        assert len(watch.matching(lambda s: s.id == withdrawn.id)) == 2  # the first answer again, same event id
        again = R.WithdrawRequest(command_id=ref("cmd"), request_id=request_id, applicant_customer_id=primary_of(loan))
        await kafka.publish("requests.commands", again, subject=loan.loan_id)
        [late] = await watch.wait_for(lambda s: s.data.get("command_id") == again.command_id)
        unknown = R.WithdrawRequest(command_id=ref("cmd"), request_id="R-none", applicant_customer_id="C-1")
        await kafka.publish("requests.commands", unknown, subject=loan.loan_id)
        [missing] = await watch.wait_for(lambda s: s.data.get("command_id") == unknown.command_id)
    assert (refusal.type, refusal.data["reason_code"], refusal.data["command_type"]) == (
        "CommandRejected", "NOT_APPLICANT", "WithdrawRequest")
    assert refusal.data["request_id"] == request_id and refusal.data["facts"]["request_id"] == request_id
    assert still["state"] == "AWAITING_CONFIRMATION" and len(still["history"]) == 2  # the refusal changed nothing
    assert watch.matching(lambda s: s.type == "RequestRejected" and s.data.get("request_id") == request_id) == []
    assert late.type == "CommandRejected" and late.data["reason_code"] == "REQUEST_NOT_WITHDRAWABLE"
    assert late.data["facts"]["state"] == "WITHDRAWN"
    assert missing.type == "CommandRejected" and missing.data["reason_code"] == "REQUEST_NOT_FOUND"
    assert missing.key == loan.loan_id.encode()
    assert (await api.get(f"/requests/{request_id}")).json()["state"] == "WITHDRAWN"
    # The loan is free again: a new request is accepted.
    async with kafka.watch(EVENTS) as watch:
        assert (await answer(kafka, watch, a_debit_day_change(loan, 21), loan_id=loan.loan_id)).type == (
            "RequestSubmitted")


async def test_the_status_api_lists_open_requests_by_deadline(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    late = a_loan(co_borrowers=1, debit_day=27, next_due_date=date(2020, 2, 27))
    early = a_loan(co_borrowers=1, debit_day=11, next_due_date=date(2020, 2, 11))
    for loan in (late, early):
        await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        for loan in (late, early):
            await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
    listed = await every_item(api, "/requests", state="AWAITING_CONFIRMATION", limit=1000)
    ours = [r["loan_id"] for r in listed if r["loan_id"] in (late.loan_id, early.loan_id)]
    assert ours == [early.loan_id, late.loan_id]
    before = await every_item(api, "/requests", deadline_before="2020-02-12", limit=1000)
    assert early.loan_id in {r["loan_id"] for r in before} and late.loan_id not in {r["loan_id"] for r in before}
    of_loan = await every_item(api, f"/loans/{early.loan_id}/requests")
    assert [r["state"] for r in of_loan] == ["AWAITING_CONFIRMATION"]
    assert (await api.get("/requests/R-unknown")).status_code == 404


async def test_a_policy_switch_is_kept_in_the_history_and_published(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    """SPEC §9: who, when, from what, to what; published as PolicyChanged with the whole document and its hash."""
    async with kafka.watch(EVENTS) as watch:
        await api.put("/policy", json={"preset": "standard-2019"})
        await api.put("/policy", json={"preset": "epidemic-2020"})
        [there, back] = await watch.wait_for(lambda s: s.type == "PolicyChanged"
                                             and s.data["changed_by"] == STAFF, count=2)
    assert (there.key, there.data["version"], there.data["previous_version"]) == (b"policy", "standard-2019",
                                                                                    "epidemic-2020")
    assert back.data["version"] == "epidemic-2020" and back.data["document"]["max_debit_day"] == 28
    history = (await api.get("/policy/history", params={"limit": 2})).json()["switches"]
    assert [(h["from_version"], h["to_version"], h["changed_by"]) for h in history] == [
        ("standard-2019", "epidemic-2020", STAFF), ("epidemic-2020", "standard-2019", STAFF)]
    assert history[0]["document_sha256"] == back.data["document_sha256"] == (await api.get("/policy")).json()[
        "document_sha256"]


async def test_a_version_name_never_means_two_documents(api: httpx.AsyncClient) -> None:
    """SPEC §9: versions are immutable; a changed document under a known name is refused (409)."""
    doc = {"version": "epidemic-2020", "min_debit_day": 1, "max_debit_day": 20, "co_borrower_loans_online": True}
    refused = await api.put("/policy", json={"policy": doc})
    assert refused.status_code == 409 and "already names another document" in refused.json()["detail"]
    current = (await api.get("/policy")).json()
    assert current["version"] == "epidemic-2020" and current["document"]["max_debit_day"] == 28
    kept = (await api.get("/policy/versions/epidemic-2020")).json()
    assert kept["document"]["max_debit_day"] == 28 and kept["document_sha256"] == current["document_sha256"]


async def test_a_bad_policy_document_is_refused_by_the_admin_endpoint(api: httpx.AsyncClient) -> None:
    bad = {"version": "x", "min_debit_day": 1, "max_debit_day": 31, "co_borrower_loans_online": True}
    assert (await api.put("/policy", json={"policy": bad})).status_code == 422
    assert (await api.put("/policy", json={"preset": "nope"})).status_code == 422
    assert (await api.get("/policy")).json()["version"] == "epidemic-2020"


async def test_a_replayed_refusal_gets_the_first_answer_even_when_the_facts_have_changed(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    """SPEC §10: every command is idempotent by command_id, refusals included: the replay is answered with the
    first refusal (the same event), not decided again against the loan that has arrived since."""
    loan = a_loan()
    command = a_debit_day_change(loan, 20)
    async with kafka.watch(EVENTS) as watch:
        first = await answer(kafka, watch, command, loan_id=loan.loan_id)
        await publish_loan(kafka, loan, requests=service)
        await kafka.publish("requests.commands", command, subject=loan.loan_id)
        await kafka.publish("requests.commands", command, subject=loan.loan_id)  # likely in the same batch
        marker = await answer(kafka, watch, a_debit_day_change(loan, 21), loan_id=loan.loan_id)
        answers = await watch.wait_for(lambda s: s.data.get("command_id") == command.command_id, count=3)
    assert first.data["reason_code"] == "LOAN_NOT_FOUND"
    assert {a.id for a in answers} == {first.id}
    assert marker.type == "RequestSubmitted"  # the loan was there: only the replays were not decided again
