"""Check-in bound to its booking and throttled per branch, on the real broker and database: codes a stranger would
try (near misses, other customers' codes, injection-shaped and oversized strings) are unknown codes; past the limit
a branch refuses check-ins unread until the window passes, a limit kept in the database (a copy started afterwards
holds it), and a replayed refusal stays the same refusal."""

import random
from datetime import time, timedelta

from harness.builders import ref
from harness.infra import Infra
from services.appointments.domain import CODE_ALPHABET
from shared.clock import FixedClock
from shared.contracts import appointments as A
from tests.integration.appointments.steps import (
    EVENTS,
    MONDAY,
    answer,
    booking,
    branch,
    check_in,
    send_again,
    set_clock,
    shanghai,
)
from tests.support.kafka import KafkaDriver
from tests.support.services import running

SLOT = shanghai(MONDAY, time(10))  # check-in open 09:30-10:15
ARRIVAL = SLOT - timedelta(minutes=20)


def strangers_codes(real: str, rng: random.Random) -> list[str]:
    """Five codes someone without a booking would try: one character off the real code, a random one, lower case,
    injection-shaped, the longest identifier the contract allows."""
    near = real[:-1] + rng.choice(CODE_ALPHABET.replace(real[-1], ""))
    guess = "".join(rng.choice(CODE_ALPHABET) for _ in range(5))
    return [near, guess if guess != real else near[::-1], guess.lower(), "X' OR '1'='1", "Ｗ" * 128]


async def test_unknown_codes_past_the_limit_stop_check_ins_at_that_branch_until_the_window_passes(
    migrated: Infra, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with kafka.watch(EVENTS) as watch:
        async with running("appointments", migrated, clock=clock):
            plan, other = await branch(kafka, watch), await branch(kafka, watch)
            code = (await answer(kafka, watch, booking(plan, at=time(10)))).data["booking_code"]
            other_code = (await answer(kafka, watch, booking(other, at=time(10)))).data["booking_code"]
            set_clock(clock, ARRIVAL)
            tries = [await answer(kafka, watch, check_in(plan, c, clock.now()))
                     for c in strangers_codes(code, random.Random(code))]
        async with running("appointments", migrated, clock=clock):  # a copy that saw none of it
            blocked_command = check_in(plan, code, clock.now())
            blocked = await answer(kafka, watch, blocked_command)
            elsewhere = await answer(kafka, watch, check_in(other, other_code, clock.now()))
            set_clock(clock, ARRIVAL + timedelta(minutes=10))  # the window (600 s from the first try) has passed
            first, again = await send_again(kafka, watch, blocked_command, 2)
            checked = await answer(kafka, watch, check_in(plan, code, clock.now()))
    assert [(t.type, t.data["reason_code"]) for t in tries] == [("CommandRejected", "UNKNOWN_CODE")] * 5
    assert (blocked.type, blocked.data["reason_code"]) == ("CommandRejected", "CHECKIN_THROTTLED")
    assert blocked.data["facts"] | {"booking_code": "-"} == {
        "failures": "5", "max_failures": "5", "window_s": "600", "retry_at": "2020-02-10T09:50:00+08:00",
        "service_time": "2020-02-10T09:40:00+08:00", "date": "2020-02-10", "reported_at": ARRIVAL.isoformat(),
        "booking_code": "-"}
    assert "booking_id" not in blocked.data["facts"] and blocked.data.get("booking_id") is None  # never looked up
    assert elsewhere.type == "CheckedIn"  # the limit is the branch's, not everyone's
    assert (again.event["id"], again.value) == (first.event["id"], first.value)  # the replay: its first answer
    assert (checked.type, checked.data["ticket_number"]) == ("CheckedIn", "P001")


async def test_a_code_named_with_another_customer_is_an_unknown_code_and_the_owner_checks_in(
    migrated: Infra, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with running("appointments", migrated, clock=clock), kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        booked = await answer(kafka, watch, booking(plan, at=time(10)))
        set_clock(clock, ARRIVAL)

        def by(customer: str, code: str = booked.data["booking_code"]) -> A.CheckIn:
            return check_in(plan, code, clock.now()).model_copy(update={"customer_id": customer})
        someone = await answer(kafka, watch, by(ref("C")))
        wrong = await answer(kafka, watch, by(ref("C"), "XXXXX"))
        owner = await answer(kafka, watch, by(booked.data["customer_id"]))
    assert (someone.data["reason_code"], wrong.data["reason_code"]) == ("UNKNOWN_CODE", "UNKNOWN_CODE")
    assert someone.data["reason"] == wrong.data["reason"]
    assert set(someone.data["facts"]) == set(wrong.data["facts"]) and "booking_id" not in someone.data["facts"]
    assert (owner.type, owner.data["booking_id"]) == ("CheckedIn", booked.data["booking_id"])
