"""The appointments service against the real broker and database: SPEC §11 scenario 6, every booking refusal
with its facts, plan changes, availability, cancelling and no-shows, with two copies where concurrency matters."""

import asyncio
from datetime import date, datetime, time, timedelta

import httpx
from sqlalchemy import text

from harness.builders import SHANGHAI, ref
from harness.infra import Infra
from shared.clock import FixedClock
from shared.contracts import appointments as A
from shared.runtime import ServiceRuntime
from tests.integration.appointments.steps import COMMANDS, EVENTS, MONDAY, answer, booking, branch
from tests.support.kafka import KafkaDriver
from tests.support.services import running
from tests.support.wait import eventually


async def test_scenario_6_two_hundred_customers_for_twenty_tickets_on_two_copies(
    migrated: Infra, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with running("appointments", migrated, clock=clock) as one, \
            running("appointments", migrated, clock=clock), kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, daily_cap=20, capacity=10, hours=(9, 17))
        slots = [time(9 + i // 2, 30 * (i % 2)) for i in range(16)]
        commands = [booking(plan, at=slots[i % 16]) for i in range(200)]
        # Half keyed as the contract says, half keyed apart so both copies decide at the same time.
        await asyncio.gather(*(kafka.publish(COMMANDS, c, subject=plan.branch_id if i % 2 else f"{plan.branch_id}#{i}")
                               for i, c in enumerate(commands)))
        ids = {c.command_id for c in commands}
        answers = await watch.wait_for(lambda s: s.data.get("command_id") in ids, count=200, timeout=60)
        assert one.engine is not None
        async with one.engine.connect() as conn:
            stored = await conn.scalar(text("SELECT count(*) FROM appointments.bookings WHERE branch_id = :b"),
                                       {"b": plan.branch_id})
            counted = await conn.scalar(text("SELECT booked FROM appointments.day_counters WHERE branch_id = :b"),
                                        {"b": plan.branch_id})
    kinds = [a.type for a in answers]
    assert kinds.count("SlotBooked") == 20 and kinds.count("BookingRejected") == 180
    refusals = [a.data for a in answers if a.type == "BookingRejected"]
    assert {r["reason_code"] for r in refusals} <= {"DAY_FULL", "SLOT_FULL"}
    full = {"DAY_FULL": {"date": "2020-02-10", "daily_cap": "20", "booked": "20"},
            "SLOT_FULL": {"capacity": "10", "booked": "10"}}
    assert all(full[r["reason_code"]].items() <= r["facts"].items() for r in refusals)
    booked_customers = {a.data["customer_id"] for a in answers if a.type == "SlotBooked"}
    assert len(booked_customers) == 20 and stored == 20 and counted == 20
    assert len({a.data["booking_code"] for a in answers if a.type == "SlotBooked"}) == 20


async def test_a_customer_booking_twice_at_once_on_two_copies_holds_one_booking(
    migrated: Infra, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with running("appointments", migrated, clock=clock), running("appointments", migrated, clock=clock), \
            kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, daily_cap=100, capacity=20)
        customers = [ref("C") for _ in range(20)]
        commands = [booking(plan, at=at, customer=c) for c in customers for at in (time(9), time(10))]
        # Keyed apart, so a customer's two bookings may be decided by both copies at the same time: the one whose
        # row meets the other's on `one_booking_per_customer_day` is redone and refused with the other's id.
        await asyncio.gather(*(kafka.publish(COMMANDS, c, subject=f"{plan.branch_id}#{i}")
                               for i, c in enumerate(commands)))
        ids = {c.command_id for c in commands}
        answers = await watch.wait_for(lambda s: s.data.get("command_id") in ids, count=40, timeout=60)
    booked = {a.data["customer_id"]: a.data["booking_id"] for a in answers if a.type == "SlotBooked"}
    refused = {a.data["customer_id"]: a.data for a in answers if a.type == "BookingRejected"}
    assert set(booked) == set(refused) == set(customers)
    assert all(r["reason_code"] == "DUPLICATE_BOOKING" and r["facts"]["existing_booking_id"] == booked[c]
               for c, r in refused.items())


async def test_each_booking_refusal_names_its_reason_and_the_facts_it_rests_on(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, daily_cap=2, capacity=1)
        first = await answer(kafka, watch, booking(plan, at=time(9)))
        cases = {
            "UNKNOWN_BRANCH": booking(plan).model_copy(update={"branch_id": "BR-nowhere"}),
            "BRANCH_CLOSED": booking(plan, on=date(2020, 2, 8)),  # a Saturday
            "UNKNOWN_SLOT": booking(plan, at=time(9, 10)),
            "OUTSIDE_BOOKING_WINDOW": booking(plan, on=date(2020, 2, 28)),
            "DUPLICATE_BOOKING": booking(plan, at=time(10), customer=first.data["customer_id"]),
            "SLOT_FULL": booking(plan, at=time(9)),
        }
        seen = {code: await answer(kafka, watch, cmd, key=plan.branch_id) for code, cmd in cases.items()}
        await answer(kafka, watch, booking(plan, at=time(10)))
        seen["DAY_FULL"] = await answer(kafka, watch, booking(plan, at=time(11)))
    monday = {"date": "2020-02-10"}
    assert {code: refusal.data["facts"] for code, refusal in seen.items()} == {
        "UNKNOWN_BRANCH": {"branch_id": "BR-nowhere"},
        "BRANCH_CLOSED": {"date": "2020-02-08"},
        "UNKNOWN_SLOT": {**monday, "start_time": "09:10"},
        "OUTSIDE_BOOKING_WINDOW": {"date": "2020-02-28", "first_bookable_date": "2020-02-04",
                                   "last_bookable_date": "2020-02-17", "booking_window_days": "14",
                                   "branch_timezone": "Asia/Shanghai", "service_time": "2020-02-03T09:30:00+08:00"},
        "DUPLICATE_BOOKING": {**monday, "existing_booking_id": first.data["booking_id"]},
        "SLOT_FULL": {**monday, "start_time": "09:00", "capacity": "1", "booked": "1"},
        "DAY_FULL": {**monday, "daily_cap": "2", "booked": "2"},
    }
    for code, refusal in seen.items():
        assert (refusal.type, refusal.data["reason_code"]) == ("BookingRejected", code), code
        assert refusal.data["reason"]


async def test_a_plan_change_reports_overflow_and_keeps_every_booking(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, capacity=4)
        for _ in range(3):
            assert (await answer(kafka, watch, booking(plan, at=time(9)))).type == "SlotBooked"
        cut = A.SetDateOverride(command_id=ref("cmd"), branch_id=plan.branch_id, date=MONDAY, closed=False,
                                windows=[A.Window(start=time(9), end=time(10), capacity_per_slot=1)], daily_cap=5)
        changed = await answer(kafka, watch, cut)
        closed = await answer(kafka, watch, A.SetDateOverride(command_id=ref("cmd"), branch_id=plan.branch_id,
                                                               date=MONDAY + timedelta(days=1), closed=True))
    assert changed.data["over_capacity"] == [{"date": "2020-02-10", "start_time": "09:00", "booked": 3, "capacity": 1}]
    assert changed.data["over_daily_cap"] == [] and closed.data["over_capacity"] == []
    days = (await api.get(f"/branches/{plan.branch_id}/availability",
                          params={"from": "2020-02-10", "to": "2020-02-11"})).json()["days"]
    assert days[0]["booked"] == 3 and days[0]["slots"][0]["booked"] == 3 and days[0]["slots"][0]["free"] == 0
    assert days[1]["closed"] is True


async def test_availability_shows_free_places_and_cancelling_frees_one(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, capacity=2, daily_cap=3)
        booked = await answer(kafka, watch, booking(plan, at=time(9, 30)))
        booking_id, owner = booked.data["booking_id"], booked.data["customer_id"]
        someone = await answer(kafka, watch, A.CancelBooking(command_id=ref("cmd"), booking_id=booking_id,
                                                             customer_id="C-someone-else"), key=plan.branch_id)
        before = (await api.get(f"/branches/{plan.branch_id}/availability",
                                params={"from": "2020-02-10", "to": "2020-02-10"})).json()["days"][0]
        cancelled = await answer(kafka, watch, A.CancelBooking(command_id=ref("cmd"), booking_id=booking_id,
                                                               customer_id=owner), key=plan.branch_id)
        after = (await api.get(f"/branches/{plan.branch_id}/availability",
                               params={"from": "2020-02-10", "to": "2020-02-10"})).json()["days"][0]
        gone = await answer(kafka, watch, A.CancelBooking(command_id=ref("cmd"), booking_id=booking_id,
                                                          customer_id=owner), key=plan.branch_id)
        unknown = await answer(kafka, watch, A.CancelBooking(command_id=ref("cmd"), booking_id="B-nowhere",
                                                             customer_id=owner), key=plan.branch_id)
    assert (someone.type, someone.data["reason_code"]) == ("CommandRejected", "NOT_BOOKING_OWNER")
    assert (someone.data["booking_id"], someone.data["customer_id"]) == (booking_id, "C-someone-else")
    assert someone.data["facts"] == {"booking_id": booking_id, "state": "BOOKED"}
    assert (gone.data["reason_code"], gone.data["facts"]) == (
        "BOOKING_NOT_ACTIVE", {"booking_id": booking_id, "state": "CANCELLED"})
    assert (unknown.data["reason_code"], unknown.data["facts"]) == ("UNKNOWN_BOOKING", {"booking_id": "B-nowhere"})
    assert (unknown.data["booking_id"], unknown.data["customer_id"]) == ("B-nowhere", owner)
    assert cancelled.type == "BookingCancelled"
    slot = next(s for s in before["slots"] if s["start_time"] == "09:30:00")
    assert (slot["booked"], slot["free"], before["free"]) == (1, 1, 2)
    assert after["booked"] == 0 and next(s for s in after["slots"] if s["start_time"] == "09:30:00")["free"] == 2


async def test_a_replayed_booking_gets_the_same_answer_and_has_one_effect(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        command = booking(plan)
        await kafka.publish(COMMANDS, command, subject=plan.branch_id)
        await kafka.publish(COMMANDS, command, subject=plan.branch_id)  # the same command in a new CloudEvent
        marker = await answer(kafka, watch, booking(plan, at=time(11)))
    assert marker.type == "SlotBooked"
    first, again = watch.matching(lambda s: s.data.get("command_id") == command.command_id)
    assert first.type == "SlotBooked" and (again.event["id"], again.value) == (first.event["id"], first.value)
    day = (await api.get(f"/branches/{plan.branch_id}/availability",
                         params={"from": "2020-02-10", "to": "2020-02-10"})).json()["days"][0]
    assert day["booked"] == 2  # the replayed booking and the marker


async def test_a_booking_not_checked_in_becomes_a_no_show_after_a_restart(
    migrated: Infra, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with kafka.watch(EVENTS) as watch:
        async with running("appointments", migrated, clock=clock):
            plan = await branch(kafka, watch)
            booked = await answer(kafka, watch, booking(plan, at=time(9)))
        after_slot = FixedClock(datetime.combine(MONDAY, time(9, 31), tzinfo=SHANGHAI))
        async with running("appointments", migrated, clock=after_slot) as one, \
                running("appointments", migrated, clock=after_slot) as two:
            [no_show] = await watch.wait_for(lambda s: s.type == "NoShow"
                                             and s.data["booking_id"] == booked.data["booking_id"], timeout=30)
            # Both copies' timer loops have had two more turns since: a second NoShow would have been fired.
            rounds = [r.timers.rounds for r in (one, two) if r.timers is not None]
            await eventually(lambda: _turns_since((one, two), rounds, 2), what="two more timer turns per copy")
            await watch.caught_up()
        assert len(watch.matching(lambda s: s.type == "NoShow"
                                  and s.data["booking_id"] == booked.data["booking_id"])) == 1
    assert no_show.data["customer_id"] == booked.data["customer_id"]



async def _turns_since(copies: tuple[ServiceRuntime, ...], before: list[int], turns: int) -> bool:
    return all(c.timers is not None and c.timers.rounds >= b + turns for c, b in zip(copies, before, strict=True))
