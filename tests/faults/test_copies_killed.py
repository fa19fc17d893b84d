"""Issue 16: three copies of the requests service and two of each other service under load, one requests copy (the
one relaying the outbox) and one confirmation copy killed with SIGKILL mid-load: the groups rebalance, nothing is
lost and nothing is done twice (tests/faults/support.py says what "twice" means)."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.infra import Infra
from tests.faults.support import (
    EVENT_TOPICS,
    Database,
    Fleet,
    LoadDriver,
    a_workload,
    consumed,
    rebalanced,
    relay_leader,
    scrape,
    settle,
)
from tests.support.kafka import KafkaDriver
from tests.support.metrics import value

pytestmark = pytest.mark.faults

COPIES = {"requests": 3, "confirmation": 2, "appointments": 2, "notifier": 2}
PARTITIONS = {"postloan.requests": 18, "postloan.confirmation": 18}  # 3 topics of 6 partitions each
PER_SECOND = 80  # the load spans the kill, the session timeout (10 s) and the rebalance


async def test_copies_killed_under_load_lose_nothing_and_do_nothing_twice(
    fault_infra: Infra, fault_kafka: KafkaDriver, fault_ports: Iterator[int], tmp_path: Path
) -> None:
    access, db = fault_infra.kafka_as(), Database(fault_infra)
    work = a_workload(debit_day_changes=800, bookings=240)
    fleet = Fleet(fault_infra, tmp_path, fault_ports)
    try:
        started = time.time()
        await fleet.start(COPIES)
        start_s = time.time() - started
        before = {group: await rebalanced(access, group, members=COPIES[group.split(".")[1]], partitions=n)
                  for group, n in PARTITIONS.items()}
        driver = LoadDriver(fault_kafka)
        await driver.prepare(work, db)
        victims = [await relay_leader(fleet.of("requests")), fleet.of("confirmation")[0]]
        done_by_victims = [consumed(await scrape(v)) for v in victims]  # their share of the loans, at least
        async with fault_kafka.watch(*EVENT_TOPICS) as watch:
            sending = asyncio.create_task(driver.send(work.commands, per_second=PER_SECOND))
            await driver.reached(len(work.commands) // 3)
            caught = work.commands[:driver.sent]  # sent before the kill: some were in the killed copies' hands
            killed_at = min(fleet.kill(v) for v in victims)
            after = {group: await rebalanced(access, group, members=COPIES[group.split(".")[1]] - 1, partitions=n)
                     for group, n in PARTITIONS.items()}
            rebalanced_s = time.time() - killed_at
            new_leader = await relay_leader(fleet.of("requests"))
            await sending
            report, tally = await settle(work, watch, db, access)
        survivors = {p.info.test_port: await scrape(p) for p in fleet.running()}
    finally:
        fleet.stop()
    moved = {group: _moved(before[group], after[group]) for group in PARTITIONS}
    report.write(
        "copies_killed",
        copies=COPIES, killed=[f"{v.info.name} (pid {v.popen.pid}, port {v.info.test_port})" for v in victims],
        killed_after_commands=len(caught), per_second=PER_SECOND,
        applied_by_the_killed_copies_before_the_load=done_by_victims,
        seconds_to_start_the_copies=round(start_s, 1), seconds_to_rebalance=round(rebalanced_s, 1),
        seconds_to_recover=tally.seconds_to_answer(caught, killed_at),
        partitions_moved=moved, group_after=after,
        relay_after_the_kill=f"port {new_leader.info.test_port}",
        published_by_the_new_relay_leader=value(survivors[new_leader.info.test_port], "postloan_relay_published_total"),
        records_skipped_by_the_survivors_as_already_applied=sum(consumed(s, "duplicate") for s in survivors.values()),
    )
    assert all(done_by_victims), "each killed copy had applied records before it died"
    assert value(survivors[new_leader.info.test_port], "postloan_relay_published_total") > 0, "a survivor relays"
    for group, partitions in moved.items():  # the killed member's partitions now belong to the survivors
        assert partitions and set(partitions) <= {p for ps in after[group].values() for p in ps}, (group, moved)
    report.assert_exactly_once()


def _moved(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """The partitions of the member that left the group (the killed copy): the survivors keep their member ids."""
    gone = set(before) - set(after)
    assert len(gone) == 1, f"one member left the group: before {before}, after {after}"
    return before[gone.pop()]
