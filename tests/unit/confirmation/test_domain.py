"""Rules of co-borrower calls and paper documents (SPEC §4, §5), pure."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.confirmation.domain import (
    BANK_TZ,
    CallRecord,
    CallReport,
    Finished,
    Paper,
    PaperReceipt,
    PaperState,
    Refusal,
    RefusalCode,
    RemoteSigning,
    Retry,
    Task,
    TaskState,
    deadline_near,
    earliest_useful_due_by,
    owes_paper_for_applicant,
    paper_age_days,
    paper_branch,
    receive_paper,
    record_outcome,
    send_remote_signing,
)

NOW = datetime(2020, 2, 3, 10, tzinfo=BANK_TZ)
TASK = Task("T-1", "R-1", "L-1", "C-2", date(2020, 2, 25), TaskState.OPEN, 0, "A-1", NOW + timedelta(minutes=5), NOW,
            max_attempts=3)


def outcome(task: Task | None = TASK, agent: str = "A-1", result: str = "CONFIRMED", recording: str | None = "REC",
            now: datetime = NOW, default_attempts: int = 3, previous: CallRecord | None = None,
            ) -> Finished | Retry | Refusal:
    call = CallReport("cmd-1", "T-1", agent, result, recording, NOW)
    return record_outcome(task, call, now=now, default_attempts=default_attempts, retry_pause=timedelta(minutes=30),
                          previous=previous)


def refused(result: object, code: RefusalCode) -> Refusal:
    assert isinstance(result, Refusal) and result.code is code and result.reason, result
    return result


@pytest.mark.parametrize("result", ["CONFIRMED", "DECLINED"])
def test_a_confirmed_or_declined_call_settles_the_task_and_needs_its_recording(result: str) -> None:
    settled = outcome(result=result)
    assert isinstance(settled, Finished) and settled.task.state is TaskState(result)
    assert settled.task.held_by is None and settled.task.attempts == 1
    assert refused(outcome(result=result, recording=None), RefusalCode.RECORDING_REQUIRED).facts == {"outcome": result}


@pytest.mark.parametrize("result", ["NO_ANSWER", "WRONG_NUMBER"])
def test_an_unanswered_call_comes_back_after_a_pause_until_the_attempts_run_out(result: str) -> None:
    first = outcome(result=result, recording=None)
    assert isinstance(first, Retry) and first.task.available_at == NOW + timedelta(minutes=30)
    assert first.task.state is TaskState.OPEN and first.task.held_by is None
    last = outcome(replace(TASK, attempts=2), result=result, recording=None)
    assert isinstance(last, Finished) and last.task.state is TaskState.UNREACHABLE and last.task.attempts == 3


@pytest.mark.parametrize("allowed", [1, 2, 4])
def test_the_attempts_come_from_the_request_not_the_setting(allowed: int) -> None:
    task = replace(TASK, max_attempts=allowed)
    for attempts_so_far in range(allowed - 1):
        assert isinstance(outcome(replace(task, attempts=attempts_so_far), result="NO_ANSWER", recording=None,
                                  default_attempts=3), Retry)
    last = outcome(replace(task, attempts=allowed - 1), result="NO_ANSWER", recording=None, default_attempts=3)
    assert isinstance(last, Finished) and last.task.state is TaskState.UNREACHABLE and last.task.attempts == allowed


def test_a_task_from_before_requests_carried_attempts_falls_back_to_the_setting() -> None:
    legacy = replace(TASK, max_attempts=None, attempts=1)
    assert isinstance(outcome(legacy, result="NO_ANSWER", recording=None, default_attempts=3), Retry)
    assert isinstance(outcome(legacy, result="NO_ANSWER", recording=None, default_attempts=2), Finished)


def test_no_outcome_counts_once_the_deadline_day_has_begun() -> None:
    due = date(2020, 2, 4)
    task = replace(TASK, due_by=due)
    just_before = datetime(2020, 2, 3, 23, 59, 59, tzinfo=BANK_TZ)
    assert isinstance(outcome(replace(task, lease_until=just_before + timedelta(minutes=1)), now=just_before), Finished)
    at_deadline = datetime(2020, 2, 3, 16, tzinfo=UTC)  # 2020-02-04 00:00 in Shanghai, still the 3rd in UTC
    for result in ("CONFIRMED", "DECLINED", "NO_ANSWER"):
        late = refused(outcome(task, result=result, now=at_deadline), RefusalCode.DEADLINE_PASSED)
        assert late.facts == {"due_by": "2020-02-04", "deadline": "2020-02-04T00:00:00+08:00",
                              "decided_at": "2020-02-03T16:00:00+00:00"}


def test_a_late_outcome_is_refused_even_from_another_agent_or_without_recording() -> None:
    late = replace(TASK, due_by=date(2020, 2, 3))
    refused(outcome(late, agent="A-2"), RefusalCode.DEADLINE_PASSED)
    refused(outcome(late, recording=None), RefusalCode.DEADLINE_PASSED)


def test_only_the_holder_records_while_the_lease_runs() -> None:
    other = refused(outcome(agent="A-2"), RefusalCode.NOT_TASK_HOLDER)
    assert other.reason == "Another agent holds this task."
    assert other.facts == {"held_by": "A-1", "lease_until": (NOW + timedelta(minutes=5)).isoformat(),
                           "agent_id": "A-2", "decided_at": NOW.isoformat()}
    assert isinstance(outcome(agent="A-1"), Finished)


@pytest.mark.parametrize("agent", ["A-1", "A-2"])
def test_leases_are_enforced_an_expired_or_missing_lease_records_nothing(agent: str) -> None:
    expired = replace(TASK, lease_until=NOW - timedelta(seconds=1))
    assert refused(outcome(expired, agent=agent), RefusalCode.NOT_TASK_HOLDER).facts["held_by"] == "A-1"
    unheld = replace(TASK, held_by=None, lease_until=None)
    assert refused(outcome(unheld, agent=agent), RefusalCode.NOT_TASK_HOLDER).facts == {
        "held_by": "", "lease_until": "", "agent_id": agent, "decided_at": NOW.isoformat()}
    assert refused(outcome(replace(TASK, lease_until=NOW), agent=agent), RefusalCode.NOT_TASK_HOLDER)  # ends at NOW


@pytest.mark.parametrize(("task", "code", "facts"), [
    (None, RefusalCode.UNKNOWN_TASK, {"task_id": "T-1"}),
    (replace(TASK, state=TaskState.CLOSED), RefusalCode.TASK_CLOSED, {"task_state": "CLOSED", "request_id": "R-1"}),
    (replace(TASK, state=TaskState.UNREACHABLE, attempts=3), RefusalCode.DUPLICATE_OUTCOME,
     {"task_state": "UNREACHABLE", "attempts": "3"}),
])
def test_unknown_closed_or_settled_tasks_are_refused_with_their_facts(
    task: Task | None, code: RefusalCode, facts: dict[str, str]
) -> None:
    assert refused(outcome(task), code).facts == facts


def test_a_second_outcome_names_the_earlier_one() -> None:
    earlier = CallRecord("cmd-1", "A-7", "CONFIRMED", "REC-7", NOW - timedelta(hours=1))
    duplicate = refused(outcome(replace(TASK, state=TaskState.CONFIRMED, attempts=1), previous=earlier),
                        RefusalCode.DUPLICATE_OUTCOME)
    assert duplicate.facts == {
        "task_state": "CONFIRMED", "attempts": "1", "earlier_outcome": "CONFIRMED", "earlier_command_id": "cmd-1",
        "earlier_agent_id": "A-7", "earlier_recording_id": "REC-7",
        "earlier_called_at": (NOW - timedelta(hours=1)).isoformat()}


def test_the_next_task_handed_out_is_due_after_the_bank_day() -> None:
    assert earliest_useful_due_by(datetime(2020, 2, 3, 15, 59, tzinfo=UTC)) == date(2020, 2, 4)
    assert earliest_useful_due_by(datetime(2020, 2, 3, 16, 0, tzinfo=UTC)) == date(2020, 2, 5)


def test_paper_is_owed_after_a_staff_submission() -> None:
    assert owes_paper_for_applicant("HOTLINE", None) and owes_paper_for_applicant("APP", "S-1")
    assert not owes_paper_for_applicant("APP", None)


def test_paper_is_filed_under_the_request_branch_before_the_loan_projection() -> None:
    assert paper_branch("SZ-NANSHAN", "SZ-FUTIAN") == "SZ-NANSHAN"
    assert paper_branch("SZ-NANSHAN", None) == "SZ-NANSHAN"
    assert paper_branch(None, "SZ-FUTIAN") == "SZ-FUTIAN"  # a request stored before requests carried a branch
    assert paper_branch(None, None) == "UNKNOWN"


@pytest.mark.parametrize(("owed", "now", "age"), [
    # 23:30 and 00:30 Shanghai are one calendar day apart, though both fall on 2020-02-03 in UTC.
    (datetime(2020, 2, 3, 23, 30, tzinfo=BANK_TZ), datetime(2020, 2, 4, 0, 30, tzinfo=BANK_TZ), 1),
    (datetime(2020, 2, 3, 15, 30, tzinfo=UTC), datetime(2020, 2, 3, 16, 30, tzinfo=UTC), 1),
    # 00:30 and 23:30 on the 3rd in Shanghai are the same day, though UTC puts the first on the 2nd.
    (datetime(2020, 2, 2, 16, 30, tzinfo=UTC), datetime(2020, 2, 3, 15, 30, tzinfo=UTC), 0),
    (datetime(2020, 2, 3, 9, 30, tzinfo=BANK_TZ), datetime(2020, 2, 23, 9, 0, tzinfo=BANK_TZ), 20),
])
def test_paper_age_counts_shanghai_calendar_days(owed: datetime, now: datetime, age: int) -> None:
    assert paper_age_days(owed, now) == age


def _paper(state: PaperState, **over: object) -> Paper:
    return replace(Paper("R-1", "C-1", "L-1", "SZ-FUTIAN", state), **over)  # type: ignore[arg-type]


RECEIPT = PaperReceipt("R-1", "C-1", NOW, "S-1", "SZ-FUTIAN")
SIGNING = RemoteSigning("R-1", "C-1", "BJ-CHAOYANG", "SF", "SF1", NOW)


def test_paper_travels_then_arrives_once() -> None:
    in_transit = send_remote_signing(_paper(PaperState.OWED), SIGNING)
    assert isinstance(in_transit, Paper) and in_transit.state is PaperState.IN_TRANSIT
    assert (in_transit.courier, in_transit.tracking_number, in_transit.signing_branch_id) == ("SF", "SF1",
                                                                                              "BJ-CHAOYANG")
    for owed in (in_transit, _paper(PaperState.OWED)):
        received = receive_paper(owed, RECEIPT)
        assert isinstance(received, Paper) and received.state is PaperState.RECEIVED
        assert (received.received_at, received.received_by, received.received_branch_id) == (NOW, "S-1",
                                                                                             "SZ-FUTIAN")
    received = _paper(PaperState.RECEIVED, received_at=NOW, received_by="S-9")
    for paper, code, facts in [
        (None, RefusalCode.NOTHING_OWED, {"paper_state": "NONE"}),
        (_paper(PaperState.CANCELLED), RefusalCode.NOTHING_OWED, {"paper_state": "CANCELLED"}),
        (received, RefusalCode.ALREADY_RECEIVED, {"paper_state": "RECEIVED", "branch_id": "SZ-FUTIAN",
                                                  "received_at": NOW.isoformat(), "received_by": "S-9"}),
    ]:
        assert refused(receive_paper(paper, RECEIPT), code).facts == facts
        assert refused(send_remote_signing(paper, SIGNING), code).facts == facts


def test_a_task_is_near_its_deadline_within_the_window() -> None:
    window = timedelta(hours=24)
    assert not deadline_near(date(2020, 2, 5), datetime(2020, 2, 3, 23, 59, tzinfo=BANK_TZ), window)
    assert deadline_near(date(2020, 2, 5), datetime(2020, 2, 4, 0, 0, tzinfo=BANK_TZ), window)
