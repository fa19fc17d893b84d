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

DATA = Path(__file__).parent / "data"

# Transcribed from CONTRACT.md 1.1 ("Topics" and "Data of each type"): the fields every message of a type carries.
CONTRACT: dict[str, dict[str, list[str]]] = {
    topics.LOANS_SNAPSHOTS: {
        "LoanSnapshot": ["loan_id", "status", "product", "branch_id", "currency", "instalment_amount",
                         "outstanding_principal", "debit_day", "next_due_date", "borrowers", "as_of"],
    },
    topics.REQUESTS_COMMANDS: {
        "SubmitDebitDayChange": ["command_id", "loan_id", "applicant_customer_id", "channel", "new_debit_day",
                                 "submitted_at"],
        "SubmitEarlyRepayment": ["command_id", "loan_id", "applicant_customer_id", "channel", "submitted_at",
                                 "repayment_type", "requested_date"],
        "WithdrawRequest": ["command_id", "request_id", "applicant_customer_id"],
    },
    topics.REQUESTS_EVENTS: {
        "RequestSubmitted": ["request_id", "command_id", "loan_id", "request_type", "applicant_customer_id",
                             "channel", "co_borrowers", "deadline", "paper_documents_required", "policy_version",
                             "branch_id", "confirmation_attempts"],
        "RequestRejected": ["command_id", "loan_id", "reason_code", "reason", "facts", "policy_version"],
        "RequestApproved": ["request_id", "loan_id", "request_type", "approved_at", "policy_version"],
        "RequestCompleted": ["request_id", "loan_id", "completed_at"],
        "RequestWithdrawn": ["request_id", "loan_id", "withdrawn_at"],
        "RequestExpired": ["request_id", "loan_id", "expired_at"],
        "CommandRejected": ["command_id", "command_type", "reason_code", "reason", "facts"],
        "PolicyChanged": ["version", "document", "document_sha256", "previous_version", "changed_by", "changed_at"],
    },
    topics.CONFIRMATION_COMMANDS: {
        "RecordCallOutcome": ["command_id", "task_id", "agent_id", "outcome", "called_at"],
        "RecordPaperSignature": ["command_id", "request_id", "customer_id", "received_at", "received_by",
                                 "branch_id"],
        "RecordRemoteSigning": ["command_id", "request_id", "customer_id", "signing_branch_id", "courier",
                                "tracking_number", "signed_at"],
    },
    topics.CONFIRMATION_EVENTS: {
        "ConfirmationCallRequested": ["task_id", "request_id", "loan_id", "customer_id", "due_by", "attempt"],
        "CoBorrowerConfirmed": ["task_id", "request_id", "loan_id", "customer_id", "agent_id", "recording_id",
                                "confirmed_at"],
        "CoBorrowerDeclined": ["task_id", "request_id", "loan_id", "customer_id", "agent_id", "recording_id",
                               "declined_at"],
        "CoBorrowerUnreachable": ["task_id", "request_id", "loan_id", "customer_id", "unreachable_at"],
        "PaperSignatureReceived": ["request_id", "customer_id"],
        "DocumentsInTransit": ["request_id", "customer_id"],
        "CommandRejected": ["command_id", "command_type", "reason_code", "reason", "facts"],
    },
    topics.APPOINTMENTS_COMMANDS: {
        "BookSlot": ["command_id", "customer_id", "branch_id", "date", "start_time", "service_type"],
        "CancelBooking": ["command_id", "booking_id", "customer_id"],
        "CheckIn": ["command_id", "branch_id", "booking_code", "at"],
        "SetBranchPlan": ["command_id", "branch_id", "name", "address", "timezone", "slot_minutes", "daily_cap",
                          "weekly"],
        "SetDateOverride": ["command_id", "branch_id", "date"],
    },
    topics.APPOINTMENTS_EVENTS: {
        "SlotBooked": ["booking_id", "booking_code", "command_id", "customer_id", "branch_id", "date",
                       "start_time", "end_time", "service_type"],
        "BookingRejected": ["command_id", "customer_id", "branch_id", "date", "start_time", "reason_code",
                            "reason", "facts"],
        "BookingCancelled": ["booking_id"],
        "CheckedIn": ["booking_id", "ticket_number", "priority"],
        "NoShow": ["booking_id"],
        "BranchPlanChanged": ["branch_id", "over_capacity", "over_daily_cap"],
        "CommandRejected": ["command_id", "command_type", "reason_code", "reason", "facts"],
    },
    topics.NOTIFICATIONS_EVENTS: {
        "NotificationSent": ["notification_id", "event_id", "customer_id", "channel", "template", "language",
                             "sent_at"],
        "NotificationFailed": ["notification_id", "event_id", "customer_id", "channel", "template", "language",
                               "failed_at", "error", "attempts"],
    },
}
# Fields CONTRACT.md names as optional or conditional: they must exist, but may be absent on the wire.
OPTIONAL = {
    "SubmitDebitDayChange": ["reason", "staff_id", "identity_verification"],
    "SubmitEarlyRepayment": ["amount", "reason", "staff_id", "identity_verification"],
    "RequestSubmitted": ["current_debit_day", "new_debit_day", "current_due_date", "new_due_date", "staff_id",
                         "identity_verification"],
    "CommandRejected": ["request_id", "booking_id", "task_id"],
    "SetBranchPlan": ["booking_window_days"],
    "RequestRejected": ["request_id"],
    "RequestApproved": ["new_debit_day", "new_due_date", "repayment_type", "amount", "requested_date"],
    "RecordCallOutcome": ["recording_id", "note"],
    "BookSlot": ["request_id", "note"],
    "SetDateOverride": ["closed", "windows", "daily_cap"],
}
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


def test_a_debit_day_change_submission_must_carry_both_days_and_both_dates() -> None:
    golden = json.loads((DATA / "RequestSubmitted.json").read_text(encoding="utf-8"))
    with pytest.raises(ValidationError, match="debit-day change carries"):
        R.RequestSubmitted.model_validate({k: v for k, v in golden.items() if k != "new_due_date"})
