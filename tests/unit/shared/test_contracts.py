"""The contract package against CONTRACT.md: every type, every required field, golden JSON round trips."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared import topics
from shared.contracts import TOPIC_TYPES, Contract
from shared.contracts import appointments as A
from shared.contracts import loans as L
from shared.contracts import requests as R
from tests.support.contract import CONTRACT, OPTIONAL

DATA = Path(__file__).parent / "data"

ALL_TYPES = {name: model for models in TOPIC_TYPES.values() for model in models for name in [model.type_name()]}


def test_every_contract_topic_is_a_topic_constant() -> None:
    assert set(CONTRACT) == set(topics.ALL) == set(TOPIC_TYPES)


@pytest.mark.parametrize("topic", sorted(CONTRACT))
def test_each_topic_carries_exactly_the_contract_types(topic: str) -> None:
    assert {m.type_name() for m in TOPIC_TYPES[topic]} == set(CONTRACT[topic])


@pytest.mark.parametrize(("name", "fields"), sorted({n: f for t in CONTRACT.values() for n, f in t.items()}.items()))
def test_each_type_requires_the_contract_fields(name: str, fields: list[str]) -> None:
    model = ALL_TYPES[name]
    required = {n for n, f in model.model_fields.items() if f.is_required()}
    missing = [f for f in fields if f not in model.model_fields]
    assert not missing, f"{name} lacks {missing}"
    assert set(fields) - {"priority"} <= required, f"{name}: {sorted(set(fields) - required)} not required"
    assert [f for f in OPTIONAL.get(name, []) if f not in model.model_fields] == []


def test_a_borrower_carries_every_contract_field() -> None:
    assert {"customer_id", "role", "name", "phone", "id_number", "language", "channels", "email"} <= set(
        L.Borrower.model_fields
    )


def test_booking_refusals_use_the_contract_reason_codes() -> None:
    assert {r.value for r in A.BookingRejectReason} == {
        "BRANCH_CLOSED", "UNKNOWN_SLOT", "SLOT_FULL", "DAY_FULL", "OUTSIDE_BOOKING_WINDOW", "DUPLICATE_BOOKING",
        "UNKNOWN_BRANCH",
    }


@pytest.mark.parametrize("name", sorted(ALL_TYPES))
def test_the_golden_document_of_each_type_round_trips(name: str) -> None:
    golden = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    model: type[Contract] = ALL_TYPES[name]
    parsed = model.model_validate(golden)
    assert parsed.model_dump(mode="json", exclude_none=True) == golden
    assert model.model_validate_json(parsed.model_dump_json()) == parsed


def test_every_golden_document_is_a_contract_type() -> None:
    assert {p.stem for p in DATA.glob("*.json")} == set(ALL_TYPES)


def test_money_travels_as_a_decimal_string_and_floats_are_refused() -> None:
    golden = json.loads((DATA / "LoanSnapshot.json").read_text(encoding="utf-8"))
    assert golden["instalment_amount"] == "5230.15"
    assert L.LoanSnapshot.model_validate(golden).instalment_amount == Decimal("5230.15")
    with pytest.raises(ValidationError, match="decimal string"):
        L.LoanSnapshot.model_validate({**golden, "instalment_amount": 5230.15})


def test_producers_may_add_fields_that_consumers_ignore() -> None:
    golden = json.loads((DATA / "WithdrawRequest.json").read_text(encoding="utf-8"))
    assert R.WithdrawRequest.model_validate({**golden, "added_later": 1}) == R.WithdrawRequest.model_validate(golden)


def test_a_plan_change_written_before_daily_caps_still_validates() -> None:
    golden = json.loads((DATA / "BranchPlanChanged.json").read_text(encoding="utf-8"))
    del golden["daily_caps"]
    assert A.BranchPlanChanged.model_validate(golden).daily_caps == []


def test_a_day_cap_is_never_negative() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        A.DayCap.model_validate({"date": "2020-02-10", "daily_cap": -1, "closed": False})


def test_a_debit_day_change_submission_must_carry_both_days_and_both_dates() -> None:
    golden = json.loads((DATA / "RequestSubmitted.json").read_text(encoding="utf-8"))
    with pytest.raises(ValidationError, match="debit-day change carries"):
        R.RequestSubmitted.model_validate({k: v for k, v in golden.items() if k != "new_due_date"})
