"""The service layer against in-memory repositories (tests/unit/confirmation/fakes.py): what an outcome, a
submission, an ended request, a snapshot and a paper receipt store and emit — no broker, no database."""

from dataclasses import replace
from datetime import date, datetime, timedelta

from services.confirmation.domain import (
    BANK_TZ,
    CallReport,
    Contact,
    Loan,
    LoanSnapshot,
    Paper,
    PaperReceipt,
    PaperState,
    Submission,
    Task,
    TaskState,
)
from services.confirmation.repository import task_id_for
from shared.contracts import confirmation as C
from tests.unit.confirmation.fakes import (
    FakeAttempts,
    FakePaper,
    FakeRows,
    FakeTasks,
    World,
    a_contact,
    a_loan,
    a_request,
)

NOW = datetime(2020, 2, 3, 10, tzinfo=BANK_TZ)
TASK = Task("T-1", "R-1", "L-1", "C-2", date(2020, 2, 25), TaskState.OPEN, 0, "A-1", NOW + timedelta(minutes=5),
            NOW - timedelta(hours=1), max_attempts=3, created_at=NOW - timedelta(hours=1))


def a_call(outcome: str = "CONFIRMED", *, command_id: str = "cmd-1", agent: str = "A-1",
           recording: str | None = "REC-1") -> CallReport:
    return CallReport(command_id, "T-1", agent, outcome, recording, NOW - timedelta(minutes=1))


def wire(call: CallReport) -> C.RecordCallOutcome:
    return C.RecordCallOutcome(command_id=call.command_id, task_id=call.task_id, agent_id=call.agent_id,
                               outcome=C.CallOutcome(call.outcome), recording_id=call.recording_id,
                               called_at=call.called_at)


async def record(world: World, call: CallReport) -> None:
    await world.service(NOW, wire(call)).record_outcome(call)


def a_world(task: Task = TASK) -> World:
    world = World(tasks=FakeTasks(task), requests=FakeRows("request_id", a_request()),
                  loans=FakeRows("loan_id", a_loan()))
    world.alerts.due[task.task_id] = NOW + timedelta(days=20)
    return world


async def test_a_confirmed_call_settles_the_task_and_owes_the_paper_under_the_request_branch() -> None:
    world = a_world()
    await record(world, a_call())
    [event] = world.events()
    assert event["type"] == "CoBorrowerConfirmed" and event["subject"] == "L-1"
    assert event["data"] | {"confirmed_at": None} == {
        "task_id": "T-1", "request_id": "R-1", "loan_id": "L-1", "customer_id": "C-2", "agent_id": "A-1",
        "recording_id": "REC-1", "confirmed_at": None, "paper_signature_owed": True}
    assert world.tasks.rows["T-1"].state is TaskState.CONFIRMED and world.tasks.rows["T-1"].held_by is None
    assert [c.command_id for c in world.attempts.calls] == ["cmd-1"]
    paper = world.paper.rows[("R-1", "C-2")]
    assert (paper.state, paper.branch_id, paper.reason, paper.owed_since) == (
        PaperState.OWED, "SZ-NANSHAN", "PHONE_CONFIRMATION", NOW)
    assert "T-1" not in world.alerts.due


async def test_a_request_stored_before_it_carried_a_branch_files_the_paper_under_the_loan_branch() -> None:
    world = a_world()
    world.requests = FakeRows("request_id", a_request(branch_id=None))
    await record(world, a_call())
    assert world.paper.rows[("R-1", "C-2")].branch_id == "SZ-FUTIAN"


async def test_an_unanswered_call_with_attempts_left_asks_for_the_call_again_after_the_pause() -> None:
    world = a_world()
    await record(world, a_call("NO_ANSWER", recording=None))
    [event] = world.events()
    assert event["type"] == "ConfirmationCallRequested" and event["data"]["attempt"] == 2
    task = world.tasks.rows["T-1"]
    assert (task.state, task.attempts, task.held_by, task.available_at) == (
        TaskState.OPEN, 1, None, NOW + timedelta(minutes=30))
    assert "T-1" in world.alerts.due and not world.paper.rows


async def test_the_last_unanswered_call_makes_the_co_borrower_unreachable() -> None:
    world = a_world(replace(TASK, attempts=2))
    await record(world, a_call("WRONG_NUMBER", recording=None))
    [event] = world.events()
    assert (event["type"], event["data"]["attempts"]) == ("CoBorrowerUnreachable", 3)
    assert world.tasks.rows["T-1"].state is TaskState.UNREACHABLE and "T-1" not in world.alerts.due


async def test_an_outcome_on_a_finished_task_is_refused_naming_the_earlier_one_and_changes_nothing() -> None:
    world = a_world()
    await record(world, a_call(command_id="cmd-1", agent="A-1"))
    before = (world.tasks.rows["T-1"], list(world.attempts.calls), dict(world.paper.rows))
    await record(world, a_call("DECLINED", command_id="cmd-2", agent="A-2"))
    refusal = world.events()[-1]
    assert (refusal["type"], refusal["data"]["reason_code"]) == ("CommandRejected", "DUPLICATE_OUTCOME")
    assert refusal["data"]["command_id"] == "cmd-2" and refusal["subject"] == "L-1"
    assert (refusal["data"]["task_id"], refusal["data"]["request_id"]) == ("T-1", "R-1")
    assert refusal["data"]["facts"] | {"earlier_called_at": None} == {
        "task_state": "CONFIRMED", "attempts": "1", "earlier_outcome": "CONFIRMED", "earlier_command_id": "cmd-1",
        "earlier_agent_id": "A-1", "earlier_recording_id": "REC-1", "earlier_called_at": None}
    assert (world.tasks.rows["T-1"], world.attempts.calls, world.paper.rows) == before


