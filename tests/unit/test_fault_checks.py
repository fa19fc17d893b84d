"""The fault tests' checker (tests/faults/support.py) against made-up records: it must see a command answered
twice, a command never answered, and tell a relay's repeat (same event id) from an effect done twice."""

import json
from typing import Any

from shared import topics
from tests.faults.support import Report, Sent, Tally, a_workload, verdict
from tests.support.kafka import Seen


def _record(topic: str, kind: str, event_id: str, **data: Any) -> Seen:
    value = json.dumps({"type": kind, "id": event_id, "data": data}).encode()
    return Seen(topic, 0, 0, None, {}, value, timestamp_ms=1_000)


def _checked(records: list[Seen], work: Any) -> Report:
    tally = Tally(work)
    tally.update(records)
    return verdict(work, tally)


def _answers(work: Any) -> list[Seen]:
    """One answer per command, and what follows each accepted request (an approval or a call task)."""
    out = []
    for n, sent in enumerate(work.commands):
        if sent.topic == topics.APPOINTMENTS_COMMANDS:
            out.append(_record(topics.APPOINTMENTS_EVENTS, "SlotBooked", f"e{n}", command_id=sent.command_id))
            continue
        out.append(_record(topics.REQUESTS_EVENTS, "RequestSubmitted", f"e{n}", command_id=sent.command_id,
                           request_id=f"R{n}"))
        follows = "ConfirmationCallRequested" if sent.key in work.co_borrowed else "RequestApproved"
        topic = topics.CONFIRMATION_EVENTS if sent.key in work.co_borrowed else topics.REQUESTS_EVENTS
        out.append(_record(topic, follows, f"f{n}", request_id=f"R{n}"))
    return out


def test_a_workload_interleaves_unique_commands_and_gives_every_fourth_loan_a_co_borrower() -> None:
    work = a_workload(debit_day_changes=40, bookings=10, branches=2)
    assert len({c.command_id for c in work.commands}) == len(work.commands) == 50
    assert len(work.co_borrowed) == 10
    places = [i for i, c in enumerate(work.commands) if c.topic == topics.APPOINTMENTS_COMMANDS]
    assert places[0] < 10 and places[-1] > 40  # spread along the load, not bunched at one end
    branches = {c.key for c in work.commands if c.topic == topics.APPOINTMENTS_COMMANDS}
    assert branches == {p.branch_id for p in work.plans}  # every branch gets bookings


def test_every_command_answered_once_passes() -> None:
    work = a_workload(debit_day_changes=8, bookings=4, branches=2)
    report = _checked(_answers(work), work)
    report.assert_exactly_once()
    assert report.redelivered == 0


def test_a_relays_repeat_is_counted_as_redelivered_not_as_a_duplicate() -> None:
    work = a_workload(debit_day_changes=8, bookings=4, branches=2)
    records = _answers(work)
    report = _checked(records + records[:3], work)
    report.assert_exactly_once()
    assert report.redelivered == 3
    # The first command's answer and its call task, then the first booking's answer.
    assert report.redelivered_on == {topics.REQUESTS_EVENTS: 1, topics.CONFIRMATION_EVENTS: 1,
                                     topics.APPOINTMENTS_EVENTS: 1}


def test_a_second_answer_under_another_event_id_is_a_duplicate() -> None:
    work = a_workload(debit_day_changes=8, bookings=4, branches=2)
    first: Sent = work.commands[0]
    again = _record(topics.REQUESTS_EVENTS, "RequestRejected", "other", command_id=first.command_id)
    report = _checked([*_answers(work), again], work)
    assert (report.duplicates, report.lost) == (1, 0)
    assert report.problems == ["commands with more than one answer (distinct event ids): 1"]


def test_a_command_never_answered_and_an_approval_missing_are_losses() -> None:
    work = a_workload(debit_day_changes=8, bookings=4, branches=2)
    records = [r for r in _answers(work) if r.type != "RequestApproved"][1:]  # the first answer gone too
    report = _checked(records, work)
    assert report.answered == len(work.commands) - 1
    # The first command (a co-borrowed loan's) unanswered, and each of the six single-borrower loans unapproved.
    assert (report.lost, report.duplicates) == (1 + 6, 0)
