"""No record, however malformed or large, loses valid work or stops a service (SPEC §10), on the real broker.

Hypothesis generates bursts of hostile records (harness/hostile.py) for every topic a service consumes, and
each burst is sent interleaved with valid commands (some of them with hostile headers). Every valid command must be
answered exactly once, every hostile record must reach `<topic>.dlq` once per service consuming it, with the
reason in its headers, and every service must still be ready.
"""

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import date, time
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.builders import ACCOUNT_DAY, a_debit_day_change, a_loan, ref
from harness.hostile import Hostile, hostile_headers, hostile_record
from harness.infra import Infra
from services import SERVICES
from shared import topics
from shared.contracts import Contract
from shared.contracts import appointments as A
from shared.contracts import confirmation as C
from shared.contracts import requests as R
from shared.envelope import new_event
from shared.outbox import OutgoingRecord
from shared.runtime import ServiceRuntime
from tests.conftest import FIGURES
from tests.support.kafka import KafkaDriver, Watch, source_of
from tests.support.services import http, running
from tests.support.wait import publish_loan

EVENTS = tuple(t for t in topics.ALL if t.endswith(".events"))
MONDAY = date(2020, 2, 10)


@pytest.fixture(scope="module")
async def platform(migrated: Infra) -> AsyncIterator[dict[str, ServiceRuntime]]:
    async with contextlib.AsyncExitStack() as stack:
        yield {name: await stack.enter_async_context(running(name, migrated)) for name in SERVICES}


@pytest.fixture(scope="module")
async def branch(platform: dict[str, ServiceRuntime], kafka: KafkaDriver) -> str:
    window = A.Window(start=time(9), end=time(17), capacity_per_slot=1000)
    plan = A.SetBranchPlan(command_id=ref("cmd"), branch_id=ref("BR"), name="Hostile test", address="1 Road",
                           timezone="Asia/Shanghai", slot_minutes=30, daily_cap=10_000,
                           weekly={A.Weekday(d): [window] for d in ("MON", "TUE", "WED", "THU", "FRI")})
    async with kafka.watch(topics.APPOINTMENTS_EVENTS) as watch:
        await kafka.publish(topics.APPOINTMENTS_COMMANDS, plan, subject=plan.branch_id)
        await watch.wait_for(lambda s: s.data.get("command_id") == plan.command_id, timeout=30)
    return plan.branch_id


def consumers(platform: dict[str, ServiceRuntime], topic: str) -> int:
    return sum(topic in runtime.spec.consumers for runtime in platform.values())


async def valid_commands(kafka: KafkaDriver, platform: dict[str, ServiceRuntime],
                         branch: str) -> list[tuple[str, str, Contract]]:
    """(topic, key, command) for each service: each has an answer carrying its command_id."""
    loans = [a_loan() for _ in range(2)]
    for loan in loans:
        await publish_loan(kafka, loan, requests=platform["requests"])
    return [
        *((topics.REQUESTS_COMMANDS, loan.loan_id, a_debit_day_change(loan, 20)) for loan in loans),
        (topics.REQUESTS_COMMANDS, loans[0].loan_id,
         R.WithdrawRequest(command_id=ref("cmd"), request_id=ref("R"), applicant_customer_id=ref("C"))),
        (topics.CONFIRMATION_COMMANDS, loans[1].loan_id, C.RecordCallOutcome(
            command_id=ref("cmd"), task_id=ref("T"), agent_id="A-1", outcome=C.CallOutcome.NO_ANSWER,
            called_at=ACCOUNT_DAY)),
        (topics.APPOINTMENTS_COMMANDS, branch, A.BookSlot(
            command_id=ref("cmd"), customer_id=ref("C"), branch_id=branch, date=MONDAY, start_time=time(10),
            service_type=A.ServiceType.OTHER)),
        (topics.APPOINTMENTS_COMMANDS, branch, A.CheckIn(command_id=ref("cmd"), branch_id=branch,
                                                         booking_code="ZZZZZ", at=ACCOUNT_DAY)),
    ]


@settings(max_examples=10, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(burst=st.lists(hostile_record(), min_size=6, max_size=16).filter(
           lambda b: sum(len(h.value) for h in b) < 2_500_000),
       noisy=st.lists(hostile_headers, min_size=6, max_size=6), seed=st.integers(0, 2**32 - 1))
async def test_hostile_records_are_dead_lettered_and_every_valid_command_answered_once(
    platform: dict[str, ServiceRuntime], branch: str, kafka: KafkaDriver, burst: list[Hostile],
    noisy: list[tuple[tuple[str, bytes | None], ...]], seed: int,
) -> None:
    valid = await valid_commands(kafka, platform, branch)
    sends: list[tuple[str, bytes, bytes, list[tuple[str, bytes | None]]]] = []
    for (topic, key, command), headers in zip(valid, noisy, strict=True):
        event = new_event(command, source=source_of(topic), subject=key, time=ACCOUNT_DAY)
        record = OutgoingRecord.of_event(topic, event)
        sends.append((topic, key.encode(), record.value, [*((k, v.encode()) for k, v in record.headers), *headers]))
    sends += [(h.topic, h.key.encode(), h.value, list(h.headers)) for h in burst]
    random.Random(seed).shuffle(sends)  # interleaved in one burst
    async with kafka.watch(*EVENTS, *(topics.dlq(t) for t in {h.topic for h in burst})) as watch:
        await asyncio.gather(*(kafka.publish_raw(t, v, key=k, headers=hs) for t, k, v, hs in sends))
        await _every_valid_command_answered(watch, [c for _, _, c in valid])
        for h in burst:
            letters = await watch.wait_for(lambda s, h=h: s.topic == topics.dlq(h.topic) and s.key == h.key.encode(),
                                           count=consumers(platform, h.topic), timeout=60)
            assert all(s.headers.get("x-error-kind") and s.headers.get("x-error") for s in letters), h.kind
            assert {s.headers["x-original-topic"] for s in letters} == {h.topic}
        await watch.caught_up()
    for command in (c for _, _, c in valid):  # exactly once: nothing more arrived behind the markers above
        answers = watch.matching(lambda s, c=command: s.topic in EVENTS and s.data.get("command_id") == c.command_id
                                 and s.type != "NotificationSent")
        assert len({a.event["id"] for a in answers}) == 1, (command.type_name(), [a.type for a in answers])
    for h in burst:
        copies = watch.matching(lambda s, h=h: s.topic == topics.dlq(h.topic) and s.key == h.key.encode())
        assert len(copies) == consumers(platform, h.topic), (h.topic, h.kind, len(copies))
    for name, runtime in platform.items():
        async with http(runtime) as api:
            assert (await api.get("/ready")).status_code == 200, name
    FIGURES["hostile records sent"] = FIGURES.get("hostile records sent", 0) + len(burst)
    FIGURES["hostile bursts"] = FIGURES.get("hostile bursts", 0) + 1


async def _every_valid_command_answered(watch: Watch, commands: list[Any]) -> None:
    for command in commands:
        await watch.wait_for(lambda s, c=command: s.data.get("command_id") == c.command_id
                             and s.type != "NotificationSent", timeout=60)
