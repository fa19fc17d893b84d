"""SPEC §9: a policy document is checked strictly before it is put in force; a broken one is refused (422) and the
policy in force stays, so submissions go on being decided under it."""

from typing import Any

import pytest

from harness.builders import a_debit_day_change, a_loan
from tests.integration.http.conftest import Served
from tests.support.kafka import KafkaDriver
from tests.support.requests_driver import EVENTS, answer
from tests.support.wait import publish_loan

VALID = {"version": "http-strict-1", "description": "a valid document", "min_debit_day": 1, "max_debit_day": 28,
         "co_borrower_loans_online": True, "cutoff_days_before_due": 0, "confirmation_attempts": 3,
         "early_repayment_max_days_ahead": 90}
BROKEN = {
    "boolean-as-string": {"co_borrower_loans_online": "false"},
    "boolean-as-number": {"co_borrower_loans_online": 0},
    "huge-cutoff": {"cutoff_days_before_due": 999999999},
    "negative-cutoff": {"cutoff_days_before_due": -1},
    "number-as-string": {"confirmation_attempts": "3"},
    "too-many-attempts": {"confirmation_attempts": 11},
    "day-29": {"max_debit_day": 29},
    "days-reversed": {"min_debit_day": 20, "max_debit_day": 10},
    "window-over-a-year": {"early_repayment_max_days_ahead": 367},
    "unknown-field": {"booking_window_days": 14},
    "nul-in-version": {"version": "v\u0000"},
    "blank-version": {"version": "  "},
    "long-version": {"version": "v" * 129},
    "long-description": {"description": "d" * 1001},
    "float-day": {"min_debit_day": 1.0},
}


async def _state(client: Any) -> tuple[str, str, int]:
    policy = (await client.get("/policy")).json()
    history = (await client.get("/policy/history", params={"limit": 1})).json()["switches"]
    return policy["version"], policy["document_sha256"], history[0]["id"]


@pytest.mark.parametrize("broken", BROKEN.values(), ids=BROKEN.keys())
async def test_a_broken_policy_document_is_a_422_and_the_policy_in_force_stays(
    broken: dict[str, Any], platform: dict[str, Served]
) -> None:
    async with platform["requests"].client() as client:
        before = await _state(client)
        response = await client.put("/policy", json={"policy": {**VALID, **broken}})
        after = await _state(client)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", "policy"]  # names the field at fault
    assert after == before


@pytest.mark.parametrize("preset", ["nope", "../policies/standard-2019", "standard-2019.json", "/etc/passwd",
                                    "standard-2019\u0000", "STANDARD-2019"])
async def test_only_a_shipped_preset_can_be_named(preset: str, platform: dict[str, Served]) -> None:
    async with platform["requests"].client() as client:
        before = await _state(client)
        response = await client.put("/policy", json={"preset": preset})
        after = await _state(client)
    assert response.status_code == 422 and after == before, response.text


async def test_a_refused_document_leaves_submissions_decided_under_the_policy_in_force(
    platform: dict[str, Served], kafka: KafkaDriver
) -> None:
    service = platform["requests"]
    async with service.client() as client:
        in_force = (await client.get("/policy")).json()["version"]
        for broken in ({"co_borrower_loans_online": "false"}, {"cutoff_days_before_due": 999999999}):
            refused = await client.put("/policy", json={"policy": {**VALID, **broken}})
            assert refused.status_code == 422
    loan = a_loan()
    await publish_loan(kafka, loan, requests=service.runtime)
    async with kafka.watch(EVENTS) as watch:
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
    assert submitted.type == "RequestSubmitted" and submitted.data["policy_version"] == in_force


async def test_a_valid_document_is_put_in_force_and_its_version_is_immutable(platform: dict[str, Served]) -> None:
    async with platform["requests"].client() as client:
        original = (await client.get("/policy")).json()
        try:
            put = await client.put("/policy", json={"policy": VALID})
            changed = await client.put("/policy", json={"policy": {**VALID, "confirmation_attempts": 4}})
            kept = (await client.get(f"/policy/versions/{VALID['version']}")).json()
        finally:
            back = await client.put("/policy", json={"policy": original["document"]})
    assert put.status_code == 200 and put.json()["document"] == VALID
    assert changed.status_code == 409 and kept["document"]["confirmation_attempts"] == 3
    assert back.status_code == 200 and back.json()["version"] == original["version"]