async def test_an_unknown_task_is_refused_with_the_id_the_command_named() -> None:
    world = World()
    await record(world, a_call())
    [refusal] = world.events()
    assert refusal["data"]["reason_code"] == "UNKNOWN_TASK" and refusal["data"]["facts"] == {"task_id": "T-1"}
    assert not world.attempts.calls


async def test_a_command_counted_before_answers_were_stored_is_not_counted_again() -> None:
    world = a_world()
    world.attempts = FakeAttempts(replace(a_call("NO_ANSWER", recording=None), command_id="cmd-old"))
    await record(world, a_call(command_id="cmd-old"))
    assert not world.events() and world.tasks.rows["T-1"] == TASK and len(world.attempts.calls) == 1


def a_submission(**over: object) -> Submission:
    return replace(Submission("R-9", "L-9", "C-1", ("C-2", "C-3"), date(2020, 2, 25), "SZ-FUTIAN", 2, "APP",
                              None, NOW - timedelta(minutes=5)), **over)  # type: ignore[arg-type]


async def test_a_submission_opens_one_task_per_co_borrower_once() -> None:
    world = World()
    submission = a_submission()
    for _ in range(2):
        await world.service(NOW).request_submitted(submission)
    ids = {task_id_for("R-9", "C-2"), task_id_for("R-9", "C-3")}
    assert set(world.tasks.rows) == ids == set(world.alerts.due)
    assert {t.max_attempts for t in world.tasks.rows.values()} == {2}
    assert world.alerts.due[task_id_for("R-9", "C-2")] == datetime(2020, 2, 24, tzinfo=BANK_TZ)
    assert [e["type"] for e in world.events()] == ["ConfirmationCallRequested"] * 2
    assert world.requests.rows["R-9"].open and not world.paper.rows


async def test_a_staff_submission_owes_the_applicants_paper() -> None:
    world = World()
    await world.service(NOW).request_submitted(a_submission(channel="HOTLINE", staff_id="S-1"))
    paper = world.paper.rows[("R-9", "C-1")]
    assert (paper.reason, paper.branch_id, paper.state) == ("STAFF_SUBMISSION", "SZ-FUTIAN", PaperState.OWED)


async def test_an_ended_request_closes_its_open_calls_and_cancels_the_paper_owed() -> None:
    settled = replace(TASK, task_id="T-2", customer_id="C-3", state=TaskState.CONFIRMED)
    world = a_world()
    world.tasks = FakeTasks(TASK, settled)
    world.paper = FakePaper(Paper("R-1", "C-1", "L-1", "SZ-FUTIAN", PaperState.OWED, owed_since=NOW),
                            Paper("R-1", "C-3", "L-1", "SZ-FUTIAN", PaperState.RECEIVED, owed_since=NOW))
    await world.service(NOW).request_ended("R-1")
    assert world.tasks.rows["T-1"].state is TaskState.CLOSED and world.tasks.rows["T-2"] == settled
    assert "T-1" not in world.alerts.due and not world.requests.rows["R-1"].open
    assert {k: p.state for k, p in world.paper.rows.items()} == {
        ("R-1", "C-1"): PaperState.CANCELLED, ("R-1", "C-3"): PaperState.RECEIVED}


async def test_the_newest_snapshot_wins() -> None:
    world = World(loans=FakeRows("loan_id", a_loan()), contacts=FakeRows("customer_id", a_contact()))
    older = datetime(2020, 1, 1)
    service = world.service(NOW)
    await service.loan_snapshot(LoanSnapshot(Loan("L-1", "SZ-OLD", older), (Contact("C-2", "old", older),)))
    assert world.loans.rows["L-1"] == a_loan() and world.contacts.rows["C-2"] == a_contact()
    newer = datetime(2020, 2, 2)
    await service.loan_snapshot(LoanSnapshot(Loan("L-1", "SZ-NEW", newer), (Contact("C-2", "new", newer),
                                                                           Contact("C-7", "seven", newer))))
    assert world.loans.rows["L-1"].branch_id == "SZ-NEW"
    assert {c.customer_id: c.phone for c in world.contacts.rows.values()} == {"C-2": "new", "C-7": "seven"}


async def test_paper_received_once() -> None:
    world = World(paper=FakePaper(Paper("R-1", "C-1", "L-1", "SZ-FUTIAN", PaperState.OWED, owed_since=NOW)))
    receipt = PaperReceipt("R-1", "C-1", NOW, "S-1", "SZ-FUTIAN")
    for command_id in ("cmd-1", "cmd-2"):
        command = C.RecordPaperSignature(command_id=command_id, request_id="R-1", customer_id="C-1",
                                         received_at=NOW, received_by="S-1", branch_id="SZ-FUTIAN")
        await world.service(NOW, command).receive_paper(receipt)
    received, refused = world.events()
    assert received["type"] == "PaperSignatureReceived" and received["data"]["loan_id"] == "L-1"
    assert (refused["type"], refused["data"]["reason_code"]) == ("CommandRejected", "ALREADY_RECEIVED")
    assert world.paper.rows[("R-1", "C-1")].received_by == "S-1"


async def test_a_deadline_alert_asks_again_for_an_open_task_flagged_and_for_nothing_else() -> None:
    world = a_world(replace(TASK, attempts=1))
    await world.service(NOW).deadline_alert("T-1")
    [event] = world.events()
    assert (event["type"], event["data"]["attempt"], event["data"]["deadline_near"]) == (
        "ConfirmationCallRequested", 2, True)
    for settled in (replace(TASK, state=TaskState.CONFIRMED), None):
        quiet = World(tasks=FakeTasks(settled) if settled else FakeTasks())
        await quiet.service(NOW).deadline_alert("T-1")
        assert not quiet.events()
