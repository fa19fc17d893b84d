"""The appointments service against the real broker and database: SPEC §11 scenarios 6 and 7, every refusal,
plan changes, check-in edges, ticket numbering and no-shows, with two copies where concurrency matters."""

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared import topics
from shared.clock import FixedClock
from shared.contracts import appointments as A
from shared.runtime import ServiceRuntime
from tests.support.builders import ACCOUNT_DAY, SHANGHAI, ref
from tests.support.infra import Infra
from tests.support.kafka import KafkaDriver, Seen, Watch
from tests.support.services import http, running

EVENTS, COMMANDS = topics.APPOINTMENTS_EVENTS, topics.APPOINTMENTS_COMMANDS
MONDAY = date(2020, 2, 10)
WEEK = ("MON", "TUE", "WED", "THU", "FRI")


@pytest.fixture(scope="module")
async def service(migrated: Infra) -> AsyncIterator[ServiceRuntime]:
    async with running("appointments", migrated, clock=FixedClock(ACCOUNT_DAY)) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def api(service: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with http(service) as client:
        yield client


def a_plan(*, daily_cap: int = 20, capacity: int = 4, hours: tuple[int, int] = (9, 12)) -> A.SetBranchPlan:
    window = A.Window(start=time(hours[0]), end=time(hours[1]), capacity_per_slot=capacity)
    return A.SetBranchPlan(command_id=ref("cmd"), branch_id=ref("BR"), name="Test branch", address="1 Test Road",
                           timezone="Asia/Shanghai", slot_minutes=30, daily_cap=daily_cap,
                           weekly={A.Weekday(d): [window] for d in WEEK})


async def answer(kafka: KafkaDriver, watch: Watch, command: Any, *, key: str | None = None) -> Seen:
    await kafka.publish(COMMANDS, command, subject=key or command.branch_id)
    [seen] = await watch.wait_for(lambda s: s.data.get("command_id") == command.command_id, timeout=30)
    return seen


def booking(plan: A.SetBranchPlan, *, on: date = MONDAY, at: time = time(9), customer: str | None = None,
            **extra: Any) -> A.BookSlot:
    return A.BookSlot(command_id=ref("cmd"), customer_id=customer or ref("C"), branch_id=plan.branch_id, date=on,
                      start_time=at, service_type=A.ServiceType.DEBIT_DAY_CHANGE, **extra)


async def branch(kafka: KafkaDriver, watch: Watch, **kwargs: Any) -> A.SetBranchPlan:
    plan = a_plan(**kwargs)
    changed = await answer(kafka, watch, plan)
    assert changed.type == "BranchPlanChanged" and changed.data["over_capacity"] == []
    return plan


async def test_scenario_6_two_hundred_customers_for_twenty_tickets_on_two_copies(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    async with running("appointments", migrated, clock=FixedClock(ACCOUNT_DAY)) as one, \
            running("appointments", migrated, clock=FixedClock(ACCOUNT_DAY)), kafka.watch(EVENTS) as watch:
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
    assert {a.data["reason_code"] for a in answers if a.type == "BookingRejected"} <= {"DAY_FULL", "SLOT_FULL"}
    booked_customers = {a.data["customer_id"] for a in answers if a.type == "SlotBooked"}
    assert len(booked_customers) == 20 and stored == 20 and counted == 20
    assert len({a.data["booking_code"] for a in answers if a.type == "SlotBooked"}) == 20


async def test_scenario_7_a_booked_customer_checks_in_and_gets_a_priority_ticket(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        booked = await answer(kafka, watch, booking(plan, at=time(10), note="wheelchair access"))
        assert booked.type == "SlotBooked" and booked.data["branch_address"] == "1 Test Road"
        arrive = datetime.combine(MONDAY, time(9, 45), tzinfo=SHANGHAI)
        checked = await answer(kafka, watch, A.CheckIn(command_id=ref("cmd"), branch_id=plan.branch_id,
                                                       booking_code=booked.data["booking_code"], at=arrive))
    assert checked.type == "CheckedIn"
    assert (checked.data["booking_id"], checked.data["ticket_number"], checked.data["priority"]) == (
        booked.data["booking_id"], "P001", True)


async def test_each_booking_refusal_names_its_reason(service: ServiceRuntime, kafka: KafkaDriver) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, daily_cap=2, capacity=1)
        first = await answer(kafka, watch, booking(plan, at=time(9)))
        cases = {
            "UNKNOWN_BRANCH": booking(plan).model_copy(update={"branch_id": "BR-nowhere"}),
            "BRANCH_CLOSED": booking(plan, on=date(2020, 2, 8)),
            "UNKNOWN_SLOT": booking(plan, at=time(9, 10)),
            "OUTSIDE_BOOKING_WINDOW": booking(plan, on=date(2020, 2, 28)),
            "DUPLICATE_BOOKING": booking(plan, at=time(10), customer=first.data["customer_id"]),
            "SLOT_FULL": booking(plan, at=time(9)),
        }
        seen = {code: await answer(kafka, watch, cmd, key=plan.branch_id) for code, cmd in cases.items()}
        await answer(kafka, watch, booking(plan, at=time(10)))
        seen["DAY_FULL"] = await answer(kafka, watch, booking(plan, at=time(11)))
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
    assert closed.data["over_capacity"] == []
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
        someone = await answer(kafka, watch, A.CancelBooking(command_id=ref("cmd"), booking_id=booked.data["booking_id"],
                                                             customer_id="C-someone-else"), key=plan.branch_id)
        before = (await api.get(f"/branches/{plan.branch_id}/availability",
                                params={"from": "2020-02-10", "to": "2020-02-10"})).json()["days"][0]
        cancelled = await answer(kafka, watch, A.CancelBooking(
            command_id=ref("cmd"), booking_id=booked.data["booking_id"], customer_id=booked.data["customer_id"]),
            key=plan.branch_id)
        after = (await api.get(f"/branches/{plan.branch_id}/availability",
                               params={"from": "2020-02-10", "to": "2020-02-10"})).json()["days"][0]
    assert (someone.type, someone.data["reason_code"]) == ("CommandRejected", "NOT_BOOKING_OWNER")
    assert cancelled.type == "BookingCancelled"
    slot = next(s for s in before["slots"] if s["start_time"] == "09:30:00")
    assert (slot["booked"], slot["free"], before["free"]) == (1, 1, 2)
    assert after["booked"] == 0 and next(s for s in after["slots"] if s["start_time"] == "09:30:00")["free"] == 2


async def test_check_in_window_edges_and_used_or_unknown_codes(service: ServiceRuntime, kafka: KafkaDriver) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        code = (await answer(kafka, watch, booking(plan, at=time(10)))).data["booking_code"]
        slot = datetime.combine(MONDAY, time(10), tzinfo=SHANGHAI)

        async def check_in(at: datetime, with_code: str = code) -> Seen:
            return await answer(kafka, watch, A.CheckIn(command_id=ref("cmd"), branch_id=plan.branch_id,
                                                        booking_code=with_code, at=at))
        early = await check_in(slot - timedelta(minutes=31))
        late = await check_in(slot + timedelta(minutes=16))
        unknown = await check_in(slot, "XXXXX")
        ok = await check_in(slot + timedelta(minutes=15))
        again = await check_in(slot + timedelta(minutes=15))
    assert [r.data.get("reason_code") for r in (early, late, unknown, again)] == [
        "OUTSIDE_CHECKIN_WINDOW", "OUTSIDE_CHECKIN_WINDOW", "UNKNOWN_CODE", "ALREADY_CHECKED_IN"]
    assert ok.type == "CheckedIn"


async def test_a_replayed_booking_has_one_effect(service: ServiceRuntime, kafka: KafkaDriver) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        command = booking(plan)
        await kafka.publish(COMMANDS, command, subject=plan.branch_id)
        await kafka.publish(COMMANDS, command, subject=plan.branch_id)
        marker = await answer(kafka, watch, booking(plan, at=time(11)))
    assert marker.type == "SlotBooked"
    assert len(watch.matching(lambda s: s.data.get("command_id") == command.command_id)) == 1


async def test_tickets_are_numbered_without_gaps_or_repeats_across_two_copies(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    async with running("appointments", migrated, clock=FixedClock(ACCOUNT_DAY)), \
            running("appointments", migrated, clock=FixedClock(ACCOUNT_DAY)), kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, capacity=12, daily_cap=40)
        codes = [(await answer(kafka, watch, booking(plan, at=time(10)))).data["booking_code"] for _ in range(12)]
        arrive = datetime.combine(MONDAY, time(9, 50), tzinfo=SHANGHAI)
        checkins = [A.CheckIn(command_id=ref("cmd"), branch_id=plan.branch_id, booking_code=c, at=arrive) for c in codes]
        await asyncio.gather(*(kafka.publish(COMMANDS, c, subject=f"{plan.branch_id}#{i}")
                               for i, c in enumerate(checkins)))
        ids = {c.command_id for c in checkins}
        tickets = await watch.wait_for(lambda s: s.type == "CheckedIn" and s.data["command_id"] in ids, count=12,
                                       timeout=30)
    assert sorted(t.data["ticket_number"] for t in tickets) == [f"P{n:03d}" for n in range(1, 13)]


async def test_a_booking_not_checked_in_becomes_a_no_show_after_a_restart(migrated: Infra, kafka: KafkaDriver) -> None:
    async with kafka.watch(EVENTS) as watch:
        async with running("appointments", migrated, clock=FixedClock(ACCOUNT_DAY)):
            plan = await branch(kafka, watch)
            booked = await answer(kafka, watch, booking(plan, at=time(9)))
        after_slot = FixedClock(datetime.combine(MONDAY, time(9, 31), tzinfo=SHANGHAI))
        async with running("appointments", migrated, clock=after_slot), \
                running("appointments", migrated, clock=after_slot):
            [no_show] = await watch.wait_for(lambda s: s.type == "NoShow"
                                             and s.data["booking_id"] == booked.data["booking_id"], timeout=30)
            await asyncio.sleep(1)  # a second copy's timer loop has had its turns
        assert len(watch.matching(lambda s: s.type == "NoShow" and s.data["booking_id"] == booked.data["booking_id"])) == 1
    assert no_show.data["customer_id"] == booked.data["customer_id"]
