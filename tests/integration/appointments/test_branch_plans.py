"""Branch plans against the real broker and database: each branch's own booking window, counted in its own
time zone; cuts of the daily cap reported; the migration that moved the window onto the branch."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, time

import asyncpg
import httpx
import pytest
from alembic import command

from harness.builders import ref
from harness.infra import Infra
from shared.clock import FixedClock
from shared.contracts import appointments as A
from shared.db import alembic_config
from shared.runtime import ServiceRuntime
from tests.integration.appointments.steps import EVENTS, MONDAY, a_plan, answer, booking, branch, set_clock, shanghai
from tests.support.kafka import KafkaDriver, Seen
from tests.support.services import SERVICES

# The service's clock stands on Monday 3 February 2020, 09:30 in Shanghai (the account's first day).


async def test_each_branch_takes_bookings_within_its_own_booking_window(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        short = await branch(kafka, watch, booking_window_days=3)  # 4 to 6 February
        long = await branch(kafka, watch, booking_window_days=30)  # 4 February to 4 March
        last_day = await answer(kafka, watch, booking(short, on=date(2020, 2, 6)))
        too_late = await answer(kafka, watch, booking(short, on=date(2020, 2, 7)))
        three_weeks = await answer(kafka, watch, booking(long, on=date(2020, 2, 24)))
        after_30 = await answer(kafka, watch, booking(long, on=date(2020, 3, 5)))
        await branch(kafka, watch, branch_id=short.branch_id, booking_window_days=5)  # operators widen it
        widened = await answer(kafka, watch, booking(short, on=date(2020, 2, 7)))
    assert (last_day.type, three_weeks.type, widened.type) == ("SlotBooked",) * 3
    assert too_late.data["reason_code"] == after_30.data["reason_code"] == "OUTSIDE_BOOKING_WINDOW"
    assert too_late.data["facts"] == {"date": "2020-02-07", "first_bookable_date": "2020-02-04",
                                      "last_bookable_date": "2020-02-06", "booking_window_days": "3",
                                      "branch_timezone": "Asia/Shanghai", "service_time": "2020-02-03T09:30:00+08:00"}
    assert (after_30.data["facts"]["last_bookable_date"], after_30.data["facts"]["booking_window_days"]) == (
        "2020-03-04", "30")


async def test_a_branch_abroad_counts_its_window_from_its_own_tomorrow_and_names_its_zone(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        # 09:30 on 3 February in Shanghai is 17:30 on Sunday 2 February in Los Angeles: Monday is its tomorrow.
        abroad = await branch(kafka, watch, timezone="America/Los_Angeles")
        home = await branch(kafka, watch)
        there = await answer(kafka, watch, booking(abroad, on=date(2020, 2, 3)))
        here = await answer(kafka, watch, booking(home, on=date(2020, 2, 3)))
    assert there.type == "SlotBooked" and there.data["branch_timezone"] == "America/Los_Angeles"
    assert here.data["reason_code"] == "OUTSIDE_BOOKING_WINDOW"
    assert (here.data["facts"]["first_bookable_date"], here.data["facts"]["branch_timezone"]) == (
        "2020-02-04", "Asia/Shanghai")


async def test_cutting_the_daily_cap_below_a_days_bookings_is_reported_and_every_booking_stays(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver, clock: FixedClock
) -> None:
    tuesday, next_tuesday = date(2020, 2, 4), date(2020, 2, 11)
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        for on, count in ((tuesday, 2), (MONDAY, 3), (next_tuesday, 2)):
            for _ in range(count):
                assert (await answer(kafka, watch, booking(plan, on=on))).type == "SlotBooked"
        set_clock(clock, shanghai(date(2020, 2, 5), time(9)))  # Tuesday the 4th is past: nobody needs telling
        cut = await answer(kafka, watch, a_plan(branch_id=plan.branch_id, daily_cap=1))
        eased = await answer(kafka, watch, A.SetDateOverride(command_id=ref("cmd"), branch_id=plan.branch_id,
                                                             date=next_tuesday, daily_cap=2))
        monday = await answer(kafka, watch, A.SetDateOverride(command_id=ref("cmd"), branch_id=plan.branch_id,
                                                              date=MONDAY, daily_cap=2))
    assert cut.data["over_daily_cap"] == [{"date": "2020-02-10", "booked": 3, "daily_cap": 1},
                                          {"date": "2020-02-11", "booked": 2, "daily_cap": 1}]
    assert (eased.type, eased.data["over_daily_cap"]) == ("BranchPlanChanged", [])
    assert monday.data["over_daily_cap"] == [{"date": "2020-02-10", "booked": 3, "daily_cap": 2}]
    assert cut.data["over_capacity"] == eased.data["over_capacity"] == monday.data["over_capacity"] == []
    days = (await api.get(f"/branches/{plan.branch_id}/availability",
                          params={"from": "2020-02-10", "to": "2020-02-11"})).json()["days"]
    assert [(d["booked"], d["daily_cap"], d["free"]) for d in days] == [(3, 2, 0), (2, 2, 0)]


def _caps(changed: Seen) -> list[tuple[str, int, bool]]:
    return [(d["date"], d["daily_cap"], d["closed"]) for d in changed.data["daily_caps"]]


async def test_a_plan_change_names_the_cap_of_each_day_of_the_window_and_an_override_of_its_date(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        # Today is Monday 3 February in Shanghai; a window of 5 days runs to Saturday the 8th (no window then).
        plan = a_plan(daily_cap=6, booking_window_days=5)
        planned = await answer(kafka, watch, plan)
        closed = await answer(kafka, watch, A.SetDateOverride(command_id=ref("cmd"), branch_id=plan.branch_id,
                                                              date=date(2020, 2, 5), closed=True))
        eased = await answer(kafka, watch, A.SetDateOverride(command_id=ref("cmd"), branch_id=plan.branch_id,
                                                             date=date(2020, 2, 6), daily_cap=9))
        # 09:30 in Shanghai is Sunday 2 February, 17:30, in Los Angeles: its window starts on its own today.
        abroad = await answer(kafka, watch, a_plan(timezone="America/Los_Angeles", booking_window_days=1))
    weekdays = [(f"2020-02-0{d}", 6, False) for d in range(3, 8)]
    assert (planned.type, _caps(planned)) == ("BranchPlanChanged", [*weekdays, ("2020-02-08", 0, True)])
    assert _caps(closed) == [("2020-02-05", 0, True)]
    assert _caps(eased) == [("2020-02-06", 9, False)]
    assert _caps(abroad) == [("2020-02-02", 0, True), ("2020-02-03", 20, False)]
    days = (await api.get(f"/branches/{plan.branch_id}/availability",
                          params={"from": "2020-02-05", "to": "2020-02-06"})).json()["days"]
    assert [d["daily_cap"] for d in days] == [0, 9]  # what the event says is what the service enforces


@pytest.fixture
async def empty_database(migrated: Infra) -> AsyncIterator[str]:
    """A database of its own on the test server, for walking the migrations step by step."""
    admin = await asyncpg.connect(migrated.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    name = f"postloan_migration_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{migrated.database_url.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_migration_0004_gives_branches_known_before_it_the_default_window(empty_database: str) -> None:
    cfg = alembic_config(SERVICES["appointments"].migrations, empty_database, "appointments")
    await asyncio.to_thread(command.upgrade, cfg, "0003")
    conn = await asyncpg.connect(empty_database.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("INSERT INTO appointments.branches (branch_id, name, address, timezone, slot_minutes, "
                           "daily_cap, weekly, updated_at) VALUES ('BR-old', 'n', 'a', 'Asia/Shanghai', 30, 10, '{}', "
                           "now())")
        await asyncio.to_thread(command.upgrade, cfg, "head")
        window = await conn.fetchval("SELECT booking_window_days FROM appointments.branches WHERE branch_id = 'BR-old'")
        await asyncio.to_thread(command.downgrade, cfg, "0003")
        columns = {r["column_name"] for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'appointments' "
            "AND table_name IN ('branches', 'bookings')")}
    finally:
        await conn.close()
    assert window == 14
    assert not columns & {"booking_window_days", "checkin_reported_at"} and "daily_cap" in columns
