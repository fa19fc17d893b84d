"""SPEC §9: a policy document is checked strictly (types and bounds) before it is put in force; presets are found
by name among the shipped files only."""

from pathlib import Path
from typing import Any

import pytest

from services.requests.policies import HERE, PolicyDocument, load_policy, parse_policy, presets

VALID: dict[str, Any] = {"version": "v-1", "min_debit_day": 1, "max_debit_day": 28, "co_borrower_loans_online": True,
                         "cutoff_days_before_due": 0, "confirmation_attempts": 3,
                         "early_repayment_max_days_ahead": 90, "description": ""}


def test_every_shipped_preset_passes_the_strict_model() -> None:
    assert presets() == sorted(p.stem for p in Path(HERE).glob("*.json")) == ["epidemic-2020", "standard-2019"]
    for name in presets():
        assert load_policy(name).version == name


def test_a_valid_document_becomes_the_domain_policy_unchanged() -> None:
    policy = parse_policy(VALID)
    assert PolicyDocument.model_validate(VALID).to_policy() == policy and policy.max_debit_day == 28


@pytest.mark.parametrize("broken", [
    {"co_borrower_loans_online": "false"}, {"co_borrower_loans_online": 0}, {"cutoff_days_before_due": 999999999},
    {"cutoff_days_before_due": 32}, {"confirmation_attempts": 0}, {"confirmation_attempts": 11},
    {"confirmation_attempts": "3"}, {"min_debit_day": 0}, {"max_debit_day": 29},
    {"min_debit_day": 20, "max_debit_day": 10},
    {"early_repayment_max_days_ahead": 0}, {"early_repayment_max_days_ahead": 367}, {"min_debit_day": 1.0},
    {"min_debit_day": True}, {"version": ""}, {"version": "v\x00"}, {"version": "v\n1"}, {"version": "v" * 129},
    {"description": "d" * 1001}, {"unknown": 1},
], ids=str)
def test_a_broken_document_is_refused_with_the_field_named(broken: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as refused:
        parse_policy({**VALID, **broken})
    assert "refused" in str(refused.value)
    assert any(name in str(refused.value) for name in broken) or "min_debit_day must not be after" in str(refused.value)


@pytest.mark.parametrize("name", ["nope", "../policies/standard-2019", "standard-2019.json", "__init__", ""])
def test_only_a_shipped_preset_can_be_loaded_by_name(name: str) -> None:
    with pytest.raises(ValueError, match="unknown policy preset"):
        load_policy(name)
