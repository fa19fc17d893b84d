"""SPEC §10 against the real broker and database: a CheckIn or CancelBooking sent again under its command id
(in a new CloudEvent) gets the first answer again, byte for byte, refusals included, and has no second effect."""

from datetime import time, timedelta

from harness.builders import ref
from shared.clock import FixedClock
from shared.contracts import appointments as A
from shared.runtime import ServiceRuntime
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
from tests.support.kafka import KafkaDriver, Seen

SLOT = shanghai(MONDAY, time(10))  # check-in open 09:30-10:15


def same_record(first: Seen, again: Seen) -> bool:
    return (again.event["id"], again.value) == (first.event["id"], first.value)


async def test_a_replayed_check_in_gets_the_same_ticket_and_takes_no_second_number(
    service: ServiceRuntime, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        first_code, second_code = [(await answer(kafka, watch, booking(plan, at=time(10)))).data["booking_code"]
                                   for _ in range(2)]
        set_clock(clock, SLOT - timedelta(minutes=10))
        command = check_in(plan, first_code, clock.now())
        checked = await answer(kafka, watch, command)
        first, again = await send_again(kafka, watch, command, 2)
        marker = await answer(kafka, watch, check_in(plan, second_code, clock.now()))
    assert checked.type == "CheckedIn" and checked.data["ticket_number"] == "P001"
    assert same_record(first, again)
    assert (marker.type, marker.data["ticket_number"]) == ("CheckedIn", "P002")  # P002, not P003: one number taken


async def test_a_replayed_check_in_refusal_stays_the_same_refusal_once_the_window_opens(
    service: ServiceRuntime, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        code = (await answer(kafka, watch, booking(plan, at=time(10)))).data["booking_code"]
        set_clock(clock, SLOT - timedelta(hours=1))
        command = check_in(plan, code, SLOT)
        refused = await answer(kafka, watch, command)
        set_clock(clock, SLOT - timedelta(minutes=10))
        first, again = await send_again(kafka, watch, command, 2)
        fresh = await answer(kafka, watch, check_in(plan, code, SLOT))
    assert (refused.type, refused.data["reason_code"]) == ("CommandRejected", "OUTSIDE_CHECKIN_WINDOW")
    assert same_record(first, again) and again.data["facts"]["service_time"] == "2020-02-10T09:00:00+08:00"
    assert (fresh.type, fresh.data["ticket_number"]) == ("CheckedIn", "P001")  # the replay checked nobody in


async def test_a_replayed_cancellation_gets_the_same_answer_and_frees_the_place_once(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, capacity=1)
        booked = await answer(kafka, watch, booking(plan, at=time(9)))
        command = A.CancelBooking(command_id=ref("cmd"), booking_id=booked.data["booking_id"],
                                  customer_id=booked.data["customer_id"])
        cancelled = await answer(kafka, watch, command, key=plan.branch_id)
        taken = await answer(kafka, watch, booking(plan, at=time(9)))  # someone else takes the freed place
        first, again = await send_again(kafka, watch, command, 2, key=plan.branch_id)
        marker = await answer(kafka, watch, booking(plan, at=time(9)))
    assert (cancelled.type, taken.type) == ("BookingCancelled", "SlotBooked")
    assert same_record(first, again)
    assert (marker.data["reason_code"], marker.data["facts"]["booked"]) == ("SLOT_FULL", "1")  # freed once only


async def test_a_replayed_cancellation_refusal_is_the_same_refusal(service: ServiceRuntime, kafka: KafkaDriver) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        booked = await answer(kafka, watch, booking(plan, at=time(9)))
        booking_id, owner = booked.data["booking_id"], booked.data["customer_id"]
        someone = A.CancelBooking(command_id=ref("cmd"), booking_id=booking_id, customer_id=ref("C"))
        refused = await answer(kafka, watch, someone, key=plan.branch_id)
        cancelled = await answer(kafka, watch, A.CancelBooking(command_id=ref("cmd"), booking_id=booking_id,
                                                               customer_id=owner), key=plan.branch_id)
        first, again = await send_again(kafka, watch, someone, 2, key=plan.branch_id)
    assert (refused.data["reason_code"], cancelled.type) == ("NOT_BOOKING_OWNER", "BookingCancelled")
    assert same_record(first, again)
    assert again.data["facts"] == {"booking_id": booking_id, "state": "BOOKED"}  # as first decided, not re-decided
